// RMSNorm: normed[t] = x[t] / sqrt(mean(x[t]^2) + EPS) * weight, for rows batch.firstRow.. of x.
//   x      [rows, HIDDEN] f32
//   weight [HIDDEN] f32
//   normed [T, HIDDEN] f32 (row t of normed is row batch.firstRow + t of x)
//   batch  uniform: firstRow (0, or the last prompt row when only the logits row is needed)
// Grid: (T); one workgroup of 256 per row.
override HIDDEN: u32;
override EPS: f32;

struct Batch { numTokens: u32, startPos: u32, numSplits: u32, firstRow: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> weight: array<f32>;
@group(0) @binding(2) var<storage, read_write> normed: array<f32>;
@group(0) @binding(3) var<uniform> batch: Batch;

var<workgroup> partial: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let inRow = (batch.firstRow + wid.x) * HIDDEN;
  let outRow = wid.x * HIDDEN;
  var sumSq = 0.0;
  for (var c = lid; c < HIDDEN; c += 256u) {
    let v = x[inRow + c];
    sumSq += v * v;
  }
  partial[lid] = sumSq;
  workgroupBarrier();
  for (var stride = 128u; stride > 0u; stride >>= 1u) {
    if (lid < stride) { partial[lid] += partial[lid + stride]; }
    workgroupBarrier();
  }
  let invRms = inverseSqrt(partial[0] / f32(HIDDEN) + EPS);
  for (var c = lid; c < HIDDEN; c += 256u) {
    normed[outRow + c] = x[inRow + c] * invRms * weight[c];
  }
}
