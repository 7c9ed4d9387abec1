// Writing models in MLC's format (docs/MODEL_FORMAT.md): f16/bf16 rounding, q4 group quantization
// and packing, tensor-cache.json sharding, the llama-3 conversation template and the
// mlc-chat-config.json of a llama model. Used by scripts/train/convert.mjs and the fixture
// generator (scripts/gen-fixtures.mjs).
import { createHash } from 'node:crypto';

export const GROUP_SIZE = 32;
export const CODES_PER_WORD = 8;
const MAX_INT4 = 7;
/** tvmjs.dump_tensor_cache's shard cap in mlc_llm convert_weight: 32 MB. */
export const MLC_SHARD_CAP_BYTES = 32 * 1024 * 1024;

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** IEEE binary16 bits of a value, round to nearest even. */
export function halfBits(value) {
  f32Scratch[0] = value;
  const x = u32Scratch[0];
  const sign = (x >>> 16) & 0x8000;
  const exponent = ((x >>> 23) & 0xff) - 127 + 15;
  let mantissa = x & 0x7fffff;
  if (((x >>> 23) & 0xff) === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  if (exponent >= 0x1f) return sign | 0x7c00;
  if (exponent <= 0) {
    if (exponent < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - exponent;
    let half = mantissa >>> shift;
    const rest = mantissa & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && half & 1)) half++;
    return sign | half;
  }
  let half = (exponent << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++;
  return sign | half;
}

export function halfValue(bits) {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa ? NaN : sign * Infinity;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** Rounds to the model dtype, as arithmetic in that dtype would. */
export function roundTo(dtype, value) {
  return dtype === 'float16' ? halfValue(halfBits(value)) : Math.fround(value);
}

/** tvmjs's f32 -> bf16 encoding: round to nearest even on the top 16 bits of the f32. */
export function bf16Bits(value) {
  f32Scratch[0] = value;
  const bits = u32Scratch[0];
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

/** round() as TVM's tir.round lowers it (nearbyint: ties to even). */
function roundHalfEven(x) {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** GroupQuantize (NK layout) of a [rows, cols] weight, cols grouped by 32 along the input dim:
 *  scale = max|w| / 7, code = clamp(round(w / scale + 7), 0, 14), 8 codes per u32 (code j at
 *  bits 4j), arithmetic in the model dtype as mlc-llm's quantize function does it. */
export function groupQuantize(values, rows, cols, dtype) {
  const groups = cols / GROUP_SIZE;
  const qWeight = new Uint32Array(rows * (cols / CODES_PER_WORD));
  const scale = new Float64Array(rows * groups);
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < groups; g++) {
      let maxAbs = 0;
      for (let c = g * GROUP_SIZE; c < (g + 1) * GROUP_SIZE; c++) maxAbs = Math.max(maxAbs, Math.abs(roundTo(dtype, values[r * cols + c])));
      const s = roundTo(dtype, maxAbs / MAX_INT4);
      scale[r * groups + g] = s;
      for (let c = g * GROUP_SIZE; c < (g + 1) * GROUP_SIZE; c++) {
        const w = roundTo(dtype, values[r * cols + c]);
        // An all-zero group has scale 0: every code is the zero point, as w / 0 would clamp to it.
        const shifted = s === 0 ? MAX_INT4 : roundTo(dtype, roundTo(dtype, w / s) + MAX_INT4);
        const code = Math.min(Math.max(roundHalfEven(shifted), 0), 2 * MAX_INT4);
        qWeight[r * (cols / CODES_PER_WORD) + (c >> 3)] |= code << (4 * (c & 7));
      }
    }
  }
  return { qWeight, scale };
}

export const ITEM_BYTES = { uint32: 4, float16: 2, float32: 4 };

/** The bytes a tensor-cache record stores under encode_format "f32-to-bf16": float32 tensors
 *  become bf16, float16 and uint32 tensors are written as they are. A parameter is
 *  { name, shape, dtype, words } (uint32) or { name, shape, dtype, values } (floats). */
export function storedBytes(param) {
  if (param.dtype === 'uint32') return new Uint8Array(param.words.buffer.slice(0));
  const convert = param.dtype === 'float16' ? halfBits : bf16Bits;
  return new Uint8Array(Uint16Array.from(param.values, convert).buffer);
}

const md5 = (bytes) => createHash('md5').update(bytes).digest('hex');

function concat(chunks) {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}

/** tvmjs.dump_tensor_cache's sharding: records fill a shard until it would reach the cap; a record
 *  at least half the cap goes out of band into a shard of its own, without closing the open one.
 *  `encoded` is [{ param, stored }] in parameter order; returns shards with their bytes in `data`. */
export function shardParams(encoded, capBytes) {
  const shards = [];
  let pending = { records: [], chunks: [], nbytes: 0 };
  const commit = (records, chunks) => {
    const data = concat(chunks);
    shards.push({ dataPath: `params_shard_${shards.length}.bin`, format: 'raw-shard', nbytes: data.length, records, md5sum: md5(data), data });
  };
  for (const { param, stored } of encoded) {
    const record = { name: param.name, shape: param.shape, dtype: param.dtype, format: 'f32-to-bf16', nbytes: stored.length };
    if (pending.nbytes + stored.length >= capBytes) {
      if (stored.length * 2 >= capBytes) {
        commit([{ ...record, byteOffset: 0 }], [stored]);
        continue;
      }
      commit(pending.records, pending.chunks);
      pending = { records: [], chunks: [], nbytes: 0 };
    }
    pending.records.push({ ...record, byteOffset: pending.nbytes });
    pending.chunks.push(stored);
    pending.nbytes += stored.length;
  }
  if (pending.nbytes > 0) commit(pending.records, pending.chunks);
  return shards;
}

/** tensor-cache.json's object for the shards; `sourceParams` = parameter count of the checkpoint. */
export function tensorCacheManifest(params, shards, sourceParams) {
  const paramBytes = params.reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1) * ITEM_BYTES[p.dtype], 0);
  return {
    metadata: { ParamSize: params.length, ParamBytes: paramBytes, BitsPerParam: (paramBytes * 8) / sourceParams },
    records: shards.map(({ data, ...record }) => record),
  };
}

