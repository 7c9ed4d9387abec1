// Picks the KV cache implementation for the settings.
import type { PipelineCache } from '../gpu/shaders';
import type { ModelConfig } from '../model/types';
import type { AttentionIo, KvCache } from './cache';
import { Fp16KvCache } from './fp16';
import { isQuantized, type KvSettings } from './settings';

export function createKvCache(device: GPUDevice, pipelines: PipelineCache, cfg: ModelConfig, capacity: number, settings: KvSettings, io: AttentionIo): KvCache {
  if (isQuantized(settings)) throw new Error('the KIVI cache is not wired in yet');
  return new Fp16KvCache(device, pipelines, cfg, capacity, io);
}
