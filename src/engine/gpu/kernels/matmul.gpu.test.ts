// matmul_q4.wgsl and matmul_dense.wgsl against reference `matmul`, with the bias and residual-add
// variants, for decode (T=1) and prefill with a token count that is not a multiple of the kernels'
// 4-token tile; matmul_q4_gemv.wgsl (decode's kernel) likewise, over its ROWS x LANES tilings, and
// with NORM against reference `rmsnorm` then `matmul` on a chosen row of a chunk, with SWIGLU
// against `matmul` then `siluMul`, and with ROPE against `matmul` then `rope`.
import { describe, it } from 'vitest';
import { roundToHalf } from '../../reference/f16';
import { matmul, rmsnorm, rope, siluMul, weightAt, type AttentionShape, type Linear } from '../../reference/kernels';
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

/** matmul_q4_gemv's fused RMSNorm: x holds `rows` rows of which row `firstRow` (+ t) is normalised. */
interface Norm {
  rows: number;
  firstRow: number;
}

/** matmul_q4_gemv's fused rotary embedding of a qkv product of `shape` at position `startPos`. */
interface Rope {
  shape: AttentionShape;
  startPos: number;
}

/** matmul_q4_gemv's fusions: `norm` in front of the product, SwiGLU or the rotation after it. */
interface Fused {
  norm: Norm | null;
  swiglu: boolean;
  rope?: Rope;
}

// As rope.gpu.test.ts: the GPU's sin and cos of the same f32 angle err by a few ulps.
const ROPE_REL = 1e-5; // of |x_i| + |x_{i+D/2}|

/** Bounds after rotating the q and k heads of `qkv`: each rotated value mixes its pair's two
 *  products (|cos|, |sin| <= 1), plus ROPE_REL of the pair's magnitude; v heads keep their bounds. */
function ropeBounds(qkv: Float32Array, bounds: Float64Array, { numHeads, numKvHeads, headDim }: AttentionShape): Float64Array {
  const out = Float64Array.from(bounds);
  const half = headDim / 2;
  for (let head = 0; head < numHeads + numKvHeads; head++) {
    for (let i = 0; i < half; i++) {
      const [a, b] = [head * headDim + i, head * headDim + i + half];
      out[a] = out[b] = bounds[a] + bounds[b] + ROPE_REL * (Math.abs(qkv[a]) + Math.abs(qkv[b]));
    }
  }
  return out;
}

/** Bounds for act = silu(gate) * up from the bounds eg, eu of gate and up: |silu'| <= 1.1 gives
 *  1.1 eg |up| + |silu(gate)| eu to first order, plus MATMUL_REL of |act| for the kernel's own rounding. */
function swigluBounds(gateUp: Float32Array, bounds: Float64Array, intermediate: number): Float64Array {
  const act = siluMul(gateUp, intermediate);
  return Float64Array.from(act, (a, i) => {
    const t = Math.floor(i / intermediate);
    const n = i % intermediate;
    const g = t * 2 * intermediate + n;
    const u = g + intermediate;
    const silu = gateUp[g] / (1 + Math.exp(-gateUp[g]));
    return 1.1 * bounds[g] * Math.abs(gateUp[u]) + Math.abs(silu) * bounds[u] + MATMUL_REL * Math.abs(a);
  });
}

const NORM_EPS = 1e-5;

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
 *  adds to it. Unused bias and norm weight bindings are poisoned too, so reading them would show. */
