// silu_mul.wgsl against reference `siluMul`.
import { describe, it } from 'vitest';
import { siluMul } from '../../reference/kernels';
import { Rng, expectClose, poisoned, readF32, relativeBounds, requireDevice, runKernel, storage } from '../testing';

// gate / (1 + exp(-gate)) * up: WGSL's exp is within 3 + 2|x| ulps, division 2.5 ulps; for
// |gate| <= 20 that is ~6e-6 relative at worst.
const SILU_REL = 1e-5;

describe('silu_mul', () => {
  it.each([
    { intermediate: 200, numTokens: 3 },
    { intermediate: 64, numTokens: 1 },
    { intermediate: 37, numTokens: 8 },
  ])('intermediate $intermediate, T=$numTokens', async ({ intermediate, numTokens }) => {
    const ctx = await requireDevice();
    const rng = new Rng();
    // Gates over the whole useful range: silu saturates to 0 and to the identity well inside +-20.
    const gateUp = rng.uniforms(numTokens * 2 * intermediate, -20, 20);

    const act = poisoned(ctx, numTokens * intermediate);
    await runKernel(ctx, 'silu_mul', { INTERMEDIATE: intermediate }, [storage(ctx, gateUp), act], [Math.ceil(intermediate / 64), numTokens]);

    const expected = siluMul(gateUp, intermediate);
    expectClose(await readF32(ctx, act), expected, relativeBounds(expected, SILU_REL), 'silu_mul', rng);
  });
});
