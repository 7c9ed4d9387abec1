// Writes kvchat's tiny test models in the real MLC format (see docs/MODEL_FORMAT.md):
//   <out>/<fixture>/mlc-chat-config.json, tensor-cache.json, params_shard_*.bin, tokenizer.json
// Deterministic (seeded PRNG, no clocks, no Math transcendental functions): the bytes are identical
// on every run. Usage: node scripts/gen-fixtures.mjs [outDir]   (default public/fixtures)
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { bf16Bits, CODES_PER_WORD, GROUP_SIZE, groupQuantize, halfBits, ITEM_BYTES, roundTo, shardParams } from './mlc-format.mjs';

/** tvmjs.dump_tensor_cache's shard cap, in bytes; MLC uses 32 MB, the fixtures a few KB so that
 *  every model spans several shards (including tensors big enough to get a shard of their own). */
const SHARD_CAP_BYTES = 24 * 1024;
const TOKENIZER_SIZE = 480;

// ---------------------------------------------------------------------------------------------
// Numbers: the seeded PRNG (f16/bf16 rounding and q4 packing live in mlc-format.mjs)

/** mulberry32: a 32-bit seeded PRNG, uniform in [0, 1). */
function seededRandom(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function hashSeed(text) {
  let h = 2166136261;
  for (const ch of text) h = Math.imul(h ^ ch.charCodeAt(0), 16777619) >>> 0;
  return h;
}

// ---------------------------------------------------------------------------------------------
// Fixture definitions

const LLAMA3_TOKENS = ['<|begin_of_text|>', '<|end_of_text|>', '<|start_header_id|>', '<|end_header_id|>', '<|eot_id|>'];
const QWEN2_TOKENS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'];

/** mlc-llm conversation_template/llama.py "llama-3", special token ids mapped to the fixture's. */
function llama3Template(id) {
  return conversation({
    name: 'llama-3',
    system_template: '<|start_header_id|>system<|end_header_id|>\n\n{system_message}<|eot_id|>',
    system_message: 'You are a helpful, respectful and honest assistant.',
    system_prefix_token_ids: [id['<|begin_of_text|>']],
    add_role_after_system_message: true,
    roles: { user: '<|start_header_id|>user', assistant: '<|start_header_id|>assistant' },
    seps: ['<|eot_id|>'],
    role_content_sep: '<|end_header_id|>\n\n',
    role_empty_sep: '<|end_header_id|>\n\n',
    stop_str: ['<|end_of_text|>', '<|eot_id|>'],
    stop_token_ids: [id['<|end_of_text|>'], id['<|eot_id|>']],
  });
}

/** mlc-llm conversation_template/qwen2.py "qwen2" (chatml markup), ids mapped to the fixture's.
 *  Its stop_str is one string with a comma inside, exactly as mlc-llm ships it. */
function qwen2Template(id) {
  return conversation({
    name: 'qwen2',
    system_template: '<|im_start|>system\n{system_message}<|im_end|>\n',
    system_message: 'You are a helpful assistant.',
    add_role_after_system_message: true,
    roles: { user: '<|im_start|>user', assistant: '<|im_start|>assistant' },
    seps: ['<|im_end|>\n'],
    role_content_sep: '\n',
    role_empty_sep: '\n',
    stop_str: ['<|endoftext|>, <|im_end|>'],
    stop_token_ids: [id['<|endoftext|>'], id['<|im_end|>']],
  });
}

/** A Conversation as mlc-llm serialises it (pydantic model_dump, None fields left out). */
function conversation(t) {
  return {
    name: t.name,
    system_template: t.system_template,
    system_message: t.system_message,
    ...(t.system_prefix_token_ids ? { system_prefix_token_ids: t.system_prefix_token_ids } : {}),
    add_role_after_system_message: t.add_role_after_system_message,
    roles: t.roles,
    role_templates: { user: '{user_message}', assistant: '{assistant_message}', tool: '{tool_message}' },
    messages: [],
    seps: t.seps,
    role_content_sep: t.role_content_sep,
    role_empty_sep: t.role_empty_sep,
    stop_str: t.stop_str,
    stop_token_ids: t.stop_token_ids,
    function_string: '',
    use_function_calling: false,
  };
}

const LLAMA3_ROPE_SCALING = {
  factor: 32.0,
  high_freq_factor: 4.0,
  low_freq_factor: 1.0,
  original_max_position_embeddings: 8192,
  rope_type: 'llama3',
};

export const FIXTURES = {
  'llama-q4f16': {
    modelType: 'llama', quantization: 'q4f16_1', specialTokens: LLAMA3_TOKENS, template: llama3Template,
    hidden: 64, layers: 2, heads: 4, kvHeads: 2, headDim: 16, intermediate: 128, vocab: 512,
    tied: false, ropeTheta: 500000, ropeScaling: LLAMA3_ROPE_SCALING, rmsNormEps: 1e-5,
    generation: { temperature: 0.6, top_p: 0.9, repetition_penalty: 1.0, pad: 0, bos: '<|begin_of_text|>', eos: ['<|end_of_text|>', '<|eot_id|>'] },
  },
  'qwen2-q4f32': {
    modelType: 'qwen2', quantization: 'q4f32_1', specialTokens: QWEN2_TOKENS, template: qwen2Template,
    hidden: 64, layers: 2, heads: 4, kvHeads: 2, headDim: 16, intermediate: 128, vocab: 512,
    tied: true, ropeTheta: 1000000, ropeScaling: null, rmsNormEps: 1e-6,
    generation: { temperature: 0.7, top_p: 0.8, repetition_penalty: 1.05, pad: '<|endoftext|>', bos: '<|endoftext|>', eos: ['<|im_end|>', '<|endoftext|>'] },
  },
  // Head dimension 64 like Llama-3.2-1B, so every KIVI group size up to 64 applies (values are
  // quantized in groups of G channels, G <= head dim).
  'llama-d64-q4f16': {
    modelType: 'llama', quantization: 'q4f16_1', specialTokens: LLAMA3_TOKENS, template: llama3Template,
    hidden: 128, layers: 2, heads: 2, kvHeads: 1, headDim: 64, intermediate: 256, vocab: 512,
    tied: false, ropeTheta: 500000, ropeScaling: LLAMA3_ROPE_SCALING, rmsNormEps: 1e-5,
    generation: { temperature: 0.6, top_p: 0.9, repetition_penalty: 1.0, pad: 0, bos: '<|begin_of_text|>', eos: ['<|end_of_text|>', '<|eot_id|>'] },
  },
  'llama-q0f32': {
    modelType: 'llama', quantization: 'q0f32', specialTokens: LLAMA3_TOKENS, template: llama3Template,
    hidden: 64, layers: 2, heads: 2, kvHeads: 1, headDim: 32, intermediate: 96, vocab: 512,
    tied: false, ropeTheta: 10000, ropeScaling: null, rmsNormEps: 1e-5,
    generation: { temperature: 0.6, top_p: 0.9, repetition_penalty: 1.0, pad: 0, bos: '<|begin_of_text|>', eos: ['<|end_of_text|>', '<|eot_id|>'] },
  },
};

const QUANTIZATIONS = {
  q4f16_1: { grouped: true, modelDtype: 'float16' },
  q4f32_1: { grouped: true, modelDtype: 'float32' },
  q0f32: { grouped: false, modelDtype: 'float32' },
};

// ---------------------------------------------------------------------------------------------
// Tokenizer: byte-level BPE trained on a small English text

const CORPUS = `
The assistant is a helpful friend. When the user asks a question, the assistant thinks about what
the user wants and then gives a short answer that is clear and true. Hello! How are you today?
I am fine, thank you. What would you like to talk about? Tell me about the weather in the city.
It is sunny and warm this morning, but there will be rain in the evening. The children are
playing in the park near the river, and their parents are reading books under the trees.
We should remember that every story has a beginning, a middle and an end. Please write a list of
things to do: buy bread, call mother, finish the report, and walk the dog before dinner.
Can you explain how a computer works? A computer reads instructions from memory and runs them
one after another. The model generates text one token at a time, and each token is a piece of a
word. This is the first line of the conversation, and this is the second one. Thank you for
helping me with this work; I could not have done it without you. The system message sets the
rules for the conversation between the user and the assistant.
`;

/** GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest to code points from 256. */
function bytesToUnicode() {
  const printable = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const map = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) map[b] = String.fromCodePoint(printable.includes(b) ? b : 256 + extra++);
  return map;
}

