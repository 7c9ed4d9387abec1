// The fp16 KV cache: per layer, keys and values [KV, capacity, D/2] u32 (f16 pairs), appended by
// kv_append_f16 and read by the split attention_f16 + attention_reduce.
import { bindKernel, dispatch, type BoundKernel, type PipelineCache } from '../gpu/shaders';
import type { ModelConfig } from '../model/types';
import { decodeSplits, type AttentionIo, type KvBytes, type KvCache, type LayerKvBytes } from './cache';

interface Fp16Layer {
  append: BoundKernel;
  attention: BoundKernel;
  reduce: BoundKernel;
  buffers: GPUBuffer[];
}

export class Fp16KvCache implements KvCache {
  readonly kind = 'fp16';
  length = 0;
  private readonly layers: Fp16Layer[];
  private readonly batch: GPUBuffer;
  private chunkTokens = 0;
  private numSplits = 1;

  constructor(
    private readonly device: GPUDevice,
    pipelines: PipelineCache,
    private readonly cfg: ModelConfig,
    readonly capacity: number,
    private readonly io: AttentionIo,
  ) {
    const { numHeads: H, numKvHeads: KV, headDim: D } = cfg;
    const attn = { HEAD_DIM: D, NUM_HEADS: H, NUM_KV_HEADS: KV };
    this.batch = device.createBuffer({ label: 'fp16KvBatch', size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    this.layers = Array.from({ length: cfg.numLayers }, (_, i) => {
      const size = KV * capacity * D * 2;
      const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC;
      const keys = device.createBuffer({ label: `layer${i}.keys`, size, usage });
      const values = device.createBuffer({ label: `layer${i}.values`, size, usage });
      return {
        append: bindKernel(device, pipelines.get('kv_append_f16', { ...attn, MAX_SEQ: capacity }), [io.qkv, keys, values, this.batch]),
        attention: bindKernel(device, pipelines.get('attention_f16', { ...attn, MAX_SEQ: capacity }), [io.qkv, keys, values, io.partialAcc, io.partialMl, this.batch]),
        reduce: bindKernel(device, pipelines.get('attention_reduce', { HEAD_DIM: D, NUM_HEADS: H }), [io.partialAcc, io.partialMl, io.attnOut, this.batch]),
        buffers: [keys, values],
      };
    });
  }

  truncate(keep: number): number {
    this.length = Math.min(keep, this.length);
    return this.length;
  }

  beginChunk(numTokens: number): void {
    this.chunkTokens = numTokens;
    // One workgroup per query suffices in prefill; a decode step splits its keys instead.
    this.numSplits = numTokens === 1 ? decodeSplits(this.length + 1, this.io.partialSlots) : 1;
    this.device.queue.writeBuffer(this.batch, 0, Uint32Array.of(numTokens, this.length, this.numSplits, 0));
  }

  recordLayer(pass: GPUComputePassEncoder, layer: number): void {
    const { numHeads: H, numKvHeads: KV, headDim: D } = this.cfg;
    const T = this.chunkTokens;
    const l = this.layers[layer];
    dispatch(pass, l.append, Math.ceil((KV * D) / 2 / 64), T);
    dispatch(pass, l.attention, this.numSplits, H, T);
    dispatch(pass, l.reduce, H, T);
  }

  endChunk(): void {
    this.length += this.chunkTokens;
  }

  bytes(): KvBytes {
    const { numKvHeads: KV, headDim: D } = this.cfg;
    const perToken = 2 * KV * D * 2;
    const layerBytes = (tokens: number): LayerKvBytes => ({ codes: 0, scales: 0, fullPrecision: tokens * perToken, metadata: 0 });
    const perLayer = this.layers.map(() => ({ used: layerBytes(this.length), allocated: layerBytes(this.capacity) }));
    return {
      perLayer,
      used: perLayer.length * perToken * this.length,
      allocated: perLayer.length * perToken * this.capacity,
      fp16Equivalent: perLayer.length * perToken * this.length,
    };
  }

  destroy(): void {
    for (const l of this.layers) for (const b of l.buffers) b.destroy();
    this.batch.destroy();
  }
}
