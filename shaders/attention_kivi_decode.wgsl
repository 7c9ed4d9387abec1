// Decode attention (T = 1) over one layer's KIVI cache (layouts in src/engine/kv/layout.ts): one
// workgroup per (split, KV head) serves every query head of the KV head's GQA group, so each code
// word is read once per step. Prefill chunks (T > 1) use attention_kivi.wgsl. Writes the partials
// attention_reduce.wgsl combines. It also does kivi_append's work for the new token (one dispatch
// less per layer): the split holding it writes its f16 key and value into the ring, and reads them
// from qkv itself.
//   qkv            [1, (NUM_HEADS + 2 * NUM_KV_HEADS) * HEAD_DIM] f32: queries are the first NUM_HEADS heads
//   keyBlocks      [poolBlocks, KEY_CODE_WORDS + HEAD_DIM] u32: channel-major codes, then (scale, min)
//                  per channel
//   valueBlocks    [poolBlocks, GROUP * VW + GROUP * NG] u32: token-major codes, then (scale, min) per token and group
//   blockTable     [NUM_KV_HEADS * MAX_BLOCKS + NUM_KV_HEADS] u32: pool ids, then each head's block count
//   residualKeys   [NUM_KV_HEADS, RING, HEAD_DIM / 8] vec4<u32> (f16 pairs), read a row at a time
//   residualValues [NUM_KV_HEADS, RING, HEAD_DIM / 4] vec2<u32> (f16 pairs: 4 channels per entry)
//                  residual token r in slot (residualStart + r) % RING; the new token's slot is written
//   partialAcc     [1, NUM_HEADS, numSplits, HEAD_DIM] f32, partialMl [1, NUM_HEADS, numSplits, 2] f32:
//                  unnormalised sum_t p_t v_t and (m, l) per split (empty split: m = -3e38, l = 0, acc = 0)
//   kvBatch        uniform KvBatch: the new token is residual token residualLen (keys in qkv already rotated)
// Query head h reads KV head h / GQA. Scores are q.k / sqrt(HEAD_DIM).
//
// Work: a KV head's kept tokens (its blocks, then residualLen + 1 residual tokens) form tiles of
// TILE = 256 tokens; split s takes ceil(tiles / numSplits) consecutive tiles. Per tile, 256 invocations:
//   ids     the tile's pool block ids go to workgroup memory;
//   scores  invocation (channel group cg, token group) takes TPI = CHANNEL_GROUPS consecutive tokens
//           (4 for GQA <= 4, 2 for GQA <= 8; one block's, or residual ones) over HEAD_DIM /
//           CHANNEL_GROUPS channels: per channel one code word holds the TPI tokens' codes and one word
//           the block's (scale, min), read straight from keyBlocks, SCORE_BATCH channels' words in
//           flight at once (with the value role's first VALUE_BATCH tokens' value words, for tiles of
//           whole blocks); k = code s + m for the TPI tokens, dotted with the GQA queries held in
//           workgroup memory as vec4s of 4 heads (QUADS of them). A code becomes an f32 through the
//           exponent bits of 2^23 (no int-to-float conversion, which runs at a quarter of the FMA
//           rate). Groups 1.. hand their partial scores to group 0 through workgroup memory, which
//           sums them into the tile's scores;
//   max     invocations (head, part) take the max of 16 scores each; then one invocation per head
//           folds the 16 parts into the running max m and the rescale factor exp(m_old - m);
//   probs   invocation t overwrites its scores with p_t = exp(score - m), once per (token, head);
//   values  invocation (slice i of 4 channels, quad q, token part tp) sums, over tokens tp, tp + TP, ..,
//           p_t (code_tc s_tg + m_tg) into acc[channel] as a vec4 over the quad's heads; l likewise.
// Seven barriers per tile. Register arrays are indexed only in
// loops of constant trip count without barriers, so that they stay in registers (an array indexed
// dynamically goes to local memory, and each load into it then waits for the data).
// At the end the token parts' acc and l are summed through workgroup memory, one channel of the
// slice per round.
// Limits: GQA <= 8, HEAD_DIM <= 128 and a multiple of 64, GROUP in {32, 64, 128} dividing HEAD_DIM,
// bits 2/4/8; workgroup memory within 16 KiB. Grid: (numSplits, NUM_KV_HEADS).
override HEAD_DIM: u32;
override NUM_HEADS: u32;
override NUM_KV_HEADS: u32;
override GROUP: u32;
override KEY_BITS: u32;
override VALUE_BITS: u32;
override RING: u32;
override MAX_BLOCKS: u32;

