// Compaction (eviction step 4) against reference/compaction.ts, on random caches and random keep sets:
// kv_compact_f16 gathers keys, values and positions bit for bit; kivi_compact_keys and
// kivi_compact_values read the layer's pool and write new blocks bit-identical to the reference's
// re-quantization into a separate scratch pool at the new table's ids (and nothing else: the whole
// scratch is compared, and the pool must be left as it was) and move the positions. Then the real
// attention kernels run on the compacted cache (scratch copied back, new block table installed) and
// must equal reference attention over the kept tokens, within the tolerances of
// attention.gpu.test.ts and attention_kivi.gpu.test.ts.
// Cases: GQA 2 and 4, D 64/96/128, G 32/64/128, bits 2/4/8, keeping every token, keeping no block
// token, a whole old block evicted and its pool id reused, and f16 extremes (dequantized codes past
// 65504, subnormals, +0/-0).
import { describe, it } from 'vitest';
import { keyBlockWords, kiviShape, valueBlockWords } from '../../kv/layout';
import { compactF16, compactKivi } from '../../reference/compaction';
import { roundToHalf } from '../../reference/f16';
import { attention, newF16Cache, type AttentionShape, type F16Cache } from '../../reference/kernels';
import { kiviAttention, type KeptTokens } from '../../reference/kiviAttention';
import { KiviLayerCache } from '../../reference/kiviCache';
import { POISON, Rng, batchUniform, expectBitExact, expectClose, packHalves, poisoned, readF32, readU32, requireDevice, runKernel, storage, uniform, type GpuTestContext } from '../testing';

// Tolerances of the attention tests (there: why): relative to the softmax-weighted mean of |v|.
const ATTENTION_REL = 1e-5;
const KIVI_ATTENTION_REL = 1e-4;

/** 0 .. n - 1 in random order. */
function shuffled(rng: Rng, n: number): number[] {
  const all = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const r = rng.int(i + 1);
    [all[i], all[r]] = [all[r], all[i]];
  }
  return all;
}

/** `count` distinct indices of [0, n), increasing. */
function keepSet(rng: Rng, n: number, count: number): number[] {
  return shuffled(rng, n).slice(0, count).sort((a, b) => a - b);
}

/** [KV, C] u32 original positions of `kept` tokens per head, increasing with gaps (earlier evictions); POISON after. */
function randomPositions(rng: Rng, numKvHeads: number, capacity: number, kept: number): Uint32Array {
  const positions = new Uint32Array(numKvHeads * capacity).fill(POISON);
  for (let h = 0; h < numKvHeads; h++) {
    let p = rng.int(3);
    for (let j = 0; j < kept; j++) positions[h * capacity + j] = p += 1 + rng.int(3);
  }
  return positions;
}

/** Per head `C` words: `perHead(h)` then POISON, so a kernel reading past newKept gets POISON. */
function sourceOfWords(numKvHeads: number, capacity: number, perHead: (h: number) => number[]): Uint32Array {
  const words = new Uint32Array(numKvHeads * capacity).fill(POISON);
  for (let h = 0; h < numKvHeads; h++) words.set(perHead(h), h * capacity);
  return words;
}

/** Expected scratch words: per head `rowWords` words each for slots < newKept from `rows`, POISON after. */
function scratchWords(numKvHeads: number, capacity: number, rowWords: number, newKept: number, rows: (h: number) => Uint32Array): Uint32Array {
  const words = new Uint32Array(numKvHeads * capacity * rowWords).fill(POISON);
  for (let h = 0; h < numKvHeads; h++) words.set(rows(h).subarray(0, newKept * rowWords), h * capacity * rowWords);
  return words;
}

/** What the orchestrator does after the kernels: copyBufferToBuffer each scratch buffer back. */
async function copyBack(ctx: GpuTestContext, pairs: [GPUBuffer, GPUBuffer][]): Promise<void> {
  const encoder = ctx.device.createCommandEncoder({ label: 'copy back' });
  for (const [from, to] of pairs) encoder.copyBufferToBuffer(from, 0, to, 0, from.size);
  ctx.device.queue.submit([encoder.finish()]);
  await ctx.device.queue.onSubmittedWorkDone();
}

