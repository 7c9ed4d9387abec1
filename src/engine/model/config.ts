// mlc-chat-config.json -> ModelConfig. The file is what `mlc_llm gen_config` writes (see
// docs/MODEL_FORMAT.md): top-level generation settings, the architecture's own dataclass under
// `model_config`, and the conversation template under `conv_template`.
import { ModelCorruptError, UnsupportedModelError } from '../errors';
import type { Architecture, ConvTemplate, Llama3RopeScaling, ModelConfig, Quantization } from './types';

const ARCHITECTURES: readonly Architecture[] = ['llama', 'qwen2'];
const QUANTIZATIONS: readonly Quantization[] = ['q4f16_1', 'q4f32_1', 'q0f16', 'q0f32'];
const FILE = 'mlc-chat-config.json';

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function corrupt(field: string, expected: string, found: unknown): ModelCorruptError {
  return new ModelCorruptError(`${FILE}: ${field} should be ${expected}, found ${JSON.stringify(found) ?? 'nothing'}.`);
}

/** Field readers that name the field (with its path) when it is missing or has the wrong type. */
class Fields {
  constructor(
    private readonly obj: Json,
    private readonly path: string,
  ) {}

  private where(key: string): string {
    return this.path ? `${this.path}.${key}` : key;
  }

  has(key: string): boolean {
    return this.obj[key] !== undefined && this.obj[key] !== null;
  }

  string(key: string, fallback?: string): string {
    const v = this.obj[key] ?? fallback;
    if (typeof v !== 'string') throw corrupt(this.where(key), 'a string', v);
    return v;
  }