// Derived from the overrides above; callers never set them (workgroup array sizes must be override names).
override GQA: u32 = NUM_HEADS / NUM_KV_HEADS;
override QUADS: u32 = (GQA + 3u) / 4u;
override QUERY_VEC4S: u32 = HEAD_DIM * QUADS;
// Channel groups of the key scores: invocation (group cg, token group) sums HEAD_DIM / CHANNEL_GROUPS
// channels of TPI = CHANNEL_GROUPS consecutive tokens for every head (TPI * QUADS = 4 partial vec4s).
override CHANNEL_GROUPS: u32 = 4u / QUADS;
override TPI: u32 = CHANNEL_GROUPS;
// Groups 1.. hand their partial scores over as [group - 1][QUADS][TILE] vec4s; then the scores and
// probabilities [QUADS, TILE] (group 1's slab); at the end the reduction buffer (TILE vec4s).
override EXCHANGE_VEC4S: u32 = max(1u, CHANNEL_GROUPS - 1u) * QUADS * TILE;

const TILE = 256u;
const NEG_BIG = -3.0e38;
// Score parts per head in the tile max, TILE / MAX_PARTS tokens each.
const MAX_PARTS = 16u;
// A code c (< 2^23) in the mantissa of 2^23 is the f32 2^23 + c, exactly.
const MAGIC_BITS = 0x4B000000u;
const MAGIC = 8388608.0;
// Value tokens per invocation loaded together (each token part holds a multiple of 16 tokens).
const VALUE_BATCH = 16u;
// Key channels per invocation loaded together (HEAD_DIM / CHANNEL_GROUPS is a multiple of it).
const SCORE_BATCH = 16u;

struct KvBatch { numTokens: u32, startPos: u32, numSplits: u32, firstRow: u32, residualStart: u32, residualLen: u32, flushBlocks: u32, pad: u32 }

@group(0) @binding(0) var<storage, read> qkv: array<f32>;
@group(0) @binding(1) var<storage, read> keyBlocks: array<u32>;
@group(0) @binding(2) var<storage, read> valueBlocks: array<u32>;
@group(0) @binding(3) var<storage, read> blockTable: array<u32>;
@group(0) @binding(4) var<storage, read_write> residualKeys: array<vec4<u32>>;
@group(0) @binding(5) var<storage, read_write> residualValues: array<vec2<u32>>;
@group(0) @binding(6) var<storage, read_write> partialAcc: array<f32>;
@group(0) @binding(7) var<storage, read_write> partialMl: array<f32>;
@group(0) @binding(8) var<uniform> kvBatch: KvBatch;

// q / sqrt(HEAD_DIM) at [c * QUADS + quad], heads quad * 4 .. quad * 4 + 3 (0 past GQA).
var<workgroup> query: array<vec4<f32>, QUERY_VEC4S>;
var<workgroup> exchange: array<vec4<f32>, EXCHANGE_VEC4S>;
var<workgroup> tileBlockIds: array<u32, TILE / 32u>;   // pool ids of the tile's blocks (G >= 32)
var<workgroup> partMax: array<f32, 128>;       // [GQA, MAX_PARTS]; at the end the token parts' l [TP, QUADS] vec4s
var<workgroup> runMax: array<vec4<f32>, 2>;    // [QUADS] the running max m
var<workgroup> rescale: array<vec4<f32>, 2>;   // [QUADS] exp(m_old - m) of the tile

/** Codes at bit `shift` + k * bits of `words[k]` (or of one word) as f32, exactly. */
fn codesToF32(words: vec4<u32>, shifts: vec4<u32>, mask: u32) -> vec4<f32> {
  return bitcast<vec4<f32>>(((words >> shifts) & vec4<u32>(mask)) | vec4<u32>(MAGIC_BITS)) - vec4<f32>(MAGIC);
}

