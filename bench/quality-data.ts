// What the quality benchmark measures on, built from the held-out documents of the demo model's
// corpus (scripts/train/prep_corpus.py, eval.jsonl.gz) and the model's tokenizer, and the KV cache
// settings it compares. Pure: the tokenizer comes in as a function, so unit tests use a fake one.
import { KIVI2, DEFAULT_KV_SETTINGS, resolveKvSettings, type KvSettings } from '../src/engine/kv/settings';

/** One held-out document as prep_corpus.py writes it. */
export interface EvalDocument {
  source: string;
  text: string;
}

/** Sources of plain text (not the synthetic chats, nor the repeat documents, which retrieval replaces). */
export const TEXT_SOURCES = ['kjv', 'webster', 'jargon', 'fortune'];
/** Retrieval's rare passages: held-out dictionary entries, jargon entries and quotations, which the
 *  model never saw and cannot recite from memory. */
export const PASSAGE_SOURCES = ['webster', 'jargon', 'fortune'];
/** Retrieval's filler between the passage and its repeat: held-out Bible books, a different register. */
export const FILLER_SOURCE = 'kjv';

export interface SpecialTokens {
  /** <|begin_of_text|>, which starts every training document. */
  bos: number;
  /** <|end_of_text|>, which ends it. */
  eot: number;
}

export interface QualityDataset {
  /** The text documents, each bos + text + eot, in file order: the training stream's layout. */
  stream: number[];
  /** Candidate rare passages, each exactly `passageTokens` long. */
  passages: number[][];
  /** The filler documents' tokens, concatenated. */
  filler: number[];
  /** The tokens of "\n\n", between passage, filler and repeat, as in the training repeat documents. */
  separator: number[];
  bos: number;
}

export function buildDataset(docs: EvalDocument[], encode: (text: string) => number[], special: SpecialTokens, passageTokens: number): QualityDataset {
  const stream: number[] = [];
  for (const doc of docs) if (TEXT_SOURCES.includes(doc.source)) stream.push(special.bos, ...encode(doc.text), special.eot);
  const passages: number[][] = [];
  for (const doc of docs) {
    if (!PASSAGE_SOURCES.includes(doc.source)) continue;
    // Entries are paragraphs (webster, jargon) or '%'-separated quotations (fortune).
    for (const paragraph of doc.text.split(/\n%\n|\n\n/)) {
      const tokens = encode(paragraph.trim());
      if (tokens.length >= passageTokens) passages.push(tokens.slice(0, passageTokens));
    }
  }
  const filler = docs.filter((d) => d.source === FILLER_SOURCE).flatMap((d) => encode(d.text));
  return { stream, passages, filler, separator: encode('\n\n'), bos: special.bos };
}

/** `count` start offsets of `length`-token windows spread evenly over `total` tokens (first at 0,
 *  last ending at `total`); windows overlap when the text is short. */
export function evenStarts(total: number, length: number, count: number): number[] {
  if (length > total) throw new Error(`a ${length}-token window does not fit in ${total} tokens of text`);
  if (count === 1) return [0];
  return Array.from({ length: count }, (_, i) => Math.round((i * (total - length)) / (count - 1)));
}

/** A teacher-forced case: `tokens[0..scoreFrom)` are prefilled (and compressed), the rest are scored
 *  one decode step at a time. */
export interface ScoredCase {
  tokens: number[];
  scoreFrom: number;
}

/** Windows of `context` tokens from the text stream whose last `scored` tokens are scored. */
export function textCases(data: QualityDataset, context: number, scored: number, count: number): ScoredCase[] {
  return evenStarts(data.stream.length, context, count).map((start) => ({ tokens: data.stream.slice(start, start + context), scoreFrom: context - scored }));
}

/** bos, passage, "\n\n", filler, "\n\n", passage: `context` tokens in all, the layout of the training
 *  repeat documents. Scored: the second half of the repeated passage, which only a cache that still
 *  holds the first copy can predict. */
export function retrievalCase(bos: number, passage: number[], separator: number[], filler: number[], context: number): ScoredCase {
  const fillerLength = context - 1 - 2 * passage.length - 2 * separator.length;
  if (fillerLength < 0) throw new Error(`a ${passage.length}-token passage and its repeat do not fit in ${context} tokens`);
  if (fillerLength > filler.length) throw new Error(`${filler.length} filler tokens cannot fill a ${context}-token retrieval case`);
  const tokens = [bos, ...passage, ...separator, ...filler.slice(0, fillerLength), ...separator, ...passage];
  return { tokens, scoreFrom: context - Math.floor(passage.length / 2) };
}

/** `count` retrieval cases: passages spread over the candidates, filler taken from spread offsets. */
export function retrievalCases(data: QualityDataset, context: number, count: number): ScoredCase[] {
  if (data.passages.length === 0) throw new Error('the held-out text gave no passage long enough for retrieval');
  const passageLength = data.passages[0].length;
  const fillerLength = context - 1 - 2 * passageLength - 2 * data.separator.length;
  const fillerStarts = evenStarts(data.filler.length, fillerLength, count);
  return evenStarts(data.passages.length, 1, count).map((p, i) =>
    retrievalCase(data.bos, data.passages[p], data.separator, data.filler.slice(fillerStarts[i]), context),
  );
}

/** Greedy prompts: `count` windows of `length` tokens, half a spacing after the text windows' starts. */
export function greedyPrompts(data: QualityDataset, length: number, count: number): number[][] {
  const starts = evenStarts(data.stream.length, length, count + 1);
  return starts.slice(0, count).map((s, i) => {
    const start = Math.round((s + starts[i + 1]) / 2);
    return data.stream.slice(start, start + length);
  });
}

/** A KV cache configuration under test; `settings` is null where the combination is invalid. */
export interface QualityConfig {
  name: string;
  settings: KvSettings | null;
  /** Why the settings were rejected (resolveKvSettings' message). */
  invalid: string | null;
}

export const REFERENCE_CONFIG = 'fp16';
export const GROUP_SIZES = [32, 64, 128] as const;
export const RESIDUALS = [0, 32, 128] as const;
export const POLICIES = ['uniform', 'pyramid', 'zigzag'] as const;
export const BUDGETS = [0.1, 0.2, 0.4] as const;

/** fp16 (the reference) first; KIVI-4; KIVI-2 at G32/R128 ("kivi2"), then the rest of the G x R grid;
 *  KIVI-2 (G32, R128) with each eviction policy at each budget ("kivi2-zigzag20"). */
export function qualityConfigs(headDim: number): QualityConfig[] {
  const entries: [string, Partial<KvSettings>][] = [
    [REFERENCE_CONFIG, DEFAULT_KV_SETTINGS],
    ['kivi4', { ...KIVI2, keyBits: 4, valueBits: 4 }],
    ['kivi2', KIVI2],
  ];
  for (const groupSize of GROUP_SIZES) {
    for (const residualLength of RESIDUALS) {
      if (groupSize === KIVI2.groupSize && residualLength === KIVI2.residualLength) continue;
      entries.push([`kivi2-g${groupSize}-r${residualLength}`, { ...KIVI2, groupSize, residualLength }]);
    }
  }
  for (const policy of POLICIES) for (const budget of BUDGETS) entries.push([`kivi2-${policy}${Math.round(budget * 100)}`, { ...KIVI2, policy, budgetFraction: budget }]);
  return entries.map(([name, partial]) => {
    try {
      return { name, settings: resolveKvSettings(partial, headDim), invalid: null };
    } catch (err) {
      return { name, settings: null, invalid: err instanceof Error ? err.message : String(err) };
    }
  });
}
