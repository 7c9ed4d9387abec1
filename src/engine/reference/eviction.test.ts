import { describe, expect, it } from 'vitest';
import { headLmba } from '../kv/budgets';
import { EVICTED } from '../kv/evictionLayout';
import { appendPositions, captureWindow, lmba, poolScores, scoreTokens, selectTokens, type EvictionShape } from './eviction';

const X = EVICTED;

describe('appendPositions', () => {
  it('gives every head the chunk positions after its kept tokens', () => {
    const shape: EvictionShape = { numHeads: 2, numKvHeads: 2, headDim: 2, windowSlots: 4, capacity: 5 };
    const positions = new Uint32Array(10).fill(7);
    appendPositions(positions, shape, 2, 40, 3);
    expect([...positions]).toEqual([7, 7, 40, 41, 42, 7, 7, 40, 41, 42]);
  });
});

describe('captureWindow', () => {
  const shape: EvictionShape = { numHeads: 1, numKvHeads: 1, headDim: 2, windowSlots: 2, capacity: 8 };
  // qkv rows [q0 q1 k0 k1 v0 v1] of 3 tokens; 2 splits per query.
  const qkv = Float32Array.of(1, 2, 0, 0, 0, 0, 3, 4, 0, 0, 0, 0, 5, 6, 0, 0, 0, 0);
  const partialMl = Float32Array.of(0, 1, -3e38, 0, 1, 2, 0, 3, 2, 1, 2, 1);

  it('keeps the newest W queries in slots p % W with (M, L) combined over the splits', () => {
    const queryRing = new Float32Array(4).fill(NaN);
    const statsRing = new Float32Array(4).fill(NaN);
    captureWindow(qkv, partialMl, { numTokens: 3, startPos: 10, numSplits: 2 }, shape, queryRing, statsRing);
    // Token 1 (position 11) -> slot 1, token 2 (position 12) -> slot 0; token 0 left the window.
    expect([...queryRing]).toEqual([5, 6, 3, 4]);
    expect(statsRing[0]).toBe(2);
    expect(statsRing[1]).toBe(2);
    expect(statsRing[2]).toBe(1);
    expect(statsRing[3]).toBeCloseTo(2 + 3 * Math.exp(-1), 6);
  });
});

describe('scoreTokens', () => {
  it('sums softmax probabilities over window queries and group heads that see the token', () => {
    // 2 query heads on 1 KV head, D = 4, two window queries at positions 8 (slot 0) and 9 (slot 1).
    const shape: EvictionShape = { numHeads: 2, numKvHeads: 1, headDim: 4, windowSlots: 2, capacity: 4 };
    const keys = [Float32Array.of(2, 0, 0, 0), Float32Array.of(0, 2, 0, 0), Float32Array.of(0, 0, 2, 0)];
    const positions = Uint32Array.of(0, 5, 9, 0);
    // q . k / sqrt(4): head 0 of the query at 9 scores token 0 with 1, every other score is 0. The
    // query at 8 does not see token 2 (position 9). Stats are each query's true (M, L).
    const queryRing = Float32Array.of(0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0);
    const statsRing = Float32Array.of(0, 2, 0, 2, 1, 1 + 2 / Math.E, 0, 3);
    const scores = scoreTokens(() => keys, positions, queryRing, statsRing, shape, { kept: 3, window: 2, windowEnd: 10 });
    const q9h0 = [1, 1 / Math.E, 1 / Math.E].map((w) => w / (1 + 2 / Math.E));
    const q9h1 = [1 / 3, 1 / 3, 1 / 3];
    const q8 = [1 / 2, 1 / 2, 0];
    for (let j = 0; j < 3; j++) expect(scores[j]).toBeCloseTo(q9h0[j] + q9h1[j] + 2 * q8[j], 6);
    expect(scores[3]).toBe(0);
  });

  it('uses only the `window` newest queries', () => {
    const shape: EvictionShape = { numHeads: 1, numKvHeads: 1, headDim: 2, windowSlots: 4, capacity: 2 };
    const queryRing = new Float32Array(8);
    const statsRing = Float32Array.of(0, 1, 0, 1, 0, 1, 0, 1);
    const keys = [Float32Array.of(0, 0), Float32Array.of(0, 0)];
    const scores = scoreTokens(() => keys, Uint32Array.of(0, 1), queryRing, statsRing, shape, { kept: 2, window: 2, windowEnd: 6 });
    expect([...scores]).toEqual([2, 2]);
  });
});