async function checkMatmul(
  ctx: GpuTestContext,
  rng: Rng,
  c: Case,
  lin: Linear,
  kernel: 'matmul_q4' | 'matmul_q4_gemv' | 'matmul_dense',
  overrides: Record<string, number | boolean>,
  weightBuffers: GPUBuffer[],
  grid: [number, number, number] = [Math.ceil(c.outDim / 8), Math.ceil(c.numTokens / 4), 1],
  { norm, swiglu, rope: rotation }: Fused = { norm: null, swiglu: false },
): Promise<void> {
  // Scaled so that the rms differs from 1 and a skipped normalisation shows.
  const stream = rng.normals((norm?.rows ?? c.numTokens) * c.inDim, norm ? 3 : 1);
  const normWeight = rng.uniforms(c.inDim, 0.5, 1.5);
  const x = norm ? rmsnorm(stream.slice(norm.firstRow * c.inDim, (norm.firstRow + c.numTokens) * c.inDim), normWeight, NORM_EPS) : stream;
  const residual = c.addToOutput ? rng.normals(c.numTokens * c.outDim, 4) : null;
  const y = residual ? storage(ctx, residual, 'y') : poisoned(ctx, (c.numTokens * c.outDim) / (swiglu ? 2 : 1), 'y');
  const bias = lin.bias ? storage(ctx, lin.bias, 'bias') : poisoned(ctx, c.outDim, 'bias');
  const batch = batchUniform(ctx, { numTokens: c.numTokens, startPos: rotation?.startPos ?? 0, firstRow: norm?.firstRow ?? 0 });
  const buffers = [storage(ctx, stream), ...weightBuffers, bias, y, batch];
  const headDim = rotation?.shape.headDim ?? 64;
  const invFreq = rng.uniforms(headDim / 2, 1e-4, 1);
  let fusedOverrides: Record<string, number | boolean> = {};
  if (kernel === 'matmul_q4_gemv') {
    buffers.push(norm ? storage(ctx, normWeight, 'normWeight') : poisoned(ctx, c.inDim, 'normWeight'));
    buffers.push(rotation ? storage(ctx, invFreq, 'invFreq') : poisoned(ctx, headDim / 2, 'invFreq'));
    const ropeHeads = rotation ? rotation.shape.numHeads + rotation.shape.numKvHeads : 0;
    fusedOverrides = { NORM: norm !== null, EPS: NORM_EPS, SWIGLU: swiglu, ROPE: rotation !== undefined, HEAD_DIM: headDim, ROPE_HEADS: ropeHeads };
  }
  await runKernel(ctx, kernel, { IN_DIM: c.inDim, OUT_DIM: c.outDim, HAS_BIAS: c.hasBias, ADD_TO_OUTPUT: c.addToOutput, ...fusedOverrides, ...overrides }, buffers, grid);
  const product = matmul(x, lin);
  if (residual) product.forEach((v, i) => (product[i] = v + residual[i]));
  const bounds = matmulBounds(x, lin, residual);
  const label = `${kernel} ${JSON.stringify({ ...c, ...overrides, norm, swiglu, rotation })}`;
  if (swiglu) {
    expectClose(await readF32(ctx, y), siluMul(product, c.outDim / 2), swigluBounds(product, bounds, c.outDim / 2), label, rng);
  } else if (rotation) {
    const rotated = Float32Array.from(product);
    rope(rotated, rotation.startPos, invFreq, rotation.shape);
    expectClose(await readF32(ctx, y), rotated, ropeBounds(product, bounds, rotation.shape), label, rng);
  } else {
    expectClose(await readF32(ctx, y), product, bounds, label, rng);
  }
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

/** One decode GEMV tiling on fresh random q4 weights: ROWS x LANES, grid x `gridX` (0: every
 *  workgroup in x; fewer folds the rest into y), one token per grid z. */
interface GemvCase extends Case {
  scaleF16: boolean;
  rows: number;
  lanes: number;
  gridX: number;
}

async function checkGemv({ scaleF16, rows, lanes, gridX, ...c }: GemvCase, fused?: Fused): Promise<void> {
  const ctx = await requireDevice();
  const rng = new Rng();
  const { lin, buffers } = q4Linear(ctx, rng, c, scaleF16);
  const workgroups = Math.ceil(c.outDim / rows);
  const x = gridX || workgroups;
  await checkMatmul(ctx, rng, c, lin, 'matmul_q4_gemv', { SCALE_F16: scaleF16, ROWS: rows, LANES: lanes }, buffers, [x, Math.ceil(workgroups / x), c.numTokens], fused);
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
    (c) => checkGemv(c),
  );

  // Decode's qkv and gate_up (T = 1, row 0 of the stream, Qwen's qkv bias) and the lm head after a
  // prefill chunk (row firstRow = T - 1 of a 5-row chunk), at tilings with 1 to 4 rows per thread.
  it.each([
    { scaleF16: true, rows: 8, lanes: 64, streamRows: 1, firstRow: 0, outDim: 70, inDim: 512, hasBias: true },
    { scaleF16: false, rows: 32, lanes: 32, streamRows: 1, firstRow: 0, outDim: 45, inDim: 2048, hasBias: false },
    { scaleF16: true, rows: 128, lanes: 8, streamRows: 5, firstRow: 4, outDim: 300, inDim: 384, hasBias: false },
    { scaleF16: true, rows: 4, lanes: 256, streamRows: 3, firstRow: 1, outDim: 9, inDim: 4096, hasBias: true },
  ])(
    'NORM: SCALE_F16=$scaleF16 ROWS=$rows LANES=$lanes HAS_BIAS=$hasBias, row $firstRow of $streamRows, [$outDim, $inDim]',
    ({ streamRows, firstRow, ...c }) =>
      checkGemv({ ...c, gridX: 0, numTokens: 1, addToOutput: false }, { norm: { rows: streamRows, firstRow }, swiglu: false }),
  );

  // Decode's gate_up with silu_mul fused (I = outDim / 2 pairs), alone and after the fused norm:
  // I a multiple of ROWS / 2 and not, grid x short of the workgroups (surplus ones write nothing),
  // with a bias (no MLC model has one here, but the kernel adds it before the activation).
  it.each([
    { scaleF16: true, rows: 16, lanes: 64, gridX: 0, outDim: 64, inDim: 512, hasBias: false, norm: true },
    { scaleF16: false, rows: 8, lanes: 32, gridX: 0, outDim: 74, inDim: 256, hasBias: true, norm: false },
    { scaleF16: true, rows: 64, lanes: 16, gridX: 2, outDim: 250, inDim: 896, hasBias: false, norm: true },
    { scaleF16: true, rows: 2, lanes: 256, gridX: 0, outDim: 22, inDim: 8192, hasBias: true, norm: true },
  ])(
    'SWIGLU: SCALE_F16=$scaleF16 ROWS=$rows LANES=$lanes HAS_BIAS=$hasBias NORM=$norm, [$outDim, $inDim]',
    ({ norm, ...c }) => checkGemv({ ...c, numTokens: 1, addToOutput: false }, { norm: norm ? { rows: 1, firstRow: 0 } : null, swiglu: true }),
  );
});

