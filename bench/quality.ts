// KV-cache compression quality on the trained demo model, in Node on Dawn (issue 7, part 4): for
// fp16, KIVI-4, KIVI-2 over G x R, and KIVI-2 + each eviction policy at 10/20/40 %, against the
// fp16 cache on held-out text — mean ΔNLL per token and top-1 agreement (teacher-forced windows at
// each context), retrieval accuracy (a rare passage early, its first half repeated at the end, the
// second half scored), and greedy-generation agreement. Method: bench/quality-core.ts; cases:
// bench/quality-data.ts. Writes the result JSON (summary + rows) and a markdown table beside it,
// both rewritten after every row, so a run cut short still leaves what it measured.
//
//   node bench/.carry/quality.mjs [--model-dir public/models/kvchat-demo]
//        [--eval scripts/train/.data/corpus/eval.jsonl.gz] [--contexts 512,1024,2048] [--scored 64]
//        [--windows 16] [--retrieval 16] [--passage 64] [--greedy-prompts 4] [--greedy-prompt 1024]
//        [--greedy-steps 256] [--configs all|fp16,kivi2,...] [--time-limit-s 540]
//        [--out bench/results/quality.json]
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { loadTokenizer } from '../src/engine/chat/tokenizer';
import { KvchatError } from '../src/engine/errors';
import { acquireGpu } from '../src/engine/gpu/device';
import { WeightStore } from '../src/engine/gpu/weights';
import { loadModel } from '../src/engine/model/loader';
import { DawnUnavailableError, nodeGpu } from './node-gpu';
import { measureQuality, type QualityOptions, type QualityRow } from './quality-core';
import { buildDataset, qualityConfigs, type EvalDocument } from './quality-data';
import { qualityMarkdown, summarizeQuality } from './quality-report';
import { serveFolder } from './static-server';

class UsageError extends Error {}