/** mlc-llm conversation_template/llama.py "llama-3" (Conversation.to_json_dict), with the model's
 *  own special token ids and system message. */
export function llama3Template(id, systemMessage) {
  return {
    name: 'llama-3',
    system_template: '<|start_header_id|>system<|end_header_id|>\n\n{system_message}<|eot_id|>',
    system_message: systemMessage,
    system_prefix_token_ids: [id['<|begin_of_text|>']],
    add_role_after_system_message: true,
    roles: { user: '<|start_header_id|>user', assistant: '<|start_header_id|>assistant' },
    role_templates: { user: '{user_message}', assistant: '{assistant_message}', tool: '{tool_message}' },
    messages: [],
    seps: ['<|eot_id|>'],
    role_content_sep: '<|end_header_id|>\n\n',
    role_empty_sep: '<|end_header_id|>\n\n',
    stop_str: ['<|end_of_text|>', '<|eot_id|>'],
    stop_token_ids: [id['<|end_of_text|>'], id['<|eot_id|>']],
    function_string: '',
    use_function_calling: false,
  };
}

/** MLCChatConfig of a llama model in `mlc_llm gen_config`'s field order. `m` holds the HF-style
 *  hyper-parameters (hidden_size, ..., rope_theta, context_window_size); `g` the generation
 *  defaults and token ids. */
export function llamaChatConfig(m, quantization, g) {
  return {
    version: '0.1.0',
    model_type: 'llama',
    quantization,
    model_config: {
      hidden_size: m.hidden_size, intermediate_size: m.intermediate_size, num_attention_heads: m.num_attention_heads,
      num_hidden_layers: m.num_hidden_layers, rms_norm_eps: m.rms_norm_eps, vocab_size: m.vocab_size,
      tie_word_embeddings: false, position_embedding_base: m.rope_theta, rope_scaling: null,
      context_window_size: m.context_window_size, prefill_chunk_size: g.prefill_chunk_size, num_key_value_heads: m.num_key_value_heads,
      head_dim: m.head_dim, tensor_parallel_shards: 1, pipeline_parallel_stages: 1, max_batch_size: 1, disaggregation: false,
    },
    vocab_size: m.vocab_size,
    context_window_size: m.context_window_size,
    sliding_window_size: -1,
    prefill_chunk_size: g.prefill_chunk_size,
    attention_sink_size: -1,
    tensor_parallel_shards: 1,
    pipeline_parallel_stages: 1,
    active_vocab_size: m.vocab_size,
    temperature: g.temperature,
    presence_penalty: 0.0,
    frequency_penalty: 0.0,
    repetition_penalty: g.repetition_penalty,
    top_p: g.top_p,
    tokenizer_files: ['tokenizer.json'],
    tokenizer_info: { token_postproc_method: 'byte_level', prepend_space_in_encode: false, strip_space_in_decode: false },
    conv_template: g.conv_template,
    pad_token_id: 0,
    bos_token_id: g.bos_token_id,
    eos_token_id: g.eos_token_id,
  };
}
