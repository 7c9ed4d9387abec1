// y[t, n] = sum_k x[t, k] * W[n, k] (+ bias[n]) (+ y[t, n] when ADD_TO_OUTPUT: fuses the residual add)
// with W group-quantized to 4 bits (MLC q4f16_1 / q4f32_1, layout "NK"):
//   x       [T, IN_DIM] f32, read as vec4
//   qWeight [OUT_DIM, IN_DIM/8] u32: 8 codes per word, code j in bits 4j..4j+3, value (code - 7) * scale
//   qScale  [OUT_DIM, IN_DIM/32]: f16 pairs packed in u32 (SCALE_F16) or f32 bit patterns
//   bias    [OUT_DIM] f32 (bound but unread unless HAS_BIAS)
//   y       [T, OUT_DIM] f32
//   batch   uniform: numTokens = T
// Grid: (ceil(OUT_DIM / 8), ceil(T / 4)). A workgroup of 256 = 8 rows x 32 lanes; each lane walks its
// row's words with stride 32 and applies every weight word to 4 tokens, so prefill reads W T/4 times.
override IN_DIM: u32;
override OUT_DIM: u32;
override SCALE_F16: bool = true;
override HAS_BIAS: bool = false;
override ADD_TO_OUTPUT: bool = false;

const ROWS = 8u;
const LANES = 32u;
const TOKENS = 4u;

struct Batch { numTokens: u32, startPos: u32, numSplits: u32, firstRow: u32 }

@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> qWeight: array<u32>;
@group(0) @binding(2) var<storage, read> qScale: array<u32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<uniform> batch: Batch;

var<workgroup> partial: array<array<f32, 256>, TOKENS>;

fn scaleAt(i: u32) -> f32 {
  if (SCALE_F16) { return unpack2x16float(qScale[i >> 1u])[i & 1u]; }
  return bitcast<f32>(qScale[i]);
}

fn nibbles(word: u32) -> vec4<f32> {
  return vec4<f32>(f32(word & 15u), f32((word >> 4u) & 15u), f32((word >> 8u) & 15u), f32((word >> 12u) & 15u)) - 7.0;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let lane = lid % LANES;
  let n = wid.x * ROWS + lid / LANES;
  let t0 = wid.y * TOKENS;
  let numTokens = batch.numTokens;
  let wordsPerRow = IN_DIM / 8u;
  let vec4PerRow = IN_DIM / 4u;

  var acc = array<f32, TOKENS>(0.0, 0.0, 0.0, 0.0);
  if (n < OUT_DIM) {
    for (var w = lane; w < wordsPerRow; w += LANES) {
      let word = qWeight[n * wordsPerRow + w];
      let scale = scaleAt(n * (IN_DIM / 32u) + w / 4u);
      let lo = nibbles(word);
      let hi = nibbles(word >> 16u);
      for (var tt = 0u; tt < TOKENS; tt++) {
        if (t0 + tt < numTokens) {
          let xi = (t0 + tt) * vec4PerRow + w * 2u;
          acc[tt] += scale * (dot(lo, x[xi]) + dot(hi, x[xi + 1u]));
        }
      }
    }
  }
  for (var tt = 0u; tt < TOKENS; tt++) { partial[tt][lid] = acc[tt]; }
  workgroupBarrier();
  for (var stride = LANES / 2u; stride > 0u; stride >>= 1u) {
    if (lane < stride) {
      for (var tt = 0u; tt < TOKENS; tt++) { partial[tt][lid] += partial[tt][lid + stride]; }
    }
    workgroupBarrier();
  }
  if (lane != 0u || n >= OUT_DIM) { return; }
  for (var tt = 0u; tt < TOKENS; tt++) {
    let t = t0 + tt;
    if (t >= numTokens) { break; }
    var v = partial[tt][lid];
    if (HAS_BIAS) { v += bias[n]; }
    let i = t * OUT_DIM + n;
    if (ADD_TO_OUTPUT) { v += y[i]; }
    y[i] = v;
  }
}