function parseOptions() {
  const { values } = parseArgs({
    options: {
      'model-dir': { type: 'string', default: 'public/models/kvchat-demo' },
      eval: { type: 'string', default: 'scripts/train/.data/corpus/eval.jsonl.gz' },
      contexts: { type: 'string', default: '512,1024,2048' },
      scored: { type: 'string', default: '64' },
      windows: { type: 'string', default: '16' },
      retrieval: { type: 'string', default: '16' },
      passage: { type: 'string', default: '64' },
      'greedy-prompts': { type: 'string', default: '4' },
      'greedy-prompt': { type: 'string', default: '1024' },
      'greedy-steps': { type: 'string', default: '256' },
      configs: { type: 'string', default: 'all' },
      'time-limit-s': { type: 'string', default: '540' },
      out: { type: 'string', default: 'bench/results/quality.json' },
    },
  });
  const count = (name: keyof typeof values, text: string, min: number): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be integers >= ${min}, not ${text}`);
    return n;
  };
  const scored = count('scored', values.scored, 1);
  const contexts = values.contexts.split(',').map((c) => count('contexts', c, scored + 1));
  if (contexts.some((c, i) => i > 0 && c <= contexts[i - 1])) throw new UsageError('--contexts must be ascending');
  // The names do not depend on the head dimension (only which of them are valid does).
  const known = qualityConfigs(64).map((c) => c.name);
  const configs = values.configs === 'all' ? null : values.configs.split(',').filter(Boolean);
  for (const c of configs ?? []) if (!known.includes(c)) throw new UsageError(`no configuration ${c}; known: ${known.join(', ')}`);
  const out = resolve(values.out);
  return {
    modelDir: resolve(values['model-dir']),
    eval: resolve(values.eval),
    passage: count('passage', values.passage, 2),
    timeLimitS: count('time-limit-s', values['time-limit-s'], 1),
    out,
    markdown: out.replace(/\.json$/, '') + '.md',
    quality: {
      contexts,
      scoredTokens: scored,
      textWindows: count('windows', values.windows, 1),
      retrievalCases: count('retrieval', values.retrieval, 1),
      greedyPrompts: count('greedy-prompts', values['greedy-prompts'], 1),
      greedyPromptTokens: count('greedy-prompt', values['greedy-prompt'], 1),
      greedySteps: count('greedy-steps', values['greedy-steps'], 1),
      configs,
    } satisfies Omit<QualityOptions, 'deadline'>,
  };
}

function describeRow(row: QualityRow): string {
  const name = row.config.padEnd(16);
  if (row.kind === 'skipped') return `${name} ${row.context ?? ''} skipped (${row.task}): ${row.reason}`;
  if (row.kind === 'greedy') {
    return `${name} greedy ${row.steps} after ${row.promptTokens}: ${(row.agreement * 100).toFixed(1)} % equal, first divergence mean ${row.meanFirstDivergence.toFixed(1)} min ${row.minFirstDivergence}`;
  }
  const { text, retrieval } = row;
  return (
    `${name} @${String(row.context).padEnd(5)} ΔNLL ${text.dnll.toFixed(4)} top-1 ${(text.top1Agreement * 100).toFixed(1)} %, next-token accuracy ${(text.accuracy * 100).toFixed(1)} % (fp16 ${(text.fp16Accuracy * 100).toFixed(1)} %)` +
    ` | retrieval ${(retrieval.accuracy * 100).toFixed(1)} % vs fp16 ${(retrieval.fp16Accuracy * 100).toFixed(1)} % | kept ${(row.keptFraction * 100).toFixed(1)} %`
  );
}

async function main(): Promise<void> {
  const start = performance.now();
  const options = parseOptions();
  const docs: EvalDocument[] = gunzipSync(readFileSync(options.eval))
    .toString('utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as EvalDocument);

  const { gpu, adapterName } = await nodeGpu();
  console.log(`adapter  ${adapterName}`);
  const { device } = await acquireGpu(gpu);
  const server = await serveFolder(dirname(options.modelDir));
  const weights = new WeightStore(device);
  const modelUrl = `${server.url}${options.modelDir.split('/').pop()}/`;
  const loaded = await loadModel(modelUrl, (t) => weights.upload(t), { cacheName: null }).finally(() => server.close());
  const cfg = loaded.config;
  const tokenizer = await loadTokenizer(loaded.tokenizerJson, `${modelUrl}tokenizer.json`);
  const single = (text: string) => {
    const ids = tokenizer.encode(text);
    if (ids.length !== 1) throw new Error(`the tokenizer encodes ${text} as ${ids.length} tokens, not one`);
    return ids[0];
  };
  const data = buildDataset(docs, tokenizer.encode, { bos: single('<|begin_of_text|>'), eot: single('<|end_of_text|>') }, options.passage);
  console.log(
    `model    ${loaded.modelId}: ${cfg.numLayers} layers, ${cfg.numHeads}/${cfg.numKvHeads} heads x ${cfg.headDim}, ${cfg.quantization}; ` +
      `held-out text ${data.stream.length} tokens, ${data.passages.length} passages, filler ${data.filler.length} tokens`,
  );

  const rows: QualityRow[] = [];
  const write = () => {
    const result = {
      gpu: adapterName,
      date: new Date().toISOString(),
      command: ['node', 'quality.mjs', ...process.argv.slice(2)].join(' '),
      model: loaded.modelId,
      data: { eval: options.eval.split('/').slice(-1)[0], textTokens: data.stream.length, passages: data.passages.length, passageTokens: options.passage, fillerTokens: data.filler.length },
      options: { ...options.quality, timeLimitS: options.timeLimitS },
      summary: summarizeQuality(rows),
      rows,
    };
    mkdirSync(dirname(options.out), { recursive: true });
    writeFileSync(options.out, `${JSON.stringify(result, null, 2)}\n`);
    writeFileSync(options.markdown, qualityMarkdown(rows));
  };
  write();
  await measureQuality(device, { cfg, weights }, data, { ...options.quality, deadline: start + options.timeLimitS * 1000 }, (row) => {
    rows.push(row);
    console.log(describeRow(row));
    write();
  });
  weights.destroy();
  device.destroy();
  console.log(`summary  ${JSON.stringify(summarizeQuality(rows))}`);
  console.log(`wrote    ${options.out} and ${options.markdown} (${rows.filter((r) => r.kind !== 'skipped').length} rows measured, ${((performance.now() - start) / 1000).toFixed(1)} s)`);
}

main().then(
  // Dawn keeps the process alive after its devices are gone.
  () => process.exit(0),
  (err: unknown) => {
    console.error(`bench/quality: ${err instanceof Error ? err.message : String(err)}`);
    if (err instanceof DawnUnavailableError || err instanceof KvchatError) console.error(`hint: ${err.hint}`);
    else if (!(err instanceof UsageError) && err instanceof Error && err.stack) console.error(err.stack);
    process.exit(1);
  },
);
