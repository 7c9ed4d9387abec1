/// <reference types="node" />
// loadModel against the generated fixtures served from a local HTTP server.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { LoadProgress } from '../api';
import { ModelCorruptError, ModelFetchError, TokenizerMissingError, UnsupportedModelError } from '../errors';
import { loadModel, type LoadOptions } from './loader';
import { FIXTURE_NAMES, fixtureGenerator, startFileServer, type FixtureGenerator, type TestServer } from './testServer';
import type { TensorData } from './types';

let generator: FixtureGenerator;
let server: TestServer;
let root: string;

beforeAll(async () => {
  generator = await fixtureGenerator();
  root = mkdtempSync(join(tmpdir(), 'kvchat-loader-'));
  generator.writeFixtures(root);
  server = await startFileServer(root);
});

afterAll(async () => {
  await server.close();
  rmSync(root, { recursive: true, force: true });
});

beforeEach(() => {
  server.respond = () => undefined;
  server.requests.length = 0;
});

const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

function fixtureFile(fixture: string, file: string): Uint8Array {
  const bytes = generator.buildFixture(fixture).files.get(file);
  if (!bytes) throw new Error(`fixture ${fixture} has no ${file}`);
  return bytes;
}

function fixtureJson(fixture: string, file: string): Record<string, unknown> {
  return JSON.parse(new TextDecoder().decode(fixtureFile(fixture, file))) as Record<string, unknown>;
}

async function load(fixture: string, options: LoadOptions = {}) {
  const tensors: TensorData[] = [];
  const loaded = await loadModel(`${server.url}${fixture}/`, (t) => tensors.push(t), { cacheName: null, ...options });
  return { loaded, tensors };
}

/** The same call, settled to its error. */
async function loadError(fixture: string, options: LoadOptions = {}): Promise<unknown> {
  return load(fixture, options).then(
    () => new Error('the load succeeded'),
    (err: unknown) => err,
  );
}

const shardRequests = () => server.requests.filter((p) => p.endsWith('.bin'));

/** An in-memory Cache Storage holding one cache. */
class MemoryCache {
  readonly entries = new Map<string, Uint8Array>();
  quotaBytes = Infinity;

  async match(url: RequestInfo | URL): Promise<Response | undefined> {
    const bytes = this.entries.get(String(url));
    return bytes ? new Response(bytes.slice()) : undefined;
  }

  async put(url: RequestInfo | URL, response: Response): Promise<void> {
    const bytes = new Uint8Array(await response.arrayBuffer());
    const used = [...this.entries.values()].reduce((n, b) => n + b.byteLength, 0);
    if (used + bytes.byteLength > this.quotaBytes) throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
    this.entries.set(String(url), bytes);
  }

  async delete(url: RequestInfo | URL): Promise<boolean> {
    return this.entries.delete(String(url));
  }

  storage(): CacheStorage {
    return { open: async () => this } as unknown as CacheStorage;
  }
}

