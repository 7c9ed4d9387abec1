// kvchat against web-llm on the same GPU, same model shapes, same weights files (issue 8). In Node on
// Dawn: web-llm 0.2.79 (npm alias web-llm-peer, the last release whose prebuilt model libraries are
// the web-llm-models/v0_2_48 folder of mlc-ai/binary-mlc-llm-libs) runs unchanged with browser
// globals polyfilled (bench/peer/node-web.ts); kvchat loads the same MLC folder with its own loader.
//
//   node bench/.carry-peer/peer-webllm.mjs --lib-dir DIR [--model qwen2-0.5b-q4f32_1]
//        [--contexts 1024,4096,32768] [--prefill 4096] [--steps 32] [--warmup 8]
//        [--kv fp16,kivi-2,kivi-2-zigzag-20] [--engines webllm,kvchat] [--model-dir /tmp/kvchat-peer]
//        [--out bench/results/peer.json]
//   node bench/.carry-peer/peer-webllm.mjs --merge a.json,b.json --out bench/results/peer.json
//
// The weights are random, in exactly the tensor layout the model library's compiled-in metadata
// lists (checked against kvchat's layout first), written to --model-dir and served on 127.0.0.1.
// Per engine: prefill of a --prefill-token prompt from an empty cache (median of 3, the first token
// sampled), then decode tok/s at each context (prefill up to it, `warmup` untimed steps, `steps`
// timed ones, each awaited alone; tok/s = 1 / median step), and the GPU buffer bytes its device
// allocated. web-llm's steps are its forwardTokensAndSample (forward, logits copied to the CPU,
// sampled there); kvchat's are GpuModel.step (forward and greedy sampling on the GPU, one token read).
// Writes --out after every row.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { KvchatError } from '../src/engine/errors';
import { acquireGpu } from '../src/engine/gpu/device';
import { GpuModel, type Sampling } from '../src/engine/gpu/model';
import { WeightStore } from '../src/engine/gpu/weights';
import { DEFAULT_KV_SETTINGS, KIVI2, type KvSettings } from '../src/engine/kv/settings';
import { loadModel } from '../src/engine/model/loader';
import type { ModelConfig } from '../src/engine/model/types';
import { quantile } from './kv-sweep';
import { DawnUnavailableError, nodeGpu } from './node-gpu';
import { kvchatParams, layoutMismatches, libraryMetadata } from './peer/mlc-model';
import { writeModelFolder } from './peer/model-folder';
import { accountedGpu, asBrowserRuntime, installBrowserGlobals, type BufferLedger } from './peer/node-web';
import { lcg } from './random';
import { serveFolder } from './static-server';
import { LLAMA_3_2_1B, QWEN2_5_0_5B } from './synthetic';

const MIB = 1024 * 1024;
const GREEDY: Sampling = { kind: 'greedy', repetitionPenalty: 1 };
const WEBLLM_VERSION = '0.2.79';

/** Models with a web-llm v0_2_48 library that runs without shader-f16 (Dawn on the H100 lacks it). */
const PEER_MODELS: Record<string, { cfg: ModelConfig; library: string }> = {
  'qwen2-0.5b-q4f32_1': {
    cfg: { ...QWEN2_5_0_5B, quantization: 'q4f32_1' },
    library: 'Qwen2-0.5B-Instruct-q4f32_1-ctx4k_cs1k-webgpu.wasm',
  },
  'llama-3.2-1b-q0f32': {
    cfg: { ...LLAMA_3_2_1B, quantization: 'q0f32' },
    library: 'Llama-3.2-1B-Instruct-q0f32-ctx4k_cs1k-webgpu.wasm',
  },
};

const KV_VARIANTS: Record<string, KvSettings> = {
  fp16: DEFAULT_KV_SETTINGS,
  'kivi-2': KIVI2,
  'kivi-2-zigzag-20': { ...KIVI2, policy: 'zigzag', budgetFraction: 0.2 },
};

interface Options {
  /** Result files to merge instead of measuring. */
  merge: string[];
  model: string;
  libDir: string;
  modelDir: string;
  contexts: number[];
  prefill: number;
  steps: number;
  warmup: number;
  variants: string[];
  engines: string[];
  out: string;
}

