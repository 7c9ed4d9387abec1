// Eviction steps 1-3 and their bookkeeping against reference/eviction.ts: kv_positions_append,
// kv_window_capture after a real attention_f16 (prefill shorter and longer than the window, decode),
// kv_score_fp16 and kv_score_kivi on random caches with gapped positions (as after earlier evictions),
// and kv_pool_lmba (with and without LMBA) + kv_select on one score buffer uploaded from the CPU.
//
// Tolerances. Positions, captured queries and every output of pool / LMBA / select: exact. Captured M:
// exact (a max of the same f32 values). Captured L: CAPTURE_L_REL relative (WGSL exp is within
// 3 + 2|x| ulps, |x| <~ 20 here). Scores: SCORE_REL relative per token: each score is a sum of positive
// terms exp(q.k / sqrt(D) - M) / L, each off by the f32 error of the dot product (<~ 1e-6 absolute
// for unit-variance q and k) plus exp's and the division's ulps: observed <= 7e-7.
// Pool / LMBA / select must equal the reference exactly, so their scores are dyadic (multiples of
// 2^-12, sums below 2^24 units: every f32 sum in the kernel is exact) and tau is 0.875 (exact in f32).
import { describe, expect, it } from 'vitest';
import { kiviShape } from '../../kv/layout';
import { appendPositions, captureWindow, lmba, poolScores, scoreTokens, selectTokens, type EvictionShape } from '../../reference/eviction';
import { halfToFloat } from '../../reference/f16';
import { KiviLayerCache } from '../../reference/kiviCache';
import { POISON, Rng, batchUniform, expectBitExact, expectClose, packHalves, poisoned, readF32, readU32, relativeBounds, requireDevice, runKernel, storage, uniform, type GpuTestContext } from '../testing';

const CAPTURE_L_REL = 1e-5;
const SCORE_REL = 1e-5;
const POISON_F32 = new Float32Array(Uint32Array.of(POISON).buffer)[0];

interface EvictParams {
  kept: number;
  select?: number;
  sinks?: number;
  recent?: number;
  window?: number;
  windowEnd?: number;
  tau?: number;
  /** KIVI scoring only: the ring slot of residual token 0 (word 8, after EvictParams). */
  residualStart?: number;
}

/** The 48-byte eviction uniform: EvictParams' 8 words (tau as f32), then residualStart and padding. */
function evictUniform(ctx: GpuTestContext, p: EvictParams): GPUBuffer {
  const words = new Uint32Array(12);
  words.set([p.kept, p.select ?? 0, p.sinks ?? 0, p.recent ?? 0, p.window ?? 0, p.windowEnd ?? 0]);
  new Float32Array(words.buffer)[6] = p.tau ?? 0;
  words[8] = p.residualStart ?? 0;
  const buffer = ctx.device.createBuffer({ label: 'evictParams', size: words.byteLength, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, mappedAtCreation: true });
  new Uint32Array(buffer.getMappedRange()).set(words);
  buffer.unmap();
  return buffer;
}

/** `kept` increasing positions as after earlier evictions: 0 .. 3 (the sinks), random gaps of 1 to 4,
 *  then the newest `recent` consecutive; the window ends after the last. */
function gappedPositions(rng: Rng, kept: number, recent: number): { positions: number[]; windowEnd: number } {
  const positions: number[] = [];
  for (let j = 0; j < kept; j++) {
    const step = j < 4 || j >= kept - recent ? 1 : 1 + rng.int(4);
    positions.push(j === 0 ? 0 : positions[j - 1] + step);
  }
  return { positions, windowEnd: positions[kept - 1] + 1 };
}

/** [KV, C] words: every head gets `perHead(h)` in its first entries, the rest POISON. */
function perHeadWords(numKvHeads: number, capacity: number, perHead: (h: number) => ArrayLike<number>): Uint32Array {
  const words = new Uint32Array(numKvHeads * capacity).fill(POISON);
  for (let h = 0; h < numKvHeads; h++) words.set(perHead(h), h * capacity);
  return words;
}

