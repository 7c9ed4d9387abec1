// WebGPU device acquisition and feature detection.
import { AdapterLimitsError, WebGpuUnavailableError } from '../errors';

export interface GpuContext {
  device: GPUDevice;
  adapterInfo: { vendor: string; architecture: string; description: string };
  features: { subgroups: boolean; shaderF16: boolean; timestampQuery: boolean };
  limits: { maxStorageBufferBindingSize: number; maxBufferSize: number };
}

/** Requests the adapter's full buffer limits (models need large bindings) and no optional feature:
 *  every kernel runs without shader-f16 or subgroups. */
export async function acquireGpu(gpu: GPU | undefined = globalThis.navigator?.gpu): Promise<GpuContext> {
  if (!gpu) throw new WebGpuUnavailableError();
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new WebGpuUnavailableError('The browser exposes WebGPU but found no usable GPU adapter.');
  const limits = {
    maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
    maxBufferSize: adapter.limits.maxBufferSize,
  };
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({
      requiredLimits: { ...limits, maxComputeWorkgroupStorageSize: Math.min(32768, adapter.limits.maxComputeWorkgroupStorageSize) },
    });
  } catch (err) {
    throw new AdapterLimitsError(`The GPU refused a device with the limits kvchat needs: ${(err as Error).message}`);
  }
  const info = adapter.info;
  return {
    device,
    adapterInfo: { vendor: info?.vendor ?? '', architecture: info?.architecture ?? '', description: info?.description ?? '' },
    features: {
      subgroups: adapter.features.has('subgroups'),
      shaderF16: adapter.features.has('shader-f16'),
      timestampQuery: adapter.features.has('timestamp-query'),
    },
    limits,
  };
}
