// WebGPU in Node through Dawn (the `webgpu` npm package): installs the WebGPU globals the engine
// reads (GPUBufferUsage, GPUMapMode, ...) and hands back the entry point that a browser calls
// navigator.gpu.
import { create, globals } from 'webgpu';

/** Dawn found no GPU adapter, or could not load its native backend. */
export class DawnUnavailableError extends Error {
  readonly hint =
    'Dawn needs a Vulkan loader (libvulkan1) and a GPU driver: on the GPU machine unpack the .gl/*.deb files ' +
    'and set VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json (see docs/BENCHMARKS.md). ' +
    'Dawn in Node does not run on a CPU-only machine.';

  constructor(message: string) {
    super(message);
    this.name = 'DawnUnavailableError';
  }
}

export interface NodeGpu {
  gpu: GPU;
  /** vendor, architecture, device and description of the adapter Dawn picked. */
  adapterName: string;
}

/** `dawnToggles` are Dawn command-line style flags, e.g. 'enable-dawn-features=allow_unsafe_apis'. */
export async function nodeGpu(dawnToggles: string[] = []): Promise<NodeGpu> {
  Object.assign(globalThis, globals);
  const gpu = create(dawnToggles);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new DawnUnavailableError('Dawn found no WebGPU adapter.');
  const { vendor, architecture, device, description } = adapter.info;
  const adapterName = [vendor, architecture, device, description].filter(Boolean).join(' / ') || 'unnamed adapter';
  return { gpu, adapterName };
}
