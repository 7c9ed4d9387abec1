// The KIVI cache of one layer on the GPU: every buffer's shape and packing, in one place. Kernels
// (shaders/kivi_*.wgsl), the CPU reference (reference/kivi.ts) and the accounting all follow this.
//
// Per layer, with KV heads, head dim D, group size G, key bits KB, value bits VB:
//
//   keyBlocks   [poolBlocks, KEY_BLOCK_WORDS] u32. A block holds G consecutive tokens of one KV head.
//               Codes are channel-major: channel c owns words c*KW .. c*KW+KW-1 (KW = G*KB/32), and
//               token j's code sits in word c*KW + (j*KB)/32 at bit (j*KB)%32. After the D*KW code
//               words come D words of pack2x16float(scale_c, min_c), one per channel.
//   valueBlocks [poolBlocks, VALUE_BLOCK_WORDS] u32, same block ids as keyBlocks. Codes are
//               token-major: token j owns words j*VW .. j*VW+VW-1 (VW = D*VB/32), channel c's code in
//               word j*VW + (c*VB)/32 at bit (c*VB)%32. After the G*VW code words come G*(D/G)
//               words of pack2x16float(scale, min): token j, channel group g at G*VW + j*(D/G) + g.
//   blockTable  [KV * maxBlocksPerHead + KV] u32: pool block id of each head's i-th block, oldest
//               first, at h * maxBlocksPerHead + i; then, at KV * maxBlocksPerHead + h, how many blocks
//               head h holds (equal for all heads until eviction). One buffer keeps kernels within
//               8 storage bindings.
//   residualKeys, residualValues [KV, RING, D/2] u32: the fp16 residual as a ring of RING slots
//               (f16 pairs, dims 2w and 2w+1 in word w). Token r of the residual (0 = oldest) of head h
//               is in slot (residualStart + r) % RING.
//
// Kept token order per head: all blocks (block i = kept tokens i*G .. i*G+G-1), then the residual.
//
// Quantization of a group x_1..x_G (f16 values), all arithmetic in f32:
//   m = min x, range = max x - m, s = f16(range * f32(1 / (2^b - 1))), m16 = m (already f16)
//   d_i = x_i - m16; code_i = clamp(round(d_i / s), 0, 2^b - 1) corrected exactly: the code q is the one
//   with (q - 0.5) * s <= d_i < (q + 0.5) * s (ties upward), so no division rounding can change it;
//   s == 0 gives all codes 0. Dequantized: code * s + m16.
// Keys are grouped per channel over a block's G tokens; values per token over G consecutive channels.
//
// Step order for a chunk of T new tokens (T = 1 in decode):
//   1. append: the T keys/values go into the residual ring at residual positions residualLen + t;
//   2. attention: query t sees every block and residual tokens 0 .. residualLen + t (causal);
//   3. flush: while the residual holds >= R + G tokens, its oldest G become a new block per head.
import type { KvSettings } from './settings';

export interface KiviShape {
  numKvHeads: number;
  headDim: number;
  groupSize: number;
  keyBits: number;
  valueBits: number;
  residualLength: number;
  /** Residual ring slots: R + G + prefill chunk, so a whole chunk fits before the flush. */
  ringSlots: number;
  /** Blocks each head may hold (capacity / G). */
  maxBlocksPerHead: number;
}

/** The quantization settings the layout depends on. */
export type KiviSettings = Pick<KvSettings, 'keyBits' | 'valueBits' | 'groupSize' | 'residualLength'>;

export function kiviShape(s: KiviSettings, numKvHeads: number, headDim: number, capacity: number, prefillChunk: number): KiviShape {
  return {
    numKvHeads,
    headDim,
    groupSize: s.groupSize,
    keyBits: s.keyBits,
    valueBits: s.valueBits,
    residualLength: s.residualLength,
    ringSlots: s.residualLength + s.groupSize + prefillChunk,
    maxBlocksPerHead: Math.ceil(capacity / s.groupSize),
  };
}

/** u32 words of one key block: codes, then one (scale, min) word per channel. */
export function keyBlockWords(k: KiviShape): number {
  return (k.headDim * k.groupSize * k.keyBits) / 32 + k.headDim;
}

/** u32 words of one value block: codes, then one (scale, min) word per token and channel group. */
export function valueBlockWords(k: KiviShape): number {
  return (k.groupSize * k.headDim * k.valueBits) / 32 + k.groupSize * (k.headDim / k.groupSize);
}

/** Bytes of one layer's buffers at full capacity. */
export function layerBytes(k: KiviShape): { keyBlocks: number; valueBlocks: number; residual: number; tables: number } {
  const poolBlocks = k.numKvHeads * k.maxBlocksPerHead;
  return {
    keyBlocks: poolBlocks * keyBlockWords(k) * 4,
    valueBlocks: poolBlocks * valueBlockWords(k) * 4,
    residual: 2 * k.numKvHeads * k.ringSlots * (k.headDim / 2) * 4,
    tables: (poolBlocks + k.numKvHeads) * 4,
  };
}
