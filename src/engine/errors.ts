// Every failure the engine reports to a user: a stable code, a message saying what happened, and a
// hint saying what to do next. Errors cross the worker boundary as { code, message, hint }.

export type ErrorCode =
  | 'webgpu-unavailable'
  | 'adapter-limits'
  | 'model-fetch'
  | 'model-corrupt'
  | 'unsupported-model'
  | 'tokenizer-missing'
  | 'quota-exceeded'
  | 'device-lost'
  | 'context-full'
  | 'engine-busy'
  | 'invalid-settings';

export class KvchatError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly hint: string,
  ) {
    super(message);
    this.name = new.target.name;
  }

  toJSON(): SerializedError {
    return { code: this.code, message: this.message, hint: this.hint };
  }
}

export interface SerializedError {
  code: ErrorCode;
  message: string;
  hint: string;
}

export class WebGpuUnavailableError extends KvchatError {
  constructor(message = 'This browser does not expose WebGPU (navigator.gpu is missing).') {
    super('webgpu-unavailable', message, 'Use a recent Chrome, Edge or another browser with WebGPU enabled, on a device with a supported GPU.');
  }
}

export class AdapterLimitsError extends KvchatError {
  constructor(message: string) {
    super('adapter-limits', message, 'Pick a smaller model, or use a device whose GPU offers larger buffers.');
  }
}

export class ModelFetchError extends KvchatError {
  constructor(
    readonly url: string,
    detail: string,
  ) {
    super('model-fetch', `Could not download ${url}: ${detail}`, 'Check the model URL and your connection, then load the model again; files already downloaded are kept.');
  }
}

export class ModelCorruptError extends KvchatError {
  constructor(message: string) {
    super('model-corrupt', message, 'The cached copy was discarded; load the model again to download a fresh one.');
  }
}

export class UnsupportedModelError extends KvchatError {
  constructor(message: string) {
    super('unsupported-model', message, 'kvchat runs llama and qwen2 models in q4f16_1, q4f32_1, q0f16 or q0f32; pick one of those.');
  }
}

export class TokenizerMissingError extends KvchatError {
  constructor(url: string, detail: string) {
    super('tokenizer-missing', `The model has no usable tokenizer at ${url}: ${detail}`, 'The model folder must contain a Hugging Face tokenizer.json.');
  }
}

export class QuotaExceededError extends KvchatError {
  constructor(message: string) {
    super('quota-exceeded', message, 'Free browser storage (delete cached models you no longer use) and try again; the model still runs without the cache.');
  }
}

export class DeviceLostError extends KvchatError {
  constructor(reason: string) {
    super('device-lost', `The GPU device was lost: ${reason}`, 'Reload the model; your conversation is kept.');
  }
}

export class ContextFullError extends KvchatError {
  constructor(needed: number, capacity: number) {
    super('context-full', `The conversation needs ${needed} tokens but the context holds ${capacity}.`, 'Start a new conversation, or load the model with a longer context.');
  }
}

export class EngineBusyError extends KvchatError {
  constructor() {
    super('engine-busy', 'A reply is already being generated.', 'Wait for it to finish or stop it first.');
  }
}

export class KvSettingsError extends KvchatError {
  constructor(message: string) {
    super('invalid-settings', message, 'Pick one of the offered values; the previous settings stay in effect.');
  }
}
