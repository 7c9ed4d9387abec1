// Prefill and decode tokens/s of kvchat's engine in Node on Dawn, with the GPU's copy bandwidth
// measured in the same run as the ceiling that memory-bound decode is compared against.
//
//   node bench/.carry/decode.mjs [--model llama-q4f16 | --model synthetic:llama-3.2-1b]
//        [--fixtures public/fixtures] [--context 1024] [--prompt 128] [--steps 64] [--warmup 8]
//        [--copy-mib 1024]
//
// A fixture model is served from --fixtures over HTTP on 127.0.0.1 and run twice: once through
// createEngine + chat.completions.create (the public API end to end; its `usage` figures are
// printed as reported), then through GpuModel directly with a fixed random prompt, where every
// decode step is timed on its own: the decode figure is 1 / median step time, over --steps steps
// after --warmup untimed ones. A synthetic model has real shapes and random q4f16_1 weights.
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createEngine } from '../src/engine/engine';
import { KvchatError } from '../src/engine/errors';
import { acquireGpu } from '../src/engine/gpu/device';
import { GpuModel, type Sampling } from '../src/engine/gpu/model';
import { WeightStore } from '../src/engine/gpu/weights';
import { loadModel } from '../src/engine/model/loader';
import type { ModelConfig } from '../src/engine/model/types';
import { measureCopyBandwidth } from './copy-bandwidth';
import { DawnUnavailableError, nodeGpu } from './node-gpu';
import { serveFolder } from './static-server';
import { lcg } from './random';
import { SYNTHETIC_MODELS, syntheticWeights } from './synthetic';

const SYNTHETIC_PREFIX = 'synthetic:';
const PREFILL_RUNS = 3;
const GREEDY: Sampling = { kind: 'greedy', repetitionPenalty: 1 };
const MIB = 1024 * 1024;

