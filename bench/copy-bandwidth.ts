/// <reference types="vite/client" />
// The GPU's practical memory bandwidth: a vec4<u32> copy kernel between two large buffers, timed
// on the wall clock with several copies per submit so the submit overhead (~0.1-0.2 ms) vanishes.
import { bindKernel, dispatch } from '../src/engine/gpu/shaders';
import copyKernel from './copy_bandwidth.wgsl?raw';

const WORD_BYTES = 16;
const WORKGROUP = 256;
const ROW_WORKGROUPS = 32768;
const COPIES_PER_SUBMIT = 10;
const TIMED_SUBMITS = 5;

export interface CopyBandwidth {
  bytes: number;
  /** Fastest submit's time divided by its copies. */
  msPerCopy: number;
  /** Bytes read plus bytes written per second, in GB/s (1e9). */
  gbPerSecond: number;
}

export async function measureCopyBandwidth(device: GPUDevice, bytes: number): Promise<CopyBandwidth> {
  const words = Math.floor(bytes / WORD_BYTES);
  const usage = GPUBufferUsage.STORAGE;
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  const src = device.createBuffer({ label: 'copy.src', size: words * WORD_BYTES, usage });
  const dst = device.createBuffer({ label: 'copy.dst', size: words * WORD_BYTES, usage });
  const invalid = await device.popErrorScope();
  const outOfMemory = await device.popErrorScope();
  const refused = invalid ?? outOfMemory;
  try {
    if (refused) throw new Error(`the GPU refused two copy buffers of ${words * WORD_BYTES} B: ${refused.message}`);
    const module = device.createShaderModule({ label: 'copy_bandwidth', code: copyKernel });
    const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main', constants: { ROW_WORKGROUPS } } });
    const copy = bindKernel(device, pipeline, [src, dst]);
    const workgroups = Math.ceil(words / WORKGROUP);
    const submitCopies = async (): Promise<number> => {
      const encoder = device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      for (let i = 0; i < COPIES_PER_SUBMIT; i++) dispatch(pass, copy, Math.min(workgroups, ROW_WORKGROUPS), Math.ceil(workgroups / ROW_WORKGROUPS));
      pass.end();
      const start = performance.now();
      device.queue.submit([encoder.finish()]);
      await device.queue.onSubmittedWorkDone();
      return performance.now() - start;
    };
    await submitCopies();
    let best = Infinity;
    for (let i = 0; i < TIMED_SUBMITS; i++) best = Math.min(best, await submitCopies());
    const msPerCopy = best / COPIES_PER_SUBMIT;
    return { bytes: words * WORD_BYTES, msPerCopy, gbPerSecond: (2 * words * WORD_BYTES) / (msPerCopy * 1e6) };
  } finally {
    src.destroy();
    dst.destroy();
  }
}
