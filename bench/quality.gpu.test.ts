// The quality benchmark's method on a tiny random model (WebGPU on SwiftShader): teacher forcing
// scores the token after each prefix, the fp16 cache compared with itself agrees exactly, compressed
// caches are really compressed, and past the deadline rows come back skipped.
import { describe, expect, it } from 'vitest';
import { acquireGpu } from '../src/engine/gpu/device';
import { GpuModel } from '../src/engine/gpu/model';
import { WeightStore } from '../src/engine/gpu/weights';
import { DEFAULT_KV_SETTINGS } from '../src/engine/kv/settings';
import type { ModelConfig } from '../src/engine/model/types';
import { measureQuality, teacherForce, type GreedyRow, type QualityOptions, type QualityRow, type TeacherForcedRow } from './quality-core';
import type { QualityDataset } from './quality-data';
import { tokenNll } from './quality-metrics';
import { LLAMA_3_2_1B, syntheticWeights } from './synthetic';

// Head dim 64 so that G = 32 and 64 apply; chunks of 64 so that prefill evicts between chunks.
// SwiftShader takes ~10 s per case and configuration at 320 tokens: few cases, few configurations.
const TINY: ModelConfig = { ...LLAMA_3_2_1B, hiddenSize: 128, intermediateSize: 256, numLayers: 2, numHeads: 2, numKvHeads: 1, headDim: 64, vocabSize: 256, prefillChunkSize: 64 };
const CONTEXT = 320;

function tokens(length: number, seed: number): number[] {
  return Array.from({ length }, (_, i) => (i * 37 + seed * 11 + ((i * i) % 7)) % 250);
}

const DATA: QualityDataset = {
  stream: tokens(800, 1),
  passages: [tokens(16, 2), tokens(16, 3)],
  filler: tokens(600, 4),
  separator: [250],
  bos: 251,
};

const OPTIONS: QualityOptions = {
  contexts: [CONTEXT],
  scoredTokens: 2,
  textWindows: 1,
  retrievalCases: 1,
  greedyPrompts: 1,
  greedyPromptTokens: 40,
  greedySteps: 4,
  // kivi2-g32-r0 quantizes every token; zigzag at 20 % keeps sinks + R = 128 + a block, < 320.
  configs: ['fp16', 'kivi2-g32-r0', 'kivi2-g64-r32', 'kivi2-zigzag20'],
  deadline: Infinity,
};

async function setup() {
  const { device } = await acquireGpu();
  const weights = new WeightStore(device);
  syntheticWeights(TINY, (t) => weights.upload(t));
  return { device, weights };
}

describe('teacherForce', () => {
  it('scores each token from the logits of exactly the tokens before it', async () => {
    const { device, weights } = await setup();
    const gpu = new GpuModel(device, TINY, weights, 128);
    const item = { tokens: tokens(100, 5), scoreFrom: 96 };
    const forced = await teacherForce(gpu, DEFAULT_KV_SETTINGS, item);
    const direct: number[] = [];
    for (let i = item.scoreFrom; i < item.tokens.length; i++) {
      gpu.rebuildKvCache(DEFAULT_KV_SETTINGS);
      gpu.forward(item.tokens.slice(0, i));
      direct.push(tokenNll(await gpu.readLogits(), item.tokens[i]));
    }
    gpu.destroy();
    device.destroy();
    expect(forced.nll).toHaveLength(4);
    // Decode steps (GEMV) and prefill chunks (matmul) round differently, so not bit-equal.
    forced.nll.forEach((nll, i) => expect(nll).toBeCloseTo(direct[i], 3));
  });
});

describe('measureQuality', () => {
  it('compares every configuration with fp16 on the same cases', async () => {
    const { device, weights } = await setup();
    const rows: QualityRow[] = [];
    await measureQuality(device, { cfg: TINY, weights }, DATA, OPTIONS, (row) => rows.push(row));
    weights.destroy();
    device.destroy();

    expect(rows.map((r) => `${r.kind}:${r.config}`)).toEqual([
      'skipped:kivi2-g64-r32',
      'teacher-forced:fp16', 'teacher-forced:kivi2-g32-r0', 'teacher-forced:kivi2-zigzag20',
      'greedy:fp16', 'greedy:kivi2-g32-r0', 'greedy:kivi2-zigzag20',
    ]);
    const [fp16, kivi2, zigzag] = rows.filter((r): r is TeacherForcedRow => r.kind === 'teacher-forced');
    expect(fp16.text).toMatchObject({ positions: 2, dnll: 0, top1Agreement: 1, cases: 1 });
    expect(fp16.retrieval).toMatchObject({ positions: 8, dnll: 0, top1Agreement: 1, cases: 1 });
    expect(fp16.keptFraction).toBe(1);
    // 2-bit keys and values change the logits; the policy evicts below the tokens seen.
    expect(kivi2.text.dnll).not.toBe(0);
    expect(kivi2.keptFraction).toBe(1);
    expect(zigzag.keptFraction).toBeLessThan(1);
    for (const row of [kivi2, zigzag]) {
      expect(row.text.fp16Accuracy).toBe(fp16.text.accuracy);
      expect(row.retrieval.fp16Accuracy).toBe(fp16.retrieval.accuracy);
    }
    const greedy = rows.filter((r): r is GreedyRow => r.kind === 'greedy');
    expect(greedy[0]).toMatchObject({ agreement: 1, meanFirstDivergence: 4, minFirstDivergence: 4, prompts: 1 });
    for (const row of greedy) expect(row.agreement).toBeGreaterThanOrEqual(0);
  });

  it('reports every row as skipped once the deadline has passed', async () => {
    const { device, weights } = await setup();
    const rows: QualityRow[] = [];
    await measureQuality(device, { cfg: TINY, weights }, DATA, { ...OPTIONS, configs: ['fp16', 'kivi2'], deadline: 0 }, (row) => rows.push(row));
    weights.destroy();
    device.destroy();
    expect(rows.map((r) => (r.kind === 'skipped' ? `${r.config}@${r.context}:${r.task}` : r.kind))).toEqual([
      `fp16@${CONTEXT}:teacher-forced`, `kivi2@${CONTEXT}:teacher-forced`, 'fp16@40:greedy', 'kivi2@40:greedy',
    ]);
  });
});