/** A window of random queries at positions windowEnd - window .. windowEnd - 1 in their ring slots (other
 *  slots POISON), with each query's true softmax (M, L) over the kept keys it sees, in f64. */
function randomWindow(rng: Rng, shape: EvictionShape, keys: (h: number) => Float32Array[], positions: number[], window: number, windowEnd: number) {
  const { numHeads: H, numKvHeads: KV, headDim: D, windowSlots: W } = shape;
  const queryRing = new Float32Array(W * H * D).fill(POISON_F32);
  const statsRing = new Float32Array(W * H * 2).fill(POISON_F32);
  for (let i = 0; i < window; i++) {
    const p = windowEnd - 1 - i;
    const slot = p % W;
    for (let h = 0; h < H; h++) {
      const q = rng.normals(D);
      queryRing.set(q, (slot * H + h) * D);
      const seen = keys(Math.floor(h / (H / KV))).filter((_, j) => positions[j] <= p);
      const logits = seen.map((k) => k.reduce((s, kc, c) => s + kc * q[c], 0) / Math.sqrt(D));
      const M = Math.max(...logits);
      statsRing.set([M, logits.reduce((s, x) => s + Math.exp(x - M), 0)], 2 * (slot * H + h));
    }
  }
  return { queryRing, statsRing };
}

/** The kept entries (j < kept) of each head of a [KV, C] buffer. */
function keptEntries(buffer: Float32Array, numKvHeads: number, capacity: number, kept: number): Float32Array {
  const out = new Float32Array(numKvHeads * kept);
  for (let h = 0; h < numKvHeads; h++) out.set(buffer.subarray(h * capacity, h * capacity + kept), h * kept);
  return out;
}

describe('kv_positions_append', () => {
  it.each([
    { numKvHeads: 3, capacity: 50, kept: 7, startPos: 30, numTokens: 40 },
    { numKvHeads: 2, capacity: 9, kept: 8, startPos: 100, numTokens: 1 },
  ])('KV=$numKvHeads: $numTokens tokens after $kept kept, from position $startPos', async ({ numKvHeads, capacity, kept, startPos, numTokens }) => {
    const ctx = await requireDevice();
    const positions = poisoned(ctx, numKvHeads * capacity, 'positions');
    const params = uniform(ctx, Uint32Array.of(kept, startPos, numTokens, 0));
    await runKernel(ctx, 'kv_positions_append', { NUM_KV_HEADS: numKvHeads, CAPACITY: capacity }, [positions, params], [Math.ceil(numTokens / 64), numKvHeads]);
    const expected = new Uint32Array(numKvHeads * capacity).fill(POISON);
    appendPositions(expected, { numHeads: numKvHeads, numKvHeads, headDim: 2, windowSlots: 1, capacity }, kept, startPos, numTokens);
    expectBitExact(await readU32(ctx, positions), expected, 'positions');
  });
});

