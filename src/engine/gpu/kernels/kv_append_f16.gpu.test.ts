// kv_append_f16.wgsl against reference `kvAppendF16`: a prefill chunk at startPos > 0, then one
// decode token after it, into the same cache buffers.
import { describe, it } from 'vitest';
import { kvAppendF16, newF16Cache, type AttentionShape, type F16Cache } from '../../reference/kernels';
import { POISON, Rng, batchUniform, expectBitExact, packHalves, readU32, requireDevice, runKernel, storage, type GpuTestContext } from '../testing';

// Values reach the cache through pack2x16float, which must round to nearest even exactly as the
// reference does: the cache words are compared bit for bit (tolerance: none).

/** f32 values whose f16 rounding is easy to get wrong: ties (to even, up and down), the subnormal
 *  range and its tie, the largest finite f16 and values rounding to it, signed zero. */
const ROUNDING_CASES = [
  1 + 2 ** -11, 1 + 3 * 2 ** -11, -(1 + 2 ** -11), 1 + 2 ** -11 + 2 ** -20, 2048 + 1, 2048 + 3,
  2 ** -25, 3 * 2 ** -25, 2 ** -24 + 2 ** -26, 3e-6, -5.9e-5, 2 ** -14 - 2 ** -25, 1e-9,
  65504, 65519, -65519.99, 0, -0, 0.1, -0.3333333,
];

/** The cache as the kernel lays it out: [NUM_KV_HEADS, MAX_SEQ, HEAD_DIM / 2] words, with slots
 *  the appends never wrote left at POISON. */
function cacheWords(heads: Float32Array[], written: (slot: number) => boolean, maxSeq: number, headDim: number): Uint32Array {
  const words = new Uint32Array(heads.length * maxSeq * (headDim / 2)).fill(POISON);
  heads.forEach((head, h) => {
    for (let slot = 0; slot < maxSeq; slot++) {
      if (written(slot)) words.set(packHalves(head.subarray(slot * headDim, (slot + 1) * headDim)), (h * maxSeq + slot) * (headDim / 2));
    }
  });
  return words;
}

async function append(ctx: GpuTestContext, shape: AttentionShape, maxSeq: number, buffers: GPUBuffer[], qkv: Float32Array, startPos: number, numTokens: number): Promise<void> {
  const { numHeads, numKvHeads, headDim } = shape;
  await runKernel(
    ctx,
    'kv_append_f16',
    { HEAD_DIM: headDim, NUM_HEADS: numHeads, NUM_KV_HEADS: numKvHeads, MAX_SEQ: maxSeq },
    [storage(ctx, qkv, 'qkv'), ...buffers, batchUniform(ctx, { numTokens, startPos })],
    [Math.ceil((numKvHeads * headDim) / 2 / 64), numTokens],
  );
}

describe('kv_append_f16', () => {
  it.each([
    { numHeads: 6, numKvHeads: 3, headDim: 48, maxSeq: 20, startPos: 5, numTokens: 6 },
    { numHeads: 4, numKvHeads: 1, headDim: 64, maxSeq: 16, startPos: 1, numTokens: 9 },
  ])('H=$numHeads KV=$numKvHeads D=$headDim: T=$numTokens at $startPos, then one token', async ({ maxSeq, startPos, numTokens, ...shape }) => {
    const ctx = await requireDevice();
    const rng = new Rng();
    const stride = (shape.numHeads + 2 * shape.numKvHeads) * shape.headDim;
    const prefill = rng.normals(numTokens * stride, 4);
    // The first token's k and v heads carry the rounding cases.
    prefill.set(ROUNDING_CASES, shape.numHeads * shape.headDim);
    prefill.set(ROUNDING_CASES.map((v) => -v), (shape.numHeads + shape.numKvHeads) * shape.headDim);
    const decode = rng.normals(stride, 4);
    const decodePos = startPos + numTokens;

    const keys = storage(ctx, new Uint32Array(shape.numKvHeads * maxSeq * (shape.headDim / 2)).fill(POISON), 'keys');
    const values = storage(ctx, new Uint32Array(shape.numKvHeads * maxSeq * (shape.headDim / 2)).fill(POISON), 'values');
    await append(ctx, shape, maxSeq, [keys, values], prefill, startPos, numTokens);
    await append(ctx, shape, maxSeq, [keys, values], decode, decodePos, 1);

    const cache: F16Cache = newF16Cache(shape, maxSeq);
    kvAppendF16(cache, prefill, startPos, shape);
    kvAppendF16(cache, decode, decodePos, shape);
    const written = (slot: number) => slot >= startPos && slot <= decodePos;
    expectBitExact(await readU32(ctx, keys), cacheWords(cache.keys, written, maxSeq, shape.headDim), 'kv_append_f16 keys', rng);
    expectBitExact(await readU32(ctx, values), cacheWords(cache.values, written, maxSeq, shape.headDim), 'kv_append_f16 values', rng);
  });
});
