// The measurements behind bench/kivi.ts, DOM- and Node-free so a browser test can run them on a
// tiny model: for every (model, KV cache variant) a GpuModel is prefilled up to each context in
// turn (never re-prefilled from 0), and at each context its decode speed, KV bytes and the
// attention kernels' achieved bandwidth are recorded.
import { DEFAULT_KV_SETTINGS, KIVI2, type KvSettings } from '../src/engine/kv/settings';
import { GpuModel, type Sampling } from '../src/engine/gpu/model';
import type { WeightStore } from '../src/engine/gpu/weights';
import type { ModelConfig } from '../src/engine/model/types';
import { growByBookkeeping } from './grow';
import { lcg } from './random';

const GREEDY: Sampling = { kind: 'greedy', repetitionPenalty: 1 };
const F16 = 2;
const F32 = 4;

/** The KV caches compared, in the order they are measured at each context (the summary's pair first). */
export const KV_VARIANTS = {
  fp16: DEFAULT_KV_SETTINGS,
  'kivi-2': KIVI2,
  'kivi-4': { ...KIVI2, keyBits: 4, valueBits: 4 },
} as const satisfies Record<string, KvSettings>;

export type KvVariant = keyof typeof KV_VARIANTS;

export interface SweepModel {
  name: string;
  cfg: ModelConfig;
  /** Shared by every variant's GpuModel, and destroyed with them when the sweep ends. */
  weights: WeightStore;
}

export interface SweepOptions {
  /** Cache lengths, ascending, at which the timed decode steps end. */
  contexts: number[];
  variants: KvVariant[];
  /** Timed decode steps at each context, after `warmup` untimed ones. */
  steps: number;
  warmup: number;
  /** Wall time (performance.now()) after which no context is started whose prefill is predicted to end later. */
  deadline: number;
  /** Aim of one timed submit of attention-only passes, in ms. */
  attentionSubmitMs: number;
  /** Copy bandwidth of the same run (read + write), GB/s. */
  copyGbPerSecond: number;
  /** How the cache reaches each context: a real prefill (timed), or bookkeeping alone
   *  (bench/grow.ts: no prefill figure, no time). */
  fill: 'prefill' | 'bookkeeping';
}

export interface MeasuredRow {
  model: string;
  kv: KvVariant;
  settings: KvSettings;
  context: number;
  status: 'measured';
  /** The prefill from the previous context's end to this one's first decode step; null when the
   *  cache was grown by bookkeeping. */
  prefill: { fromTokens: number; toTokens: number; ms: number; tokensPerSecond: number } | null;
  decode: { steps: number; warmup: number; medianMs: number; meanMs: number; p90Ms: number; tokensPerSecond: number };
  kvBytes: {
    /** Tokens held when the bytes and the attention were measured. */
    tokens: number;
    used: number;
    allocated: number;
    fp16Equivalent: number;
    bytesPerToken: number;
    fp16BytesPerToken: number;
    /** Tokens in the fp16 part (all of them for fp16; the residual for KIVI). */
    fullPrecisionTokens: number;
    /** Codes + scales/mins per quantized token, and that over fp16's bytes per token (null for fp16). */
    quantizedBytesPerToken: number | null;
    quantizedRatio: number | null;
  };
  attention: {
    /** Passes over every layer's cache kernels (append, attention, reduce) in one timed submit. */
    passesPerSubmit: number;
    msPerPass: number;
    /** Cache bytes used + every layer's f32 query: what a pass must read at least. */
    bytesPerPass: number;
    gbPerSecond: number;
    copyFraction: number;
  };
}

export interface SkippedRow {
  model: string;
  kv: KvVariant;
  settings: KvSettings;
  context: number;
  status: 'skipped';
  reason: string;
}

export type Row = MeasuredRow | SkippedRow;

interface Run {
  model: SweepModel;
  kv: KvVariant;
  gpu: GpuModel;
  random: () => number;
  /** The last prefill segment and the decode/attention work after it, to predict the next. */
  last: { tokens: number; meanContext: number; prefillMs: number; measureMs: number } | null;
  skipReason: string | null;
}

