// Keeps what eviction scoring needs of the newest WINDOW queries (src/engine/kv/evictionLayout.ts),
// run right after a chunk's split attention (attention_f16 or attention_kivi), before the reduce
// or after it (it only reads the partials).
//   qkv        [T, (NUM_HEADS + 2 * NUM_KV_HEADS) * HEAD_DIM] f32: rotated queries are the first NUM_HEADS heads
//   partialMl  [T, NUM_HEADS, numSplits, 2] f32: per split (m, l) as the attention kernels write them
//   queryRing  [WINDOW, NUM_HEADS, HEAD_DIM] f32: the query of position p in slot p % WINDOW (not scaled)
//   statsRing  [WINDOW, NUM_HEADS, 2] f32: (M, L) of that query's softmax, combined over the splits
//              as attention_reduce combines them: M = max_s m_s, L = sum_s l_s exp(m_s - M)
//   batch      uniform Batch { numTokens, startPos, numSplits, firstRow } (the first 4 words of the
//              KIVI cache's KvBatch too): query t sits at position startPos + t, which must be its
//              original position (the positions buffer's numbering), not a cache slot
// Only the chunk's tokens among the newest WINDOW (t + WINDOW >= numTokens) are written, so a decode
// step overwrites the slot of the query that leaves the window.
// Grid: (NUM_HEADS, T); 64 invocations stride over HEAD_DIM, and over the splits (decode at long
// contexts has hundreds) for (M, L), folded through workgroup memory.
override HEAD_DIM: u32;
override NUM_HEADS: u32;
override NUM_KV_HEADS: u32;
override WINDOW: u32;

struct Batch { numTokens: u32, startPos: u32, numSplits: u32, firstRow: u32 }

@group(0) @binding(0) var<storage, read> qkv: array<f32>;
@group(0) @binding(1) var<storage, read> partialMl: array<f32>;
@group(0) @binding(2) var<storage, read_write> queryRing: array<f32>;
@group(0) @binding(3) var<storage, read_write> statsRing: array<f32>;
@group(0) @binding(4) var<uniform> batch: Batch;

const WG = 64u;

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

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let head = wid.x;
  let t = wid.y;
  if (t + WINDOW < batch.numTokens) { return; }
  let slot = (batch.startPos + t) % WINDOW;

  let qBase = t * (NUM_HEADS + 2u * NUM_KV_HEADS) * HEAD_DIM + head * HEAD_DIM;
  let ringBase = (slot * NUM_HEADS + head) * HEAD_DIM;
  for (var c = lid; c < HEAD_DIM; c += WG) { queryRing[ringBase + c] = qkv[qBase + c]; }

  let numSplits = batch.numSplits;
  let first = (t * NUM_HEADS + head) * numSplits;
  var m = -3.0e38;
  for (var s = lid; s < numSplits; s += WG) { m = max(m, partialMl[2u * (first + s)]); }
  let maxM = workgroupFold(m, lid, true);
  var l = 0.0;
  for (var s = lid; s < numSplits; s += WG) {
    l += partialMl[2u * (first + s) + 1u] * exp(partialMl[2u * (first + s)] - maxM);
  }
  let total = workgroupFold(l, lid, false);
  if (lid == 0u) {
    statsRing[2u * (slot * NUM_HEADS + head)] = maxM;
    statsRing[2u * (slot * NUM_HEADS + head) + 1u] = total;
  }
}
