// Causal attention of T new queries over one layer's KIVI cache (layouts in src/engine/kv/layout.ts),
// computed from the codes and split along the sequence like attention_f16.wgsl: each workgroup runs
// an online softmax over its share of one query's kept tokens and writes a partial result that
// attention_reduce.wgsl combines. No dequantized key or value is ever stored.
//   qkv            [T, (NUM_HEADS + 2 * NUM_KV_HEADS) * HEAD_DIM] f32: queries are the first NUM_HEADS heads
//   keyBlocks      [poolBlocks, KEY_CODE_WORDS + HEAD_DIM] u32: channel-major codes, then (scale, min) per channel
//   valueBlocks    [poolBlocks, GROUP * VW + GROUP * NG] u32: token-major codes, then (scale, min) per token and group
//   blockTable     [NUM_KV_HEADS * MAX_BLOCKS + NUM_KV_HEADS] u32: each head's pool ids (layout.ts's
//                  blockTable), then headBlocks, the blocks each head holds. One binding for both keeps
//                  the kernel within WebGPU's default limit of 8 storage buffers per stage.
//   residualKeys, residualValues [NUM_KV_HEADS, RING, HEAD_DIM / 2] u32 (f16 pairs); residual token r in
//                  slot (residualStart + r) % RING
//   partialAcc     [T, NUM_HEADS, numSplits, HEAD_DIM] f32, partialMl [T, NUM_HEADS, numSplits, 2] f32:
//                  as attention_f16 (empty split: m = -3e38, l = 0, acc = 0)
//   kvBatch        uniform: the chunk's T tokens are already residual tokens residualLen + t (the flush
//                  has not run); query t sees every block of its KV head and residual tokens 0 .. residualLen + t
// Query head h reads KV head h / (NUM_HEADS / NUM_KV_HEADS) (GQA). Scores are q.k / sqrt(HEAD_DIM).
//
// Work: a KV head's kept tokens form units of GROUP tokens (its blocks, then the visible residual in
// tiles of GROUP); split s of numSplits takes a contiguous range of units. Per unit, 128 invocations:
//   scores  k_jc = code_jc s_c + m_c per channel, so q.k_j = sum_c (q_c s_c) code_jc + sum_c q_c m_c.
//           The block's key codes are staged once (coalesced) in workgroup memory with q_c s_c and
//           q_c m_c; invocation (part p = lid / GROUP, token j = lid % GROUP) sums channels c = p mod
//           P (P = 128 / GROUP parts), then token j adds up the P parts and the 8 partial sums of q.m.
//   softmax running max m over units; token j's invocation keeps its own running sum of p_j and of
//           p_j m_jg (the value min terms), all reduced once at the end of the split.
//   values  v_jc = code_jc s_jg + m_jg per token and channel group g, so sum_j p_j v_jc =
//           sum_j (p_j s_jg) code_jc + sum_j p_j m_jg. Invocation (word i = lid % VW, token part) reads
//           code word i of every TPART-th token (consecutive invocations read consecutive words) and
//           accumulates its 32 / VALUE_BITS channels; the token parts are summed at the end.
// Residual tiles use the same roles with f16 keys (q.k over channel pairs) and values.
// Grid: (numSplits, NUM_HEADS, T). HEAD_DIM <= 128, GROUP in {32, 64, 128} dividing HEAD_DIM, bits 2/4/8.
override HEAD_DIM: u32;
override NUM_HEADS: u32;
override NUM_KV_HEADS: u32;
override GROUP: u32;
override KEY_BITS: u32;
override VALUE_BITS: u32;
override RING: u32;
override MAX_BLOCKS: u32;

// Derived from the overrides above; callers never set them (workgroup array sizes must be override names).
override KEY_CODE_WORDS: u32 = HEAD_DIM * GROUP * KEY_BITS / 32u;
override OUT_PARTS: u32 = WG * 32u / VALUE_BITS;

const WG = 128u;
const NEG_BIG = -3.0e38;
// Invocations that add up q.m of a block, one stride of channels each.
const MIN_PARTS = 8u;

struct KvBatch { numTokens: u32, startPos: u32, numSplits: u32, firstRow: u32, residualStart: u32, residualLen: u32, flushBlocks: u32, pad: u32 }

@group(0) @binding(0) var<storage, read> qkv: array<f32>;
@group(0) @binding(1) var<storage, read> keyBlocks: array<u32>;
@group(0) @binding(2) var<storage, read> valueBlocks: array<u32>;
@group(0) @binding(3) var<storage, read> blockTable: array<u32>;
@group(0) @binding(4) var<storage, read> residualKeys: array<u32>;
@group(0) @binding(5) var<storage, read> residualValues: array<u32>;
@group(0) @binding(6) var<storage, read_write> partialAcc: array<f32>;
@group(0) @binding(7) var<storage, read_write> partialMl: array<f32>;
@group(0) @binding(8) var<uniform> kvBatch: KvBatch;

