// Combines the per-split partial results of the split attention kernels (attention_f16,
// attention_f16_decode, attention_kivi, attention_kivi_decode) into the attention output.
//   partialAcc [T, NUM_HEADS, numSplits, HEAD_DIM] f32, partialMl [T, NUM_HEADS, numSplits, 2] f32
//   attnOut    [T, NUM_HEADS * HEAD_DIM] f32 = sum_s acc_s exp(m_s - M) / sum_s l_s exp(m_s - M), M = max_s m_s
// Decode at long contexts has hundreds of splits, so the splits are spread over the workgroup: the
// max and the weighted sum of l fold through workgroup memory, each split's weight exp(m_s - M) is
// kept there, and invocation (channel c, part p) sums the splits p, p + P, .. of channel c, with
// P = 256 / HEAD_DIM parts meeting at the end.
// Limits: numSplits <= MAX_SPLITS, HEAD_DIM <= 256. Grid: (NUM_HEADS, T).
override HEAD_DIM: u32;
override NUM_HEADS: u32;

const WG = 256u;
const MAX_SPLITS = 1024u;

struct Batch { numTokens: u32, startPos: u32, numSplits: u32, firstRow: u32 }

@group(0) @binding(0) var<storage, read> partialAcc: array<f32>;
@group(0) @binding(1) var<storage, read> partialMl: array<f32>;
@group(0) @binding(2) var<storage, read_write> attnOut: array<f32>;
@group(0) @binding(3) var<uniform> batch: Batch;

var<workgroup> weight: array<f32, MAX_SPLITS>;
var<workgroup> fold: array<f32, WG>;

/** Tree max (isMax) or sum of every invocation's v, returned to all of them. */
fn workgroupFold(v: f32, lid: u32, isMax: bool) -> f32 {
  fold[lid] = v;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) {
      fold[lid] = select(fold[lid] + fold[lid + stride], max(fold[lid], fold[lid + stride]), isMax);
    }
    workgroupBarrier();
  }
  let result = fold[0];
  workgroupBarrier();
  return result;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let head = wid.x;
  let t = wid.y;
  let numSplits = batch.numSplits;
  let first = (t * NUM_HEADS + head) * numSplits;

  var m = -3.0e38;
  for (var s = lid; s < numSplits; s += WG) { m = max(m, partialMl[2u * (first + s)]); }
  let maxM = workgroupFold(m, lid, true);
  var l = 0.0;
  for (var s = lid; s < numSplits; s += WG) {
    let w = exp(partialMl[2u * (first + s)] - maxM);
    weight[s] = w;
    l += partialMl[2u * (first + s) + 1u] * w;
  }
  // The fold's first barrier also publishes weight[].
  let total = workgroupFold(l, lid, false);

  let parts = WG / HEAD_DIM;
  let c = lid % HEAD_DIM;
  let part = lid / HEAD_DIM;
  var o = 0.0;
  if (part < parts) {
    for (var s = part; s < numSplits; s += parts) { o += partialAcc[(first + s) * HEAD_DIM + c] * weight[s]; }
  }
  fold[lid] = o;
  workgroupBarrier();
  if (lid < HEAD_DIM) {
    var sum = 0.0;
    for (var p = 0u; p < parts; p++) { sum += fold[p * HEAD_DIM + lid]; }
    attnOut[t * NUM_HEADS * HEAD_DIM + head * HEAD_DIM + lid] = sum / total;
  }
}
