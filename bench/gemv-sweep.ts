// matmul_q4_gemv's achieved bandwidth per tiling (ROWS x LANES) on the decode shapes of a model, in
// Node on Dawn with timestamp queries: which tiling model.ts's gemvTiling() should pick.
//
//   node bench/.carry/gemv-sweep.mjs [--model llama-3.2-1b] [--against other.wgsl] [--out bench/results/gemv-sweep.json]
//
// --against a.wgsl,b.wgsl times other versions of the kernel (same bindings and overrides) beside
// the engine's in the same run, each named after its file; --tilings 16x64,8x128 (ROWSxLANES) limits
// the sweep.
//
// Each shape gets enough copies of random q4f16_1 weights that cycling through them overflows the
// L2 cache, as a decode step's layers do; DISPATCHES dispatches go in one timestamped pass, and the
// fastest of REPEATS passes counts. GB/s = (codes + scales) bytes / time per dispatch.
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { bindKernel, dispatch, PipelineCache } from '../src/engine/gpu/shaders';
import { modelSpec } from '../src/engine/model/layout';
import { measureCopyBandwidth } from './copy-bandwidth';
import { DawnUnavailableError, nodeGpu } from './node-gpu';
import { SYNTHETIC_MODELS } from './synthetic';
import { Timestamps } from './timestamps';

const MIB = 1024 * 1024;
const L2_OVERFLOW_BYTES = 256 * MIB;
const DISPATCHES = 64;
const REPEATS = 5;
const MAX_GRID = 65535;

const READ_WORKGROUPS = 132 * 8;
const READ_ONLY_WGSL = `
@group(0) @binding(0) var<storage, read> src: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read_write> sink: array<u32>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) grid: vec3<u32>) {
  var folded = vec4<u32>(0u);
  for (var i = gid.x; i < arrayLength(&src); i += grid.x * 256u) { folded ^= src[i]; }
  // Never true for random codes; keeps the loads from being optimised away.
  if (all(folded == vec4<u32>(0x9e3779b9u))) { sink[0] = 1u; }
}`;

