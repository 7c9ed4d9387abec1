import { describe, expect, it } from 'vitest';
import { ContextFullError } from '../errors';
import { kiviShape, type KiviSettings, type KiviShape } from '../kv/layout';
import { roundToHalf } from './f16';
import { KiviLayerCache, blocksToFlush } from './kiviCache';

const settings: KiviSettings = { keyBits: 2, valueBits: 4, groupSize: 32, residualLength: 64 };
const NUM_HEADS = 4;
const KV = 2;
const D = 64;
const STRIDE = (NUM_HEADS + 2 * KV) * D;

/** Deterministic qkv rows [T, (H + 2 KV) D] with an outlier channel, distinct for every token. */
function qkvRows(first: number, count: number): Float32Array {
  return Float32Array.from({ length: count * STRIDE }, (_, i) => {
    const [p, x] = [first + Math.floor(i / STRIDE), i % STRIDE];
    return Math.sin(p * 0.37 + x * 1.3) * (x % D === 7 ? 50 : 2) + 0.01 * p;
  });
}

/** Streams `chunks` tokens (append, then flush) and returns the cache and the whole sequence. */
function stream(shape: KiviShape, chunks: number[], poolOrder?: number[]): { cache: KiviLayerCache; qkv: Float32Array } {
  const cache = new KiviLayerCache(shape, NUM_HEADS, poolOrder);
  let seen = 0;
  for (const n of chunks) {
    cache.append(qkvRows(seen, n), n);
    cache.flush();
    seen += n;
  }
  return { cache, qkv: qkvRows(0, seen) };
}

/** The state both caches must share, word for word: tables, blocks by table, live ring slots. */
function expectSameCache(actual: KiviLayerCache, expected: KiviLayerCache): void {
  expect(actual.residualStart).toBe(expected.residualStart);
  expect(actual.residualLen).toBe(expected.residualLen);
  expect(actual.headBlocks).toEqual(expected.headBlocks);
  expect(actual.blockTable).toEqual(expected.blockTable);
  for (let h = 0; h < KV; h++) {
    for (let i = 0; i < expected.headBlocks[h]; i++) {
      expect(actual.keyBlock(h, i)).toEqual(expected.keyBlock(h, i));
      expect(actual.valueBlock(h, i)).toEqual(expected.valueBlock(h, i));
    }
    for (let r = 0; r < expected.residualLen; r++) {
      expect(actual.residualToken('keys', h, r)).toEqual(expected.residualToken('keys', h, r));
      expect(actual.residualToken('values', h, r)).toEqual(expected.residualToken('values', h, r));
    }
  }
}

describe('blocksToFlush', () => {
  it('flushes the oldest G while the residual holds R + G or more', () => {
    const shape = kiviShape({ ...settings, residualLength: 128 }, KV, D, 1024, 32);
    expect([0, 127, 159, 160, 191, 192, 223, 224, 300].map((n) => blocksToFlush(n, shape))).toEqual([0, 0, 0, 1, 1, 2, 2, 3, 5]);
    const noResidual = kiviShape({ ...settings, residualLength: 0 }, KV, D, 1024, 32);
    expect([0, 31, 32, 63, 64].map((n) => blocksToFlush(n, noResidual))).toEqual([0, 0, 1, 1, 2]);
  });
});

