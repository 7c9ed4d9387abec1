// KIVI-2 with per-layer budgets and eviction at a real model shape, in Node on Dawn (issue 4):
//  1. soak: a long decode (default 4,000 steps) far past the cache's capacity under a small budget,
//     checking after every step that no layer holds more than its budget + one block;
//  2. memory and decode tok/s at 8K and 32K tokens seen for each policy at 20 % (none at 8K for the
//     fp16-relative figures);
//  3. compaction cost: decode tok/s with eviction running against the same cache without eviction
//     holding as many tokens as the evicting one keeps (for every policy run, zigzag's in the summary).
// Decode rows also split the timed steps into eviction-event steps (some layer's kept count fell)
// and the others, so an event's cost and the per-step cost of the bookkeeping show apart.
// Writes bench/results/zigzag.json (rewritten after every row) with the summary of issue 4.
//
//   node bench/.carry/zigzag.mjs [--model llama-3.2-1b] [--contexts 8192,32768] [--budget 0.2]
//        [--steps 96] [--warmup 8] [--soak-steps 4000] [--policies zigzag,uniform,pyramid]
//        [--parts soak,policies,compaction] [--drain] [--out bench/results/zigzag.json]
// --drain waits for the queue to empty after every step (outside its time) and reports those waits:
// the GPU time an event adds, for diagnosis; step times then no longer overlap anything.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { KvchatError } from '../src/engine/errors';
import { acquireGpu } from '../src/engine/gpu/device';
import { GpuModel, type Sampling } from '../src/engine/gpu/model';
import { WeightStore } from '../src/engine/gpu/weights';
import type { PolicyName } from '../src/engine/kv/budgets';
import { KIVI2, type KvSettings } from '../src/engine/kv/settings';
import { quantile } from './kv-sweep';
import { DawnUnavailableError, nodeGpu } from './node-gpu';
import { lcg } from './random';
import { SYNTHETIC_MODELS, syntheticWeights } from './synthetic';

const GREEDY: Sampling = { kind: 'greedy', repetitionPenalty: 1 };
const MIB = 1024 * 1024;
const POLICY_ORDER: PolicyName[] = ['zigzag', 'uniform', 'pyramid'];
const PARTS = ['soak', 'policies', 'compaction'] as const;

/** Timed decode steps: the mean (what tok/s quotes), and the steps with and without an eviction event. */
interface DecodeTiming {
  tokensPerSecond: number;
  medianMs: number;
  /** Steps in which some layer's kept count fell, their mean, and the median of the other steps. An
   *  event step's time holds the event's CPU work; the GPU's runs ahead of the next step, whose mean
   *  is afterEventMeanMs. */
  eventSteps: number;
  eventMeanMs: number | null;
  afterEventMeanMs: number | null;
  quietMedianMs: number;
  quietMeanMs: number;
  /** With --drain: the mean wait, after event steps and after the others, for the queue to finish
   *  what the step left (an event's GPU work is submitted after the step's token is read). */
  drainAfterEventMs?: number;
  drainAfterQuietMs?: number;
}

interface PolicyRow {
  policy: PolicyName;
  context: number;
  keptTokensMean: number;
  budgetsPerLayer: number[];
  kvBytesUsed: number;
  fp16Equivalent: number;
  kvBytesRatio: number;
  decodeTokensPerSecond: number;
  decodeMedianMs: number;
  decode: DecodeTiming;
  prefillSeconds: number;
}

function parseOptions() {
  const { values } = parseArgs({
    options: {
      model: { type: 'string', default: 'llama-3.2-1b' },
      contexts: { type: 'string', default: '8192,32768' },
      budget: { type: 'string', default: '0.2' },
      steps: { type: 'string', default: '96' },
      warmup: { type: 'string', default: '8' },
      'soak-steps': { type: 'string', default: '4000' },
      drain: { type: 'boolean', default: false },
      policies: { type: 'string', default: POLICY_ORDER.join(',') },
      parts: { type: 'string', default: PARTS.join(',') },
      out: { type: 'string', default: 'bench/results/zigzag.json' },
    },
  });
  const cfg = SYNTHETIC_MODELS[values.model];
  if (!cfg) throw new Error(`no synthetic model ${values.model}; known: ${Object.keys(SYNTHETIC_MODELS).join(', ')}`);
  const policies = values.policies.split(',') as PolicyName[];
  const unknown = policies.filter((p) => !POLICY_ORDER.includes(p));
  if (unknown.length > 0) throw new Error(`--policies: no policy ${unknown.join(', ')}; known: ${POLICY_ORDER.join(', ')}`);
  const parts = values.parts.split(',');
  const unknownParts = parts.filter((p) => !(PARTS as readonly string[]).includes(p));
  if (unknownParts.length > 0) throw new Error(`--parts: no part ${unknownParts.join(', ')}; known: ${PARTS.join(', ')}`);
  return {
    model: values.model,
    cfg,
    contexts: values.contexts.split(',').map(Number),
    budget: Number(values.budget),
    steps: Number(values.steps),
    warmup: Number(values.warmup),
    soakSteps: Number(values['soak-steps']),
    drain: values.drain,
    policies,
    parts: new Set(parts),
    out: resolve(values.out),
  };
}

