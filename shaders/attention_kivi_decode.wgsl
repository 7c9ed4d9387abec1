// Decode attention (T = 1) over one layer's KIVI cache (layouts in src/engine/kv/layout.ts): one
// workgroup per (split, KV head) serves every query head of the KV head's GQA group, so each code
// word is read once per step. Prefill chunks (T > 1) use attention_kivi.wgsl. Writes the partials
// attention_reduce.wgsl combines. It also does kivi_append's work for the new token (one dispatch
// less per layer): the split holding it writes its f16 key and value into the ring, and reads them
// from qkv itself.
//   qkv            [1, (NUM_HEADS + 2 * NUM_KV_HEADS) * HEAD_DIM] f32: queries are the first NUM_HEADS heads
//   keyBlocks      [poolBlocks, KEY_CODE_WORDS + HEAD_DIM] u32 (read as vec4s): channel-major codes, then
//                  (scale, min) per channel
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
//   stage   the tile's pool block ids go to workgroup memory; then, with every load of the tile
//           issued before any of them is used (the whole tile in flight at once): each value-role
//           invocation's first VALUE_BATCH tokens' value words go to registers (tiles of whole
//           blocks), and the key blocks to workgroup memory, STAGE_CHANNELS channels at a time (all
//           of them for 2-bit keys at HEAD_DIM 64) as vec4s of code words and of (scale, min)
//           words; codes are stored transposed ([block][word of the channel][channel]) so that a
//           token's codes of 4 channels are one vec4, and (scale, min) unpacked to f32;
//   scores  invocation t owns token t: k_c = code_c s_c + m_c (or the f16 residual key), 4 channels
//           at a time, dotted with the GQA queries held in workgroup memory as vec4s of 4 heads
//           (QUADS of them); a code becomes an f32 through the exponent bits of 2^23 (no int-to-float
//           conversion, which runs at a quarter of the FMA rate);
//   max     invocations (head, part) take the max of 16 scores each; then one invocation per head
//           folds the 16 parts into the running max m and the rescale factor exp(m_old - m);
//   probs   invocation t overwrites its scores with p_t = exp(score - m), once per (token, head);
//   values  invocation (slice i of 4 channels, quad q, token part tp) sums, over tokens tp, tp + TP, ..,
//           p_t (code_tc s_tg + m_tg) into acc[channel] as a vec4 over the quad's heads; l likewise.
// Seven barriers per tile (one more per extra channel slab). Register arrays are indexed only in
// loops of constant trip count without barriers, so that they stay in registers (an array indexed
// dynamically goes to local memory, and each load into it then waits for the data).
// At the end the token parts' acc and l are summed through workgroup memory, one channel of the
// slice per round.
// Limits: GQA <= 8, HEAD_DIM <= 128 and a multiple of 8, GROUP in {32, 64, 128} dividing HEAD_DIM,
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
// Scores, then probabilities, [QUADS, TILE] vec4s of 4 heads; at the end the reduction buffer (TILE vec4s).
override EXCHANGE_VEC4S: u32 = QUADS * TILE;
// Key staging gets the workgroup memory the rest leaves of 4096 words (16 KiB); per channel it takes
// TILE * KEY_BITS / 32 code words and a (scale, min) f32 pair per block of the tile.
override STAGE_BUDGET_WORDS: u32 = 4096u - 4u * QUERY_VEC4S - 4u * EXCHANGE_VEC4S - 128u - 16u - TILE / 32u;
override STAGE_WORDS_PER_CHANNEL: u32 = TILE * KEY_BITS / 32u + 2u * (TILE / GROUP);
override STAGE_CHANNELS: u32 = min(HEAD_DIM, 1u << firstLeadingBit(STAGE_BUDGET_WORDS / STAGE_WORDS_PER_CHANNEL));
override STAGE_CODE_VEC4S: u32 = (TILE * KEY_BITS / 32u) * (STAGE_CHANNELS / 4u);
override STAGE_SCALE_VEC4S: u32 = (TILE / GROUP) * (STAGE_CHANNELS / 2u);

const TILE = 256u;
const NEG_BIG = -3.0e38;
// Score parts per head in the tile max, TILE / MAX_PARTS tokens each.
const MAX_PARTS = 16u;
// A code c (< 2^23) in the mantissa of 2^23 is the f32 2^23 + c, exactly.
const MAGIC_BITS = 0x4B000000u;
const MAGIC = 8388608.0;
// Value tokens per invocation loaded together (each token part holds a multiple of 16 tokens).
const VALUE_BATCH = 16u;

struct KvBatch { numTokens: u32, startPos: u32, numSplits: u32, firstRow: u32, residualStart: u32, residualLen: u32, flushBlocks: u32, pad: u32 }

