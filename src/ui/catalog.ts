// The models of web-llm's prebuiltAppConfig that kvchat's engine can run: llama-family and qwen2
// architectures in q4f16_1, q4f32_1, q0f16 or q0f32. The config lists no architecture, so it is read
// from the model's name; the engine checks the real mlc-chat-config.json at load time
// (UnsupportedModelError). Imported lazily: @mlc-ai/web-llm must stay out of the main bundle.
import { prebuiltAppConfig } from '@mlc-ai/web-llm';

export interface CatalogModel {
  id: string;
  /** The folder the engine loads from (Hugging Face's resolve/main/ of the model repository). */
  baseUrl: string;
  architecture: 'llama' | 'qwen2';
  quantization: 'q4f16_1' | 'q4f32_1' | 'q0f16' | 'q0f32';
  /** web-llm's estimate of the GPU memory the model needs with its fp16 KV cache, in MB. */
  vramMB: number | null;
  contextWindow: number | null;
  /** web-llm marks the models that suit devices with little GPU memory. */
  lowResource: boolean;
}

const QUANTIZATION = /-(q4f16_1|q4f32_1|q0f16|q0f32)-MLC/;

function architectureOf(id: string): CatalogModel['architecture'] | null {
  if (/^(Qwen2|Qwen2\.5|DeepSeek-R1-Distill-Qwen)-/.test(id)) return 'qwen2';
  if (/(^|-)Llama-[23]|^TinyLlama-|^SmolLM2-/.test(id)) return 'llama';
  return null;
}

export function supportedCatalog(): CatalogModel[] {
  const models: CatalogModel[] = [];
  for (const entry of prebuiltAppConfig.model_list) {
    const architecture = architectureOf(entry.model_id);
    const quantization = QUANTIZATION.exec(entry.model_id)?.[1] as CatalogModel['quantization'] | undefined;
    if (!architecture || !quantization) continue;
    models.push({
      id: entry.model_id,
      baseUrl: `${entry.model.replace(/\/+$/, '')}/resolve/main/`,
      architecture,
      quantization,
      vramMB: entry.vram_required_MB ?? null,
      contextWindow: entry.overrides?.context_window_size ?? null,
      lowResource: entry.low_resource_required ?? false,
    });
  }
  return models.sort((a, b) => (a.vramMB ?? Infinity) - (b.vramMB ?? Infinity));
}
