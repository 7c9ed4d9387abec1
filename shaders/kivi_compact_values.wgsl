// Eviction step 4 on the KIVI cache, values (src/engine/kv/evictionLayout.ts): re-forms one layer's
// value blocks from the kept tokens, bit-identical to reference/compaction.ts compactKivi. Runs with
// kivi_compact_keys.wgsl on the same sourceOf, tables and uniform (which also moves the positions).
// New block i's token j is old kept token src = sourceOf[h * MAX_SEQ + i * GROUP + j], found in old
// block src / GROUP (via blockTable) at token src % GROUP. Its values are dequantized (code * s + m,
// f32), rounded to f16 (clamped to +-65504 so the rounding is defined), the same kind of values the
// flush quantized, and quantized again per token in groups of GROUP channels exactly as
// kivi_quant_values.wgsl does (src/engine/kv/layout.ts).
//   sourceOf      [NUM_KV_HEADS, MAX_SEQ] u32: old kept index of compacted token i at h * MAX_SEQ + i,
//                 increasing in i (kv_select)
//   blockTable    [NUM_KV_HEADS * MAX_BLOCKS (+ NUM_KV_HEADS)] u32: the old pool ids (headBlocks not read)
//   newBlockTable [NUM_KV_HEADS, MAX_BLOCKS] u32: scratch id of new block i of head h at
//                 h * MAX_BLOCKS + i, the same ids as the key blocks (kivi_compact_keys.wgsl)
//   valueBlocks   [poolBlocks, GROUP * VW + GROUP * (HEAD_DIM / GROUP)] u32, VW = HEAD_DIM * VALUE_BITS / 32:
//                 the layer's pool, as kivi_quant_values.wgsl; only read
//   scratchValueBlocks [scratch blocks, same words per block] u32: new blocks written (the scratch
//                 pool shared by the layers, copied back over the layer's pool by src/engine/kv/kivi.ts)
//   compaction    uniform Compaction { newKept, newBlocks, pad, pad } (16 bytes): newBlocks = blocks
//                 every head holds after compaction (newKept is not read here)
// Every word of a new block is written (never read-modify-write); nothing else is.
// Grid: (ceil(HEAD_DIM / 64), newBlocks, NUM_KV_HEADS); a block has GROUP * (HEAD_DIM / GROUP) =
// HEAD_DIM groups, one invocation each (n = j * (HEAD_DIM / GROUP) + g): it builds the group's
// GROUP * VALUE_BITS / 32 code words (whole words, as GROUP * VALUE_BITS >= 64) and its (scale, min) word.
override HEAD_DIM: u32;
override NUM_KV_HEADS: u32;
override GROUP: u32;
override VALUE_BITS: u32;
override MAX_SEQ: u32;
override MAX_BLOCKS: u32;

struct Compaction { newKept: u32, newBlocks: u32, pad0: u32, pad1: u32 }

@group(0) @binding(0) var<storage, read> sourceOf: array<u32>;
@group(0) @binding(1) var<storage, read> blockTable: array<u32>;
@group(0) @binding(2) var<storage, read> newBlockTable: array<u32>;
@group(0) @binding(3) var<storage, read> valueBlocks: array<u32>;
@group(0) @binding(4) var<storage, read_write> scratchValueBlocks: array<u32>;
@group(0) @binding(5) var<uniform> compaction: Compaction;

// orderKey, fromOrderKey, halfValue, inverseMaxCode and quantize come from kivi_quantize.wgsl.

// The f16 bits of code k of an old code word, dequantized with the old group's (scale, min). code * s
// is exact in f32 (<= 8 + 11 significant bits), so a fused multiply-add rounds the same.
fn oldValueHalf(word: u32, k: u32, scaleMin: vec2<f32>) -> u32 {
  let code = (word >> (k * VALUE_BITS)) & ((1u << VALUE_BITS) - 1u);
  return pack2x16float(vec2<f32>(clamp(f32(code) * scaleMin.x + scaleMin.y, -65504.0, 65504.0), 0.0)) & 0xffffu;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n = gid.x;
  let i = gid.y;
  let h = gid.z;
  if (n >= HEAD_DIM || i >= compaction.newBlocks || h >= NUM_KV_HEADS) { return; }
  let groupsPerToken = HEAD_DIM / GROUP;
  let j = n / groupsPerToken;
  let g = n % groupsPerToken;
  let codesPerWord = 32u / VALUE_BITS;
  let wordsPerGroup = GROUP / codesPerWord;
  let wordsPerToken = HEAD_DIM / codesPerWord;
  let blockWords = GROUP * wordsPerToken + HEAD_DIM;

  let src = sourceOf[h * MAX_SEQ + i * GROUP + j];
  let oldBase = blockTable[h * MAX_BLOCKS + src / GROUP] * blockWords;
  let t = src % GROUP;
  let oldCodes = oldBase + t * wordsPerToken + g * wordsPerGroup;
  let oldScaleMin = unpack2x16float(valueBlocks[oldBase + GROUP * wordsPerToken + t * groupsPerToken + g]);

  var lo = 0xffffu;
  var hi = 0u;
  for (var w = 0u; w < wordsPerGroup; w++) {
    let word = valueBlocks[oldCodes + w];
    for (var k = 0u; k < codesPerWord; k++) {
      let key = orderKey(oldValueHalf(word, k, oldScaleMin));
      lo = min(lo, key);
      hi = max(hi, key);
    }
  }
  let minBits = fromOrderKey(lo);
  let m = halfValue(minBits);
  let scaleBits = pack2x16float(vec2<f32>((halfValue(fromOrderKey(hi)) - m) * inverseMaxCode(VALUE_BITS), 0.0)) & 0xffffu;
  let s = halfValue(scaleBits);

  let maxCode = (1u << VALUE_BITS) - 1u;
  let base = newBlockTable[h * MAX_BLOCKS + i] * blockWords;
  for (var w = 0u; w < wordsPerGroup; w++) {
    let old = valueBlocks[oldCodes + w];
    var word = 0u;
    for (var k = 0u; k < codesPerWord; k++) {
      word |= quantize(halfValue(oldValueHalf(old, k, oldScaleMin)) - m, s, maxCode) << (k * VALUE_BITS);
    }
    scratchValueBlocks[base + j * wordsPerToken + g * wordsPerGroup + w] = word;
  }
  scratchValueBlocks[base + GROUP * wordsPerToken + n] = scaleBits | (minBits << 16u);
}