@group(0) @binding(0) var<storage, read> qkv: array<f32>;
@group(0) @binding(1) var<storage, read> keyBlocks: array<vec4<u32>>;
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
// Codes of the staged channels: [block][word w of the channel][channel / 4] vec4s of 4 channels.
var<workgroup> stageCodes: array<vec4<u32>, STAGE_CODE_VEC4S>;
// (scale, min) of the staged channels: [block][channel / 2] as (s_c, m_c, s_c+1, m_c+1).
var<workgroup> stageScales: array<vec4<f32>, STAGE_SCALE_VEC4S>;
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
  let keyBlockWords = keyCodeWords + HEAD_DIM;            // a multiple of 4 (HEAD_DIM is a multiple of 8)
  let valueMask = (1u << VALUE_BITS) - 1u;
  let stageVec4s = STAGE_CHANNELS / 4u;                    // per staged (block, word) row
  let codeVec4sPerBlock = stageVec4s * keyWordsPerChannel;

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

    // Scores of token lid for every head of the group.
    // Initialised explicitly: SwiftShader kept the previous tile's sums in a bare `var` here.
    var score = array<vec4<f32>, 2>(vec4<f32>(0.0), vec4<f32>(0.0));
    let token = tileStart + lid;
    if (lid < tileLen && token >= blockTokens) {
      let slot = (kvBatch.residualStart + token - blockTokens) % RING;
      let row = (kvHead * RING + slot) * (HEAD_DIM / 8u);
      let isNew = token == numTokens - 1u;
      for (var w = 0u; w < HEAD_DIM / 8u; w++) {
        var kw: vec4<u32>;
        if (isNew) { kw = newKeyWords(kvHead, w); } else { kw = residualKeys[row + w]; }
        for (var e = 0u; e < 4u; e++) {
          let k = unpack2x16float(kw[e]);
          let c = 8u * w + 2u * e;
          for (var q = 0u; q < QUADS; q++) { score[q] += query[c * QUADS + q] * k.x + query[(c + 1u) * QUADS + q] * k.y; }
        }
      }
    }

    // The tile's blocks, STAGE_CHANNELS channels at a time; each invocation issues its loads of
    // codes and of scales before storing either.
    let j = lid % GROUP;
    let tokenWordRow = ((lid / GROUP) * keyWordsPerChannel + (j * KEY_BITS) / 32u) * stageVec4s;
    let tokenShift = vec4<u32>((j * KEY_BITS) % 32u);
    let codeCount = tileBlocks * codeVec4sPerBlock;
    let scaleCount = tileBlocks * stageVec4s;
    for (var c0 = 0u; c0 < HEAD_DIM && tileBlocks > 0u; c0 += STAGE_CHANNELS) {
      if (c0 > 0u) { workgroupBarrier(); }
      for (var v = lid; v < max(codeCount, scaleCount); v += TILE) {
        let bc = v / codeVec4sPerBlock;
        let o = (v % codeVec4sPerBlock) * 4u;   // word of the slab: channel c0 + o / KW, word o % KW
        let bs = v / stageVec4s;
        let c4 = v % stageVec4s;
        var codes = vec4<u32>(0u);
        var scales = vec4<u32>(0u);
        if (v < codeCount) { codes = keyBlocks[(tileBlockIds[bc] * keyBlockWords + c0 * keyWordsPerChannel + o) / 4u]; }
        if (v < scaleCount) { scales = keyBlocks[(tileBlockIds[bs] * keyBlockWords + keyCodeWords + c0) / 4u + c4]; }
        if (v < codeCount) {
          for (var e = 0u; e < 4u; e++) {
            let c = (o + e) / keyWordsPerChannel;
            let w = (o + e) % keyWordsPerChannel;
            stageCodes[(bc * keyWordsPerChannel + w) * stageVec4s + c / 4u][c % 4u] = codes[e];
          }
        }
        if (v < scaleCount) {
          stageScales[(bs * stageVec4s + c4) * 2u] = vec4<f32>(unpack2x16float(scales.x), unpack2x16float(scales.y));
          stageScales[(bs * stageVec4s + c4) * 2u + 1u] = vec4<f32>(unpack2x16float(scales.z), unpack2x16float(scales.w));
        }
      }
      workgroupBarrier();
      if (lid < tileBlocks * GROUP) {
        let scaleRow = (lid / GROUP) * stageVec4s * 2u;
        for (var c4 = 0u; c4 < stageVec4s; c4++) {
          let codes = codesToF32(stageCodes[tokenWordRow + c4], tokenShift, keyMask);
          let sm01 = stageScales[scaleRow + 2u * c4];
          let sm23 = stageScales[scaleRow + 2u * c4 + 1u];
          let k = codes * vec4<f32>(sm01.x, sm01.z, sm23.x, sm23.z) + vec4<f32>(sm01.y, sm01.w, sm23.y, sm23.w);
          let c = c0 + 4u * c4;
          for (var q = 0u; q < QUADS; q++) {
            score[q] += query[c * QUADS + q] * k.x + query[(c + 1u) * QUADS + q] * k.y
              + query[(c + 2u) * QUADS + q] * k.z + query[(c + 3u) * QUADS + q] * k.w;
          }
        }
      }
    }
    if (lid >= tileLen) {
      score[0] = vec4<f32>(NEG_BIG);
      score[1] = vec4<f32>(NEG_BIG);
    }
    for (var q = 0u; q < QUADS; q++) { exchange[q * TILE + lid] = score[q]; }
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
    for (var q = 0u; q < QUADS; q++) { exchange[q * TILE + lid] = exp(score[q] - runMax[q]); }
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
