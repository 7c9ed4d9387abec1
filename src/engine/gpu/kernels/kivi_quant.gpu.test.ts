// kivi_quant_keys.wgsl and kivi_quant_values.wgsl (the flush) against reference KiviLayerCache.flush:
// every word of the new blocks (codes, scales, mins) bit for bit (tolerance: none), nothing else
// written. Inputs carry the groups that are easy to get wrong: constant (scale 0), outlier channels,
// the f16 extremes, subnormals (subnormal scales), +0 mixed with -0, and exact ties between codes.
import { describe, it } from 'vitest';
import { keyBlockWords, kiviShape, valueBlockWords, type KiviShape } from '../../kv/layout';
import { roundToHalf } from '../../reference/f16';
import { KiviLayerCache, type KiviStep } from '../../reference/kiviCache';
import { POISON, Rng, expectBitExact, poisoned, readU32, requireDevice, runKernel, storage, type GpuTestContext } from '../testing';

const NUM_HEADS = 4;

interface Case {
  headDim: number;
  groupSize: 32 | 64 | 128;
  keyBits: 2 | 4 | 8;
  valueBits: 2 | 4 | 8;
  residualLength: 0 | 32 | 64 | 128;
  numKvHeads: number;
  /** Ring slots beyond R + G; not a multiple of G, so blocks straddle the ring's end. */
  prefillChunk: number;
  /** Tokens appended and flushed before the tested chunk (so heads already hold blocks). */
  history: number;
  /** The tested chunk; its flush quantizes `flushBlocks` blocks per head. */
  chunk: number;
  flushBlocks: number;
}

const cases: Case[] = [
  { headDim: 64, groupSize: 32, keyBits: 2, valueBits: 2, residualLength: 128, numKvHeads: 2, prefillChunk: 40, history: 170, chunk: 25, flushBlocks: 1 },
  { headDim: 64, groupSize: 32, keyBits: 4, valueBits: 8, residualLength: 32, numKvHeads: 3, prefillChunk: 100, history: 70, chunk: 100, flushBlocks: 3 },
  { headDim: 64, groupSize: 32, keyBits: 8, valueBits: 8, residualLength: 64, numKvHeads: 2, prefillChunk: 40, history: 100, chunk: 20, flushBlocks: 0 },
  { headDim: 64, groupSize: 64, keyBits: 8, valueBits: 4, residualLength: 64, numKvHeads: 2, prefillChunk: 70, history: 150, chunk: 50, flushBlocks: 1 },
  { headDim: 64, groupSize: 64, keyBits: 2, valueBits: 2, residualLength: 0, numKvHeads: 2, prefillChunk: 200, history: 70, chunk: 190, flushBlocks: 3 },
  { headDim: 128, groupSize: 128, keyBits: 2, valueBits: 4, residualLength: 128, numKvHeads: 2, prefillChunk: 60, history: 300, chunk: 90, flushBlocks: 1 },
  { headDim: 128, groupSize: 128, keyBits: 4, valueBits: 2, residualLength: 0, numKvHeads: 2, prefillChunk: 400, history: 130, chunk: 390, flushBlocks: 3 },
];

/** Values exactly representable in f16, one kind per channel (c % 8) so that key groups (one
 *  channel over G tokens) and value groups (G channels of one token) both meet every kind. */
function channelValue(rng: Rng, c: number): number {
  switch (c % 8) {
    case 0: return rng.normal() * 100; // outlier channel
    case 1: return 1.5 + (c >> 3); // constant over tokens: key scale 0
    case 2: return rng.next() < 0.5 ? 65504 : -65504; // largest finite f16, range 131008
    case 3: return (rng.int(2047) - 1023) * 2 ** -24; // subnormals: subnormal scales at every b
    case 4: return rng.next() < 0.5 ? 0 : -0; // +0 and -0: the min keeps -0's sign
    case 5: return rng.int(7) * 0.5 - 1.5; // at b = 2 the codes tie exactly at 0.5 and 2.5 steps
    case 6: return 1000 + rng.int(4) * 0.5; // the f16 spacing at 1000 is 0.5
    default: return rng.normal() * 2;
  }
}

/** qkv rows [count, (H + 2 KV) D]. Key heads follow `channelValue`; so do value heads, except
 *  that some tokens' value heads are constant (value scale 0) or of one kind in every channel. */
function craftedRows(rng: Rng, count: number, k: KiviShape): Float32Array {
  const { numKvHeads: KV, headDim: D } = k;
  const stride = (NUM_HEADS + 2 * KV) * D;
  const rows = rng.normals(count * stride);
  for (let t = 0; t < count; t++) {
    for (let head = NUM_HEADS; head < NUM_HEADS + 2 * KV; head++) {
      const isValue = head >= NUM_HEADS + KV;
      const constant = roundToHalf(rng.normal());
      for (let c = 0; c < D; c++) {
        let x = channelValue(rng, c);
        if (isValue && t % 7 === 3) x = constant;
        if (isValue && t % 7 >= 4) x = channelValue(rng, t);
        rows[t * stride + head * D + c] = roundToHalf(x);
      }
    }
  }
  return rows;
}

