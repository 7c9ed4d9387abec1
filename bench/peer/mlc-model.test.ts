// The peer model's layout helpers: metadata read out of a model library's bytes, kvchat's tensor
// list for the Qwen2-0.5B q4f32_1 shape the v0_2_48 library was compiled for, and tvmjs sharding.
import { describe, expect, it } from 'vitest';
import { QWEN2_5_0_5B } from '../synthetic';
import {
  bf16Bits, chatConfigJson, kvchatParams, layoutMismatches, libraryMetadata, planShards, randomParamBytes, storedBytes,
  tensorCacheJson, type ParamSpec,
} from './mlc-model';
import { xorshift32 } from '../random';

const QWEN2_Q4F32 = { ...QWEN2_5_0_5B, quantization: 'q4f32_1' as const };

/** The first and last parameters of Qwen2-0.5B-Instruct-q4f32_1-ctx4k_cs1k-webgpu.wasm's metadata. */
const LIBRARY_HEAD: ParamSpec[] = [
  { name: 'model.embed_tokens.q_weight', shape: [151936, 112], dtype: 'uint32' },
  { name: 'model.embed_tokens.q_scale', shape: [151936, 28], dtype: 'float32' },
  { name: 'model.layers.0.self_attn.c_attn.q_weight', shape: [1152, 112], dtype: 'uint32' },
  { name: 'model.layers.0.self_attn.c_attn.q_scale', shape: [1152, 28], dtype: 'float32' },
  { name: 'model.layers.0.self_attn.c_attn.bias', shape: [1152], dtype: 'float32' },
  { name: 'model.layers.0.self_attn.o_proj.q_weight', shape: [896, 112], dtype: 'uint32' },
  { name: 'model.layers.0.self_attn.o_proj.q_scale', shape: [896, 28], dtype: 'float32' },
  { name: 'model.layers.0.mlp.gate_up_proj.q_weight', shape: [9728, 112], dtype: 'uint32' },
  { name: 'model.layers.0.mlp.gate_up_proj.q_scale', shape: [9728, 28], dtype: 'float32' },
  { name: 'model.layers.0.mlp.down_proj.q_weight', shape: [896, 608], dtype: 'uint32' },
  { name: 'model.layers.0.mlp.down_proj.q_scale', shape: [896, 152], dtype: 'float32' },
  { name: 'model.layers.0.input_layernorm.weight', shape: [896], dtype: 'float32' },
  { name: 'model.layers.0.post_attention_layernorm.weight', shape: [896], dtype: 'float32' },
];

function fakeLibrary(metadata: object): Uint8Array {
  const json = JSON.stringify(metadata);
  const bytes = new Uint8Array(64 + json.length + 64);
  bytes.set([0x00, 0x61, 0x73, 0x6d, 0x7b, 0x7d]); // "\0asm{}" then binary noise before the JSON
  bytes.set(new TextEncoder().encode(json), 64);
  bytes.set([0x7d, 0xff, 0x00], 64 + json.length + 1);
  return bytes;
}

