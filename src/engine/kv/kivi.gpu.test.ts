// KIVI in the whole model: the GPU forward pass with a 2- or 4-bit cache against the CPU reference
// running the same cache (reference/kiviCache.ts + kiviAttention.ts), and against fp16 while the
// residual still holds every token.
import { describe, expect, it } from 'vitest';
import type { EngineStats } from '../api';
import { createEngine } from '../engine';
import { acquireGpu } from '../gpu/device';
import { GpuModel } from '../gpu/model';
import { WeightStore } from '../gpu/weights';
import { loadModel } from '../model/loader';
import type { WeightMap } from '../model/types';
import { ReferenceModel } from '../reference/forward';
import { sampleArgmax } from '../reference/kernels';
import { KIVI2, type KvSettings } from './settings';

// The GPU and CPU quantize the same f16 keys/values into bit-identical codes (kernel tests), so
// what is left is f32-vs-f64 accumulation noise, as in the fp16 model test.
const LOGIT_TOLERANCE = 1e-3; // max |gpu - ref| / logit range
// Against fp16 while nothing is quantized yet: two attention kernels, the same math.
const RESIDUAL_ONLY_TOLERANCE = 1e-4;
const FIXTURE = '/fixtures/llama-d64-q4f16/';
const CAPACITY = 256;

async function load() {
  const { device } = await acquireGpu();
  const store = new WeightStore(device);
  const weights: WeightMap = new Map();
  const { config } = await loadModel(FIXTURE, (t) => {
    weights.set(t.name, t);
    store.upload(t);
  }, { cacheName: null });
  return { device, store, weights, config };
}

function prompt(length: number, vocab: number): number[] {
  let state = 20261125;
  return Array.from({ length }, () => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state % vocab;
  });
}

function relativeError(gpu: Float32Array, ref: Float32Array): number {
  let maxErr = 0;
  let [lo, hi] = [Infinity, -Infinity];
  ref.forEach((r, i) => {
    maxErr = Math.max(maxErr, Number.isNaN(gpu[i]) ? Infinity : Math.abs(gpu[i] - r));
    [lo, hi] = [Math.min(lo, r), Math.max(hi, r)];
  });
  return maxErr / (hi - lo);
}

describe('KIVI cache in the forward pass', () => {
  const cases: [string, KvSettings, number][] = [
    ['KIVI-2, G=32, R=32: blocks flushed during prefill and decode', { ...KIVI2, residualLength: 32 }, 100],
    ['KIVI-4 keys / KIVI-2 values, G=64, R=0: every full block quantized', { ...KIVI2, keyBits: 4, valueBits: 2, groupSize: 64, residualLength: 0 }, 70],
  ];

  it.each(cases)('%s: logits match the CPU reference and greedy tokens are identical', async (_, kv, promptLength) => {
    const { device, store, weights, config } = await load();
    const gpu = new GpuModel(device, config, store, CAPACITY, kv);
    const ref = new ReferenceModel(config, weights, kv, CAPACITY);
    const tokens = prompt(promptLength, config.vocabSize);
    gpu.forward(tokens);
    let refLogits = ref.forward(tokens);
    const errors = [relativeError(await gpu.readLogits(), refLogits)];
    const gpuTokens: number[] = [];
    const refTokens: number[] = [];
    for (let step = 0; step < 40; step++) {
      gpuTokens.push(await gpu.sample({ kind: 'greedy', repetitionPenalty: 1 }, []));
      refTokens.push(sampleArgmax(refLogits));
      gpu.forward([gpuTokens[step]]);
      refLogits = ref.forward([gpuTokens[step]]);
      errors.push(relativeError(await gpu.readLogits(), refLogits));
    }
    const bytes = gpu.kvBytes();
    gpu.destroy();
    device.destroy();

    expect(gpuTokens).toEqual(refTokens);
    expect(Math.max(...errors), `relative logit errors: ${errors.map((e) => e.toExponential(1)).join(' ')}`).toBeLessThan(LOGIT_TOLERANCE);
    expect(bytes.perLayer[0].used.codes).toBeGreaterThan(0);
  });

  it('matches the fp16 cache while the residual still holds every token', async () => {
    const { device, store, config } = await load();
    const fp16 = new GpuModel(device, config, store, CAPACITY);
    const kivi = new GpuModel(device, config, store, CAPACITY, KIVI2);
    const tokens = prompt(60, config.vocabSize);
    fp16.forward(tokens);
    kivi.forward(tokens);
    const errors = [relativeError(await kivi.readLogits(), await fp16.readLogits())];
    for (let step = 0; step < 8; step++) {
      const token = await fp16.sample({ kind: 'greedy', repetitionPenalty: 1 }, []);
      fp16.forward([token]);
      kivi.forward([token]);
      errors.push(relativeError(await kivi.readLogits(), await fp16.readLogits()));
    }
    expect(kivi.kvBytes().perLayer[0].used.codes).toBe(0);
    device.destroy();
    expect(Math.max(...errors)).toBeLessThan(RESIDUAL_ONLY_TOLERANCE);
  });
});

describe('engine with a KIVI cache', () => {
  it('chats with KIVI-2, reports compressed bytes, and switches settings between replies', async () => {
    const engine = await createEngine(FIXTURE, { cacheName: null, contextLength: CAPACITY, kv: { ...KIVI2, residualLength: 32 } });
    const chat = async (content: string) => {
      let text = '';
      for await (const chunk of engine.chat.completions.create({ messages: [{ role: 'user', content }], max_tokens: 24, temperature: 0 })) {
        text += chunk.choices[0]?.delta.content ?? '';
      }
      return text;
    };
    const ratio = (s: EngineStats) => s.kvBytesUsed / s.kvBytesFp16Equivalent;
    await chat('Tell me about the weather in the city, and then about the park near the river.');
    const kivi = engine.stats();
    expect(kivi.kvSettings.keyBits).toBe(2);
    expect(kivi.kvTokens).toBeGreaterThan(64);
    expect(kivi.kvLayers[0].used.codes).toBeGreaterThan(0);
    expect(ratio(kivi)).toBeLessThan(1);

    expect(() => engine.setKvSettings({ groupSize: 128, residualLength: 128 })).toThrow(/head dimension \(64\)/);
    engine.setKvSettings({ keyBits: 16, valueBits: 16 });
    expect(engine.stats().kvTokens).toBe(0);
    await chat('Tell me about the weather in the city, and then about the park near the river.');
    const fp16 = engine.stats();
    expect(fp16.kvLayers[0].used.codes).toBe(0);
    expect(ratio(fp16)).toBe(1);
    await engine.unload();
  });
});