describe('loadModel', () => {
  it.each(FIXTURE_NAMES)('%s: hands out every tensor exactly as the generator made it', async (fixture) => {
    const { loaded, tensors } = await load(fixture);
    const expected = generator.buildFixture(fixture).tensors;
    expect(tensors.map((t) => t.name)).toEqual(expected.map((t) => t.name));
    tensors.forEach((t, i) => {
      expect({ name: t.name, dtype: t.dtype, shape: t.shape }).toEqual({ name: expected[i].name, dtype: expected[i].dtype, shape: expected[i].shape });
      expect(Buffer.from(t.bytes).equals(Buffer.from(expected[i].bytes)), `${t.name} bytes`).toBe(true);
    });
    expect(loaded.modelId).toBe(fixture);
    expect(loaded.baseUrl).toBe(`${server.url}${fixture}/`);
    expect(loaded.config.architecture).toBe(generator.FIXTURES[fixture].modelType);
    expect(loaded.config.quantization).toBe(generator.FIXTURES[fixture].quantization);
    expect(Buffer.from(loaded.tokenizerJson).equals(Buffer.from(fixtureFile(fixture, 'tokenizer.json')))).toBe(true);
    expect(loaded.weightBytes).toBe(expected.reduce((n, t) => n + t.bytes.byteLength, 0));
    expect(shardRequests().length).toBeGreaterThanOrEqual(2);
  });

  it('reports byte-level progress that only grows and ends at the total', async () => {
    const events: LoadProgress[] = [];
    await load('llama-q4f16', { onProgress: (p) => events.push(p) });
    const manifest = fixtureJson('llama-q4f16', 'tensor-cache.json') as { records: { nbytes: number }[] };
    const total = manifest.records.reduce((n, s) => n + s.nbytes, 0);
    expect(events.length).toBeGreaterThan(manifest.records.length);
    for (let i = 1; i < events.length; i++) expect(events[i].loadedBytes).toBeGreaterThanOrEqual(events[i - 1].loadedBytes);
    expect(events.every((e) => e.totalBytes === total && e.progress === e.loadedBytes / total)).toBe(true);
    expect(events.at(-1)).toMatchObject({ loadedBytes: total, progress: 1 });
    expect(events[0].text).toMatch(/^Fetching params_shard_0\.bin \(0\.\d\/0\.1 MB\)$/);
  });

  it('accepts a base URL without the trailing slash', async () => {
    const tensors: TensorData[] = [];
    const loaded = await loadModel(`${server.url}llama-q0f32`, (t) => tensors.push(t), { cacheName: null });
    expect(loaded.modelId).toBe('llama-q0f32');
    expect(loaded.baseUrl).toBe(`${server.url}llama-q0f32/`);
    expect(tensors.length).toBe(generator.buildFixture('llama-q0f32').tensors.length);
  });

  it('names the Hugging Face repository, not the revision, as the model id', async () => {
    const fetchFixture: typeof fetch = (input, init) => fetch(String(input).replace('/mlc-ai/llama-q0f32/resolve/main/', '/llama-q0f32/'), init);
    const loaded = await loadModel(`${server.url}mlc-ai/llama-q0f32/resolve/main/`, () => {}, { cacheName: null, fetch: fetchFixture });
    expect(loaded.modelId).toBe('llama-q0f32');
  });

  it('falls back to ndarray-cache.json when tensor-cache.json is absent', async () => {
    const manifest = fixtureFile('llama-q0f32', 'tensor-cache.json');
    server.respond = (path) => {
      if (path.endsWith('/tensor-cache.json')) return { status: 404 };
      if (path.endsWith('/ndarray-cache.json')) return manifest;
      return undefined;
    };
    const { tensors } = await load('llama-q0f32');
    expect(tensors.length).toBe(generator.buildFixture('llama-q0f32').tensors.length);
    expect(server.requests).toContain('/llama-q0f32/ndarray-cache.json');
  });

  it('reports a folder with neither manifest', async () => {
    server.respond = (path) => (path.endsWith('-cache.json') ? { status: 404 } : undefined);
    const error = await loadError('llama-q4f16');
    expect(error).toBeInstanceOf(ModelFetchError);
    expect((error as Error).message).toMatch(/neither tensor-cache\.json nor ndarray-cache\.json/);
  });

  it('reports a missing shard as a fetch error naming the file', async () => {
    server.respond = (path) => (path.endsWith('params_shard_1.bin') ? { status: 404 } : undefined);
    const error = await loadError('llama-q4f16');
    expect(error).toBeInstanceOf(ModelFetchError);
    expect((error as Error).message).toMatch(/params_shard_1\.bin: HTTP 404/);
  });

  it('treats an HTML page served for a model file (an SPA fallback) as a missing file', async () => {
    server.respond = (path) => (path.endsWith('mlc-chat-config.json') ? { html: '<!doctype html><title>app</title>' } : undefined);
    const error = await loadError('llama-q4f16');
    expect(error).toBeInstanceOf(ModelFetchError);
    expect((error as Error).message).toMatch(/mlc-chat-config\.json: the server answered with an HTML page/);
  });

  it('reports a truncated shard as corrupt', async () => {
    const shard = fixtureFile('llama-q4f16', 'params_shard_1.bin');
    server.respond = (path) => (path.endsWith('params_shard_1.bin') ? shard.subarray(0, shard.byteLength - 100) : undefined);
    const error = await loadError('llama-q4f16');
    expect(error).toBeInstanceOf(ModelCorruptError);
    expect((error as Error).message).toBe(`params_shard_1.bin is truncated: ${shard.byteLength - 100} of ${shard.byteLength} bytes arrived.`);
  });

  it('reports a shard longer than its manifest entry as corrupt', async () => {
    const shard = fixtureFile('llama-q4f16', 'params_shard_0.bin');
    const longer = new Uint8Array(shard.byteLength + 8);
    longer.set(shard);
    server.respond = (path) => (path.endsWith('params_shard_0.bin') ? longer : undefined);
    await expect(load('llama-q4f16')).rejects.toThrow(/params_shard_0\.bin is longer than/);
  });

  it.each(['mlc-chat-config.json', 'tensor-cache.json'])('reports malformed JSON in %s', async (file) => {
    server.respond = (path) => (path.endsWith(`/${file}`) ? new TextEncoder().encode('{"model_type": "lla') : undefined);
    const error = await loadError('llama-q4f16');
    expect(error).toBeInstanceOf(ModelCorruptError);
    expect((error as Error).message).toMatch(new RegExp(`^${file.replace('.', '\\.')} is not valid JSON`));
  });

  it('rejects an unsupported architecture before downloading any shard', async () => {
    const config = { ...fixtureJson('llama-q4f16', 'mlc-chat-config.json'), model_type: 'gpt2' };
    server.respond = (path) => (path.endsWith('mlc-chat-config.json') ? encode(config) : undefined);
    const error = await loadError('llama-q4f16');
    expect(error).toBeInstanceOf(UnsupportedModelError);
    expect((error as Error).message).toMatch(/"gpt2".*llama, qwen2/);
    expect(shardRequests()).toEqual([]);
  });

  it('rejects an unsupported quantization before downloading any shard', async () => {
    const config = { ...fixtureJson('llama-q4f16', 'mlc-chat-config.json'), quantization: 'q3f16_1' };
    server.respond = (path) => (path.endsWith('mlc-chat-config.json') ? encode(config) : undefined);
    const error = await loadError('llama-q4f16');
    expect(error).toBeInstanceOf(UnsupportedModelError);
    expect((error as Error).message).toMatch(/"q3f16_1".*q4f16_1/);
    expect(shardRequests()).toEqual([]);
  });

  it('reports a missing tokenizer.json with its own error', async () => {
    server.respond = (path) => (path.endsWith('tokenizer.json') ? { status: 404 } : undefined);
    const error = await loadError('llama-q4f16');
    expect(error).toBeInstanceOf(TokenizerMissingError);
    expect((error as Error).message).toMatch(/tokenizer\.json/);
  });

  it('rejects a manifest that lacks a tensor the architecture needs, before any shard', async () => {
    const manifest = fixtureJson('llama-q4f16', 'tensor-cache.json') as { records: { records: { name: string }[] }[] };
    manifest.records[0].records[1].name = 'model.embed_tokens.scales';
    server.respond = (path) => (path.endsWith('tensor-cache.json') ? encode(manifest) : undefined);
    const error = await loadError('llama-q4f16');
    expect(error).toBeInstanceOf(ModelCorruptError);
    expect((error as Error).message).toMatch(/no tensor model\.embed_tokens\.q_scale/);
    expect(shardRequests()).toEqual([]);
  });

  it('rejects a tensor whose shape disagrees with the config', async () => {
    const manifest = fixtureJson('llama-q0f32', 'tensor-cache.json') as { records: { records: { name: string; shape: number[] }[] }[] };
    const norm = manifest.records.flatMap((s) => s.records).find((r) => r.name === 'model.norm.weight')!;
    norm.shape = [32, 2];
    server.respond = (path) => (path.endsWith('tensor-cache.json') ? encode(manifest) : undefined);
    await expect(load('llama-q0f32')).rejects.toThrow(/Tensor model\.norm\.weight is float32 \[32, 2\]; the model config implies float32 \[64\]/);
  });

  it('turns a network failure into a fetch error', async () => {
    const offline: typeof fetch = () => Promise.reject(new TypeError('fetch failed'));
    const error = await loadError('llama-q4f16', { fetch: offline });
    expect(error).toBeInstanceOf(ModelFetchError);
    expect((error as Error).message).toMatch(/mlc-chat-config\.json: fetch failed/);
  });

  it('stops with an AbortError when aborted mid-download', async () => {
    const controller = new AbortController();
    const error = await loadError('llama-q4f16', { signal: controller.signal, onProgress: () => controller.abort() });
    expect(error).toBeInstanceOf(DOMException);
    expect((error as DOMException).name).toBe('AbortError');
    expect(shardRequests()).toEqual(['/llama-q4f16/params_shard_0.bin']);
  });

  it('stops with an AbortError when aborted before it starts', async () => {
    const controller = new AbortController();
    controller.abort();
    const error = await loadError('llama-q4f16', { signal: controller.signal });
    expect((error as DOMException).name).toBe('AbortError');
    expect(server.requests).toEqual([]);
  });
});