describe('KiviLayerCache', () => {
  const shape = kiviShape(settings, KV, D, 512, 48);

  it('keeps R .. R + G - 1 residual tokens and reports each step as the GPU uniform sees it', () => {
    const cache = new KiviLayerCache(shape, NUM_HEADS);
    const steps = [];
    for (let p = 0; p < 200; p++) {
      steps.push(cache.append(qkvRows(p, 1), 1));
      cache.flush();
      expect(cache.residualLen).toBe(p + 1 < 96 ? p + 1 : 64 + ((p + 1 - 64) % 32));
      expect(cache.headBlocks).toEqual(Uint32Array.of(Math.floor(Math.max(0, p + 1 - 64) / 32), Math.floor(Math.max(0, p + 1 - 64) / 32)));
    }
    // Token 96 fills R + G: the first flush, of tokens 0..31, from ring slot 0.
    expect(steps[95]).toEqual({ residualStart: 0, residualLen: 95, flushBlocks: 1 });
    expect(steps[96]).toEqual({ residualStart: 32, residualLen: 64, flushBlocks: 0 });
    expect(steps[191]).toEqual({ residualStart: 96, residualLen: 95, flushBlocks: 1 });
    // After 4 blocks the residual starts at slot 128 of the 64 + 32 + 48 = 144 and wraps past the end.
    expect([cache.residualStart, cache.residualLen]).toEqual([128, 72]);
  });

  it('streams token by token into the same cache as quantizing the sequence offline, whatever the pool order', () => {
    const poolOrder = Array.from({ length: KV * shape.maxBlocksPerHead }, (_, i) => (i * 5) % (KV * shape.maxBlocksPerHead));
    const { cache, qkv } = stream(shape, Array(300).fill(1), poolOrder);
    expect(cache.headBlocks[0]).toBe(7);
    expectSameCache(cache, KiviLayerCache.fromSequence(shape, NUM_HEADS, qkv, poolOrder));
  });

  it('streams prefill chunks and decode steps into the same cache as offline', () => {
    const { cache, qkv } = stream(shape, [48, 48, 5, 1, 1, 40, 1, 48, 7]);
    expectSameCache(cache, KiviLayerCache.fromSequence(shape, NUM_HEADS, qkv));
  });

  it('gives every kept token in order: residual tokens as f16, block tokens within half a step', () => {
    const { cache, qkv } = stream(shape, [48, 48, 30]);
    const head = (p: number, at: number) => Float32Array.from(qkv.subarray(p * STRIDE + at * D, p * STRIDE + (at + 1) * D), roundToHalf);
    const key = (p: number, h: number) => head(p, NUM_HEADS + h);
    const value = (p: number, h: number) => head(p, NUM_HEADS + KV + h);
    for (let h = 0; h < KV; h++) {
      const [keys, values] = [cache.keptKeys(h), cache.keptValues(h)];
      expect(keys.length).toBe(126);
      expect(values.length).toBe(126);
      for (let p = 0; p < 126; p++) {
        const k = key(p, h);
        const v = value(p, h);
        if (p >= 32) {
          expect(keys[p]).toEqual(k);
          expect(values[p]).toEqual(v);
          continue;
        }
        // Block 0: keys per channel over its 32 tokens (2 bits), values per token over 32 channels
        // (4 bits); the bound adds the f16 rounding of the scale.
        for (let c = 0; c < D; c++) {
          const channel = Array.from({ length: 32 }, (_, j) => key(j, h)[c]);
          const keyStep = (Math.max(...channel) - Math.min(...channel)) / 3;
          expect(Math.abs(keys[p][c] - k[c])).toBeLessThanOrEqual(keyStep / 2 + 2e-3 * keyStep + 1e-5);
          const group = Array.from(v.subarray(c & ~31, (c & ~31) + 32));
          const valueStep = (Math.max(...group) - Math.min(...group)) / 15;
          expect(Math.abs(values[p][c] - v[c])).toBeLessThanOrEqual(valueStep / 2 + 2e-3 * valueStep + 1e-5);
        }
      }
    }
  });

  it('rejects an append before the previous chunk was flushed, and a chunk larger than the ring', () => {
    const cache = new KiviLayerCache(shape, NUM_HEADS);
    cache.append(qkvRows(0, 100), 100);
    expect(() => cache.append(qkvRows(100, 1), 1)).toThrow(/flush\(\) the previous chunk/);
    cache.flush();
    expect(() => cache.append(qkvRows(100, 81), 81)).toThrow(/does not fit the ring of 144 slots holding 68/);
  });

  it('reports a full context when a head has no block left', () => {
    const small = kiviShape(settings, KV, D, 64, 48);
    const cache = new KiviLayerCache(small, NUM_HEADS);
    for (let p = 0; p < 144; p += 48) {
      cache.append(qkvRows(p, 48), 48);
      cache.flush();
    }
    expect(cache.headBlocks).toEqual(Uint32Array.of(2, 2));
    expect(() => cache.append(qkvRows(144, 48), 48)).toThrow(ContextFullError);
    expect(() => KiviLayerCache.fromSequence(small, NUM_HEADS, qkvRows(0, 160))).toThrow(ContextFullError);
  });

  it('rejects a pool order that is not a permutation of the pool', () => {
    expect(() => new KiviLayerCache(shape, NUM_HEADS, [0, 0, 1])).toThrow(/each of the 32 pool block ids once/);
  });
});
