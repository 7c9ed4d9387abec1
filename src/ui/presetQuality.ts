// The measured quality of each KV preset, from the quality benchmark's committed result
// (bench/results/quality.json, written by bench/quality.ts on the demo model), read at build time.
// The glob import yields nothing when the file is absent, so the app builds before the first run.
import { KV_SETTINGS_SCHEMA, type KvSettings } from '../engine/kv/settings';

/** The parts of bench/quality.ts's result that the settings panel reads. */
export interface QualityResult {
  model: string;
  gpu: string;
  rows: QualityResultRow[];
}

type QualityResultRow =
  | {
      kind: 'teacher-forced';
      settings: KvSettings;
      context: number;
      text: { dnll: number; top1Agreement: number };
      retrieval: { accuracyRatio: number | null };
      keptFraction: number;
    }
  | { kind: 'greedy'; settings: KvSettings; steps: number; agreement: number }
  | { kind: 'skipped' };

export interface PresetQuality {
  model: string;
  /** Tokens in each measured case (prefix + scored tokens). */
  context: number;
  /** Mean extra NLL per token against the fp16 cache, nats. */
  dnll: number;
  /** Fraction of next-token argmaxes equal to the fp16 cache's. */
  top1Agreement: number;
  /** Retrieval accuracy over the fp16 cache's (null where fp16 retrieved nothing). */
  retrievalRatio: number | null;
  /** Tokens kept over tokens seen, averaged over layers. */
  keptFraction: number;
  /** Fraction of greedy tokens equal to the fp16 cache's generation, and its length (null if not measured). */
  greedy: { agreement: number; steps: number } | null;
}

const KV_KEYS = Object.keys(KV_SETTINGS_SCHEMA) as (keyof KvSettings)[];

function sameSettings(a: KvSettings, b: KvSettings): boolean {
  return KV_KEYS.every((key) => a[key] === b[key]);
}

/** The result's figures for `settings`, at the longest context measured; null if never measured. */
export function presetQuality(result: QualityResult | null, settings: KvSettings): PresetQuality | null {
  if (!result) return null;
  let best: Extract<QualityResultRow, { kind: 'teacher-forced' }> | null = null;
  for (const row of result.rows) {
    if (row.kind === 'teacher-forced' && sameSettings(row.settings, settings) && (!best || row.context > best.context)) best = row;
  }
  if (!best) return null;
  const greedy = result.rows.find((r): r is Extract<QualityResultRow, { kind: 'greedy' }> => r.kind === 'greedy' && sameSettings(r.settings, settings));
  return {
    model: result.model,
    context: best.context,
    dnll: best.text.dnll,
    top1Agreement: best.text.top1Agreement,
    retrievalRatio: best.retrieval.accuracyRatio,
    keptFraction: best.keptFraction,
    greedy: greedy ? { agreement: greedy.agreement, steps: greedy.steps } : null,
  };
}

const percent = (x: number) => `${(x * 100).toFixed(1)} %`;

/** One line for the settings panel: what bench/quality measured for `settings`, against the fp16 cache
 *  (the fp16 cache itself is the reference), with where it was measured as the title. */
export function qualityNote(result: QualityResult | null, settings: KvSettings): { text: string; title: string } | null {
  const q = presetQuality(result, settings);
  if (!q) return null;
  const title = `Measured by bench/quality on ${q.model}: teacher-forced over held-out text, ${q.context.toLocaleString('en-US')}-token cases, against the fp16 cache.`;
  if (settings.keyBits === 16 && settings.policy === 'none') return { text: 'the reference the others are measured against', title };
  const parts = [
    `ΔNLL ${q.dnll >= 0 ? '+' : '−'}${Math.abs(q.dnll).toFixed(3)} nats/token`,
    `same next token ${percent(q.top1Agreement)}`,
    ...(q.retrievalRatio === null ? [] : [`retrieval ${percent(q.retrievalRatio)} of fp16`]),
    ...(q.keptFraction < 1 ? [`keeps ${percent(q.keptFraction)} of tokens`] : []),
  ];
  return { text: `${parts.join(', ')} (at ${q.context.toLocaleString('en-US')} tokens)`, title };
}

const committed = Object.values(import.meta.glob<QualityResult>('../../bench/results/quality.json', { eager: true, import: 'default' }));

/** The committed benchmark result, or null before the benchmark's first committed run. */
export const QUALITY_RESULT: QualityResult | null = committed[0] ?? null;