class UsageError extends Error {}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      model: { type: 'string', default: 'qwen2-0.5b-q4f32_1' },
      'lib-dir': { type: 'string', default: 'bench/.carry-peer/lib' },
      'model-dir': { type: 'string', default: '/tmp/kvchat-peer' },
      contexts: { type: 'string', default: '1024,4096,32768' },
      prefill: { type: 'string', default: '4096' },
      steps: { type: 'string', default: '32' },
      warmup: { type: 'string', default: '8' },
      kv: { type: 'string', default: Object.keys(KV_VARIANTS).join(',') },
      engines: { type: 'string', default: 'webllm,kvchat' },
      out: { type: 'string', default: 'bench/results/peer.json' },
      merge: { type: 'string', default: '' },
    },
  });
  const count = (text: string, name: string, min: number): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be integers >= ${min}, not ${text}`);
    return n;
  };
  if (!PEER_MODELS[values.model]) throw new UsageError(`no peer model ${values.model}; known: ${Object.keys(PEER_MODELS).join(', ')}`);
  const variants = values.kv.split(',').filter(Boolean);
  for (const v of variants) if (!KV_VARIANTS[v]) throw new UsageError(`no KV variant ${v}; known: ${Object.keys(KV_VARIANTS).join(', ')}`);
  const engines = values.engines.split(',').filter(Boolean);
  for (const e of engines) if (e !== 'webllm' && e !== 'kvchat') throw new UsageError(`--engines takes webllm and/or kvchat, not ${e}`);
  const steps = count(values.steps, 'steps', 1);
  const warmup = count(values.warmup, 'warmup', 0);
  const contexts = values.contexts.split(',').map((c) => count(c, 'contexts', warmup + steps + 1));
  if (contexts.some((c, i) => i > 0 && c <= contexts[i - 1])) throw new UsageError('--contexts must be ascending');
  return {
    merge: values.merge.split(',').filter(Boolean).map((f) => resolve(f)),
    model: values.model,
    libDir: resolve(values['lib-dir']),
    modelDir: resolve(values['model-dir'], values.model),
    contexts,
    prefill: count(values.prefill, 'prefill', 2),
    steps,
    warmup,
    variants,
    engines,
    out: resolve(values.out),
  };
}

interface DecodeRow {
  engine: string;
  kv: string;
  context: number;
  status: 'measured' | 'failed';
  error?: string;
  /** Tokens in the prompt that brought the cache from the previous context to this one. */
  prefillTokens?: number;
  decode?: { steps: number; warmup: number; medianMs: number; p90Ms: number; tokensPerSecond: number; submitsPerStep: number };
}

interface EngineRow {
  engine: string;
  kv: string;
  prefill: { tokens: number; msRuns: number[]; medianMs: number; tokensPerSecond: number; submits: number } | null;
  /** GPU buffer bytes: live once the model was loaded (kvchat: the weights; web-llm: the weights and
   *  its KV cache for the whole context window, allocated at load), the most live at once while it
   *  ran, and the KV cache's own allocation where the engine reports it. */
  memory: { loadedBytes: number; peakBytes: number; kvAllocatedBytes: number | null };
  /** One queue.submit of a 16-byte copy on this engine's device, awaited in batches: the floor of a submit's cost. */
  submitMs: number;
  contextWindow: number;
}

/** The operations both engines offer the sweep. */
interface Runner {
  /** Empties the KV cache. */
  reset(): Promise<void>;
  /** Runs `tokens` after what the cache holds and samples the next token. */
  prefill(tokens: number[]): Promise<number>;
  /** One decode step. */
  step(token: number): Promise<number>;
  /** Tokens seen since the last reset. */
  position(): number;
  /** Command buffers submitted so far. */
  submits(): number;
}

async function sweep(
  runner: Runner,
  engine: string,
  kv: string,
  options: Options,
  contexts: number[],
  random: () => number,
  vocab: number,
  onRow: (row: DecodeRow) => void,
  errors: () => Promise<string | null>,
): Promise<EngineRow['prefill']> {
  const prompt = (n: number) => Array.from({ length: n }, () => random() % vocab);
  // Prefill from an empty cache: one warm-up run, then 3 timed ones.
  const msRuns: number[] = [];
  let submits = 0;
  for (let run = 0; run < 4; run++) {
    await runner.reset();
    const tokens = prompt(options.prefill);
    submits = runner.submits();
    const start = performance.now();
    await runner.prefill(tokens);
    if (run > 0) msRuns.push(performance.now() - start);
    submits = runner.submits() - submits;
  }
  const invalidPrefill = await errors();
  const medianMs = quantile(msRuns, 0.5);
  const prefill = invalidPrefill ? null : { tokens: options.prefill, msRuns, medianMs, tokensPerSecond: (options.prefill / medianMs) * 1000, submits };
  if (invalidPrefill) console.log(`${engine} ${kv}: prefill reported a GPU error: ${invalidPrefill}`);

  await runner.reset();
  for (const context of contexts) {
    const base = { engine, kv, context };
    try {
      const prefillTokens = context - options.warmup - options.steps - runner.position();
      let token = await runner.prefill(prompt(prefillTokens));
      const stepMs: number[] = [];
      let stepSubmits = 0;
      for (let step = 0; step < options.warmup + options.steps; step++) {
        const submitsBefore = runner.submits();
        const start = performance.now();
        token = await runner.step(token);
        if (step >= options.warmup) {
          stepMs.push(performance.now() - start);
          stepSubmits += runner.submits() - submitsBefore;
        }
      }
      const invalid = await errors();
      if (invalid) throw new Error(`the GPU reported an error, so these timings are void: ${invalid}`);
      const medianMs = quantile(stepMs, 0.5);
      onRow({
        ...base,
        status: 'measured',
        prefillTokens,
        decode: { steps: options.steps, warmup: options.warmup, medianMs, p90Ms: quantile(stepMs, 0.9), tokensPerSecond: 1000 / medianMs, submitsPerStep: stepSubmits / options.steps },
      });
    } catch (err) {
      onRow({ ...base, status: 'failed', error: err instanceof Error ? err.message : String(err) });
      break;
    }
  }
  return prefill;
}

/** Pushes a validation + out-of-memory scope now; the returned function pops both and reports the first error. */
function errorScopes(device: GPUDevice): () => Promise<string | null> {
  const push = () => {
    device.pushErrorScope('validation');
    device.pushErrorScope('out-of-memory');
  };
  push();
  return async () => {
    const oom = await device.popErrorScope();
    const invalid = await device.popErrorScope();
    push();
    return (oom ?? invalid)?.message ?? null;
  };
}

async function main(): Promise<void> {
  const start = performance.now();
  const options = parseOptions();
  if (options.merge.length > 0) return mergeResults(options.merge, options.out);
  const peer = PEER_MODELS[options.model];
  const wasmPath = join(options.libDir, peer.library);
  if (!existsSync(wasmPath)) throw new UsageError(`no model library at ${wasmPath}: fetch ${peer.library} from mlc-ai/binary-mlc-llm-libs web-llm-models/v0_2_48/ (see docs/BENCHMARKS.md)`);
  const wasm = new Uint8Array(readFileSync(wasmPath));
  const meta = libraryMetadata(wasm);
  const cfg = { ...peer.cfg, prefillChunkSize: meta.prefillChunkSize };
  const mismatches = layoutMismatches(meta.params, kvchatParams(cfg));
  if (mismatches.length > 0) throw new Error(`kvchat's layout differs from the library's:\n  ${mismatches.join('\n  ')}`);
  const maxContext = options.contexts[options.contexts.length - 1];
  console.log(`library  ${peer.library}: ${meta.modelType} ${meta.quantization}, ${meta.params.length} params, compiled context ${meta.contextWindowSize}, prefill chunk ${meta.prefillChunkSize}`);

  // web-llm appends resolve/main/ to a model URL that lacks it (Hugging Face's layout).
  const folder = join(options.modelDir, 'resolve', 'main');
  const genStart = performance.now();
  writeModelFolder(folder, cfg, meta, wasm, maxContext);
  console.log(`weights  ${folder} ready in ${((performance.now() - genStart) / 1000).toFixed(1)} s`);
  const server = await serveFolder(options.modelDir);
  const modelUrl = `${server.url}resolve/main/`;

  const { gpu, adapterName } = await nodeGpu();
  console.log(`adapter  ${adapterName}`);
  let ledger: BufferLedger | null = null;
  let device: GPUDevice | null = null;
  const gpuAccounted = accountedGpu(gpu, (l, d) => ((ledger = l), (device = d)));
  installBrowserGlobals(gpuAccounted, server.url);

  const decodeRows: DecodeRow[] = [];
  const engineRows: EngineRow[] = [];
  const write = () => {
    const result = {
      gpu: adapterName,
      date: new Date().toISOString(),
      command: ['node', 'peer-webllm.mjs', ...process.argv.slice(2)].join(' '),
      versions: { node: process.version, webllm: WEBLLM_VERSION, library: `binary-mlc-llm-libs web-llm-models/v0_2_48/${peer.library}`, webgpu: 'webgpu (Dawn) 0.6.2' },
      model: options.model,
      options: { contexts: options.contexts, prefill: options.prefill, steps: options.steps, warmup: options.warmup },
      summary: summarize(decodeRows, engineRows),
      engines: engineRows,
      rows: decodeRows,
    };
    mkdirSync(dirname(options.out), { recursive: true });
    writeFileSync(options.out, `${JSON.stringify(result, null, 2)}\n`);
  };
  const onRow = (row: DecodeRow) => {
    decodeRows.push(row);
    const text = row.status === 'measured'
      ? `decode ${row.decode!.tokensPerSecond.toFixed(1)} tok/s (median ${row.decode!.medianMs.toFixed(3)} ms, p90 ${row.decode!.p90Ms.toFixed(3)} ms, ${row.decode!.submitsPerStep.toFixed(0)} submits/step)`
      : `failed: ${row.error}`;
    console.log(`${row.engine.padEnd(7)} ${row.kv.padEnd(17)} ${String(row.context).padStart(6)}  ${text}`);
    write();
  };
  const describeEngine = (row: EngineRow) => {
    engineRows.push(row);
    const p = row.prefill ? `prefill ${row.prefill.tokens} tokens in ${row.prefill.medianMs.toFixed(1)} ms (${row.prefill.tokensPerSecond.toFixed(0)} tok/s, ${row.prefill.submits} submits)` : 'prefill void';
    const m = row.memory;
    console.log(`${row.engine.padEnd(7)} ${row.kv.padEnd(17)} ${p} | GPU buffers peak ${(m.peakBytes / MIB).toFixed(1)} MiB (loaded ${(m.loadedBytes / MIB).toFixed(1)}) | submit ${row.submitMs.toFixed(3)} ms`);
    write();
  };
  write();

  if (options.engines.includes('webllm')) {
    await runWebllm(modelUrl, cfg, options, maxContext, meta.contextWindowSize, () => ledger!, () => device!, onRow, describeEngine);
  }
  if (options.engines.includes('kvchat')) {
    ledger = null;
    const { device: kvDevice } = await acquireGpu(gpuAccounted);
    const kvLedger = ledger! as BufferLedger;
    const weights = new WeightStore(kvDevice);
    const loaded = await loadModel(modelUrl, (t) => weights.upload(t), { cacheName: null });
    const loadedCfg = { ...loaded.config, prefillChunkSize: meta.prefillChunkSize };
    const loadedBytes = kvLedger.live;
    const submitMs = await submitCostMs(kvDevice);
    for (const kv of options.variants) {
      const before = kvLedger.live;
      kvLedger.peak = before;
      const errors = errorScopes(kvDevice);
      const settings = KV_VARIANTS[kv];
      const model = new GpuModel(kvDevice, loadedCfg, weights, maxContext + 1, settings);
      const runner: Runner = {
        reset: async () => model.rebuildKvCache(settings),
        prefill: async (tokens) => {
          await model.prefill(tokens);
          return model.sample(GREEDY, []);
        },
        step: (token) => model.step(token, GREEDY, []),
        position: () => model.position,
        submits: () => kvLedger.submits,
      };
      const prefill = await sweep(runner, 'kvchat', kv, options, options.contexts, lcg(7), cfg.vocabSize, onRow, errors);
      describeEngine({
        engine: 'kvchat',
        kv,
        prefill,
        // Buffers of other variants are gone by now (destroyed), so the peak is this one's plus the weights.
        memory: { loadedBytes, peakBytes: loadedBytes + kvLedger.peak - before, kvAllocatedBytes: model.kvBytes().allocated },
        submitMs,
        contextWindow: maxContext,
      });
      model.destroy();
      await errors();
    }
    weights.destroy();
    kvDevice.destroy();
  }
  await server.close();
  const summary = summarize(decodeRows, engineRows);
  console.log(`summary  ${JSON.stringify(summary)}`);
  console.log(`wrote    ${options.out} (${((performance.now() - start) / 1000).toFixed(1)} s)`);
}

/** web-llm at the largest context it accepts: first `maxContext`, then its library's compiled one. */
async function runWebllm(
  url: string,
  cfg: ModelConfig,
  options: Options,
  maxContext: number,
  compiledContext: number,
  ledger: () => BufferLedger,
  device: () => GPUDevice,
  onRow: (row: DecodeRow) => void,
  onEngine: (row: EngineRow) => void,
): Promise<void> {
  // Imported only now: web-llm reads the browser globals installed above.
  const webllm = await import('web-llm-peer');
  const modelId = `peer-${cfg.architecture}`;
  const load = async (contextWindow: number) => {
    const appConfig = {
      model_list: [{ model: url, model_id: modelId, model_lib: `${url}model.wasm`, overrides: { context_window_size: contextWindow } }],
      useIndexedDBCache: false,
    };
    const engine = new webllm.MLCEngine({ appConfig, logLevel: 'WARN' });
    const loadStart = performance.now();
    await asBrowserRuntime(() => engine.reload(modelId));
    console.log(`webllm   loaded in ${((performance.now() - loadStart) / 1000).toFixed(1)} s, context window ${contextWindow}`);
    return engine;
  };
  let contextWindow = maxContext;
  let engine: Awaited<ReturnType<typeof load>>;
  try {
    engine = await load(contextWindow);
  } catch (err) {
    console.log(`webllm   refused a ${contextWindow}-token context (${err instanceof Error ? err.message : String(err)}); using the library's ${compiledContext}`);
    contextWindow = compiledContext;
    engine = await load(contextWindow);
  }
  const contexts = options.contexts.filter((c) => c <= contextWindow);
  const webLedger = ledger();
  const loadedBytes = webLedger.live;
  const submitMs = await submitCostMs(device());
  const errors = errorScopes(device());
  let filled = 0;
  const runner: Runner = {
    reset: async () => {
      await engine.resetChat();
      filled = 0;
    },
    prefill: async (tokens) => {
      filled += tokens.length;
      return engine.forwardTokensAndSample(tokens, true);
    },
    step: async (token) => {
      filled += 1;
      return engine.forwardTokensAndSample([token], false);
    },
    position: () => filled,
    submits: () => webLedger.submits,
  };
  const prefill = await sweep(runner, 'webllm', 'fp16 (f32 paged)', options, contexts, lcg(7), cfg.vocabSize, onRow, errors);
  onEngine({
    engine: 'webllm',
    kv: 'fp16 (f32 paged)',
    prefill,
    memory: { loadedBytes, peakBytes: webLedger.peak, kvAllocatedBytes: null },
    submitMs,
    contextWindow,
  });
  await engine.unload();
}

