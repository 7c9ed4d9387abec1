// y[t, n] = sum_k x[t, k] * W[n, k] (+ bias[n]) (+ y[t, n] when ADD_TO_OUTPUT: fuses the residual add)
// with W unquantized (MLC q0f32 / q0f16):
//   x      [T, IN_DIM] f32, read as vec4
//   weight [OUT_DIM, IN_DIM]: f32 bit patterns, or f16 pairs packed in u32 (WEIGHT_F16, [OUT_DIM, IN_DIM/2])
//   bias   [OUT_DIM] f32 (bound but unread unless HAS_BIAS)
//   y      [T, OUT_DIM] f32
//   batch  uniform: numTokens = T
// Grid: (ceil(OUT_DIM / 8), ceil(T / 4)); same tiling as matmul_q4 (8 rows x 32 lanes, 4 tokens).
override IN_DIM: u32;
override OUT_DIM: u32;
override WEIGHT_F16: bool = false;
override HAS_BIAS: bool = false;
override ADD_TO_OUTPUT: bool = false;

const ROWS = 8u;
const LANES = 32u;
const TOKENS = 4u;

struct Batch { numTokens: u32, startPos: u32, numSplits: u32, firstRow: u32 }

@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> weight: array<u32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> batch: Batch;

var<workgroup> partial: array<array<f32, 256>, TOKENS>;

// Four consecutive weights of row n starting at column k (k a multiple of 4).
fn weights4(n: u32, k: u32) -> vec4<f32> {
  let i = n * IN_DIM + k;
  if (WEIGHT_F16) {
    return vec4<f32>(unpack2x16float(weight[i >> 1u]), unpack2x16float(weight[(i >> 1u) + 1u]));
  }
  return vec4<f32>(bitcast<f32>(weight[i]), bitcast<f32>(weight[i + 1u]), bitcast<f32>(weight[i + 2u]), bitcast<f32>(weight[i + 3u]));
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let lane = lid % LANES;
  let n = wid.x * ROWS + lid / LANES;
  let t0 = wid.y * TOKENS;
  let numTokens = batch.numTokens;
  let vec4PerRow = IN_DIM / 4u;

  var acc = array<f32, TOKENS>(0.0, 0.0, 0.0, 0.0);
  if (n < OUT_DIM) {
    for (var v4 = lane; v4 < vec4PerRow; v4 += LANES) {
      let w = weights4(n, v4 * 4u);
      for (var tt = 0u; tt < TOKENS; tt++) {
        if (t0 + tt < numTokens) { acc[tt] += dot(w, x[(t0 + tt) * vec4PerRow + v4]); }
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
