// CPU reference of eviction step 4, compaction (src/engine/kv/evictionLayout.ts): the oracle of
// shaders/kv_compact_f16.wgsl and of kivi_compact_keys.wgsl + kivi_compact_values.wgsl.
// Compacted token i of KV head h is old kept token sourceOf[h * C + i] (C = capacity, the row length
// of positions and sourceOf), increasing in i. Both functions leave their inputs untouched and return
// the layer's buffers as they stand once the orchestrator has copied the scratch buffers back.
import { keyBlockWords, valueBlockWords } from '../kv/layout';
import { roundToHalf } from './f16';
import type { F16Cache } from './kernels';
import { packKeyBlock, packValueBlock, unpackKeyToken, unpackValueToken } from './kivi';
import type { KiviLayerCache } from './kiviCache';
import type { KeptTokens } from './kiviAttention';

/** Largest finite f16: a dequantized value beyond it (code * s + m overshoots the group's max by up
 *  to half a step) is clamped before rounding, on the GPU and here alike. */
const HALF_MAX = 65504;

export interface CompactedF16 {
  /** Per KV head [C, D] f16 values: slot i < newKept holds compacted token i, later slots 0. */
  cache: F16Cache;
  /** [KV, C] u32: original positions, compacted likewise. */
  positions: Uint32Array;
}

/** kv_compact_f16 (+ the copy back): keys, values and positions of old kept token sourceOf[h * C + i]
 *  move to slot i of head h, for i < newKept. `positions` is [KV, C]; `cache` holds C slots per head. */
export function compactF16(cache: F16Cache, positions: Uint32Array, sourceOf: Uint32Array, newKept: number): CompactedF16 {
  const numKvHeads = cache.keys.length;
  const capacity = positions.length / numKvHeads;
  const headDim = cache.keys[0].length / capacity;
  checkSourceOf(sourceOf, numKvHeads, capacity, newKept);
  const gather = (head: Float32Array, h: number) => {
    const out = new Float32Array(head.length);
    for (let i = 0; i < newKept; i++) {
      const src = sourceOf[h * capacity + i];
      out.set(head.subarray(src * headDim, (src + 1) * headDim), i * headDim);
    }
    return out;
  };
  return {
    cache: { keys: cache.keys.map(gather), values: cache.values.map(gather) },
    positions: compactPositions(positions, sourceOf, numKvHeads, newKept),
  };
}

/** One layer's KIVI cache after compaction: the whole pool (new blocks written at their ids, every
 *  other block as it was), the block table the orchestrator installs, the compacted positions, and
 *  the kept tokens for attention (new blocks dequantized, then the untouched residual). */
export interface CompactedKivi extends KeptTokens {
  keyBlocks: Uint32Array;
  valueBlocks: Uint32Array;
  /** [KV * maxBlocksPerHead + KV] u32: newBlockTable, then newBlocks for every head. */
  blockTable: Uint32Array;
  /** [KV, C] u32: positions of compacted tokens i < newKept, later slots 0. */
  positions: Uint32Array;
}

/** kivi_compact_keys + kivi_compact_values (+ the copy back of positions). The first newBlocks * G
 *  compacted tokens of each head come from old blocks: dequantized, rounded to f16 (clamped to the
 *  finite range) and quantized into new block i at pool id newBlockTable[h * maxBlocksPerHead + i]
 *  with packKeyBlock / packValueBlock; the residual (never evicted) follows them unchanged.
 *  sourceOf and positions are [KV, C]; newBlockTable is [KV, maxBlocksPerHead]. */