interface ResultFile {
  gpu: string;
  date: string;
  command: string;
  versions: unknown;
  model: string;
  engines: EngineRow[];
  rows: DecodeRow[];
}

/** One result from runs of the same model on the same GPU (e.g. the KV variants a first run had no
 *  time for): a decode row (engine, KV, context) or engine row (engine, KV, context window) from an
 *  earlier file is kept, later files add the ones it lacks. The summary comes from the first file's
 *  rows where they exist. */
function mergeResults(files: string[], out: string): void {
  const results = files.map((f) => JSON.parse(readFileSync(f, 'utf8')) as ResultFile);
  for (const key of ['gpu', 'model'] as const) {
    const values = new Set(results.map((r) => r[key]));
    if (values.size !== 1) throw new UsageError(`--merge needs results with one ${key}, got ${[...values].join(' / ')}`);
  }
  const rows = new Map<string, DecodeRow>();
  const engines = new Map<string, EngineRow>();
  for (const r of results) {
    for (const row of r.rows) if (row.status === 'measured' && !rows.has(`${row.engine}|${row.kv}|${row.context}`)) rows.set(`${row.engine}|${row.kv}|${row.context}`, row);
    for (const e of r.engines) if (!engines.has(`${e.engine}|${e.kv}|${e.contextWindow}`)) engines.set(`${e.engine}|${e.kv}|${e.contextWindow}`, e);
  }
  const merged = {
    gpu: results[0].gpu,
    model: results[0].model,
    versions: results[0].versions,
    merged: results.map((r) => ({ date: r.date, command: r.command })),
    summary: summarize([...rows.values()], [...engines.values()]),
    engines: [...engines.values()],
    rows: [...rows.values()],
  };
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(merged, null, 2)}\n`);
  console.log(`summary  ${JSON.stringify(merged.summary)}`);
}

/** Mean cost of one queue.submit holding a 16-byte copy, over batches of 256 awaited together (best of 3). */
async function submitCostMs(device: GPUDevice): Promise<number> {
  const usage = GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  const a = device.createBuffer({ size: 16, usage });
  const b = device.createBuffer({ size: 16, usage });
  const batch = 256;
  let best = Infinity;
  for (let round = 0; round < 4; round++) {
    const start = performance.now();
    for (let i = 0; i < batch; i++) {
      const encoder = device.createCommandEncoder();
      encoder.copyBufferToBuffer(a, 0, b, 0, 16);
      device.queue.submit([encoder.finish()]);
    }
    await device.queue.onSubmittedWorkDone();
    // The first round warms up.
    if (round > 0) best = Math.min(best, (performance.now() - start) / batch);
  }
  a.destroy();
  b.destroy();
  return best;
}

interface Summary {
  /** kvchat fp16 / KIVI-2 decode tok/s over web-llm's at 4K. */
  fp16_vs_webllm_decode_4k: number | null;
  kivi2_vs_webllm_decode_4k: number | null;
  /** kvchat fp16's time to prefill the 4K prompt over web-llm's. */
  prefill_4k_time_ratio: number | null;
  targets_met: Record<'fp16_vs_webllm_decode_4k' | 'kivi2_vs_webllm_decode_4k' | 'prefill_4k_time_ratio', boolean | null>;
}

function summarize(rows: DecodeRow[], engines: EngineRow[]): Summary {
  const tps = (engine: string, kv: string | null, context: number) =>
    rows.find((r) => r.status === 'measured' && r.engine === engine && (kv === null || r.kv === kv) && r.context === context)?.decode?.tokensPerSecond ?? null;
  const web = tps('webllm', null, 4096);
  const ratio = (x: number | null, y: number | null) => (x === null || y === null ? null : x / y);
  const prefillMs = (engine: string, kv: string | null) => engines.find((e) => e.engine === engine && (kv === null || e.kv === kv))?.prefill?.medianMs ?? null;
  const summary = {
    fp16_vs_webllm_decode_4k: ratio(tps('kvchat', 'fp16', 4096), web),
    kivi2_vs_webllm_decode_4k: ratio(tps('kvchat', 'kivi-2', 4096), web),
    prefill_4k_time_ratio: ratio(prefillMs('kvchat', 'fp16'), prefillMs('webllm', null)),
  };
  const met = (x: number | null, ok: (x: number) => boolean) => (x === null ? null : ok(x));
  return {
    ...summary,
    targets_met: {
      fp16_vs_webllm_decode_4k: met(summary.fp16_vs_webllm_decode_4k, (x) => x >= 0.8),
      kivi2_vs_webllm_decode_4k: met(summary.kivi2_vs_webllm_decode_4k, (x) => x >= 1.0),
      prefill_4k_time_ratio: met(summary.prefill_4k_time_ratio, (x) => x <= 1.2),
    },
  };
}

main().then(
  // Dawn keeps the process alive after its devices are gone.
  () => process.exit(0),
  (err: unknown) => {
    console.error(`bench/peer-webllm: ${err instanceof Error ? err.message : String(err)}`);
    if (err instanceof DawnUnavailableError || err instanceof KvchatError) console.error(`hint: ${err.hint}`);
    else if (!(err instanceof UsageError) && err instanceof Error && err.stack) console.error(err.stack);
    process.exit(1);
  },
);