interface Options {
  model: string;
  fixtures: string;
  context: number;
  prompt: number;
  steps: number;
  warmup: number;
  copyMib: number;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      model: { type: 'string', default: 'llama-q4f16' },
      fixtures: { type: 'string', default: 'public/fixtures' },
      context: { type: 'string', default: '1024' },
      prompt: { type: 'string', default: '128' },
      steps: { type: 'string', default: '64' },
      warmup: { type: 'string', default: '8' },
      'copy-mib': { type: 'string', default: '1024' },
    },
  });
  const count = (name: keyof typeof values, min: number): number => {
    const n = Number(values[name]);
    if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min}, not ${values[name]}`);
    return n;
  };
  const options: Options = {
    model: values.model,
    fixtures: resolve(values.fixtures),
    context: count('context', 2),
    prompt: count('prompt', 1),
    steps: count('steps', 1),
    warmup: count('warmup', 0),
    copyMib: count('copy-mib', 0),
  };
  // The prompt, every decode step, and the token each step reads must all fit in the KV cache.
  const needed = options.prompt + options.warmup + options.steps;
  if (needed > options.context) throw new UsageError(`--prompt + --warmup + --steps = ${needed} tokens exceed --context ${options.context}`);
  return options;
}

class UsageError extends Error {}

interface Throughput {
  prefillTokens: number;
  /** Median over PREFILL_RUNS runs, after one untimed run. */
  prefillMs: number;
  decodeStepMs: number[];
}

/** Prefill of a fixed random prompt (median of several, each from an empty cache), then greedy
 *  decode steps from its end, each awaited and timed alone. */
async function measureThroughput(model: GpuModel, options: Options): Promise<Throughput> {
  const random = lcg(12345);
  const prompt = Array.from({ length: options.prompt }, () => random() % model.cfg.vocabSize);
  const prefillMs: number[] = [];
  let token = 0;
  for (let run = 0; run <= PREFILL_RUNS; run++) {
    model.truncate(0);
    const start = performance.now();
    model.forward(prompt);
    token = await model.sample(GREEDY, []);
    if (run > 0) prefillMs.push(performance.now() - start);
  }
  const decodeStepMs: number[] = [];
  for (let step = 0; step < options.warmup + options.steps; step++) {
    const start = performance.now();
    token = await model.step(token, GREEDY, []);
    if (step >= options.warmup) decodeStepMs.push(performance.now() - start);
  }
  return { prefillTokens: prompt.length, prefillMs: median(prefillMs), decodeStepMs };
}

/** The public API end to end: load by URL, one greedy chat completion, its reported usage. */
async function runEngine(gpu: GPU, url: string, options: Options): Promise<string> {
  const engine = await createEngine(url, { gpu, cacheName: null, contextLength: options.context });
  try {
    const stream = engine.chat.completions.create({
      messages: [{ role: 'user', content: 'Write a long story about a GPU that learned to talk.' }],
      max_tokens: options.steps,
      temperature: 0,
    });
    let usage;
    for await (const chunk of stream) usage = chunk.usage ?? usage;
    if (!usage) throw new Error('the completion stream ended without usage');
    return (
      `${usage.prompt_tokens} prompt + ${usage.completion_tokens} completion tokens, ` +
      `prefill ${usage.extra.prefill_tokens_per_s.toFixed(1)} tok/s, decode ${usage.extra.decode_tokens_per_s.toFixed(1)} tok/s (usage.extra, mean)`
    );
  } finally {
    await engine.unload();
  }
}

async function main(): Promise<void> {
  const options = parseOptions();
  const { gpu, adapterName } = await nodeGpu();
  const print = (label: string, text: string) => console.log(`${label.padEnd(9)}${text}`);
  print('adapter', adapterName);

  const synthetic = options.model.startsWith(SYNTHETIC_PREFIX);
  const server = synthetic ? null : await serveFolder(options.fixtures);
  try {
    const gpuContext = await acquireGpu(gpu);
    const { device } = gpuContext;
    const weights = new WeightStore(device);
    let cfg: ModelConfig;
    let modelId = options.model;
    const loadStart = performance.now();
    device.pushErrorScope('validation');
    if (synthetic) {
      const name = options.model.slice(SYNTHETIC_PREFIX.length);
      const shape = SYNTHETIC_MODELS[name];
      if (!shape) throw new UsageError(`no synthetic model ${name}; known: ${Object.keys(SYNTHETIC_MODELS).join(', ')}`);
      cfg = shape;
      syntheticWeights(cfg, (t) => weights.upload(t));
    } else {
      const loaded = await loadModel(`${server!.url}${options.model}/`, (t) => weights.upload(t), { cacheName: null });
      cfg = loaded.config;
      modelId = loaded.modelId;
    }
    const context = Math.min(options.context, cfg.contextWindowSize);
    const model = new GpuModel(device, cfg, weights, context);
    await device.queue.onSubmittedWorkDone();
    const loadMs = performance.now() - loadStart;
    print(
      'model',
      `${modelId}: ${cfg.architecture} ${cfg.quantization}, ${cfg.numLayers} layers, hidden ${cfg.hiddenSize}, ` +
        `${cfg.numHeads}/${cfg.numKvHeads} heads x ${cfg.headDim}, intermediate ${cfg.intermediateSize}, vocab ${cfg.vocabSize}; ` +
        `weights ${(weights.bytes / MIB).toFixed(1)} MiB, loaded in ${(loadMs / 1000).toFixed(2)} s`,
    );
    print('context', `${context} tokens of ${model.settings.keyBits === 16 ? 'fp16' : `KIVI-${model.settings.keyBits}`} KV cache (${(model.kvBytes().allocated / MIB).toFixed(1)} MiB allocated), prefill chunk ${cfg.prefillChunkSize}`);

    const t = await measureThroughput(model, options);
    const gpuError = await device.popErrorScope();
    if (gpuError) throw new Error(`the GPU reported a validation error, so the timings are void: ${gpuError.message}`);
    const stepMs = median(t.decodeStepMs);
    print('prefill', `${((t.prefillTokens / t.prefillMs) * 1000).toFixed(1)} tok/s (${t.prefillTokens} tokens in ${t.prefillMs.toFixed(2)} ms, median of ${PREFILL_RUNS})`);
    print(
      'decode',
      `${(1000 / stepMs).toFixed(1)} tok/s (median step ${stepMs.toFixed(3)} ms over ${options.steps} steps after ${options.warmup} warm-up; ` +
        `mean ${mean(t.decodeStepMs).toFixed(3)} ms, min ${Math.min(...t.decodeStepMs).toFixed(3)} ms, p90 ${quantile(t.decodeStepMs, 0.9).toFixed(3)} ms)`,
    );
    model.destroy();

    if (options.copyMib > 0) {
      const copy = await measureCopyBandwidth(device, options.copyMib * MIB);
      print('copy', `${(copy.gbPerSecond / 1000).toFixed(3)} TB/s read + write (${(copy.bytes / MIB).toFixed(0)} MiB vec4<u32> copy in ${copy.msPerCopy.toFixed(3)} ms)`);
    }
    device.destroy();

    if (server) print('engine', await runEngine(gpu, `${server.url}${options.model}/`, options));
  } finally {
    await server?.close();
  }
}

function median(xs: number[]): number {
  return quantile(xs, 0.5);
}

function quantile(xs: number[], q: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  return sorted[lo] + (sorted[Math.min(lo + 1, sorted.length - 1)] - sorted[lo]) * (at - lo);
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

main().then(
  // Dawn keeps the process alive after its devices are gone.
  () => process.exit(0),
  (err: unknown) => {
    console.error(`bench/decode: ${err instanceof Error ? err.message : String(err)}`);
    if (err instanceof DawnUnavailableError || err instanceof KvchatError) console.error(`hint: ${err.hint}`);
    else if (!(err instanceof UsageError) && err instanceof Error && err.stack) console.error(err.stack);
    process.exit(1);
  },
);