/** (ROWS, LANES) pairs the kernel accepts: ROWS * LANES a multiple of 256, 1-4 rows per thread. */
function tilings(): { ROWS: number; LANES: number }[] {
  const out: { ROWS: number; LANES: number }[] = [];
  for (const LANES of [8, 16, 32, 64, 128, 256]) {
    for (const perThread of [1, 2, 4]) out.push({ ROWS: (256 / LANES) * perThread, LANES });
  }
  return out;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { model: { type: 'string', default: 'llama-3.2-1b' }, against: { type: 'string', default: '' }, tilings: { type: 'string', default: '' }, out: { type: 'string', default: 'bench/results/gemv-sweep.json' } } });
  const cfg = SYNTHETIC_MODELS[values.model];
  if (!cfg) throw new Error(`no synthetic model ${values.model}`);
  const { gpu, adapterName } = await nodeGpu(['disable-dawn-features=timestamp_quantization']);
  const adapter = (await gpu.requestAdapter({ powerPreference: 'high-performance' }))!;
  if (!adapter.features.has('timestamp-query')) throw new DawnUnavailableError(`${adapterName} has no timestamp-query`);
  const device = await adapter.requestDevice({
    requiredFeatures: ['timestamp-query'],
    requiredLimits: { maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize, maxBufferSize: adapter.limits.maxBufferSize },
  });
  const copy = await measureCopyBandwidth(device, 1024 * MIB);
  console.log(`adapter ${adapterName}; copy ${(copy.gbPerSecond / 1000).toFixed(3)} TB/s`);
  const pipelines = new PipelineCache(device);
  const others = values.against ? values.against.split(',').map((file) => ({ name: file.replace(/^.*\//, '').replace(/\.wgsl$/, ''), code: readFileSync(file, 'utf8') })) : [];
  // fusionBindings: how many of bindings 6 and 7 (the fused RMSNorm's weight, the rotary inverse
  // frequencies; unread here) the kernel declares.
  const kernels: { name: string; fusionBindings: number; pipeline: (constants: Record<string, number | boolean>) => GPUComputePipeline }[] = [
    { name: 'engine', fusionBindings: 2, pipeline: (constants) => pipelines.get('matmul_q4_gemv', constants) },
    ...others.map(({ name, code }) => {
      const module = device.createShaderModule({ code });
      const pipeline = (constants: Record<string, number | boolean>) =>
        device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main', constants: Object.fromEntries(Object.entries(constants).map(([k, v]) => [k, Number(v)])) } });
      return { name, fusionBindings: [6, 7].filter((b) => code.includes(`@binding(${b})`)).length, pipeline };
    }),
  ];
  const stamps = new Timestamps(device, 2);
  const readPipeline = device.createComputePipeline({ layout: 'auto', compute: { module: device.createShaderModule({ code: READ_ONLY_WGSL }), entryPoint: 'main' } });
  const sink = device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE });
  const spec = modelSpec(cfg);
  const shapes = new Map<string, { inDim: number; outDim: number }>();
  const l0 = spec.layers[0];
  for (const s of [l0.qkv, l0.o, l0.gateUp, l0.down, spec.lmHead]) shapes.set(`${s.outDim}x${s.inDim}`, { inDim: s.inDim, outDim: s.outDim });
  const storage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST;
  const rows: { kernel: string; shape: string; ROWS: number; LANES: number; us: number; gbPerSecond: number; copyFraction: number }[] = [];
  for (const [shape, { inDim, outDim }] of shapes) {
    const weightBytes = outDim * inDim / 2;
    const scaleBytes = outDim * inDim / 32 * 2;
    const copies = Math.max(1, Math.ceil(L2_OVERFLOW_BYTES / (weightBytes + scaleBytes)));
    const fill = (bytes: number) => {
      const b = device.createBuffer({ size: bytes, usage: storage });
      const words = new Uint32Array(bytes / 4);
      // Codes anything; scales f16 in [0.5, 1) so sums stay finite.
      for (let i = 0; i < words.length; i++) words[i] = (Math.random() * 2 ** 32) >>> 0;
      device.queue.writeBuffer(b, 0, words);
      return b;
    };
    const scaleWords = new Uint32Array(scaleBytes / 4).fill(0x38003800);
    const weights = Array.from({ length: copies }, () => {
      const s = device.createBuffer({ size: scaleBytes, usage: storage });
      device.queue.writeBuffer(s, 0, scaleWords);
      return { q: fill(weightBytes), s };
    });
    const x = device.createBuffer({ size: inDim * 4, usage: storage });
    device.queue.writeBuffer(x, 0, new Float32Array(inDim).fill(0.01));
    const y = device.createBuffer({ size: outDim * 4, usage: storage | GPUBufferUsage.COPY_SRC });
    const bias = device.createBuffer({ size: 16, usage: storage });
    const batch = device.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(batch, 0, Uint32Array.of(1, 0, 1, 0));
    const only = values.tilings ? values.tilings.split(',').map((t) => t.split('x').map(Number)) : null;
    for (const tiling of tilings().filter((t) => !only || only.some(([r, l]) => r === t.ROWS && l === t.LANES))) for (const kernel of kernels) {
      const pipeline = kernel.pipeline({ IN_DIM: inDim, OUT_DIM: outDim, SCALE_F16: true, HAS_BIAS: false, ADD_TO_OUTPUT: false, ...tiling });
      const kernels = weights.map((w) => bindKernel(device, pipeline, [x, w.q, w.s, bias, y, batch, ...Array<GPUBuffer>(kernel.fusionBindings).fill(bias)]));
      const workgroups = Math.ceil(outDim / tiling.ROWS);
      const gx = Math.min(workgroups, MAX_GRID);
      let best = Infinity;
      for (let r = 0; r < 1 + REPEATS; r++) {
        const encoder = device.createCommandEncoder();
        const pass = stamps.pass(encoder, 0);
        for (let d = 0; d < DISPATCHES; d++) dispatch(pass, kernels[d % copies], gx, Math.ceil(workgroups / gx), 1);
        pass.end();
        const [us] = await stamps.submit(encoder, 1);
        if (r > 0) best = Math.min(best, us / DISPATCHES);
      }
      const gbPerSecond = (weightBytes + scaleBytes) / (best * 1e3);
      rows.push({ kernel: kernel.name, shape, ...tiling, us: best, gbPerSecond, copyFraction: gbPerSecond / copy.gbPerSecond });
      console.log(`${kernel.name.padEnd(16)}${shape.padEnd(12)} ROWS ${String(tiling.ROWS).padStart(3)} LANES ${String(tiling.LANES).padStart(3)}: ${best.toFixed(2).padStart(8)} us  ${gbPerSecond.toFixed(0).padStart(5)} GB/s  ${((100 * gbPerSecond) / copy.gbPerSecond).toFixed(1)} % of copy`);
    }
    // The ceiling for this size: a kernel that only reads the codes (XOR-folded), a vec4 per
    // invocation per round, over 8 workgroups per multiprocessor-sized grid.
    {
      const kernelsRead = weights.map((w) => bindKernel(device, readPipeline, [w.q, sink]));
      let best = Infinity;
      for (let r = 0; r < 1 + REPEATS; r++) {
        const encoder = device.createCommandEncoder();
        const pass = stamps.pass(encoder, 0);
        for (let d = 0; d < DISPATCHES; d++) dispatch(pass, kernelsRead[d % copies], READ_WORKGROUPS);
        pass.end();
        const [us] = await stamps.submit(encoder, 1);
        if (r > 0) best = Math.min(best, us / DISPATCHES);
      }
      const gbPerSecond = weightBytes / (best * 1e3);
      rows.push({ kernel: 'read-only', shape, ROWS: 0, LANES: 0, us: best, gbPerSecond, copyFraction: gbPerSecond / copy.gbPerSecond });
      console.log(`${'read-only'.padEnd(16)}${shape.padEnd(12)} codes only:        ${best.toFixed(2).padStart(8)} us  ${gbPerSecond.toFixed(0).padStart(5)} GB/s  ${((100 * gbPerSecond) / copy.gbPerSecond).toFixed(1)} % of copy`);
    }
    for (const w of weights) { w.q.destroy(); w.s.destroy(); }
    writeFileSync(resolve(values.out), `${JSON.stringify({ gpu: adapterName, copyGbPerSecond: copy.gbPerSecond, rows }, null, 2)}\n`);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
