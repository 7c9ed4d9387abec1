// Where a decode step's GPU time goes, kernel by kernel, in Node on Dawn with timestamp queries.
//
//   node bench/.carry/profile.mjs [--models llama-3.2-1b,qwen2.5-0.5b] [--kv fp16,kivi-2]
//        [--contexts 4096,32768] [--repeats 15] [--out bench/results/profile.json]
//
// For each model x cache x context, the cache is first grown to context - 1 tokens by bookkeeping
// alone (KvCache.beginChunk/endChunk in prefill-sized chunks with no kernel recorded): the cached
// values stay whatever the buffers hold, which no timing depends on, and a 32K context costs no
// prefill. Then three figures of the step that attends over `context` tokens:
//   step     median wall time of real greedy decode steps (one submit and a 4-byte read-back each,
//            as the engine runs them), each step rewound to the same position;
//   gpu      the step's dispatches replayed in one compute pass between two timestamps;
//   kernels  each dispatch replayed in a compute pass of its own between two timestamps, medians
//            over the repeats, summed per kernel. Their sum exceeds `gpu` by the passes' own cost.
// Caches with eviction are not profiled: growing them by bookkeeping would skip their selection.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { GpuModel, type Sampling } from '../src/engine/gpu/model';
import { WeightStore } from '../src/engine/gpu/weights';
import { measureCopyBandwidth } from './copy-bandwidth';
import { growByBookkeeping } from './grow';
import { kernelTimes, type KernelTime } from './kernel-times';
import { Timestamps } from './timestamps';
import { KV_VARIANTS, quantile, type KvVariant } from './kv-sweep';
import { DawnUnavailableError, nodeGpu } from './node-gpu';
import { SYNTHETIC_MODELS, syntheticWeights } from './synthetic';

const GREEDY: Sampling = { kind: 'greedy', repetitionPenalty: 1 };
const MIB = 1024 * 1024;
const STEP_WARMUP = 4;

/** One dispatch of a recorded step. */
export interface RecordedDispatch {
  /** The kernel's name (the pipeline label up to its override constants). */
  kernel: string;
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  grid: [number, number, number];
}

/** A pipeline's kernel from its PipelineCache label `kernel:{overrides}`, with OUT_DIMxIN_DIM for
 *  the matmuls so that each weight shape is timed apart. */
function kernelName(label: string): string {
  const colon = label.indexOf(':');
  if (colon < 0) return label;
  const overrides = JSON.parse(label.slice(colon + 1)) as Record<string, unknown>;
  const kernel = label.slice(0, colon);
  return 'OUT_DIM' in overrides && 'IN_DIM' in overrides ? `${kernel} ${overrides.OUT_DIM}x${overrides.IN_DIM}` : kernel;
}

/** Records one decode step into a stand-in encoder and returns its dispatches; the model's cache
 *  and position advance by one token, as after a real step. */
function captureStep(gpu: GpuModel): RecordedDispatch[] {
  const dispatches: RecordedDispatch[] = [];
  let pipeline: GPUComputePipeline | null = null;
  let bindGroup: GPUBindGroup | null = null;
  const pass = {
    setPipeline: (p: GPUComputePipeline) => void (pipeline = p),
    setBindGroup: (_index: number, g: GPUBindGroup) => void (bindGroup = g),
    dispatchWorkgroups: (x: number, y = 1, z = 1) => {
      dispatches.push({ kernel: kernelName(pipeline!.label), pipeline: pipeline!, bindGroup: bindGroup!, grid: [x, y, z] });
    },
    end: () => {},
  };
  const encoder = {
    beginComputePass: () => pass,
    copyBufferToBuffer: () => {
      throw new Error('a decode step copied between buffers: the profiler replays compute passes only');
    },
  };
  gpu.recordDecodeStep(encoder as unknown as GPUCommandEncoder, 0, GREEDY, []);
  return dispatches;
}

function record(pass: GPUComputePassEncoder, d: RecordedDispatch): void {
  pass.setPipeline(d.pipeline);
  pass.setBindGroup(0, d.bindGroup);
  pass.dispatchWorkgroups(...d.grid);
}

interface Profile {
  model: string;
  kv: KvVariant;
  context: number;
  dispatches: number;
  stepMs: number;
  /** JS time to record the step's dispatches into one pass and finish the command buffer. */
  recordMs: number;
  /** An empty submit's round trip: a 4-byte copy, submit, mapAsync of the read-back. */
  roundTripMs: number;
  gpuMs: number;
  kernelSumMs: number;
  kernels: KernelTime[];
}