/** The GPT-2 pre-tokenizer pattern (the one ByteLevel's use_regex applies). */
const GPT2_SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** Greedy BPE training: merge the most frequent adjacent pair (ties: smallest pair string) until
 *  the merges have produced `newTokens` distinct tokens. */
function trainMerges(newTokens) {
  const byteChar = bytesToUnicode();
  const encoder = new TextEncoder();
  const wordCounts = new Map();
  for (const piece of CORPUS.replace(/\s+/g, ' ').trim().match(GPT2_SPLIT)) {
    const word = Array.from(encoder.encode(piece), (b) => byteChar[b]).join('\u0000');
    wordCounts.set(word, (wordCounts.get(word) ?? 0) + 1);
  }
  let words = [...wordCounts].map(([w, count]) => ({ symbols: w.split('\u0000'), count }));
  const merges = [];
  const produced = new Set();
  while (produced.size < newTokens) {
    const pairCounts = new Map();
    for (const { symbols, count } of words) {
      for (let i = 0; i + 1 < symbols.length; i++) {
        const key = `${symbols[i]} ${symbols[i + 1]}`;
        pairCounts.set(key, (pairCounts.get(key) ?? 0) + count);
      }
    }
    let best = null;
    let bestCount = 0;
    for (const [key, count] of pairCounts) {
      if (count > bestCount || (count === bestCount && key < best)) [best, bestCount] = [key, count];
    }
    if (best === null) throw new Error('gen-fixtures: the corpus is too small for the requested merges');
    merges.push(best);
    const [left, right] = best.split(' ');
    produced.add(left + right);
    words = words.map(({ symbols, count }) => {
      const merged = [];
      for (let i = 0; i < symbols.length; i++) {
        if (i + 1 < symbols.length && symbols[i] === left && symbols[i + 1] === right) {
          merged.push(left + right);
          i++;
        } else merged.push(symbols[i]);
      }
      return { symbols: merged, count };
    });
  }
  return merges;
}

