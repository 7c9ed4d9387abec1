// Hosts one engine in a Web Worker, so prefill and decode never block the page. Loads run one after
// another; a new load replaces (unloads) the engine before fetching the next model.
import type { ChatCompletionChunk, ChatCompletionRequest, Engine, KvSettings } from '../engine/api';
import { createEngine } from '../engine/engine';
import { KvchatError } from '../engine/errors';
import { internalError, loadCancelledError, noModelError, type WorkerError, type WorkerEvent, type WorkerRequest } from './protocol';

declare const self: DedicatedWorkerGlobalScope;

let engine: Engine | null = null;
/** Aborts the load in progress, if any. */
let loadAbort: AbortController | null = null;
/** Chains loads and unloads so a second load never races the first for the GPU. */
let lifecycle: Promise<void> = Promise.resolve();

/** Thrown for requests that need a model before one is loaded. */
class NoModelLoaded extends Error {}

function post(event: WorkerEvent): void {
  self.postMessage(event);
}

function serialize(err: unknown): WorkerError {
  if (err instanceof KvchatError) return err.toJSON();
  if (err instanceof DOMException && err.name === 'AbortError') return loadCancelledError;
  if (err instanceof NoModelLoaded) return noModelError;
  console.error(err);
  return internalError(err instanceof Error ? err.message : String(err));
}

function loadedEngine(): Engine {
  if (!engine) throw new NoModelLoaded();
  return engine;
}

async function load(requestId: number, baseUrl: string, contextLength?: number, kv?: Partial<KvSettings>): Promise<void> {
  await unload();
  loadAbort = new AbortController();
  try {
    engine = await createEngine(baseUrl, {
      contextLength,
      kv,
      signal: loadAbort.signal,
      onProgress: (progress) => post({ type: 'progress', requestId, progress }),
    });
  } finally {
    loadAbort = null;
  }
  post({ type: 'loaded', requestId, modelId: engine.modelId, stats: engine.stats() });
}

async function unload(): Promise<void> {
  const current = engine;
  engine = null;
  await current?.unload();
}

async function generate(requestId: number, request: ChatCompletionRequest): Promise<void> {
  let last: ChatCompletionChunk | undefined;
  for await (const chunk of loadedEngine().chat.completions.create({ ...request, stream: true })) {
    post({ type: 'chunk', requestId, chunk });
    last = chunk;
  }
  const finishReason = last?.choices[0]?.finish_reason;
  if (!last?.usage || !finishReason) throw new Error('the reply stream ended without a finish reason and usage');
  post({ type: 'done', requestId, usage: last.usage, finishReason });
}

// A failure outside any request (e.g. a GPU callback) still reaches the page, which fails whatever
// is in flight rather than waiting forever.
self.onunhandledrejection = (event) => {
  event.preventDefault();
  post({ type: 'error', error: serialize(event.reason) });
};

self.onmessage = (event: MessageEvent<WorkerRequest>) => {
  const message = event.data;
  const fail = (err: unknown) =>
    post({ type: 'error', requestId: 'requestId' in message ? message.requestId : undefined, error: serialize(err) });
  switch (message.type) {
    case 'load':
      lifecycle = lifecycle.then(() => load(message.requestId, message.baseUrl, message.contextLength, message.kv)).catch(fail);
      break;
    case 'unload':
      lifecycle = lifecycle.then(unload).then(() => post({ type: 'unloaded', requestId: message.requestId })).catch(fail);
      break;
    case 'generate':
      generate(message.requestId, message.request).catch(fail);
      break;
    case 'cancelLoad':
      loadAbort?.abort();
      break;
    case 'interrupt':
      engine?.interruptGenerate();
      break;
    case 'stats':
      try {
        post({ type: 'stats', requestId: message.requestId, stats: loadedEngine().stats() });
      } catch (err) {
        fail(err);
      }
      break;
    case 'setKvSettings':
      try {
        const settings = loadedEngine().setKvSettings(message.settings);
        post({ type: 'kvSettings', requestId: message.requestId, settings, stats: loadedEngine().stats() });
      } catch (err) {
        fail(err);
      }
      break;
  }
};
