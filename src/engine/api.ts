// The public engine surface, kept close to web-llm's MLCEngineInterface / the OpenAI chat API.
import type { LayerKv, LayerKvBytes } from './kv/cache';
import type { KvSettings } from './kv/settings';

export type { KvSettings, LayerKv, LayerKvBytes };

export type Role = 'system' | 'user' | 'assistant';

export interface ChatMessage {
  role: Role;
  content: string;
}

export interface ChatCompletionRequest {
  messages: ChatMessage[];
  stream?: boolean;
  max_tokens?: number;
  temperature?: number;
  top_p?: number;
  repetition_penalty?: number;
  /** Extra stop strings on top of the model's own. */
  stop?: string | string[];
  seed?: number;
  /** Keep generating past the model's stop tokens and every stop string, until `max_tokens` or a
   *  full context (web-llm's option of the same name; for benchmarks and tests that need a reply of
   *  a known length). */
  ignore_eos?: boolean;
}

export interface CompletionUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  extra: { prefill_tokens_per_s: number; decode_tokens_per_s: number };
}

export type FinishReason = 'stop' | 'length' | 'abort';

export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  choices: { index: number; delta: { role?: 'assistant'; content?: string }; finish_reason: FinishReason | null }[];
  usage?: CompletionUsage;
}

export interface LoadProgress {
  /** 0..1 over all bytes to fetch. */
  progress: number;
  loadedBytes: number;
  totalBytes: number;
  text: string;
}

export interface EngineOptions {
  onProgress?: (progress: LoadProgress) => void;
  /** Aborts loading. */
  signal?: AbortSignal;
  /** KV cache capacity in tokens; defaults to min(context_window_size, 4096). */
  contextLength?: number;
  /** Cache Storage bucket for model files; null disables caching. Default 'kvchat-models'. */
  cacheName?: string | null;
  /** WebGPU entry point; defaults to navigator.gpu (Node passes the `webgpu` package's). */
  gpu?: GPU;
  /** KV cache settings (kv/settings.ts); default: the fp16 cache. */
  kv?: Partial<KvSettings>;
}

export interface EngineStats {
  model: string;
  architecture: string;
  quantization: string;
  numLayers: number;
  /** Tokens currently in the KV cache and its capacity. */
  kvTokens: number;
  kvCapacity: number;
  /** Bytes allocated for the KV cache (all layers, keys and values). */
  kvBytesAllocated: number;
  /** Bytes holding the kvTokens currently cached. */
  kvBytesUsed: number;
  /** What kvTokens would take in an fp16 cache (kvBytesUsed / this is the compression ratio). */
  kvBytesFp16Equivalent: number;
  kvSettings: KvSettings;
  /** Per layer: exact bytes used and allocated by kind, tokens kept and the layer's budget. */
  kvLayers: LayerKv[];
  weightBytes: number;
  adapter: string;
}

export interface ChatCompletions {
  /** Streams the reply; the last chunk carries finish_reason and `usage`. */
  create(request: ChatCompletionRequest): AsyncIterable<ChatCompletionChunk>;
}

export interface Engine {
  readonly modelId: string;
  readonly chat: { completions: ChatCompletions };
  /** Ends the running generation after the current step; its stream finishes with reason 'abort'. */
  interruptGenerate(): void;
  stats(): EngineStats;
  /** Changes the KV cache settings; validated first (KvSettingsError), then the cache is rebuilt
   *  and the next request re-prefills the conversation. Not allowed while generating. */
  setKvSettings(settings: Partial<KvSettings>): KvSettings;
  /** Frees GPU memory; the engine is unusable afterwards. */
  unload(): Promise<void>;
}
