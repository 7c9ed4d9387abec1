// sample_penalty.wgsl, sample_argmax.wgsl and sample_top_p.wgsl against their references.
import { describe, expect, it } from 'vitest';
import { samplePenalty, sampleArgmax, sampleTopP } from '../../reference/kernels';
import { Rng, expectClose, poisoned, readF32, readU32, relativeBounds, requireDevice, runKernel, storage, uniform } from '../testing';

// WGSL's f32 division is within 2.5 ulps (multiplication is exact-rounded): 2.5 * 2^-23 relative.
const PENALTY_REL = 3e-7;
// p_i = exp((l_i - max) / T): WGSL's exp is within 3 + 2|x| ulps; |x| <= ~40 here, so <= 83 ulps
// (1e-5 relative), doubled for margin.
const PROBS_REL = 2e-5;
// theta converges onto the smallest kept p from below, to within the bisection's 2^-32 step (and an
// f32 ulp); the GPU's p differs from the reference's by the exp error above.
const THETA_REL = 1e-5;
const THETA_ABS = 2 ** -31;

describe('sample_penalty', () => {
  it('divides positive and multiplies non-positive logits of the seen tokens, leaves the others', async () => {
    const ctx = await requireDevice();
    const rng = new Rng();
    const vocab = 500;
    const logits = rng.normals(vocab, 5);
    logits[7] = 0;
    // 70 distinct seen tokens (two workgroups), token 7 with logit 0 among them.
    const seen = Uint32Array.from(new Set([7, ...Array.from({ length: 200 }, () => rng.int(vocab))]));
    const seenTokens = seen.slice(0, 70);
    const penalty = Math.fround(1.3);
    const params = new ArrayBuffer(8);
    new Uint32Array(params, 0, 1)[0] = seenTokens.length;
    new Float32Array(params, 4, 1)[0] = penalty;

    const buffer = storage(ctx, logits, 'logits');
    await runKernel(ctx, 'sample_penalty', {}, [buffer, storage(ctx, seenTokens), uniform(ctx, params)], [Math.ceil(seenTokens.length / 64)]);

    const expected = logits.slice();
    samplePenalty(expected, seenTokens, penalty);
    expectClose(await readF32(ctx, buffer), expected, relativeBounds(expected, PENALTY_REL), 'sample_penalty', rng);
  });
});

describe('sample_argmax', () => {
  it.each([
    { vocab: 1003, ties: [517, 300, 556, 301, 1002] },
    { vocab: 100, ties: [99, 42] },
    { vocab: 777, ties: [0, 256, 512] },
    { vocab: 300, ties: [] },
    // Several rounds of 8 x 256 logits: ties within a round (2348, 2604) and across rounds (4653, 2604).
    { vocab: 5000, ties: [4653, 2604, 2348 + 2048, 2348] },
  ])('vocab $vocab, maximum at $ties: the lowest index wins', async ({ vocab, ties }) => {
    const ctx = await requireDevice();
    const rng = new Rng();
    const logits = rng.normals(vocab, 3);
    // Ties within one invocation's stride (300, 556) and across invocations (300, 301).
    for (const i of ties) logits[i] = 20;

    const token = poisoned(ctx, 1, 'token');
    await runKernel(ctx, 'sample_argmax', { VOCAB: vocab }, [storage(ctx, logits), token], [1]);

    const expected = sampleArgmax(logits);
    if (ties.length > 0) expect(expected, 'the reference breaks ties to the lowest index').toBe(Math.min(...ties));
    expect((await readU32(ctx, token))[0], `sample_argmax (seed ${rng.seed})`).toBe(expected);
  });
});

/** Unnormalised probabilities in f64, as the reference computes them. */
function unnormalised(logits: Float32Array, temperature: number): Float64Array {
  const max = Math.max(...logits);
  return Float64Array.from(logits, (l) => Math.exp((l - max) / temperature));
}

/** A top-p halfway between the mass of the `size - 1` and `size` most likely tokens, so the nucleus
 *  holds `size` tokens and the boundary is far from anything the GPU's rounding could cross. */
function topPForNucleus(probs: Float64Array, size: number): number {
  const sorted = Float64Array.from(probs).sort().reverse();
  const total = sorted.reduce((a, b) => a + b, 0);
  const massOfTop = (n: number) => sorted.subarray(0, n).reduce((a, b) => a + b, 0);
  return Math.fround((massOfTop(size - 1) + massOfTop(size)) / 2 / total);
}

/** Draws u in the middle of nucleus tokens' inverse-CDF intervals (walked in index order), far from
 *  any boundary: u = 0, the first, middle and last nucleus tokens, and the least likely one (drawn
 *  only if the GPU's threshold keeps it). */
function drawsInsideNucleus(probs: Float64Array, nucleus: number[]): number[] {
  const mass = nucleus.reduce((acc, i) => acc + probs[i], 0);
  const least = nucleus.reduce((a, b) => (probs[b] < probs[a] ? b : a));
  const middleOf = (position: number) => {
    const before = nucleus.slice(0, position).reduce((acc, i) => acc + probs[i], 0);
    return Math.fround((before + probs[nucleus[position]] / 2) / mass);
  };
  return [0, ...[0, nucleus.length >> 1, nucleus.length - 1, nucleus.indexOf(least)].map(middleOf)];
}

describe('sample_top_p', () => {
  it.each([
    { vocab: 1000, temperature: 0.7, size: 5 },
    { vocab: 311, temperature: 1.3, size: 40 },
    { vocab: 2048, temperature: 1, size: 1 },
    { vocab: 150, temperature: 2, size: 149 },
  ])('vocab $vocab, temperature $temperature, nucleus of $size', async ({ vocab, temperature, size }) => {
    const ctx = await requireDevice();
    const rng = new Rng();
    const logits = rng.normals(vocab, 3);
    const probs = unnormalised(logits, temperature);
    const topP = topPForNucleus(probs, size);
    const { theta } = sampleTopP(logits, temperature, topP, 0);
    const nucleus = [...probs.keys()].filter((i) => probs[i] >= theta);
    expect(nucleus.length, `reference nucleus (seed ${rng.seed})`).toBe(size);

    let gpuProbs: Float32Array = new Float32Array(0);
    for (const u of drawsInsideNucleus(probs, nucleus)) {
      const probsBuffer = poisoned(ctx, vocab, 'probs');
      const token = poisoned(ctx, 1, 'token');
      await runKernel(ctx, 'sample_top_p', { VOCAB: vocab }, [storage(ctx, logits), probsBuffer, token, uniform(ctx, Float32Array.of(temperature, topP, u, 0))], [1]);

      gpuProbs = await readF32(ctx, probsBuffer);
      expectClose(gpuProbs, probs, relativeBounds(probs, PROBS_REL), `sample_top_p probs, u=${u}`, rng);
      expect((await readU32(ctx, token))[0], `sample_top_p token, topP ${topP}, u ${u} (seed ${rng.seed})`).toBe(sampleTopP(logits, temperature, topP, u).token);
    }
    // The kernel keeps theta to itself; its nucleus shows in the tokens above. The reference's theta
    // must sit where the GPU's bisection converges: just below the smallest kept GPU probability.
    const smallestKept = Math.min(...nucleus.map((i) => gpuProbs[i]));
    expectClose([theta], [smallestKept], THETA_REL * smallestKept + THETA_ABS, 'sample_top_p theta vs smallest kept p', rng);
  });
});
