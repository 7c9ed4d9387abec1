import { describe, expect, it } from 'vitest';
import { WebGpuUnavailableError } from '../errors';
import { acquireGpu } from './device';

describe('acquireGpu', () => {
  it('reports a browser without WebGPU with a typed error and a hint', async () => {
    const error = await acquireGpu(undefined).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WebGpuUnavailableError);
    expect((error as WebGpuUnavailableError).code).toBe('webgpu-unavailable');
    expect((error as WebGpuUnavailableError).hint).toMatch(/WebGPU/);
  });

  it('reports WebGPU without an adapter', async () => {
    const noAdapter = { requestAdapter: async () => null } as unknown as GPU;
    await expect(acquireGpu(noAdapter)).rejects.toThrow(/no usable GPU adapter/);
  });
});
