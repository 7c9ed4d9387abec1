// Real model shapes with random q4f16_1 weights, built in memory and uploaded tensor by tensor: speed
// depends only on shapes, so benchmarks at Llama-3.2-1B size need no 700 MB download.
import { GROUP_SIZE, linearTensorNames, modelSpec, type LinearSpec } from '../src/engine/model/layout';
import type { ModelConfig, TensorData } from '../src/engine/model/types';
import { floatToHalf } from '../src/engine/reference/f16';
import { xorshift32 } from './random';

const NO_TEMPLATE: ModelConfig['convTemplate'] = {
  name: 'synthetic',
  system_template: '{system_message}',
  system_message: '',
  roles: { user: 'user', assistant: 'assistant' },
  seps: [''],
  stop_str: [],
  stop_token_ids: [],
};

/** meta-llama/Llama-3.2-1B-Instruct's shape as MLC ships it (q4f16_1, tied embeddings). */
export const LLAMA_3_2_1B: ModelConfig = {
  architecture: 'llama',
  quantization: 'q4f16_1',
  hiddenSize: 2048,
  intermediateSize: 8192,
  numLayers: 16,
  numHeads: 32,
  numKvHeads: 8,
  headDim: 64,
  vocabSize: 128256,
  rmsNormEps: 1e-5,
  ropeTheta: 500000,
  ropeScaling: { factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 },
  qkvBias: false,
  tieWordEmbeddings: true,
  contextWindowSize: 131072,
  // The chunk kvchat's prefill uses in the browser (DESIGN.md: 256-512 tokens).
  prefillChunkSize: 512,
  bosTokenId: 128000,
  stopTokenIds: [128001, 128008, 128009],
  convTemplate: NO_TEMPLATE,
  temperature: 0.6,
  topP: 0.9,
  repetitionPenalty: 1,
};

/** Qwen/Qwen2.5-0.5B-Instruct's shape as MLC ships it (q4f16_1, qkv bias, tied embeddings). */
export const QWEN2_5_0_5B: ModelConfig = {
  architecture: 'qwen2',
  quantization: 'q4f16_1',
  hiddenSize: 896,
  intermediateSize: 4864,
  numLayers: 24,
  numHeads: 14,
  numKvHeads: 2,
  headDim: 64,
  vocabSize: 151936,
  rmsNormEps: 1e-6,
  ropeTheta: 1000000,
  ropeScaling: null,
  qkvBias: true,
  tieWordEmbeddings: true,
  contextWindowSize: 32768,
  prefillChunkSize: 512,
  bosTokenId: 151643,
  stopTokenIds: [151645, 151643],
  convTemplate: NO_TEMPLATE,
  temperature: 0.7,
  topP: 0.8,
  repetitionPenalty: 1.05,
};

export const SYNTHETIC_MODELS: Record<string, ModelConfig> = { 'llama-3.2-1b': LLAMA_3_2_1B, 'qwen2.5-0.5b': QWEN2_5_0_5B };

/** Hands every tensor of a random q4f16_1 model of shape `cfg` to `upload`, one at a time so that
 *  at most one tensor's bytes live on the CPU. */
export function syntheticWeights(cfg: ModelConfig, upload: (t: TensorData) => void, seed = 1): void {
  if (cfg.quantization !== 'q4f16_1') throw new Error(`synthetic weights are q4f16_1 only, not ${cfg.quantization}`);
  const random = xorshift32(seed);
  const spec = modelSpec(cfg);
  const linear = (s: LinearSpec) => {
    const names = linearTensorNames(s, cfg.quantization);
    // Uniform codes 0..15 dequantize to (q - 7) * scale, std ~4.6 * scale; this scale keeps each
    // output's std near its input's, so activations stay finite through every layer.
    const scale = floatToHalf(1 / (4.6 * Math.sqrt(s.inDim)));
    const codes = new Uint32Array((s.outDim * s.inDim) / 8);
    for (let i = 0; i < codes.length; i++) codes[i] = random();
    upload({ name: names.weight, dtype: 'uint32', shape: [s.outDim, s.inDim / 8], bytes: new Uint8Array(codes.buffer) });
    const scales = new Uint16Array((s.outDim * s.inDim) / GROUP_SIZE).fill(scale);
    upload({ name: names.scale!, dtype: 'float16', shape: [s.outDim, s.inDim / GROUP_SIZE], bytes: new Uint8Array(scales.buffer) });
    if (s.bias) upload({ name: s.bias, dtype: 'float16', shape: [s.outDim], bytes: new Uint8Array(s.outDim * 2) });
  };
  const ones = (name: string) => {
    const weight = new Uint16Array(cfg.hiddenSize).fill(floatToHalf(1));
    upload({ name, dtype: 'float16', shape: [cfg.hiddenSize], bytes: new Uint8Array(weight.buffer) });
  };

  linear(spec.embed);
  for (const layer of spec.layers) {
    ones(layer.inputNorm);
    linear(layer.qkv);
    linear(layer.o);
    ones(layer.postNorm);
    linear(layer.gateUp);
    linear(layer.down);
  }
  ones(spec.finalNorm);
  if (!cfg.tieWordEmbeddings) linear(spec.lmHead);
}

