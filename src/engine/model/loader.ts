// Loads an MLC model folder over HTTP: mlc-chat-config.json, tokenizer.json, tensor-cache.json
// (or the older ndarray-cache.json), then every params_shard_*.bin with byte-level progress,
// through Cache Storage so that a second load works offline.
import { MODEL_CACHE_NAME } from './cacheName';
import type { LoadProgress } from '../api';
import { ModelCorruptError, ModelFetchError, QuotaExceededError, TokenizerMissingError } from '../errors';
import { parseModelConfig } from './config';
import { isGroupQuantized, linearTensorNames, modelSpec, GROUP_SIZE, type LinearSpec } from './layout';
import { parseTensorCache, tensorsOfShard, type ShardRecord, type TensorCache, type TensorRecord } from './tensorCache';
import type { DType, ModelConfig, TensorData } from './types';

export interface LoadOptions {
  onProgress?: (p: LoadProgress) => void;
  signal?: AbortSignal;
  /** Cache Storage bucket for the model's files; null disables caching. Default 'kvchat-models'. */
  cacheName?: string | null;
  fetch?: typeof fetch;
  /** Defaults to globalThis.caches; caching is skipped where there is none (Node, insecure origins). */
  cacheStorage?: CacheStorage;
}

export interface LoadedModel {
  modelId: string;
  /** The base URL, ending in '/'. */
  baseUrl: string;
  config: ModelConfig;
  tokenizerJson: Uint8Array;
  /** Bytes of all tensors handed to onTensor (float32 tensors counted at 4 bytes per element). */
  weightBytes: number;
}

const DEFAULT_CACHE_NAME = MODEL_CACHE_NAME;
const MANIFEST_NAMES = ['tensor-cache.json', 'ndarray-cache.json'];
const MB = 1e6;

/** Fetches config, tokenizer and manifest, then every shard (byte-level progress, Cache Storage), verifies sizes,
 *  checks every tensor the architecture needs is present with the expected shape and dtype, and hands each tensor
 *  to onTensor as its shard arrives (so shard memory can be freed). */
export async function loadModel(baseUrl: string, onTensor: (t: TensorData) => void, options: LoadOptions = {}): Promise<LoadedModel> {
  const base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  const files = new ModelFiles(base, options);
  await files.openCache();
  try {
    return await loadFiles(files, onTensor, options);
  } catch (err) {
    // The error's hint promises a fresh download next time: drop what the cache served.
    if (err instanceof ModelCorruptError) await files.discardCachedCopies();
    throw err;
  }
}

async function loadFiles(files: ModelFiles, onTensor: (t: TensorData) => void, options: LoadOptions): Promise<LoadedModel> {
  const { base } = files;

  const config = parseModelConfig(parseJson(await files.get('mlc-chat-config.json'), 'mlc-chat-config.json'));
  const tokenizerJson = await files.get('tokenizer.json').catch((err: unknown) => {
    if (err instanceof ModelFetchError) throw new TokenizerMissingError(`${base}tokenizer.json`, err.message);
    throw err;
  });
  const manifest = await fetchManifest(files);
  checkArchitectureTensors(config, manifest);

  const totalBytes = manifest.records.reduce((n, shard) => n + shard.nbytes, 0);
  const progress = new ProgressReporter(totalBytes, options.onProgress);
  files.onNotice = (text) => progress.notice(text);
  let weightBytes = 0;
  for (const shard of manifest.records) {
    const bytes = await files.getShard(shard, progress);
    for (const tensor of tensorsOfShard(bytes, shard)) {
      weightBytes += tensor.bytes.byteLength;
      onTensor(tensor);
    }
  }
  progress.done(`Loaded ${manifest.records.length} weight shards (${(totalBytes / MB).toFixed(1)} MB)`);
  return { modelId: modelIdOf(base), baseUrl: base, config, tokenizerJson, weightBytes };
}

/** The model folder's name; for Hugging Face URLs (.../<repo>/resolve/<revision>/) the repo's. */
function modelIdOf(base: string): string {
  const segments = base.split(/[?#]/)[0].split('/').filter(Boolean);
  const resolveAt = segments.lastIndexOf('resolve');
  const id = resolveAt > 0 && resolveAt === segments.length - 2 ? segments[resolveAt - 1] : segments[segments.length - 1];
  return decodeURIComponent(id ?? base);
}

function parseJson(bytes: Uint8Array, file: string): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    throw new ModelCorruptError(`${file} is not valid JSON (${(err as Error).message}).`);
  }
}