/** Measures every model x variant at every context, handing each row to `onRow` as soon as it exists. */
export async function sweepContexts(device: GPUDevice, models: SweepModel[], options: SweepOptions, onRow: (row: Row) => void): Promise<void> {
  const { contexts, steps, warmup } = options;
  const capacity = contexts[contexts.length - 1] + 1; // + 1: attentionOnly() may take one step to flush.
  const runs: Run[] = [];
  try {
    for (const model of models) {
      for (const kv of options.variants) {
        device.pushErrorScope('out-of-memory');
        const gpu = new GpuModel(device, model.cfg, model.weights, capacity, KV_VARIANTS[kv]);
        const oom = await device.popErrorScope();
        runs.push({ model, kv, gpu, random: lcg(12345), last: null, skipReason: null });
        if (oom) throw new Error(`${model.name} / ${kv}: the GPU has no room for a ${capacity}-token cache: ${oom.message}`);
      }
    }
    for (const context of contexts) {
      const prefillTo = context - warmup - steps;
      for (const run of runs) {
        const base = { model: run.model.name, kv: run.kv, settings: KV_VARIANTS[run.kv], context };
        const predictedEnd = run.last ? performance.now() + predictMs(run, run.last, prefillTo) : -Infinity;
        if (run.skipReason === null && predictedEnd > options.deadline) {
          run.skipReason = `time limit: reaching ${context} tokens was predicted to end ${((predictedEnd - options.deadline) / 1000).toFixed(1)} s past it`;
        }
        if (run.skipReason !== null) {
          onRow({ ...base, status: 'skipped', reason: run.skipReason });
          continue;
        }
        device.pushErrorScope('validation');
        const row = await measureAt(device, run, base, prefillTo, options);
        const invalid = await device.popErrorScope();
        if (invalid) {
          // Timings of invalid work mean nothing; the other runs use their own buffers and go on.
          run.skipReason = `the GPU reported a validation error at ${context} tokens, so this cache's timings are void: ${invalid.message}`;
          onRow({ ...base, status: 'skipped', reason: run.skipReason });
          continue;
        }
        onRow(row);
      }
    }
  } finally {
    // Each destroy() also destroys the shared weights; destroying a GPU buffer twice is harmless.
    for (const run of runs) run.gpu.destroy();
  }
}

async function measureAt(device: GPUDevice, run: Run, base: Omit<MeasuredRow, 'status' | 'prefill' | 'decode' | 'kvBytes' | 'attention'>, prefillTo: number, options: SweepOptions): Promise<MeasuredRow> {
  const { gpu } = run;
  const vocab = gpu.cfg.vocabSize;
  const fromTokens = gpu.length;
  const prompt = Array.from({ length: prefillTo - fromTokens }, () => run.random() % vocab);
  const prefillStart = performance.now();
  if (options.fill === 'prefill') {
    gpu.forward(prompt);
    await device.queue.onSubmittedWorkDone();
  } else {
    growByBookkeeping(gpu, prefillTo);
  }
  const prefillMs = performance.now() - prefillStart;

  const measureStart = performance.now();
  let token = options.fill === 'prefill' ? await gpu.sample(GREEDY, []) : 0;
  const stepMs: number[] = [];
  for (let step = 0; step < options.warmup + options.steps; step++) {
    const start = performance.now();
    token = await gpu.step(token, GREEDY, []);
    if (step >= options.warmup) stepMs.push(performance.now() - start);
  }
  const attention = await attentionOnly(device, gpu, options.attentionSubmitMs);
  const kvBytes = kvBytesRow(gpu);
  const bytesPerPass = kvBytes.used + gpu.cfg.numLayers * gpu.cfg.numHeads * gpu.cfg.headDim * F32;
  const gbPerSecond = bytesPerPass / (attention.msPerPass * 1e6);
  run.last = {
    tokens: prompt.length,
    meanContext: (fromTokens + prefillTo) / 2,
    prefillMs,
    measureMs: performance.now() - measureStart,
  };
  const medianMs = quantile(stepMs, 0.5);
  return {
    ...base,
    status: 'measured',
    prefill: options.fill === 'prefill' ? { fromTokens, toTokens: prefillTo, ms: prefillMs, tokensPerSecond: (prompt.length / prefillMs) * 1000 } : null,
    decode: {
      steps: options.steps,
      warmup: options.warmup,
      medianMs,
      meanMs: stepMs.reduce((a, b) => a + b, 0) / stepMs.length,
      p90Ms: quantile(stepMs, 0.9),
      tokensPerSecond: 1000 / medianMs,
    },
    kvBytes,
    attention: { ...attention, bytesPerPass, gbPerSecond, copyFraction: gbPerSecond / options.copyGbPerSecond },
  };
}

