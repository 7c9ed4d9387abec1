// What the engine's loader has kept in Cache Storage for offline use, read from the page: one entry
// per model folder, with its size and whether every file a load needs is there.
import { MODEL_CACHE_NAME } from '../engine/model/cacheName';
import { parseTensorCache } from '../engine/model/tensorCache';

export { MODEL_CACHE_NAME };

const CONFIG_FILE = 'mlc-chat-config.json';
const TOKENIZER_FILE = 'tokenizer.json';
const MANIFEST_FILES = ['tensor-cache.json', 'ndarray-cache.json'];

export interface CachedModel {
  /** The model folder's URL, ending in '/': what the loader was given. */
  baseUrl: string;
  files: number;
  /** Bytes of all cached files of the folder. */
  bytes: number;
  /** Config, tokenizer, manifest and every shard the manifest lists are cached, so the model
   *  loads with the network off; false after an interrupted download. */
  complete: boolean;
}

/** The folder part of a file URL, ending in '/'. */
function folderOf(url: string): string {
  return url.slice(0, url.lastIndexOf('/') + 1);
}

/** Cached file URLs grouped by model folder. A folder is one that holds an mlc-chat-config.json;
 *  a file belongs to the deepest such folder above it, or to its own folder if there is none. */
function groupByModel(urls: string[]): Map<string, string[]> {
  const bases = urls.filter((url) => url.endsWith(`/${CONFIG_FILE}`)).map(folderOf).sort((a, b) => b.length - a.length);
  const groups = new Map<string, string[]>();
  for (const url of urls) {
    const base = bases.find((candidate) => url.startsWith(candidate)) ?? folderOf(url);
    groups.set(base, [...(groups.get(base) ?? []), url]);
  }
  return groups;
}

async function responseBytes(response: Response): Promise<number> {
  const length = Number(response.headers.get('content-length'));
  // The loader stores bare Responses without a Content-Length; a cached body's Blob is backed by
  // the cache on disk, so taking its size does not read the file.
  return length > 0 ? length : (await response.blob()).size;
}

async function isComplete(cache: Cache, base: string, files: Set<string>): Promise<boolean> {
  if (!files.has(base + CONFIG_FILE) || !files.has(base + TOKENIZER_FILE)) return false;
  const manifestUrl = MANIFEST_FILES.map((name) => base + name).find((url) => files.has(url));
  const manifest = manifestUrl && (await cache.match(manifestUrl));
  if (!manifest) return false;
  try {
    return parseTensorCache(await manifest.json()).records.every((shard) => files.has(base + shard.dataPath));
  } catch {
    // A manifest the loader cannot parse does not make a loadable model either.
    return false;
  }
}

/** The models in the cache, sorted by URL. */
export async function listCachedModels(storage: CacheStorage): Promise<CachedModel[]> {
  if (!(await storage.has(MODEL_CACHE_NAME))) return [];
  const cache = await storage.open(MODEL_CACHE_NAME);
  const urls = (await cache.keys()).map((request) => request.url);
  const models: CachedModel[] = [];
  for (const [baseUrl, files] of groupByModel(urls)) {
    let bytes = 0;
    for (const url of files) {
      const response = await cache.match(url);
      if (response) bytes += await responseBytes(response);
    }
    models.push({ baseUrl, files: files.length, bytes, complete: await isComplete(cache, baseUrl, new Set(files)) });
  }
  return models.sort((a, b) => a.baseUrl.localeCompare(b.baseUrl));
}

/** Deletes every cached file of the model at `baseUrl` (and nothing of a model nested below it). */
export async function deleteCachedModel(storage: CacheStorage, baseUrl: string): Promise<void> {
  if (!(await storage.has(MODEL_CACHE_NAME))) return;
  const cache = await storage.open(MODEL_CACHE_NAME);
  const urls = (await cache.keys()).map((request) => request.url);
  const files = groupByModel(urls).get(baseUrl) ?? [];
  await Promise.all(files.map((url) => cache.delete(url)));
}
