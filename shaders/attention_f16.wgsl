// Causal attention of T new queries over one layer's fp16 KV cache, split along the sequence
// (flash-decoding): each workgroup runs an online softmax over its share of one query's keys and
// writes a partial result that attention_reduce.wgsl combines.
//   qkv        [T, (NUM_HEADS + 2 * NUM_KV_HEADS) * HEAD_DIM] f32: queries are the first NUM_HEADS heads
//   keys       [NUM_KV_HEADS, MAX_SEQ, HEAD_DIM / 2] u32 (f16 pairs), values the same
//   partialAcc [T, NUM_HEADS, numSplits, HEAD_DIM] f32: sum_j exp(s_j - m) v_j over the split's keys
//   partialMl  [T, NUM_HEADS, numSplits, 2] f32: (m = max score, l = sum_j exp(s_j - m))
//   batch      uniform: query t sits at position startPos + t and sees keys 0..startPos+t; numSplits
// Query head h reads KV head h / (NUM_HEADS / NUM_KV_HEADS) (GQA). Scores are q.k / sqrt(HEAD_DIM).
// Grid: (numSplits, NUM_HEADS, T); 64 invocations, one key each per tile of 64 keys. HEAD_DIM <= 256.
override HEAD_DIM: u32;
override NUM_HEADS: u32;
override NUM_KV_HEADS: u32;
override MAX_SEQ: u32;

const WG = 64u;
const NEG_BIG = -3.0e38;

struct Batch { numTokens: u32, startPos: u32, numSplits: u32, firstRow: u32 }

@group(0) @binding(0) var<storage, read> qkv: array<f32>;
@group(0) @binding(1) var<storage, read> keys: array<u32>;
@group(0) @binding(2) var<storage, read> values: array<u32>;
@group(0) @binding(3) var<storage, read_write> partialAcc: array<f32>;
@group(0) @binding(4) var<storage, read_write> partialMl: array<f32>;
@group(0) @binding(5) var<uniform> batch: Batch;

var<workgroup> query: array<f32, 256>;
var<workgroup> probs: array<f32, WG>;
var<workgroup> scratch: array<f32, WG>;

fn workgroupMax(v: f32, lid: u32) -> f32 {
  scratch[lid] = v;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) { scratch[lid] = max(scratch[lid], scratch[lid + stride]); }
    workgroupBarrier();
  }
  let result = scratch[0];
  workgroupBarrier();
  return result;
}

fn workgroupSum(v: f32, lid: u32) -> f32 {
  scratch[lid] = v;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (lid < stride) { scratch[lid] += scratch[lid + stride]; }
    workgroupBarrier();
  }
  let result = scratch[0];
  workgroupBarrier();
  return result;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let split = wid.x;
  let head = wid.y;
  let t = wid.z;
  let numSplits = batch.numSplits;
  let kvHead = head / (NUM_HEADS / NUM_KV_HEADS);
  let wordsPerHead = HEAD_DIM / 2u;
  let kvLen = batch.startPos + t + 1u;
  let splitLen = (kvLen + numSplits - 1u) / numSplits;
  let begin = min(split * splitLen, kvLen);
  let end = min(begin + splitLen, kvLen);

  let qBase = t * (NUM_HEADS + 2u * NUM_KV_HEADS) * HEAD_DIM + head * HEAD_DIM;
  let scale = inverseSqrt(f32(HEAD_DIM));
  for (var c = lid; c < HEAD_DIM; c += WG) { query[c] = qkv[qBase + c] * scale; }
  workgroupBarrier();

  var m = NEG_BIG;
  var l = 0.0;
  // This invocation owns packed words lid and lid + 64 of the output (HEAD_DIM <= 256).
  var acc = array<vec2<f32>, 2>(vec2<f32>(0.0), vec2<f32>(0.0));
  let headBase = kvHead * MAX_SEQ;

  for (var tile = begin; tile < end; tile += WG) {
    let j = tile + lid;
    let valid = j < end;
    var score = NEG_BIG;
    if (valid) {
      let row = (headBase + j) * wordsPerHead;
      var dotQK = 0.0;
      for (var w = 0u; w < wordsPerHead; w++) {
        let k = unpack2x16float(keys[row + w]);
        dotQK += query[2u * w] * k.x + query[2u * w + 1u] * k.y;
      }
      score = dotQK;
    }
    let newM = max(m, workgroupMax(score, lid));
    let correction = exp(m - newM);
    var p = 0.0;
    if (valid) { p = exp(score - newM); }
    probs[lid] = p;
    l = l * correction + workgroupSum(p, lid);
    let tileLen = min(WG, end - tile);
    for (var r = 0u; r < 2u; r++) {
      let w = lid + r * WG;
      if (w < wordsPerHead) {
        var a = acc[r] * correction;
        for (var jj = 0u; jj < tileLen; jj++) {
          a += probs[jj] * unpack2x16float(values[(headBase + tile + jj) * wordsPerHead + w]);
        }
        acc[r] = a;
      }
    }
    m = newM;
    workgroupBarrier();
  }

  let slot = (t * NUM_HEADS + head) * numSplits + split;
  if (lid == 0u) {
    partialMl[2u * slot] = m;
    partialMl[2u * slot + 1u] = l;
  }
  for (var r = 0u; r < 2u; r++) {
    let w = lid + r * WG;
    if (w < wordsPerHead) {
      partialAcc[slot * HEAD_DIM + 2u * w] = acc[r].x;
      partialAcc[slot * HEAD_DIM + 2u * w + 1u] = acc[r].y;
    }
  }
}
