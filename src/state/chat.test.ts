import 'fake-indexeddb/auto';
import { describe, expect, it, vi } from 'vitest';
import { createStore } from 'zustand/vanilla';
import type { ChatCompletionChunk, ChatCompletionRequest, EngineStats, KvSettings } from '../engine/api';
import { KvSettingsError } from '../engine/errors';
import { DEFAULT_KV_SETTINGS, KV_PRESETS } from '../engine/kv/settings';
import { EngineFailure, type EngineConnection } from '../worker/client';
import { chatState, SAVE_INTERVAL_MS } from './chat';
import { dexieRepository, openDatabase, type ConversationRepository } from './db';

const stats: EngineStats = {
  model: 'tiny', architecture: 'llama', quantization: 'q4f16_1', numLayers: 2, kvTokens: 0, kvCapacity: 128,
  kvBytesAllocated: 4096, kvBytesUsed: 0, kvBytesFp16Equivalent: 0, kvSettings: DEFAULT_KV_SETTINGS, kvLayers: [],
  weightBytes: 1000, adapter: 'test adapter',
};

const MODEL_URL = 'http://localhost/fixtures/m/';

function chunk(content: string | undefined, usage = false): ChatCompletionChunk {
  return {
    id: 'c', object: 'chat.completion.chunk', created: 0, model: 'tiny',
    choices: [{ index: 0, delta: content === undefined ? {} : { content }, finish_reason: usage ? 'stop' : null }],
    usage: usage
      ? { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7, extra: { prefill_tokens_per_s: 50, decode_tokens_per_s: 20 } }
      : undefined,
  };
}

/** A connection whose replies are scripted: each generate() yields `reply` then fails if `failWith`.
 *  `gate`, when set, is awaited after each chunk, so a test can look at the store mid-stream. */
function fakeConnection(reply: ChatCompletionChunk[], failWith?: EngineFailure) {
  const requests: ChatCompletionRequest[] = [];
  const kvRequests: Partial<KvSettings>[] = [];
  const fake = {
    gate: undefined as (() => Promise<void>) | undefined,
    connection: {
      load: vi.fn(async (_url: string, options) => {
        options?.onProgress?.({ progress: 0.5, loadedBytes: 1, totalBytes: 2, text: 'half way' });
        return { modelId: 'tiny', stats: { ...stats, kvSettings: { ...DEFAULT_KV_SETTINGS, ...options?.kv } } };
      }),
      async *generate(request) {
        requests.push(request);
        for (const c of reply) {
          yield c;
          await fake.gate?.();
        }
        if (failWith) throw failWith;
      },
      interrupt: vi.fn(),
      cancelLoad: vi.fn(),
      stats: vi.fn(async () => ({ ...stats, kvTokens: 7 })),
      setKvSettings: vi.fn(async (settings: Partial<KvSettings>) => {
        kvRequests.push(settings);
        if (settings.groupSize === 128) throw new EngineFailure(new KvSettingsError('Group size too large.').toJSON());
        const resolved = { ...DEFAULT_KV_SETTINGS, ...settings };
        return { settings: resolved, stats: { ...stats, kvSettings: resolved, kvBytesUsed: 1 } };
      }),
      unload: vi.fn(async () => {}),
      terminate: vi.fn(),
    } satisfies EngineConnection,
    requests,
    kvRequests,
  };
  return fake;
}

let databases = 0;
function freshRepository(): ConversationRepository {
  return dexieRepository(openDatabase(`kvchat-test-${++databases}`));
}

function storeWith(connection: EngineConnection, repository = freshRepository()) {
  let ids = 0;
  let clock = 1000;
  return createStore(
    chatState({ connect: () => connection, repository, modelUrl: MODEL_URL, newId: () => `id-${++ids}`, now: () => (clock += 100) }),
  );
}