/** Decode steps of `model` with a small fp16 cache for `ms` milliseconds, untimed: the GPU's clocks
 *  ramp up over the first seconds of work, which would otherwise slow whichever row comes first. */
export async function warmUp(device: GPUDevice, model: SweepModel, ms: number): Promise<void> {
  const gpu = new GpuModel(device, model.cfg, model.weights, 256, KV_VARIANTS.fp16);
  try {
    const end = performance.now() + ms;
    while (performance.now() < end) {
      if (gpu.length + 1 > gpu.maxSeq) gpu.truncate(0);
      await gpu.step(1, GREEDY, []);
    }
  } finally {
    gpu.destroy();
  }
}

/** Time to prefill to `prefillTo` and measure there, extrapolated from the run's `last` context:
 *  per-token prefill time grows at most linearly with the mean context (attention), so this
 *  overestimates. (A run's first context has no history and is always measured.) */
function predictMs(run: Run, last: NonNullable<Run['last']>, prefillTo: number): number {
  const from = run.gpu.length;
  const growth = Math.max(1, (from + prefillTo) / 2 / last.meanContext);
  return (last.prefillMs / last.tokens) * (prefillTo - from) * growth + last.measureMs * growth;
}

/**
 * Times the cache's kernels alone (kv_append / attention / attention_reduce of every layer for one
 * decode token), `passes` times per submit, fastest of 3 submits after a sizing one.
 *
 * The passes leave the cache as it was: they are recorded after beginChunk(1) without endChunk(),
 * so the cache never counts the token; each pass appends the same key/value into the same free
 * slot (fp16: position `length`; KIVI: the ring slot after the residual), which the next real step
 * overwrites; and no KIVI flush may be in the chunk (a flush takes pool blocks that only endChunk
 * commits), so while the residual is one token short of R + G a real step is taken first.
 */
export async function attentionOnly(device: GPUDevice, gpu: GpuModel, submitMs: number): Promise<{ passesPerSubmit: number; msPerPass: number }> {
  const { groupSize: G, residualLength: R } = gpu.settings;
  if (gpu.settings.keyBits !== 16 && fullPrecisionTokens(gpu) + 1 >= R + G) await gpu.step(0, GREEDY, []);
  const kv = gpu.kvCache;
  kv.beginChunk(1, gpu.position);
  const submit = async (passes: number): Promise<number> => {
    const encoder = device.createCommandEncoder({ label: 'attention-only' });
    const pass = encoder.beginComputePass();
    for (let p = 0; p < passes; p++) for (let layer = 0; layer < gpu.cfg.numLayers; layer++) kv.recordLayer(pass, layer);
    pass.end();
    const commands = encoder.finish();
    const start = performance.now();
    device.queue.submit([commands]);
    await device.queue.onSubmittedWorkDone();
    return performance.now() - start;
  };
  const sizing = 4;
  const sizingMs = await submit(sizing);
  const passesPerSubmit = Math.min(1024, Math.max(sizing, Math.round((sizing * submitMs) / sizingMs)));
  let best = Infinity;
  for (let i = 0; i < 3; i++) best = Math.min(best, await submit(passesPerSubmit));
  return { passesPerSubmit, msPerPass: best / passesPerSubmit };
}

/** Tokens in the fp16 part of layer 0's cache, from the accounting (K and V, f16, per KV head). */
function fullPrecisionTokens(gpu: GpuModel): number {
  const { numKvHeads: KV, headDim: D } = gpu.cfg;
  return gpu.kvBytes().perLayer[0].used.fullPrecision / (KV * D * 2 * F16);
}

