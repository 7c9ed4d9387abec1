// y[t, n] = sum_k x[t, k] * W[n, k] (+ bias[n]) (+ y[t, n] when ADD_TO_OUTPUT): matmul_q4.wgsl's
// product (same bindings, layouts and overrides) tiled for a single token, where reading W once is
// the whole cost and memory bandwidth the limit:
//   x       [T, IN_DIM] f32, read as vec4
//   qWeight [OUT_DIM, IN_DIM/8] u32, read as vec4<u32>: one load is one quantization group (32 codes)
//   qScale  [OUT_DIM, IN_DIM/32]: f16 pairs packed in u32 (SCALE_F16) or f32 bit patterns
//   bias    [OUT_DIM] f32 (bound but unread unless HAS_BIAS)
//   y       [T, OUT_DIM] f32; with SWIGLU [T, OUT_DIM / 2]
//   batch   uniform: numTokens = T; firstRow (with NORM)
//   normWeight [IN_DIM] f32 (bound but unread unless NORM)
// With NORM the kernel is rmsnorm.wgsl followed by the product, in one dispatch: x is the residual
// stream, token t reads its row batch.firstRow + t, and y = W (x * normWeight) / rms(x) (+ bias). A row
// slot's lanes read every x value once, so they sum x^2 on the way; the sum meets in the same tree.
// With SWIGLU the kernel is also silu_mul.wgsl: W is MLC's gate_up_proj (gate rows 0 .. I - 1, up rows
// I .. 2I - 1, I = OUT_DIM / 2), a workgroup's first ROWS / 2 rows are gate rows and the rest the
// matching up rows, and y[t, n] = silu(gate_n) * up_n. Needs ROWS even; not with ADD_TO_OUTPUT.
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
override NORM: bool = false;
override SWIGLU: bool = false;
override EPS: f32 = 1e-5;
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
@group(0) @binding(6) var<storage, read> normWeight: array<vec4<f32>>;

// [row r of the thread][lid]; with NORM the last array holds the lanes' sums of x^2.
var<workgroup> partial: array<array<f32, WORKGROUP>, MAX_ROWS_PER_THREAD + 1u>;

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
  let xRow = (t + select(0u, batch.firstRow, NORM)) * (IN_DIM / 4u);
  // With SWIGLU, logical row j < ROWS / 2 is gate row pairBase + j and j >= ROWS / 2 the up row I +
  // pairBase + j - ROWS / 2; pairBase = firstRow / 2 < I as firstRow < OUT_DIM.
  let half = OUT_DIM / 2u;
  let pairBase = firstRow / 2u;
  let pairRows = max(ROWS / 2u, 1u);   // ROWS / 2, kept nonzero for the ROWS = 1 tiling SWIGLU never uses

  var acc = array<f32, MAX_ROWS_PER_THREAD>(0.0, 0.0, 0.0, 0.0);
  var sumSq = 0.0;
  for (var g = lane; g < groups; g += LANES) {
    var xs: array<vec4<f32>, 8>;
    for (var i = 0u; i < 8u; i++) {
      var v = x[xRow + g * 8u + i];
      if (NORM) {
        sumSq += dot(v, v);
        v *= normWeight[g * 8u + i];
      }
      xs[i] = v * PLACE;
    }
    for (var r = 0u; r < rowsPerThread; r++) {
      // Rows past OUT_DIM (past I for SWIGLU pairs) repeat the last one (a cached read) and are never written.
      let j = r * slots + slot;
      var n = min(firstRow + j, OUT_DIM - 1u);
      if (SWIGLU) { n = min(pairBase + j % pairRows, half - 1u) + select(0u, half, j >= pairRows); }
      let i = n * groups + g;
      acc[r] += scaleAt(i) * groupDot(qWeight[i], xs);
    }
  }

  for (var r = 0u; r < rowsPerThread; r++) { partial[r][lid] = acc[r]; }
  if (NORM) { partial[MAX_ROWS_PER_THREAD][lid] = sumSq; }
  workgroupBarrier();
  for (var stride = LANES / 2u; stride > 0u; stride >>= 1u) {
    if (lane < stride) {
      for (var r = 0u; r < rowsPerThread; r++) { partial[r][lid] += partial[r][lid + stride]; }
      if (NORM) { partial[MAX_ROWS_PER_THREAD][lid] += partial[MAX_ROWS_PER_THREAD][lid + stride]; }
    }
    workgroupBarrier();
  }

  // Every row slot summed all of x^2; slot 0's sum scales every row, so all rows see the same rms.
  var scale = 1.0;
  if (NORM) { scale = inverseSqrt(partial[MAX_ROWS_PER_THREAD][0] / f32(IN_DIM) + EPS); }
  if (SWIGLU) {
    // Thread lid < ROWS / 2 writes pair pairBase + lid from logical rows lid and lid + ROWS / 2.
    let n = pairBase + lid;
    if (lid >= ROWS / 2u || n >= half) { return; }
    let u = lid + ROWS / 2u;
    var gate = partial[lid / slots][(lid % slots) * LANES] * scale;
    var up = partial[u / slots][(u % slots) * LANES] * scale;
    if (HAS_BIAS) {
      gate += bias[n];
      up += bias[half + n];
    }
    y[t * half + n] = gate / (1.0 + exp(-gate)) * up;
    return;
  }
  // Thread lid writes row firstRow + lid: row slot lid % slots, its (lid / slots)-th row.
  let n = firstRow + lid;
  if (lid >= ROWS || n >= OUT_DIM) { return; }
  var v = partial[lid / slots][(lid % slots) * LANES] * scale;
  if (HAS_BIAS) { v += bias[n]; }
  let i = t * OUT_DIM + n;
  if (ADD_TO_OUTPUT) { v += y[i]; }
  y[i] = v;
}
