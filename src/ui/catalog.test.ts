import { describe, expect, it } from 'vitest';
import { supportedCatalog } from './catalog';

describe("web-llm's catalog, filtered to what the engine runs", () => {
  const catalog = supportedCatalog();

  it('keeps llama-family and qwen2 models in the supported quantizations, with Hugging Face folder URLs', () => {
    const byId = new Map(catalog.map((m) => [m.id, m]));
    expect(byId.get('Llama-3.2-1B-Instruct-q4f16_1-MLC')).toMatchObject({
      architecture: 'llama', quantization: 'q4f16_1', contextWindow: 4096,
      baseUrl: 'https://huggingface.co/mlc-ai/Llama-3.2-1B-Instruct-q4f16_1-MLC/resolve/main/',
    });
    expect(byId.get('Qwen2.5-0.5B-Instruct-q4f32_1-MLC')).toMatchObject({ architecture: 'qwen2', quantization: 'q4f32_1' });
    expect(byId.get('SmolLM2-135M-Instruct-q0f32-MLC')).toMatchObject({ architecture: 'llama', quantization: 'q0f32' });
    expect(byId.get('TinyLlama-1.1B-Chat-v1.0-q4f16_1-MLC')?.architecture).toBe('llama');
  });

  it('leaves out other architectures and quantizations', () => {
    expect(catalog.some((m) => /Phi|gemma|Mistral|Qwen3/i.test(m.id))).toBe(false);
    expect(catalog.some((m) => m.id.includes('q3f16'))).toBe(false);
  });

  it('lists the smallest models first', () => {
    const vram = catalog.map((m) => m.vramMB ?? Infinity);
    expect(vram).toEqual([...vram].sort((a, b) => a - b));
    expect(catalog.length).toBeGreaterThan(20);
  });
});
