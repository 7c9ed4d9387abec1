// The chat store: WebGPU support, the model's load state and memory stats, the conversations (kept
// in IndexedDB through a ConversationRepository) with the open one's transcript, and the generation
// and KV settings, with the actions that drive the engine worker. Components subscribe with selectors.
import type { StateCreator } from 'zustand';
import type { ChatMessage, CompletionUsage, EngineStats, FinishReason, KvSettings, LoadProgress } from '../engine/api';
import { QuotaExceededError, WebGpuUnavailableError } from '../engine/errors';
import { DEFAULT_KV_SETTINGS } from '../engine/kv/settings';
import { EngineFailure, type EngineConnection } from '../worker/client';
import { internalError, type WorkerError } from '../worker/protocol';
import type { Conversation, ConversationRepository } from './db';

export interface TranscriptMessage {
  id: string;
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
  /** Sent first as the system message when not blank. */
  systemPrompt: string;
  /** Generate past the model's stop tokens and stop strings, until Max tokens (`ignore_eos`). */
  ignoreEos: boolean;
}

export type NumericGenerationSetting = Exclude<keyof GenerationSettings, 'systemPrompt' | 'ignoreEos'>;

interface SettingRange {
  label: string;
  help: string;
  min: number;
  max: number;
  step: number;
  default: number;
}

/** The one schema for the numeric generation settings: defaults, ranges and help for the store, the UI and tests. */
export const GENERATION_SETTINGS: Record<NumericGenerationSetting, SettingRange> = {
  maxTokens: { label: 'Max tokens', help: 'The longest reply, in tokens.', min: 1, max: 4096, step: 1, default: 64 },
  temperature: {
    label: 'Temperature', help: 'Higher samples more varied words; 0 always picks the likeliest token.', min: 0, max: 2, step: 0.05, default: 0.7,
  },
  topP: { label: 'Top-p', help: 'Samples only among the likeliest tokens whose probabilities add up to this.', min: 0.05, max: 1, step: 0.05, default: 0.95 },
};

export const DEFAULT_GENERATION_SETTINGS: GenerationSettings = {
  maxTokens: GENERATION_SETTINGS.maxTokens.default,
  temperature: GENERATION_SETTINGS.temperature.default,
  topP: GENERATION_SETTINGS.topP.default,
  systemPrompt: '',
  ignoreEos: false,
};

/** A streaming reply is written to IndexedDB at most this often (and once more when it ends). */
export const SAVE_INTERVAL_MS = 250;
/** While a reply streams, the memory stats are refreshed this often. */
export const STATS_INTERVAL_MS = 500;
const TITLE_LENGTH = 48;
const NO_ADAPTER = 'This browser has WebGPU but gave kvchat no GPU adapter: WebGPU is disabled, or the GPU or its driver is blocklisted.';

export type ModelStatus =
  | { phase: 'idle' }
  | { phase: 'loading'; progress: LoadProgress | null }
  | { phase: 'ready'; modelId: string; baseUrl: string; stats: EngineStats };

/** 'checking' until the first probe of navigator.gpu and its adapter has answered. */
export type WebGpuSupport = 'checking' | 'available' | 'unavailable';

export interface ChatState {
  webgpu: WebGpuSupport;
  modelUrl: string;
  model: ModelStatus;
  /** Every saved conversation, the latest first. */
  conversations: Conversation[];
  /** The open conversation; null for a new one, saved when its first message is sent. */
  activeId: string | null;
  messages: TranscriptMessage[];
  /** Ids of the conversations matching the sidebar's search; null when not searching. */
  searchHits: Set<string> | null;
  generating: boolean;
  /** The reply being streamed: text chunks so far (about one per token) and when the first and last came, in ms. */
  streamProgress: { chunks: number; firstAt: number; lastAt: number } | null;
  settings: GenerationSettings;
  /** The KV settings in effect (or to load the model with). */
  kvSettings: KvSettings;
  /** True while a KV settings change is being applied by the engine. */
  applyingKv: boolean;
  /** Why the last KV settings change was refused; the settings in effect did not change. */
  kvError: WorkerError | null;
  /** The last failure, shown until dismissed or until the next action succeeds. */
  error: WorkerError | null;
  /** Writes to IndexedDB issued and not yet committed; 0 means a reload loses nothing. */
  pendingWrites: number;

