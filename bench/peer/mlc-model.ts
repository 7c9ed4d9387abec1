// A random-weight MLC model folder in exactly the tensor layout a web-llm model library expects, so
// web-llm and kvchat load the same files: the library's compiled-in metadata (the `_metadata` JSON in
// its .wasm) names every parameter with its shape and dtype; kvchat's own layout (model/layout.ts)
// must name the same ones. Node- and DOM-free: bench/peer-webllm.ts writes the files.
import { GROUP_SIZE, isGroupQuantized, linearTensorNames, modelSpec, type LinearSpec } from '../../src/engine/model/layout';
import type { ModelConfig } from '../../src/engine/model/types';

export type ParamDtype = 'uint32' | 'float32' | 'float16';

export interface ParamSpec {
  name: string;
  shape: number[];
  dtype: ParamDtype;
}

/** What a model library was compiled for (mlc_llm compile writes it into the .wasm). */
export interface LibraryMetadata {
  modelType: string;
  quantization: string;
  contextWindowSize: number;
  prefillChunkSize: number;
  params: ParamSpec[];
}

const METADATA_START = '{"model_type"';

/** Reads the `_metadata` JSON that mlc_llm compile embeds in a model library's data section. */
export function libraryMetadata(wasm: Uint8Array): LibraryMetadata {
  // latin1 keeps one character per byte, so indices in the text are byte offsets.
  const text = new TextDecoder('latin1').decode(wasm);
  const start = text.indexOf(METADATA_START);
  if (start < 0) throw new Error(`the model library holds no ${METADATA_START}...} metadata; is it an mlc_llm-compiled .wasm?`);
  const json = JSON.parse(text.slice(start, matchingBrace(text, start) + 1)) as {
    model_type: string;
    quantization: string;
    context_window_size: number;
    prefill_chunk_size: number;
    params: { name: string; shape: number[]; dtype: ParamDtype }[];
  };
  return {
    modelType: json.model_type,
    quantization: json.quantization,
    contextWindowSize: json.context_window_size,
    prefillChunkSize: json.prefill_chunk_size,
    params: json.params.map(({ name, shape, dtype }) => ({ name, shape, dtype })),
  };
}

/** Index of the brace closing the object that opens at `start`, skipping braces inside strings. */
function matchingBrace(text: string, start: number): number {
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{') depth++;
    else if (c === '}' && --depth === 0) return i;
  }
  throw new Error('the model library metadata JSON never closes');
}

/** Every tensor kvchat's loader reads for `cfg`, in MLC's names, shapes and dtypes. */
export function kvchatParams(cfg: ModelConfig): ParamSpec[] {
  const floatType: ParamDtype = cfg.quantization === 'q4f16_1' || cfg.quantization === 'q0f16' ? 'float16' : 'float32';
  const spec = modelSpec(cfg);
  const linear = (l: LinearSpec): ParamSpec[] => {
    const names = linearTensorNames(l, cfg.quantization);
    const weights: ParamSpec[] = isGroupQuantized(cfg.quantization)
      ? [
          { name: names.weight, shape: [l.outDim, l.inDim / 8], dtype: 'uint32' },
          { name: names.scale!, shape: [l.outDim, l.inDim / GROUP_SIZE], dtype: floatType },
        ]
      : [{ name: names.weight, shape: [l.outDim, l.inDim], dtype: floatType }];
    return l.bias ? [...weights, { name: l.bias, shape: [l.outDim], dtype: floatType }] : weights;
  };
  const norm = (name: string): ParamSpec => ({ name, shape: [cfg.hiddenSize], dtype: floatType });
  return [
    ...linear(spec.embed),
    ...spec.layers.flatMap((l) => [norm(l.inputNorm), ...linear(l.qkv), ...linear(l.o), norm(l.postNorm), ...linear(l.gateUp), ...linear(l.down)]),
    norm(spec.finalNorm),
    ...(cfg.tieWordEmbeddings ? [] : linear(spec.lmHead)),
  ];
}

