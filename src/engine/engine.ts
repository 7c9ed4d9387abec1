// createEngine: loads an MLC model from a base URL onto the GPU and serves the OpenAI-style chat API.
import type { ChatCompletionChunk, ChatCompletionRequest, Engine, EngineOptions, EngineStats } from './api';
import { formatPrompt } from './chat/template';
import type { TextCodec } from './chat/streamDecoder';
import { loadTokenizer } from './chat/tokenizer';
import { EngineBusyError } from './errors';
import { resolveKvSettings, type KvSettings } from './kv/settings';
import { CachedSequence, generate, seededRandom } from './generate/generate';
import { acquireGpu, type GpuContext } from './gpu/device';
import { GpuModel } from './gpu/model';
import { WeightStore } from './gpu/weights';
import { loadModel } from './model/loader';

const DEFAULT_CONTEXT = 4096;

export async function createEngine(baseUrl: string, options: EngineOptions = {}): Promise<Engine> {
  const gpu = await acquireGpu(options.gpu);
  const weights = new WeightStore(gpu.device);
  try {
    const loaded = await loadModel(baseUrl, (t) => weights.upload(t), {
      onProgress: options.onProgress,
      signal: options.signal,
      cacheName: options.cacheName,
    });
    const codec = await loadTokenizer(loaded.tokenizerJson, `${loaded.baseUrl}tokenizer.json`);
    const { config } = loaded;
    const contextLength = Math.min(options.contextLength ?? DEFAULT_CONTEXT, config.contextWindowSize);
    const kvSettings = resolveKvSettings(options.kv ?? {}, config.headDim);
    const model = new GpuModel(gpu.device, config, weights, contextLength, kvSettings);
    await gpu.device.queue.onSubmittedWorkDone();
    return new KvchatEngine(loaded.modelId, gpu, model, codec);
  } catch (err) {
    weights.destroy();
    gpu.device.destroy();
    throw err;
  }
}

class KvchatEngine implements Engine {
  readonly chat = { completions: { create: (request: ChatCompletionRequest) => this.stream(request) } };
  private readonly cache: CachedSequence;
  private generating = false;
  private interruptRequested = false;

  constructor(
    readonly modelId: string,
    private readonly gpu: GpuContext,
    private readonly model: GpuModel,
    private readonly codec: TextCodec,
  ) {
    this.cache = new CachedSequence(model);
  }

  interruptGenerate(): void {
    if (this.generating) this.interruptRequested = true;
  }

  stats(): EngineStats {
    const { cfg } = this.model;
    const kv = this.model.kvBytes();
    const info = this.gpu.adapterInfo;
    return {
      model: this.modelId,
      architecture: cfg.architecture,
      quantization: cfg.quantization,
      numLayers: cfg.numLayers,
      kvTokens: this.model.length,
      kvCapacity: this.model.maxSeq,
      kvBytesAllocated: kv.allocated,
      kvBytesUsed: kv.used,
      kvBytesFp16Equivalent: kv.fp16Equivalent,
      kvSettings: this.model.settings,
      kvLayers: kv.perLayer,
      weightBytes: this.model.weightBytes,
      adapter: [info.vendor, info.architecture, info.description].filter(Boolean).join(' ') || 'unknown adapter',
    };
  }

  setKvSettings(settings: Partial<KvSettings>): KvSettings {
    if (this.generating) throw new EngineBusyError();
    const resolved = resolveKvSettings(settings, this.model.cfg.headDim, this.model.settings);
    this.model.rebuildKvCache(resolved);
    this.cache.clear();
    return resolved;
  }

  async unload(): Promise<void> {
    this.interruptGenerate();
    this.model.destroy();
    this.gpu.device.destroy();
  }

  private async *stream(request: ChatCompletionRequest): AsyncGenerator<ChatCompletionChunk> {
    if (this.generating) throw new EngineBusyError();
    this.generating = true;
    this.interruptRequested = false;
    try {
      const { cfg } = this.model;
      const prompt = formatPrompt(cfg.convTemplate, request.messages);
      const promptTokens = [...prompt.prefixTokenIds, ...this.codec.encode(prompt.text)];
      const requestStops = request.stop === undefined ? [] : [request.stop].flat();
      const id = `chatcmpl-${crypto.randomUUID()}`;
      const created = Math.floor(Date.now() / 1000);
      const chunk = (delta: ChatCompletionChunk['choices'][0]['delta'], finishReason: ChatCompletionChunk['choices'][0]['finish_reason'] = null): ChatCompletionChunk => ({
        id, object: 'chat.completion.chunk', created, model: this.modelId, choices: [{ index: 0, delta, finish_reason: finishReason }],
      });

      const steps = generate(this.model, this.cache, this.codec, promptTokens, {
        maxTokens: request.max_tokens ?? this.model.maxSeq,
        temperature: request.temperature ?? cfg.temperature,
        topP: request.top_p ?? cfg.topP,
        repetitionPenalty: request.repetition_penalty ?? cfg.repetitionPenalty,
        stopTokenIds: cfg.stopTokenIds,
        stopStrings: [...cfg.convTemplate.stop_str, ...requestStops],
        ignoreEos: request.ignore_eos ?? false,
        random: request.seed === undefined ? Math.random : seededRandom(request.seed),
      }, () => this.interruptRequested);

      let first = true;
      for (;;) {
        const step = await steps.next();
        if (step.done) {
          const r = step.value;
          yield {
            ...chunk({}, r.finishReason),
            usage: {
              prompt_tokens: r.promptTokens,
              completion_tokens: r.completionTokens,
              total_tokens: r.promptTokens + r.completionTokens,
              extra: {
                prefill_tokens_per_s: r.prefilledTokens / Math.max(r.prefillSeconds, 1e-9),
                decode_tokens_per_s: r.decodeSteps / Math.max(r.decodeSeconds, 1e-9),
              },
            },
          };
          return;
        }
        yield chunk(first ? { role: 'assistant', content: step.value } : { content: step.value });
        first = false;
      }
    } finally {
      this.generating = false;
      this.interruptRequested = false;
    }
  }
}