async function fetchManifest(files: ModelFiles): Promise<TensorCache> {
  for (const name of MANIFEST_NAMES) {
    const bytes = await files.get(name, { optional: true });
    if (bytes) return parseTensorCache(parseJson(bytes, name), name);
  }
  throw new ModelFetchError(`${files.base}${MANIFEST_NAMES[0]}`, `the model folder has neither ${MANIFEST_NAMES.join(' nor ')}`);
}

/** Every tensor the architecture reads must be in the manifest with the shape and dtype the
 *  kernels expect; checked before any shard is downloaded. */
function checkArchitectureTensors(cfg: ModelConfig, manifest: TensorCache): void {
  const byName = new Map<string, TensorRecord>();
  for (const shard of manifest.records) for (const rec of shard.records) byName.set(rec.name, rec);
  for (const { name, shape, dtype } of expectedTensors(cfg)) {
    const rec = byName.get(name);
    if (!rec) throw new ModelCorruptError(`The manifest has no tensor ${name}, which a ${cfg.architecture} ${cfg.quantization} model needs.`);
    if (rec.dtype !== dtype || rec.shape.join() !== shape.join()) {
      throw new ModelCorruptError(`Tensor ${name} is ${rec.dtype} [${rec.shape.join(', ')}]; the model config implies ${dtype} [${shape.join(', ')}].`);
    }
  }
}

function expectedTensors(cfg: ModelConfig): { name: string; shape: number[]; dtype: DType }[] {
  const floatType: DType = cfg.quantization === 'q4f16_1' || cfg.quantization === 'q0f16' ? 'float16' : 'float32';
  const spec = modelSpec(cfg);
  const linear = (l: LinearSpec) => {
    const names = linearTensorNames(l, cfg.quantization);
    const weights = isGroupQuantized(cfg.quantization)
      ? [
          { name: names.weight, shape: [l.outDim, l.inDim / 8], dtype: 'uint32' as DType },
          { name: names.scale!, shape: [l.outDim, l.inDim / GROUP_SIZE], dtype: floatType },
        ]
      : [{ name: names.weight, shape: [l.outDim, l.inDim], dtype: floatType }];
    return l.bias ? [...weights, { name: l.bias, shape: [l.outDim], dtype: floatType }] : weights;
  };
  const norm = (name: string) => ({ name, shape: [cfg.hiddenSize], dtype: floatType });
  return [
    ...linear(spec.embed),
    ...spec.layers.flatMap((layer) => [
      norm(layer.inputNorm), ...linear(layer.qkv), ...linear(layer.o), norm(layer.postNorm), ...linear(layer.gateUp), ...linear(layer.down),
    ]),
    norm(spec.finalNorm),
    ...(cfg.tieWordEmbeddings ? [] : linear(spec.lmHead)),
  ];
}

/** Progress over all shard bytes: monotonic, ends at exactly totalBytes. */
class ProgressReporter {
  private loaded = 0;
  private lastText = '';

  constructor(
    private readonly totalBytes: number,
    private readonly onProgress: ((p: LoadProgress) => void) | undefined,
  ) {}

  add(bytes: number, text: (loadedMb: string, totalMb: string) => string): void {
    this.loaded = Math.min(this.totalBytes, this.loaded + bytes);
    this.emit(text((this.loaded / MB).toFixed(1), (this.totalBytes / MB).toFixed(1)));
  }

  /** A message at the current position (e.g. "storage is full"). */
  notice(text: string): void {
    this.emit(`${this.lastText} — ${text}`);
  }

  done(text: string): void {
    this.loaded = this.totalBytes;
    this.emit(text);
  }

  private emit(text: string): void {
    this.lastText = text;
    const progress = this.totalBytes === 0 ? 1 : this.loaded / this.totalBytes;
    this.onProgress?.({ progress, loadedBytes: this.loaded, totalBytes: this.totalBytes, text });
  }
}

/** The model folder's files, served from Cache Storage when present and stored there after a
 *  verified download. */
class ModelFiles {
  private cache: Cache | null = null;
  /** URLs this load read from the cache. */
  private readonly servedFromCache: string[] = [];
  private readonly fetchFn: typeof fetch;
  onNotice: (text: string) => void = () => {};