  detectWebGpu(gpu: GPU | undefined): Promise<void>;
  /** Reads the saved conversations and opens the latest. */
  init(): Promise<void>;
  newConversation(): void;
  openConversation(id: string): Promise<void>;
  renameConversation(id: string, title: string): Promise<void>;
  deleteConversation(id: string): Promise<void>;
  search(query: string): Promise<void>;
  setModelUrl(url: string): void;
  updateSettings(patch: Partial<GenerationSettings>): void;
  /** Applies KV settings: live through the engine when a model is loaded (between replies), else at the next load. */
  updateKvSettings(patch: Partial<KvSettings>): Promise<void>;
  loadModel(): Promise<void>;
  /** Stops a load in progress; what was downloaded stays cached, so loading again resumes. */
  cancelLoad(): void;
  /** Frees the model's GPU memory; the transcript stays. */
  unloadModel(): Promise<void>;
  /** Replaces a broken engine (e.g. after the GPU device was lost) and loads the model again. */
  restartEngine(): Promise<void>;
  send(text: string): Promise<void>;
  /** Replaces the last reply with a new one (or answers the last question, if its reply failed). */
  regenerate(): Promise<void>;
  /** Rewrites a user message, drops everything after it and asks again. */
  editAndResend(messageId: string, text: string): Promise<void>;
  stop(): void;
  refreshStats(): Promise<void>;
  dismissError(): void;
}

export interface ChatStoreOptions {
  /** Called on the first load (starting the worker is deferred until a model is wanted) and on restarts. */
  connect: () => EngineConnection;
  repository: ConversationRepository;
  modelUrl: string;
  newId?: () => string;
  now?: () => number;
}

function asWorkerError(err: unknown): WorkerError {
  if (err instanceof EngineFailure) return err.error;
  if (err instanceof Error && (err.name === 'QuotaExceededError' || (err as { inner?: Error }).inner?.name === 'QuotaExceededError')) {
    return new QuotaExceededError(`The browser refused to save the conversation: ${err.message}`).toJSON();
  }
  return internalError(err instanceof Error ? err.message : String(err));
}

function clamp(value: number, range: SettingRange): number {
  return Math.min(range.max, Math.max(range.min, value));
}

function titleOf(text: string): string {
  const line = text.trim().split('\n')[0] ?? '';
  return line.length > TITLE_LENGTH ? `${line.slice(0, TITLE_LENGTH - 1)}…` : line;
}