/** A Hugging Face tokenizer.json: the 256 byte tokens in byte order (ids 0..255), one token per
 *  new merge result, then the special tokens as added_tokens, TOKENIZER_SIZE tokens in all.
 *  Special tokens come last, as in Llama 3 and Qwen2: the tokenizers build inside
 *  @mlc-ai/web-tokenizers numbers added tokens from the end of the model vocabulary whatever ids
 *  the file gives them, so any other placement would change their ids on load. */
function buildTokenizer(specialTokens) {
  const byteChar = bytesToUnicode();
  const vocab = {};
  let nextId = 0;
  for (let b = 0; b < 256; b++) vocab[byteChar[b]] = nextId++;
  const merges = trainMerges(TOKENIZER_SIZE - specialTokens.length - nextId);
  for (const merge of merges) {
    const token = merge.replace(' ', '');
    if (!(token in vocab)) vocab[token] = nextId++;
  }
  const firstSpecial = nextId;
  const ids = Object.fromEntries(specialTokens.map((content, i) => [content, firstSpecial + i]));
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  const json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specialTokens.map((content, i) => ({
      id: firstSpecial + i, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
    })),
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: { ...byteLevel, trim_offsets: false },
    decoder: byteLevel,
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: false, byte_fallback: false, vocab, merges,
    },
  };
  return { json, ids, size: firstSpecial + specialTokens.length };
}

// ---------------------------------------------------------------------------------------------
// Weights

/** Values of one HF-style float tensor, uniform in [-amplitude, amplitude] (+ offset). */
function uniform(random, count, amplitude, offset = 0) {
  const values = new Float64Array(count);
  for (let i = 0; i < count; i++) values[i] = offset + (2 * random() - 1) * amplitude;
  return values;
}

/** A parameter as the model holds it, before the tensor cache's storage encoding. */
function floatParam(name, shape, dtype, values) {
  return { name, shape, dtype, values };
}