/** attention_* then attention_reduce for one query; returns attnOut [H * D]. */
async function attendOnce(ctx: GpuTestContext, run: (partialAcc: GPUBuffer, partialMl: GPUBuffer) => Promise<void>, batch: GPUBuffer, shape: AttentionShape, numSplits: number): Promise<Float32Array> {
  const { numHeads, headDim } = shape;
  const partialAcc = poisoned(ctx, numHeads * numSplits * headDim, 'partialAcc');
  const partialMl = poisoned(ctx, numHeads * numSplits * 2, 'partialMl');
  const attnOut = poisoned(ctx, numHeads * headDim, 'attnOut');
  await run(partialAcc, partialMl);
  await runKernel(ctx, 'attention_reduce', { HEAD_DIM: headDim, NUM_HEADS: numHeads }, [partialAcc, partialMl, attnOut, batch], [numHeads, 1]);
  return readF32(ctx, attnOut);
}

interface F16Case extends AttentionShape {
  capacity: number;
  /** Tokens per head before compaction. */
  kept: number;
  newKept: number;
  numSplits: number;
}

const f16Cases: F16Case[] = [
  { numHeads: 4, numKvHeads: 2, headDim: 64, capacity: 80, kept: 70, newKept: 30, numSplits: 2 },
  // Every token kept: the identity gather.
  { numHeads: 2, numKvHeads: 1, headDim: 128, capacity: 40, kept: 40, newKept: 40, numSplits: 1 },
  // D 96 (48 words per token: tokens straddle workgroups), a single token kept of 3 heads.
  { numHeads: 3, numKvHeads: 3, headDim: 96, capacity: 50, kept: 45, newKept: 1, numSplits: 1 },
  { numHeads: 8, numKvHeads: 2, headDim: 64, capacity: 200, kept: 180, newKept: 97, numSplits: 3 },
];

describe('kv_compact_f16', () => {
  it.each(f16Cases)('H=$numHeads KV=$numKvHeads D=$headDim: $kept -> $newKept of $capacity, then attention', async ({ capacity, kept, newKept, numSplits, ...shape }) => {
    const ctx = await requireDevice();
    const rng = new Rng();
    const { numHeads, numKvHeads, headDim } = shape;
    const cache: F16Cache = newF16Cache(shape, capacity);
    for (const head of [...cache.keys, ...cache.values]) {
      for (let i = 0; i < kept * headDim; i++) head[i] = roundToHalf(rng.normal());
    }
    const cacheWords = (heads: Float32Array[]) => {
      const words = new Uint32Array(numKvHeads * capacity * (headDim / 2)).fill(POISON);
      heads.forEach((head, h) => words.set(packHalves(head.subarray(0, kept * headDim)), h * capacity * (headDim / 2)));
      return words;
    };
    const positions = randomPositions(rng, numKvHeads, capacity, kept);
    const sourceOf = sourceOfWords(numKvHeads, capacity, () => keepSet(rng, kept, newKept));
    const expected = compactF16(cache, positions, sourceOf, newKept);

    const keys = storage(ctx, cacheWords(cache.keys), 'keys');
    const values = storage(ctx, cacheWords(cache.values), 'values');
    const positionsBuffer = storage(ctx, positions, 'positions');
    const scratchKeys = poisoned(ctx, numKvHeads * capacity * (headDim / 2), 'scratchKeys');
    const scratchValues = poisoned(ctx, numKvHeads * capacity * (headDim / 2), 'scratchValues');
    const scratchPositions = poisoned(ctx, numKvHeads * capacity, 'scratchPositions');
    const compaction = uniform(ctx, Uint32Array.of(newKept, 0, 0, 0));
    await runKernel(
      ctx, 'kv_compact_f16', { HEAD_DIM: headDim, NUM_KV_HEADS: numKvHeads, MAX_SEQ: capacity },
      [keys, values, positionsBuffer, storage(ctx, sourceOf, 'sourceOf'), scratchKeys, scratchValues, scratchPositions, compaction],
      [Math.ceil((newKept * headDim) / 2 / 64), numKvHeads],
    );

    const words = headDim / 2;
    expectBitExact(await readU32(ctx, scratchKeys), scratchWords(numKvHeads, capacity, words, newKept, (h) => packHalves(expected.cache.keys[h])), 'scratchKeys', rng);
    expectBitExact(await readU32(ctx, scratchValues), scratchWords(numKvHeads, capacity, words, newKept, (h) => packHalves(expected.cache.values[h])), 'scratchValues', rng);
    expectBitExact(await readU32(ctx, scratchPositions), scratchWords(numKvHeads, capacity, 1, newKept, (h) => expected.positions.subarray(h * capacity)), 'scratchPositions', rng);

    // Decode over the compacted cache: the query sees slots 0 .. newKept - 1 (the rest is POISON now).
    await copyBack(ctx, [[scratchKeys, keys], [scratchValues, values], [scratchPositions, positionsBuffer]]);
    const qkv = rng.normals((numHeads + 2 * numKvHeads) * headDim, 2);
    const batch = batchUniform(ctx, { numTokens: 1, startPos: newKept - 1, numSplits });
    const actual = await attendOnce(ctx, (partialAcc, partialMl) => runKernel(
      ctx, 'attention_f16', { HEAD_DIM: headDim, NUM_HEADS: numHeads, NUM_KV_HEADS: numKvHeads, MAX_SEQ: capacity },
      [storage(ctx, qkv, 'qkv'), keys, values, partialAcc, partialMl, batch], [numSplits, numHeads, 1],
    ), batch, shape, numSplits);
    const absValues: F16Cache = { keys: expected.cache.keys, values: expected.cache.values.map((head) => head.map(Math.abs)) };
    const bounds = Float64Array.from(attention(qkv, absValues, newKept - 1, shape), (m) => ATTENTION_REL * m);
    expectClose(actual, attention(qkv, expected.cache, newKept - 1, shape), bounds, 'attention after kv_compact_f16', rng);
  });
});

