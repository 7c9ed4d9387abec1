// kivi_append.wgsl against reference KiviLayerCache.append (a prefill chunk that wraps the ring, then
// a decode token), and the streaming cache: 1000 decode steps of append + flush on the GPU produce,
// word for word, the cache that quantizing the whole sequence offline gives (DESIGN §5.2).
import { describe, expect, it } from 'vitest';
import { keyBlockWords, kiviShape, valueBlockWords, type KiviShape } from '../../kv/layout';
import { KIVI2 } from '../../kv/settings';
import { KiviLayerCache, type KiviStep } from '../../reference/kiviCache';
import { bindKernel, dispatch } from '../shaders';
import { POISON, Rng, expectBitExact, poisoned, readU32, requireDevice, runKernel, storage, type GpuTestContext } from '../testing';

/** f32 values whose f16 rounding is easy to get wrong (as in kv_append_f16.gpu.test.ts): ties,
 *  subnormals, the largest finite f16 and values rounding to it, signed zero. */
const ROUNDING_CASES = [
  1 + 2 ** -11, 1 + 3 * 2 ** -11, -(1 + 2 ** -11), 1 + 2 ** -11 + 2 ** -20, 2048 + 1, 2048 + 3,
  2 ** -25, 3 * 2 ** -25, 2 ** -24 + 2 ** -26, 3e-6, -5.9e-5, 2 ** -14 - 2 ** -25, 1e-9,
  65504, 65519, -65519.99, 0, -0, 0.1, -0.3333333,
];

/** The KvBatch uniform's words: the fp16 kernels' Batch, then residualStart, residualLen, flushBlocks, pad. */
function kvBatchWords(numTokens: number, startPos: number, step: KiviStep): Uint32Array<ArrayBuffer> {
  return Uint32Array.of(numTokens, startPos, 1, 0, step.residualStart, step.residualLen, step.flushBlocks, 0);
}

