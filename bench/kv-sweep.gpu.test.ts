// The KIVI benchmark's method on a tiny model (WebGPU on SwiftShader): the attention-only passes
// must leave the cache as it was, and the sweep must chain its prefills and account bytes exactly.
import { describe, expect, it } from 'vitest';
import { acquireGpu } from '../src/engine/gpu/device';
import { GpuModel, type Sampling } from '../src/engine/gpu/model';
import { WeightStore } from '../src/engine/gpu/weights';
import type { ModelConfig } from '../src/engine/model/types';
import { attentionOnly, KV_VARIANTS, sweepContexts, type KvVariant, type MeasuredRow, type Row } from './kv-sweep';
import { LLAMA_3_2_1B, syntheticWeights } from './synthetic';

// Head dim 64 so that every KIVI group size applies; chunks of 64 reach R + G = 160 tokens quickly.
const TINY: ModelConfig = { ...LLAMA_3_2_1B, hiddenSize: 128, intermediateSize: 256, numLayers: 2, numHeads: 2, numKvHeads: 1, headDim: 64, vocabSize: 256, prefillChunkSize: 64 };
const GREEDY: Sampling = { kind: 'greedy', repetitionPenalty: 1 };
const VARIANTS = Object.keys(KV_VARIANTS) as KvVariant[];

async function tinyWeights(device: GPUDevice): Promise<WeightStore> {
  const weights = new WeightStore(device);
  syntheticWeights(TINY, (t) => weights.upload(t));
  return weights;
}

function prompt(length: number): number[] {
  return Array.from({ length }, (_, i) => (i * 37 + 11) % TINY.vocabSize);
}

describe('attentionOnly', () => {
  // 180 tokens: KIVI's residual holds 148 (R + 20); 191: it holds 159 = R + G - 1, so one more
  // token flushes and attentionOnly must take a real step first.
  it.each(VARIANTS.flatMap((kv) => [180, 191].map((length) => [kv, length] as const)))('%s after %i tokens: the next steps see the same cache', async (kv, length) => {
    const { device } = await acquireGpu();
    const weights = await tinyWeights(device);
    const timed = new GpuModel(device, TINY, weights, 256, KV_VARIANTS[kv]);
    const untouched = new GpuModel(device, TINY, weights, 256, KV_VARIANTS[kv]);
    try {
      for (const gpu of [timed, untouched]) gpu.forward(prompt(length));
      const { passesPerSubmit, msPerPass } = await attentionOnly(device, timed, 1);
      expect(passesPerSubmit).toBeGreaterThanOrEqual(4);
      // A time was measured (Chromium's coarse clock may round a fast pass down to 0).
      expect(msPerPass).toBeGreaterThanOrEqual(0);
      expect(Number.isFinite(msPerPass)).toBe(true);
      const flushStep = kv !== 'fp16' && length === 191;
      expect(timed.length).toBe(length + (flushStep ? 1 : 0));
      if (flushStep) await untouched.step(0, GREEDY, []);
      expect(timed.kvBytes()).toEqual(untouched.kvBytes());
      for (const token of [5, 6, 7]) {
        await timed.step(token, GREEDY, []);
        await untouched.step(token, GREEDY, []);
        expect(Array.from(await timed.readLogits())).toEqual(Array.from(await untouched.readLogits()));
      }
    } finally {
      timed.destroy();
      untouched.destroy();
      device.destroy();
    }
  });
});

/** The rows sweepContexts reports for the tiny model, on a device of its own. */
async function sweep(options: Parameters<typeof sweepContexts>[2]): Promise<Row[]> {
  const { device } = await acquireGpu();
  const rows: Row[] = [];
  try {
    await sweepContexts(device, [{ name: 'tiny', cfg: TINY, weights: await tinyWeights(device) }], options, (row) => rows.push(row));
  } finally {
    device.destroy();
  }
  return rows;
}

const TWO_CONTEXTS = { contexts: [200, 320], variants: VARIANTS, steps: 3, warmup: 2, deadline: Infinity, attentionSubmitMs: 1, copyGbPerSecond: 100 };

describe('sweepContexts', () => {
  it('prefills each context from the last one and accounts every variant exactly', async () => {
    const rows = await sweep({ ...TWO_CONTEXTS, fill: 'prefill' });

    expect(rows.map((r) => `${r.kv}@${r.context}`)).toEqual(['fp16@200', 'kivi-2@200', 'kivi-4@200', 'fp16@320', 'kivi-2@320', 'kivi-4@320']);
    const measured = rows as MeasuredRow[];
    for (const row of measured) {
      expect(row.status).toBe('measured');
      expect(row.prefill?.toTokens).toBe(row.context - 5);
      expect(row.decode.tokensPerSecond).toBeGreaterThan(0);
      // attentionOnly adds a step when the next token would flush.
      expect([row.context, row.context + 1]).toContain(row.kvBytes.tokens);
      expect(row.attention.bytesPerPass).toBe(row.kvBytes.used + 2 * 2 * 64 * 4);
      expect(row.attention.copyFraction).toBeCloseTo(row.attention.gbPerSecond / 100, 12);
    }
    for (const kv of VARIANTS) {
      const [first, second] = measured.filter((r) => r.kv === kv);
      expect(first.prefill?.fromTokens).toBe(0);
      expect(second.prefill?.fromTokens).toBe(first.kvBytes.tokens);
    }
    // 2 layers x 1 KV head x 64 dims x (K, V) x 2 B.
    const fp16PerToken = 2 * 64 * 2 * 2;
    for (const row of measured.filter((r) => r.kv === 'fp16')) {
      expect(row.kvBytes.bytesPerToken).toBe(fp16PerToken);
      expect(row.kvBytes.quantizedRatio).toBeNull();
    }
    // b bits per value + one f16 (scale, min) pair per 32 values: (b + 1) / 16 of fp16.
    for (const row of measured.filter((r) => r.kv === 'kivi-2')) expect(row.kvBytes.quantizedRatio).toBe(3 / 16);
    for (const row of measured.filter((r) => r.kv === 'kivi-4')) expect(row.kvBytes.quantizedRatio).toBe(5 / 16);
  });

  it('measures a run’s first context always and skips later ones predicted to pass the deadline', async () => {
    const rows = await sweep({ contexts: [100, 200], variants: ['fp16'], steps: 2, warmup: 0, deadline: 0, attentionSubmitMs: 1, copyGbPerSecond: 100, fill: 'prefill' });
    expect(rows.map((r) => r.status)).toEqual(['measured', 'skipped']);
    expect(rows[1]).toMatchObject({ context: 200, reason: expect.stringMatching(/^time limit/) });
  });

  it('grows the caches by bookkeeping alone when asked: no prefill, the same tokens and bytes', async () => {
    const rows = await sweep({ ...TWO_CONTEXTS, fill: 'bookkeeping' });
    const measured = rows as MeasuredRow[];
    expect(measured.map((r) => `${r.status} ${r.kv}@${r.context}`)).toEqual([200, 320].flatMap((c) => VARIANTS.map((kv) => `measured ${kv}@${c}`)));
    for (const row of measured) {
      expect(row.prefill).toBeNull();
      expect([row.context, row.context + 1]).toContain(row.kvBytes.tokens);
    }
    for (const row of measured.filter((r) => r.kv === 'kivi-2')) expect(row.kvBytes.quantizedRatio).toBe(3 / 16);
  });
});
