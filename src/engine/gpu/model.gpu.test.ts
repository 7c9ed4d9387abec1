// The whole forward pass on the GPU against the CPU reference, for every generated fixture model:
// a 48-token prompt (two prefill chunks of the fixtures' 32) and then 16 greedy decode steps.
import { describe, expect, it } from 'vitest';
import { loadModel } from '../model/loader';
import type { WeightMap } from '../model/types';
import { ReferenceModel } from '../reference/forward';
import { sampleArgmax } from '../reference/kernels';
import { acquireGpu } from './device';
import { GpuModel } from './model';
import { WeightStore } from './weights';

// f32 accumulation on the GPU vs f64 on the CPU, the same f16 rounding of cached keys/values on
// both sides: what is left is accumulation-order noise, far below this bar (the bar).
const LOGIT_TOLERANCE = 1e-3; // max |gpu - ref| / (max ref - min ref)
const PROMPT_TOKENS = 48;
const DECODE_STEPS = 16;

const FIXTURES = ['llama-q4f16', 'qwen2-q4f32', 'llama-q0f32', 'llama-d64-q4f16'];

/** A fixed prompt per fixture (deterministic, so the greedy comparison cannot meet a random near-tie). */
function prompt(vocab: number, seed: number): number[] {
  let state = seed;
  return Array.from({ length: PROMPT_TOKENS }, () => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state % vocab;
  });
}

function relativeError(gpu: Float32Array, ref: Float32Array): number {
  let maxErr = 0;
  let [lo, hi] = [Infinity, -Infinity];
  for (let i = 0; i < ref.length; i++) {
    maxErr = Math.max(maxErr, Math.abs(gpu[i] - ref[i]));
    lo = Math.min(lo, ref[i]);
    hi = Math.max(hi, ref[i]);
  }
  return Number.isNaN(gpu.reduce((a, b) => a + b, 0)) ? Infinity : maxErr / (hi - lo);
}

describe('GpuModel forward vs the CPU reference', () => {
  it.each(FIXTURES)('%s: prompt logits, then 16 greedy steps with identical tokens', async (fixture) => {
    const { device } = await acquireGpu();
    const store = new WeightStore(device);
    const weights: WeightMap = new Map();
    const loaded = await loadModel(`/fixtures/${fixture}/`, (t) => {
      weights.set(t.name, t);
      store.upload(t);
    }, { cacheName: null });
    const cfg = loaded.config;
    const gpu = new GpuModel(device, cfg, store, 128);
    const ref = new ReferenceModel(cfg, weights);

    const tokens = prompt(cfg.vocabSize, fixture.length * 7919);
    gpu.forward(tokens);
    let refLogits = ref.forward(tokens);
    const errors = [relativeError(await gpu.readLogits(), refLogits)];
    const gpuTokens: number[] = [];
    const refTokens: number[] = [];
    for (let step = 0; step < DECODE_STEPS; step++) {
      const token = await gpu.sample({ kind: 'greedy', repetitionPenalty: 1 }, []);
      gpuTokens.push(token);
      refTokens.push(sampleArgmax(refLogits));
      gpu.forward([token]);
      refLogits = ref.forward([token]);
      errors.push(relativeError(await gpu.readLogits(), refLogits));
    }
    // The fused decode step (forward + sampling in one submit) agrees too.
    const lastStep = await gpu.step(gpuTokens[DECODE_STEPS - 1], { kind: 'greedy', repetitionPenalty: 1 }, []);
    ref.forward([gpuTokens[DECODE_STEPS - 1]]);
    gpu.destroy();
    device.destroy();

    expect(gpuTokens).toEqual(refTokens);
    expect(lastStep).toBe(sampleArgmax(refLogits));
    expect(Math.max(...errors), `relative logit errors per step: ${errors.map((e) => e.toExponential(1)).join(' ')}`).toBeLessThan(LOGIT_TOLERANCE);
  });
});
