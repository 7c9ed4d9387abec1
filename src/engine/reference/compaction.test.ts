import { describe, expect, it } from 'vitest';
import { kiviShape } from '../kv/layout';
import { compactF16, compactKivi } from './compaction';
import { newF16Cache } from './kernels';
import { KiviLayerCache } from './kiviCache';

describe('compactF16', () => {
  it('moves keys, values and positions of the kept tokens to the front, per head', () => {
    // 2 KV heads, D 2, capacity 4; token j of head h holds keys (10h + j, -j), values (j, 100h).
    const cache = newF16Cache({ numHeads: 2, numKvHeads: 2, headDim: 2 }, 4);
    for (let h = 0; h < 2; h++) {
      for (let j = 0; j < 4; j++) {
        cache.keys[h].set([10 * h + j, -j], 2 * j);
        cache.values[h].set([j, 100 * h], 2 * j);
      }
    }
    const positions = Uint32Array.of(5, 6, 9, 12, 0, 1, 2, 3);
    const { cache: out, positions: outPositions } = compactF16(cache, positions, Uint32Array.of(0, 2, 9, 9, 1, 3, 9, 9), 2);
    expect(Array.from(out.keys[0])).toEqual([0, -0, 2, -2, 0, 0, 0, 0]);
    expect(Array.from(out.keys[1])).toEqual([11, -1, 13, -3, 0, 0, 0, 0]);
    expect(Array.from(out.values[1])).toEqual([1, 100, 3, 100, 0, 0, 0, 0]);
    expect(Array.from(outPositions)).toEqual([5, 9, 0, 0, 1, 3, 0, 0]);
  });

  it('rejects a sourceOf that does not increase', () => {
    const cache = newF16Cache({ numHeads: 1, numKvHeads: 1, headDim: 2 }, 4);
    expect(() => compactF16(cache, new Uint32Array(4), Uint32Array.of(2, 1, 0, 0), 2)).toThrow(/must increase/);
  });
});

describe('compactKivi', () => {
  // 1 KV head, G 32, R 32: 160 tokens give 4 blocks and a residual of 32; the pool holds 8 blocks.
  const shape = kiviShape({ keyBits: 2, valueBits: 2, groupSize: 32, residualLength: 32 }, 1, 64, 8 * 32, 8);
  const qkv = Float32Array.from({ length: 160 * 3 * 64 }, (_, i) => Math.sin(i * 0.37) * 2);
  const capacity = 8 * 32 + shape.ringSlots;
  const positions = Uint32Array.from({ length: capacity }, (_, j) => 3 * j);
  /** Keeps old block tokens `blockTokens` (2 blocks' worth), then the residual. */
  const sourceOf = (blockTokens: number[], residualFrom = 128) => {
    const words = new Uint32Array(capacity);
    words.set([...blockTokens, ...Array.from({ length: 32 }, (_, r) => residualFrom + r)]);
    return words;
  };
  const everyOther = Array.from({ length: 64 }, (_, n) => 2 * n);
  const newTable = Uint32Array.of(6, 7, 0, 0, 0, 0, 0, 0);

  it('keeps the residual after the new blocks and compacts positions', () => {
    const cache = KiviLayerCache.fromSequence(shape, 1, qkv);
    const out = compactKivi(cache, positions, sourceOf(everyOther), 2, newTable);
    expect(Array.from(out.blockTable)).toEqual([6, 7, 0, 0, 0, 0, 0, 0, 2]);
    expect(out.keptKeys(0)).toHaveLength(64 + 32);
    expect(out.keptValues(0).slice(64)).toEqual(cache.keptValues(0).slice(128));
    expect(Array.from(out.positions.subarray(0, 3))).toEqual([0, 6, 12]);
    expect(out.positions[64]).toBe(3 * 128);
    // Pool blocks other than the new ones are untouched.
    expect(out.keyBlocks.subarray(0, 6 * (out.keyBlocks.length / 8))).toEqual(cache.keyBlocks.subarray(0, 6 * (out.keyBlocks.length / 8)));
  });

  it('re-quantizes the kept values: each within half a step of its group (plus f16 rounding) of its old value', () => {
    const cache = KiviLayerCache.fromSequence(shape, 1, qkv);
    const old = cache.keptValues(0);
    const out = compactKivi(cache, positions, sourceOf(everyOther), 2, newTable);
    const kept = out.keptValues(0);
    everyOther.forEach((src, n) => {
      for (let g = 0; g < 2; g++) {
        const group = old[src].subarray(32 * g, 32 * g + 32);
        // Step s = f16(range / 3) <= range / 3 (1 + 2^-11); rounding an old value |x| <= 2 to f16 adds <= 2^-10.
        const bound = ((Math.max(...group) - Math.min(...group)) / 6) * (1 + 2 ** -11) + 2 ** -10;
        group.forEach((x, c) => expect(Math.abs(kept[n][32 * g + c] - x)).toBeLessThanOrEqual(bound));
      }
    });
  });

  it('rejects an evicted residual token and a new block that compaction reads', () => {
    const cache = KiviLayerCache.fromSequence(shape, 1, qkv);
    expect(() => compactKivi(cache, positions, sourceOf(everyOther, 129), 2, newTable)).toThrow(/residual is never evicted/);
    const readBlock = cache.blockTable[1];
    expect(() => compactKivi(cache, positions, sourceOf(everyOther), 2, Uint32Array.of(readBlock, 7, 0, 0, 0, 0, 0, 0))).toThrow(/which compaction reads/);
  });
});
