// Decode attention (T = 1) over one layer's KIVI cache (layouts in src/engine/kv/layout.ts): one
// workgroup per (split, KV head) serves every query head of the KV head's GQA group, so each code
// word is read once per step. Prefill chunks (T > 1) use attention_kivi.wgsl. Writes the partials
// attention_reduce.wgsl combines.
//   qkv            [1, (NUM_HEADS + 2 * NUM_KV_HEADS) * HEAD_DIM] f32: queries are the first NUM_HEADS heads
//   keyBlocks      [poolBlocks, KEY_CODE_WORDS + HEAD_DIM] u32: channel-major codes, then (scale, min) per channel
//   valueBlocks    [poolBlocks, GROUP * VW + GROUP * NG] u32: token-major codes, then (scale, min) per token and group
//   blockTable     [NUM_KV_HEADS * MAX_BLOCKS + NUM_KV_HEADS] u32: pool ids, then each head's block count
//   residualKeys   [NUM_KV_HEADS, RING, HEAD_DIM / 8] vec4<u32> (f16 pairs), read a row at a time
//   residualValues [NUM_KV_HEADS, RING, HEAD_DIM / 4] vec2<u32> (f16 pairs: 4 channels per entry)
//                  residual token r in slot (residualStart + r) % RING
//   partialAcc     [1, NUM_HEADS, numSplits, HEAD_DIM] f32, partialMl [1, NUM_HEADS, numSplits, 2] f32:
//                  unnormalised sum_t p_t v_t and (m, l) per split (empty split: m = -3e38, l = 0, acc = 0)
//   kvBatch        uniform KvBatch: the new token is residual token residualLen (already appended)
// Query head h reads KV head h / GQA. Scores are q.k / sqrt(HEAD_DIM).
//
// Work: a KV head's kept tokens (its blocks, then residualLen + 1 residual tokens) form tiles of
// TILE = 256 tokens; split s takes ceil(tiles / numSplits) consecutive tiles. Per tile, 256 invocations:
//   scores  invocation t owns token t: k_c = code_c s_c + m_c (or the f16 residual key) per channel,
//           dotted with the GQA queries held in workgroup memory as vec4s of 4 heads (QUADS of them),
//           written to scores[buffer][head][t]; a barrier;
//   max     invocations (head, part) take the max of 16 scores each into partMax; a barrier. Every
//           invocation then reads its heads' 16 partial maxima (the same numbers everywhere), so the
//           running max m of a head is the same in every invocation, with no further exchange;
//   values  invocation (slice i of 4 channels, quad q, token part tp) sums, over tokens tp, tp + TP, ..,
//           p_t (code_tc s_tg + m_tg) into acc[channel] as a vec4 over the quad's heads, with
//           p_t = exp(score - m) read from the scores; l likewise.
// With GQA <= 4 scores is double-buffered, so a tile costs two barriers: the next tile's scores go to
// the other buffer, and partMax is rewritten only after the next tile's first barrier (three above
// GQA 4, with one buffer).
// At the end the token parts' acc and l are summed through workgroup memory, one channel of the
// slice per round (two alternating buffers, one barrier per round).
// Limits: GQA <= 8, HEAD_DIM <= 128 and a multiple of 8, GROUP in {32, 64, 128} dividing HEAD_DIM,
// bits 2/4/8. Grid: (numSplits, NUM_KV_HEADS).
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
// Score buffers [GQA, TILE]: two up to GQA 4, one above (keeps workgroup memory within 16 KiB); at
// the end two reduction buffers of 4 * TILE (one vec4 per invocation).
override SCORE_BUFFERS: u32 = select(1u, 2u, GQA <= 4u);
override SHARED_WORDS: u32 = max(SCORE_BUFFERS * GQA * TILE, 8u * TILE);

const TILE = 256u;
const NEG_BIG = -3.0e38;
// Score parts per head in the tile max, TILE / MAX_PARTS tokens each.
const MAX_PARTS = 16u;

struct KvBatch { numTokens: u32, startPos: u32, numSplits: u32, firstRow: u32, residualStart: u32, residualLen: u32, flushBlocks: u32, pad: u32 }

@group(0) @binding(0) var<storage, read> qkv: array<f32>;
@group(0) @binding(1) var<storage, read> keyBlocks: array<u32>;
@group(0) @binding(2) var<storage, read> valueBlocks: array<u32>;
@group(0) @binding(3) var<storage, read> blockTable: array<u32>;
@group(0) @binding(4) var<storage, read> residualKeys: array<vec4<u32>>;
@group(0) @binding(5) var<storage, read> residualValues: array<vec2<u32>>;
@group(0) @binding(6) var<storage, read_write> partialAcc: array<f32>;
@group(0) @binding(7) var<storage, read_write> partialMl: array<f32>;
@group(0) @binding(8) var<uniform> kvBatch: KvBatch;

