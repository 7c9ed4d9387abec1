// attention_f16.wgsl followed by attention_reduce.wgsl against reference `attention`: GQA, decode
// over several 64-key tiles, causal prefill at startPos > 0, and split counts from 1 to more splits
// than keys (empty splits). attention_f16_decode.wgsl likewise: GQA 1 to 8, one split per 256 keys,
// surplus splits past the keys, and attention_reduce over hundreds of splits.
import { describe, it } from 'vitest';
import { roundToHalf } from '../../reference/f16';
import { attention, newF16Cache, type AttentionShape, type F16Cache } from '../../reference/kernels';
import { POISON, Rng, batchUniform, expectClose, packHalves, poisoned, readF32, requireDevice, runKernel, storage } from '../testing';

// Each output is a softmax-weighted mean of f16 values. Error sources: f32 dot products, WGSL's exp
// (3 + 2|x| ulps), f32 running sums and the split rescaling; all are a few f32 ulps of the weighted
// mean of |v|, which bounds the output. Bound: ATTENTION_REL * sum_j p_j |v_jc| / sum_j p_j.
const ATTENTION_REL = 1e-5;

interface Case extends AttentionShape {
  numTokens: number;
  startPos: number;
  numSplits: number;
}

const cases: Case[] = [
  // Decode, GQA 4, 151 keys = 3 tiles of 64.
  ...[1, 3, 200].map((numSplits) => ({ numHeads: 8, numKvHeads: 2, headDim: 64, numTokens: 1, startPos: 150, numSplits })),
  // Causal prefill, GQA 2, 7 queries at positions 9..15; 20 splits leave some empty.
  ...[1, 4, 20].map((numSplits) => ({ numHeads: 4, numKvHeads: 2, headDim: 32, numTokens: 7, startPos: 9, numSplits })),
  // Head sizes that use the second packed word per invocation (D > 128) or leave invocations idle.
  { numHeads: 2, numKvHeads: 1, headDim: 256, numTokens: 2, startPos: 70, numSplits: 2 },
  { numHeads: 3, numKvHeads: 3, headDim: 96, numTokens: 3, startPos: 0, numSplits: 1 },
];

/** An f16 cache (values pre-rounded) with slots 0..filled-1 drawn at random. */
function randomCache(rng: Rng, shape: AttentionShape, maxSeq: number, filled: number): F16Cache {
  const cache = newF16Cache(shape, maxSeq);
  for (const head of [...cache.keys, ...cache.values]) {
    for (let i = 0; i < filled * shape.headDim; i++) head[i] = roundToHalf(rng.normal());
  }
  return cache;
}

/** [NUM_KV_HEADS, MAX_SEQ, HEAD_DIM / 2] words; slots from `filled` on are POISON, so a kernel
 *  reading past its causal limit gets NaN. */
function cacheWords(heads: Float32Array[], maxSeq: number, filled: number, headDim: number): Uint32Array {
  const words = new Uint32Array(heads.length * maxSeq * (headDim / 2)).fill(POISON);
  heads.forEach((head, h) => words.set(packHalves(head.subarray(0, filled * headDim)), h * maxSeq * (headDim / 2)));
  return words;
}

describe('attention_f16 + attention_reduce', () => {
  it.each(cases)('H=$numHeads KV=$numKvHeads D=$headDim, T=$numTokens at $startPos, $numSplits splits', async ({ numTokens, startPos, numSplits, ...shape }) => {
    const ctx = await requireDevice();
    const rng = new Rng();
    const { numHeads, numKvHeads, headDim } = shape;
    const filled = startPos + numTokens;
    const maxSeq = filled + 5;
    const cache = randomCache(rng, shape, maxSeq, filled);
    const qkv = rng.normals(numTokens * (numHeads + 2 * numKvHeads) * headDim, 2);

    const partialAcc = poisoned(ctx, numTokens * numHeads * numSplits * headDim, 'partialAcc');
    const partialMl = poisoned(ctx, numTokens * numHeads * numSplits * 2, 'partialMl');
    const attnOut = poisoned(ctx, numTokens * numHeads * headDim, 'attnOut');
    const batch = batchUniform(ctx, { numTokens, startPos, numSplits });
    const keys = storage(ctx, cacheWords(cache.keys, maxSeq, filled, headDim), 'keys');
    const values = storage(ctx, cacheWords(cache.values, maxSeq, filled, headDim), 'values');
    await runKernel(ctx, 'attention_f16', { HEAD_DIM: headDim, NUM_HEADS: numHeads, NUM_KV_HEADS: numKvHeads, MAX_SEQ: maxSeq }, [storage(ctx, qkv), keys, values, partialAcc, partialMl, batch], [numSplits, numHeads, numTokens]);
    await runKernel(ctx, 'attention_reduce', { HEAD_DIM: headDim, NUM_HEADS: numHeads }, [partialAcc, partialMl, attnOut, batch], [numHeads, numTokens]);

    // The same softmax weights over |v| give the weighted mean magnitude each output is bounded by.
    const absValues: F16Cache = { keys: cache.keys, values: cache.values.map((head) => head.map(Math.abs)) };
    const bounds = Float64Array.from(attention(qkv, absValues, startPos, shape), (m) => ATTENTION_REL * m);
    expectClose(await readF32(ctx, attnOut), attention(qkv, cache, startPos, shape), bounds, 'attention', rng);
  });
});

