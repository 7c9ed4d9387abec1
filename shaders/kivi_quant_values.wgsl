// Flush, values: quantizes the oldest flushBlocks * GROUP tokens of one layer's KIVI residual into
// new value blocks, one group per token over GROUP consecutive channels (DESIGN §5.2,
// src/engine/kv/layout.ts), bit-identical to reference/kivi.ts packValueBlock. Runs with
// kivi_quant_keys on the same kvBatch; block ids are the ones the key blocks get.
//   residualValues [NUM_KV_HEADS, RING, HEAD_DIM / 2] u32: f16 pairs; residual token r of head h sits
//                  in ring slot (residualStart + r) % RING
//   blockTable     [NUM_KV_HEADS * MAX_BLOCKS + NUM_KV_HEADS] u32: each head's pool block ids, then
//                  headBlocks[h] = blockTable[NUM_KV_HEADS * MAX_BLOCKS + h], the blocks head h held
//                  before this flush; new block i of head h goes to pool block
//                  blockTable[h * MAX_BLOCKS + headBlocks[h] + i] (entered by the CPU beforehand)
//   valueBlocks    [poolBlocks, GROUP * VW + GROUP * (HEAD_DIM / GROUP)] u32, VW = HEAD_DIM * VALUE_BITS / 32:
//                  token j's codes in words j * VW .. (channel c at bit (c * VALUE_BITS) % 32 of word
//                  j * VW + c * VALUE_BITS / 32), then pack2x16float(scale, min) of token j, channel
//                  group g at GROUP * VW + j * (HEAD_DIM / GROUP) + g
//   kvBatch        uniform: residualStart, flushBlocks; new block i holds residual tokens i * GROUP ..
// Every word of a new block is written (never read-modify-write); nothing else is.
// Grid: (ceil(HEAD_DIM / 64), flushBlocks, NUM_KV_HEADS); a block has GROUP * (HEAD_DIM / GROUP) =
// HEAD_DIM groups, one invocation each: it builds the group's GROUP * VALUE_BITS / 32 code words
// (whole words, as GROUP * VALUE_BITS >= 64) and its (scale, min) word.
override HEAD_DIM: u32;
override NUM_KV_HEADS: u32;
override GROUP: u32;
override VALUE_BITS: u32;
override RING: u32;
override MAX_BLOCKS: u32;

struct KvBatch {
  numTokens: u32, startPos: u32, numSplits: u32, firstRow: u32,
  residualStart: u32, residualLen: u32, flushBlocks: u32, pad: u32,
}

@group(0) @binding(0) var<storage, read> residualValues: array<u32>;
@group(0) @binding(1) var<storage, read> blockTable: array<u32>;
@group(0) @binding(2) var<storage, read_write> valueBlocks: array<u32>;
@group(0) @binding(3) var<uniform> kvBatch: KvBatch;

// orderKey, fromOrderKey, halfValue, inverseMaxCode and quantize come from kivi_quantize.wgsl.

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n = gid.x;
  let i = gid.y;
  let h = gid.z;
  if (n >= HEAD_DIM || i >= kvBatch.flushBlocks || h >= NUM_KV_HEADS) { return; }
  let groupsPerToken = HEAD_DIM / GROUP;
  let j = n / groupsPerToken;
  let g = n % groupsPerToken;
  let block = blockTable[h * MAX_BLOCKS + blockTable[NUM_KV_HEADS * MAX_BLOCKS + h] + i];
  // Channels g * GROUP .. of token i * GROUP + j, as f16 pairs.
  let row = (h * RING + (kvBatch.residualStart + i * GROUP + j) % RING) * (HEAD_DIM / 2u) + g * GROUP / 2u;

  var lo = 0xffffu;
  var hi = 0u;
  for (var w = 0u; w < GROUP / 2u; w++) {
    let pair = residualValues[row + w];
    let a = orderKey(pair & 0xffffu);
    let b = orderKey(pair >> 16u);
    lo = min(lo, min(a, b));
    hi = max(hi, max(a, b));
  }
  let minBits = fromOrderKey(lo);
  let m = halfValue(minBits);
  let scaleBits = pack2x16float(vec2<f32>((halfValue(fromOrderKey(hi)) - m) * inverseMaxCode(VALUE_BITS), 0.0)) & 0xffffu;
  let s = halfValue(scaleBits);

  let maxCode = (1u << VALUE_BITS) - 1u;
  let codesPerWord = 32u / VALUE_BITS;
  let wordsPerGroup = GROUP / codesPerWord;
  let wordsPerToken = HEAD_DIM / codesPerWord;
  let base = block * (GROUP * wordsPerToken + HEAD_DIM);
  for (var w = 0u; w < wordsPerGroup; w++) {
    var word = 0u;
    for (var k = 0u; k < codesPerWord; k += 2u) {
      let pair = unpack2x16float(residualValues[row + (w * codesPerWord + k) / 2u]) - m;
      word |= (quantize(pair.x, s, maxCode) << (k * VALUE_BITS)) | (quantize(pair.y, s, maxCode) << ((k + 1u) * VALUE_BITS));
    }
    valueBlocks[base + j * wordsPerToken + g * wordsPerGroup + w] = word;
  }
  valueBlocks[base + GROUP * wordsPerToken + n] = scaleBits | (minBits << 16u);
}