export function chatState({
  connect,
  repository,
  modelUrl,
  newId = () => crypto.randomUUID(),
  now = Date.now,
}: ChatStoreOptions): StateCreator<ChatState> {
  let connection: EngineConnection | undefined;
  const engine = () => (connection ??= connect());

  return (set, get) => {
    const fail = (err: unknown) => {
      const error = asWorkerError(err);
      set(error.code === 'webgpu-unavailable' ? { error, webgpu: 'unavailable' } : { error });
    };

    /** Writes to IndexedDB are counted until they commit, and report their failure (e.g. quota)
     *  without interrupting the chat. */
    const saved = (write: Promise<unknown>) => {
      set((s) => ({ pendingWrites: s.pendingWrites + 1 }));
      return write.catch(fail).finally(() => set((s) => ({ pendingWrites: s.pendingWrites - 1 })));
    };

    const activeConversation = () => get().conversations.find((c) => c.id === get().activeId);

    /** Saves the open conversation with the current model URL and settings. */
    const saveConversation = async (changes: Partial<Conversation> = {}) => {
      const current = activeConversation();
      if (!current) return;
      const { modelUrl, settings, kvSettings } = get();
      const conversation = { ...current, modelUrl, settings, kvSettings, ...changes };
      set((s) => ({ conversations: s.conversations.map((c) => (c.id === conversation.id ? conversation : c)) }));
      await saved(repository.putConversation(conversation));
    };

    /** The open conversation's id, creating (and saving) it with the first message as its title. */
    const ensureConversation = async (firstMessage: string): Promise<string> => {
      const existing = get().activeId;
      if (existing) return existing;
      const { modelUrl, settings, kvSettings } = get();
      const time = now();
      const conversation: Conversation = {
        id: newId(), title: titleOf(firstMessage), createdAt: time, updatedAt: time, modelUrl, settings, kvSettings,
      };
      set((s) => ({ conversations: [conversation, ...s.conversations], activeId: conversation.id }));
      await saved(repository.putConversation(conversation));
      return conversation.id;
    };

    const setStats = (stats: EngineStats) =>
      set((s) => (s.model.phase === 'ready' ? { model: { ...s.model, stats } } : {}));

    const putMessage = (conversationId: string, position: number, message: TranscriptMessage) =>
      saved(repository.putMessage(conversationId, position, message));

    /** Streams a reply to `history` (ending with the user's message) into the transcript and IndexedDB. */
    const generateReply = async (conversationId: string, history: TranscriptMessage[]) => {
      const { settings } = get();
      let reply: TranscriptMessage = { id: newId(), role: 'assistant', content: '' };
      const position = history.length;
      set({ messages: [...history, reply], generating: true, error: null, kvError: null });
      const messages: ChatMessage[] = history.map(({ role, content }) => ({ role, content }));
      if (settings.systemPrompt.trim()) messages.unshift({ role: 'system', content: settings.systemPrompt });
      let lastSave = -Infinity;
      let lastStats = now();
      try {
        const stream = engine().generate({
          messages,
          stream: true,
          max_tokens: settings.maxTokens,
          temperature: settings.temperature,
          top_p: settings.topP,
          ...(settings.ignoreEos ? { ignore_eos: true } : {}),
        });
        for await (const chunk of stream) {
          const choice = chunk.choices[0];
          reply = {
            ...reply,
            content: reply.content + (choice?.delta.content ?? ''),
            usage: chunk.usage ?? reply.usage,
            finishReason: choice?.finish_reason ?? reply.finishReason,
          };
          const current = reply;
          const time = now();
          const progress = get().streamProgress;
          const streamProgress = !choice?.delta.content
            ? progress
            : progress
              ? { ...progress, chunks: progress.chunks + 1, lastAt: time }
              : { chunks: 1, firstAt: time, lastAt: time };
          set((s) => ({ messages: s.messages.map((m) => (m.id === current.id ? current : m)), streamProgress }));
          if (time - lastSave >= SAVE_INTERVAL_MS) {
            lastSave = time;
            void putMessage(conversationId, position, reply);
          }
          if (time - lastStats >= STATS_INTERVAL_MS) {
            lastStats = time;
            void get().refreshStats();
          }
        }
        await putMessage(conversationId, position, reply);
        setStats(await engine().stats());
      } catch (err) {
        // A reply that produced nothing is noise in the transcript; partial text is kept.
        if (reply.content === '') {
          set((s) => ({ messages: s.messages.filter((m) => m.id !== reply.id) }));
          await saved(repository.truncateMessages(conversationId, position));
        } else {
          await putMessage(conversationId, position, reply);
        }
        fail(err);
      } finally {
        set({ generating: false, streamProgress: null });
      }
    };

    const canGenerate = () => get().model.phase === 'ready' && !get().generating;

    return {
      webgpu: 'checking',
      modelUrl,
      model: { phase: 'idle' },
      conversations: [],
      activeId: null,
      messages: [],
      searchHits: null,
      generating: false,
      streamProgress: null,
      settings: DEFAULT_GENERATION_SETTINGS,
      kvSettings: DEFAULT_KV_SETTINGS,
      applyingKv: false,
      kvError: null,
      error: null,
      pendingWrites: 0,

      async detectWebGpu(gpu) {
        // Without an adapter (e.g. Chromium without WebGPU enabled) the engine could never start.
        const adapter = gpu ? await gpu.requestAdapter().catch(() => null) : null;
        if (adapter) set({ webgpu: 'available' });
        else if (!gpu) set({ webgpu: 'unavailable' });
        else set({ webgpu: 'unavailable', error: new WebGpuUnavailableError(NO_ADAPTER).toJSON() });
      },

      async init() {
        try {
          const conversations = await repository.listConversations();
          set({ conversations });
          const latest = conversations[0];
          if (latest && get().activeId === null && get().messages.length === 0) await get().openConversation(latest.id);
        } catch (err) {
          fail(err);
        }
      },

      newConversation() {
        if (get().generating) return;
        set({ activeId: null, messages: [], error: null });
      },

      async openConversation(id) {
        const conversation = get().conversations.find((c) => c.id === id);
        // A load in progress would apply its KV settings to whichever conversation is open when it ends.
        if (!conversation || get().generating || get().model.phase === 'loading') return;
        const messages = await repository.loadMessages(id);
        set({
          activeId: id,
          messages,
          modelUrl: conversation.modelUrl,
          settings: { ...DEFAULT_GENERATION_SETTINGS, ...conversation.settings },
          error: null,
        });
        await get().updateKvSettings(conversation.kvSettings);
      },

      async renameConversation(id, title) {
        const conversation = get().conversations.find((c) => c.id === id);
        if (!conversation || !title.trim()) return;
        const renamed = { ...conversation, title: title.trim() };
        set((s) => ({ conversations: s.conversations.map((c) => (c.id === id ? renamed : c)) }));
        await saved(repository.putConversation(renamed));
      },

      async deleteConversation(id) {
        if (get().generating && get().activeId === id) return;
        set((s) => ({
          conversations: s.conversations.filter((c) => c.id !== id),
          ...(s.activeId === id ? { activeId: null, messages: [] } : {}),
        }));
        await saved(repository.deleteConversation(id));
      },

      async search(query) {
        if (!query.trim()) {
          set({ searchHits: null });
          return;
        }
        set({ searchHits: await repository.searchConversations(query.trim()) });
      },

      setModelUrl(url) {
        set({ modelUrl: url });
      },

      updateSettings(patch) {
        const settings = { ...get().settings };
        for (const key of Object.keys(GENERATION_SETTINGS) as NumericGenerationSetting[]) {
          const value = patch[key];
          if (value !== undefined && Number.isFinite(value)) settings[key] = clamp(value, GENERATION_SETTINGS[key]);
        }
        if (patch.systemPrompt !== undefined) settings.systemPrompt = patch.systemPrompt;
        if (patch.ignoreEos !== undefined) settings.ignoreEos = patch.ignoreEos;
        set({ settings });
        void saveConversation();
      },

      async updateKvSettings(patch) {
        const wanted = { ...get().kvSettings, ...patch };
        const { model } = get();
        if (model.phase !== 'ready') {
          set({ kvSettings: wanted, kvError: null });
          await saveConversation();
          return;
        }
        if (get().generating || get().applyingKv) return;
        set({ applyingKv: true });
        try {
          const { settings, stats } = await engine().setKvSettings(wanted);
          set({ kvSettings: settings, kvError: null });
          setStats(stats);
          await saveConversation();
        } catch (err) {
          set({ kvError: asWorkerError(err) });
        } finally {
          set({ applyingKv: false });
        }
      },

      async loadModel() {
        if (get().model.phase === 'loading' || get().generating) return;
        const baseUrl = get().modelUrl.trim();
        set({ model: { phase: 'loading', progress: null }, error: null, kvError: null });
        try {
          const { modelId, stats } = await engine().load(baseUrl, {
            kv: get().kvSettings,
            onProgress: (progress) => set({ model: { phase: 'loading', progress } }),
          });
          set({ model: { phase: 'ready', modelId, baseUrl, stats }, kvSettings: stats.kvSettings });
          await saveConversation();
        } catch (err) {
          set({ model: { phase: 'idle' } });
          const error = asWorkerError(err);
          if (error.code === 'load-cancelled') return;
          if (error.code === 'invalid-settings') set({ kvError: error });
          fail(err);
        }
      },

      cancelLoad() {
        if (get().model.phase === 'loading') engine().cancelLoad();
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

      async restartEngine() {
        connection?.terminate();
        connection = undefined;
        set({ model: { phase: 'idle' }, generating: false, applyingKv: false });
        await get().loadModel();
      },

      async send(text) {
        if (!text.trim() || !canGenerate()) return;
        const conversationId = await ensureConversation(text);
        const question: TranscriptMessage = { id: newId(), role: 'user', content: text };
        const history = [...get().messages, question];
        await putMessage(conversationId, history.length - 1, question);
        await generateReply(conversationId, history);
      },

      async regenerate() {
        const { messages, activeId } = get();
        const last = messages.at(-1);
        if (!canGenerate() || !activeId || !last) return;
        // After a reply that failed before its first token, the question itself is last.
        const history = last.role === 'assistant' ? messages.slice(0, -1) : messages;
        await saved(repository.truncateMessages(activeId, history.length));
        await generateReply(activeId, history);
      },

      async editAndResend(messageId, text) {
        const { messages, activeId } = get();
        const index = messages.findIndex((m) => m.id === messageId && m.role === 'user');
        if (!text.trim() || !canGenerate() || !activeId || index < 0) return;
        const history = [...messages.slice(0, index), { ...messages[index]!, content: text }];
        await saved(repository.truncateMessages(activeId, index + 1));
        await putMessage(activeId, index, history[index]!);
        await generateReply(activeId, history);
      },

      stop() {
        if (get().generating) engine().interrupt();
      },

      async refreshStats() {
        if (get().model.phase !== 'ready') return;
        try {
          setStats(await engine().stats());
        } catch {
          // Stats are a view; a failed refresh leaves the last ones shown, and real failures
          // surface through the request that hit them.
        }
      },

      dismissError() {
        set({ error: null });
      },
    };
  };
}