interface DecodeCase extends AttentionShape {
  startPos: number;
  /** Splits beyond ceil(keys / 256): a layer that evicted holds fewer keys than the grid covers. */
  surplus: number;
}

const decodeCases: DecodeCase[] = [
  // GQA 4, 3 tiles, the last one partial.
  { numHeads: 8, numKvHeads: 2, headDim: 64, startPos: 600, surplus: 0 },
  // GQA 7 (Qwen2.5-0.5B) with head dim 128: two query quads; 2 surplus splits.
  { numHeads: 14, numKvHeads: 2, headDim: 128, startPos: 300, surplus: 2 },
  // GQA 8, one key; GQA 1 with a head dim that leaves value invocations idle (48 words: 5 parts).
  { numHeads: 8, numKvHeads: 1, headDim: 64, startPos: 0, surplus: 0 },
  { numHeads: 3, numKvHeads: 3, headDim: 96, startPos: 255, surplus: 1 },
  // 300 splits: attention_reduce's 256 invocations take two rounds of splits.
  { numHeads: 2, numKvHeads: 1, headDim: 32, startPos: 300 * 256 - 100, surplus: 0 },
];

describe('attention_f16_decode + attention_reduce', () => {
  it.each(decodeCases)('H=$numHeads KV=$numKvHeads D=$headDim at $startPos, $surplus surplus splits', async ({ startPos, surplus, ...shape }) => {
    const ctx = await requireDevice();
    const rng = new Rng();
    const { numHeads, numKvHeads, headDim } = shape;
    const filled = startPos + 1;
    const numSplits = Math.ceil(filled / 256) + surplus;
    const maxSeq = numSplits * 256 + 3;
    const cache = randomCache(rng, shape, maxSeq, filled);
    const qkv = rng.normals((numHeads + 2 * numKvHeads) * headDim, 2);

    const partialAcc = poisoned(ctx, numHeads * numSplits * headDim, 'partialAcc');
    const partialMl = poisoned(ctx, numHeads * numSplits * 2, 'partialMl');
    const attnOut = poisoned(ctx, numHeads * headDim, 'attnOut');
    const batch = batchUniform(ctx, { numTokens: 1, startPos, numSplits });
    const keys = storage(ctx, cacheWords(cache.keys, maxSeq, filled, headDim), 'keys');
    const values = storage(ctx, cacheWords(cache.values, maxSeq, filled, headDim), 'values');
    await runKernel(ctx, 'attention_f16_decode', { HEAD_DIM: headDim, NUM_HEADS: numHeads, NUM_KV_HEADS: numKvHeads, MAX_SEQ: maxSeq }, [storage(ctx, qkv), keys, values, partialAcc, partialMl, batch], [numSplits, numKvHeads]);
    await runKernel(ctx, 'attention_reduce', { HEAD_DIM: headDim, NUM_HEADS: numHeads }, [partialAcc, partialMl, attnOut, batch], [numHeads, 1]);

    const absValues: F16Cache = { keys: cache.keys, values: cache.values.map((head) => head.map(Math.abs)) };
    const bounds = Float64Array.from(attention(qkv, absValues, startPos, shape), (m) => ATTENTION_REL * m);
    expectClose(await readF32(ctx, attnOut), attention(qkv, cache, startPos, shape), bounds, 'attention_f16_decode', rng);
  });
});
