// The prefill/decode loop: reuse the cached prefix of the prompt, prefill the rest in chunks, then
// sample token by token until a stop token, a stop string, max_tokens, a full context, or interrupt.
import type { FinishReason } from '../api';
import { StreamDecoder, type TextCodec } from '../chat/streamDecoder';
import type { GpuModel, Sampling } from '../gpu/model';
import { StopStringFilter } from './stops';

export interface GenerationParams {
  maxTokens: number;
  /** 0 means greedy. */
  temperature: number;
  topP: number;
  repetitionPenalty: number;
  stopTokenIds: number[];
  stopStrings: string[];
  /** Ignore stopTokenIds and stopStrings: only maxTokens, a full context or interrupt end the reply. */
  ignoreEos: boolean;
  /** Uniform draws in [0, 1) for top-p sampling. */
  random: () => number;
}

/** What the loop needs of a model: the GPU model in the app, a scripted one in unit tests. */
export type DecodingModel = Pick<GpuModel, 'length' | 'maxSeq' | 'truncate' | 'prefill' | 'sample' | 'step'>;

export interface GenerationResult {
  finishReason: FinishReason;
  promptTokens: number;
  completionTokens: number;
  /** Prompt tokens actually prefilled (the rest were already cached). */
  prefilledTokens: number;
  prefillSeconds: number;
  /** Decode steps (forward + sample of one token) and their wall time. */
  decodeSteps: number;
  decodeSeconds: number;
}

/** Which tokens the model's KV cache holds, so the next prompt only prefills what changed. */
export class CachedSequence {
  tokens: number[] = [];

  constructor(private readonly model: DecodingModel) {}

  /** Rolls the cache back to the longest common prefix with `prompt` (keeping at least one prompt
   *  token to run, for its logits; a quantized cache may keep less) and returns the tokens still
   *  to prefill. */
  suffixToPrefill(prompt: number[]): number[] {
    let common = 0;
    const limit = Math.min(this.tokens.length, prompt.length - 1);
    while (common < limit && this.tokens[common] === prompt[common]) common++;
    const kept = this.model.truncate(common);
    this.tokens.length = kept;
    return prompt.slice(kept);
  }

  /** Forgets everything (after the cache was rebuilt). */
  clear(): void {
    this.tokens.length = 0;
  }
}

export async function* generate(
  model: DecodingModel,
  cache: CachedSequence,
  codec: TextCodec,
  prompt: number[],
  params: GenerationParams,
  interrupted: () => boolean,
): AsyncGenerator<string, GenerationResult> {
  const sampling = (): Sampling =>
    params.temperature <= 0
      ? { kind: 'greedy', repetitionPenalty: params.repetitionPenalty }
      : { kind: 'top-p', temperature: params.temperature, topP: params.topP, repetitionPenalty: params.repetitionPenalty, u: params.random() };
  const stopTokens = new Set(params.ignoreEos ? [] : params.stopTokenIds);
  const decoder = new StreamDecoder(codec);
  const stops = new StopStringFilter(params.ignoreEos ? [] : params.stopStrings);
  const seen = new Set<number>();

  const prefillStart = performance.now();
  const suffix = cache.suffixToPrefill(prompt);
  await model.prefill(suffix);
  cache.tokens.push(...suffix);
  let token = await model.sample(sampling(), []);
  const decodeStart = performance.now();
  let completionTokens = 0;
  let decodeSteps = 0;
  let finishReason: FinishReason;

  for (;;) {
    if (stopTokens.has(token)) {
      finishReason = 'stop';
      break;
    }
    completionTokens++;
    seen.add(token);
    const text = stops.push(decoder.push(token));
    if (text) yield text;
    if (stops.stopped) {
      finishReason = 'stop';
      break;
    }
    if (completionTokens >= params.maxTokens || model.length + 1 > model.maxSeq) {
      finishReason = 'length';
      break;
    }
    if (interrupted()) {
      finishReason = 'abort';
      break;
    }
    const next = await model.step(token, sampling(), [...seen]);
    cache.tokens.push(token);
    decodeSteps++;
    token = next;
  }
  const rest = stops.flush();
  if (rest) yield rest;
  const end = performance.now();
  return {
    finishReason,
    promptTokens: prompt.length,
    completionTokens,
    prefilledTokens: suffix.length,
    prefillSeconds: (decodeStart - prefillStart) / 1000,
    decodeSteps,
    decodeSeconds: (end - decodeStart) / 1000,
  };
}

/** mulberry32: a small seeded PRNG, so `seed` makes sampling reproducible. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
