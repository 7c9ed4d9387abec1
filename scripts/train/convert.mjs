// Converts a checkpoint written by scripts/train/train.py into an MLC model folder that kvchat
// (and web-llm) load: mlc-chat-config.json, tensor-cache.json, params_shard_*.bin, tokenizer.json.
//
//   node scripts/train/convert.mjs <checkpointDir> <outDir> [q4f16_1|q0f32]   (default q4f16_1)
//
// <checkpointDir> holds ckpt.json (hyper-parameters and tensor index), ckpt_*.bin (fp16 weights,
// MLC names with ".weight", fused qkv_proj / gate_up_proj already) and tokenizer.json.
// q4f16_1 quantizes every linear and the embedding (GroupQuantize, group 32, "NK") and keeps norms
// in float16; q0f32 keeps every tensor as float32, stored as bf16 like mlc_llm convert_weight does.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CODES_PER_WORD, GROUP_SIZE, MLC_SHARD_CAP_BYTES, groupQuantize, halfValue, llama3Template, llamaChatConfig,
  shardParams, storedBytes, tensorCacheManifest,
} from '../mlc-format.mjs';

/** Must equal SYSTEM_MESSAGE in scripts/train/prep_corpus.py: the chats were trained with it. */
const SYSTEM_MESSAGE = 'You are a helpful assistant.';
/** Sampling defaults: a small model wanders at higher temperatures. */
const GENERATION = { temperature: 0.5, top_p: 0.9, repetition_penalty: 1.05, prefill_chunk_size: 512 };
const QUANTIZATIONS = { q4f16_1: { grouped: true, dtype: 'float16' }, q0f32: { grouped: false, dtype: 'float32' } };

const HALF_TABLE = Float64Array.from({ length: 65536 }, (_, bits) => halfValue(bits));

function readCheckpoint(dir) {
  const meta = JSON.parse(readFileSync(join(dir, 'ckpt.json'), 'utf8'));
  const files = new Map();
  const tensors = meta.tensors.map((t) => {
    if (!files.has(t.file)) files.set(t.file, readFileSync(join(dir, t.file)));
    const bytes = files.get(t.file);
    const halves = new Uint16Array(bytes.buffer.slice(bytes.byteOffset + t.byteOffset, bytes.byteOffset + t.byteOffset + t.nbytes));
    return { name: t.name, shape: t.shape, values: Float64Array.from(halves, (h) => HALF_TABLE[h]) };
  });
  return { meta, tensors };
}

/** The trained tokenizer rewritten in the fixtures' shape (docs/MODEL_FORMAT.md): merges as
 *  "left right" strings, which every tokenizers version reads (newer ones write [left, right]),
 *  and only the fields the web-tokenizers build knows. */
function portableTokenizer(json) {
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  const m = json.model;
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: json.added_tokens.map(({ id, content }) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: { ...byteLevel, trim_offsets: false },
    decoder: byteLevel,
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: false, byte_fallback: false, vocab: m.vocab, merges: m.merges.map((merge) => (Array.isArray(merge) ? merge.join(' ') : merge)),
    },
  };
}

/** MLC parameters in checkpoint order (which is mlc-llm's module order). */
function mlcParams(tensors, quantization) {
  const { grouped, dtype } = QUANTIZATIONS[quantization];
  const params = [];
  for (const { name, shape, values } of tensors) {
    if (shape.length === 2 && grouped) {
      const [rows, cols] = shape;
      const prefix = name.replace(/\.weight$/, '');
      const { qWeight, scale } = groupQuantize(values, rows, cols, dtype);
      params.push({ name: `${prefix}.q_weight`, shape: [rows, cols / CODES_PER_WORD], dtype: 'uint32', words: qWeight });
      params.push({ name: `${prefix}.q_scale`, shape: [rows, cols / GROUP_SIZE], dtype, values: scale });
    } else {
      params.push({ name, shape, dtype, values });
    }
  }
  return params;
}

function convert(checkpointDir, outDir, quantization) {
  if (!QUANTIZATIONS[quantization]) throw new Error(`convert: quantization "${quantization}" is not one of ${Object.keys(QUANTIZATIONS).join(', ')}`);
  const { meta, tensors } = readCheckpoint(checkpointDir);
  const tokenizer = portableTokenizer(JSON.parse(readFileSync(join(checkpointDir, 'tokenizer.json'), 'utf8')));
  const id = Object.fromEntries(tokenizer.added_tokens.map((t) => [t.content, t.id]));
  const params = mlcParams(tensors, quantization);
  const shards = shardParams(params.map((param) => ({ param, stored: storedBytes(param) })), MLC_SHARD_CAP_BYTES);
  const chatConfig = llamaChatConfig(meta.model, quantization, {
    ...GENERATION,
    conv_template: llama3Template(id, SYSTEM_MESSAGE),
    bos_token_id: id['<|begin_of_text|>'],
    eos_token_id: [id['<|end_of_text|>'], id['<|eot_id|>']],
  });
  const json = (value, indent) => `${JSON.stringify(value, null, indent)}\n`;
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'mlc-chat-config.json'), json(chatConfig, 2));
  writeFileSync(join(outDir, 'tensor-cache.json'), json(tensorCacheManifest(params, shards, meta.parameters), 4));
  writeFileSync(join(outDir, 'tokenizer.json'), json(tokenizer, 2));
  for (const shard of shards) writeFileSync(join(outDir, shard.dataPath), shard.data);
  return { params: params.length, bytes: shards.reduce((n, s) => n + s.nbytes, 0) };
}

const [checkpointDir, outDir, quantization = 'q4f16_1'] = process.argv.slice(2);
if (!checkpointDir || !outDir) {
  console.error('usage: node scripts/train/convert.mjs <checkpointDir> <outDir> [q4f16_1|q0f32]');
  process.exit(2);
}
const { params, bytes } = convert(checkpointDir, outDir, quantization);
console.log(`convert: ${params} tensors, ${(bytes / 1e6).toFixed(2)} MB of shards (${quantization}) in ${outDir}`);
