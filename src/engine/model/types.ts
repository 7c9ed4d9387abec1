// The shapes every part of the engine agrees on: the parsed model config and the raw tensors.
// Parsing lives in config.ts / tensorCache.ts; the GPU and the CPU reference only read these.

export type Architecture = 'llama' | 'qwen2';
export type Quantization = 'q4f16_1' | 'q4f32_1' | 'q0f16' | 'q0f32';

/** Llama-3 style frequency-dependent RoPE scaling (HF `rope_scaling` with rope_type "llama3"). */
export interface Llama3RopeScaling {
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositionEmbeddings: number;
}

/** MLC's conversation template as found in mlc-chat-config.json `conv_template`. */
export interface ConvTemplate {
  name: string;
  system_template: string;
  system_message: string;
  system_prefix_token_ids?: number[];
  add_role_after_system_message?: boolean;
  roles: Record<string, string>;
  role_templates?: Record<string, string>;
  seps: string[];
  role_content_sep?: string;
  role_empty_sep?: string;
  stop_str: string[];
  stop_token_ids: number[];
}

export interface ModelConfig {
  architecture: Architecture;
  quantization: Quantization;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  vocabSize: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: Llama3RopeScaling | null;
  /** qkv_proj has a bias (qwen2). */
  qkvBias: boolean;
  /** lm_head shares the embedding matrix. */
  tieWordEmbeddings: boolean;
  contextWindowSize: number;
  prefillChunkSize: number;
  bosTokenId: number | null;
  /** Token ids that end generation: conv_template.stop_token_ids plus eos. */
  stopTokenIds: number[];
  convTemplate: ConvTemplate;
  /** Generation defaults from the config. */
  temperature: number;
  topP: number;
  repetitionPenalty: number;
}

export type DType = 'float32' | 'float16' | 'uint32';

/** One tensor of tensor-cache.json, its bytes still in the shard's little-endian layout. */
export interface TensorData {
  name: string;
  dtype: DType;
  shape: number[];
  bytes: Uint8Array;
}

export type WeightMap = Map<string, TensorData>;
