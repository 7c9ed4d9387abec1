// The chat store: WebGPU support, the model's load state, the transcript and the generation
// settings, with the actions that drive the engine worker. Components subscribe with selectors.
import type { StateCreator } from 'zustand';
import type { CompletionUsage, EngineStats, FinishReason, LoadProgress } from '../engine/api';
import { EngineFailure, type EngineConnection } from '../worker/client';
import { internalError, type WorkerError } from '../worker/protocol';

export interface TranscriptMessage {
  id: number;
  role: 'user' | 'assistant';
  content: string;
  /** Set on an assistant reply once its stream has finished. */
  usage?: CompletionUsage;
  finishReason?: FinishReason;
}

export interface GenerationSettings {
  maxTokens: number;
  temperature: number;
  topP: number;
}

interface SettingRange {
  label: string;
  min: number;
  max: number;
  step: number;
  default: number;
}

/** The one schema for generation settings: defaults and ranges for the store, the UI and tests. */
export const GENERATION_SETTINGS: Record<keyof GenerationSettings, SettingRange> = {
  maxTokens: { label: 'Max tokens', min: 1, max: 4096, step: 1, default: 64 },
  temperature: { label: 'Temperature', min: 0, max: 2, step: 0.05, default: 0.7 },
  topP: { label: 'Top-p', min: 0.05, max: 1, step: 0.05, default: 0.95 },
};

const DEFAULT_SETTINGS: GenerationSettings = {
  maxTokens: GENERATION_SETTINGS.maxTokens.default,
  temperature: GENERATION_SETTINGS.temperature.default,
  topP: GENERATION_SETTINGS.topP.default,
};

export type ModelStatus =
  | { phase: 'idle' }
  | { phase: 'loading'; progress: LoadProgress | null }
  | { phase: 'ready'; modelId: string; stats: EngineStats };

/** 'checking' until the first probe of navigator.gpu and its adapter has answered. */
export type WebGpuSupport = 'checking' | 'available' | 'unavailable';

export interface ChatState {
  webgpu: WebGpuSupport;
  modelUrl: string;
  model: ModelStatus;
  messages: TranscriptMessage[];
  generating: boolean;
  settings: GenerationSettings;
  /** The last failure, shown until dismissed or until the next action succeeds. */
  error: WorkerError | null;

  detectWebGpu(gpu: GPU | undefined): Promise<void>;
  setModelUrl(url: string): void;
  updateSettings(patch: Partial<GenerationSettings>): void;
  loadModel(): Promise<void>;
  /** Frees the model's GPU memory; the transcript stays. */
  unloadModel(): Promise<void>;
  send(text: string): Promise<void>;
  stop(): void;
  dismissError(): void;
}

export interface ChatStoreOptions {
  /** Called once, on the first load: starting the worker is deferred until a model is wanted. */
  connect: () => EngineConnection;
  modelUrl: string;
}

function asWorkerError(err: unknown): WorkerError {
  if (err instanceof EngineFailure) return err.error;
  return internalError(err instanceof Error ? err.message : String(err));
}

function clamp(value: number, range: SettingRange): number {
  return Math.min(range.max, Math.max(range.min, value));
}

export function chatState({ connect, modelUrl }: ChatStoreOptions): StateCreator<ChatState> {
  let connection: EngineConnection | undefined;
  const engine = () => (connection ??= connect());
  let nextMessageId = 1;

  return (set, get) => {
    const updateMessage = (id: number, update: (message: TranscriptMessage) => TranscriptMessage) =>
      set((state) => ({ messages: state.messages.map((m) => (m.id === id ? update(m) : m)) }));

    const fail = (err: unknown) => {
      const error = asWorkerError(err);
      set(error.code === 'webgpu-unavailable' ? { error, webgpu: 'unavailable' } : { error });
    };

    return {
      webgpu: 'checking',
      modelUrl,
      model: { phase: 'idle' },
      messages: [],
      generating: false,
      settings: DEFAULT_SETTINGS,
      error: null,

      async detectWebGpu(gpu) {
        // Without an adapter (e.g. Chromium without WebGPU enabled) the engine could never start.
        const adapter = gpu ? await gpu.requestAdapter().catch(() => null) : null;
        set({ webgpu: adapter ? 'available' : 'unavailable' });
      },

      setModelUrl(url) {
        set({ modelUrl: url });
      },

      updateSettings(patch) {
        const settings = { ...get().settings };
        for (const key of Object.keys(patch) as (keyof GenerationSettings)[]) {
          const value = patch[key];
          if (value !== undefined && Number.isFinite(value)) settings[key] = clamp(value, GENERATION_SETTINGS[key]);
        }
        set({ settings });
      },

      async loadModel() {
        if (get().model.phase === 'loading' || get().generating) return;
        set({ model: { phase: 'loading', progress: null }, error: null });
        try {
          const { modelId, stats } = await engine().load(get().modelUrl, {
            onProgress: (progress) => set({ model: { phase: 'loading', progress } }),
          });
          set({ model: { phase: 'ready', modelId, stats } });
        } catch (err) {
          set({ model: { phase: 'idle' } });
          fail(err);
        }
      },

      async unloadModel() {
        if (get().model.phase !== 'ready' || get().generating) return;
        set({ model: { phase: 'idle' }, error: null });
        try {
          await engine().unload();
        } catch (err) {
          fail(err);
        }
      },

      async send(text) {
        const { model, generating, messages, settings } = get();
        if (!text.trim() || model.phase !== 'ready' || generating) return;
        const question: TranscriptMessage = { id: nextMessageId++, role: 'user', content: text };
        const reply: TranscriptMessage = { id: nextMessageId++, role: 'assistant', content: '' };
        const history = [...messages, question];
        set({ messages: [...history, reply], generating: true, error: null });
        try {
          const stream = engine().generate({
            messages: history.map(({ role, content }) => ({ role, content })),
            stream: true,
            max_tokens: settings.maxTokens,
            temperature: settings.temperature,
            top_p: settings.topP,
          });
          for await (const chunk of stream) {
            const choice = chunk.choices[0];
            const delta = choice?.delta.content ?? '';
            updateMessage(reply.id, (m) => ({
              ...m,
              content: m.content + delta,
              usage: chunk.usage ?? m.usage,
              finishReason: choice?.finish_reason ?? m.finishReason,
            }));
          }
          const stats = await engine().stats();
          set((state) => (state.model.phase === 'ready' ? { model: { ...state.model, stats } } : {}));
        } catch (err) {
          // A reply that produced nothing is noise in the transcript; partial text is kept.
          set((state) => ({ messages: state.messages.filter((m) => m.id !== reply.id || m.content !== '') }));
          fail(err);
        } finally {
          set({ generating: false });
        }
      },

      stop() {
        if (get().generating) engine().interrupt();
      },

      dismissError() {
        set({ error: null });
      },
    };
  };
}