/** Resolves once every IndexedDB write the store has issued has committed. */
function writesCommitted(store: ReturnType<typeof storeWith>): Promise<void> {
  return new Promise((resolve) => {
    const check = () => {
      if (store.getState().pendingWrites > 0) return false;
      unsubscribe();
      resolve();
      return true;
    };
    const unsubscribe = store.subscribe(check);
    check();
  });
}

describe('chat store: model and replies', () => {
  it('loads the model from the URL field with the KV settings, and reports progress on the way', async () => {
    const { connection } = fakeConnection([]);
    const store = storeWith(connection);
    await store.getState().updateKvSettings(KV_PRESETS[1]!.settings);
    const phases: string[] = [];
    store.subscribe((s) => phases.push(s.model.phase === 'loading' ? `loading:${s.model.progress?.text ?? ''}` : s.model.phase));
    await store.getState().loadModel();
    expect(connection.load).toHaveBeenCalledWith(MODEL_URL, expect.objectContaining({ kv: KV_PRESETS[1]!.settings }));
    expect(phases).toEqual(['loading:', 'loading:half way', 'ready']);
    expect(store.getState().model).toMatchObject({ phase: 'ready', baseUrl: MODEL_URL });
  });

  it('streams a reply into the transcript, with the settings and system prompt in the request and usage at the end', async () => {
    const { connection, requests } = fakeConnection([chunk('Hel'), chunk('lo'), chunk(undefined, true)]);
    const store = storeWith(connection);
    await store.getState().loadModel();
    store.getState().updateSettings({ maxTokens: 10, temperature: 5, systemPrompt: 'Be brief.' });
    const contents: string[] = [];
    const chunkCounts: number[] = [];
    store.subscribe((s) => {
      contents.push(s.messages.at(-1)?.content ?? '');
      if (s.streamProgress) chunkCounts.push(s.streamProgress.chunks);
    });
    await store.getState().send('Hi');
    expect(new Set(chunkCounts)).toEqual(new Set([1, 2]));
    expect(store.getState().streamProgress).toBeNull();

    expect(requests[0]).toMatchObject({
      messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }], max_tokens: 10, temperature: 2, top_p: 0.95,
    });
    expect(requests[0]).not.toHaveProperty('ignore_eos');
    expect(new Set(contents)).toEqual(new Set(['', 'Hel', 'Hello']));
    const [question, reply] = store.getState().messages;
    expect(question).toMatchObject({ role: 'user', content: 'Hi' });
    expect(reply).toMatchObject({ role: 'assistant', content: 'Hello', finishReason: 'stop' });
    expect(reply?.usage?.completion_tokens).toBe(2);
    expect(store.getState().generating).toBe(false);
    expect(store.getState().model).toMatchObject({ phase: 'ready', stats: { kvTokens: 7 } });
  });

  it('asks for ignore_eos when "Ignore end of text" is on, and keeps it with the conversation', async () => {
    const { connection, requests } = fakeConnection([chunk('ok'), chunk(undefined, true)]);
    const repository = freshRepository();
    const store = storeWith(connection, repository);
    await store.getState().loadModel();
    store.getState().updateSettings({ ignoreEos: true });
    await store.getState().send('Go on');
    expect(requests[0]).toMatchObject({ ignore_eos: true });
    expect((await repository.listConversations())[0]?.settings.ignoreEos).toBe(true);
    store.getState().updateSettings({ ignoreEos: false });
    await store.getState().send('Again');
    expect(requests[1]).not.toHaveProperty('ignore_eos');
    await writesCommitted(store);
    expect((await repository.listConversations())[0]?.settings.ignoreEos).toBe(false);
  });

  it('counts IndexedDB writes until they commit', async () => {
    const fake = fakeConnection([chunk('Hel'), chunk('lo'), chunk(undefined, true)]);
    const repository = freshRepository();
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    const putMessage = repository.putMessage.bind(repository);
    repository.putMessage = async (...args) => {
      await held;
      return putMessage(...args);
    };
    const store = storeWith(fake.connection, repository);
    await store.getState().loadModel();
    const sent = store.getState().send('Hi');
    expect(store.getState().pendingWrites).toBeGreaterThan(0);
    expect(await repository.loadMessages(store.getState().activeId!)).toEqual([]);
    release();
    await sent;
    expect(store.getState().pendingWrites).toBe(0);
    expect((await repository.loadMessages(store.getState().activeId!)).map((m) => m.content)).toEqual(['Hi', 'Hello']);
  });

  it('sends the whole conversation with the next message', async () => {
    const { connection, requests } = fakeConnection([chunk('ok'), chunk(undefined, true)]);
    const store = storeWith(connection);
    await store.getState().loadModel();
    await store.getState().send('one');
    await store.getState().send('two');
    expect(requests[1]?.messages.map((m) => `${m.role}:${m.content}`)).toEqual(['user:one', 'assistant:ok', 'user:two']);
  });

  it('regenerates the last reply in its place', async () => {
    const { connection, requests } = fakeConnection([chunk('ok'), chunk(undefined, true)]);
    const store = storeWith(connection);
    await store.getState().loadModel();
    await store.getState().send('one');
    const firstReplyId = store.getState().messages[1]!.id;
    await store.getState().regenerate();
    expect(requests[1]?.messages.map((m) => m.content)).toEqual(['one']);
    expect(store.getState().messages.map((m) => m.content)).toEqual(['one', 'ok']);
    expect(store.getState().messages[1]!.id).not.toBe(firstReplyId);
  });

  it('edits a user message, drops what followed and asks again', async () => {
    const { connection, requests } = fakeConnection([chunk('ok'), chunk(undefined, true)]);
    const repository = freshRepository();
    const store = storeWith(connection, repository);
    await store.getState().loadModel();
    await store.getState().send('one');
    await store.getState().send('two');
    await store.getState().editAndResend(store.getState().messages[0]!.id, 'uno');
    expect(requests[2]?.messages.map((m) => m.content)).toEqual(['uno']);
    expect(store.getState().messages.map((m) => m.content)).toEqual(['uno', 'ok']);
    expect((await repository.loadMessages(store.getState().activeId!)).map((m) => m.content)).toEqual(['uno', 'ok']);
  });

  it('keeps the conversation and shows the typed error when a reply fails', async () => {
    const failure = new EngineFailure({ code: 'device-lost', message: 'The GPU device was lost: gone', hint: 'Reload the model.' });
    const { connection } = fakeConnection([chunk('partial')], failure);
    const repository = freshRepository();
    const store = storeWith(connection, repository);
    await store.getState().loadModel();
    await store.getState().send('Hi');
    expect(store.getState().error).toEqual(failure.error);
    expect(store.getState().messages.map((m) => m.content)).toEqual(['Hi', 'partial']);
    expect((await repository.loadMessages(store.getState().activeId!)).map((m) => m.content)).toEqual(['Hi', 'partial']);
    expect(store.getState().generating).toBe(false);
  });

  it('drops an empty reply when it fails before its first token', async () => {
    const failure = new EngineFailure({ code: 'context-full', message: 'full', hint: 'Start a new conversation.' });
    const store = storeWith(fakeConnection([], failure).connection);
    await store.getState().loadModel();
    await store.getState().send('Hi');
    expect(store.getState().messages.map((m) => m.role)).toEqual(['user']);
  });

  it('regenerating after a reply that failed before its first token answers the question again', async () => {
    const failure = new EngineFailure({ code: 'device-lost', message: 'lost', hint: 'Restart the engine.' });
    const fake = fakeConnection([], failure);
    const store = storeWith(fake.connection);
    await store.getState().loadModel();
    await store.getState().send('Hi');
    expect(store.getState().messages.map((m) => m.role)).toEqual(['user']);
    await store.getState().regenerate();
    expect(fake.requests.map((r) => r.messages.map((m) => m.content))).toEqual([['Hi'], ['Hi']]);
  });

  it('cancels a load: back to idle with no error', async () => {
    const { connection } = fakeConnection([]);
    let rejectLoad: (err: unknown) => void = () => {};
    connection.load.mockImplementationOnce(() => new Promise((_, reject) => (rejectLoad = reject)));
    connection.cancelLoad.mockImplementation(() =>
      rejectLoad(new EngineFailure({ code: 'load-cancelled', message: 'cancelled', hint: 'Load it again to resume.' })),
    );
    const store = storeWith(connection);
    const loading = store.getState().loadModel();
    expect(store.getState().model.phase).toBe('loading');
    store.getState().cancelLoad();
    await loading;
    expect(connection.cancelLoad).toHaveBeenCalledOnce();
    expect(store.getState().model.phase).toBe('idle');
    expect(store.getState().error).toBeNull();
  });

  it('returns to idle with the error when loading fails, and switches to the no-WebGPU screen for that code', async () => {
    const { connection } = fakeConnection([]);
    connection.load.mockRejectedValueOnce(new EngineFailure({ code: 'webgpu-unavailable', message: 'no adapter', hint: 'Use Chrome.' }));
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
    expect(store.getState().conversations).toHaveLength(0);
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

  it('restarts a broken engine with a fresh worker and loads the model again, keeping the transcript', async () => {
    const first = fakeConnection([chunk('ok'), chunk(undefined, true)]).connection;
    const second = fakeConnection([]).connection;
    const connections = [first, second];
    const store = createStore(chatState({ connect: () => connections.shift()!, repository: freshRepository(), modelUrl: MODEL_URL }));
    await store.getState().loadModel();
    await store.getState().send('Hi');
    await store.getState().restartEngine();
    expect(first.terminate).toHaveBeenCalledOnce();
    expect(second.load).toHaveBeenCalledOnce();
    expect(store.getState().model.phase).toBe('ready');
    expect(store.getState().messages).toHaveLength(2);
  });

  it('detects WebGPU by asking for an adapter', async () => {
    const store = storeWith(fakeConnection([]).connection);
    await store.getState().detectWebGpu(undefined);
    expect(store.getState().webgpu).toBe('unavailable');
    expect(store.getState().error).toBeNull();
    await store.getState().detectWebGpu({ requestAdapter: async () => null } as unknown as GPU);
    expect(store.getState().webgpu).toBe('unavailable');
    expect(store.getState().error).toMatchObject({ code: 'webgpu-unavailable', message: expect.stringContaining('no GPU adapter') });
    await store.getState().detectWebGpu({ requestAdapter: async () => ({}) } as unknown as GPU);
    expect(store.getState().webgpu).toBe('available');
  });
});