describe('loadModel with Cache Storage', () => {
  it('stores every file and serves a second load without the network', async () => {
    const cache = new MemoryCache();
    const first = await load('llama-q4f16', { cacheName: 'test', cacheStorage: cache.storage() });
    const files = [...generator.buildFixture('llama-q4f16').files.keys()].filter((f) => f !== 'ndarray-cache.json');
    expect([...cache.entries.keys()].sort()).toEqual(files.map((f) => `${server.url}llama-q4f16/${f}`).sort());

    server.requests.length = 0;
    const events: LoadProgress[] = [];
    const second = await load('llama-q4f16', { cacheName: 'test', cacheStorage: cache.storage(), onProgress: (p) => events.push(p) });
    expect(server.requests).toEqual([]);
    expect(second.tensors.map((t) => Buffer.from(t.bytes).toString('hex'))).toEqual(first.tensors.map((t) => Buffer.from(t.bytes).toString('hex')));
    expect(events[0].text).toMatch(/^Loading params_shard_0\.bin from cache/);
    expect(events.at(-1)?.progress).toBe(1);
  });

  it('replaces a cached shard of the wrong size with a fresh download', async () => {
    const cache = new MemoryCache();
    await load('llama-q4f16', { cacheName: 'test', cacheStorage: cache.storage() });
    const url = `${server.url}llama-q4f16/params_shard_2.bin`;
    cache.entries.set(url, cache.entries.get(url)!.subarray(0, 1000));

    server.requests.length = 0;
    const { tensors } = await load('llama-q4f16', { cacheName: 'test', cacheStorage: cache.storage() });
    expect(server.requests).toEqual(['/llama-q4f16/params_shard_2.bin']);
    expect(cache.entries.get(url)?.byteLength).toBe(fixtureFile('llama-q4f16', 'params_shard_2.bin').byteLength);
    expect(tensors.length).toBe(generator.buildFixture('llama-q4f16').tensors.length);
  });

  it('keeps loading without the cache when storage is full, and says so', async () => {
    const cache = new MemoryCache();
    cache.quotaBytes = 40_000;
    const events: LoadProgress[] = [];
    const { tensors } = await load('llama-q4f16', { cacheName: 'test', cacheStorage: cache.storage(), onProgress: (p) => events.push(p) });
    expect(tensors.length).toBe(generator.buildFixture('llama-q4f16').tensors.length);
    expect(events.filter((e) => /Browser storage is full/.test(e.text))).toHaveLength(1);
    expect(events.at(-1)?.progress).toBe(1);
  });

  it('drops what the cache served when the model turns out corrupt', async () => {
    const cache = new MemoryCache();
    const configUrl = `${server.url}llama-q4f16/mlc-chat-config.json`;
    cache.entries.set(configUrl, new TextEncoder().encode('not json'));
    await expect(load('llama-q4f16', { cacheName: 'test', cacheStorage: cache.storage() })).rejects.toBeInstanceOf(ModelCorruptError);
    expect(cache.entries.has(configUrl)).toBe(false);
  });

  it('loads uncached when Cache Storage refuses to open', async () => {
    const refusing = { open: () => Promise.reject(new DOMException('denied', 'SecurityError')) } as unknown as CacheStorage;
    const { tensors } = await load('llama-q0f32', { cacheName: 'test', cacheStorage: refusing });
    expect(tensors.length).toBe(generator.buildFixture('llama-q0f32').tensors.length);
  });
});