/** Differences between the library's parameters and kvchat's for the same model (empty when they agree). */
export function layoutMismatches(library: ParamSpec[], kvchat: ParamSpec[]): string[] {
  const ours = new Map(kvchat.map((p) => [p.name, p]));
  const problems: string[] = [];
  for (const p of library) {
    const q = ours.get(p.name);
    if (!q) problems.push(`${p.name}: in the library, not read by kvchat`);
    else if (q.dtype !== p.dtype || q.shape.join() !== p.shape.join()) {
      problems.push(`${p.name}: library ${p.dtype} [${p.shape.join(', ')}], kvchat ${q.dtype} [${q.shape.join(', ')}]`);
    }
    ours.delete(p.name);
  }
  for (const name of ours.keys()) problems.push(`${name}: read by kvchat, not in the library`);
  return problems;
}

export interface ShardRecord extends ParamSpec {
  format: 'f32-to-bf16';
  nbytes: number;
  byteOffset: number;
}

export interface ShardPlan {
  dataPath: string;
  format: 'raw-shard';
  nbytes: number;
  records: ShardRecord[];
}

/** tvmjs.dump_tensor_cache's shard cap as mlc_llm convert_weight uses it. */
export const SHARD_CAP_BYTES = 32 * 1024 * 1024;

/** Stored bytes of a parameter under encode_format "f32-to-bf16" (float32 kept as bf16). */
export function storedBytes(p: ParamSpec): number {
  const count = p.shape.reduce((a, b) => a * b, 1);
  return count * (p.dtype === 'uint32' ? 4 : 2);
}

/** The shards tvmjs.dump_tensor_cache would write: records fill a shard until it would reach the
 *  cap; a record at least half the cap gets a shard of its own without closing the open one. */
export function planShards(params: ParamSpec[], capBytes = SHARD_CAP_BYTES): ShardPlan[] {
  const shards: ShardPlan[] = [];
  const commit = (records: ShardRecord[], nbytes: number) =>
    shards.push({ dataPath: `params_shard_${shards.length}.bin`, format: 'raw-shard', nbytes, records });
  let open: ShardRecord[] = [];
  let openBytes = 0;
  for (const p of params) {
    const nbytes = storedBytes(p);
    const record = (byteOffset: number): ShardRecord => ({ ...p, format: 'f32-to-bf16', nbytes, byteOffset });
    if (openBytes + nbytes >= capBytes) {
      if (nbytes * 2 >= capBytes) {
        commit([record(0)], nbytes);
        continue;
      }
      commit(open, openBytes);
      open = [];
      openBytes = 0;
    }
    open.push(record(openBytes));
    openBytes += nbytes;
  }
  if (openBytes > 0) commit(open, openBytes);
  return shards;
}

const ELEMENT_BYTES: Record<ParamDtype, number> = { uint32: 4, float32: 4, float16: 2 };

/** The tensor cache manifest (web-llm 0.2.79's tvmjs reads it as ndarray-cache.json). BitsPerParam,
 *  which MLC computes against the unquantized checkpoint, is left out: there is no checkpoint. */