function kvBatchUniform(ctx: GpuTestContext, words: Uint32Array<ArrayBuffer>): GPUBuffer {
  const buffer = ctx.device.createBuffer({ label: 'kvBatch', size: 32, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  ctx.device.queue.writeBuffer(buffer, 0, words);
  return buffer;
}

/** The live residual of each head, oldest first: `residualLen` rows of D/2 words read through the ring. */
function residualRows(ring: Uint32Array, k: KiviShape, residualStart: number, residualLen: number): Uint32Array {
  const wordsPerToken = k.headDim / 2;
  const rows = new Uint32Array(k.numKvHeads * residualLen * wordsPerToken);
  for (let h = 0; h < k.numKvHeads; h++) {
    for (let r = 0; r < residualLen; r++) {
      const slot = (residualStart + r) % k.ringSlots;
      rows.set(ring.subarray((h * k.ringSlots + slot) * wordsPerToken, (h * k.ringSlots + slot + 1) * wordsPerToken), (h * residualLen + r) * wordsPerToken);
    }
  }
  return rows;
}

/** A pool of POISON words with every block the cache holds copied to its pool id. */
function poolWords(cache: KiviLayerCache, which: 'keys' | 'values'): Uint32Array {
  const k = cache.shape;
  const blockWords = which === 'keys' ? keyBlockWords(k) : valueBlockWords(k);
  const words = new Uint32Array(k.numKvHeads * k.maxBlocksPerHead * blockWords).fill(POISON);
  for (let h = 0; h < k.numKvHeads; h++) {
    for (let i = 0; i < cache.headBlocks[h]; i++) {
      words.set(which === 'keys' ? cache.keyBlock(h, i) : cache.valueBlock(h, i), cache.blockTable[h * k.maxBlocksPerHead + i] * blockWords);
    }
  }
  return words;
}

describe('kivi_append', () => {
  it('rounds a prefill chunk wrapping the ring, then a decode token, into the residual', async () => {
    const ctx = await requireDevice();
    const rng = new Rng();
    const [numHeads, numKvHeads, headDim] = [6, 3, 64];
    const k = kiviShape(KIVI2, numKvHeads, headDim, 256, 16);
    const stride = (numHeads + 2 * numKvHeads) * headDim;
    const prefill = rng.normals(9 * stride, 4);
    // The first token's k and v heads carry the rounding cases.
    prefill.set(ROUNDING_CASES, numHeads * headDim);
    prefill.set(ROUNDING_CASES.map((v) => -v), (numHeads + numKvHeads) * headDim);
    const decode = rng.normals(stride, 4);

    const cache = new KiviLayerCache(k, numHeads);
    cache.residualStart = k.ringSlots - 4;
    const residualKeys = poisoned(ctx, cache.residualKeys.length, 'residualKeys');
    const residualValues = poisoned(ctx, cache.residualValues.length, 'residualValues');
    const overrides = { HEAD_DIM: headDim, NUM_HEADS: numHeads, NUM_KV_HEADS: numKvHeads, RING: k.ringSlots };
    for (const [qkv, numTokens] of [[prefill, 9], [decode, 1]] as const) {
      const step = cache.append(qkv, numTokens);
      cache.flush();
      const batch = kvBatchUniform(ctx, kvBatchWords(numTokens, 0, step));
      await runKernel(ctx, 'kivi_append', overrides, [storage(ctx, qkv, 'qkv'), residualKeys, residualValues, batch], [Math.ceil((numKvHeads * headDim) / 2 / 64), numTokens]);
    }

    // Slots ringSlots - 4 .. ringSlots - 1 and 0 .. 5 hold the ten tokens; the rest stay POISON.
    const written = (slot: number) => slot >= k.ringSlots - 4 || slot < 6;
    const expected = (ring: Uint32Array) => ring.map((word, i) => (written(Math.floor(i / (headDim / 2)) % k.ringSlots) ? word : POISON));
    expectBitExact(await readU32(ctx, residualKeys), expected(cache.residualKeys), 'kivi_append keys', rng);
    expectBitExact(await readU32(ctx, residualValues), expected(cache.residualValues), 'kivi_append values', rng);
  });
});

describe('KIVI streaming cache', () => {
  it('1000 decode steps (G=32, R=128, 2 bits) give the cache of the whole sequence quantized offline', async () => {
    const ctx = await requireDevice();
    const { device } = ctx;
    const rng = new Rng();
    const [numHeads, numKvHeads, headDim, steps] = [4, 2, 64, 1000];
    // A ring of R + G + 8 = 168 slots: not a multiple of G, so blocks straddle its end.
    const k = kiviShape(KIVI2, numKvHeads, headDim, 1024, 8);
    const stride = (numHeads + 2 * numKvHeads) * headDim;
    // Normal keys and values with an outlier key channel and an outlier value channel.
    const qkv = rng.normals(steps * stride, 2);
    for (let p = 0; p < steps; p++) {
      for (let h = 0; h < numKvHeads; h++) {
        qkv[p * stride + (numHeads + h) * headDim + 5] *= 100;
        qkv[p * stride + (numHeads + numKvHeads + h) * headDim + 17] *= 100;
      }
    }
    const poolBlocks = numKvHeads * k.maxBlocksPerHead;
    const poolOrder = Array.from({ length: poolBlocks }, (_, i) => (i * 7) % poolBlocks);

    const qkvRow = storage(ctx, new Float32Array(stride), 'qkv');
    const residualKeys = poisoned(ctx, numKvHeads * k.ringSlots * (headDim / 2), 'residualKeys');
    const residualValues = poisoned(ctx, numKvHeads * k.ringSlots * (headDim / 2), 'residualValues');
    const blockTable = poisoned(ctx, poolBlocks + numKvHeads, 'blockTable');
    const keyBlocks = poisoned(ctx, poolBlocks * keyBlockWords(k), 'keyBlocks');
    const valueBlocks = poisoned(ctx, poolBlocks * valueBlockWords(k), 'valueBlocks');
    const batch = kvBatchUniform(ctx, new Uint32Array(8));
    const quant = { HEAD_DIM: headDim, NUM_KV_HEADS: numKvHeads, GROUP: k.groupSize, RING: k.ringSlots, MAX_BLOCKS: k.maxBlocksPerHead };
    const append = bindKernel(device, ctx.pipelines.get('kivi_append', { HEAD_DIM: headDim, NUM_HEADS: numHeads, NUM_KV_HEADS: numKvHeads, RING: k.ringSlots }), [qkvRow, residualKeys, residualValues, batch]);
    const quantKeys = bindKernel(device, ctx.pipelines.get('kivi_quant_keys', { ...quant, KEY_BITS: k.keyBits }), [residualKeys, blockTable, keyBlocks, batch]);
    const quantValues = bindKernel(device, ctx.pipelines.get('kivi_quant_values', { ...quant, VALUE_BITS: k.valueBits }), [residualValues, blockTable, valueBlocks, batch]);

    // The engine's loop: the CPU keeps the bookkeeping (here the reference cache in lockstep),
    // writes tables and uniform, and submits append (attention would go here) then flush.
    const streamed = new KiviLayerCache(k, numHeads, poolOrder);
    let flushes = 0;
    device.pushErrorScope('validation');
    for (let p = 0; p < steps; p++) {
      const row = qkv.subarray(p * stride, (p + 1) * stride);
      const step = streamed.append(row, 1);
      device.queue.writeBuffer(qkvRow, 0, Float32Array.from(row));
      device.queue.writeBuffer(batch, 0, kvBatchWords(1, p, step));
      // Block ids the flush fills (entered by append) and headBlocks, in one table.
      device.queue.writeBuffer(blockTable, 0, Uint32Array.from(streamed.blockTable));
      const encoder = device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      dispatch(pass, append, Math.ceil((numKvHeads * headDim) / 2 / 64), 1);
      if (step.flushBlocks > 0) {
        dispatch(pass, quantKeys, Math.ceil(headDim / 64), step.flushBlocks, numKvHeads);
        dispatch(pass, quantValues, Math.ceil(headDim / 64), step.flushBlocks, numKvHeads);
        flushes++;
      }
      pass.end();
      device.queue.submit([encoder.finish()]);
      streamed.flush();
    }
    const error = await device.popErrorScope();
    if (error) throw new Error(`streaming: ${error.message}`);

    const offline = KiviLayerCache.fromSequence(k, numHeads, qkv, poolOrder);
    // 1000 tokens: 27 blocks of 32 per head, the newest 136 tokens in the residual.
    expect([flushes, offline.headBlocks[0], offline.residualLen], `seed ${rng.seed}`).toEqual([27, 27, 136]);
    expect([streamed.residualStart, streamed.residualLen, Array.from(streamed.headBlocks)]).toEqual([offline.residualStart, offline.residualLen, Array.from(offline.headBlocks)]);
    expect(streamed.blockTable).toEqual(offline.blockTable);
    expectBitExact(await readU32(ctx, keyBlocks), poolWords(offline, 'keys'), 'streamed key blocks vs offline', rng);
    expectBitExact(await readU32(ctx, valueBlocks), poolWords(offline, 'values'), 'streamed value blocks vs offline', rng);
    const { residualStart, residualLen } = offline;
    expectBitExact(residualRows(await readU32(ctx, residualKeys), k, residualStart, residualLen), residualRows(offline.residualKeys, k, residualStart, residualLen), 'streamed residual keys vs offline', rng);
    expectBitExact(residualRows(await readU32(ctx, residualValues), k, residualStart, residualLen), residualRows(offline.residualValues, k, residualStart, residualLen), 'streamed residual values vs offline', rng);
  });
});
