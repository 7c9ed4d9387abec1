// The page's handle on the engine worker: promises for load/stats/unload and an async iterable for
// a streamed reply, mirroring the engine's own API so the UI reads as if it held the engine.
import type { ChatCompletionChunk, ChatCompletionRequest, EngineStats, KvSettings, LoadProgress } from '../engine/api';
import { internalError, type WorkerError, type WorkerEvent, type WorkerRequest } from './protocol';

export interface LoadedModel {
  modelId: string;
  stats: EngineStats;
}

export interface LoadOptions {
  contextLength?: number;
  /** KV settings to load with (the engine's defaults otherwise). */
  kv?: Partial<KvSettings>;
  onProgress?: (progress: LoadProgress) => void;
}

/** What the chat store needs from an engine; EngineClient is the real one, tests pass fakes. */
export interface EngineConnection {
  load(baseUrl: string, options?: LoadOptions): Promise<LoadedModel>;
  /** Yields every chunk of the reply, the last one carrying finish_reason and usage. */
  generate(request: ChatCompletionRequest): AsyncIterable<ChatCompletionChunk>;
  interrupt(): void;
  /** Aborts the load in progress (it fails with code 'load-cancelled'). */
  cancelLoad(): void;
  stats(): Promise<EngineStats>;
  /** Applies KV settings between replies (fails with code 'invalid-settings' or 'engine-busy'). */
  setKvSettings(settings: Partial<KvSettings>): Promise<{ settings: KvSettings; stats: EngineStats }>;
  unload(): Promise<void>;
  /** Ends the worker at once (its GPU memory goes with it); requests in flight fail. */
  terminate(): void;
}

/** A failure reported by the worker, with the user-facing message and hint. */
export class EngineFailure extends Error {
  constructor(readonly error: WorkerError) {
    super(error.message);
    this.name = 'EngineFailure';
  }
}

type Listener = (event: WorkerEvent) => void;

export class EngineClient implements EngineConnection {
  private readonly worker = new Worker(new URL('./engine.worker.ts', import.meta.url), { type: 'module' });
  /** One listener per request in flight, keyed by requestId. */
  private readonly listeners = new Map<number, Listener>();
  private nextRequestId = 1;

  constructor() {
    this.worker.onmessage = (event: MessageEvent<WorkerEvent>) => {
      const message = event.data;
      if (message.requestId !== undefined) this.listeners.get(message.requestId)?.(message);
      else if (message.type === 'error') this.failAll(message.error);
    };
    this.worker.onerror = (event) => {
      event.preventDefault();
      this.failAll(internalError(`the engine worker failed: ${event.message || 'it could not start'}`));
    };
  }

  load(baseUrl: string, { contextLength, kv, onProgress }: LoadOptions = {}): Promise<LoadedModel> {
    return this.call(
      (requestId) => ({ type: 'load', requestId, baseUrl, contextLength, kv }),
      (event) => {
        if (event.type === 'progress') onProgress?.(event.progress);
        return event.type === 'loaded' ? { modelId: event.modelId, stats: event.stats } : undefined;
      },
    );
  }

  async *generate(request: ChatCompletionRequest): AsyncGenerator<ChatCompletionChunk> {
    const requestId = this.nextRequestId++;
    const inbox: WorkerEvent[] = [];
    let wake: (() => void) | undefined;
    let finished = false;
    this.listeners.set(requestId, (event) => {
      inbox.push(event);
      wake?.();
      wake = undefined;
    });
    this.post({ type: 'generate', requestId, request });
    try {
      for (;;) {
        const event = inbox.shift();
        if (!event) {
          await new Promise<void>((resolve) => (wake = resolve));
          continue;
        }
        if (event.type === 'chunk') yield event.chunk;
        else if (event.type === 'done') break;
        else if (event.type === 'error') throw new EngineFailure(event.error);
      }
      finished = true;
    } catch (err) {
      finished = true;
      throw err;
    } finally {
      this.listeners.delete(requestId);
      // The consumer stopped iterating early: the worker must not keep generating for nobody.
      if (!finished) this.interrupt();
    }
  }

  interrupt(): void {
    this.post({ type: 'interrupt' });
  }

  cancelLoad(): void {
    this.post({ type: 'cancelLoad' });
  }

  stats(): Promise<EngineStats> {
    return this.call(
      (requestId) => ({ type: 'stats', requestId }),
      (event) => (event.type === 'stats' ? event.stats : undefined),
    );
  }

  setKvSettings(settings: Partial<KvSettings>): Promise<{ settings: KvSettings; stats: EngineStats }> {
    return this.call(
      (requestId) => ({ type: 'setKvSettings', requestId, settings }),
      (event) => (event.type === 'kvSettings' ? { settings: event.settings, stats: event.stats } : undefined),
    );
  }

  async unload(): Promise<void> {
    await this.call(
      (requestId) => ({ type: 'unload', requestId }),
      (event) => (event.type === 'unloaded' ? true : undefined),
    );
  }

  terminate(): void {
    this.worker.terminate();
    this.failAll(internalError('the engine was restarted'));
  }

  /** Sends one request and settles with the first event `answer` maps to a value, or its error. */
  private call<T>(request: (requestId: number) => WorkerRequest, answer: (event: WorkerEvent) => T | undefined): Promise<T> {
    const requestId = this.nextRequestId++;
    return new Promise<T>((resolve, reject) => {
      this.listeners.set(requestId, (event) => {
        if (event.type === 'error') {
          this.listeners.delete(requestId);
          reject(new EngineFailure(event.error));
          return;
        }
        const value = answer(event);
        if (value === undefined) return;
        this.listeners.delete(requestId);
        resolve(value);
      });
      this.post(request(requestId));
    });
  }

  private post(request: WorkerRequest): void {
    this.worker.postMessage(request);
  }

  /** The worker broke outside any request: every request in flight fails with `error`. */
  private failAll(error: WorkerError): void {
    for (const [requestId, listener] of this.listeners) listener({ type: 'error', requestId, error });
  }
}
