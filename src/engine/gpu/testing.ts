// Helpers for the kernel tests in Vitest browser mode (*.gpu.test.ts): one device per test file,
// buffers from typed arrays, poisoned outputs, one-kernel runs, read-back, a seeded PRNG and an
// error-reporting comparison against the CPU reference.
import { expect } from 'vitest';
import { floatToHalf } from '../reference/f16';
import { PipelineCache, bindKernel, dispatch, type KernelName, type Overrides } from './shaders';

export interface GpuTestContext {
  device: GPUDevice;
  pipelines: PipelineCache;
}

let context: Promise<GpuTestContext> | null = null;

/** The test file's device. Throws (so the test fails, never skips) when WebGPU or an adapter is missing. */
export function requireDevice(): Promise<GpuTestContext> {
  context ??= (async () => {
    const gpu = globalThis.navigator?.gpu;
    if (!gpu) {
      throw new Error('GPU tests need WebGPU, but navigator.gpu is missing: run them with `vitest --project gpu` (Chromium with --enable-unsafe-webgpu, see vitest.config.ts).');
    }
    const adapter = await gpu.requestAdapter();
    if (!adapter) {
      throw new Error('GPU tests need a WebGPU adapter, but requestAdapter() returned null: check that Chromium runs with --enable-unsafe-webgpu (SwiftShader serves as the adapter on machines without a GPU).');
    }
    const device = await adapter.requestDevice();
    return { device, pipelines: new PipelineCache(device) };
  })();
  return context;
}

/** The bit pattern of a quiet NaN written into every output word before a kernel runs: an element
 *  the kernel forgets to write reads back as NaN (or as this exact u32) and fails the comparison. */
export const POISON = 0x7fc0dead;

const STORAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** A storage buffer holding `data` (f32 or u32 words). */
export function storage(ctx: GpuTestContext, data: Float32Array | Uint32Array, label = 'input'): GPUBuffer {
  const buffer = ctx.device.createBuffer({ label, size: Math.max(4, data.byteLength), usage: STORAGE, mappedAtCreation: true });
  new Uint32Array(buffer.getMappedRange()).set(new Uint32Array(data.buffer, data.byteOffset, data.length));
  buffer.unmap();
  return buffer;
}

/** A storage buffer of `words` u32 words, each set to POISON. */
export function poisoned(ctx: GpuTestContext, words: number, label = 'output'): GPUBuffer {
  return storage(ctx, new Uint32Array(words).fill(POISON), label);
}

/** The `Batch {numTokens, startPos, numSplits, firstRow}` uniform that kernels share. */
export interface Batch {
  numTokens: number;
  startPos?: number;
  numSplits?: number;
  firstRow?: number;
}

export function batchUniform(ctx: GpuTestContext, batch: Batch): GPUBuffer {
  return uniform(ctx, Uint32Array.of(batch.numTokens, batch.startPos ?? 0, batch.numSplits ?? 1, batch.firstRow ?? 0));
}

/** A 16-byte uniform buffer holding `data` (a params struct of <= 4 words). */
export function uniform(ctx: GpuTestContext, data: ArrayBuffer | Uint32Array | Float32Array): GPUBuffer {
  const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const buffer = ctx.device.createBuffer({ label: 'uniform', size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, mappedAtCreation: true });
  new Uint8Array(buffer.getMappedRange()).set(bytes);
  buffer.unmap();
  return buffer;
}

/** One dispatch of `kernel` with `buffers` bound at bindings 0, 1, ... and the grid in workgroups.
 *  WGSL compilation and validation errors are thrown, not swallowed into a poisoned read-back. */
export async function runKernel(ctx: GpuTestContext, kernel: KernelName, overrides: Overrides, buffers: GPUBuffer[], grid: [number, number?, number?]): Promise<void> {
  const { device } = ctx;
  device.pushErrorScope('validation');
  device.pushErrorScope('internal');
  const bound = bindKernel(device, ctx.pipelines.get(kernel, overrides), buffers);
  const encoder = device.createCommandEncoder({ label: kernel });
  const pass = encoder.beginComputePass();
  dispatch(pass, bound, ...grid);
  pass.end();
  device.queue.submit([encoder.finish()]);
  const errors = [await device.popErrorScope(), await device.popErrorScope()].filter((e) => e !== null);
  if (errors.length > 0) throw new Error(`${kernel} ${JSON.stringify(overrides)}: ${errors.map((e) => e.message).join('; ')}`);
}

