// KIVI vs fp16 KV cache at real model shapes, in Node on Dawn: decode tokens/s at growing contexts,
// KV bytes per token, and the attention kernels' achieved bandwidth against the same run's copy
// bandwidth. Writes bench/results/kivi.json (rewritten after every row, so a run cut short still
// leaves what it measured) with the summary figures of issue 3.
//
//   node bench/.carry/kivi.mjs [--models llama-3.2-1b,qwen2.5-0.5b] [--kv fp16,kivi-2,kivi-4]
//        [--contexts 1024,4096,16384,32768] [--steps 32] [--warmup 8] [--copy-mib 1024]
//        [--time-limit-s 330] [--fill prefill|bookkeeping] [--out bench/results/kivi.json]
//   node bench/.carry/kivi.mjs --merge a.json,b.json --out bench/results/kivi.json
//        (one result from runs on the same machine, e.g. short and long contexts run apart)
//
// Every model x cache variant has its own GpuModel (weights shared, random q4f16_1 of the real
// shape). For each context c, ascending, each one is prefilled from where it stood to
// c - warmup - steps tokens, then decodes warmup + steps greedy steps (each awaited and timed
// alone; tok/s = 1 / median step), so the timed steps end at c tokens. See bench/kv-sweep.ts. With
// --fill bookkeeping the caches grow without running the model (bench/grow.ts): no prefill figure,
// and 32K contexts cost seconds instead of minutes.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { KvchatError } from '../src/engine/errors';
import { acquireGpu } from '../src/engine/gpu/device';
import { WeightStore } from '../src/engine/gpu/weights';
import { measureCopyBandwidth, type CopyBandwidth } from './copy-bandwidth';
import { KV_VARIANTS, summarize, sweepContexts, warmUp, type KvVariant, type MeasuredRow, type Row, type SweepModel } from './kv-sweep';
import { DawnUnavailableError, nodeGpu } from './node-gpu';
import { SYNTHETIC_MODELS, syntheticWeights } from './synthetic';

const MIB = 1024 * 1024;
/** One timed submit of attention-only passes lasts about this long, so submit overhead is < 1 %. */
const ATTENTION_SUBMIT_MS = 40;
const WARM_UP_MS = 4000;

interface Options {
  /** Result files to merge instead of measuring. */
  merge: string[];
  models: string[];
  variants: KvVariant[];
  contexts: number[];
  steps: number;
  warmup: number;
  copyMib: number;
  timeLimitS: number;
  fill: 'prefill' | 'bookkeeping';
  out: string;
}