describe('matmul_q4_gemv ROPE', () => {
  // Decode's qkv with the rotation fused (queries and keys rotate, values pass through): Llama's
  // shape at a small width (GQA 4, D 64), Qwen's GQA 7 with its qkv bias at D 64 and 128, a grid
  // folded into y, and the start of the sequence.
  it.each([
    { scaleF16: true, rows: 8, lanes: 64, gridX: 0, numHeads: 8, numKvHeads: 2, headDim: 64, inDim: 512, hasBias: false, startPos: 4000, norm: true },
    { scaleF16: false, rows: 16, lanes: 32, gridX: 0, numHeads: 7, numKvHeads: 1, headDim: 64, inDim: 256, hasBias: true, startPos: 17, norm: true },
    { scaleF16: true, rows: 64, lanes: 16, gridX: 3, numHeads: 7, numKvHeads: 1, headDim: 128, inDim: 896, hasBias: true, startPos: 31000, norm: false },
    { scaleF16: true, rows: 2, lanes: 128, gridX: 0, numHeads: 2, numKvHeads: 1, headDim: 32, inDim: 4096, hasBias: false, startPos: 0, norm: true },
  ])(
    'SCALE_F16=$scaleF16 ROWS=$rows LANES=$lanes H=$numHeads KV=$numKvHeads D=$headDim HAS_BIAS=$hasBias NORM=$norm at $startPos',
    ({ numHeads, numKvHeads, headDim, startPos, norm, ...c }) =>
      checkGemv({ ...c, numTokens: 1, outDim: (numHeads + 2 * numKvHeads) * headDim, addToOutput: false }, {
        norm: norm ? { rows: 1, firstRow: 0 } : null,
        swiglu: false,
        rope: { shape: { numHeads, numKvHeads, headDim }, startPos },
      }),
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
