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
//   invFreq [HEAD_DIM / 2] f32 (bound but unread unless ROPE)
// With NORM the kernel is rmsnorm.wgsl followed by the product, in one dispatch: x is the residual
// stream, token t reads its row batch.firstRow + t, and y = W (x * normWeight) / rms(x) (+ bias). A row
// slot's lanes read every x value once, so they sum x^2 on the way; the sum meets in the same tree.
// SWIGLU and ROPE pair rows: a workgroup's logical rows j < ROWS / 2 are the first rows of OUT_DIM / 2
// pairs and j >= ROWS / 2 the matching second rows, so one invocation finishes each pair. Both need
// ROWS even, and neither goes with ADD_TO_OUTPUT.
// With SWIGLU the kernel is also silu_mul.wgsl: W is MLC's gate_up_proj (gate rows 0 .. I - 1, up rows
// I .. 2I - 1, I = OUT_DIM / 2), pair n is (gate row n, up row I + n), and y[t, n] = silu(gate_n) * up_n.
// With ROPE it is also rope.wgsl: W is qkv_proj (heads of HEAD_DIM rows), pair p is rows i and
// i + HEAD_DIM / 2 of head p / (HEAD_DIM / 2) (i = p % (HEAD_DIM / 2)), and the first ROPE_HEADS heads
// (queries and keys) are rotated by position batch.startPos + t as rope.wgsl rotates them.
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
override ROPE: bool = false;
override HEAD_DIM: u32 = 64u;
override ROPE_HEADS: u32 = 0u;
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
@group(0) @binding(7) var<storage, read> invFreq: array<f32>;

// [row r of the thread][lid]; with NORM the last array holds the lanes' sums of x^2.
var<workgroup> partial: array<array<f32, WORKGROUP>, MAX_ROWS_PER_THREAD + 1u>;

fn scaleAt(i: u32) -> f32 {
  if (SCALE_F16) { return unpack2x16float(qScale[i >> 1u])[i & 1u]; }
  return bitcast<f32>(qScale[i]);
}

/** Physical row of pair p's first (second = false) or second row (SWIGLU or ROPE). */
fn pairRow(p: u32, second: bool) -> u32 {
  if (SWIGLU) { return p + select(0u, OUT_DIM / 2u, second); }
  let halfHead = HEAD_DIM / 2u;
  return (p / halfHead) * HEAD_DIM + p % halfHead + select(0u, halfHead, second);
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
  // Paired rows: logical row j is a row of pair pairBase + j % (ROWS / 2), its second row for
  // j >= ROWS / 2; pairBase = firstRow / 2 < OUT_DIM / 2 as firstRow < OUT_DIM.
  let paired = SWIGLU || ROPE;
  let pairs = OUT_DIM / 2u;
  let pairBase = firstRow / 2u;
  let pairRows = max(ROWS / 2u, 1u);   // ROWS / 2, kept nonzero for the ROWS = 1 tiling pairs never use

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
      if (paired) { n = pairRow(min(pairBase + j % pairRows, pairs - 1u), j >= pairRows); }
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
  if (paired) {
    // Thread lid < ROWS / 2 finishes pair pairBase + lid from logical rows lid and lid + ROWS / 2.
    let p = pairBase + lid;
    if (lid >= ROWS / 2u || p >= pairs) { return; }
    let second = lid + ROWS / 2u;
    let r0 = pairRow(p, false);
    let r1 = pairRow(p, true);
    var x0 = partial[lid / slots][(lid % slots) * LANES] * scale;
    var x1 = partial[second / slots][(second % slots) * LANES] * scale;
    if (HAS_BIAS) {
      x0 += bias[r0];
      x1 += bias[r1];
    }
    if (SWIGLU) {
      y[t * pairs + p] = x0 / (1.0 + exp(-x0)) * x1;
      return;
    }
    if (p / (HEAD_DIM / 2u) < ROPE_HEADS) {
      let sc = sinCos(f32(batch.startPos + t) * invFreq[p % (HEAD_DIM / 2u)]);
      let rotated = vec2<f32>(x0 * sc.y - x1 * sc.x, x1 * sc.y + x0 * sc.x);
      x0 = rotated.x;
      x1 = rotated.y;
    }
    y[t * OUT_DIM + r0] = x0;
    y[t * OUT_DIM + r1] = x1;
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
