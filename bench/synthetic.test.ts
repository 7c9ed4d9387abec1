// Synthetic weights must be a complete, well-formed q4f16_1 model whose activations stay finite:
// checked on a scaled-down Llama-3.2-1B shape through the CPU reference forward pass.
import { describe, expect, it } from 'vitest';
import type { TensorData, WeightMap } from '../src/engine/model/types';
import { ReferenceModel } from '../src/engine/reference/forward';
import { LLAMA_3_2_1B, QWEN2_5_0_5B, syntheticWeights } from './synthetic';

const SMALL = { ...LLAMA_3_2_1B, hiddenSize: 128, intermediateSize: 256, numLayers: 4, numHeads: 4, numKvHeads: 2, headDim: 32, vocabSize: 256 };

describe('syntheticWeights', () => {
  it('gives every tensor the reference model reads, with sizes matching their shapes', () => {
    const weights: WeightMap = new Map();
    syntheticWeights(SMALL, (t) => weights.set(t.name, t));
    const bytesPer: Record<TensorData['dtype'], number> = { uint32: 4, float16: 2, float32: 4 };
    for (const t of weights.values()) expect(t.bytes.byteLength, t.name).toBe(t.shape.reduce((a, b) => a * b) * bytesPer[t.dtype]);
    expect(weights.get('model.embed_tokens.q_weight')?.shape).toEqual([256, 128 / 8]);
    expect(weights.get('model.layers.3.mlp.down_proj.q_scale')?.shape).toEqual([128, 256 / 32]);
    expect(weights.has('lm_head.q_weight')).toBe(false);

    const logits = new ReferenceModel(SMALL, weights).forward([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(logits.every(Number.isFinite)).toBe(true);
    expect(Math.max(...logits) - Math.min(...logits)).toBeGreaterThan(0);
  });

  it('gives a qwen2 shape its fused c_attn projection with a bias, and finite logits', () => {
    const small = { ...QWEN2_5_0_5B, hiddenSize: 128, intermediateSize: 256, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 32, vocabSize: 256 };
    const weights: WeightMap = new Map();
    syntheticWeights(small, (t) => weights.set(t.name, t));
    expect(weights.get('model.layers.1.self_attn.c_attn.q_weight')?.shape).toEqual([(4 + 2 * 2) * 32, 128 / 8]);
    expect(weights.get('model.layers.1.self_attn.c_attn.bias')?.shape).toEqual([(4 + 2 * 2) * 32]);
    expect(new ReferenceModel(small, weights).forward([1, 2, 3, 4]).every(Number.isFinite)).toBe(true);
  });

  it('is deterministic per seed', () => {
    const firstCodes = (seed: number) => {
      let codes: Uint8Array | undefined;
      syntheticWeights(SMALL, (t) => (codes ??= t.bytes.slice(0, 64)), seed);
      return Array.from(codes!);
    };
    expect(firstCodes(7)).toEqual(firstCodes(7));
    expect(firstCodes(7)).not.toEqual(firstCodes(8));
  });
});