describe('chat store: KV settings', () => {
  it('applies a change live through the engine and takes the stats it answers with', async () => {
    const { connection, kvRequests } = fakeConnection([]);
    const store = storeWith(connection);
    await store.getState().loadModel();
    await store.getState().updateKvSettings({ keyBits: 2, valueBits: 2 });
    expect(kvRequests.at(-1)).toMatchObject({ keyBits: 2, valueBits: 2, groupSize: 32 });
    expect(store.getState().kvSettings).toMatchObject({ keyBits: 2, valueBits: 2 });
    expect(store.getState().model).toMatchObject({ stats: { kvBytesUsed: 1, kvSettings: { keyBits: 2 } } });
  });

  it('keeps the settings in effect and reports why when the engine refuses a change', async () => {
    const { connection } = fakeConnection([]);
    const store = storeWith(connection);
    await store.getState().loadModel();
    await store.getState().updateKvSettings({ groupSize: 128 });
    expect(store.getState().kvSettings.groupSize).toBe(32);
    expect(store.getState().kvError).toMatchObject({ code: 'invalid-settings', message: 'Group size too large.' });
    await store.getState().updateKvSettings({ groupSize: 64 });
    expect(store.getState().kvError).toBeNull();
  });

  it('does not change the cache while a reply is being generated', async () => {
    const { connection } = fakeConnection([]);
    const store = storeWith(connection);
    await store.getState().loadModel();
    store.setState({ generating: true });
    await store.getState().updateKvSettings({ keyBits: 2, valueBits: 2 });
    expect(connection.setKvSettings).not.toHaveBeenCalled();
  });
});

