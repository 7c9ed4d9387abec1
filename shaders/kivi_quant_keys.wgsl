// Flush, keys: quantizes the oldest flushBlocks * GROUP tokens of one layer's KIVI residual into new
// key blocks, one group per channel over a block's GROUP tokens (DESIGN §5.2, src/engine/kv/layout.ts),
// bit-identical to reference/kivi.ts packKeyBlock. Runs after attention; the CPU then advances
// residualStart and headBlocks.
//   residualKeys [NUM_KV_HEADS, RING, HEAD_DIM / 2] u32: f16 pairs; residual token r of head h sits in
//                ring slot (residualStart + r) % RING
//   blockTable   [NUM_KV_HEADS * MAX_BLOCKS + NUM_KV_HEADS] u32: each head's pool block ids, then
//                headBlocks[h] = blockTable[NUM_KV_HEADS * MAX_BLOCKS + h], the blocks head h held before
//                this flush; new block i of head h goes to pool block blockTable[h * MAX_BLOCKS +
//                headBlocks[h] + i] (entered by the CPU beforehand)
//   keyBlocks    [poolBlocks, HEAD_DIM * KW + HEAD_DIM] u32, KW = GROUP * KEY_BITS / 32: channel c's
//                codes in words c * KW .. c * KW + KW - 1 (token j at bit (j * KEY_BITS) % 32 of word
//                c * KW + j * KEY_BITS / 32), then one pack2x16float(scale, min) word per channel
//   kvBatch      uniform: residualStart, flushBlocks; new block i holds residual tokens i * GROUP ..
// Every word of a new block is written (never read-modify-write); nothing else is.
// Grid: (ceil(HEAD_DIM / 64), flushBlocks, NUM_KV_HEADS); one invocation per channel of a new block
// builds that channel's KW code words and its (scale, min) word, so no two invocations share a word.
override HEAD_DIM: u32;
override NUM_KV_HEADS: u32;
override GROUP: u32;
override KEY_BITS: u32;
override RING: u32;
override MAX_BLOCKS: u32;

struct KvBatch {
  numTokens: u32, startPos: u32, numSplits: u32, firstRow: u32,
  residualStart: u32, residualLen: u32, flushBlocks: u32, pad: u32,
}

@group(0) @binding(0) var<storage, read> residualKeys: array<u32>;
@group(0) @binding(1) var<storage, read> blockTable: array<u32>;
@group(0) @binding(2) var<storage, read_write> keyBlocks: array<u32>;
@group(0) @binding(3) var<uniform> kvBatch: KvBatch;

// orderKey, fromOrderKey, halfValue, inverseMaxCode and quantize come from kivi_quantize.wgsl.

// The f16 bits of channel c of residual token r (counted from the ring's slot 0) of head h.
fn keyHalf(h: u32, r: u32, c: u32) -> u32 {
  let word = residualKeys[(h * RING + r % RING) * (HEAD_DIM / 2u) + c / 2u];
  return (word >> (16u * (c & 1u))) & 0xffffu;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  let i = gid.y;
  let h = gid.z;
  if (c >= HEAD_DIM || i >= kvBatch.flushBlocks || h >= NUM_KV_HEADS) { return; }
  let block = blockTable[h * MAX_BLOCKS + blockTable[NUM_KV_HEADS * MAX_BLOCKS + h] + i];
  let first = kvBatch.residualStart + i * GROUP;

  var lo = 0xffffu;
  var hi = 0u;
  for (var j = 0u; j < GROUP; j++) {
    let key = orderKey(keyHalf(h, first + j, c));
    lo = min(lo, key);
    hi = max(hi, key);
  }
  let minBits = fromOrderKey(lo);
  let m = halfValue(minBits);
  let scaleBits = pack2x16float(vec2<f32>((halfValue(fromOrderKey(hi)) - m) * inverseMaxCode(KEY_BITS), 0.0)) & 0xffffu;
  let s = halfValue(scaleBits);

  let maxCode = (1u << KEY_BITS) - 1u;
  let codesPerWord = 32u / KEY_BITS;
  let wordsPerChannel = GROUP / codesPerWord;
  let base = block * (HEAD_DIM * wordsPerChannel + HEAD_DIM);
  for (var w = 0u; w < wordsPerChannel; w++) {
    var word = 0u;
    for (var k = 0u; k < codesPerWord; k++) {
      let d = halfValue(keyHalf(h, first + w * codesPerWord + k, c)) - m;
      word |= quantize(d, s, maxCode) << (k * KEY_BITS);
    }
    keyBlocks[base + c * wordsPerChannel + w] = word;
  }
  keyBlocks[base + HEAD_DIM * wordsPerChannel + c] = scaleBits | (minBits << 16u);
}
