// Decode attention (T = 1) over one layer's fp16 KV cache: one workgroup per (split of TILE = 256
// consecutive keys, KV head) serves every query head of the KV head's GQA group, so each key and
// value row is read once per step. A split is one tile, so its softmax needs no running rescale:
// scores, then the tile's max, then exp and the value sums. Prefill chunks (T > 1) use
// attention_f16.wgsl. Writes the partials attention_reduce.wgsl combines.
//   qkv        [1, (NUM_HEADS + 2 * NUM_KV_HEADS) * HEAD_DIM] f32: queries are the first NUM_HEADS heads
//   keys       [NUM_KV_HEADS, MAX_SEQ, HEAD_DIM / 8] vec4<u32> (f16 pairs), read a row per invocation
//   values     [NUM_KV_HEADS, MAX_SEQ, HEAD_DIM / 2] u32 (f16 pairs)
//   partialAcc [1, NUM_HEADS, numSplits, HEAD_DIM] f32, partialMl [1, NUM_HEADS, numSplits, 2] f32:
//              sum_j exp(s_j - m) v_j and (m, l) over the split's keys, as attention_f16.wgsl writes them
//   batch      uniform: the query sits at startPos and sees keys 0..startPos; numSplits >=
//              ceil((startPos + 1) / TILE) (layers that evicted hold fewer keys than the fullest,
//              whose count sets the grid: splits past a layer's keys write empty partials, m = -3e38,
//              l = 0, acc = 0)
// Query head h reads KV head h / GQA. Scores are q.k / sqrt(HEAD_DIM).
// Roles of the 256 invocations: scores, invocation t takes key t of the tile for every head of the
// group (queries in workgroup memory as vec4s of 4 heads); max and sum, invocation (head, part) folds
// 16 scores and every invocation reads its heads' 16 partial maxima; values, invocation (word w of a
// row, token part tp) sums p_t v_t over keys tp, tp + TP, .. of the tile, TP = TILE / (HEAD_DIM / 2),
// and the token parts meet in workgroup memory one head at a time.
// Limits: GQA <= 8, HEAD_DIM a multiple of 8 and <= 256. Grid: (numSplits, NUM_KV_HEADS).
override HEAD_DIM: u32;
override NUM_HEADS: u32;
override NUM_KV_HEADS: u32;
override MAX_SEQ: u32;

// Derived from the overrides above; callers never set them (workgroup array sizes must be override names).
override GQA: u32 = NUM_HEADS / NUM_KV_HEADS;
override QUADS: u32 = (GQA + 3u) / 4u;
override QUERY_VEC4S: u32 = HEAD_DIM * QUADS;
override SCORE_WORDS: u32 = GQA * TILE;

const TILE = 256u;
const PARTS = 16u;
const NEG_BIG = -3.0e38;

struct Batch { numTokens: u32, startPos: u32, numSplits: u32, firstRow: u32 }

@group(0) @binding(0) var<storage, read> qkv: array<f32>;
@group(0) @binding(1) var<storage, read> keys: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> values: array<u32>;
@group(0) @binding(3) var<storage, read_write> partialAcc: array<f32>;
@group(0) @binding(4) var<storage, read_write> partialMl: array<f32>;
@group(0) @binding(5) var<uniform> batch: Batch;

// q / sqrt(HEAD_DIM) at [c * QUADS + quad], heads quad * 4 .. quad * 4 + 3 (0 past GQA).
var<workgroup> query: array<vec4<f32>, QUERY_VEC4S>;
// [GQA, TILE]: the scores, then exp(score - m) (0 past the last key).
var<workgroup> probs: array<f32, SCORE_WORDS>;
var<workgroup> partMax: array<f32, 128>;   // [GQA, PARTS]
var<workgroup> partSum: array<f32, 128>;   // [GQA, PARTS]
var<workgroup> outputs: array<vec2<f32>, TILE>;

