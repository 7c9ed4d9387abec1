// The shipped demo model (public/models/kvchat-demo, trained by scripts/train/) as the app loads
// it: its tokenizer keeps the chat template's special tokens whole, its q4f16_1 weights give the
// same logits on the GPU as on the CPU reference, and they are trained weights, not noise (asked
// for a definition in the chat template, the reply opens the way the training chats do). Short
// prompt, few steps: SwiftShader is slow.
import { Tokenizer } from '@mlc-ai/web-tokenizers';
import { describe, expect, it } from 'vitest';
import { acquireGpu } from '../gpu/device';
import { GpuModel } from '../gpu/model';
import { WeightStore } from '../gpu/weights';
import { ReferenceModel } from '../reference/forward';
import { sampleArgmax } from '../reference/kernels';
import { formatPrompt } from '../chat/template';
import { loadModel } from './loader';
import type { WeightMap } from './types';

const MODEL_URL = '/models/kvchat-demo/';
// As in the fixtures' GPU forward test: f32 accumulation on both sides, same f16 cache rounding.
const LOGIT_TOLERANCE = 1e-3; // max |gpu - ref| / (max ref - min ref)
const QUESTION = 'What does horse mean?';
// Training chats tokenize "<|end_header_id|>\n\nHorse" as "\n", "\n", "Horse" while a prompt that
// ends in "\n\n" gets one "\n\n" token, so the model's first token is often a newline.
const EXPECTED_REPLY = /^\s*Horse \((noun|transitive|intransitive)/;
const DECODE_STEPS = 5;
const SPECIAL_TOKENS = ['<|begin_of_text|>', '<|end_of_text|>', '<|start_header_id|>', '<|end_header_id|>', '<|eot_id|>'];

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

describe('kvchat-demo', () => {
  it('encodes the template tokens as the single ids its config names', async () => {
    const [tokenizerJson, config] = await Promise.all([
      fetch(`${MODEL_URL}tokenizer.json`).then((r) => r.arrayBuffer()),
      fetch(`${MODEL_URL}mlc-chat-config.json`).then((r) => r.json()),
    ]);
    const tokenizer = await Tokenizer.fromJSON(tokenizerJson);
    const ids = SPECIAL_TOKENS.map((token) => Array.from(tokenizer.encode(token)));
    expect(ids.every((single) => single.length === 1)).toBe(true);
    const conv = config.conv_template;
    expect(ids.flat()).toEqual(expect.arrayContaining([...conv.stop_token_ids, ...conv.system_prefix_token_ids, config.bos_token_id]));
    expect(tokenizer.getVocabSize()).toBe(config.vocab_size);
    const text = 'What does abdication mean?';
    expect(tokenizer.decode(tokenizer.encode(text))).toBe(text);
  });

  it('runs the q4f16_1 weights on the GPU as on the CPU reference, and answers in the template', async () => {
    const { device } = await acquireGpu();
    const store = new WeightStore(device);
    const weights: WeightMap = new Map();
    const loaded = await loadModel(MODEL_URL, (t) => {
      weights.set(t.name, t);
      store.upload(t);
    }, { cacheName: null });
    const cfg = loaded.config;
    expect(cfg.quantization).toBe('q4f16_1');
    const tokenizer = await Tokenizer.fromJSON(await fetch(`${MODEL_URL}tokenizer.json`).then((r) => r.arrayBuffer()));
    const gpu = new GpuModel(device, cfg, store, 64);
    const ref = new ReferenceModel(cfg, weights, undefined, 64);

    const prompt = formatPrompt(cfg.convTemplate, [{ role: 'user', content: QUESTION }]);
    const tokens = [...prompt.prefixTokenIds, ...tokenizer.encode(prompt.text)];
    gpu.forward(tokens);
    let refLogits = ref.forward(tokens);
    const errors = [relativeError(await gpu.readLogits(), refLogits)];
    const gpuTokens: number[] = [];
    const refTokens: number[] = [];
    for (let step = 0; step < DECODE_STEPS; step++) {
      gpuTokens.push(await gpu.sample({ kind: 'greedy', repetitionPenalty: 1 }, []));
      refTokens.push(sampleArgmax(refLogits));
      gpu.forward([gpuTokens[step]]);
      refLogits = ref.forward([gpuTokens[step]]);
      errors.push(relativeError(await gpu.readLogits(), refLogits));
    }
    gpu.destroy();
    device.destroy();

    expect(gpuTokens).toEqual(refTokens);
    expect(Math.max(...errors), `relative logit errors per step: ${errors.map((e) => e.toExponential(1)).join(' ')}`).toBeLessThan(LOGIT_TOLERANCE);
    expect(tokenizer.decode(Int32Array.from(refTokens))).toMatch(EXPECTED_REPLY);
  });
});