async function profileAt(device: GPUDevice, gpu: GpuModel, context: number, repeats: number): Promise<Omit<Profile, 'model' | 'kv' | 'context'>> {
  growByBookkeeping(gpu, context - 1);
  const stepTimes: number[] = [];
  for (let i = 0; i < STEP_WARMUP + repeats; i++) {
    const start = performance.now();
    await gpu.step(0, GREEDY, []);
    if (i >= STEP_WARMUP) stepTimes.push(performance.now() - start);
    gpu.truncate(context - 1);
  }
  const dispatches = captureStep(gpu);
  gpu.truncate(context - 1);
  const stamps = new Timestamps(device, 2 * dispatches.length);
  const source = device.createBuffer({ size: 4, usage: GPUBufferUsage.COPY_SRC });
  const readback = device.createBuffer({ size: 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  try {
    const recordTimes: number[] = [];
    const roundTrips: number[] = [];
    for (let r = 0; r < 1 + repeats; r++) {
      let start = performance.now();
      const encoder = device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      for (const d of dispatches) record(pass, d);
      pass.end();
      encoder.finish();
      const recorded = performance.now() - start;
      start = performance.now();
      const copy = device.createCommandEncoder();
      copy.copyBufferToBuffer(source, 0, readback, 0, 4);
      device.queue.submit([copy.finish()]);
      await readback.mapAsync(GPUMapMode.READ);
      readback.unmap();
      if (r === 0) continue; // warm-up
      recordTimes.push(recorded);
      roundTrips.push(performance.now() - start);
    }
    const whole: number[] = [];
    const each: number[][] = dispatches.map(() => []);
    for (let r = 0; r < 1 + repeats; r++) {
      let encoder = device.createCommandEncoder();
      const pass = stamps.pass(encoder, 0);
      for (const d of dispatches) record(pass, d);
      pass.end();
      const [us] = await stamps.submit(encoder, 1);
      encoder = device.createCommandEncoder();
      dispatches.forEach((d, i) => {
        const single = stamps.pass(encoder, i);
        record(single, d);
        single.end();
      });
      const times = await stamps.submit(encoder, dispatches.length);
      if (r === 0) continue; // warm-up
      whole.push(us);
      times.forEach((t, i) => each[i].push(t));
    }
    const medians = each.map((ts) => quantile(ts, 0.5));
    return {
      dispatches: dispatches.length,
      stepMs: quantile(stepTimes, 0.5),
      recordMs: quantile(recordTimes, 0.5),
      roundTripMs: quantile(roundTrips, 0.5),
      gpuMs: quantile(whole, 0.5) / 1000,
      kernelSumMs: medians.reduce((a, b) => a + b, 0) / 1000,
      kernels: kernelTimes(dispatches.map((d) => d.kernel), medians),
    };
  } finally {
    stamps.destroy();
    source.destroy();
    readback.destroy();
  }
}

function describe(p: Profile): string {
  const head = `${p.model} ${p.kv} at ${p.context}: step ${p.stepMs.toFixed(3)} ms (recording ${p.recordMs.toFixed(3)} ms, an empty submit's round trip ${p.roundTripMs.toFixed(3)} ms), GPU ${p.gpuMs.toFixed(3)} ms in one pass, kernels alone ${p.kernelSumMs.toFixed(3)} ms over ${p.dispatches} dispatches`;
  const rows = p.kernels.map((k) => `  ${k.kernel.padEnd(24)} ${String(k.dispatches).padStart(4)} x  ${(k.us / 1000).toFixed(3).padStart(8)} ms  ${(k.share * 100).toFixed(1).padStart(5)} %`);
  return [head, ...rows].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      models: { type: 'string', default: 'llama-3.2-1b' },
      kv: { type: 'string', default: 'fp16,kivi-2' },
      contexts: { type: 'string', default: '4096,32768' },
      repeats: { type: 'string', default: '15' },
      out: { type: 'string', default: 'bench/results/profile.json' },
    },
  });
  const models = values.models.split(',');
  const variants = values.kv.split(',') as KvVariant[];
  const contexts = values.contexts.split(',').map(Number);
  const repeats = Number(values.repeats);
  for (const m of models) if (!SYNTHETIC_MODELS[m]) throw new Error(`no synthetic model ${m}`);
  for (const v of variants) {
    if (!(v in KV_VARIANTS)) throw new Error(`no KV variant ${v}`);
    if (KV_VARIANTS[v].policy !== 'none') throw new Error(`${v} evicts: not profiled (see the header)`);
  }
  if (contexts.some((c, i) => !Number.isInteger(c) || c < 2 || (i > 0 && c <= contexts[i - 1]))) throw new Error('--contexts must be ascending integers >= 2');
  if (!Number.isInteger(repeats) || repeats < 1) throw new Error('--repeats must be an integer >= 1');

  // Dawn rounds timestamps unless told not to.
  const { gpu, adapterName } = await nodeGpu(['disable-dawn-features=timestamp_quantization']);
  const adapter = (await gpu.requestAdapter({ powerPreference: 'high-performance' }))!;
  if (!adapter.features.has('timestamp-query')) throw new DawnUnavailableError(`${adapterName} has no timestamp-query`);
  const device = await adapter.requestDevice({
    requiredFeatures: ['timestamp-query'],
    requiredLimits: {
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
      maxBufferSize: adapter.limits.maxBufferSize,
      maxComputeWorkgroupStorageSize: Math.min(32768, adapter.limits.maxComputeWorkgroupStorageSize),
    },
  });
  console.log(`adapter  ${adapterName}`);
  const copy = await measureCopyBandwidth(device, 1024 * MIB);
  console.log(`copy     ${(copy.gbPerSecond / 1000).toFixed(3)} TB/s`);

  const out = resolve(values.out);
  const profiles: Profile[] = [];
  const write = () => {
    mkdirSync(dirname(out), { recursive: true });
    const result = { gpu: adapterName, date: new Date().toISOString(), command: ['node', 'profile.mjs', ...process.argv.slice(2)].join(' '), copyGbPerSecond: copy.gbPerSecond, profiles };
    writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  };
  for (const name of models) {
    const cfg = SYNTHETIC_MODELS[name];
    const weights = new WeightStore(device);
    syntheticWeights(cfg, (t) => weights.upload(t));
    for (const kv of variants) {
      const gpuModel = new GpuModel(device, cfg, weights, contexts[contexts.length - 1] + 1, KV_VARIANTS[kv]);
      try {
        for (const context of contexts) {
          const profile = { model: name, kv, context, ...(await profileAt(device, gpuModel, context, repeats)) };
          profiles.push(profile);
          console.log(describe(profile));
          write();
        }
      } finally {
        gpuModel.destroy();
      }
    }
    weights.destroy();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