export function tensorCacheJson(params: ParamSpec[], shards: ShardPlan[]): object {
  const paramBytes = params.reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1) * ELEMENT_BYTES[p.dtype], 0);
  return { metadata: { ParamSize: params.length, ParamBytes: paramBytes }, records: shards };
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** tvmjs's f32 -> bf16 encoding (round to nearest even on the top 16 bits). */
export function bf16Bits(value: number): number {
  f32[0] = value;
  const bits = u32[0];
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

/**
 * The stored bytes of one random parameter. q4 codes are uniform 0..15 with every group scale
 * 1 / (4.6 sqrt(inDim)) (codes dequantize to (q - 7) * scale, std ~4.6 * scale, so each output's
 * std stays near its input's); dense q0 weights uniform with std 1 / sqrt(inDim); norms 1; biases 0.
 * Speed depends on shapes only; the values only have to keep activations finite.
 */
export function randomParamBytes(p: ParamSpec, random: () => number): Uint8Array {
  const count = p.shape.reduce((a, b) => a * b, 1);
  if (p.dtype === 'uint32') {
    const words = new Uint32Array(count);
    for (let i = 0; i < count; i++) words[i] = random();
    return new Uint8Array(words.buffer);
  }
  if (p.dtype !== 'float32') throw new Error(`${p.name}: random ${p.dtype} parameters are not needed by the peer models`);
  const halves = new Uint16Array(count);
  if (p.name.endsWith('.q_scale')) {
    halves.fill(bf16Bits(1 / (4.6 * Math.sqrt(p.shape[1] * GROUP_SIZE))));
  } else if (p.name.endsWith('norm.weight')) {
    halves.fill(bf16Bits(1));
  } else if (!p.name.endsWith('.bias')) {
    const amplitude = Math.sqrt(3 / p.shape[1]);
    for (let i = 0; i < count; i++) halves[i] = bf16Bits(((random() / 0x100000000) * 2 - 1) * amplitude);
  }
  return new Uint8Array(halves.buffer);
}

const SPECIAL_TOKENS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'];

/** A byte-level BPE tokenizer.json without merges (256 byte tokens + 3 special ones): both engines
 *  load one, and the benchmark feeds token ids directly. */
export function byteTokenizerJson(): object {
  const vocab: Record<string, number> = {};
  // GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest to U+0100 onwards.
  let shifted = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    vocab[String.fromCharCode(printable ? b : 256 + shifted++)] = b;
  }
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIAL_TOKENS.map((content, i) => ({ id: 256 + i, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: { ...byteLevel, trim_offsets: false },
    decoder: byteLevel,
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, vocab, merges: [] },
  };
}

/** mlc-chat-config.json for `cfg`: greedy decoding without penalties, so both engines sample argmax. */
export function chatConfigJson(cfg: ModelConfig, contextWindowSize: number, prefillChunkSize: number): object {
  const qwen2 = cfg.architecture === 'qwen2';
  const common = {
    hidden_size: cfg.hiddenSize, intermediate_size: cfg.intermediateSize, num_attention_heads: cfg.numHeads,
    num_hidden_layers: cfg.numLayers, num_key_value_heads: cfg.numKvHeads, rms_norm_eps: cfg.rmsNormEps,
    vocab_size: cfg.vocabSize, tie_word_embeddings: cfg.tieWordEmbeddings, context_window_size: contextWindowSize,
    prefill_chunk_size: prefillChunkSize, head_dim: cfg.headDim, tensor_parallel_shards: 1, max_batch_size: 1,
  };
  const s = cfg.ropeScaling;
  const modelConfig = qwen2
    ? { ...common, hidden_act: 'silu', rope_theta: cfg.ropeTheta, dtype: 'float32' }
    : {
        ...common, position_embedding_base: cfg.ropeTheta, pipeline_parallel_stages: 1, disaggregation: false,
        rope_scaling: s && { rope_type: 'llama3', factor: s.factor, low_freq_factor: s.lowFreqFactor, high_freq_factor: s.highFreqFactor, original_max_position_embeddings: s.originalMaxPositionEmbeddings },
      };
  return {
    version: '0.1.0',
    model_type: cfg.architecture,
    quantization: cfg.quantization,
    model_config: modelConfig,
    vocab_size: cfg.vocabSize,
    context_window_size: contextWindowSize,
    sliding_window_size: -1,
    prefill_chunk_size: prefillChunkSize,
    attention_sink_size: -1,
    tensor_parallel_shards: 1,
    pipeline_parallel_stages: 1,
    temperature: 0,
    presence_penalty: 0,
    frequency_penalty: 0,
    repetition_penalty: 1,
    top_p: 1,
    tokenizer_files: ['tokenizer.json'],
    tokenizer_info: { token_postproc_method: 'byte_level', prepend_space_in_encode: false, strip_space_in_decode: false },
    conv_template: {
      name: 'chatml', system_template: '<|im_start|>system\n{system_message}<|im_end|>\n', system_message: '',
      add_role_after_system_message: true, roles: { user: '<|im_start|>user', assistant: '<|im_start|>assistant' },
      role_templates: { user: '{user_message}', assistant: '{assistant_message}', tool: '{tool_message}' },
      messages: [], seps: ['<|im_end|>\n'], role_content_sep: '\n', role_empty_sep: '\n',
      stop_str: ['<|im_end|>'], stop_token_ids: [258], function_string: '', use_function_calling: false,
    },
    pad_token_id: 256,
    bos_token_id: 256,
    eos_token_id: [258],
  };
}