describe('libraryMetadata', () => {
  it('reads the compiled-in metadata, braces inside strings included', () => {
    const wasm = fakeLibrary({
      model_type: 'qwen2', quantization: 'q4f32_1', context_window_size: 4096, prefill_chunk_size: 1024, kv_state_kind: 'kv_cache',
      params: [{ name: 'a}{', shape: [2, 3], dtype: 'uint32', preprocs: [] }],
    });
    expect(libraryMetadata(wasm)).toEqual({
      modelType: 'qwen2', quantization: 'q4f32_1', contextWindowSize: 4096, prefillChunkSize: 1024,
      params: [{ name: 'a}{', shape: [2, 3], dtype: 'uint32' }],
    });
  });

  it('says what is wrong with a file that has no metadata', () => {
    expect(() => libraryMetadata(new Uint8Array([0, 0x61, 0x73, 0x6d]))).toThrow(/no \{"model_type"/);
  });
});

describe('kvchatParams', () => {
  it('names and shapes every Qwen2-0.5B q4f32_1 tensor as the web-llm library does', () => {
    const ours = kvchatParams(QWEN2_Q4F32);
    // 2 embedding tensors, 11 per layer (4 q4 linears, the qkv bias, 2 norms), the final norm; no lm_head (tied).
    expect(ours).toHaveLength(2 + 24 * 11 + 1);
    const byName = new Map(ours.map((p) => [p.name, p]));
    for (const p of LIBRARY_HEAD) expect(byName.get(p.name), p.name).toEqual(p);
    expect(byName.get('model.layers.23.mlp.down_proj.q_scale')).toEqual({ name: 'model.layers.23.mlp.down_proj.q_scale', shape: [896, 152], dtype: 'float32' });
    expect(byName.get('model.norm.weight')).toEqual({ name: 'model.norm.weight', shape: [896], dtype: 'float32' });
  });

  it('finds tensors missing on either side and shape or dtype differences', () => {
    const ours = kvchatParams(QWEN2_Q4F32);
    expect(layoutMismatches(ours, ours)).toEqual([]);
    const library = [...ours.slice(1), { name: 'lm_head.q_weight', shape: [1, 1], dtype: 'uint32' as const }];
    library[0] = { ...library[0], shape: [151936, 27] };
    expect(layoutMismatches(library, ours)).toEqual([
      'model.embed_tokens.q_scale: library float32 [151936, 27], kvchat float32 [151936, 28]',
      'lm_head.q_weight: in the library, not read by kvchat',
      'model.embed_tokens.q_weight: read by kvchat, not in the library',
    ]);
  });
});

describe('planShards', () => {
  const p = (name: string, elements: number, dtype: ParamSpec['dtype'] = 'uint32'): ParamSpec => ({ name, shape: [elements], dtype });

  it('fills shards up to the cap and gives big records a shard of their own', () => {
    // Cap 100 bytes: a 60-byte record (>= half the cap) goes alone without closing the open shard.
    const shards = planShards([p('a', 5), p('b', 10), p('big', 15), p('c', 10), p('d', 5, 'float32')], 100);
    expect(shards.map((s) => [s.dataPath, s.nbytes, s.records.map((r) => `${r.name}@${r.byteOffset}`)])).toEqual([
      ['params_shard_0.bin', 60, ['big@0']],
      ['params_shard_1.bin', 60, ['a@0', 'b@20']],
      ['params_shard_2.bin', 50, ['c@0', 'd@40']],
    ]);
    expect(shards[2].records[1]).toMatchObject({ format: 'f32-to-bf16', nbytes: 10, dtype: 'float32' });
  });

  it('stores float32 as bf16 and covers every parameter of the real model once', () => {
    const params = kvchatParams(QWEN2_Q4F32);
    const shards = planShards(params);
    const records = shards.flatMap((s) => s.records);
    expect(records.map((r) => r.name).sort()).toEqual(params.map((q) => q.name).sort());
    for (const s of shards) expect(s.nbytes).toBe(s.records.reduce((n, r) => n + r.nbytes, 0));
    expect(storedBytes({ name: 'x', shape: [3, 4], dtype: 'float32' })).toBe(24);
    // ParamBytes counts the bytes the tensors have once decoded (f32 at 4 bytes), as MLC writes it.
    expect(tensorCacheJson(params, shards)).toEqual({ metadata: { ParamSize: 267, ParamBytes: 309011968 }, records: shards });
  });
});

describe('randomParamBytes', () => {
  it('writes q4 codes, constant group scales, unit norms and zero biases of the stored size', () => {
    const random = xorshift32(1);
    const scale = randomParamBytes({ name: 'l.q_scale', shape: [2, 28], dtype: 'float32' }, random);
    expect(new Uint16Array(scale.buffer)).toEqual(new Uint16Array(56).fill(bf16Bits(1 / (4.6 * Math.sqrt(896)))));
    expect(new Uint16Array(randomParamBytes({ name: 'model.norm.weight', shape: [4], dtype: 'float32' }, random).buffer)).toEqual(new Uint16Array(4).fill(0x3f80));
    expect(randomParamBytes({ name: 'x.bias', shape: [4], dtype: 'float32' }, random)).toEqual(new Uint8Array(8));
    const codes = randomParamBytes({ name: 'l.q_weight', shape: [2, 4], dtype: 'uint32' }, random);
    expect(codes.byteLength).toBe(32);
    expect(new Set(codes).size).toBeGreaterThan(8);
    const dense = new Uint16Array(randomParamBytes({ name: 'l.weight', shape: [64, 64], dtype: 'float32' }, random).buffer);
    const values = Array.from(dense, (h) => new Float32Array(new Uint32Array([h << 16]).buffer)[0]);
    expect(Math.max(...values.map(Math.abs))).toBeLessThanOrEqual(Math.sqrt(3 / 64) * 1.01);
  });
});

describe('chatConfigJson', () => {
  it('asks both engines for greedy decoding over the configured context', () => {
    const config = chatConfigJson(QWEN2_Q4F32, 32768, 1024) as Record<string, unknown>;
    expect(config).toMatchObject({ model_type: 'qwen2', quantization: 'q4f32_1', context_window_size: 32768, prefill_chunk_size: 1024, temperature: 0, top_p: 1, repetition_penalty: 1 });
    expect(config.model_config).toMatchObject({ hidden_size: 896, num_hidden_layers: 24, num_key_value_heads: 2, head_dim: 64, tie_word_embeddings: true });
  });
});