  constructor(
    readonly base: string,
    private readonly options: LoadOptions,
  ) {
    this.fetchFn = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  async openCache(): Promise<void> {
    const storage = this.options.cacheStorage ?? globalThis.caches;
    const name = this.options.cacheName === undefined ? DEFAULT_CACHE_NAME : this.options.cacheName;
    if (!storage || name === null) return;
    // Cache Storage refuses to open in some contexts (opaque origins, private modes): load uncached.
    this.cache = await storage.open(name).catch(() => null);
  }

  /** A small file (config, tokenizer, manifest); with `optional`, null when the server has none. */
  get(file: string, opts: { optional: true }): Promise<Uint8Array | null>;
  get(file: string): Promise<Uint8Array>;
  async get(file: string, opts: { optional?: boolean } = {}): Promise<Uint8Array | null> {
    const url = this.base + file;
    const cached = await this.fromCache(url);
    if (cached) return cached;
    const response = await this.request(url, opts.optional ?? false);
    if (!response) return null;
    const bytes = new Uint8Array(await this.guard(url, response.arrayBuffer()));
    await this.store(url, bytes);
    return bytes;
  }

  async getShard(shard: ShardRecord, progress: ProgressReporter): Promise<Uint8Array> {
    const url = this.base + shard.dataPath;
    const cached = await this.fromCache(url);
    if (cached && cached.byteLength === shard.nbytes) {
      progress.add(cached.byteLength, (l, t) => `Loading ${shard.dataPath} from cache (${l}/${t} MB)`);
      return cached;
    }
    if (cached) await this.cache?.delete(url);

    const response = (await this.request(url, false))!;
    const bytes = new Uint8Array(shard.nbytes);
    let received = 0;
    const reader = response.body?.getReader();
    if (!reader) throw new ModelFetchError(url, 'the response has no body');
    for (;;) {
      if (this.options.signal?.aborted) {
        // Some fetch implementations leave a pending read() unsettled after an abort: stop here.
        reader.cancel().catch(() => {});
        this.throwIfAborted();
      }
      const { done, value } = await this.guard(url, reader.read());
      if (done) break;
      if (received + value.byteLength > shard.nbytes) {
        await reader.cancel();
        throw new ModelCorruptError(`${shard.dataPath} is longer than the ${shard.nbytes} bytes the manifest gives it.`);
      }
      bytes.set(value, received);
      received += value.byteLength;
      progress.add(value.byteLength, (l, t) => `Fetching ${shard.dataPath} (${l}/${t} MB)`);
    }
    if (received !== shard.nbytes) {
      throw new ModelCorruptError(`${shard.dataPath} is truncated: ${received} of ${shard.nbytes} bytes arrived.`);
    }
    await this.store(url, bytes);
    return bytes;
  }

  async discardCachedCopies(): Promise<void> {
    await Promise.all(this.servedFromCache.map((url) => this.cache?.delete(url)));
  }

  private async fromCache(url: string): Promise<Uint8Array | null> {
    this.throwIfAborted();
    if (!this.cache) return null;
    const hit = await this.cache.match(url);
    if (!hit) return null;
    this.servedFromCache.push(url);
    return new Uint8Array(await hit.arrayBuffer());
  }

  private async store(url: string, bytes: Uint8Array): Promise<void> {
    if (!this.cache) return;
    try {
      await this.cache.put(url, new Response(bytes as Uint8Array<ArrayBuffer>));
    } catch (err) {
      if ((err as { name?: string }).name !== 'QuotaExceededError') throw err;
      // Keep loading from the network; the model still runs, it just is not kept for offline use.
      this.cache = null;
      const full = new QuotaExceededError(`Browser storage is full; ${url.slice(this.base.length)} and the rest of the model are not cached.`);
      this.onNotice(`${full.message} ${full.hint}`);
    }
  }

  /** A successful response, null for a 404 of an optional file; typed errors otherwise. */
  private async request(url: string, optional: boolean): Promise<Response | null> {
    const response = await this.guard(url, this.fetchFn(url, { signal: this.options.signal }));
    // Single-page-app hosts answer a missing file with their index.html and status 200; no model
    // file is HTML, so that is a missing file too.
    const htmlFallback = response.ok && (response.headers.get('content-type') ?? '').includes('text/html');
    if (response.ok && !htmlFallback) return response;
    await response.body?.cancel();
    if (optional && (response.status === 404 || htmlFallback)) return null;
    const status = htmlFallback ? 'the server answered with an HTML page, so the file is not there' : `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`;
    throw new ModelFetchError(url, status);
  }

  /** Network failures become ModelFetchError; an abort becomes a DOMException AbortError. */
  private async guard<T>(url: string, pending: Promise<T>): Promise<T> {
    try {
      return await pending;
    } catch (err) {
      this.throwIfAborted();
      throw new ModelFetchError(url, err instanceof Error ? err.message : String(err));
    }
  }

  private throwIfAborted(): void {
    const signal = this.options.signal;
    if (!signal?.aborted) return;
    throw signal.reason instanceof DOMException && signal.reason.name === 'AbortError' ? signal.reason : new DOMException('Model loading was aborted.', 'AbortError');
  }
}
