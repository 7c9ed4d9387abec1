// The measurements behind bench/quality.ts, DOM- and Node-free so that a browser test runs them on a
// tiny model. One GpuModel serves every configuration: before each case its KV cache is rebuilt
// empty with the configuration's settings (GpuModel.rebuildKvCache), so every cache sees the same
// tokens from position 0.
//
// Teacher-forced case (text windows and retrieval): prefill tokens[0..scoreFrom) with
// GpuModel.prefill (KIVI quantizes, the policy evicts after every chunk), read the logits that
// predict tokens[scoreFrom], then for each further scored token one decode step fed the TRUE
// previous token (eviction keeps running in decode) and its logits. Every configuration is compared
// position by position with the fp16 cache on the same case. Greedy: prefill a prompt, then generate
// `greedySteps` tokens greedily from the cache's own outputs, compared with fp16's generation.
import { GpuModel, type Sampling } from '../src/engine/gpu/model';
import type { KvSettings } from '../src/engine/kv/settings';
import type { WeightStore } from '../src/engine/gpu/weights';
import type { ModelConfig } from '../src/engine/model/types';
import { greedyPrompts, qualityConfigs, REFERENCE_CONFIG, retrievalCases, textCases, type QualityConfig, type QualityDataset, type ScoredCase } from './quality-data';
import { addComparison, argmax, EMPTY_COMPARISON, figures, greedyAgreement, mean, tokenNll, type Predictions, type TeacherForcedFigures } from './quality-metrics';

const GREEDY: Sampling = { kind: 'greedy', repetitionPenalty: 1 };

export interface QualityOptions {
  /** Case lengths in tokens (prefix + scored tokens), ascending. */
  contexts: number[];
  /** Scored tokens at the end of each text window. */
  scoredTokens: number;
  textWindows: number;
  retrievalCases: number;
  greedyPrompts: number;
  greedyPromptTokens: number;
  greedySteps: number;
  /** Configuration names to run (fp16 is always run: it is the reference). */
  configs: string[] | null;
  /** performance.now() after which no further case is started; what was measured is still reported. */
  deadline: number;
}

export interface TeacherForcedRow {
  kind: 'teacher-forced';
  config: string;
  settings: KvSettings;
  context: number;
  /** Held-out text windows: the last `scoredTokens` tokens of each. */
  text: TeacherForcedFigures & { cases: number };
  /** Retrieval cases: the second half of the repeated passage. */
  retrieval: TeacherForcedFigures & { cases: number };
  /** Mean over layers and text windows of tokens kept / tokens seen, after the last scored token. */
  keptFraction: number;
}

export interface GreedyRow {
  kind: 'greedy';
  config: string;
  settings: KvSettings;
  promptTokens: number;
  steps: number;
  prompts: number;
  /** Mean over prompts of the fraction of positions equal to fp16's generation. */
  agreement: number;
  /** Mean and smallest first differing position (steps when none differs). */
  meanFirstDivergence: number;
  minFirstDivergence: number;
}

export interface SkippedRow {
  kind: 'skipped';
  config: string;
  /** The context (teacher-forced) or prompt length (greedy) left out; null for a configuration never run. */
  context: number | null;
  task: 'teacher-forced' | 'greedy' | 'all';
  reason: string;
}

export type QualityRow = TeacherForcedRow | GreedyRow | SkippedRow;

export interface QualityModel {
  cfg: ModelConfig;
  weights: WeightStore;
}

/** Runs every configuration on every case, contexts ascending then greedy, handing each row to
 *  `onRow` as soon as it exists. Past the deadline the remaining rows come as skipped. */
