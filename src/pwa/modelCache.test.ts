import { describe, expect, it } from 'vitest';
import { createStore } from 'zustand/vanilla';
import { deleteCachedModel, listCachedModels, MODEL_CACHE_NAME } from './modelCache';
import { offlineModelsState } from './offline';

/** Cache Storage in memory, enough of it for the code under test (Node has none). */
class MemoryCache {
  readonly entries = new Map<string, Response>();
  async keys(): Promise<Request[]> {
    return [...this.entries.keys()].map((url) => new Request(url));
  }
  async match(url: string): Promise<Response | undefined> {
    return this.entries.get(url)?.clone();
  }
  async put(url: string, response: Response): Promise<void> {
    this.entries.set(url, response);
  }
  async delete(url: string): Promise<boolean> {
    return this.entries.delete(url);
  }
}

class MemoryCacheStorage {
  readonly caches = new Map<string, MemoryCache>();
  async has(name: string): Promise<boolean> {
    return this.caches.has(name);
  }
  async open(name: string): Promise<MemoryCache> {
    if (!this.caches.has(name)) this.caches.set(name, new MemoryCache());
    return this.caches.get(name)!;
  }
}

/** A tensor-cache.json with one float32 tensor of `floats` elements per shard. */
function manifest(shards: { dataPath: string; floats: number }[]): string {
  return JSON.stringify({
    metadata: {},
    records: shards.map(({ dataPath, floats }, i) => ({
      dataPath, format: 'raw-shard', nbytes: floats * 4,
      records: [{ name: `t${i}`, shape: [floats], dtype: 'float32', format: 'raw', nbytes: floats * 4, byteOffset: 0 }],
    })),
  });
}

/** Stores a model's files the way the loader does: bare Responses, no headers. */
async function storeModel(storage: MemoryCacheStorage, base: string, files: Record<string, string | Uint8Array<ArrayBuffer>>) {
  const cache = await storage.open(MODEL_CACHE_NAME);
  for (const [name, body] of Object.entries(files)) await cache.put(base + name, new Response(body));
}

const SHARDS = [{ dataPath: 'params_shard_0.bin', floats: 100 }, { dataPath: 'params_shard_1.bin', floats: 50 }];
const LLAMA = 'http://localhost:4173/fixtures/llama-q4f16/';
const QWEN = 'https://huggingface.co/mlc-ai/Qwen2.5-0.5B-Instruct-q4f16_1-MLC/resolve/main/';

async function storeCompleteModel(storage: MemoryCacheStorage, base: string) {
  await storeModel(storage, base, {
    'mlc-chat-config.json': '{"model_type":"llama"}',
    'tokenizer.json': '{"model":{}}',
    'tensor-cache.json': manifest(SHARDS),
    'params_shard_0.bin': new Uint8Array(400),
    'params_shard_1.bin': new Uint8Array(200),
  });
}

const textBytes = (...texts: string[]) => texts.reduce((n, text) => n + new TextEncoder().encode(text).byteLength, 0);

describe('cached models', () => {
  it('lists nothing before the loader has created its cache', async () => {
    const storage = new MemoryCacheStorage();
    expect(await listCachedModels(storage as unknown as CacheStorage)).toEqual([]);
    expect(storage.caches.size).toBe(0);
  });

  it('groups cached files by model folder and sums their sizes', async () => {
    const storage = new MemoryCacheStorage();
    await storeCompleteModel(storage, LLAMA);
    await storeCompleteModel(storage, QWEN);
    const models = await listCachedModels(storage as unknown as CacheStorage);
    const bytes = textBytes('{"model_type":"llama"}', '{"model":{}}', manifest(SHARDS)) + 600;
    expect(models).toEqual([
      { baseUrl: LLAMA, files: 5, bytes, complete: true },
      { baseUrl: QWEN, files: 5, bytes, complete: true },
    ]);
  });

  it('takes a stored Content-Length over reading the body', async () => {
    const storage = new MemoryCacheStorage();
    const cache = await storage.open(MODEL_CACHE_NAME);
    await cache.put(`${LLAMA}mlc-chat-config.json`, new Response('{}', { headers: { 'content-length': '2048' } }));
    const [model] = await listCachedModels(storage as unknown as CacheStorage);
    expect(model?.bytes).toBe(2048);
  });

  it('marks a model whose download stopped part way as incomplete', async () => {
    const storage = new MemoryCacheStorage();
    await storeModel(storage, LLAMA, {
      'mlc-chat-config.json': '{}', 'tokenizer.json': '{}', 'tensor-cache.json': manifest(SHARDS), 'params_shard_0.bin': new Uint8Array(400),
    });
    await storeModel(storage, QWEN, { 'mlc-chat-config.json': '{}' });
    const models = await listCachedModels(storage as unknown as CacheStorage);
    expect(models.map((m) => [m.baseUrl, m.files, m.complete])).toEqual([[LLAMA, 4, false], [QWEN, 1, false]]);
  });

  it('accepts the older ndarray-cache.json manifest, and rejects one that does not parse', async () => {
    const storage = new MemoryCacheStorage();
    await storeModel(storage, LLAMA, {
      'mlc-chat-config.json': '{}', 'tokenizer.json': '{}', 'ndarray-cache.json': manifest(SHARDS),
      'params_shard_0.bin': new Uint8Array(400), 'params_shard_1.bin': new Uint8Array(200),
    });
    await storeModel(storage, QWEN, { 'mlc-chat-config.json': '{}', 'tokenizer.json': '{}', 'tensor-cache.json': '{"records": 3}' });
    const models = await listCachedModels(storage as unknown as CacheStorage);
    expect(models.map((m) => m.complete)).toEqual([true, false]);
  });

  it('deletes one model and leaves the others, including a model in a folder below it', async () => {
    const storage = new MemoryCacheStorage();
    const nested = `${LLAMA}variant/`;
    await storeCompleteModel(storage, LLAMA);
    await storeCompleteModel(storage, nested);
    await storeCompleteModel(storage, QWEN);
    await deleteCachedModel(storage as unknown as CacheStorage, LLAMA);
    const models = await listCachedModels(storage as unknown as CacheStorage);
    expect(models.map((m) => [m.baseUrl, m.files])).toEqual([[nested, 5], [QWEN, 5]]);
  });
});

describe('offline models store', () => {
  it('refreshes the cached models and the storage estimate, and deletes a model on request', async () => {
    const storage = new MemoryCacheStorage();
    await storeCompleteModel(storage, LLAMA);
    await storeCompleteModel(storage, QWEN);
    const store = createStore(offlineModelsState({
      caches: () => storage as unknown as CacheStorage,
      storage: () => ({ estimate: async () => ({ usage: 5000, quota: 1e9 }) }),
    }));
    await store.getState().refresh();
    expect(store.getState().models.map((m) => m.baseUrl)).toEqual([LLAMA, QWEN]);
    expect(store.getState().storage).toEqual({ usage: 5000, quota: 1e9 });
    await store.getState().remove(LLAMA);
    expect(store.getState().models.map((m) => m.baseUrl)).toEqual([QWEN]);
  });

  it('shows no models and no estimate where the browser has neither Cache Storage nor an estimate', async () => {
    const store = createStore(offlineModelsState({
      caches: () => undefined,
      storage: () => ({ estimate: async () => { throw new TypeError('not allowed'); } }),
    }));
    await store.getState().refresh();
    expect(store.getState()).toMatchObject({ models: [], storage: null });
  });
});