async function readWords(ctx: GpuTestContext, buffer: GPUBuffer): Promise<ArrayBuffer> {
  const staging = ctx.device.createBuffer({ label: 'read-back', size: buffer.size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const encoder = ctx.device.createCommandEncoder();
  encoder.copyBufferToBuffer(buffer, 0, staging, 0, buffer.size);
  ctx.device.queue.submit([encoder.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const copy = staging.getMappedRange().slice(0);
  staging.destroy();
  return copy;
}

export async function readF32(ctx: GpuTestContext, buffer: GPUBuffer): Promise<Float32Array> {
  return new Float32Array(await readWords(ctx, buffer));
}

export async function readU32(ctx: GpuTestContext, buffer: GPUBuffer): Promise<Uint32Array> {
  return new Uint32Array(await readWords(ctx, buffer));
}

/** Packs f32 values as f16 pairs, value 2i in the low half of word i (the layout unpack2x16float
 *  reads; an odd count leaves the last high half 0, like a raw f16 tensor padded to 4 bytes).
 *  Values are rounded to nearest even. */
export function packHalves(values: ArrayLike<number>): Uint32Array {
  const words = new Uint32Array(Math.ceil(values.length / 2));
  for (let i = 0; i < values.length; i++) words[i >> 1] |= floatToHalf(values[i]) << (16 * (i & 1));
  return words;
}

/** Seeded PRNG (mulberry32). Each test draws a fresh seed and names it in every assertion message,
 *  so a failure is reproduced by passing that seed to `new Rng(seed)`. */
export class Rng {
  private state: number;

  constructor(readonly seed: number = crypto.getRandomValues(new Uint32Array(1))[0]) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 15), z | 1);
    z ^= z + Math.imul(z ^ (z >>> 7), z | 61);
    return ((z ^ (z >>> 14)) >>> 0) / 2 ** 32;
  }

  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Standard normal (Box-Muller). */
  normal(): number {
    return Math.sqrt(-2 * Math.log(1 - this.next())) * Math.cos(2 * Math.PI * this.next());
  }

  normals(count: number, sigma = 1): Float32Array {
    return Float32Array.from({ length: count }, () => sigma * this.normal());
  }

  uniforms(count: number, lo: number, hi: number): Float32Array {
    return Float32Array.from({ length: count }, () => this.uniform(lo, hi));
  }

  words(count: number): Uint32Array {
    return Uint32Array.from({ length: count }, () => Math.floor(this.next() * 2 ** 32));
  }
}

/** Per-element bounds rel * |expected_i|: for results whose error scales with the value itself. */
export function relativeBounds(expected: ArrayLike<number>, rel: number): Float64Array {
  return Float64Array.from(expected, (e) => rel * Math.abs(e));
}

export interface Comparison {
  maxAbs: number;
  maxRel: number;
  /** Index nearest to (or furthest past) its bound. */
  worst: number;
}

/** Asserts |actual_i - expected_i| <= bound_i for every element (a NaN anywhere fails) and returns
 *  the observed errors. `bounds` is one absolute bound for all elements, or one per element. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, bounds: number | ArrayLike<number>, what: string, rng?: Rng): Comparison {
  const where = rng ? `${what} (seed ${rng.seed})` : what;
  expect(actual.length, `${where}: element count`).toBe(expected.length);
  let [maxAbs, maxRel, worst, worstRatio, failures] = [0, 0, 0, -1, 0];
  for (let i = 0; i < expected.length; i++) {
    const bound = typeof bounds === 'number' ? bounds : bounds[i];
    const err = Math.abs(actual[i] - expected[i]);
    const ratio = Number.isNaN(err) ? Infinity : err === 0 ? 0 : err / bound;
    if (!(err <= bound)) failures++;
    if (ratio > worstRatio) [worst, worstRatio] = [i, ratio];
    if (!Number.isNaN(err)) {
      maxAbs = Math.max(maxAbs, err);
      if (expected[i] !== 0) maxRel = Math.max(maxRel, err / Math.abs(expected[i]));
    }
  }
  const bound = typeof bounds === 'number' ? bounds : bounds[worst];
  const summary = `${where}: max abs err ${maxAbs.toExponential(2)}, max rel err ${maxRel.toExponential(2)}, max err/bound ${worstRatio.toExponential(2)}; worst [${worst}] got ${actual[worst]} want ${expected[worst]} (bound ${bound.toExponential(2)}), ${failures} of ${expected.length} out of bounds`;
  console.info(summary);
  expect(failures, summary).toBe(0);
  return { maxAbs, maxRel, worst };
}

/** Asserts two u32 arrays are identical, naming the first differing word in hex. */
export function expectBitExact(actual: Uint32Array, expected: Uint32Array, what: string, rng?: Rng): void {
  const where = rng ? `${what} (seed ${rng.seed})` : what;
  expect(actual.length, `${where}: word count`).toBe(expected.length);
  let [first, mismatches] = [-1, 0];
  for (let i = 0; i < expected.length; i++) {
    if (actual[i] !== expected[i]) {
      if (first < 0) first = i;
      mismatches++;
    }
  }
  const hex = (w: number) => `0x${w.toString(16).padStart(8, '0')}`;
  const summary = first < 0 ? `${where}: bit-exact` : `${where}: ${mismatches} of ${expected.length} words differ; first [${first}] got ${hex(actual[first])} want ${hex(expected[first])}`;
  console.info(summary);
  expect(mismatches, summary).toBe(0);
}