/** Parameters in the order mlc-llm's export_tvm lists them (module attribute order). */
function buildParams(spec) {
  const random = seededRandom(hashSeed(spec.name));
  const { grouped, modelDtype } = QUANTIZATIONS[spec.quantization];
  const params = [];
  const linear = (prefix, outDim, inDim, values, bias) => {
    if (grouped) {
      const { qWeight, scale } = groupQuantize(values, outDim, inDim, modelDtype);
      params.push({ name: `${prefix}.q_weight`, shape: [outDim, inDim / CODES_PER_WORD], dtype: 'uint32', words: qWeight });
      params.push(floatParam(`${prefix}.q_scale`, [outDim, inDim / GROUP_SIZE], modelDtype, scale));
    } else {
      params.push(floatParam(`${prefix}.weight`, [outDim, inDim], modelDtype, values));
    }
    if (bias) params.push(floatParam(`${prefix}.bias`, [outDim], modelDtype, bias));
  };
  // Uniform on [-a, a] has std a / sqrt(3): a = sqrt(3 / inDim) gives std 1 / sqrt(inDim).
  const dense = (outDim, inDim) => uniform(random, outDim * inDim, Math.sqrt(3 / inDim));
  const norm = () => uniform(random, spec.hidden, 0.1, 1);
  const qkvRows = (spec.heads + 2 * spec.kvHeads) * spec.headDim;

  // Embedding rows with std 1; when lm_head is the embedding itself, std 2 / sqrt(hidden) instead so
  // that logits (normed hidden state . row) stay within a few units.
  const embedStd = spec.tied ? 2 / Math.sqrt(spec.hidden) : 1;
  linear('model.embed_tokens', spec.vocab, spec.hidden, uniform(random, spec.vocab * spec.hidden, Math.sqrt(3) * embedStd), null);
  for (let i = 0; i < spec.layers; i++) {
    const p = `model.layers.${i}`;
    // qwen2 names its fused [q; k; v] projection c_attn (qwen2_model.py), llama qkv_proj.
    const qkvName = spec.modelType === 'qwen2' ? `${p}.self_attn.c_attn` : `${p}.self_attn.qkv_proj`;
    linear(qkvName, qkvRows, spec.hidden, dense(qkvRows, spec.hidden), spec.modelType === 'qwen2' ? uniform(random, qkvRows, 0.5) : null);
    linear(`${p}.self_attn.o_proj`, spec.hidden, spec.heads * spec.headDim, dense(spec.hidden, spec.heads * spec.headDim), null);
    linear(`${p}.mlp.gate_up_proj`, 2 * spec.intermediate, spec.hidden, dense(2 * spec.intermediate, spec.hidden), null);
    linear(`${p}.mlp.down_proj`, spec.hidden, spec.intermediate, dense(spec.hidden, spec.intermediate), null);
    params.push(floatParam(`${p}.input_layernorm.weight`, [spec.hidden], modelDtype, norm()));
    params.push(floatParam(`${p}.post_attention_layernorm.weight`, [spec.hidden], modelDtype, norm()));
  }
  params.push(floatParam('model.norm.weight', [spec.hidden], modelDtype, norm()));
  if (!spec.tied) linear('lm_head', spec.vocab, spec.hidden, dense(spec.vocab, spec.hidden), null);
  return params;
}

/** The bytes a tensor-cache record stores (convert_weight dumps with encode_format "f32-to-bf16":
 *  float32 tensors become bf16, everything else is written as is) and the bytes a loader hands
 *  out after decoding (float32 tensors widened back from bf16). */
function encodeParam(param) {
  const count = param.shape.reduce((a, b) => a * b, 1);
  if (param.dtype === 'uint32') {
    const bytes = new Uint8Array(param.words.buffer.slice(0));
    return { stored: bytes, decoded: bytes };
  }
  if (param.dtype === 'float16') {
    const halves = Uint16Array.from(param.values, halfBits);
    const bytes = new Uint8Array(halves.buffer);
    return { stored: bytes, decoded: bytes };
  }
  const halves = new Uint16Array(count);
  const widened = new Uint32Array(count);
  for (let i = 0; i < count; i++) {
    halves[i] = bf16Bits(param.values[i]);
    widened[i] = halves[i] << 16;
  }
  return { stored: new Uint8Array(halves.buffer), decoded: new Uint8Array(widened.buffer) };
}



/** Parameter count of the source (unquantized, unfused) checkpoint, for BitsPerParam. */
function sourceParamCount(spec) {
  const qkvRows = (spec.heads + 2 * spec.kvHeads) * spec.headDim;
  const perLayer =
    qkvRows * spec.hidden + (spec.modelType === 'qwen2' ? qkvRows : 0) +
    spec.hidden * spec.heads * spec.headDim + 3 * spec.intermediate * spec.hidden + 2 * spec.hidden;
  return spec.vocab * spec.hidden * (spec.tied ? 1 : 2) + spec.layers * perLayer + spec.hidden;
}

// ---------------------------------------------------------------------------------------------
// mlc-chat-config.json