interface KiviCase {
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  groupSize: 32 | 64 | 128;
  keyBits: 2 | 4 | 8;
  valueBits: 2 | 4 | 8;
  residualLength: 0 | 32 | 64 | 128;
  /** Tokens quantized offline (fromSequence): blocks of G, the newest R .. R + G - 1 in the residual. */
  tokens: number;
  /** Blocks per head after compaction. */
  newBlocks: number;
  /** Evict every token of each head's old block 1 and size the pool so that the reference (which
   *  writes new blocks into the one pool) must reuse its id. */
  reuseEvictedBlock: boolean;
  /** 'extreme': f16 extremes by channel; the attention check is left out, as keys of +-65504 make
   *  scores of order 1e9, outside what the attention tolerance is stated for. */
  data: 'normal' | 'extreme';
  numSplits: number;
}

const base = { numHeads: 4, numKvHeads: 2, headDim: 64, groupSize: 32, keyBits: 2, valueBits: 2, residualLength: 32, reuseEvictedBlock: false, data: 'normal', numSplits: 2 } as const;
const kiviCases: KiviCase[] = [
  // 200 tokens: 5 blocks + 40 residual -> 3 blocks.
  { ...base, tokens: 200, newBlocks: 3 },
  // Every token kept: all blocks re-quantized into fresh ids.
  { ...base, keyBits: 4, valueBits: 8, tokens: 200, newBlocks: 5, numSplits: 3 },
  // No block token kept: only the residual's positions move; the values kernel writes nothing.
  { ...base, keyBits: 8, valueBits: 2, residualLength: 0, tokens: 3 * 32 + 1, newBlocks: 0, numSplits: 1 },
  // G 64, GQA 2, an evicted block's id reused.
  { ...base, numHeads: 2, numKvHeads: 1, groupSize: 64, keyBits: 4, valueBits: 4, residualLength: 64, tokens: 4 * 64 + 70, newBlocks: 2, reuseEvictedBlock: true },
  // G 128, D 128, an empty-ish residual.
  { ...base, headDim: 128, groupSize: 128, keyBits: 2, valueBits: 4, residualLength: 0, tokens: 3 * 128 + 5, newBlocks: 2 },
  // f16 extremes: dequantized codes past 65504 (clamped), subnormal scales, +0 and -0.
  { ...base, headDim: 128, groupSize: 32, keyBits: 2, valueBits: 2, tokens: 200, newBlocks: 2, data: 'extreme' },
  { ...base, headDim: 64, groupSize: 64, keyBits: 8, valueBits: 8, residualLength: 64, tokens: 3 * 64 + 64, newBlocks: 2, data: 'extreme' },
];

