// The KV cache behind one interface, so the forward pass does not care how keys and values are
// stored: `fp16` (the foundation's cache) or `kivi` (2/4/8-bit codes + fp16 residual).
import type { BoundKernel } from '../gpu/shaders';

/** Buffers of the forward pass the cache reads and writes. */
export interface AttentionIo {
  /** [chunk, (H + 2 KV) D] f32: queries, and the new keys/values (already rotated). */
  qkv: GPUBuffer;
  /** [chunk, H D] f32: the attention output the cache's kernels write. */
  attnOut: GPUBuffer;
  /** Split-attention partials (see attention_reduce.wgsl), sized for partialSlots splits x queries. */
  partialAcc: GPUBuffer;
  partialMl: GPUBuffer;
  partialSlots: number;
}

/** Bytes of one layer's cache. */
export interface LayerKvBytes {
  /** Packed key and value codes (0 for fp16). */
  codes: number;
  /** f16 scales and minimums. */
  scales: number;
  /** fp16 keys and values: the residual window for KIVI, everything for fp16. */
  fullPrecision: number;
  /** Block tables and per-head counts. */
  metadata: number;
}

export interface LayerKv {
  used: LayerKvBytes;
  allocated: LayerKvBytes;
  /** Tokens each head of the layer holds, and its budget (Infinity without eviction). */
  keptTokens: number;
  budgetTokens: number;
}

export interface KvBytes {
  perLayer: LayerKv[];
  used: number;
  allocated: number;
  /** What the tokens kept would take in an fp16 cache. */
  fp16Equivalent: number;
}

export interface KvCache {
  readonly kind: 'fp16' | 'kivi';
  /** Tokens the cache can hold. */
  readonly capacity: number;
  /** Tokens held by the fullest layer (all layers hold the same count until eviction). */
  readonly length: number;
  /** Forgets everything after the first `keep` tokens, as far as the layout allows; returns the
   *  tokens actually kept (KIVI cannot un-quantize, so it may keep fewer). */
  truncate(keep: number): number;
  /** Sets up the uniforms for a chunk of `numTokens` new tokens at original positions
   *  position.. ; call before recording it. */
  beginChunk(numTokens: number, position: number): void;
  /** Records layer `layer`'s cache update and attention for the chunk into `pass`. */
  recordLayer(pass: GPUComputePassEncoder, layer: number): void;
  /** Commits the chunk's bookkeeping after it has been recorded (and submitted in order). */
  endChunk(): void;
  /** Evicts (policy permitting) once `seen` tokens went through the model: after a prefill chunk
   *  down to the budgets, in decode only when a layer is over budget by a whole block. */
  maintain(seen: number, phase: 'prefill' | 'decode'): Promise<void>;
  bytes(): KvBytes;
  destroy(): void;
}

/** Query splits for decode: enough to fill the GPU at long contexts, each split >= 256 keys. */
export function decodeSplits(keys: number, maxSplits: number): number {
  return Math.min(maxSplits, Math.max(1, Math.ceil(keys / 256)));
}

export type { BoundKernel };