// q / sqrt(HEAD_DIM) at [c * QUADS + quad], heads quad * 4 .. quad * 4 + 3 (0 past GQA).
var<workgroup> query: array<vec4<f32>, QUERY_VEC4S>;
var<workgroup> exchange: array<f32, SHARED_WORDS>;
var<workgroup> partMax: array<f32, 128>;       // [GQA, MAX_PARTS]
var<workgroup> lParts: array<vec4<f32>, 32>;   // [TP, QUADS] the token parts' l (TP * QUADS = 256 / slices)
var<workgroup> quadMax: array<vec4<f32>, 2>;   // [QUADS] the running max m

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let split = wid.x;
  let kvHead = wid.y;
  let numSplits = kvBatch.numSplits;
  let firstHead = kvHead * GQA;

  let keyWordsPerChannel = GROUP * KEY_BITS / 32u;
  let keyCodeWords = HEAD_DIM * keyWordsPerChannel;
  let keyMask = (1u << KEY_BITS) - 1u;
  let keyBlockWords = keyCodeWords + HEAD_DIM;
  let valueWordsPerToken = HEAD_DIM * VALUE_BITS / 32u;   // VW
  let groupsPerToken = HEAD_DIM / GROUP;                  // NG
  let valueBlockWords = GROUP * valueWordsPerToken + GROUP * groupsPerToken;
  let valueMask = (1u << VALUE_BITS) - 1u;

  // Value roles: slice i (channels 4i .. 4i + 3), quad, token part tp of TP.
  let slices = HEAD_DIM / 4u;
  let tokenParts = TILE / (slices * QUADS);                // TP
  let i = lid % slices;
  let quad = (lid / slices) % QUADS;
  let tp = lid / (slices * QUADS);

  let numBlocks = blockTable[NUM_KV_HEADS * MAX_BLOCKS + kvHead];
  let blockTokens = numBlocks * GROUP;
  let numTokens = blockTokens + kvBatch.residualLen + 1u;
  let numTiles = (numTokens + TILE - 1u) / TILE;
  let tilesPerSplit = (numTiles + numSplits - 1u) / numSplits;
  let begin = min(split * tilesPerSplit * TILE, numTokens);
  let end = min(begin + tilesPerSplit * TILE, numTokens);

  let qStride = HEAD_DIM * QUADS * 4u;
  for (var w = lid; w < qStride; w += TILE) {
    let c = w / (QUADS * 4u);
    let h = w % (QUADS * 4u);
    var q = 0.0;
    if (h < GQA) { q = qkv[(firstHead + h) * HEAD_DIM + c] * inverseSqrt(f32(HEAD_DIM)); }
    query[c * QUADS + h / 4u][h % 4u] = q;
  }
  workgroupBarrier();

  var m = vec4<f32>(NEG_BIG);
  var l = vec4<f32>(0.0);
  var acc: array<vec4<f32>, 4>;      // channel 4i + k of the quad's 4 heads
  var buffer = 0u;

  for (var tileStart = begin; tileStart < end; tileStart += TILE) {
    let tileLen = min(TILE, end - tileStart);
    let scoreBase = buffer * GQA * TILE;

    // Scores of token lid for every head of the group.
    // Initialised explicitly: SwiftShader kept the previous tile's sums in a bare `var` here.
    var score = array<vec4<f32>, 2>(vec4<f32>(0.0), vec4<f32>(0.0));
    let token = tileStart + lid;
    if (lid < tileLen) {
      if (token < blockTokens) {
        let block = blockTable[kvHead * MAX_BLOCKS + token / GROUP];
        let j = token % GROUP;
        let keyBase = block * keyBlockWords;
        let codeWord = keyBase + (j * KEY_BITS) / 32u;
        let shift = (j * KEY_BITS) % 32u;
        for (var c = 0u; c < HEAD_DIM; c++) {
          let scaleMin = unpack2x16float(keyBlocks[keyBase + keyCodeWords + c]);
          let k = f32((keyBlocks[codeWord + c * keyWordsPerChannel] >> shift) & keyMask) * scaleMin.x + scaleMin.y;
          for (var q = 0u; q < QUADS; q++) { score[q] += query[c * QUADS + q] * k; }
        }
      } else {
        let slot = (kvBatch.residualStart + token - blockTokens) % RING;
        let row = (kvHead * RING + slot) * (HEAD_DIM / 8u);
        for (var w = 0u; w < HEAD_DIM / 8u; w++) {
          let words = residualKeys[row + w];
          for (var e = 0u; e < 4u; e++) {
            let k = unpack2x16float(words[e]);
            let c = 8u * w + 2u * e;
            for (var q = 0u; q < QUADS; q++) { score[q] += query[c * QUADS + q] * k.x + query[(c + 1u) * QUADS + q] * k.y; }
          }
        }
      }
    } else {
      score[0] = vec4<f32>(NEG_BIG);
      score[1] = vec4<f32>(NEG_BIG);
    }
    for (var h = 0u; h < GQA; h++) { exchange[scoreBase + h * TILE + lid] = score[h / 4u][h % 4u]; }
    workgroupBarrier();

    if (lid < GQA * MAX_PARTS) {
      let h = lid / MAX_PARTS;
      let part = lid % MAX_PARTS;
      var partial = NEG_BIG;
      for (var t = part; t < TILE; t += MAX_PARTS) { partial = max(partial, exchange[scoreBase + h * TILE + t]); }
      partMax[lid] = partial;
    }
    workgroupBarrier();

    if (tp < tokenParts) {
      // The tile's max of each head of the quad, then rescale what the earlier tiles summed.
      var tileMax = vec4<f32>(NEG_BIG);
      for (var hh = 0u; hh < 4u; hh++) {
        let h = quad * 4u + hh;
        if (h < GQA) {
          for (var part = 0u; part < MAX_PARTS; part++) { tileMax[hh] = max(tileMax[hh], partMax[h * MAX_PARTS + part]); }
        }
      }
      let newM = max(m, tileMax);
      let correction = exp(m - newM);
      m = newM;
      l *= correction;
      for (var k = 0u; k < 4u; k++) { acc[k] *= correction; }

      for (var t = tp; t < tileLen; t += tokenParts) {
        var prob = vec4<f32>(0.0);
        for (var hh = 0u; hh < 4u; hh++) {
          let h = quad * 4u + hh;
          if (h < GQA) { prob[hh] = exp(exchange[scoreBase + h * TILE + t] - m[hh]); }
        }
        l += prob;
        let tok = tileStart + t;
        if (tok < blockTokens) {
          let block = blockTable[kvHead * MAX_BLOCKS + tok / GROUP];
          let j = tok % GROUP;
          let valueBase = block * valueBlockWords;
          let codes = valueBlocks[valueBase + j * valueWordsPerToken + (i * 4u * VALUE_BITS) / 32u];
          let shift = (i * 4u * VALUE_BITS) % 32u;
          let scaleMin = unpack2x16float(valueBlocks[valueBase + GROUP * valueWordsPerToken + j * groupsPerToken + (4u * i) / GROUP]);
          for (var k = 0u; k < 4u; k++) {
            let v = f32((codes >> (shift + k * VALUE_BITS)) & valueMask) * scaleMin.x + scaleMin.y;
            acc[k] += prob * v;
          }
        } else {
          let slot = (kvBatch.residualStart + tok - blockTokens) % RING;
          let words = residualValues[(kvHead * RING + slot) * slices + i];
          let v01 = unpack2x16float(words.x);
          let v23 = unpack2x16float(words.y);
          acc[0] += prob * v01.x;
          acc[1] += prob * v01.y;
          acc[2] += prob * v23.x;
          acc[3] += prob * v23.y;
        }
      }
    }
    // With one score buffer the next tile's scores must wait for every invocation's reads.
    if (SCORE_BUFFERS == 1u) { workgroupBarrier(); }
    buffer = (buffer + 1u) % SCORE_BUFFERS;
  }

  // Sum the token parts. Round k reduces channel 4i + k of every head: reduction buffer k % 2 holds
  // one vec4 per invocation at lid, and invocation o = (quad, i, hh) adds up the TP parts of its
  // output, which sit at tp * (4 * slices * QUADS) + o.
  let slotBase = firstHead * numSplits + split;
  let outputs = 4u * slices * QUADS;
  let oQuad = lid / (4u * slices);
  let oSlice = (lid / 4u) % slices;
  let oHead = oQuad * 4u + lid % 4u;
  workgroupBarrier();
  if (i == 0u && tp < tokenParts) { lParts[tp * QUADS + quad] = l; }
  if (i == 0u && tp == 0u) { quadMax[quad] = m; }
  for (var k = 0u; k < 4u; k++) {
    let base = (k % 2u) * 4u * TILE;
    for (var hh = 0u; hh < 4u; hh++) { exchange[base + 4u * lid + hh] = acc[k][hh]; }
    workgroupBarrier();
    if (lid < outputs && oHead < GQA) {
      var o = 0.0;
      for (var part = 0u; part < tokenParts; part++) { o += exchange[base + part * outputs + lid]; }
      partialAcc[(slotBase + oHead * numSplits) * HEAD_DIM + 4u * oSlice + k] = o;
    }
  }
  if (lid < GQA) {
    var total = 0.0;
    for (var part = 0u; part < tokenParts; part++) { total += lParts[part * QUADS + lid / 4u][lid % 4u]; }
    let slot = slotBase + lid * numSplits;
    partialMl[2u * slot] = quadMax[lid / 4u][lid % 4u];
    partialMl[2u * slot + 1u] = total;
  }
}