/** The tile's max score of head h, from its PARTS partial maxima. */
fn headMax(h: u32) -> f32 {
  var m = NEG_BIG;
  for (var part = 0u; part < PARTS; part++) { m = max(m, partMax[h * PARTS + part]); }
  return m;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let split = wid.x;
  let kvHead = wid.y;
  let numSplits = batch.numSplits;
  let firstHead = kvHead * GQA;
  let begin = split * TILE;
  let keysSeen = batch.startPos + 1u;
  let len = select(0u, min(TILE, keysSeen - begin), begin < keysSeen);
  let headRows = kvHead * MAX_SEQ + begin;

  for (var w = lid; w < HEAD_DIM * QUADS * 4u; w += TILE) {
    let c = w / (QUADS * 4u);
    let h = w % (QUADS * 4u);
    var q = 0.0;
    if (h < GQA) { q = qkv[(firstHead + h) * HEAD_DIM + c] * inverseSqrt(f32(HEAD_DIM)); }
    query[c * QUADS + h / 4u][h % 4u] = q;
  }
  workgroupBarrier();

  // Initialised explicitly: SwiftShader has kept stale values in a bare `var` array.
  var score = array<vec4<f32>, 2>(vec4<f32>(NEG_BIG), vec4<f32>(NEG_BIG));
  if (lid < len) {
    score[0] = vec4<f32>(0.0);
    score[1] = vec4<f32>(0.0);
    let row = (headRows + lid) * (HEAD_DIM / 8u);
    for (var w = 0u; w < HEAD_DIM / 8u; w++) {
      let words = keys[row + w];
      for (var e = 0u; e < 4u; e++) {
        let k = unpack2x16float(words[e]);
        let c = 8u * w + 2u * e;
        for (var q = 0u; q < QUADS; q++) { score[q] += query[c * QUADS + q] * k.x + query[(c + 1u) * QUADS + q] * k.y; }
      }
    }
  }
  for (var h = 0u; h < GQA; h++) { probs[h * TILE + lid] = score[h / 4u][h % 4u]; }
  workgroupBarrier();

  if (lid < GQA * PARTS) {
    let h = lid / PARTS;
    var m = NEG_BIG;
    for (var t = lid % PARTS; t < TILE; t += PARTS) { m = max(m, probs[h * TILE + t]); }
    partMax[lid] = m;
  }
  workgroupBarrier();

  for (var h = 0u; h < GQA; h++) {
    let i = h * TILE + lid;
    probs[i] = select(0.0, exp(probs[i] - headMax(h)), lid < len);
  }
  workgroupBarrier();

  if (lid < GQA * PARTS) {
    let h = lid / PARTS;
    var l = 0.0;
    for (var t = lid % PARTS; t < TILE; t += PARTS) { l += probs[h * TILE + t]; }
    partSum[lid] = l;
  }

  let words = HEAD_DIM / 2u;
  let tokenParts = TILE / words;
  let w = lid % words;
  let tp = lid / words;
  var acc: array<vec2<f32>, 8>;
  for (var h = 0u; h < GQA; h++) { acc[h] = vec2<f32>(0.0); }
  if (tp < tokenParts) {
    for (var t = tp; t < len; t += tokenParts) {
      let v = unpack2x16float(values[(headRows + t) * words + w]);
      for (var h = 0u; h < GQA; h++) { acc[h] += probs[h * TILE + t] * v; }
    }
  }
  workgroupBarrier();

  if (lid < GQA) {
    var l = 0.0;
    for (var part = 0u; part < PARTS; part++) { l += partSum[lid * PARTS + part]; }
    let slot = (firstHead + lid) * numSplits + split;
    partialMl[2u * slot] = headMax(lid);
    partialMl[2u * slot + 1u] = l;
  }
  for (var h = 0u; h < GQA; h++) {
    outputs[lid] = acc[h];
    workgroupBarrier();
    if (lid < words) {
      var o = vec2<f32>(0.0);
      for (var part = 0u; part < tokenParts; part++) { o += outputs[part * words + lid]; }
      let base = ((firstHead + h) * numSplits + split) * HEAD_DIM + 2u * lid;
      partialAcc[base] = o.x;
      partialAcc[base + 1u] = o.y;
    }
    workgroupBarrier();
  }
}