// q / sqrt(HEAD_DIM), then per block q_c s_c and q_c m_c.
var<workgroup> query: array<f32, 128>;
var<workgroup> queryScaled: array<f32, 128>;
var<workgroup> queryMin: array<f32, 128>;
var<workgroup> keyCodes: array<u32, KEY_CODE_WORDS>;
// [P, GROUP] partial scores, then per token the score; the MIN_PARTS partial sums of q.m.
var<workgroup> scoreParts: array<f32, WG>;
var<workgroup> scores: array<f32, 128>;
var<workgroup> minParts: array<f32, MIN_PARTS>;
// Block: p_j s_jg at j * NG + g; residual tile: p_j at j. At the end: token j's sums of p_j m_jg.
var<workgroup> weights: array<f32, 128>;
// [TPART, HEAD_DIM] the token parts' output sums.
var<workgroup> outParts: array<f32, OUT_PARTS>;

@compute @workgroup_size(128)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let split = wid.x;
  let head = wid.y;
  let t = wid.z;
  let numSplits = kvBatch.numSplits;
  let kvHead = head / (NUM_HEADS / NUM_KV_HEADS);

  let parts = WG / GROUP;                       // P: channel parts per token
  let keyWordsPerChannel = GROUP * KEY_BITS / 32u;
  let keyMask = (1u << KEY_BITS) - 1u;
  let keyBlockWords = KEY_CODE_WORDS + HEAD_DIM;
  let valueWordsPerToken = HEAD_DIM * VALUE_BITS / 32u;   // VW
  let groupsPerToken = HEAD_DIM / GROUP;                  // NG
  let valueBlockWords = GROUP * valueWordsPerToken + GROUP * groupsPerToken;
  let channelsPerWord = 32u / VALUE_BITS;
  let valueMask = (1u << VALUE_BITS) - 1u;
  let tokenParts = WG / valueWordsPerToken;               // TPART
  let halfDim = HEAD_DIM / 2u;

  // Roles: token j of a unit with channel part p; value code word i with token part vp.
  let j = lid % GROUP;
  let p = lid / GROUP;
  let i = lid % valueWordsPerToken;
  let vp = lid / valueWordsPerToken;

  let numBlocks = blockTable[NUM_KV_HEADS * MAX_BLOCKS + kvHead];
  let residualBase = kvHead * RING;
  let visible = kvBatch.residualLen + t + 1u;
  let numUnits = numBlocks + (visible + GROUP - 1u) / GROUP;
  let unitsPerSplit = (numUnits + numSplits - 1u) / numSplits;
  let begin = min(split * unitsPerSplit, numUnits);
  let end = min(begin + unitsPerSplit, numUnits);

  let qBase = t * (NUM_HEADS + 2u * NUM_KV_HEADS) * HEAD_DIM + head * HEAD_DIM;
  if (lid < HEAD_DIM) { query[lid] = qkv[qBase + lid] * inverseSqrt(f32(HEAD_DIM)); }
  workgroupBarrier();

  var m = NEG_BIG;
  var l = 0.0;                       // token role: sum of this token slot's p_j
  var minAcc = vec4<f32>(0.0);       // token role: sum of p_j m_jg per value group g (NG <= 4)
  var acc: array<f32, 16>;           // value role: channels i * channelsPerWord + k

  for (var u = begin; u < end; u++) {
    let isBlock = u < numBlocks;
    let block = blockTable[kvHead * MAX_BLOCKS + min(u, MAX_BLOCKS - 1u)];
    let r0 = (u - min(u, numBlocks)) * GROUP;   // first residual token of a residual tile
    var tileLen = GROUP;
    if (!isBlock) { tileLen = min(GROUP, visible - r0); }

    if (isBlock) {
      let keyBase = block * keyBlockWords;
      for (var w = lid; w < KEY_CODE_WORDS; w += WG) { keyCodes[w] = keyBlocks[keyBase + w]; }
      if (lid < HEAD_DIM) {
        let scaleMin = unpack2x16float(keyBlocks[keyBase + KEY_CODE_WORDS + lid]);
        queryScaled[lid] = query[lid] * scaleMin.x;
        queryMin[lid] = query[lid] * scaleMin.y;
      }
    }
    workgroupBarrier();

    var partial = 0.0;
    if (isBlock) {
      let word = (j * KEY_BITS) / 32u;
      let shift = (j * KEY_BITS) % 32u;
      for (var c = p; c < HEAD_DIM; c += parts) {
        partial += queryScaled[c] * f32((keyCodes[c * keyWordsPerChannel + word] >> shift) & keyMask);
      }
      if (lid < MIN_PARTS) {
        var qm = 0.0;
        for (var c = lid; c < HEAD_DIM; c += MIN_PARTS) { qm += queryMin[c]; }
        minParts[lid] = qm;
      }
    } else if (j < tileLen) {
      let row = (residualBase + (kvBatch.residualStart + r0 + j) % RING) * halfDim;
      for (var w = p; w < halfDim; w += parts) {
        let k = unpack2x16float(residualKeys[row + w]);
        partial += query[2u * w] * k.x + query[2u * w + 1u] * k.y;
      }
    }
    scoreParts[lid] = partial;
    workgroupBarrier();

    if (lid < GROUP) {
      var score = NEG_BIG;
      if (lid < tileLen) {
        score = 0.0;
        for (var q = 0u; q < parts; q++) { score += scoreParts[q * GROUP + lid]; }
        if (isBlock) {
          for (var q = 0u; q < MIN_PARTS; q++) { score += minParts[q]; }
        }
      }
      scores[lid] = score;
    }
    workgroupBarrier();

    var tileMax = NEG_BIG;
    for (var jj = 0u; jj < tileLen; jj++) { tileMax = max(tileMax, scores[jj]); }
    let newM = max(m, tileMax);
    let correction = exp(m - newM);
    if (lid < GROUP) {
      var prob = 0.0;
      if (lid < tileLen) { prob = exp(scores[lid] - newM); }
      l = l * correction + prob;
      minAcc *= correction;
      if (isBlock) {
        let scaleBase = block * valueBlockWords + GROUP * valueWordsPerToken + lid * groupsPerToken;
        for (var g = 0u; g < groupsPerToken; g++) {
          let scaleMin = unpack2x16float(valueBlocks[scaleBase + g]);
          weights[lid * groupsPerToken + g] = prob * scaleMin.x;
          minAcc[g] += prob * scaleMin.y;
        }
      } else {
        weights[lid] = prob;
      }
    }
    if (newM > m) {
      for (var k = 0u; k < channelsPerWord; k++) { acc[k] *= correction; }
    }
    m = newM;
    workgroupBarrier();

    if (isBlock) {
      let codeBase = block * valueBlockWords + i;
      let g = (i * channelsPerWord) / GROUP;
      for (var jj = vp; jj < GROUP; jj += tokenParts) {
        let codes = valueBlocks[codeBase + jj * valueWordsPerToken];
        let weight = weights[jj * groupsPerToken + g];
        for (var k = 0u; k < channelsPerWord; k++) {
          acc[k] += weight * f32((codes >> (k * VALUE_BITS)) & valueMask);
        }
      }
    } else {
      for (var jj = vp; jj < tileLen; jj += tokenParts) {
        let row = (residualBase + (kvBatch.residualStart + r0 + jj) % RING) * halfDim + i * (channelsPerWord / 2u);
        let weight = weights[jj];
        for (var k = 0u; k < channelsPerWord / 2u; k++) {
          let v = unpack2x16float(residualValues[row + k]);
          acc[2u * k] += weight * v.x;
          acc[2u * k + 1u] += weight * v.y;
        }
      }
    }
    // The next unit's first writes (keyCodes, queryScaled, queryMin) were last read before the
    // barriers above, and weights is next written after three barriers: no barrier needed here.
  }

  workgroupBarrier();
  if (lid < GROUP) {
    scores[lid] = l;
    for (var g = 0u; g < groupsPerToken; g++) { weights[lid * groupsPerToken + g] = minAcc[g]; }
  }
  for (var k = 0u; k < channelsPerWord; k++) { outParts[vp * HEAD_DIM + i * channelsPerWord + k] = acc[k]; }
  workgroupBarrier();

  let slot = (t * NUM_HEADS + head) * numSplits + split;
  if (lid == 0u) {
    var total = 0.0;
    for (var jj = 0u; jj < GROUP; jj++) { total += scores[jj]; }
    partialMl[2u * slot] = m;
    partialMl[2u * slot + 1u] = total;
  }
  for (var c = lid; c < HEAD_DIM; c += WG) {
    var o = 0.0;
    for (var q = 0u; q < tokenParts; q++) { o += outParts[q * HEAD_DIM + c]; }
    let g = c / GROUP;
    for (var jj = 0u; jj < GROUP; jj++) { o += weights[jj * groupsPerToken + g]; }
    partialAcc[slot * HEAD_DIM + c] = o;
  }
}
