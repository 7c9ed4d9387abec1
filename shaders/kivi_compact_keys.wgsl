// Eviction step 4 on the KIVI cache, keys (src/engine/kv/evictionLayout.ts): re-forms one layer's
// key blocks from the kept tokens, bit-identical to reference/compaction.ts compactKivi. Compacted
// token i of head h is old kept token src = sourceOf[h * MAX_SEQ + i]. For the block tokens
// i < newBlocks * GROUP, src < (old blocks) * GROUP: old block src / GROUP (via blockTable), token
// src % GROUP. Those keys are dequantized (code * s + m, f32), rounded to f16 (clamped to +-65504 so
// the rounding is defined), which makes them the same kind of values the flush quantized, and
// quantized again per channel over each new block's GROUP tokens exactly as kivi_quant_keys.wgsl
// does (src/engine/kv/layout.ts). The residual is the protected recent window: never evicted, its
// tokens keep their ring slots; only their kept index (and so their positions' slots) moves.
// Old blocks are read from the layer's pool and new blocks written into a scratch pool shared by the
// layers, so any id may be reused: the orchestrator (src/engine/kv/kivi.ts) copies the scratch back
// over the layer's pool once this pass is done.
//   sourceOf        [NUM_KV_HEADS, MAX_SEQ] u32: old kept index of compacted token i at h * MAX_SEQ + i,
//                   increasing in i, for i < newKept (kv_select)
//   blockTable      [NUM_KV_HEADS * MAX_BLOCKS (+ NUM_KV_HEADS)] u32: the old pool ids (layout.ts's
//                   blockTable; its headBlocks tail is not read)
//   newBlockTable   [NUM_KV_HEADS, MAX_BLOCKS] u32: scratch id of new block i of head h at
//                   h * MAX_BLOCKS + i, entered by the CPU, each id once; after the copy back the
//                   CPU makes newBlockTable the blockTable and sets headBlocks = newBlocks
//   keyBlocks       [poolBlocks, HEAD_DIM * KW + HEAD_DIM] u32, KW = GROUP * KEY_BITS / 32: the layer's
//                   pool, as kivi_quant_keys.wgsl; only read
//   scratchKeyBlocks [scratch blocks, HEAD_DIM * KW + HEAD_DIM] u32: new blocks written, same layout
//   positions       [NUM_KV_HEADS, MAX_SEQ] u32: original position of kept token j at h * MAX_SEQ + j
//   scratchPositions [NUM_KV_HEADS, MAX_SEQ] u32: positions of compacted tokens i < newKept (block
//                   tokens and residual alike), copied back to positions by the orchestrator with
//                   copyBufferToBuffer, as kv_compact_f16.wgsl's; nothing else is written
//   compaction      uniform Compaction { newKept, newBlocks, pad, pad } (16 bytes): newBlocks = blocks
//                   every head holds after compaction, newKept = newBlocks * GROUP + residual tokens
// Every word of a new block is written (never read-modify-write).
// Grid: (ceil(HEAD_DIM / 64), newBlocks + 1, NUM_KV_HEADS). Invocation (c, i < newBlocks) builds
// channel c of new block i (its KW code words and its (scale, min) word: no two invocations share a
// word) and, for c < GROUP, moves the position of compacted token i * GROUP + c; row newBlocks moves
// the residual's positions, tokens newBlocks * GROUP + c + k * HEAD_DIM.
override HEAD_DIM: u32;
override NUM_KV_HEADS: u32;
override GROUP: u32;
override KEY_BITS: u32;
override MAX_SEQ: u32;
override MAX_BLOCKS: u32;

struct Compaction { newKept: u32, newBlocks: u32, pad0: u32, pad1: u32 }

@group(0) @binding(0) var<storage, read> sourceOf: array<u32>;
@group(0) @binding(1) var<storage, read> blockTable: array<u32>;
@group(0) @binding(2) var<storage, read> newBlockTable: array<u32>;
@group(0) @binding(3) var<storage, read> keyBlocks: array<u32>;
@group(0) @binding(4) var<storage, read_write> scratchKeyBlocks: array<u32>;
@group(0) @binding(5) var<storage, read> positions: array<u32>;
@group(0) @binding(6) var<storage, read_write> scratchPositions: array<u32>;
@group(0) @binding(7) var<uniform> compaction: Compaction;

// orderKey, fromOrderKey, halfValue, inverseMaxCode and quantize come from kivi_quantize.wgsl.

// The f16 bits of channel c of head h's old kept token src, dequantized from its old block. code * s
// is exact in f32 (<= 8 + 11 significant bits), so a fused multiply-add rounds the same.
fn oldKeyHalf(h: u32, src: u32, c: u32) -> u32 {
  let wordsPerChannel = GROUP * KEY_BITS / 32u;
  let base = blockTable[h * MAX_BLOCKS + src / GROUP] * (HEAD_DIM * wordsPerChannel + HEAD_DIM);
  let t = src % GROUP;
  let code = (keyBlocks[base + c * wordsPerChannel + t * KEY_BITS / 32u] >> ((t * KEY_BITS) % 32u)) & ((1u << KEY_BITS) - 1u);
  let scaleMin = unpack2x16float(keyBlocks[base + HEAD_DIM * wordsPerChannel + c]);
  return pack2x16float(vec2<f32>(clamp(f32(code) * scaleMin.x + scaleMin.y, -65504.0, 65504.0), 0.0)) & 0xffffu;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  let i = gid.y;
  let h = gid.z;
  if (c >= HEAD_DIM || i > compaction.newBlocks || h >= NUM_KV_HEADS) { return; }
  let row = h * MAX_SEQ;
  if (i == compaction.newBlocks) {
    for (var n = i * GROUP + c; n < compaction.newKept; n += HEAD_DIM) {
      scratchPositions[row + n] = positions[row + sourceOf[row + n]];
    }
    return;
  }
  let first = row + i * GROUP;
  if (c < GROUP) { scratchPositions[first + c] = positions[row + sourceOf[first + c]]; }

  var lo = 0xffffu;
  var hi = 0u;
  for (var j = 0u; j < GROUP; j++) {
    let key = orderKey(oldKeyHalf(h, sourceOf[first + j], c));
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
  let base = newBlockTable[h * MAX_BLOCKS + i] * (HEAD_DIM * wordsPerChannel + HEAD_DIM);
  for (var w = 0u; w < wordsPerChannel; w++) {
    var word = 0u;
    for (var k = 0u; k < codesPerWord; k++) {
      let d = halfValue(oldKeyHalf(h, sourceOf[first + w * codesPerWord + k], c)) - m;
      word |= quantize(d, s, maxCode) << (k * KEY_BITS);
    }
    scratchKeyBlocks[base + c * wordsPerChannel + w] = word;
  }
  scratchKeyBlocks[base + HEAD_DIM * wordsPerChannel + c] = scaleBits | (minBits << 16u);
}
