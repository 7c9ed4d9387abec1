// Eviction in the whole model: zigzag on the fp16 and the KIVI cache keeps each layer within its
// budget after prefill and within budget + one block through decode, while the conversation grows
// past the cache's capacity; logits stay finite. SwiftShader makes every eviction event cost seconds,
// so these runs are short; the 4,000-step soak runs on the GPU machine (bench/zigzag.ts, --parts soak).
import { describe, expect, it } from 'vitest';
import { acquireGpu } from '../gpu/device';
import { GpuModel } from '../gpu/model';
import { WeightStore } from '../gpu/weights';
import { loadModel } from '../model/loader';
import type { ModelConfig } from '../model/types';
import { DEFAULT_KV_SETTINGS, KIVI2, type KvSettings } from './settings';

const FIXTURE = '/fixtures/llama-d64-q4f16/';
const CAPACITY = 160;
const BLOCK = 32;
const GREEDY = { kind: 'greedy', repetitionPenalty: 1 } as const;

async function load(): Promise<{ device: GPUDevice; store: WeightStore; config: ModelConfig }> {
  const { device } = await acquireGpu();
  const store = new WeightStore(device);
  const { config } = await loadModel(FIXTURE, (t) => store.upload(t), { cacheName: null });
  return { device, store, config };
}

function prompt(length: number, vocab: number): number[] {
  let state = 7;
  return Array.from({ length }, () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) % vocab);
}

function overBudget(model: GpuModel, slack: number): string[] {
  return model.kvBytes().perLayer.flatMap((l, i) => (l.keptTokens > l.budgetTokens + slack ? [`layer ${i}: ${l.keptTokens} kept, budget ${l.budgetTokens}`] : []));
}

describe('eviction in the forward pass', () => {
  const cases: [string, KvSettings][] = [
    ['fp16 + zigzag', { ...DEFAULT_KV_SETTINGS, policy: 'zigzag', budgetTokens: 96 }],
    ['KIVI-2 + zigzag', { ...KIVI2, residualLength: 32, policy: 'zigzag', budgetTokens: 96 }],
  ];

  it.each(cases)('%s: budgets hold through a prompt and decode steps past the capacity', async (_, kv) => {
    const { device, store, config } = await load();
    const model = new GpuModel(device, config, store, CAPACITY, kv);
    await model.prefill(prompt(150, config.vocabSize));
    const afterPrefill = overBudget(model, 0);
    const layers = model.kvBytes().perLayer;
    let token = await model.sample(GREEDY, []);
    const violations: string[] = [];
    for (let step = 0; step < 40; step++) {
      token = await model.step(token, GREEDY, []);
      violations.push(...overBudget(model, BLOCK).map((v) => `step ${step}: ${v}`));
    }
    const logits = await model.readLogits();
    const final = model.kvBytes();
    model.destroy();
    device.destroy();

    expect(afterPrefill).toEqual([]);
    expect(layers.every((l) => l.keptTokens < 150 && Number.isFinite(l.budgetTokens))).toBe(true);
    expect(violations).toEqual([]);
    expect(model.position).toBe(190);
    expect(final.used).toBeLessThan(final.fp16Equivalent);
    expect(logits.every(Number.isFinite)).toBe(true);
  });

  it('zigzag gives layers different budgets that add up to L * B_avg', async () => {
    const { device, store, config } = await load();
    const model = new GpuModel(device, config, store, CAPACITY, { ...DEFAULT_KV_SETTINGS, policy: 'zigzag', budgetTokens: 96 });
    await model.prefill(prompt(130, config.vocabSize));
    const budgets = model.kvBytes().perLayer.map((l) => l.budgetTokens);
    model.destroy();
    device.destroy();
    expect(budgets.reduce((a, b) => a + b, 0)).toBe(96 * config.numLayers);
    expect(budgets.every((b) => b % BLOCK === 0)).toBe(true);
  });

  it('none keeps every token and stops at the capacity', async () => {
    const { device, store, config } = await load();
    const model = new GpuModel(device, config, store, CAPACITY, DEFAULT_KV_SETTINGS);
    await model.prefill(prompt(150, config.vocabSize));
    expect(model.length).toBe(150);
    await expect(model.prefill(prompt(20, config.vocabSize))).rejects.toThrow(/context holds 160/);
    model.destroy();
    device.destroy();
  });
});