  number(key: string, fallback?: number): number {
    const v = this.obj[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw corrupt(this.where(key), 'a number', v);
    return v;
  }

  positiveInt(key: string, fallback?: number): number {
    const v = this.obj[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw corrupt(this.where(key), 'a positive integer', v);
    return v;
  }

  /** A positive integer where MLC writes 0 (or nothing) for "derive the default". */
  sizeOrDefault(key: string, fallback: number): number {
    return this.obj[key] === 0 ? fallback : this.positiveInt(key, fallback);
  }

  boolean(key: string, fallback?: boolean): boolean {
    const v = this.obj[key] ?? fallback;
    if (typeof v !== 'boolean') throw corrupt(this.where(key), 'true or false', v);
    return v;
  }

  tokenIds(key: string, fallback?: number[]): number[] {
    const v = this.obj[key] ?? fallback;
    const ids = typeof v === 'number' ? [v] : v;
    if (!Array.isArray(ids) || !ids.every((id) => Number.isInteger(id) && id >= 0)) throw corrupt(this.where(key), 'a token id or a list of token ids', v);
    return ids as number[];
  }

  strings(key: string, fallback?: string[]): string[] {
    const v = this.obj[key] ?? fallback;
    if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw corrupt(this.where(key), 'a list of strings', v);
    return v as string[];
  }

  stringMap(key: string, fallback?: Record<string, string>): Record<string, string> {
    const v = this.obj[key] ?? fallback;
    if (!isObject(v) || !Object.values(v).every((s) => typeof s === 'string')) throw corrupt(this.where(key), 'an object of strings', v);
    return v as Record<string, string>;
  }

  object(key: string): Fields {
    const v = this.obj[key];
    if (!isObject(v)) throw corrupt(this.where(key), 'an object', v);
    return new Fields(v, this.where(key));
  }
}

export function parseModelConfig(json: unknown): ModelConfig {
  if (!isObject(json)) throw new ModelCorruptError(`${FILE} is not a JSON object.`);
  const top = new Fields(json, '');

  const modelType = top.string('model_type');
  if (!ARCHITECTURES.includes(modelType as Architecture)) {
    throw new UnsupportedModelError(`The model's architecture is "${modelType}"; kvchat runs ${ARCHITECTURES.join(', ')}.`);
  }
  const quantization = top.string('quantization');
  if (!QUANTIZATIONS.includes(quantization as Quantization)) {
    throw new UnsupportedModelError(`The model's weights are quantized as "${quantization}"; kvchat reads ${QUANTIZATIONS.join(', ')}.`);
  }
  const architecture = modelType as Architecture;

  const m = top.object('model_config');
  const hiddenSize = m.positiveInt('hidden_size');
  const numHeads = m.positiveInt('num_attention_heads');
  const numKvHeads = m.sizeOrDefault('num_key_value_heads', numHeads);
  if (numHeads % numKvHeads !== 0) {
    throw new ModelCorruptError(`${FILE}: num_attention_heads (${numHeads}) is not a multiple of num_key_value_heads (${numKvHeads}).`);
  }
  const headDim = m.sizeOrDefault('head_dim', hiddenSize / numHeads);
  if (!Number.isInteger(headDim)) throw new ModelCorruptError(`${FILE}: hidden_size ${hiddenSize} is not divisible by ${numHeads} heads.`);

  const convTemplate = parseConvTemplate(top.object('conv_template'));
  const eosIds = top.has('eos_token_id') ? top.tokenIds('eos_token_id') : [];
  const contextWindowSize = top.positiveInt('context_window_size', m.has('context_window_size') ? m.positiveInt('context_window_size') : undefined);

  return {
    architecture,
    quantization: quantization as Quantization,
    hiddenSize,
    intermediateSize: m.positiveInt('intermediate_size'),
    numLayers: m.positiveInt('num_hidden_layers'),
    numHeads,
    numKvHeads,
    headDim,
    vocabSize: top.positiveInt('vocab_size', m.has('vocab_size') ? m.positiveInt('vocab_size') : undefined),
    rmsNormEps: m.number('rms_norm_eps'),
    // llama's MLC config renames rope_theta to position_embedding_base; qwen2 keeps rope_theta.
    ropeTheta: m.has('rope_theta') ? m.number('rope_theta') : m.number('position_embedding_base', 10000),
    ropeScaling: parseRopeScaling(m),
    qkvBias: architecture === 'qwen2',
    tieWordEmbeddings: m.boolean('tie_word_embeddings', false),
    contextWindowSize,
    prefillChunkSize: top.positiveInt('prefill_chunk_size', m.has('prefill_chunk_size') ? m.positiveInt('prefill_chunk_size') : Math.min(contextWindowSize, 2048)),
    bosTokenId: top.has('bos_token_id') ? top.tokenIds('bos_token_id')[0] : null,
    stopTokenIds: [...new Set([...convTemplate.stop_token_ids, ...eosIds])],
    convTemplate,
    temperature: top.number('temperature', 1),
    topP: top.number('top_p', 1),
    repetitionPenalty: top.number('repetition_penalty', 1),
  };
}

/** HF `rope_scaling`: MLC keeps it only with rope_type "llama3" and drops it when rope_type is absent. */
function parseRopeScaling(m: Fields): Llama3RopeScaling | null {
  if (!m.has('rope_scaling')) return null;
  const s = m.object('rope_scaling');
  if (!s.has('rope_type')) return null;
  const type = s.string('rope_type');
  if (type !== 'llama3') throw new UnsupportedModelError(`The model uses RoPE scaling "${type}"; kvchat supports "llama3" scaling only.`);
  return {
    factor: s.number('factor'),
    lowFreqFactor: s.number('low_freq_factor'),
    highFreqFactor: s.number('high_freq_factor'),
    originalMaxPositionEmbeddings: s.positiveInt('original_max_position_embeddings'),
  };
}

/** conv_template, with mlc-llm's Conversation defaults for the fields it may leave out. */
function parseConvTemplate(t: Fields): ConvTemplate {
  const template: ConvTemplate = {
    name: t.string('name', ''),
    system_template: t.string('system_template', '{system_message}'),
    system_message: t.string('system_message', ''),
    add_role_after_system_message: t.boolean('add_role_after_system_message', true),
    roles: t.stringMap('roles'),
    seps: t.strings('seps'),
    role_content_sep: t.string('role_content_sep', ''),
    role_empty_sep: t.string('role_empty_sep', ''),
    stop_str: t.strings('stop_str', []),
    stop_token_ids: t.tokenIds('stop_token_ids', []),
  };
  if (t.has('system_prefix_token_ids')) template.system_prefix_token_ids = t.tokenIds('system_prefix_token_ids');
  if (t.has('role_templates')) template.role_templates = t.stringMap('role_templates');
  if (template.seps.length === 0) throw corrupt('conv_template.seps', 'one or two separators', []);
  return template;
}