class UsageError extends Error {}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      models: { type: 'string', default: 'llama-3.2-1b,qwen2.5-0.5b' },
      kv: { type: 'string', default: Object.keys(KV_VARIANTS).join(',') },
      contexts: { type: 'string', default: '1024,4096,16384,32768' },
      steps: { type: 'string', default: '32' },
      warmup: { type: 'string', default: '8' },
      'copy-mib': { type: 'string', default: '1024' },
      'time-limit-s': { type: 'string', default: '330' },
      out: { type: 'string', default: 'bench/results/kivi.json' },
      fill: { type: 'string', default: 'prefill' },
      merge: { type: 'string', default: '' },
    },
  });
  const count = (text: string, name: string, min: number): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be integers >= ${min}, not ${text}`);
    return n;
  };
  const list = (name: 'models' | 'kv' | 'contexts') => values[name].split(',').filter(Boolean);
  const models = list('models');
  for (const m of models) if (!SYNTHETIC_MODELS[m]) throw new UsageError(`no synthetic model ${m}; known: ${Object.keys(SYNTHETIC_MODELS).join(', ')}`);
  const variants = list('kv');
  for (const v of variants) if (!(v in KV_VARIANTS)) throw new UsageError(`no KV variant ${v}; known: ${Object.keys(KV_VARIANTS).join(', ')}`);
  const steps = count(values.steps, 'steps', 1);
  const warmup = count(values.warmup, 'warmup', 0);
  const contexts = list('contexts').map((c) => count(c, 'contexts', warmup + steps + 1));
  if (contexts.some((c, i) => i > 0 && c <= contexts[i - 1])) throw new UsageError('--contexts must be ascending');
  return {
    merge: values.merge.split(',').filter(Boolean).map((f) => resolve(f)),
    models,
    variants: variants as KvVariant[],
    contexts,
    steps,
    warmup,
    copyMib: count(values['copy-mib'], 'copy-mib', 1),
    timeLimitS: count(values['time-limit-s'], 'time-limit-s', 1),
    fill: fillOption(values.fill),
    out: resolve(values.out),
  };
}

function fillOption(text: string): 'prefill' | 'bookkeeping' {
  if (text !== 'prefill' && text !== 'bookkeeping') throw new UsageError(`--fill must be prefill or bookkeeping, not ${text}`);
  return text;
}

function describeRow(row: Row): string {
  const head = `${row.model.padEnd(13)} ${row.kv.padEnd(7)} ${String(row.context).padStart(6)}`;
  if (row.status === 'skipped') return `${head}  skipped (${row.reason})`;
  const { prefill, decode, kvBytes, attention } = row;
  const ratio = kvBytes.quantizedRatio === null ? '' : `, quantized part ${kvBytes.quantizedRatio.toFixed(4)}x fp16`;
  return (
    `${head}  decode ${decode.tokensPerSecond.toFixed(1)} tok/s (median ${decode.medianMs.toFixed(3)} ms, p90 ${decode.p90Ms.toFixed(3)} ms)` +
    ` | KV ${(kvBytes.used / MIB).toFixed(1)} MiB, ${kvBytes.bytesPerToken.toFixed(0)} B/token${ratio}` +
    ` | attention ${attention.msPerPass.toFixed(4)} ms/pass, ${attention.gbPerSecond.toFixed(0)} GB/s = ${(attention.copyFraction * 100).toFixed(1)} % of copy` +
    (prefill ? ` | prefill ${prefill.fromTokens}->${prefill.toTokens} at ${prefill.tokensPerSecond.toFixed(0)} tok/s` : ' | cache grown by bookkeeping')
  );
}

async function main(): Promise<void> {
  const start = performance.now();
  const options = parseOptions();
  if (options.merge.length > 0) return mergeResults(options.merge, options.out);
  const { gpu, adapterName } = await nodeGpu();
  console.log(`adapter  ${adapterName}`);
  const { device } = await acquireGpu(gpu);

  const copy: CopyBandwidth = await measureCopyBandwidth(device, options.copyMib * MIB);
  console.log(`copy     ${(copy.gbPerSecond / 1000).toFixed(3)} TB/s read + write (${(copy.bytes / MIB).toFixed(0)} MiB vec4<u32> copy in ${copy.msPerCopy.toFixed(3)} ms)`);

  const models: SweepModel[] = options.models.map((name) => {
    const cfg = SYNTHETIC_MODELS[name];
    const weights = new WeightStore(device);
    syntheticWeights(cfg, (t) => weights.upload(t));
    console.log(`model    ${name}: ${cfg.numLayers} layers, hidden ${cfg.hiddenSize}, ${cfg.numHeads}/${cfg.numKvHeads} heads x ${cfg.headDim}, weights ${(weights.bytes / MIB).toFixed(1)} MiB`);
    return { name, cfg, weights };
  });

  const rows: Row[] = [];
  const write = () => {
    const result = {
      gpu: adapterName,
      date: new Date().toISOString(),
      command: ['node', 'kivi.mjs', ...process.argv.slice(2)].join(' '),
      options: { contexts: options.contexts, steps: options.steps, warmup: options.warmup, timeLimitS: options.timeLimitS, fill: options.fill },
      copy: { bytes: copy.bytes, msPerCopy: copy.msPerCopy, gbPerSecond: copy.gbPerSecond },
      summary: summarize(rows),
      rows,
    };
    mkdirSync(dirname(options.out), { recursive: true });
    writeFileSync(options.out, `${JSON.stringify(result, null, 2)}\n`);
  };
  write();
  // GPU clocks ramp up over the first seconds: warm them before the first timed row.
  await warmUp(device, models[0], WARM_UP_MS);
  await sweepContexts(
    device,
    models,
    {
      contexts: options.contexts,
      variants: options.variants,
      steps: options.steps,
      warmup: options.warmup,
      deadline: start + options.timeLimitS * 1000,
      attentionSubmitMs: ATTENTION_SUBMIT_MS,
      copyGbPerSecond: copy.gbPerSecond,
      fill: options.fill,
    },
    (row) => {
      rows.push(row);
      console.log(describeRow(row));
      write();
    },
  );
  device.destroy();

  const summary = summarize(rows);
  console.log(`summary  ${JSON.stringify(summary)}`);
  const measured = rows.filter((r): r is MeasuredRow => r.status === 'measured').length;
  console.log(`wrote    ${options.out} (${measured} of ${rows.length} rows measured, ${((performance.now() - start) / 1000).toFixed(1)} s)`);
}

/** Rows of several result files (same GPU) in one file, with the summary computed over all of them. */
function mergeResults(files: string[], out: string): void {
  const results = files.map((f) => JSON.parse(readFileSync(f, 'utf8')) as { gpu: string; date: string; command: string; copy: unknown; rows: Row[] });
  const gpus = new Set(results.map((r) => r.gpu));
  if (gpus.size !== 1) throw new UsageError(`--merge needs results from one GPU, got ${[...gpus].join(' / ')}`);
  const rows = results.flatMap((r) => r.rows);
  const merged = { gpu: results[0].gpu, merged: results.map((r) => ({ date: r.date, command: r.command, copy: r.copy })), summary: summarize(rows), rows };
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(merged, null, 2)}\n`);
  console.log(`summary  ${JSON.stringify(merged.summary)}`);
}

main().then(
  // Dawn keeps the process alive after its devices are gone.
  () => process.exit(0),
  (err: unknown) => {
    console.error(`bench/kivi: ${err instanceof Error ? err.message : String(err)}`);
    if (err instanceof DawnUnavailableError || err instanceof KvchatError) console.error(`hint: ${err.hint}`);
    else if (!(err instanceof UsageError) && err instanceof Error && err.stack) console.error(err.stack);
    process.exit(1);
  },
);
