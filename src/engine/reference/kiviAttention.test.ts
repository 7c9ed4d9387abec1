import { describe, expect, it } from 'vitest';
import { attention, kvAppendF16, newF16Cache, type AttentionShape, type F16Cache } from './kernels';
import { kiviAttention, type KeptTokens } from './kiviAttention';

const shape: AttentionShape = { numHeads: 4, numKvHeads: 2, headDim: 8 };
const stride = (shape.numHeads + 2 * shape.numKvHeads) * shape.headDim;

/** Deterministic qkv rows [T, (H + 2 KV) D]. */
function qkvRows(numTokens: number, phase: number): Float32Array {
  return Float32Array.from({ length: numTokens * stride }, (_, i) => Math.sin(i * 0.37 + phase) * 2);
}

/** The first `count` tokens of an fp16 cache as kept tokens. */
function kept(cache: F16Cache, count: number): KeptTokens {
  const tokens = (heads: Float32Array[], h: number) => Array.from({ length: count }, (_, j) => heads[h].slice(j * shape.headDim, (j + 1) * shape.headDim));
  return { keptKeys: (h) => tokens(cache.keys, h), keptValues: (h) => tokens(cache.values, h) };
}

describe('kiviAttention', () => {
  // 4 earlier tokens, then a chunk of 3: the chunk's tokens are the last 3 kept.
  const cache = newF16Cache(shape, 7);
  kvAppendF16(cache, qkvRows(4, 0), 0, shape);
  const chunk = qkvRows(3, 1);
  kvAppendF16(cache, chunk, 4, shape);

  it('equals the fp16 attention over the same tokens, causal within the chunk', () => {
    const want = attention(chunk, cache, 4, shape);
    const got = kiviAttention(chunk, kept(cache, 7), shape);
    got.forEach((x, i) => expect(x).toBeCloseTo(want[i], 6));
  });

  it('lets no query see a token after its own', () => {
    const before = kiviAttention(chunk, kept(cache, 7), shape);
    cache.values.forEach((head) => head.fill(100, 6 * shape.headDim));
    const after = kiviAttention(chunk, kept(cache, 7), shape);
    const perToken = shape.numHeads * shape.headDim;
    expect(after.subarray(0, 2 * perToken)).toEqual(before.subarray(0, 2 * perToken));
    expect(after.subarray(2 * perToken)).not.toEqual(before.subarray(2 * perToken));
  });
});
