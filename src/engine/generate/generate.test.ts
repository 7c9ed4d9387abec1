// The decode loop's stop conditions, on a scripted model: every sample returns the next token of a
// fixed script, so each way a reply can end is reached on purpose.
import { describe, expect, it } from 'vitest';
import type { TextCodec } from '../chat/streamDecoder';
import { CachedSequence, generate, type DecodingModel, type GenerationParams, type GenerationResult } from './generate';

/** One character per token: token t decodes to String.fromCharCode(t). */
const codec: TextCodec = {
  encode: (text) => [...text].map((c) => c.charCodeAt(0)),
  decode: (ids) => String.fromCharCode(...ids),
};

const STOP = 1;

/** A model whose samples follow `script`, then repeat its last token; it holds `maxSeq` tokens. */
function scriptedModel(script: number[], maxSeq = 1000): DecodingModel {
  let length = 0;
  let next = 0;
  const sample = async () => script[Math.min(next++, script.length - 1)]!;
  return {
    get length() {
      return length;
    },
    maxSeq,
    truncate: (keep: number) => (length = Math.min(length, keep)),
    prefill: async (tokens: ArrayLike<number>) => {
      length += tokens.length;
    },
    sample,
    step: async () => {
      length += 1;
      return sample();
    },
  };
}

const params = (overrides: Partial<GenerationParams> = {}): GenerationParams => ({
  maxTokens: 50, temperature: 0, topP: 1, repetitionPenalty: 1, stopTokenIds: [STOP], stopStrings: ['END'], ignoreEos: false, random: Math.random, ...overrides,
});

async function run(model: DecodingModel, p: GenerationParams, interruptAfter = Infinity): Promise<{ text: string; result: GenerationResult }> {
  const steps = generate(model, new CachedSequence(model), codec, codec.encode('prompt'), p, () => chunks >= interruptAfter);
  let text = '';
  let chunks = 0;
  for (;;) {
    const step = await steps.next();
    if (step.done) return { text, result: step.value };
    text += step.value;
    chunks++;
  }
}

const tokens = (text: string) => codec.encode(text);

describe('generate', () => {
  it('ends at a stop token, which is not part of the reply', async () => {
    const { text, result } = await run(scriptedModel([...tokens('hi'), STOP]), params());
    expect(text).toBe('hi');
    expect(result).toMatchObject({ finishReason: 'stop', completionTokens: 2, promptTokens: 6 });
  });

  it('ends at a stop string, cut from the reply', async () => {
    const { text, result } = await run(scriptedModel(tokens('abENDcd')), params());
    expect(text).toBe('ab');
    expect(result.finishReason).toBe('stop');
  });

  it('with ignoreEos, runs past stop tokens and stop strings to max_tokens', async () => {
    const script = [...tokens('hi'), STOP, ...tokens('END'), STOP, ...tokens('xyz')];
    const { text, result } = await run(scriptedModel(script), params({ ignoreEos: true, maxTokens: 12 }));
    expect(result).toMatchObject({ finishReason: 'length', completionTokens: 12 });
    expect(text).toBe(`hi${String.fromCharCode(STOP)}END${String.fromCharCode(STOP)}xyzzz`);
  });

  it('with ignoreEos, still ends when the context is full', async () => {
    // 10 slots: the 6 prompt tokens and 4 reply tokens fed back; the 5th reply token is sampled, not cached.
    const { result } = await run(scriptedModel([STOP], 10), params({ ignoreEos: true, maxTokens: 100 }));
    expect(result.finishReason).toBe('length');
    expect(result.completionTokens).toBe(5);
  });

  it('ends with "abort" when interrupted, with ignoreEos too', async () => {
    const { text, result } = await run(scriptedModel([...tokens('abcdef'), STOP]), params({ ignoreEos: true }), 3);
    expect(text).toBe('abc');
    expect(result).toMatchObject({ finishReason: 'abort', completionTokens: 3 });
  });
});
