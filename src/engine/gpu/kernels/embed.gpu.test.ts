// embed_q4.wgsl and embed_dense.wgsl against reference `embed`.
import { describe, it } from 'vitest';
import { roundToHalf } from '../../reference/f16';
import { embed, type Linear } from '../../reference/kernels';
import { Rng, expectClose, packHalves, poisoned, readF32, requireDevice, runKernel, storage } from '../testing';

// A gather: each output is one table value, or (code - 7) * scale with a small integer code, which
// f32 represents exactly after the correctly rounded product. Nothing may differ.
const EXACT = 0;
const VOCAB = 50;

function tokenIds(rng: Rng, count: number): Uint32Array {
  // Repeats and the first and last rows on purpose.
  return Uint32Array.from({ length: count }, (_, t) => (t === 0 ? VOCAB - 1 : t === 1 ? 0 : rng.int(VOCAB)));
}

describe('embed_q4', () => {
  it.each([
    { scaleF16: true, hidden: 544, numTokens: 7 },
    { scaleF16: false, hidden: 96, numTokens: 3 },
  ])('SCALE_F16=$scaleF16, hidden $hidden, T=$numTokens', async ({ scaleF16, hidden, numTokens }) => {
    const ctx = await requireDevice();
    const rng = new Rng();
    const qWeight = rng.words((VOCAB * hidden) / 8);
    const scale = Float32Array.from(rng.uniforms((VOCAB * hidden) / 32, 1e-3, 0.1), (s) => (scaleF16 ? roundToHalf(s) : s));
    const table: Linear = { kind: 'q4', outDim: VOCAB, inDim: hidden, qWeight, scale, bias: null };
    const tokens = tokenIds(rng, numTokens);

    const out = poisoned(ctx, numTokens * hidden);
    const scaleWords = scaleF16 ? packHalves(scale) : scale;
    await runKernel(ctx, 'embed_q4', { HIDDEN: hidden, SCALE_F16: scaleF16 }, [storage(ctx, tokens), storage(ctx, qWeight), storage(ctx, scaleWords), out], [Math.ceil(hidden / 8 / 64), numTokens]);

    expectClose(await readF32(ctx, out), embed(table, tokens), EXACT, 'embed_q4', rng);
  });
});

describe('embed_dense', () => {
  it.each([
    { weightF16: false, hidden: 71, numTokens: 5 },
    { weightF16: true, hidden: 130, numTokens: 6 },
  ])('WEIGHT_F16=$weightF16, hidden $hidden, T=$numTokens', async ({ weightF16, hidden, numTokens }) => {
    const ctx = await requireDevice();
    const rng = new Rng();
    const weight = Float32Array.from(rng.normals(VOCAB * hidden), (w) => (weightF16 ? roundToHalf(w) : w));
    const table: Linear = { kind: 'dense', outDim: VOCAB, inDim: hidden, weight, bias: null };
    const tokens = tokenIds(rng, numTokens);

    const out = poisoned(ctx, numTokens * hidden);
    const tableWords = weightF16 ? packHalves(weight) : weight;
    await runKernel(ctx, 'embed_dense', { HIDDEN: hidden, WEIGHT_F16: weightF16 }, [storage(ctx, tokens), storage(ctx, tableWords), out], [Math.ceil(hidden / 64), numTokens]);

    expectClose(await readF32(ctx, out), embed(table, tokens), EXACT, 'embed_dense', rng);
  });
});