describe('chat store: conversations in IndexedDB', () => {
  it('saves a streaming reply before it ends, and a new store (a reload) finds everything', async () => {
    const fake = fakeConnection([chunk('Hel'), chunk('lo'), chunk(undefined, true)]);
    const repository = freshRepository();
    const store = storeWith(fake.connection, repository);
    await store.getState().loadModel();
    const savedMidStream: string[] = [];
    fake.gate = async () => {
      // The first chunk is saved at once; later ones at most every SAVE_INTERVAL_MS of the store's clock.
      const id = store.getState().activeId!;
      await writesCommitted(store);
      savedMidStream.push((await repository.loadMessages(id)).map((m) => m.content).join('|'));
    };
    await store.getState().send('Hi');
    expect(SAVE_INTERVAL_MS).toBeGreaterThan(100);
    expect(savedMidStream[0]).toBe('Hi|Hel');

    const reloaded = storeWith(fakeConnection([]).connection, repository);
    await reloaded.getState().init();
    expect(reloaded.getState().conversations.map((c) => c.title)).toEqual(['Hi']);
    expect(reloaded.getState().messages).toEqual(store.getState().messages);
    expect(reloaded.getState().messages[1]).toMatchObject({ content: 'Hello', finishReason: 'stop', usage: { completion_tokens: 2 } });
  });

  it('creates, renames, searches and deletes conversations; opening one restores its model URL and settings', async () => {
    const { connection } = fakeConnection([chunk('ok'), chunk(undefined, true)]);
    const repository = freshRepository();
    const store = storeWith(connection, repository);
    await store.getState().loadModel();
    store.getState().updateSettings({ temperature: 0 });
    await store.getState().send('Tell me about llamas');
    const llamas = store.getState().activeId!;

    store.getState().newConversation();
    expect(store.getState().messages).toEqual([]);
    store.getState().setModelUrl('http://localhost/other/');
    store.getState().updateSettings({ temperature: 1.5 });
    await store.getState().updateKvSettings({ keyBits: 2, valueBits: 2 });
    await store.getState().send('Qwen question');
    const qwen = store.getState().activeId!;
    expect(store.getState().conversations.map((c) => c.id)).toEqual([qwen, llamas]);

    await store.getState().openConversation(llamas);
    expect(store.getState().messages.map((m) => m.content)).toEqual(['Tell me about llamas', 'ok']);
    expect(store.getState().modelUrl).toBe(MODEL_URL);
    expect(store.getState().settings.temperature).toBe(0);
    expect(store.getState().kvSettings.keyBits).toBe(16);
    expect(connection.setKvSettings).toHaveBeenLastCalledWith(expect.objectContaining({ keyBits: 16 }));

    await store.getState().openConversation(qwen);
    expect(store.getState().modelUrl).toBe('http://localhost/other/');
    expect(store.getState().settings.temperature).toBe(1.5);
    expect(store.getState().kvSettings.keyBits).toBe(2);

    await store.getState().renameConversation(llamas, '  Llamas  ');
    await store.getState().search('LLAMA');
    expect(store.getState().searchHits).toEqual(new Set([llamas]));
    await store.getState().search('question');
    expect(store.getState().searchHits).toEqual(new Set([qwen]));
    await store.getState().search('');
    expect(store.getState().searchHits).toBeNull();

    await store.getState().deleteConversation(qwen);
    expect(store.getState().activeId).toBeNull();
    expect(store.getState().messages).toEqual([]);
    expect((await repository.listConversations()).map((c) => c.title)).toEqual(['Llamas']);
    expect(await repository.loadMessages(qwen)).toEqual([]);
  });
});
