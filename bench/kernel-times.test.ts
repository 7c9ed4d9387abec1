import { describe, expect, it } from 'vitest';
import { kernelTimes } from './kernel-times';

describe('kernelTimes', () => {
  it('sums each kernel over its dispatches, largest first, with shares of the total', () => {
    const times = kernelTimes(['rmsnorm', 'matmul_q4', 'attention_f16', 'matmul_q4', 'rmsnorm'], [1, 10, 4, 6, 3]);
    expect(times).toEqual([
      { kernel: 'matmul_q4', dispatches: 2, us: 16, share: 16 / 24 },
      { kernel: 'rmsnorm', dispatches: 2, us: 4, share: 4 / 24 },
      { kernel: 'attention_f16', dispatches: 1, us: 4, share: 4 / 24 },
    ]);
  });

  it('gives zero shares when nothing took time', () => {
    expect(kernelTimes(['a'], [0])).toEqual([{ kernel: 'a', dispatches: 1, us: 0, share: 0 }]);
  });
});