function randomTokens(count: number, vocab: number, seed: number): number[] {
  const random = lcg(seed);
  return Array.from({ length: count }, () => random() % vocab);
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Decode steps, each awaited and timed alone (eviction events included where they fall). */
async function timeDecode(model: GpuModel, steps: number, warmup: number, drain: GPUDevice | null): Promise<DecodeTiming> {
  let token = await model.sample(GREEDY, []);
  const times: number[] = [];
  const events: boolean[] = [];
  const drains: number[] = [];
  let kept = model.kvBytes().perLayer.map((l) => l.keptTokens);
  for (let i = 0; i < warmup + steps; i++) {
    const start = performance.now();
    token = await model.step(token, GREEDY, []);
    const ms = performance.now() - start;
    // The cache's own bookkeeping, read on the CPU after the step's time is taken.
    const now = model.kvBytes().perLayer.map((l) => l.keptTokens);
    if (drain) {
      const waited = performance.now();
      await drain.queue.onSubmittedWorkDone();
      if (i >= warmup) drains.push(performance.now() - waited);
    }
    if (i >= warmup) {
      times.push(ms);
      events.push(now.some((n, l) => n < kept[l]));
    }
    kept = now;
  }
  // The mean, not the median: eviction events are rare, slow steps, and their cost is the question.
  const eventTimes = times.filter((_, i) => events[i]);
  const afterEvent = times.filter((_, i) => i > 0 && events[i - 1] && !events[i]);
  const quiet = times.filter((_, i) => !events[i]);
  return {
    tokensPerSecond: 1000 / mean(times),
    medianMs: quantile(times, 0.5),
    eventSteps: eventTimes.length,
    eventMeanMs: eventTimes.length > 0 ? mean(eventTimes) : null,
    afterEventMeanMs: afterEvent.length > 0 ? mean(afterEvent) : null,
    quietMedianMs: quantile(quiet, 0.5),
    quietMeanMs: mean(quiet),
    ...(drain && {
      drainAfterEventMs: mean(drains.filter((_, i) => events[i])),
      drainAfterQuietMs: mean(drains.filter((_, i) => !events[i])),
    }),
  };
}

const describeTiming = (t: DecodeTiming) =>
  `decode ${t.tokensPerSecond.toFixed(1)} tok/s (median ${t.medianMs.toFixed(3)} ms; ${t.eventSteps} event steps, mean ${t.eventMeanMs?.toFixed(3) ?? '-'} ms, next ${t.afterEventMeanMs?.toFixed(3) ?? '-'} ms; others median ${t.quietMedianMs.toFixed(3)}, mean ${t.quietMeanMs.toFixed(3)} ms${t.drainAfterQuietMs === undefined ? '' : `; drain after events ${t.drainAfterEventMs?.toFixed(3)}, after others ${t.drainAfterQuietMs.toFixed(3)} ms`})`;

async function main(): Promise<void> {
  const options = parseOptions();
  const { gpu, adapterName } = await nodeGpu();
  console.log(`adapter  ${adapterName}`);
  const { device } = await acquireGpu(gpu);
  const { cfg } = options;
  const weights = new WeightStore(device);
  syntheticWeights(cfg, (t) => weights.upload(t));
  const G = KIVI2.groupSize;
  const result: Record<string, unknown> = { gpu: adapterName, date: new Date().toISOString(), command: ['node', 'zigzag.mjs', ...process.argv.slice(2)].join(' '), model: options.model };
  const write = () => {
    mkdirSync(dirname(options.out), { recursive: true });
    writeFileSync(options.out, `${JSON.stringify(result, null, 2)}\n`);
  };

  // 1. Soak: 4,000 decode steps through a 1,024-token cache under a 256-token budget.
  if (options.parts.has('soak')) {
    const settings: KvSettings = { ...KIVI2, policy: 'zigzag', budgetTokens: 256 };
    const model = new GpuModel(device, cfg, weights, 1024, settings);
    await model.prefill(randomTokens(512, cfg.vocabSize, 1));
    let token = await model.sample(GREEDY, []);
    let worstExcess = -Infinity;
    let violations = 0;
    let events = 0;
    let lastKept = model.kvBytes().perLayer.map((l) => l.keptTokens);
    for (let step = 0; step < options.soakSteps; step++) {
      token = await model.step(token, GREEDY, []);
      const layers = model.kvBytes().perLayer;
      if (layers.some((l, i) => l.keptTokens < lastKept[i])) events++;
      lastKept = layers.map((l) => l.keptTokens);
      for (const l of layers) {
        worstExcess = Math.max(worstExcess, l.keptTokens - l.budgetTokens);
        if (l.keptTokens > l.budgetTokens + G) violations++;
      }
    }
    const soak = { steps: options.soakSteps, capacity: 1024, budgetTokens: 256, tokensSeen: model.position, evictionEvents: events, worstExcessTokens: worstExcess, violations, block: G };
    console.log(`soak     ${JSON.stringify(soak)}`);
    result.soak = soak;
    write();
    model.destroy();
  }

  // 2. Each policy at the budget, contexts ascending; kept sizes and bytes from the cache's accounting.
  const rows: PolicyRow[] = [];
  result.rows = rows;
  const maxContext = Math.max(...options.contexts);
  for (const policy of options.parts.has('policies') ? options.policies : []) {
    const model = new GpuModel(device, cfg, weights, maxContext, { ...KIVI2, policy, budgetFraction: options.budget });
    for (const context of options.contexts) {
      const start = performance.now();
      await model.prefill(randomTokens(Math.max(1, context - options.steps - options.warmup - 1 - model.position), cfg.vocabSize, context));
      await device.queue.onSubmittedWorkDone();
      const prefillSeconds = (performance.now() - start) / 1000;
      const decode = await timeDecode(model, options.steps, options.warmup, options.drain ? device : null);
      const kv = model.kvBytes();
      const row: PolicyRow = {
        policy,
        context: model.position,
        keptTokensMean: kv.perLayer.reduce((n, l) => n + l.keptTokens, 0) / kv.perLayer.length,
        budgetsPerLayer: kv.perLayer.map((l) => l.budgetTokens),
        kvBytesUsed: kv.used,
        fp16Equivalent: kv.fp16Equivalent,
        kvBytesRatio: kv.used / kv.fp16Equivalent,
        decodeTokensPerSecond: decode.tokensPerSecond,
        decodeMedianMs: decode.medianMs,
        decode,
        prefillSeconds,
      };
      rows.push(row);
      console.log(`${policy.padEnd(8)} ${String(row.context).padStart(6)}  KV ${(kv.used / MIB).toFixed(1)} MiB = ${row.kvBytesRatio.toFixed(4)}x fp16, kept ${row.keptTokensMean.toFixed(0)}/layer, ${describeTiming(decode)}`);
      write();
    }
    model.destroy();
  }

  // 3. The same KIVI-2 cache without eviction, holding what each policy keeps at the largest context.
  if (options.parts.has('compaction')) {
    const compaction: Record<string, unknown>[] = [];
    result.noEviction = compaction;
    for (const row of rows.filter((r) => r.context === Math.max(...rows.map((x) => x.context)))) {
      const equalKept = Math.round(row.keptTokensMean);
      const baseline = new GpuModel(device, cfg, weights, equalKept + options.steps + options.warmup + 1, KIVI2);
      await baseline.prefill(randomTokens(equalKept, cfg.vocabSize, 99));
      const noEviction = await timeDecode(baseline, options.steps, options.warmup, options.drain ? device : null);
      baseline.destroy();
      const ratio = row.decodeTokensPerSecond / noEviction.tokensPerSecond;
      console.log(`no-evict ${equalKept} kept (as ${row.policy}): ${describeTiming(noEviction)}; ${row.policy} / this = ${ratio.toFixed(3)}`);
      compaction.push({ policy: row.policy, keptTokens: equalKept, decodeTokensPerSecond: noEviction.tokensPerSecond, decodeMedianMs: noEviction.medianMs, decode: noEviction, ratio });
      write();
    }
    const zigzag = compaction.find((c) => c.policy === 'zigzag');
    // The first (smallest) context's zigzag row: its timed steps end one token short of the context.
    const at8k = rows.find((r) => r.policy === 'zigzag');
    result.summary = {
      kv_bytes_ratio_8k_20pct: at8k?.kvBytesRatio ?? null,
      decode_ratio_with_eviction: zigzag ? zigzag.ratio : null,
      soak_violations: (result.soak as { violations: number } | undefined)?.violations ?? null,
    };
    console.log(`summary  ${JSON.stringify(result.summary)}`);
    write();
  }
  device.destroy();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`bench/zigzag: ${err instanceof Error ? err.message : String(err)}`);
    if (err instanceof DawnUnavailableError || err instanceof KvchatError) console.error(`hint: ${err.hint}`);
    else if (err instanceof Error && err.stack) console.error(err.stack);
    process.exit(1);
  },
);
