// The public engine surface, kept close to web-llm's MLCEngineInterface / the OpenAI chat API.

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