export async function measureQuality(device: GPUDevice, model: QualityModel, data: QualityDataset, options: QualityOptions, onRow: (row: QualityRow) => void): Promise<void> {
  const all = qualityConfigs(model.cfg.headDim);
  const wanted = options.configs;
  const selected = all.filter((c) => c.name === REFERENCE_CONFIG || wanted === null || wanted.includes(c.name));
  for (const c of selected) if (c.invalid !== null) onRow({ kind: 'skipped', config: c.name, context: null, task: 'all', reason: c.invalid });
  const configs = selected.filter((c): c is QualityConfig & { settings: KvSettings } => c.settings !== null);
  const reference = configs.find((c) => c.name === REFERENCE_CONFIG)!;
  const capacity = Math.max(...options.contexts, options.greedyPromptTokens + options.greedySteps);
  const gpu = new GpuModel(device, model.cfg, model.weights, capacity, reference.settings);
  const pastDeadline = () => performance.now() > options.deadline;
  const skip = (context: number, task: SkippedRow['task']) => {
    for (const c of configs) onRow({ kind: 'skipped', config: c.name, context, task, reason: 'time limit reached before this row was measured' });
  };
  try {
    for (const context of options.contexts) {
      if (pastDeadline()) {
        skip(context, 'teacher-forced');
        continue;
      }
      const text = textCases(data, context, options.scoredTokens, options.textWindows);
      const retrieval = retrievalCases(data, context, options.retrievalCases);
      const sums = new Map(configs.map((c) => [c.name, { text: EMPTY_COMPARISON, retrieval: EMPTY_COMPARISON, kept: [] as number[], textCases: 0, retrievalCases: 0 }]));
      // Cases outermost, so a deadline mid-context still leaves every configuration measured on the same cases.
      const cases: { task: 'text' | 'retrieval'; item: ScoredCase }[] = [
        ...text.map((item) => ({ task: 'text' as const, item })),
        ...retrieval.map((item) => ({ task: 'retrieval' as const, item })),
      ];
      for (const { task, item } of cases) {
        if (pastDeadline()) break;
        const targets = item.tokens.slice(item.scoreFrom);
        const fp16 = await teacherForce(gpu, reference.settings, item);
        for (const c of configs) {
          const predictions = c === reference ? fp16 : await teacherForce(gpu, c.settings, item);
          const sum = sums.get(c.name)!;
          if (task === 'text') {
            sum.text = addComparison(sum.text, predictions, fp16, targets);
            sum.textCases++;
            sum.kept.push(keptFraction(gpu));
          } else {
            sum.retrieval = addComparison(sum.retrieval, predictions, fp16, targets);
            sum.retrievalCases++;
          }
        }
      }
      for (const c of configs) {
        const sum = sums.get(c.name)!;
        if (sum.textCases === 0 || sum.retrievalCases === 0) {
          onRow({ kind: 'skipped', config: c.name, context, task: 'teacher-forced', reason: 'time limit reached before both text and retrieval cases ran' });
          continue;
        }
        onRow({
          kind: 'teacher-forced',
          config: c.name,
          settings: c.settings,
          context,
          text: { ...figures(sum.text), cases: sum.textCases },
          retrieval: { ...figures(sum.retrieval), cases: sum.retrievalCases },
          keptFraction: mean(sum.kept),
        });
      }
    }

    if (pastDeadline()) {
      skip(options.greedyPromptTokens, 'greedy');
      return;
    }
    const prompts = greedyPrompts(data, options.greedyPromptTokens, options.greedyPrompts);
    const results = new Map<string, ReturnType<typeof greedyAgreement>[]>(configs.map((c) => [c.name, []]));
    for (const prompt of prompts) {
      if (pastDeadline()) break;
      const fp16 = await generate(gpu, reference.settings, prompt, options.greedySteps);
      for (const c of configs) {
        const tokens = c === reference ? fp16 : await generate(gpu, c.settings, prompt, options.greedySteps);
        results.get(c.name)!.push(greedyAgreement(fp16, tokens));
      }
    }
    for (const c of configs) {
      const runs = results.get(c.name)!;
      if (runs.length === 0) {
        onRow({ kind: 'skipped', config: c.name, context: options.greedyPromptTokens, task: 'greedy', reason: 'time limit reached before any greedy prompt ran' });
        continue;
      }
      const divergences = runs.map((r) => r.firstDivergence);
      onRow({
        kind: 'greedy',
        config: c.name,
        settings: c.settings,
        promptTokens: options.greedyPromptTokens,
        steps: options.greedySteps,
        prompts: runs.length,
        agreement: mean(runs.map((r) => r.agreement)),
        meanFirstDivergence: mean(divergences),
        minFirstDivergence: Math.min(...divergences),
      });
    }
  } finally {
    gpu.destroy();
  }
}

/** NLL of each scored token and the argmax at its position, from an empty cache with `settings`. */
export async function teacherForce(gpu: GpuModel, settings: KvSettings, item: ScoredCase): Promise<Predictions> {
  gpu.rebuildKvCache(settings);
  await gpu.prefill(item.tokens.slice(0, item.scoreFrom));
  const nll: number[] = [];
  const top1: number[] = [];
  for (let i = item.scoreFrom; i < item.tokens.length; i++) {
    if (i > item.scoreFrom) await gpu.step(item.tokens[i - 1], GREEDY, []);
    const logits = await gpu.readLogits();
    nll.push(tokenNll(logits, item.tokens[i]));
    top1.push(argmax(logits));
  }
  return { nll, top1 };
}

/** `steps` greedy tokens after `prompt`, from an empty cache with `settings`. */
export async function generate(gpu: GpuModel, settings: KvSettings, prompt: number[], steps: number): Promise<number[]> {
  gpu.rebuildKvCache(settings);
  await gpu.prefill(prompt);
  const tokens = [await gpu.sample(GREEDY, [])];
  while (tokens.length < steps) tokens.push(await gpu.step(tokens[tokens.length - 1], GREEDY, []));
  return tokens;
}

/** Tokens kept over tokens seen, averaged over layers. */
function keptFraction(gpu: GpuModel): number {
  return mean(gpu.kvBytes().perLayer.map((l) => l.keptTokens / gpu.position));
}
