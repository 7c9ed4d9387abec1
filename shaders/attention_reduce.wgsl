// Combines the per-split partial results of attention_f16.wgsl (and of any split attention kernel
// with the same partial layout) into the attention output.
//   partialAcc [T, NUM_HEADS, numSplits, HEAD_DIM] f32, partialMl [T, NUM_HEADS, numSplits, 2] f32
//   attnOut    [T, NUM_HEADS * HEAD_DIM] f32 = sum_s acc_s exp(m_s - M) / sum_s l_s exp(m_s - M), M = max_s m_s
// Grid: (NUM_HEADS, T); 64 invocations stride over HEAD_DIM.
override HEAD_DIM: u32;
override NUM_HEADS: u32;

struct Batch { numTokens: u32, startPos: u32, numSplits: u32, firstRow: u32 }

@group(0) @binding(0) var<storage, read> partialAcc: array<f32>;
@group(0) @binding(1) var<storage, read> partialMl: array<f32>;
@group(0) @binding(2) var<storage, read_write> attnOut: array<f32>;
@group(0) @binding(3) var<uniform> batch: Batch;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let head = wid.x;
  let t = wid.y;
  let numSplits = batch.numSplits;
  let first = (t * NUM_HEADS + head) * numSplits;
  var maxM = -3.0e38;
  for (var s = 0u; s < numSplits; s++) { maxM = max(maxM, partialMl[2u * (first + s)]); }
  var total = 0.0;
  for (var s = 0u; s < numSplits; s++) {
    total += partialMl[2u * (first + s) + 1u] * exp(partialMl[2u * (first + s)] - maxM);
  }
  let outBase = t * NUM_HEADS * HEAD_DIM + head * HEAD_DIM;
  for (var c = lid; c < HEAD_DIM; c += 64u) {
    var o = 0.0;
    for (var s = 0u; s < numSplits; s++) {
      o += partialAcc[(first + s) * HEAD_DIM + c] * exp(partialMl[2u * (first + s)] - maxM);
    }
    attnOut[outBase + c] = o / total;
  }
}