describe('poolScores', () => {
  it('takes the max over j-3 .. j+3, clipped at the ends', () => {
    expect([...poolScores([0, 0, 0, 0, 5, 0, 0, 0, 0, 1])]).toEqual([0, 5, 5, 5, 5, 5, 5, 5, 1, 1]);
    expect([...poolScores([2])]).toEqual([2]);
  });
});

describe('lmba', () => {
  it('equals headLmba for distinct scores', () => {
    let seed = 12345;
    const next = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let trial = 0; trial < 200; trial++) {
      const scores = Array.from({ length: 1 + (trial % 40) }, () => next() ** 3);
      expect(new Set(scores).size).toBe(scores.length);
      for (const tau of [0, 0.5, 0.9, 1]) expect(lmba(scores, tau), `trial ${trial} tau ${tau}`).toBe(headLmba(scores, tau));
    }
  });

  it('counts every token tied at the threshold', () => {
    // total 6: tau 0.5 needs 3, met by the 3 alone; tau 0.6 needs 3.6, met only at theta = 1 (all four).
    expect(lmba([1, 3, 1, 1], 0.5)).toBe(1);
    expect(lmba([1, 3, 1, 1], 0.6)).toBe(4);
    expect(headLmba([1, 3, 1, 1], 0.6)).toBe(2);
    expect(lmba([0, 0, 0], 0.9)).toBe(3);
    expect(lmba([], 0.9)).toBe(0);
  });
});

describe('selectTokens', () => {
  const positions = [0, 1, 2, 3, 10, 11, 12, 13, 14, 15];

  it('keeps sinks, recent tokens and the top candidates in kept order', () => {
    // Sinks: positions < 2 (tokens 0, 1). Recent: the last 2 (tokens 8, 9). Candidates 2..7.
    const pooled = [0, 0, 0.5, 0.1, 0.9, 0.2, 0.7, 0.3, 0, 0];
    const { newIndex, sourceOf } = selectTokens(pooled, positions, { select: 3, sinks: 2, recent: 2 });
    expect([...sourceOf]).toEqual([0, 1, 2, 4, 6, 8, 9]);
    expect([...newIndex]).toEqual([0, 1, 2, X, 3, X, 4, X, 5, 6]);
  });

  it('breaks ties by the lower kept index', () => {
    const pooled = [9, 9, 0.5, 0.5, 0.5, 0.5, 0.8, 0.5, 9, 9];
    const { sourceOf } = selectTokens(pooled, positions, { select: 3, sinks: 2, recent: 2 });
    expect([...sourceOf]).toEqual([0, 1, 2, 3, 6, 8, 9]);
  });

  it('keeps every candidate when select reaches their count, none when it is 0', () => {
    const pooled = positions.map((_, j) => j);
    expect([...selectTokens(pooled, positions, { select: 6, sinks: 2, recent: 2 }).sourceOf]).toEqual(positions.map((_, j) => j));
    expect([...selectTokens(pooled, positions, { select: 60, sinks: 2, recent: 2 }).sourceOf]).toEqual(positions.map((_, j) => j));
    expect([...selectTokens(pooled, positions, { select: 0, sinks: 2, recent: 2 }).sourceOf]).toEqual([0, 1, 8, 9]);
  });

  it('decides sinks by position, not by kept index, and protects more recent tokens than kept', () => {
    const shifted = [1, 5, 7, 9];
    expect([...selectTokens([1, 0, 0, 0], shifted, { select: 0, sinks: 4, recent: 1 }).sourceOf]).toEqual([0, 3]);
    expect([...selectTokens([1, 0, 0, 0], shifted, { select: 0, sinks: 4, recent: 9 }).sourceOf]).toEqual([0, 1, 2, 3]);
  });
});