describe('attention_f16 + kv_window_capture', () => {
  it.each([
    { startPos: 6, numTokens: 5, windowSlots: 8, numSplits: 3 },
    { startPos: 3, numTokens: 12, windowSlots: 8, numSplits: 2 },
    { startPos: 20, numTokens: 1, windowSlots: 8, numSplits: 4 },
  ])('T=$numTokens at $startPos, W=$windowSlots, $numSplits splits', async ({ startPos, numTokens, windowSlots, numSplits }) => {
    const ctx = await requireDevice();
    const rng = new Rng();
    const shape: EvictionShape = { numHeads: 4, numKvHeads: 2, headDim: 64, windowSlots, capacity: 32 };
    const { numHeads: H, numKvHeads: KV, headDim: D, capacity: maxSeq } = shape;
    const qkv = rng.normals(numTokens * (H + 2 * KV) * D);
    const keyWords = packHalves(rng.normals(KV * maxSeq * D));
    const batch = batchUniform(ctx, { numTokens, startPos, numSplits });
    const partialMl = poisoned(ctx, numTokens * H * numSplits * 2, 'partialMl');
    const attention = { HEAD_DIM: D, NUM_HEADS: H, NUM_KV_HEADS: KV, MAX_SEQ: maxSeq };
    await runKernel(ctx, 'attention_f16', attention, [storage(ctx, qkv, 'qkv'), storage(ctx, keyWords, 'keys'), storage(ctx, packHalves(rng.normals(KV * maxSeq * D)), 'values'), poisoned(ctx, numTokens * H * numSplits * D, 'partialAcc'), partialMl, batch], [numSplits, H, numTokens]);
    const queryRing = poisoned(ctx, windowSlots * H * D, 'queryRing');
    const statsRing = poisoned(ctx, windowSlots * H * 2, 'statsRing');
    await runKernel(ctx, 'kv_window_capture', { HEAD_DIM: D, NUM_HEADS: H, NUM_KV_HEADS: KV, WINDOW: windowSlots }, [storage(ctx, qkv, 'qkv'), partialMl, queryRing, statsRing, batch], [H, numTokens]);

    const expectedQueries = new Float32Array(windowSlots * H * D).fill(POISON_F32);
    const expectedStats = new Float32Array(windowSlots * H * 2).fill(POISON_F32);
    captureWindow(qkv, await readF32(ctx, partialMl), { numTokens, startPos, numSplits }, shape, expectedQueries, expectedStats);
    expectBitExact(await readU32(ctx, queryRing), new Uint32Array(expectedQueries.buffer), 'queryRing', rng);
    const stats = await readF32(ctx, statsRing);
    // M words and untouched slots exactly; L words within CAPTURE_L_REL.
    const isL = (i: number) => i % 2 === 1 && new Uint32Array(expectedStats.buffer)[i] !== POISON;
    const masked = (a: Float32Array) => Uint32Array.from(new Uint32Array(a.buffer), (w, i) => (isL(i) ? 0 : w));
    expectBitExact(masked(stats), masked(expectedStats), 'statsRing M and untouched slots', rng);
    const lWords = [...expectedStats.keys()].filter(isL);
    expect(lWords.length).toBe(Math.min(numTokens, windowSlots) * H);
    const expectedL = lWords.map((i) => expectedStats[i]);
    expectClose(lWords.map((i) => stats[i]), expectedL, relativeBounds(expectedL, CAPTURE_L_REL), 'statsRing L', rng);

    // The captured (M, L) is the query's whole softmax: M + log L = log sum_j exp(q.k_j / sqrt(D)).
    const keyAt = (kvHead: number, j: number) => Array.from({ length: D }, (_, c) => halfToFloat((keyWords[(kvHead * maxSeq + j) * (D / 2) + (c >> 1)] >>> (16 * (c & 1))) & 0xffff));
    const logSumExp: number[] = [];
    const captured: number[] = [];
    for (let t = Math.max(0, numTokens - windowSlots); t < numTokens; t++) {
      const slot = (startPos + t) % windowSlots;
      for (let h = 0; h < H; h++) {
        const q = qkv.subarray((t * (H + 2 * KV) + h) * D, (t * (H + 2 * KV) + h + 1) * D);
        const logits = Array.from({ length: startPos + t + 1 }, (_, j) => keyAt(Math.floor(h / (H / KV)), j).reduce((s, k, c) => s + k * q[c], 0) / Math.sqrt(D));
        const M = Math.max(...logits);
        logSumExp.push(M + Math.log(logits.reduce((s, x) => s + Math.exp(x - M), 0)));
        captured.push(stats[2 * (slot * H + h)] + Math.log(stats[2 * (slot * H + h) + 1]));
      }
    }
    expectClose(captured, logSumExp, 1e-5, 'M + log L vs log-sum-exp of the query over its keys', rng);
  });
});

