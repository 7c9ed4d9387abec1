// The public API end to end in the browser: createEngine on a fixture served over HTTP, streaming
// chat completions, usage, interrupt, multi-turn prefix reuse, and the typed load errors.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatCompletionChunk, Engine } from './api';
import { createEngine } from './engine';
import { ModelFetchError } from './errors';

async function collect(stream: AsyncIterable<ChatCompletionChunk>, onChunk?: (n: number) => void): Promise<ChatCompletionChunk[]> {
  const chunks: ChatCompletionChunk[] = [];
  for await (const chunk of stream) {
    chunks.push(chunk);
    onChunk?.(chunks.length);
  }
  return chunks;
}

const text = (chunks: ChatCompletionChunk[]) => chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');

describe('createEngine + chat.completions.create', () => {
  // One engine for the whole block, created before any test, so each test also runs alone (-t).
  let engine: Engine;
  const progress: number[] = [];
  beforeAll(async () => {
    engine = await createEngine('/fixtures/llama-q4f16', { cacheName: null, contextLength: 256, onProgress: (p) => progress.push(p.progress) });
  });
  afterAll(() => engine?.unload());

  it('loads a fixture with byte-level progress', () => {
    expect(engine.modelId).toBe('llama-q4f16');
    expect(progress.at(-1)).toBe(1);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(engine.stats()).toMatchObject({ kvTokens: 0, kvCapacity: 256, numLayers: 2, quantization: 'q4f16_1' });
  });

  it('streams chunks with the role first and usage on the last', async () => {
    const chunks = await collect(engine.chat.completions.create({ messages: [{ role: 'user', content: 'Hello there' }], max_tokens: 12, temperature: 0 }));
    const last = chunks.at(-1)!;
    expect(chunks[0].choices[0].delta.role).toBe('assistant');
    expect(last.usage).toBeDefined();
    expect(['stop', 'length']).toContain(last.choices[0].finish_reason);
    expect(last.usage!.completion_tokens).toBeGreaterThan(0);
    expect(last.usage!.completion_tokens).toBeLessThanOrEqual(12);
    expect(last.usage!.total_tokens).toBe(last.usage!.prompt_tokens + last.usage!.completion_tokens);
    expect(engine.stats().kvTokens).toBeGreaterThanOrEqual(last.usage!.prompt_tokens);
  });

  it('is deterministic under greedy decoding and with a seed', async () => {
    const ask = (seed?: number) =>
      collect(engine.chat.completions.create({ messages: [{ role: 'user', content: 'Tell me a story' }], max_tokens: 10, temperature: seed === undefined ? 0 : 0.9, top_p: 0.9, seed }));
    expect(text(await ask())).toBe(text(await ask()));
    expect(text(await ask(42))).toBe(text(await ask(42)));
  });

  it('reuses the cached prefix in a follow-up turn', async () => {
    const first = await collect(engine.chat.completions.create({ messages: [{ role: 'user', content: 'One' }], max_tokens: 6, temperature: 0 }));
    const reply = text(first);
    const second = await collect(engine.chat.completions.create({
      messages: [{ role: 'user', content: 'One' }, { role: 'assistant', content: reply }, { role: 'user', content: 'Two' }],
      max_tokens: 6,
      temperature: 0,
    }));
    const usage = second.at(-1)!.usage!;
    expect(usage.prompt_tokens).toBeGreaterThan(first.at(-1)!.usage!.prompt_tokens);
  });

  it('with ignore_eos, generates exactly max_tokens whatever it samples', async () => {
    for (const seed of [1, 2, 3]) {
      const chunks = await collect(engine.chat.completions.create({ messages: [{ role: 'user', content: 'Go on' }], max_tokens: 9, temperature: 1, seed, ignore_eos: true }));
      expect(chunks.at(-1)!.choices[0].finish_reason).toBe('length');
      expect(chunks.at(-1)!.usage!.completion_tokens).toBe(9);
    }
  });

  it('ends the stream with finish_reason "abort" on interruptGenerate', async () => {
    // ignore_eos: the reply cannot end by itself before the interrupt.
    const stream = engine.chat.completions.create({
      messages: [{ role: 'user', content: 'Go on' }], max_tokens: 200, temperature: 0.8, repetition_penalty: 1.2, seed: 1, ignore_eos: true,
    });
    const chunks = await collect(stream, (n) => {
      if (n === 3) engine.interruptGenerate();
    });
    expect(chunks.at(-1)!.choices[0].finish_reason).toBe('abort');
    expect(chunks.at(-1)!.usage!.completion_tokens).toBeLessThan(200);
  });

  it('fails with a typed error for a model URL that does not exist', async () => {
    await expect(createEngine('/fixtures/no-such-model/', { cacheName: null })).rejects.toBeInstanceOf(ModelFetchError);
  });
});
