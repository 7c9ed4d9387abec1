import { beforeAll, describe, expect, it } from 'vitest';
import { ModelCorruptError, UnsupportedModelError } from '../errors';
import { parseModelConfig } from './config';
import { fixtureGenerator, type FixtureGenerator } from './testServer';

let generator: FixtureGenerator;
beforeAll(async () => {
  generator = await fixtureGenerator();
});

type Json = Record<string, any>;

function fixtureConfig(name: string): Json {
  return JSON.parse(new TextDecoder().decode(generator.buildFixture(name).files.get('mlc-chat-config.json'))) as Json;
}

/** A fixture config with `edit` applied to a deep copy. */
function edited(name: string, edit: (c: Json) => void): Json {
  const config = structuredClone(fixtureConfig(name));
  edit(config);
  return config;
}

describe('parseModelConfig', () => {
  it('maps the llama q4f16 fixture, Llama-3 RoPE scaling and template included', () => {
    const cfg = parseModelConfig(fixtureConfig('llama-q4f16'));
    expect(cfg).toMatchObject({
      architecture: 'llama', quantization: 'q4f16_1', hiddenSize: 64, intermediateSize: 128, numLayers: 2,
      numHeads: 4, numKvHeads: 2, headDim: 16, vocabSize: 512, rmsNormEps: 1e-5, ropeTheta: 500000,
      ropeScaling: { factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 },
      qkvBias: false, tieWordEmbeddings: false, contextWindowSize: 2048, prefillChunkSize: 32,
      bosTokenId: 475, stopTokenIds: [476, 479], temperature: 0.6, topP: 0.9, repetitionPenalty: 1,
    });
    expect(cfg.convTemplate).toMatchObject({ name: 'llama-3', system_prefix_token_ids: [475], seps: ['<|eot_id|>'], stop_token_ids: [476, 479] });
  });

  it('maps the qwen2 fixture: rope_theta, qkv bias, tied embeddings, eos list merged into the stops', () => {
    const cfg = parseModelConfig(fixtureConfig('qwen2-q4f32'));
    expect(cfg).toMatchObject({
      architecture: 'qwen2', quantization: 'q4f32_1', ropeTheta: 1000000, ropeScaling: null, qkvBias: true,
      tieWordEmbeddings: true, rmsNormEps: 1e-6, bosTokenId: 477, repetitionPenalty: 1.05,
    });
    expect(cfg.stopTokenIds).toEqual([477, 479]);
    expect(cfg.convTemplate.system_prefix_token_ids).toBeUndefined();
  });

  it('maps the q0f32 fixture with one KV head of 32 dims and no scaling', () => {
    expect(parseModelConfig(fixtureConfig('llama-q0f32'))).toMatchObject({
      quantization: 'q0f32', numHeads: 2, numKvHeads: 1, headDim: 32, intermediateSize: 96, ropeTheta: 10000, ropeScaling: null,
    });
  });

  it('derives head_dim, KV heads and RoPE base where MLC leaves defaults', () => {
    const cfg = parseModelConfig(edited('llama-q4f16', (c) => {
      c.model_config.head_dim = 0;
      delete c.model_config.num_key_value_heads;
      delete c.model_config.position_embedding_base;
      delete c.model_config.rope_scaling;
    }));
    expect(cfg).toMatchObject({ headDim: 16, numKvHeads: 4, ropeTheta: 10000, ropeScaling: null });
  });

  it('reads rope_theta when a llama config carries it under that name', () => {
    const cfg = parseModelConfig(edited('llama-q0f32', (c) => {
      delete c.model_config.position_embedding_base;
      c.model_config.rope_theta = 250000;
    }));
    expect(cfg.ropeTheta).toBe(250000);
  });

  it('accepts a single eos id and de-duplicates it against the template stops', () => {
    const cfg = parseModelConfig(edited('llama-q4f16', (c) => {
      c.eos_token_id = 479;
    }));
    expect(cfg.stopTokenIds).toEqual([476, 479]);
  });

  it('drops rope_scaling without a rope_type, as MLC does', () => {
    const cfg = parseModelConfig(edited('llama-q4f16', (c) => {
      delete c.model_config.rope_scaling.rope_type;
    }));
    expect(cfg.ropeScaling).toBeNull();
  });

  it('rejects RoPE scaling other than llama3', () => {
    const config = edited('llama-q4f16', (c) => {
      c.model_config.rope_scaling = { rope_type: 'yarn', factor: 4 };
    });
    expect(() => parseModelConfig(config)).toThrow(UnsupportedModelError);
    expect(() => parseModelConfig(config)).toThrow(/"yarn"/);
  });

  it('rejects architectures and quantizations kvchat does not run, naming both sides', () => {
    expect(() => parseModelConfig(edited('llama-q4f16', (c) => { c.model_type = 'gemma2'; }))).toThrow(
      new UnsupportedModelError('The model\'s architecture is "gemma2"; kvchat runs llama, qwen2.'),
    );
    expect(() => parseModelConfig(edited('llama-q4f16', (c) => { c.quantization = 'q4f16_ft'; }))).toThrow(
      new UnsupportedModelError('The model\'s weights are quantized as "q4f16_ft"; kvchat reads q4f16_1, q4f32_1, q0f16, q0f32.'),
    );
  });

  it('names a missing or mistyped field', () => {
    const missing = () => parseModelConfig(edited('llama-q4f16', (c) => { delete c.model_config.hidden_size; }));
    expect(missing).toThrow(ModelCorruptError);
    expect(missing).toThrow('mlc-chat-config.json: model_config.hidden_size should be a positive integer, found nothing.');
    expect(() => parseModelConfig(edited('llama-q4f16', (c) => { c.conv_template.stop_token_ids = ['<|eot_id|>']; }))).toThrow(
      /conv_template\.stop_token_ids should be a token id or a list of token ids/,
    );
    expect(() => parseModelConfig(edited('llama-q4f16', (c) => { delete c.conv_template; }))).toThrow(/conv_template should be an object/);
    expect(() => parseModelConfig([])).toThrow(/not a JSON object/);
  });

  it('rejects heads that cannot share KV heads evenly', () => {
    expect(() => parseModelConfig(edited('llama-q4f16', (c) => { c.model_config.num_key_value_heads = 3; }))).toThrow(
      /num_attention_heads \(4\) is not a multiple of num_key_value_heads \(3\)/,
    );
  });
});