/** f16 values by channel (c % 4): the extremes +-65504, subnormals, +0/-0, and large normals. Key
 *  groups (one channel) and value groups (G channels of one token) both meet every kind. */
function extremeValue(rng: Rng, c: number): number {
  switch (c % 4) {
    case 0: return rng.next() < 0.5 ? 65504 : -65504;
    case 1: return (rng.int(2047) - 1023) * 2 ** -24;
    case 2: return rng.next() < 0.5 ? 0 : -0;
    default: return roundToHalf(rng.normal() * 100);
  }
}

/** The 32-byte KvBatch uniform of attention_kivi: numTokens, startPos, numSplits, firstRow, residualStart, residualLen, flushBlocks, pad. */
function kvBatchUniform(ctx: GpuTestContext, words: number[]): GPUBuffer {
  const buffer = ctx.device.createBuffer({ label: 'kvBatch', size: 32, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, mappedAtCreation: true });
  new Uint32Array(buffer.getMappedRange()).set(words);
  buffer.unmap();
  return buffer;
}

describe('kivi_compact_keys + kivi_compact_values', () => {
  const named = kiviCases.map((c) => ({ ...c, name: `H=${c.numHeads} KV=${c.numKvHeads} D=${c.headDim} G=${c.groupSize} bits ${c.keyBits}/${c.valueBits} R=${c.residualLength}, ${c.tokens} tokens -> ${c.newBlocks} block(s)${c.reuseEvictedBlock ? ', evicted block reused' : ''}, ${c.data} data` }));
  it.each(named)('$name', async ({ numHeads, numKvHeads: KV, headDim: D, groupSize: G, keyBits, valueBits, residualLength, tokens, newBlocks, reuseEvictedBlock, data, numSplits }) => {
    const ctx = await requireDevice();
    const rng = new Rng();
    const oldBlocks = Math.floor((tokens - residualLength) / G);
    // Tight pool when an evicted block must be reused: one free block per head too few.
    const maxBlocks = reuseEvictedBlock ? oldBlocks + newBlocks - 1 : oldBlocks + newBlocks;
    const shape = kiviShape({ keyBits, valueBits, groupSize: G, residualLength }, KV, D, maxBlocks * G, 8);
    const poolBlocks = KV * shape.maxBlocksPerHead;
    const stride = (numHeads + 2 * KV) * D;
    const keyBias = Float32Array.from({ length: D }, () => (rng.next() < 0.1 ? rng.uniform(-8, 8) : 0));
    const qkvRows = Float32Array.from({ length: tokens * stride }, (_, n) => {
      const c = n % D;
      if (data === 'extreme') return extremeValue(rng, c);
      return rng.normal() + (Math.floor((n % stride) / D) < numHeads + KV ? keyBias[c] : 0);
    });
    const pool = shuffled(rng, poolBlocks);
    const cache = KiviLayerCache.fromSequence(shape, numHeads, qkvRows, pool);
    const residualLen = cache.residualLen;
    const capacity = shape.maxBlocksPerHead * G + shape.ringSlots;
    const newKept = newBlocks * G + residualLen;

    const positions = randomPositions(rng, KV, capacity, oldBlocks * G + residualLen);
    const candidates = Array.from({ length: oldBlocks * G }, (_, n) => n).filter((n) => !reuseEvictedBlock || Math.floor(n / G) !== 1);
    const sourceOf = sourceOfWords(KV, capacity, () => [
      ...keepSet(rng, candidates.length, newBlocks * G).map((n) => candidates[n]),
      ...Array.from({ length: residualLen }, (_, r) => oldBlocks * G + r),
    ]);
    // The reference writes new blocks into the pool itself, at ids no compacted token is read from
    // (free ones and, when reused, old block 1s); the kernels write them into the scratch at scratch
    // ids 0 .. KV * newBlocks - 1 in random order, ids the pool's read blocks share.
    const read = new Set<number>();
    for (let h = 0; h < KV; h++) {
      for (let n = 0; n < newBlocks * G; n++) read.add(cache.blockTable[h * shape.maxBlocksPerHead + Math.floor(sourceOf[h * capacity + n] / G)]);
    }
    const unread = shuffled(rng, poolBlocks).filter((id) => !read.has(id));
    const referenceTable = new Uint32Array(KV * shape.maxBlocksPerHead).fill(POISON);
    const scratchIds = shuffled(rng, KV * newBlocks);
    const newBlockTable = new Uint32Array(KV * shape.maxBlocksPerHead).fill(POISON);
    for (let h = 0; h < KV; h++) {
      for (let i = 0; i < newBlocks; i++) {
        referenceTable[h * shape.maxBlocksPerHead + i] = unread.pop()!;
        newBlockTable[h * shape.maxBlocksPerHead + i] = scratchIds.pop()!;
      }
    }
    // Poison every pool block the old table does not list: the kernels must not read them.
    const [keyWords, valueWords] = [keyBlockWords(shape), valueBlockWords(shape)];
    const live = new Set(Array.from({ length: KV }, (_, h) => Array.from({ length: oldBlocks }, (_, b) => cache.blockTable[h * shape.maxBlocksPerHead + b])).flat());
    if (reuseEvictedBlock && !referenceTable.some((id) => live.has(id))) throw new Error('test setup: no evicted block was reused');
    for (let id = 0; id < poolBlocks; id++) {
      if (!live.has(id)) {
        cache.keyBlocks.fill(POISON, id * keyWords, (id + 1) * keyWords);
        cache.valueBlocks.fill(POISON, id * valueWords, (id + 1) * valueWords);
      }
    }
    const expected = compactKivi(cache, positions, sourceOf, newBlocks, referenceTable);
    // Expected scratch (as large as the pool, as in src/engine/kv/kivi.ts): the reference's new
    // block at each scratch id, POISON elsewhere.
    const expectedScratch = (reference: Uint32Array, words: number) => {
      const scratch = new Uint32Array(poolBlocks * words).fill(POISON);
      for (let n = 0; n < KV * shape.maxBlocksPerHead; n++) {
        if (newBlockTable[n] === POISON) continue;
        scratch.set(reference.subarray(referenceTable[n] * words, (referenceTable[n] + 1) * words), newBlockTable[n] * words);
      }
      return scratch;
    };

    const oldTable = Uint32Array.from(cache.blockTable, (id, n) => (n < poolBlocks && n % shape.maxBlocksPerHead >= oldBlocks ? POISON : id));
    const buffers = {
      sourceOf: storage(ctx, sourceOf, 'sourceOf'),
      blockTable: storage(ctx, oldTable, 'blockTable'),
      newBlockTable: storage(ctx, newBlockTable, 'newBlockTable'),
      keyBlocks: storage(ctx, cache.keyBlocks, 'keyBlocks'),
      valueBlocks: storage(ctx, cache.valueBlocks, 'valueBlocks'),
      scratchKeyBlocks: poisoned(ctx, poolBlocks * keyWords, 'scratchKeyBlocks'),
      scratchValueBlocks: poisoned(ctx, poolBlocks * valueWords, 'scratchValueBlocks'),
      positions: storage(ctx, positions, 'positions'),
      scratchPositions: poisoned(ctx, KV * capacity, 'scratchPositions'),
    };
    const compaction = uniform(ctx, Uint32Array.of(newKept, newBlocks, 0, 0));
    const overrides = { HEAD_DIM: D, NUM_KV_HEADS: KV, GROUP: G, MAX_SEQ: capacity, MAX_BLOCKS: shape.maxBlocksPerHead };
    await runKernel(
      ctx, 'kivi_compact_keys', { ...overrides, KEY_BITS: keyBits },
      [buffers.sourceOf, buffers.blockTable, buffers.newBlockTable, buffers.keyBlocks, buffers.scratchKeyBlocks, buffers.positions, buffers.scratchPositions, compaction],
      [Math.ceil(D / 64), newBlocks + 1, KV],
    );
    // With newBlocks = 0 one row of workgroups still runs: the kernel must write nothing.
    await runKernel(
      ctx, 'kivi_compact_values', { ...overrides, VALUE_BITS: valueBits },
      [buffers.sourceOf, buffers.blockTable, buffers.newBlockTable, buffers.valueBlocks, buffers.scratchValueBlocks, compaction],
      [Math.ceil(D / 64), Math.max(1, newBlocks), KV],
    );

    expectBitExact(await readU32(ctx, buffers.scratchKeyBlocks), expectedScratch(expected.keyBlocks, keyWords), 'scratchKeyBlocks (whole scratch)', rng);
    expectBitExact(await readU32(ctx, buffers.scratchValueBlocks), expectedScratch(expected.valueBlocks, valueWords), 'scratchValueBlocks (whole scratch)', rng);
    expectBitExact(await readU32(ctx, buffers.keyBlocks), cache.keyBlocks, 'keyBlocks (pool untouched)', rng);
    expectBitExact(await readU32(ctx, buffers.valueBlocks), cache.valueBlocks, 'valueBlocks (pool untouched)', rng);
    expectBitExact(await readU32(ctx, buffers.scratchPositions), scratchWords(KV, capacity, 1, newKept, (h) => expected.positions.subarray(h * capacity)), 'scratchPositions', rng);
    if (data === 'extreme') return;

    // Decode over the compacted cache: the scratch's used range copied over the start of the pool
    // and the new block table installed, as src/engine/kv/kivi.ts does, the query's own token the
    // residual's newest.
    if (newBlocks > 0) {
      const encoder = ctx.device.createCommandEncoder({ label: 'copy back' });
      encoder.copyBufferToBuffer(buffers.scratchKeyBlocks, 0, buffers.keyBlocks, 0, KV * newBlocks * keyWords * 4);
      encoder.copyBufferToBuffer(buffers.scratchValueBlocks, 0, buffers.valueBlocks, 0, KV * newBlocks * valueWords * 4);
      ctx.device.queue.submit([encoder.finish()]);
    }
    const installedTable = Uint32Array.from(expected.blockTable, (id, n) => (n < poolBlocks ? newBlockTable[n] : id));
    const qkv = rng.normals(stride);
    const attnShape: AttentionShape = { numHeads, numKvHeads: KV, headDim: D };
    const kvBatch = kvBatchUniform(ctx, [1, 0, numSplits, 0, cache.residualStart, residualLen - 1, 0, 0]);
    const actual = await attendOnce(ctx, (partialAcc, partialMl) => runKernel(
      ctx, 'attention_kivi', { HEAD_DIM: D, NUM_HEADS: numHeads, NUM_KV_HEADS: KV, GROUP: G, KEY_BITS: keyBits, VALUE_BITS: valueBits, RING: shape.ringSlots, MAX_BLOCKS: shape.maxBlocksPerHead },
      [storage(ctx, qkv, 'qkv'), buffers.keyBlocks, buffers.valueBlocks, storage(ctx, installedTable, 'new blockTable'),
        storage(ctx, cache.residualKeys, 'residualKeys'), storage(ctx, cache.residualValues, 'residualValues'), partialAcc, partialMl, kvBatch],
      [numSplits, numHeads, 1],
    ), kvBatch, attnShape, numSplits);
    const magnitudes: KeptTokens = { keptKeys: (h) => expected.keptKeys(h), keptValues: (h) => expected.keptValues(h).map((v) => v.map(Math.abs)) };
    const bounds = Float64Array.from(kiviAttention(qkv, magnitudes, attnShape), (m) => KIVI_ATTENTION_REL * m);
    expectClose(actual, kiviAttention(qkv, expected, attnShape), bounds, 'attention_kivi after compaction', rng);
  });
});