/** The new token's key channels 8w .. 8w + 7 from qkv, as the ring holds them (f16 pairs). */
fn newKeyWords(kvHead: u32, w: u32) -> vec4<u32> {
  let k = (NUM_HEADS + kvHead) * HEAD_DIM + 8u * w;
  return vec4<u32>(pack2x16float(vec2<f32>(qkv[k], qkv[k + 1u])), pack2x16float(vec2<f32>(qkv[k + 2u], qkv[k + 3u])),
                   pack2x16float(vec2<f32>(qkv[k + 4u], qkv[k + 5u])), pack2x16float(vec2<f32>(qkv[k + 6u], qkv[k + 7u])));
}

/** The new token's value channels 4i .. 4i + 3 from qkv, as the ring holds them. */
fn newValueWords(kvHead: u32, i: u32) -> vec2<u32> {
  let v = (NUM_HEADS + NUM_KV_HEADS + kvHead) * HEAD_DIM + 4u * i;
  return vec2<u32>(pack2x16float(vec2<f32>(qkv[v], qkv[v + 1u])), pack2x16float(vec2<f32>(qkv[v + 2u], qkv[v + 3u])));
}

/** (code word, (scale, min) word) of slice i (channels 4i .. 4i + 3) of token t of a tile of whole
 *  blocks: t's block is tileBlockIds[t / GROUP]. */
fn blockValueWords(t: u32, i: u32) -> vec2<u32> {
  let valueWordsPerToken = HEAD_DIM * VALUE_BITS / 32u;
  let groupsPerToken = HEAD_DIM / GROUP;
  let valueBase = tileBlockIds[t / GROUP] * (GROUP * valueWordsPerToken + GROUP * groupsPerToken);
  let j = t % GROUP;
  return vec2<u32>(valueBlocks[valueBase + j * valueWordsPerToken + (i * 4u * VALUE_BITS) / 32u],
                   valueBlocks[valueBase + GROUP * valueWordsPerToken + j * groupsPerToken + (4u * i) / GROUP]);
}

/** Slot of part e (token t0 + e / QUADS, quad e % QUADS) of channel group `group` + 1's partial
 *  scores in exchange; group 0's slots are the tile's scores [QUADS, TILE]. */
fn partialSlot(group: u32, t0: u32, e: u32) -> u32 {
  return (group * QUADS + e % QUADS) * TILE + t0 + e / QUADS;
}

/** Channel group 0: part e's score summed over the channel groups, -3e38 past the tile's end. */
fn writeScore(t0: u32, e: u32, partial: vec4<f32>, tileLen: u32) {
  var score = partial;
  for (var g = 1u; g < CHANNEL_GROUPS; g++) { score += exchange[partialSlot(g - 1u, t0, e)]; }
  exchange[partialSlot(0u, t0, e)] = select(vec4<f32>(NEG_BIG), score, t0 + e / QUADS < tileLen);
}

/** Partial score of residual token `token` (f16 ring row, or the new token from qkv) over channels
 *  c0 .. c0 + HEAD_DIM / CHANNEL_GROUPS - 1 for quad q; 0 at or past `end`. */
fn residualPartial(kvHead: u32, token: u32, q: u32, c0: u32, end: u32, blockTokens: u32, numTokens: u32) -> vec4<f32> {
  var partial = vec4<f32>(0.0);
  if (token >= end) { return partial; }
  let row = (kvHead * RING + (kvBatch.residualStart + token - blockTokens) % RING) * (HEAD_DIM / 8u);
  for (var w = c0 / 8u; w < (c0 + HEAD_DIM / CHANNEL_GROUPS) / 8u; w++) {
    var kw: vec4<u32>;
    if (token == numTokens - 1u) { kw = newKeyWords(kvHead, w); } else { kw = residualKeys[row + w]; }
    for (var x = 0u; x < 4u; x++) {
      let k = unpack2x16float(kw[x]);
      let c = 8u * w + 2u * x;
      partial += query[c * QUADS + q] * k.x + query[(c + 1u) * QUADS + q] * k.y;
    }
  }
  return partial;
}

/** Round k of the final reduction: channel 4i + k of every head summed over the token parts
 *  (invocation o = (quad, i, hh) adds up the parts of its output, at float tp * outputs + o). */
