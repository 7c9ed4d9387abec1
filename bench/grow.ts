// Growing a model's KV cache for timing without running the model.
import type { GpuModel } from '../src/engine/gpu/model';

/** Grows the cache to `tokens` by bookkeeping alone: KvCache.beginChunk/endChunk in prefill-sized
 *  chunks with no kernel recorded, and the position moved on. The cached keys and values stay
 *  whatever the buffers hold (zeros in a new cache), which no timing depends on, and reaching 32K
 *  tokens costs no prefill. Not for caches that evict: their selection would never run. */
export function growByBookkeeping(gpu: GpuModel, tokens: number): void {
  if (gpu.settings.policy !== 'none') throw new Error('growByBookkeeping: an evicting cache would skip its selection');
  const chunk = gpu.cfg.prefillChunkSize;
  while (gpu.position < tokens) {
    const n = Math.min(chunk, tokens - gpu.position);
    gpu.kvCache.beginChunk(n, gpu.position);
    gpu.kvCache.endChunk();
    gpu.position += n;
  }
}
