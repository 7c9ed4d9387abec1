// y[t, n] = sum_k x[t, k] * W[n, k] (+ bias[n]) (+ y[t, n] when ADD_TO_OUTPUT): matmul_q4.wgsl's
// product (same bindings, layouts and overrides) tiled for a single token, where reading W once is
// the whole cost and memory bandwidth the limit:
//   x       [T, IN_DIM] f32, read as vec4
//   qWeight [OUT_DIM, IN_DIM/8] u32, read as vec4<u32>: one load is one quantization group (32 codes)
//   qScale  [OUT_DIM, IN_DIM/32]: f16 pairs packed in u32 (SCALE_F16) or f32 bit patterns
//   bias    [OUT_DIM] f32 (bound but unread unless HAS_BIAS)
//   y       [T, OUT_DIM] f32
//   batch   uniform: numTokens = T
// A workgroup of 256 computes ROWS rows: LANES lanes share a row, each taking every LANES-th group,
// so a warp's loads of one row are a contiguous LANES * 16 bytes; the 256 / LANES row slots each
// hold ROWS * LANES / 256 rows (1 to 4), which reuse the lane's x values. Partial sums meet in a
// workgroup-memory tree. Needs IN_DIM % 32 == 0, LANES a power of two <= 256, ROWS * LANES a
// multiple of 256 and at most 1024, ROWS <= 256.
// Grid: (X, Y, T) with X * Y >= ceil(OUT_DIM / ROWS) (workgroup index wid.y * X + wid.x; model.ts
// takes X = min(that, 65535)); every token reads all of W, so prefill chunks use matmul_q4.
override IN_DIM: u32;
override OUT_DIM: u32;
override SCALE_F16: bool = true;
override HAS_BIAS: bool = false;
override ADD_TO_OUTPUT: bool = false;
override ROWS: u32 = 8u;
override LANES: u32 = 32u;

const WORKGROUP = 256u;
const MAX_ROWS_PER_THREAD = 4u;
// 2^23 as f32 bits: OR-ing a nibble masked in place (bits 4p..4p+3, p <= 3) into its mantissa
// gives the float 2^23 + code * 16^p exactly, without shifts or int-to-float conversions.
const MAGIC = 0x4b000000u;
const NIBBLE_MASK = vec4<u32>(0xfu, 0xf0u, 0xf00u, 0xf000u);
// Subtracting 2^23 + 7 * 16^p leaves (code - 7) * 16^p exactly (integers below 2^24).
const MAGIC_OFFSET = vec4<f32>(8388615.0, 8388720.0, 8390400.0, 8417280.0);
// x scaled by 16^-p (exact powers of two) turns (code - 7) * 16^p back into (code - 7).
const PLACE = vec4<f32>(1.0, 0.0625, 0.00390625, 0.000244140625);

struct Batch { numTokens: u32, startPos: u32, numSplits: u32, firstRow: u32 }

@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> qWeight: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> qScale: array<u32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<uniform> batch: Batch;

var<workgroup> partial: array<array<f32, WORKGROUP>, MAX_ROWS_PER_THREAD>;

fn scaleAt(i: u32) -> f32 {
  if (SCALE_F16) { return unpack2x16float(qScale[i >> 1u])[i & 1u]; }
  return bitcast<f32>(qScale[i]);
}

/** (code - 7) * 16^p for the 4 codes in the low 16 bits of `bits`, code p at bits 4p..4p+3. */
fn codes(bits: u32) -> vec4<f32> {
  return bitcast<vec4<f32>>((vec4<u32>(bits) & NIBBLE_MASK) | vec4<u32>(MAGIC)) - MAGIC_OFFSET;
}

/** sum_j (code_j - 7) * x_j over one group; xs holds its 32 x values, each vec4 scaled by PLACE. */
fn groupDot(words: vec4<u32>, xs: array<vec4<f32>, 8>) -> f32 {
  var sum = 0.0;
  for (var i = 0u; i < 4u; i++) {
    sum += dot(codes(words[i]), xs[2u * i]) + dot(codes(words[i] >> 16u), xs[2u * i + 1u]);
  }
  return sum;
}

@compute @workgroup_size(WORKGROUP)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) grid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = wid.z;
  let firstRow = (wid.y * grid.x + wid.x) * ROWS;
  if (t >= batch.numTokens || firstRow >= OUT_DIM) { return; }
  let slots = WORKGROUP / LANES;
  let rowsPerThread = ROWS / slots;
  let slot = lid / LANES;
  let lane = lid % LANES;
  let groups = IN_DIM / 32u;
  let xRow = t * (IN_DIM / 4u);

  var acc = array<f32, MAX_ROWS_PER_THREAD>(0.0, 0.0, 0.0, 0.0);
  for (var g = lane; g < groups; g += LANES) {
    var xs: array<vec4<f32>, 8>;
    for (var i = 0u; i < 8u; i++) { xs[i] = x[xRow + g * 8u + i] * PLACE; }
    for (var r = 0u; r < rowsPerThread; r++) {
      // Rows past OUT_DIM repeat the last row (a cached read) and are never written.
      let n = min(firstRow + r * slots + slot, OUT_DIM - 1u);
      let i = n * groups + g;
      acc[r] += scaleAt(i) * groupDot(qWeight[i], xs);
    }
  }

  for (var r = 0u; r < rowsPerThread; r++) { partial[r][lid] = acc[r]; }
  workgroupBarrier();
  for (var stride = LANES / 2u; stride > 0u; stride >>= 1u) {
    if (lane < stride) {
      for (var r = 0u; r < rowsPerThread; r++) { partial[r][lid] += partial[r][lid + stride]; }
    }
    workgroupBarrier();
  }

  // Thread lid writes row firstRow + lid: row slot lid % slots, its (lid / slots)-th row.
  let n = firstRow + lid;
  if (lid >= ROWS || n >= OUT_DIM) { return; }
  var v = partial[lid / slots][(lid % slots) * LANES];
  if (HAS_BIAS) { v += bias[n]; }
  let i = t * OUT_DIM + n;
  if (ADD_TO_OUTPUT) { v += y[i]; }
  y[i] = v;
}
