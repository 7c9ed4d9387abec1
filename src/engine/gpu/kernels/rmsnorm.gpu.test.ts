// rmsnorm.wgsl against reference `rmsnorm`, for all rows of a chunk and for a window of rows
// starting at batch.firstRow (the logits-row case).
import { describe, it } from 'vitest';
import { rmsnorm } from '../../reference/kernels';
import { Rng, batchUniform, expectClose, poisoned, readF32, relativeBounds, requireDevice, runKernel, storage } from '../testing';

// Each output is x * invRms * w: a 256-way f32 tree sum of squares (relative error a few ulps),
// inverseSqrt (WGSL: 2 ulps) and two products. 1e-5 relative leaves a wide margin over ~1e-6.
const RMSNORM_REL = 1e-5;
const EPS = 1e-5;

describe('rmsnorm', () => {
  it.each([
    { hidden: 200, rows: 5, firstRow: 0, numTokens: 5 },
    { hidden: 300, rows: 9, firstRow: 3, numTokens: 4 },
    { hidden: 64, rows: 7, firstRow: 6, numTokens: 1 },
  ])('hidden $hidden, rows $firstRow..+$numTokens of $rows', async ({ hidden, rows, firstRow, numTokens }) => {
    const ctx = await requireDevice();
    const rng = new Rng();
    const x = rng.normals(rows * hidden, 3);
    const weight = rng.uniforms(hidden, -2, 2);

    const normed = poisoned(ctx, numTokens * hidden);
    await runKernel(ctx, 'rmsnorm', { HIDDEN: hidden, EPS }, [storage(ctx, x), storage(ctx, weight), normed, batchUniform(ctx, { numTokens, firstRow })], [numTokens]);

    const expected = rmsnorm(x.subarray(firstRow * hidden, (firstRow + numTokens) * hidden), weight, EPS);
    expectClose(await readF32(ctx, normed), expected, relativeBounds(expected, RMSNORM_REL), 'rmsnorm', rng);
  });
});
