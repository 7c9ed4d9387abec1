// Picks the KV cache implementation for the settings.
import type { PipelineCache } from '../gpu/shaders';
import type { ModelConfig } from '../model/types';
import type { AttentionIo, KvCache } from './cache';
import { Fp16KvCache } from './fp16';
import { KiviKvCache } from './kivi';
import { isQuantized, type KvSettings } from './settings';

export function createKvCache(device: GPUDevice, pipelines: PipelineCache, cfg: ModelConfig, capacity: number, settings: KvSettings, io: AttentionIo): KvCache {
  return isQuantized(settings)
    ? new KiviKvCache(device, pipelines, cfg, capacity, settings, io)
    : new Fp16KvCache(device, pipelines, cfg, capacity, settings, io);
}