function modelConfig(spec) {
  if (spec.modelType === 'qwen2') {
    // QWen2Config fields in declaration order (ConfigBase.asdict drops kwargs).
    return {
      hidden_act: 'silu', hidden_size: spec.hidden, intermediate_size: spec.intermediate,
      num_attention_heads: spec.heads, num_hidden_layers: spec.layers, num_key_value_heads: spec.kvHeads,
      rms_norm_eps: spec.rmsNormEps, rope_theta: spec.ropeTheta, vocab_size: spec.vocab,
      tie_word_embeddings: spec.tied, context_window_size: 2048, prefill_chunk_size: 32,
      tensor_parallel_shards: 1, head_dim: spec.headDim, dtype: 'float32', max_batch_size: 1,
    };
  }
  // LlamaConfig fields in declaration order; rope_theta arrives as position_embedding_base.
  return {
    hidden_size: spec.hidden, intermediate_size: spec.intermediate, num_attention_heads: spec.heads,
    num_hidden_layers: spec.layers, rms_norm_eps: spec.rmsNormEps, vocab_size: spec.vocab,
    tie_word_embeddings: spec.tied, position_embedding_base: spec.ropeTheta, rope_scaling: spec.ropeScaling,
    context_window_size: 2048, prefill_chunk_size: 32, num_key_value_heads: spec.kvHeads, head_dim: spec.headDim,
    tensor_parallel_shards: 1, pipeline_parallel_stages: 1, max_batch_size: 1, disaggregation: false,
  };
}

/** MLCChatConfig in its field order, as `mlc_llm gen_config` dumps it. */
function chatConfig(spec, tokenizer) {
  const id = tokenizer.ids;
  const tokenId = (t) => (typeof t === 'number' ? t : id[t]);
  const g = spec.generation;
  return {
    version: '0.1.0',
    model_type: spec.modelType,
    quantization: spec.quantization,
    model_config: modelConfig(spec),
    vocab_size: spec.vocab,
    context_window_size: 2048,
    sliding_window_size: -1,
    prefill_chunk_size: 32,
    attention_sink_size: -1,
    tensor_parallel_shards: 1,
    pipeline_parallel_stages: 1,
    active_vocab_size: tokenizer.size,
    temperature: g.temperature,
    presence_penalty: 0.0,
    frequency_penalty: 0.0,
    repetition_penalty: g.repetition_penalty,
    top_p: g.top_p,
    tokenizer_files: ['tokenizer.json'],
    tokenizer_info: { token_postproc_method: 'byte_level', prepend_space_in_encode: false, strip_space_in_decode: false },
    conv_template: spec.template(id),
    pad_token_id: tokenId(g.pad),
    bos_token_id: tokenId(g.bos),
    eos_token_id: g.eos.map(tokenId),
  };
}

// ---------------------------------------------------------------------------------------------
// Assembly

const jsonBytes = (value, indent) => new TextEncoder().encode(`${JSON.stringify(value, null, indent)}\n`);

/**
 * One fixture in memory: `files` maps file names to their bytes; `tensors` lists every tensor as a
 * loader should hand it out (float32 records decoded from bf16), in manifest order.
 */
export function buildFixture(name) {
  const spec = { name, ...FIXTURES[name] };
  const tokenizer = buildTokenizer(spec.specialTokens);
  const params = buildParams(spec);
  const encoded = params.map((param) => ({ param, ...encodeParam(param) }));
  const shards = shardParams(encoded, SHARD_CAP_BYTES);
  // ParamBytes counts the model dtype's width (4 bytes for float32), not the bf16 storage.
  const paramBytes = params.reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1) * ITEM_BYTES[p.dtype], 0);
  const manifest = {
    metadata: { ParamSize: params.length, ParamBytes: paramBytes, BitsPerParam: (paramBytes * 8) / sourceParamCount(spec) },
    records: shards.map(({ data, ...record }) => record),
  };
  const files = new Map([
    ['mlc-chat-config.json', jsonBytes(chatConfig(spec, tokenizer), 2)],
    ['tensor-cache.json', jsonBytes(manifest, 4)],
    ['tokenizer.json', jsonBytes(tokenizer.json, 2)],
    ...shards.map((s) => [s.dataPath, s.data]),
  ]);
  const byName = new Map(encoded.map(({ param, decoded }) => [param.name, { name: param.name, dtype: param.dtype, shape: param.shape, bytes: decoded }]));
  const tensors = shards.flatMap((shard) => shard.records.map((record) => byName.get(record.name)));
  return { files, tensors };
}

export function writeFixtures(outDir) {
  for (const name of Object.keys(FIXTURES)) {
    const dir = join(outDir, name);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    for (const [file, bytes] of buildFixture(name).files) writeFileSync(join(dir, file), bytes);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
  const outDir = resolve(process.argv[2] ?? join(root, 'public', 'fixtures'));
  writeFixtures(outDir);
  console.log(`gen-fixtures: wrote ${Object.keys(FIXTURES).join(', ')} to ${outDir}`);
}
