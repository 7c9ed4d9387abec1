import { describe, expect, it, vi } from 'vitest';
import { createStore } from 'zustand/vanilla';
import type { ChatCompletionChunk, ChatCompletionRequest, EngineStats } from '../engine/api';
import { DEFAULT_KV_SETTINGS } from '../engine/kv/settings';
import { EngineFailure, type EngineConnection } from '../worker/client';
import { chatState } from './chat';

const stats: EngineStats = {
  model: 'tiny', architecture: 'llama', quantization: 'q4f16_1', numLayers: 2, kvTokens: 0, kvCapacity: 128,
  kvBytesAllocated: 4096, kvBytesUsed: 0, kvBytesFp16Equivalent: 0, kvSettings: DEFAULT_KV_SETTINGS, kvLayers: [],
  weightBytes: 1000, adapter: 'test adapter',
};

function chunk(content: string | undefined, usage = false): ChatCompletionChunk {
  return {
    id: 'c', object: 'chat.completion.chunk', created: 0, model: 'tiny',
    choices: [{ index: 0, delta: content === undefined ? {} : { content }, finish_reason: usage ? 'stop' : null }],
    usage: usage
      ? { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7, extra: { prefill_tokens_per_s: 50, decode_tokens_per_s: 20 } }
      : undefined,
  };
}

/** A connection whose replies are scripted: each generate() yields `reply` then fails if `failWith`. */
function fakeConnection(reply: ChatCompletionChunk[], failWith?: EngineFailure) {
  const requests: ChatCompletionRequest[] = [];
  const connection: EngineConnection = {
    load: vi.fn(async (_url, options) => {
      options?.onProgress?.({ progress: 0.5, loadedBytes: 1, totalBytes: 2, text: 'half way' });
      return { modelId: 'tiny', stats };
    }),
    async *generate(request) {
      requests.push(request);
      yield* reply;
      if (failWith) throw failWith;
    },
    interrupt: vi.fn(),
    stats: vi.fn(async () => ({ ...stats, kvTokens: 7 })),
    unload: vi.fn(async () => {}),
  };
  return { connection, requests };
}

function storeWith(connection: EngineConnection) {
  return createStore(chatState({ connect: () => connection, modelUrl: 'http://localhost/fixtures/m/' }));
}