export function compactKivi(cache: KiviLayerCache, positions: Uint32Array, sourceOf: Uint32Array, newBlocks: number, newBlockTable: Uint32Array): CompactedKivi {
  const { shape } = cache;
  const { numKvHeads: KV, groupSize: G, maxBlocksPerHead } = shape;
  const capacity = positions.length / KV;
  const blockTokens = newBlocks * G;
  const newKept = blockTokens + cache.residualLen;
  checkSourceOf(sourceOf, KV, capacity, newKept);
  const [keyWords, valueWords] = [keyBlockWords(shape), valueBlockWords(shape)];
  checkKiviSources(cache, sourceOf, capacity, newBlocks, newBlockTable);
  const keyBlocks = cache.keyBlocks.slice();
  const valueBlocks = cache.valueBlocks.slice();
  for (let h = 0; h < KV; h++) {
    for (let i = 0; i < newBlocks; i++) {
      const sources = Array.from({ length: G }, (_, j) => sourceOf[h * capacity + i * G + j]);
      const keys = sources.map((src) => unpackKeyToken(cache.keyBlock(h, Math.floor(src / G)), src % G, shape).map(toHalf));
      const values = sources.map((src) => unpackValueToken(cache.valueBlock(h, Math.floor(src / G)), src % G, shape).map(toHalf));
      const id = newBlockTable[h * maxBlocksPerHead + i];
      keyBlocks.set(packKeyBlock(keys, shape), id * keyWords);
      valueBlocks.set(packValueBlock(values, shape), id * valueWords);
    }
  }
  const blockTable = new Uint32Array(KV * maxBlocksPerHead + KV);
  blockTable.set(newBlockTable.subarray(0, KV * maxBlocksPerHead));
  blockTable.fill(newBlocks, KV * maxBlocksPerHead);
  const block = (words: Uint32Array, size: number, h: number, i: number) => {
    const id = blockTable[h * maxBlocksPerHead + i];
    return words.subarray(id * size, (id + 1) * size);
  };
  const kept = (token: (i: number, j: number) => Float32Array, residual: (r: number) => Float32Array) => [
    ...Array.from({ length: blockTokens }, (_, n) => token(Math.floor(n / G), n % G)),
    ...Array.from({ length: cache.residualLen }, (_, r) => residual(r)),
  ];
  return {
    keyBlocks,
    valueBlocks,
    blockTable,
    positions: compactPositions(positions, sourceOf, KV, newKept),
    keptKeys: (h) => kept((i, j) => unpackKeyToken(block(keyBlocks, keyWords, h, i), j, shape), (r) => cache.residualToken('keys', h, r)),
    keptValues: (h) => kept((i, j) => unpackValueToken(block(valueBlocks, valueWords, h, i), j, shape), (r) => cache.residualToken('values', h, r)),
  };
}

/** A dequantized value as re-quantization sees it: clamped to the finite f16 range, rounded to f16. */
function toHalf(x: number): number {
  return roundToHalf(Math.min(HALF_MAX, Math.max(-HALF_MAX, x)));
}

/** The KIVI rules on top of checkSourceOf: block tokens come from old blocks, the residual follows
 *  them unchanged, and no new block id is a pool block that a compacted token is read from. */
function checkKiviSources(cache: KiviLayerCache, sourceOf: Uint32Array, capacity: number, newBlocks: number, newBlockTable: Uint32Array): void {
  const { numKvHeads: KV, groupSize: G, maxBlocksPerHead } = cache.shape;
  const read = new Set<number>();
  for (let h = 0; h < KV; h++) {
    const oldBlockTokens = cache.headBlocks[h] * G;
    for (let n = 0; n < newBlocks * G; n++) {
      const src = sourceOf[h * capacity + n];
      if (src >= oldBlockTokens) throw new RangeError(`compactKivi: compacted block token ${n} of head ${h} comes from old kept token ${src}, past its ${oldBlockTokens} block tokens.`);
      read.add(cache.blockTable[h * maxBlocksPerHead + Math.floor(src / G)]);
    }
    for (let r = 0; r < cache.residualLen; r++) {
      if (sourceOf[h * capacity + newBlocks * G + r] !== oldBlockTokens + r) {
        throw new RangeError(`compactKivi: compacted token ${newBlocks * G + r} of head ${h} must be residual token ${r} (old kept index ${oldBlockTokens + r}): the residual is never evicted.`);
      }
    }
  }
  const written = new Set<number>();
  for (let h = 0; h < KV; h++) {
    for (let i = 0; i < newBlocks; i++) {
      const id = newBlockTable[h * maxBlocksPerHead + i];
      if (read.has(id)) throw new RangeError(`compactKivi: new block ${i} of head ${h} is pool block ${id}, which compaction reads: take a free block or an old block none of whose tokens is kept.`);
      if (written.has(id)) throw new RangeError(`compactKivi: pool block ${id} is entered twice in newBlockTable.`);
      written.add(id);
    }
  }
}

function compactPositions(positions: Uint32Array, sourceOf: Uint32Array, numKvHeads: number, newKept: number): Uint32Array {
  const capacity = positions.length / numKvHeads;
  const out = new Uint32Array(positions.length);
  for (let h = 0; h < numKvHeads; h++) {
    for (let i = 0; i < newKept; i++) out[h * capacity + i] = positions[h * capacity + sourceOf[h * capacity + i]];
  }
  return out;
}

/** sourceOf must list, per head, newKept old kept indices in increasing order (kv_select's output). */
function checkSourceOf(sourceOf: Uint32Array, numKvHeads: number, capacity: number, newKept: number): void {
  if (newKept > capacity) throw new RangeError(`compaction: ${newKept} kept tokens exceed the capacity of ${capacity}.`);
  for (let h = 0; h < numKvHeads; h++) {
    for (let i = 1; i < newKept; i++) {
      if (!(sourceOf[h * capacity + i] > sourceOf[h * capacity + i - 1])) {
        throw new RangeError(`compaction: sourceOf of head ${h} must increase, but entry ${i} is ${sourceOf[h * capacity + i]} after ${sourceOf[h * capacity + i - 1]}.`);
      }
    }
  }
}
