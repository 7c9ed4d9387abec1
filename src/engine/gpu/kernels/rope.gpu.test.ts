// rope.wgsl against reference `rope`, with plain and Llama-3-scaled inverse frequencies from
// ropeInvFreq, at the start of a sequence and further in.
import { describe, it } from 'vitest';
import { ropeInvFreq } from '../../model/layout';
import type { Llama3RopeScaling, ModelConfig } from '../../model/types';
import { rope, type AttentionShape } from '../../reference/kernels';
import { Rng, batchUniform, expectClose, readF32, requireDevice, runKernel, storage } from '../testing';

// Both sides rotate by the same f32 angle (pos * invFreq rounded to f32); they differ only in cos
// and sin, exact on the CPU and approximations on the GPU, so the error of a rotated value scales
// with its pair's magnitude |x_i| + |x_{i+D/2}|. Value heads must come back untouched.
const ROPE_REL = 1e-5; // of |x_i| + |x_{i+D/2}|

const LLAMA3_SCALING: Llama3RopeScaling = { factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 };

/** The config fields ropeInvFreq reads, on an otherwise minimal Llama config. */
function ropeConfig(headDim: number, ropeTheta: number, ropeScaling: Llama3RopeScaling | null): ModelConfig {
  return {
    architecture: 'llama', quantization: 'q0f32', hiddenSize: 0, intermediateSize: 0, numLayers: 0, numHeads: 0, numKvHeads: 0,
    headDim, vocabSize: 0, rmsNormEps: 1e-5, ropeTheta, ropeScaling, qkvBias: false, tieWordEmbeddings: false,
    contextWindowSize: 0, prefillChunkSize: 0, bosTokenId: null, stopTokenIds: [],
    convTemplate: { name: '', system_template: '', system_message: '', roles: {}, seps: [], stop_str: [], stop_token_ids: [] },
    temperature: 1, topP: 1, repetitionPenalty: 1,
  };
}

/** Per-element bounds: ROPE_REL of the pair magnitude for q and k heads, 0 for v heads. */
function ropeBounds(qkv: Float32Array, shape: AttentionShape): Float64Array {
  const { numHeads, numKvHeads, headDim } = shape;
  const stride = (numHeads + 2 * numKvHeads) * headDim;
  const half = headDim / 2;
  const bounds = new Float64Array(qkv.length);
  for (let t = 0; t < qkv.length / stride; t++) {
    for (let head = 0; head < numHeads + numKvHeads; head++) {
      const base = t * stride + head * headDim;
      for (let i = 0; i < half; i++) {
        bounds[base + i] = bounds[base + i + half] = ROPE_REL * (Math.abs(qkv[base + i]) + Math.abs(qkv[base + i + half]));
      }
    }
  }
  return bounds;
}

describe('rope', () => {
  it.each([
    { numHeads: 4, numKvHeads: 2, headDim: 64, numTokens: 5, startPos: 0, ropeTheta: 10000, scaling: null },
    { numHeads: 4, numKvHeads: 2, headDim: 64, numTokens: 7, startPos: 37, ropeTheta: 500000, scaling: LLAMA3_SCALING },
    { numHeads: 3, numKvHeads: 1, headDim: 32, numTokens: 1, startPos: 4000, ropeTheta: 500000, scaling: LLAMA3_SCALING },
    { numHeads: 2, numKvHeads: 2, headDim: 128, numTokens: 3, startPos: 1000, ropeTheta: 10000, scaling: null },
    // Near Llama 3's 128K context: angles up to 1.2e5 radians.
    { numHeads: 2, numKvHeads: 1, headDim: 64, numTokens: 2, startPos: 120000, ropeTheta: 500000, scaling: LLAMA3_SCALING },
  ])('H=$numHeads KV=$numKvHeads D=$headDim, T=$numTokens at $startPos, theta $ropeTheta, scaled: $scaling.factor', async ({ numHeads, numKvHeads, headDim, numTokens, startPos, ropeTheta, scaling }) => {
    const ctx = await requireDevice();
    const rng = new Rng();
    const shape = { numHeads, numKvHeads, headDim };
    const invFreq = ropeInvFreq(ropeConfig(headDim, ropeTheta, scaling));
    const input = rng.normals(numTokens * (numHeads + 2 * numKvHeads) * headDim, 2);

    const qkv = storage(ctx, input, 'qkv');
    await runKernel(ctx, 'rope', { HEAD_DIM: headDim, NUM_HEADS: numHeads, NUM_KV_HEADS: numKvHeads }, [qkv, storage(ctx, invFreq), batchUniform(ctx, { numTokens, startPos })], [Math.ceil(((numHeads + numKvHeads) * headDim) / 2 / 64), numTokens]);

    const expected = input.slice();
    rope(expected, startPos, invFreq, shape);
    expectClose(await readF32(ctx, qkv), expected, ropeBounds(input, shape), 'rope', rng);
  });
});