describe('chat store', () => {
  it('loads the model from the URL field and reports progress on the way', async () => {
    const { connection } = fakeConnection([]);
    const store = storeWith(connection);
    const phases: string[] = [];
    store.subscribe((s) => phases.push(s.model.phase === 'loading' ? `loading:${s.model.progress?.text ?? ''}` : s.model.phase));
    await store.getState().loadModel();
    expect(connection.load).toHaveBeenCalledWith('http://localhost/fixtures/m/', expect.anything());
    expect(phases).toEqual(['loading:', 'loading:half way', 'ready']);
  });

  it('streams a reply into the transcript, with the settings in the request and usage at the end', async () => {
    const { connection, requests } = fakeConnection([chunk('Hel'), chunk('lo'), chunk(undefined, true)]);
    const store = storeWith(connection);
    await store.getState().loadModel();
    store.getState().updateSettings({ maxTokens: 10, temperature: 5 });
    const contents: string[] = [];
    store.subscribe((s) => contents.push(s.messages.at(-1)?.content ?? ''));
    await store.getState().send('Hi');

    expect(requests[0]).toMatchObject({ messages: [{ role: 'user', content: 'Hi' }], max_tokens: 10, temperature: 2, top_p: 0.95 });
    expect(new Set(contents)).toEqual(new Set(['', 'Hel', 'Hello']));
    const [question, reply] = store.getState().messages;
    expect(question).toMatchObject({ role: 'user', content: 'Hi' });
    expect(reply).toMatchObject({ role: 'assistant', content: 'Hello', finishReason: 'stop' });
    expect(reply?.usage?.completion_tokens).toBe(2);
    expect(store.getState().generating).toBe(false);
    expect(store.getState().model).toMatchObject({ phase: 'ready', stats: { kvTokens: 7 } });
  });

  it('sends the whole conversation with the next message', async () => {
    const { connection, requests } = fakeConnection([chunk('ok'), chunk(undefined, true)]);
    const store = storeWith(connection);
    await store.getState().loadModel();
    await store.getState().send('one');
    await store.getState().send('two');
    expect(requests[1]?.messages.map((m) => `${m.role}:${m.content}`)).toEqual(['user:one', 'assistant:ok', 'user:two']);
  });

  it('keeps the conversation and shows the typed error when a reply fails', async () => {
    const failure = new EngineFailure({ code: 'device-lost', message: 'The GPU device was lost: gone', hint: 'Reload the model.' });
    const { connection } = fakeConnection([chunk('partial')], failure);
    const store = storeWith(connection);
    await store.getState().loadModel();
    await store.getState().send('Hi');
    expect(store.getState().error).toEqual(failure.error);
    expect(store.getState().messages.map((m) => m.content)).toEqual(['Hi', 'partial']);
    expect(store.getState().generating).toBe(false);
  });

  it('drops an empty reply when it fails before its first token', async () => {
    const failure = new EngineFailure({ code: 'context-full', message: 'full', hint: 'Start a new conversation.' });
    const store = storeWith(fakeConnection([], failure).connection);
    await store.getState().loadModel();
    await store.getState().send('Hi');
    expect(store.getState().messages.map((m) => m.role)).toEqual(['user']);
  });

  it('returns to idle with the error when loading fails, and switches to the no-WebGPU screen for that code', async () => {
    const { connection } = fakeConnection([]);
    connection.load = async () => {
      throw new EngineFailure({ code: 'webgpu-unavailable', message: 'no adapter', hint: 'Use Chrome.' });
    };
    const store = storeWith(connection);
    store.setState({ webgpu: 'available' });
    await store.getState().loadModel();
    expect(store.getState().model.phase).toBe('idle');
    expect(store.getState().webgpu).toBe('unavailable');
    expect(store.getState().error?.hint).toBe('Use Chrome.');
  });

  it('ignores sends before a model is ready, and blank messages', async () => {
    const { connection, requests } = fakeConnection([chunk(undefined, true)]);
    const store = storeWith(connection);
    await store.getState().send('Hi');
    await store.getState().loadModel();
    await store.getState().send('   ');
    expect(requests).toHaveLength(0);
    expect(store.getState().messages).toHaveLength(0);
  });

  it('interrupts only while a reply is being generated', async () => {
    const { connection } = fakeConnection([chunk(undefined, true)]);
    const store = storeWith(connection);
    await store.getState().loadModel();
    store.getState().stop();
    expect(connection.interrupt).not.toHaveBeenCalled();
    store.setState({ generating: true });
    store.getState().stop();
    expect(connection.interrupt).toHaveBeenCalledOnce();
  });

  it('unloads a ready model and keeps the transcript', async () => {
    const { connection } = fakeConnection([chunk('ok'), chunk(undefined, true)]);
    const store = storeWith(connection);
    await store.getState().unloadModel();
    expect(connection.unload).not.toHaveBeenCalled();
    await store.getState().loadModel();
    await store.getState().send('Hi');
    await store.getState().unloadModel();
    expect(connection.unload).toHaveBeenCalledOnce();
    expect(store.getState().model.phase).toBe('idle');
    expect(store.getState().messages).toHaveLength(2);
  });

  it('detects WebGPU by asking for an adapter', async () => {
    const store = storeWith(fakeConnection([]).connection);
    await store.getState().detectWebGpu(undefined);
    expect(store.getState().webgpu).toBe('unavailable');
    await store.getState().detectWebGpu({ requestAdapter: async () => null } as unknown as GPU);
    expect(store.getState().webgpu).toBe('unavailable');
    await store.getState().detectWebGpu({ requestAdapter: async () => ({}) } as unknown as GPU);
    expect(store.getState().webgpu).toBe('available');
  });
});