/** The 32-byte KvBatch uniform: the fp16 kernels' Batch, then residualStart, residualLen, flushBlocks, pad. */
function kvBatchUniform(ctx: GpuTestContext, numTokens: number, step: KiviStep): GPUBuffer {
  const buffer = ctx.device.createBuffer({ label: 'kvBatch', size: 32, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  ctx.device.queue.writeBuffer(buffer, 0, Uint32Array.of(numTokens, 0, 1, 0, step.residualStart, step.residualLen, step.flushBlocks, 0));
  return buffer;
}

/** A pool of POISON words with the given blocks (id -> words) filled in. */
function poolWords(blocks: number, blockWords: number, filled: Map<number, Uint32Array>): Uint32Array {
  const words = new Uint32Array(blocks * blockWords).fill(POISON);
  for (const [id, block] of filled) words.set(block, id * blockWords);
  return words;
}

describe('kivi_quant_keys + kivi_quant_values', () => {
  const named = cases.map((c) => ({ ...c, name: `D=${c.headDim} G=${c.groupSize} KB=${c.keyBits} VB=${c.valueBits} R=${c.residualLength} KV=${c.numKvHeads}: ${c.flushBlocks} block(s) per head` }));
  it.each(named)(
    '$name',
    async ({ numKvHeads, headDim, prefillChunk, history, chunk, flushBlocks, name: _, ...settings }) => {
      const ctx = await requireDevice();
      const rng = new Rng();
      const k = kiviShape(settings, numKvHeads, headDim, 6 * settings.groupSize, prefillChunk);
      const poolBlocks = numKvHeads * k.maxBlocksPerHead;
      const poolOrder = Array.from({ length: poolBlocks }, (_, i) => i).sort(() => rng.next() - 0.5);
      const cache = new KiviLayerCache(k, NUM_HEADS, poolOrder);
      // Start the ring so that the tested flush's first block straddles its end.
      const blocksBefore = Math.max(0, Math.floor((history - settings.residualLength) / settings.groupSize));
      cache.residualStart = (((k.ringSlots - blocksBefore * settings.groupSize - 7) % k.ringSlots) + k.ringSlots) % k.ringSlots;
      cache.append(craftedRows(rng, history, k), history);
      cache.flush();
      const step = cache.append(craftedRows(rng, chunk, k), chunk);
      const expectedBlocks = `${step.flushBlocks} block(s) from ring slot ${step.residualStart} of ${k.ringSlots}`;
      if (step.flushBlocks !== flushBlocks || (flushBlocks > 0 && step.residualStart + settings.groupSize <= k.ringSlots)) {
        throw new Error(`test setup: wanted ${flushBlocks} block(s) straddling the ring's end, got ${expectedBlocks}`);
      }

      const buffers = {
        residualKeys: storage(ctx, cache.residualKeys, 'residualKeys'),
        residualValues: storage(ctx, cache.residualValues, 'residualValues'),
        blockTable: storage(ctx, cache.blockTable, 'blockTable'),
        keyBlocks: poisoned(ctx, poolBlocks * keyBlockWords(k), 'keyBlocks'),
        valueBlocks: poisoned(ctx, poolBlocks * valueBlockWords(k), 'valueBlocks'),
      };
      const batch = kvBatchUniform(ctx, chunk, step);
      const overrides = { HEAD_DIM: headDim, NUM_KV_HEADS: numKvHeads, GROUP: k.groupSize, RING: k.ringSlots, MAX_BLOCKS: k.maxBlocksPerHead };
      // With flushBlocks = 0 one row of workgroups still runs: the kernels must write nothing.
      const grid: [number, number, number] = [Math.ceil(headDim / 64), Math.max(1, flushBlocks), numKvHeads];
      const { residualKeys, residualValues, blockTable, keyBlocks, valueBlocks } = buffers;
      await runKernel(ctx, 'kivi_quant_keys', { ...overrides, KEY_BITS: k.keyBits }, [residualKeys, blockTable, keyBlocks, batch], grid);
      await runKernel(ctx, 'kivi_quant_values', { ...overrides, VALUE_BITS: k.valueBits }, [residualValues, blockTable, valueBlocks, batch], grid);

      const before = Array.from(cache.headBlocks);
      cache.flush();
      const newKeys = new Map<number, Uint32Array>();
      const newValues = new Map<number, Uint32Array>();
      for (let h = 0; h < numKvHeads; h++) {
        for (let i = before[h]; i < cache.headBlocks[h]; i++) {
          newKeys.set(cache.blockTable[h * k.maxBlocksPerHead + i], cache.keyBlock(h, i));
          newValues.set(cache.blockTable[h * k.maxBlocksPerHead + i], cache.valueBlock(h, i));
        }
      }
      expectBitExact(await readU32(ctx, keyBlocks), poolWords(poolBlocks, keyBlockWords(k), newKeys), `kivi_quant_keys, ${expectedBlocks}`, rng);
      expectBitExact(await readU32(ctx, valueBlocks), poolWords(poolBlocks, valueBlockWords(k), newValues), `kivi_quant_values, ${expectedBlocks}`, rng);
    },
  );
});