describe('kv_score_fp16', () => {
  it.each([
    { numHeads: 8, numKvHeads: 2, headDim: 64, kept: 150, window: 32, windowSlots: 32 },
    { numHeads: 14, numKvHeads: 2, headDim: 64, kept: 70, window: 20, windowSlots: 32 },
    { numHeads: 2, numKvHeads: 1, headDim: 128, kept: 65, window: 8, windowSlots: 8 },
  ])('H=$numHeads KV=$numKvHeads D=$headDim, $kept kept, window $window of $windowSlots', async ({ kept, window, ...dims }) => {
    const ctx = await requireDevice();
    const rng = new Rng();
    const shape: EvictionShape = { ...dims, capacity: kept + 10 };
    const { numHeads: H, numKvHeads: KV, headDim: D, windowSlots: W, capacity: C } = shape;
    const { positions, windowEnd } = gappedPositions(rng, kept, window);
    // Keys at f16 in slots 0 .. kept - 1 (MAX_SEQ = C), POISON past them.
    const keyWords = new Uint32Array(KV * C * (D / 2)).fill(POISON);
    const keys = Array.from({ length: KV }, (_, h) => Array.from({ length: kept }, (_, j) => {
      const words = packHalves(rng.normals(D));
      keyWords.set(words, (h * C + j) * (D / 2));
      return Float32Array.from({ length: D }, (_, c) => halfToFloat((words[c >> 1] >>> (16 * (c & 1))) & 0xffff));
    }));
    const positionWords = perHeadWords(KV, C, () => positions);
    const { queryRing, statsRing } = randomWindow(rng, shape, (h) => keys[h], positions, window, windowEnd);

    const scores = poisoned(ctx, KV * C, 'scores');
    const overrides = { HEAD_DIM: D, NUM_HEADS: H, NUM_KV_HEADS: KV, MAX_SEQ: C, WINDOW: W, CAPACITY: C };
    await runKernel(ctx, 'kv_score_fp16', overrides, [storage(ctx, keyWords, 'keys'), storage(ctx, positionWords, 'positions'), storage(ctx, queryRing, 'queryRing'), storage(ctx, statsRing, 'statsRing'), scores, evictUniform(ctx, { kept, window, windowEnd })], [Math.ceil(kept / 64), KV]);

    const actual = await readU32(ctx, scores);
    const expected = scoreTokens((h) => keys[h], positionWords, queryRing, statsRing, shape, { kept, window, windowEnd });
    const expectedKept = keptEntries(expected, KV, C, kept);
    expectClose(keptEntries(new Float32Array(actual.buffer), KV, C, kept), expectedKept, relativeBounds(expectedKept, SCORE_REL), 'fp16 scores', rng);
    expectBitExact(Uint32Array.from(actual.filter((_, i) => i % C >= kept)), new Uint32Array(KV * (C - kept)).fill(POISON), 'scores past kept stay unwritten', rng);
    // Each window query's probabilities over the tokens it sees add up to 1 in every group head.
    const total = expectedKept.reduce((a, b) => a + b, 0);
    expect(total, `seed ${rng.seed}`).toBeCloseTo(window * H, 3);
  });
});

