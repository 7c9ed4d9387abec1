// Messages between the page and the engine worker. Every request that expects an answer carries a
// requestId; the worker echoes it on the answer (and on its error), so answers need no ordering.
import type {
  ChatCompletionChunk,
  ChatCompletionRequest,
  CompletionUsage,
  EngineStats,
  FinishReason,
  KvSettings,
  LoadProgress,
} from '../engine/api';
import type { SerializedError } from '../engine/errors';

export type WorkerRequest =
  | { type: 'load'; requestId: number; baseUrl: string; contextLength?: number; kv?: Partial<KvSettings> }
  | { type: 'generate'; requestId: number; request: ChatCompletionRequest }
  /** Aborts the load in progress; its request fails with code 'load-cancelled'. Files already
   *  downloaded stay in the cache, so the next load resumes from them. */
  | { type: 'cancelLoad' }
  /** Ends the running generation; its stream still finishes with 'done' (reason 'abort'). */
  | { type: 'interrupt' }
  | { type: 'unload'; requestId: number }
  | { type: 'stats'; requestId: number }
  /** Validates and applies KV settings between replies; the next request re-prefills the conversation. */
  | { type: 'setKvSettings'; requestId: number; settings: Partial<KvSettings> };

export type WorkerEvent =
  | { type: 'progress'; requestId: number; progress: LoadProgress }
  | { type: 'loaded'; requestId: number; modelId: string; stats: EngineStats }
  /** Every chunk of the engine's stream, the last one (with usage) included. */
  | { type: 'chunk'; requestId: number; chunk: ChatCompletionChunk }
  /** Ends a generate stream. */
  | { type: 'done'; requestId: number; usage: CompletionUsage; finishReason: FinishReason }
  | { type: 'unloaded'; requestId: number }
  | { type: 'stats'; requestId: number; stats: EngineStats }
  /** The settings now in effect, and the stats of the rebuilt (empty) cache. */
  | { type: 'kvSettings'; requestId: number; settings: KvSettings; stats: EngineStats }
  /** requestId is absent when the failure belongs to no request (the worker itself broke). */
  | { type: 'error'; requestId?: number; error: WorkerError };

/** The engine's typed errors, plus the worker's own: 'no-model' (a request before any load),
 *  'load-cancelled' (the user cancelled a load) and 'internal' (anything the engine did not anticipate). */
export type WorkerError = SerializedError | { code: 'no-model' | 'internal' | 'load-cancelled'; message: string; hint: string };

export const noModelError: WorkerError = { code: 'no-model', message: 'No model is loaded.', hint: 'Load a model first.' };

export const loadCancelledError: WorkerError = {
  code: 'load-cancelled', message: 'Loading the model was cancelled.', hint: 'Load it again to resume: files already downloaded are kept.',
};

export function internalError(detail: string): WorkerError {
  return {
    code: 'internal',
    message: `kvchat hit an unexpected error: ${detail}`,
    hint: 'Reload the page and try again; if it happens again, report it with the browser console log.',
  };
}
