// matmul_q4.wgsl and matmul_dense.wgsl against reference `matmul`, with the bias and residual-add
// variants, for decode (T=1) and prefill with a token count that is not a multiple of the kernels'
// 4-token tile; matmul_q4_gemv.wgsl (decode's kernel) likewise, over its ROWS x LANES tilings.
import { describe, it } from 'vitest';
import { roundToHalf } from '../../reference/f16';
import { matmul, weightAt, type Linear } from '../../reference/kernels';
import { Rng, batchUniform, expectClose, packHalves, poisoned, readF32, requireDevice, runKernel, storage, type GpuTestContext } from '../testing';

// The GPU sums in f32 (a lane's strided partial sums, then a 32-way tree), the reference in f64.
// Rounding error of such a sum is a few f32 ulps of sum |terms|, far below this relative factor.
const MATMUL_REL = 1e-5; // of sum_k |x_k w_nk| + |bias_n| + |y_n before|

interface Case {
  numTokens: number;
  outDim: number;
  inDim: number;
  hasBias: boolean;
  addToOutput: boolean;
}

/** Bounds MATMUL_REL * (sum_k |x w| + |bias| + |residual|) for every output of `lin`. */
function matmulBounds(x: Float32Array, lin: Linear, residual: Float32Array | null): Float64Array {
  const { inDim, outDim } = lin;
  const numTokens = x.length / inDim;
  const bounds = new Float64Array(numTokens * outDim);
  for (let t = 0; t < numTokens; t++) {
    for (let n = 0; n < outDim; n++) {
      let magnitude = Math.abs(lin.bias?.[n] ?? 0) + Math.abs(residual?.[t * outDim + n] ?? 0);
      for (let k = 0; k < inDim; k++) magnitude += Math.abs(x[t * inDim + k] * weightAt(lin, n, k));
      bounds[t * outDim + n] = MATMUL_REL * magnitude;
    }
  }
  return bounds;
}

/** Runs one matmul kernel on `x` and checks all of y: poisoned before, or random when the kernel
 *  adds to it. An unused bias binding is poisoned too, so reading it would show. */
async function checkMatmul(
  ctx: GpuTestContext,
  rng: Rng,
  c: Case,
  lin: Linear,
  kernel: 'matmul_q4' | 'matmul_q4_gemv' | 'matmul_dense',
  overrides: Record<string, number | boolean>,
  weightBuffers: GPUBuffer[],
  grid: [number, number, number] = [Math.ceil(c.outDim / 8), Math.ceil(c.numTokens / 4), 1],
): Promise<void> {
  const x = rng.normals(c.numTokens * c.inDim);
  const residual = c.addToOutput ? rng.normals(c.numTokens * c.outDim, 4) : null;
  const y = residual ? storage(ctx, residual, 'y') : poisoned(ctx, c.numTokens * c.outDim, 'y');
  const bias = lin.bias ? storage(ctx, lin.bias, 'bias') : poisoned(ctx, c.outDim, 'bias');
  await runKernel(
    ctx,
    kernel,
    { IN_DIM: c.inDim, OUT_DIM: c.outDim, HAS_BIAS: c.hasBias, ADD_TO_OUTPUT: c.addToOutput, ...overrides },
    [storage(ctx, x), ...weightBuffers, bias, y, batchUniform(ctx, { numTokens: c.numTokens })],
    grid,
  );
  const expected = matmul(x, lin);
  if (residual) expected.forEach((v, i) => (expected[i] = v + residual[i]));
  expectClose(await readF32(ctx, y), expected, matmulBounds(x, lin, residual), `${kernel} ${JSON.stringify({ ...c, ...overrides })}`, rng);
}

describe('matmul_q4', () => {
  it.each([
    { scaleF16: true, numTokens: 1, outDim: 37, inDim: 288, hasBias: false, addToOutput: false },
    { scaleF16: false, numTokens: 1, outDim: 64, inDim: 96, hasBias: true, addToOutput: true },
    { scaleF16: true, numTokens: 7, outDim: 75, inDim: 160, hasBias: true, addToOutput: false },
    { scaleF16: false, numTokens: 9, outDim: 19, inDim: 288, hasBias: false, addToOutput: true },
    { scaleF16: true, numTokens: 6, outDim: 40, inDim: 64, hasBias: true, addToOutput: true },
  ])('SCALE_F16=$scaleF16 HAS_BIAS=$hasBias ADD_TO_OUTPUT=$addToOutput, T=$numTokens, [$outDim, $inDim]', async ({ scaleF16, ...c }) => {
    const ctx = await requireDevice();
    const rng = new Rng();
    const { lin, buffers } = q4Linear(ctx, rng, c, scaleF16);
    await checkMatmul(ctx, rng, c, lin, 'matmul_q4', { SCALE_F16: scaleF16 }, buffers);
  });
});

/** Random q4 weights and scales for `c` (scales rounded to f16 when `scaleF16`), with the buffers the
 *  q4 kernels bind for them. */