describe('kv_score_kivi', () => {
  it.each([
    { numHeads: 8, numKvHeads: 2, headDim: 64, groupSize: 32, keyBits: 2, tokens: 166, window: 32 },
    { numHeads: 4, numKvHeads: 1, headDim: 128, groupSize: 64, keyBits: 4, tokens: 200, window: 17 },
    { numHeads: 2, numKvHeads: 1, headDim: 64, groupSize: 32, keyBits: 8, tokens: 60, window: 32 },
  ] as const)('H=$numHeads KV=$numKvHeads D=$headDim G=$groupSize $keyBits-bit keys, $tokens kept, window $window', async ({ numHeads, numKvHeads, headDim, groupSize, keyBits, tokens, window }) => {
    const ctx = await requireDevice();
    const rng = new Rng();
    const capacity = tokens + 40;
    const kivi = kiviShape({ keyBits, valueBits: 2, groupSize, residualLength: 64 }, numKvHeads, headDim, capacity, 5);
    const stride = (numHeads + 2 * numKvHeads) * headDim;
    const poolOrder = Array.from({ length: numKvHeads * kivi.maxBlocksPerHead }, (_, i) => i).sort(() => rng.next() - 0.5);
    const cache = KiviLayerCache.fromSequence(kivi, numHeads, rng.normals(tokens * stride), poolOrder);
    const kept = cache.headBlocks[0] * groupSize + cache.residualLen;
    expect(kept).toBe(tokens);
    const shape: EvictionShape = { numHeads, numKvHeads, headDim, windowSlots: 32, capacity };
    const { positions, windowEnd } = gappedPositions(rng, kept, window);
    const keys = Array.from({ length: numKvHeads }, (_, h) => cache.keptKeys(h));
    const positionWords = perHeadWords(numKvHeads, capacity, () => positions);
    const { queryRing, statsRing } = randomWindow(rng, shape, (h) => keys[h], positions, window, windowEnd);

    const scores = poisoned(ctx, numKvHeads * capacity, 'scores');
    const overrides = {
      HEAD_DIM: headDim, NUM_HEADS: numHeads, NUM_KV_HEADS: numKvHeads, GROUP: groupSize, KEY_BITS: keyBits,
      RING: kivi.ringSlots, MAX_BLOCKS: kivi.maxBlocksPerHead, WINDOW: shape.windowSlots, CAPACITY: capacity,
    };
    const buffers = [
      storage(ctx, cache.keyBlocks, 'keyBlocks'), storage(ctx, cache.blockTable, 'blockTable + headBlocks'), storage(ctx, cache.residualKeys, 'residualKeys'),
      storage(ctx, positionWords, 'positions'), storage(ctx, queryRing, 'queryRing'), storage(ctx, statsRing, 'statsRing'), scores,
      evictUniform(ctx, { kept, window, windowEnd, residualStart: cache.residualStart }),
    ];
    await runKernel(ctx, 'kv_score_kivi', overrides, buffers, [Math.ceil(kept / 64), numKvHeads]);

    const actual = await readF32(ctx, scores);
    const expected = keptEntries(scoreTokens((h) => keys[h], positionWords, queryRing, statsRing, shape, { kept, window, windowEnd }), numKvHeads, capacity, kept);
    expectClose(keptEntries(actual, numKvHeads, capacity, kept), expected, relativeBounds(expected, SCORE_REL), `KIVI scores (residual from ring slot ${cache.residualStart} of ${kivi.ringSlots})`, rng);
    expect(expected.reduce((a, b) => a + b, 0), `seed ${rng.seed}`).toBeCloseTo(window * numHeads, 3);
  });
});