function kvBytesRow(gpu: GpuModel): MeasuredRow['kvBytes'] {
  const { numLayers: L, numKvHeads: KV, headDim: D } = gpu.cfg;
  const bytes = gpu.kvBytes();
  const tokens = gpu.length;
  const fp16BytesPerToken = L * KV * D * 2 * F16;
  const fullPrecision = fullPrecisionTokens(gpu);
  const quantizedTokens = tokens - fullPrecision;
  const quantizedBytes = bytes.perLayer.reduce((n, l) => n + l.used.codes + l.used.scales, 0);
  const quantizedBytesPerToken = quantizedTokens > 0 ? quantizedBytes / quantizedTokens : null;
  return {
    tokens,
    used: bytes.used,
    allocated: bytes.allocated,
    fp16Equivalent: bytes.fp16Equivalent,
    bytesPerToken: bytes.used / tokens,
    fp16BytesPerToken,
    fullPrecisionTokens: fullPrecision,
    quantizedBytesPerToken,
    quantizedRatio: quantizedBytesPerToken === null ? null : quantizedBytesPerToken / fp16BytesPerToken,
  };
}

export interface Summary {
  /** KIVI-2's codes + scales/mins per quantized token over fp16's bytes per token (Llama shape). */
  kv_bytes_ratio_2bit: number | null;
  /** KIVI-2 decode tok/s over fp16's at 32K and at 1K (Llama shape). */
  decode_speedup_32k: number | null;
  decode_ratio_1k: number | null;
  /** KIVI-2's attention bytes/s over the copy bandwidth at 32K (Llama shape). */
  attn_bw_fraction_32k: number | null;
  /** Each target of issue 3, or null where its figure was not measured. */
  targets_met: Record<'kv_bytes_ratio_2bit' | 'decode_speedup_32k' | 'decode_ratio_1k' | 'attn_bw_fraction_32k', boolean | null>;
}

export const SUMMARY_MODEL = 'llama-3.2-1b';

/** The figures, from the rows of `SUMMARY_MODEL`; a figure whose rows are missing is null. */
export function summarize(rows: Row[]): Summary {
  const find = (kv: KvVariant, context: number) =>
    rows.find((r): r is MeasuredRow => r.status === 'measured' && r.model === SUMMARY_MODEL && r.kv === kv && r.context === context);
  const ratio = (context: number) => {
    const kivi = find('kivi-2', context);
    const fp16 = find('fp16', context);
    return kivi && fp16 ? kivi.decode.tokensPerSecond / fp16.decode.tokensPerSecond : null;
  };
  const kivi2 = rows.filter((r): r is MeasuredRow => r.status === 'measured' && r.model === SUMMARY_MODEL && r.kv === 'kivi-2');
  const bytesRatio = kivi2.map((r) => r.kvBytes.quantizedRatio).findLast((x) => x !== null) ?? null;
  const summary = {
    kv_bytes_ratio_2bit: bytesRatio,
    decode_speedup_32k: ratio(32768),
    decode_ratio_1k: ratio(1024),
    attn_bw_fraction_32k: find('kivi-2', 32768)?.attention.copyFraction ?? null,
  };
  const met = (x: number | null, ok: (x: number) => boolean) => (x === null ? null : ok(x));
  return {
    ...summary,
    targets_met: {
      kv_bytes_ratio_2bit: met(summary.kv_bytes_ratio_2bit, (x) => x <= 0.19),
      decode_speedup_32k: met(summary.decode_speedup_32k, (x) => x >= 1.5),
      decode_ratio_1k: met(summary.decode_ratio_1k, (x) => x >= 0.9),
      attn_bw_fraction_32k: met(summary.attn_bw_fraction_32k, (x) => x >= 0.5),
    },
  };
}

export function quantile(xs: number[], q: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  return sorted[lo] + (sorted[Math.min(lo + 1, sorted.length - 1)] - sorted[lo]) * (at - lo);
}