function q4Linear(ctx: GpuTestContext, rng: Rng, c: Case, scaleF16: boolean): { lin: Linear; buffers: GPUBuffer[] } {
  const qWeight = rng.words((c.outDim * c.inDim) / 8);
  const scale = Float32Array.from(rng.uniforms((c.outDim * c.inDim) / 32, 1e-3, 0.1), (s) => (scaleF16 ? roundToHalf(s) : s));
  const bias = c.hasBias ? rng.normals(c.outDim) : null;
  const lin: Linear = { kind: 'q4', outDim: c.outDim, inDim: c.inDim, qWeight, scale, bias };
  return { lin, buffers: [storage(ctx, qWeight), storage(ctx, scaleF16 ? packHalves(scale) : scale)] };
}

describe('matmul_q4_gemv', () => {
  // gridX < the workgroups needed folds the rest into grid y (as model.ts does past 65535), leaving
  // surplus workgroups that must write nothing; T = 3 runs one token per grid z.
  it.each([
    { scaleF16: true, rows: 8, lanes: 32, gridX: 0, numTokens: 1, outDim: 37, inDim: 288, hasBias: false, addToOutput: false },
    { scaleF16: false, rows: 8, lanes: 32, gridX: 0, numTokens: 1, outDim: 61, inDim: 2048, hasBias: true, addToOutput: true },
    { scaleF16: true, rows: 4, lanes: 64, gridX: 0, numTokens: 1, outDim: 99, inDim: 2048, hasBias: true, addToOutput: false },
    { scaleF16: false, rows: 2, lanes: 128, gridX: 0, numTokens: 1, outDim: 7, inDim: 96, hasBias: false, addToOutput: true },
    { scaleF16: true, rows: 16, lanes: 32, gridX: 0, numTokens: 1, outDim: 83, inDim: 1024, hasBias: false, addToOutput: true },
    { scaleF16: true, rows: 32, lanes: 32, gridX: 3, numTokens: 1, outDim: 131, inDim: 512, hasBias: true, addToOutput: true },
    { scaleF16: false, rows: 32, lanes: 16, gridX: 0, numTokens: 1, outDim: 45, inDim: 32, hasBias: true, addToOutput: false },
    { scaleF16: true, rows: 1, lanes: 256, gridX: 5, numTokens: 1, outDim: 11, inDim: 640, hasBias: false, addToOutput: false },
    { scaleF16: false, rows: 8, lanes: 32, gridX: 0, numTokens: 3, outDim: 29, inDim: 160, hasBias: true, addToOutput: true },
    // model.ts's tilings for lm_head-wide rows, 256-group rows and single-group rows.
    { scaleF16: true, rows: 128, lanes: 8, gridX: 0, numTokens: 1, outDim: 300, inDim: 384, hasBias: false, addToOutput: false },
    { scaleF16: true, rows: 4, lanes: 256, gridX: 0, numTokens: 1, outDim: 9, inDim: 8192, hasBias: false, addToOutput: true },
    { scaleF16: false, rows: 256, lanes: 1, gridX: 0, numTokens: 1, outDim: 600, inDim: 32, hasBias: true, addToOutput: false },
  ])(
    'SCALE_F16=$scaleF16 ROWS=$rows LANES=$lanes HAS_BIAS=$hasBias ADD_TO_OUTPUT=$addToOutput, T=$numTokens, [$outDim, $inDim]',
    async ({ scaleF16, rows, lanes, gridX, ...c }) => {
      const ctx = await requireDevice();
      const rng = new Rng();
      const { lin, buffers } = q4Linear(ctx, rng, c, scaleF16);
      const workgroups = Math.ceil(c.outDim / rows);
      const x = gridX || workgroups;
      await checkMatmul(ctx, rng, c, lin, 'matmul_q4_gemv', { SCALE_F16: scaleF16, ROWS: rows, LANES: lanes }, buffers, [x, Math.ceil(workgroups / x), c.numTokens]);
    },
  );
});

describe('matmul_dense', () => {
  it.each([
    { weightF16: false, numTokens: 1, outDim: 29, inDim: 132, hasBias: false, addToOutput: true },
    { weightF16: true, numTokens: 1, outDim: 48, inDim: 64, hasBias: true, addToOutput: false },
    { weightF16: false, numTokens: 7, outDim: 21, inDim: 100, hasBias: true, addToOutput: false },
    { weightF16: true, numTokens: 9, outDim: 35, inDim: 136, hasBias: false, addToOutput: true },
  ])('WEIGHT_F16=$weightF16 HAS_BIAS=$hasBias ADD_TO_OUTPUT=$addToOutput, T=$numTokens, [$outDim, $inDim]', async ({ weightF16, ...c }) => {
    const ctx = await requireDevice();
    const rng = new Rng();
    const weight = Float32Array.from(rng.normals(c.outDim * c.inDim, 0.1), (w) => (weightF16 ? roundToHalf(w) : w));
    const bias = c.hasBias ? rng.normals(c.outDim) : null;
    const lin: Linear = { kind: 'dense', outDim: c.outDim, inDim: c.inDim, weight, bias };
    await checkMatmul(ctx, rng, c, lin, 'matmul_dense', { WEIGHT_F16: weightF16 }, [storage(ctx, weightF16 ? packHalves(weight) : weight)]);
  });
});