describe('kv_pool_lmba + kv_select', () => {
  // Dyadic scores: fine (mostly distinct, skewed like attention) or coarse (16 levels: many ties).
  const fine = (rng: Rng) => Math.floor(rng.next() ** 4 * 4096) / 4096;
  const coarse = (rng: Rng) => Math.floor(rng.next() * 16) / 16;
  it.each([
    { name: 'fine scores', draw: fine, kept: 600, select: 100, recent: 40 },
    { name: 'coarse scores (ties)', draw: coarse, kept: 600, select: 137, recent: 40 },
    { name: 'select 0', draw: fine, kept: 300, select: 0, recent: 32 },
    { name: 'select >= candidates', draw: coarse, kept: 300, select: 1000, recent: 32 },
    { name: 'more recent than kept', draw: fine, kept: 20, select: 5, recent: 64 },
    { name: 'one tile, all zero', draw: () => 0, kept: 200, select: 50, recent: 16 },
  ])('$name: $kept kept, select $select, recent $recent', async ({ draw, kept, select, recent }) => {
    const ctx = await requireDevice();
    const rng = new Rng();
    const [numKvHeads, capacity, sinks, tau] = [3, kept + 50, 4, 0.875];
    // Head 2's early tokens are spread out, so only 2 of its kept tokens are sinks (positions < 4).
    const positions = Array.from({ length: numKvHeads }, (_, h) => gappedPositions(rng, kept, recent).positions.map((p, j) => (h === 2 ? p + 2 * Math.min(j, 2) : p)));
    const scores = Array.from({ length: numKvHeads }, () => Array.from({ length: kept }, () => draw(rng)));
    const positionBuffer = storage(ctx, perHeadWords(numKvHeads, capacity, (h) => positions[h]), 'positions');
    const scoreWords = perHeadWords(numKvHeads, capacity, (h) => new Uint32Array(Float32Array.from(scores[h]).buffer));
    const pooled = poisoned(ctx, numKvHeads * capacity, 'pooled');
    const lmbaOut = poisoned(ctx, numKvHeads, 'lmba');
    const newIndex = poisoned(ctx, numKvHeads * capacity, 'newIndex');
    const sourceOf = poisoned(ctx, numKvHeads * capacity, 'sourceOf');
    const params = evictUniform(ctx, { kept, select, sinks, recent, tau });
    await runKernel(ctx, 'kv_pool_lmba', { CAPACITY: capacity }, [storage(ctx, scoreWords, 'scores'), pooled, lmbaOut, params], [numKvHeads]);
    await runKernel(ctx, 'kv_select', { CAPACITY: capacity }, [positionBuffer, pooled, newIndex, sourceOf, params], [numKvHeads]);

    const expectedPooled = scores.map((s) => poolScores(s));
    const selections = expectedPooled.map((p, h) => selectTokens(p, positions[h], { select, sinks, recent }));
    expectBitExact(await readU32(ctx, pooled), perHeadWords(numKvHeads, capacity, (h) => new Uint32Array(expectedPooled[h].buffer)), 'pooled', rng);
    expectBitExact(await readU32(ctx, lmbaOut), Uint32Array.from(scores, (s) => lmba(s, tau)), 'lmba', rng);
    expectBitExact(await readU32(ctx, newIndex), perHeadWords(numKvHeads, capacity, (h) => selections[h].newIndex), 'newIndex', rng);
    expectBitExact(await readU32(ctx, sourceOf), perHeadWords(numKvHeads, capacity, (h) => selections[h].sourceOf), 'sourceOf', rng);
  });

  it('WITH_LMBA = false pools the same and leaves lmba untouched', async () => {
    const ctx = await requireDevice();
    const rng = new Rng();
    const [numKvHeads, kept, capacity] = [2, 700, 720];
    const scores = Array.from({ length: numKvHeads }, () => Array.from({ length: kept }, () => Math.floor(rng.next() ** 4 * 4096) / 4096));
    const scoreWords = perHeadWords(numKvHeads, capacity, (h) => new Uint32Array(Float32Array.from(scores[h]).buffer));
    const pooled = poisoned(ctx, numKvHeads * capacity, 'pooled');
    const lmbaOut = poisoned(ctx, numKvHeads, 'lmba');
    await runKernel(ctx, 'kv_pool_lmba', { CAPACITY: capacity, WITH_LMBA: false }, [storage(ctx, scoreWords, 'scores'), pooled, lmbaOut, evictUniform(ctx, { kept, tau: 0.875 })], [numKvHeads]);
    expectBitExact(await readU32(ctx, pooled), perHeadWords(numKvHeads, capacity, (h) => new Uint32Array(poolScores(scores[h]).buffer)), 'pooled', rng);
    expectBitExact(await readU32(ctx, lmbaOut), new Uint32Array(numKvHeads).fill(POISON), 'lmba', rng);
  });
});