fn reduceRound(lid: u32, k: u32, acc: vec4<f32>, slotBase: u32, numSplits: u32) {
  let slices = HEAD_DIM / 4u;
  let tokenParts = TILE / (slices * QUADS);
  let outputs = 4u * slices * QUADS;
  let oHead = (lid / (4u * slices)) * 4u + lid % 4u;
  exchange[lid] = acc;
  workgroupBarrier();
  if (lid < outputs && oHead < GQA) {
    var o = 0.0;
    for (var part = 0u; part < tokenParts; part++) {
      let f = part * outputs + lid;
      o += exchange[f / 4u][f % 4u];
    }
    partialAcc[(slotBase + oHead * numSplits) * HEAD_DIM + 4u * ((lid / 4u) % slices) + k] = o;
  }
  workgroupBarrier();
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let split = wid.x;
  let kvHead = wid.y;
  let numSplits = kvBatch.numSplits;
  let firstHead = kvHead * GQA;

  let keyWordsPerChannel = GROUP * KEY_BITS / 32u;        // KW
  let keyCodeWords = HEAD_DIM * keyWordsPerChannel;
  let keyMask = (1u << KEY_BITS) - 1u;
  let keyBlockWords = keyCodeWords + HEAD_DIM;
  let valueMask = (1u << VALUE_BITS) - 1u;

  // Score roles: channel group cg (channels c0 ..), tokens t0 .. t0 + TPI - 1 of the tile.
  let groupChannels = HEAD_DIM / CHANNEL_GROUPS;
  let cg = lid / (TILE / TPI);
  let t0 = (lid % (TILE / TPI)) * TPI;
  let c0 = cg * groupChannels;

  // Value roles: slice i (channels 4i .. 4i + 3), quad, token part tp of TP.
  let slices = HEAD_DIM / 4u;
  let tokenParts = TILE / (slices * QUADS);                // TP
  let i = lid % slices;
  let quad = (lid / slices) % QUADS;
  let tp = lid / (slices * QUADS);
  let tokensPerPart = TILE / tokenParts;                   // a multiple of VALUE_BATCH
  let valueShifts = vec4<u32>(0u, 1u, 2u, 3u) * VALUE_BITS + vec4<u32>((i * 4u * VALUE_BITS) % 32u);
  var headValid = vec4<f32>(0.0);
  for (var hh = 0u; hh < 4u; hh++) { headValid[hh] = select(0.0, 1.0, quad * 4u + hh < GQA); }

  let numBlocks = blockTable[NUM_KV_HEADS * MAX_BLOCKS + kvHead];
  let blockTokens = numBlocks * GROUP;
  let numTokens = blockTokens + kvBatch.residualLen + 1u;
  let numTiles = (numTokens + TILE - 1u) / TILE;
  let tilesPerSplit = (numTiles + numSplits - 1u) / numSplits;
  let begin = min(split * tilesPerSplit * TILE, numTokens);
  let end = min(begin + tilesPerSplit * TILE, numTokens);

  // The split holding the new token appends it to the ring; this dispatch reads it from qkv.
  if (numTokens - 1u >= begin && numTokens - 1u < end) {
    let slot = (kvBatch.residualStart + kvBatch.residualLen) % RING;
    if (lid < HEAD_DIM / 8u) { residualKeys[(kvHead * RING + slot) * (HEAD_DIM / 8u) + lid] = newKeyWords(kvHead, lid); }
    if (lid < HEAD_DIM / 4u) { residualValues[(kvHead * RING + slot) * (HEAD_DIM / 4u) + lid] = newValueWords(kvHead, lid); }
  }

  let qStride = HEAD_DIM * QUADS * 4u;
  for (var w = lid; w < qStride; w += TILE) {
    let c = w / (QUADS * 4u);
    let h = w % (QUADS * 4u);
    var q = 0.0;
    if (h < GQA) { q = qkv[(firstHead + h) * HEAD_DIM + c] * inverseSqrt(f32(HEAD_DIM)); }
    query[c * QUADS + h / 4u][h % 4u] = q;
  }
  // Heads past GQA in the last quad keep m = 0 (their scores are 0), so their p stays finite.
  if (lid < 8u) {
    runMax[lid / 4u][lid % 4u] = select(0.0, NEG_BIG, lid < GQA);
    rescale[lid / 4u][lid % 4u] = 1.0;
  }

  var l = vec4<f32>(0.0);
  // Channels 4i .. 4i + 3 of the quad's 4 heads (four variables: an array would be indexed in the
  // final reduction's loop of barriers).
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);

  for (var tileStart = begin; tileStart < end; tileStart += TILE) {
    let tileLen = min(TILE, end - tileStart);
    // Tiles start on block boundaries (G divides TILE) and blockTokens is whole blocks.
    let tileBlocks = (clamp(blockTokens, tileStart, tileStart + tileLen) - tileStart) / GROUP;
    // Every token of the tile in a block: value words are prefetched (else read token by token).
    let wholeBlocks = tileBlocks * GROUP == TILE;
    if (lid < tileBlocks) { tileBlockIds[lid] = blockTable[kvHead * MAX_BLOCKS + tileStart / GROUP + lid]; }
    workgroupBarrier();

    // The first VALUE_BATCH tokens' value words of this invocation, in flight during the scores.
    var words: array<vec2<u32>, VALUE_BATCH>;
    if (wholeBlocks) {
      for (var k = 0u; k < VALUE_BATCH; k++) { words[k] = blockValueWords(tp + k * tokenParts, i); }
    }

    // Partial scores of this invocation's TPI tokens over its channel group: part e = (token e / QUADS,
    // quad e % QUADS), TPI * QUADS = 4. Four variables, not an array: the residual path's loops would
    // index an array dynamically and move it to local memory.
    var s0 = vec4<f32>(0.0);
    var s1 = vec4<f32>(0.0);
    var s2 = vec4<f32>(0.0);
    var s3 = vec4<f32>(0.0);
    if (t0 < tileBlocks * GROUP) {
      // TPI consecutive tokens of one block: their codes of channel c are adjacent bits of one word.
      let j = t0 % GROUP;
      let base = tileBlockIds[t0 / GROUP] * keyBlockWords;
      let codeWord = base + (j * KEY_BITS) / 32u;
      let shifts = (vec4<u32>(0u, 1u, 2u, 3u) * KEY_BITS + vec4<u32>((j * KEY_BITS) % 32u)) & vec4<u32>(31u);
      // SCORE_BATCH channels' code and (scale, min) words are all in flight before the first is used.
      for (var cb = c0; cb < c0 + groupChannels; cb += SCORE_BATCH) {
        var codeWords: array<u32, SCORE_BATCH>;
        var scaleWords: array<u32, SCORE_BATCH>;
        for (var x = 0u; x < SCORE_BATCH; x++) {
          codeWords[x] = keyBlocks[codeWord + (cb + x) * keyWordsPerChannel];
          scaleWords[x] = keyBlocks[base + keyCodeWords + cb + x];
        }
        for (var x = 0u; x < SCORE_BATCH; x++) {
          let scaleMin = unpack2x16float(scaleWords[x]);
          // Key channel cb + x of the TPI tokens.
          let k = codesToF32(vec4<u32>(codeWords[x]), shifts, keyMask) * scaleMin.x + vec4<f32>(scaleMin.y);
          let c = (cb + x) * QUADS;
          s0 += query[c] * k[0u];
          s1 += query[c + 1u % QUADS] * k[1u / QUADS];
          s2 += query[c + 2u % QUADS] * k[2u / QUADS];
          s3 += query[c + 3u % QUADS] * k[3u / QUADS];
        }
      }
    } else {
      let first = tileStart + t0;
      let last = tileStart + tileLen;
      s0 = residualPartial(kvHead, first, 0u, c0, last, blockTokens, numTokens);
      s1 = residualPartial(kvHead, first + 1u / QUADS, 1u % QUADS, c0, last, blockTokens, numTokens);
      s2 = residualPartial(kvHead, first + 2u / QUADS, 2u % QUADS, c0, last, blockTokens, numTokens);
      s3 = residualPartial(kvHead, first + 3u / QUADS, 3u % QUADS, c0, last, blockTokens, numTokens);
    }
    // Channel groups 1.. hand their partials to group 0, which writes the tile's scores (-3e38
    // past its end) over group 1's slab: score slot (q, t) is only read by its writer.
    if (cg > 0u) {
      exchange[partialSlot(cg - 1u, t0, 0u)] = s0;
      exchange[partialSlot(cg - 1u, t0, 1u)] = s1;
      exchange[partialSlot(cg - 1u, t0, 2u)] = s2;
      exchange[partialSlot(cg - 1u, t0, 3u)] = s3;
    }
    workgroupBarrier();
    if (cg == 0u) {
      writeScore(t0, 0u, s0, tileLen);
      writeScore(t0, 1u, s1, tileLen);
      writeScore(t0, 2u, s2, tileLen);
      writeScore(t0, 3u, s3, tileLen);
    }
    workgroupBarrier();

    if (lid < GQA * MAX_PARTS) {
      let h = lid / MAX_PARTS;
      let part = lid % MAX_PARTS;
      var partial = NEG_BIG;
      for (var t = part; t < TILE; t += MAX_PARTS) { partial = max(partial, exchange[(h / 4u) * TILE + t][h % 4u]); }
      partMax[lid] = partial;
    }
    workgroupBarrier();
    if (lid < GQA) {
      var tileMax = NEG_BIG;
      for (var part = 0u; part < MAX_PARTS; part++) { tileMax = max(tileMax, partMax[lid * MAX_PARTS + part]); }
      let old = runMax[lid / 4u][lid % 4u];
      let newMax = max(old, tileMax);
      runMax[lid / 4u][lid % 4u] = newMax;
      rescale[lid / 4u][lid % 4u] = exp(old - newMax);
    }
    workgroupBarrier();

    // Tokens past the tile's end have score -3e38: p = 0.
    for (var q = 0u; q < QUADS; q++) { exchange[q * TILE + lid] = exp(exchange[q * TILE + lid] - runMax[q]); }
    workgroupBarrier();

    if (tp < tokenParts) {
      let correction = rescale[quad];
      l *= correction;
      acc0 *= correction;
      acc1 *= correction;
      acc2 *= correction;
      acc3 *= correction;
      if (wholeBlocks) {
        for (var batch = 0u; batch < tokensPerPart; batch += VALUE_BATCH) {
          if (batch > 0u) {
            for (var k = 0u; k < VALUE_BATCH; k++) { words[k] = blockValueWords(tp + (batch + k) * tokenParts, i); }
          }
          for (var k = 0u; k < VALUE_BATCH; k++) {
            let prob = exchange[quad * TILE + tp + (batch + k) * tokenParts] * headValid;
            l += prob;
            let scaleMin = unpack2x16float(words[k].y);
            let v = codesToF32(vec4<u32>(words[k].x), valueShifts, valueMask) * scaleMin.x + vec4<f32>(scaleMin.y);
            acc0 += prob * v.x;
            acc1 += prob * v.y;
            acc2 += prob * v.z;
            acc3 += prob * v.w;
          }
        }
      } else {
        for (var t = tp; t < tileLen; t += tokenParts) {
          let prob = exchange[quad * TILE + t] * headValid;
          l += prob;
          var v: vec4<f32>;   // channels 4i .. 4i + 3
          if (t < tileBlocks * GROUP) {
            let w = blockValueWords(t, i);
            let scaleMin = unpack2x16float(w.y);
            v = codesToF32(vec4<u32>(w.x), valueShifts, valueMask) * scaleMin.x + vec4<f32>(scaleMin.y);
          } else {
            var w: vec2<u32>;
            if (tileStart + t == numTokens - 1u) {
              w = newValueWords(kvHead, i);
            } else {
              w = residualValues[(kvHead * RING + (kvBatch.residualStart + tileStart + t - blockTokens) % RING) * slices + i];
            }
            v = vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y));
          }
          acc0 += prob * v.x;
          acc1 += prob * v.y;
          acc2 += prob * v.z;
          acc3 += prob * v.w;
        }
      }
    }
    // The next tile rewrites tileBlockIds, exchange (its scores) and rescale.
    workgroupBarrier();
  }

  // Sum the token parts, one channel of the slice per round.
  let slotBase = firstHead * numSplits + split;
  if (i == 0u && tp < tokenParts) {
    for (var hh = 0u; hh < 4u; hh++) { partMax[(tp * QUADS + quad) * 4u + hh] = l[hh]; }
  }
  reduceRound(lid, 0u, acc0, slotBase, numSplits);
  reduceRound(lid, 1u, acc1, slotBase, numSplits);
  reduceRound(lid, 2u, acc2, slotBase, numSplits);
  reduceRound(lid, 3u, acc3, slotBase, numSplits);
  if (lid < GQA) {
    var total = 0.0;
    for (var part = 0u; part < tokenParts; part++) { total += partMax[(part * QUADS + lid / 4u) * 4u + lid % 4u]; }
    let slot = slotBase + lid * numSplits;
    partialMl[2u * slot] = runMax[lid / 4u][lid % 4u];
    partialMl[2u * slot + 1u] = total;
  }
}
