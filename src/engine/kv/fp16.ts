// The fp16 KV cache: per layer, keys and values [KV, capacity, D/2] u32 (f16 pairs), appended by
// kv_append_f16 and read by the split attention_f16 + attention_reduce. With an evicting policy,
// layers keep different token counts, and kv_compact_f16 gathers each layer's survivors.
import { bindKernel, dispatch, type BoundKernel, type PipelineCache } from '../gpu/shaders';
import type { ModelConfig } from '../model/types';
import { decodeSplits, type AttentionIo, type KvBytes, type KvCache, type LayerKvBytes } from './cache';
import { Eviction, type LayerPlan } from './eviction';
import type { KvSettings } from './settings';

interface Fp16Layer {
  append: BoundKernel;
  attention: BoundKernel;
  /** attention_f16_decode for T = 1; null where the group or head is past its limits. */
  attentionDecode: BoundKernel | null;
  reduce: BoundKernel;
  compact: BoundKernel | null;
  keys: GPUBuffer;
  values: GPUBuffer;
  /** Batch {numTokens, startPos = tokens kept, numSplits, 0} of this layer's chunk. */
  batch: GPUBuffer;
  compaction: GPUBuffer;
  /** Tokens each head holds. */
  kept: number;
  budget: number;
}

export class Fp16KvCache implements KvCache {
  readonly kind = 'fp16';
  private readonly layers: Fp16Layer[];
  private readonly buffers: GPUBuffer[] = [];
  private readonly eviction: Eviction | null;
  /** Scratch of one layer's keys and values for compaction, shared by the layers. */
  private readonly scratch: { keys: GPUBuffer; values: GPUBuffer } | null;
  private readonly captureBatch: GPUBuffer;
  private chunkTokens = 0;
  private numSplits = 1;
  /** Whether the chunk being recorded runs attention_f16_decode. */
  private decodeKernel = false;
  private evicted = false;
  /** Tokens that went through the cache (the conversation's length); kept tokens are a subset. */
  private seen = 0;

  constructor(
    private readonly device: GPUDevice,
    pipelines: PipelineCache,
    private readonly cfg: ModelConfig,
    readonly capacity: number,
    settings: KvSettings,
    private readonly io: AttentionIo,
  ) {
    const { numHeads: H, numKvHeads: KV, headDim: D } = cfg;
    const attn = { HEAD_DIM: D, NUM_HEADS: H, NUM_KV_HEADS: KV };
    const storage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    const make = (label: string, size: number, usage = storage) => {
      const b = device.createBuffer({ label, size, usage });
      this.buffers.push(b);
      return b;
    };
    const uniform = (label: string) => make(label, 16, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
    const layerBytes = KV * capacity * D * 2;
    const captureBatch = uniform('fp16CaptureBatch');
    this.eviction = settings.policy === 'none' ? null : new Eviction(device, pipelines, cfg, capacity, settings, io, captureBatch);
    this.scratch = this.eviction ? { keys: make('scratchKeys', layerBytes), values: make('scratchValues', layerBytes) } : null;
    this.captureBatch = captureBatch;
    this.layers = Array.from({ length: cfg.numLayers }, (_, i) => {
      const keys = make(`layer${i}.keys`, layerBytes);
      const values = make(`layer${i}.values`, layerBytes);
      const batch = uniform(`layer${i}.batch`);
      const compaction = uniform(`layer${i}.compaction`);
      const ev = this.eviction?.layers[i];
      if (ev) {
        this.eviction!.setScoreKernel(i, bindKernel(device, pipelines.get('kv_score_fp16', { ...attn, MAX_SEQ: capacity, WINDOW: settings.window, CAPACITY: capacity }), [
          keys, ev.positions, ev.queryRing, ev.statsRing, ev.scores, ev.params,
        ]));
      }
      return {
        append: bindKernel(device, pipelines.get('kv_append_f16', { ...attn, MAX_SEQ: capacity }), [io.qkv, keys, values, batch]),
        attention: bindKernel(device, pipelines.get('attention_f16', { ...attn, MAX_SEQ: capacity }), [io.qkv, keys, values, io.partialAcc, io.partialMl, batch]),
        attentionDecode: decodeKernelFits(H / KV, D)
          ? bindKernel(device, pipelines.get('attention_f16_decode', { ...attn, MAX_SEQ: capacity }), [io.qkv, keys, values, io.partialAcc, io.partialMl, batch])
          : null,
        reduce: bindKernel(device, pipelines.get('attention_reduce', { HEAD_DIM: D, NUM_HEADS: H }), [io.partialAcc, io.partialMl, io.attnOut, batch]),
        compact: ev
          ? bindKernel(device, pipelines.get('kv_compact_f16', { HEAD_DIM: D, NUM_KV_HEADS: KV, MAX_SEQ: capacity }), [
              keys, values, ev.positions, ev.sourceOf, this.scratch!.keys, this.scratch!.values, ev.scratchPositions, compaction,
            ])
          : null,
        keys,
        values,
        batch,
        compaction,
        kept: 0,
        budget: Infinity,
      };
    });
  }

  get length(): number {
    return Math.max(...this.layers.map((l) => l.kept));
  }

  truncate(keep: number): number {
    if (keep >= this.seen) return this.length;
    // After an eviction the kept tokens are no longer a prefix of the conversation: start over.
    const target = this.evicted ? 0 : keep;
    for (const l of this.layers) l.kept = Math.min(target, l.kept);
    this.evicted = false;
    this.seen = this.length;
    this.eviction?.truncated(this.length);
    return this.length;
  }

  beginChunk(numTokens: number, position: number): void {
    this.chunkTokens = numTokens;
    // One workgroup per query suffices in prefill; a decode step splits its keys instead, into
    // attention_f16_decode's one-tile splits while the partials have room for them.
    const tiles = Math.ceil((this.length + 1) / DECODE_TILE);
    this.decodeKernel = numTokens === 1 && this.layers[0].attentionDecode !== null && tiles <= this.io.partialSlots;
    this.numSplits = numTokens > 1 ? 1 : this.decodeKernel ? tiles : decodeSplits(this.length + 1, this.io.partialSlots);
    const { queue } = this.device;
    for (const l of this.layers) queue.writeBuffer(l.batch, 0, Uint32Array.of(numTokens, l.kept, this.numSplits, 0));
    this.eviction?.beginChunk(this.layers.map((l) => l.kept), position, numTokens, this.layers.map((l) => l.budget), EVICTION_BLOCK);
    if (this.eviction) queue.writeBuffer(this.captureBatch, 0, Uint32Array.of(numTokens, position, this.numSplits, 0));
  }

  recordLayer(pass: GPUComputePassEncoder, layer: number): void {
    const { numHeads: H, numKvHeads: KV, headDim: D } = this.cfg;
    const T = this.chunkTokens;
    const l = this.layers[layer];
    dispatch(pass, l.append, Math.ceil((KV * D) / 2 / 64), T);
    if (this.decodeKernel) dispatch(pass, l.attentionDecode!, this.numSplits, KV);
    else dispatch(pass, l.attention, this.numSplits, H, T);
    this.eviction?.recordChunk(pass, layer, T);
    dispatch(pass, l.reduce, H, T);
  }

  endChunk(): void {
    for (const l of this.layers) l.kept += this.chunkTokens;
    this.seen += this.chunkTokens;
  }

  async maintain(seen: number, phase: 'prefill' | 'decode'): Promise<void> {
    const ev = this.eviction;
    if (!ev) return;
    const recent = ev.settings.window;
    const states = this.layers.map((l) => ({ kept: l.kept, recent }));
    const block = EVICTION_BLOCK;
    if (!ev.needsEviction(states, seen, phase === 'decode' ? block : 0, this.layers.map((l) => l.budget))) return;
    const floor = ev.settings.sinks + recent + block;
    // Decode evicts a block below the budget: half the events, each layer still within budget + one block.
    const margin = phase === 'decode' ? block : 0;
    const { plans, encoder } = await ev.select(states, seen, block, floor, (l, budget): LayerPlan => {
      const newKept = Math.min(this.layers[l].kept, Math.max(floor, budget - margin));
      return { evict: newKept < this.layers[l].kept, budget, newKept };
    }, phase);
    const { device, cfg, scratch } = this;
    const { numKvHeads: KV, headDim: D } = cfg;
    this.layers.forEach((l, i) => {
      const plan = plans[i];
      l.budget = plan.budget;
      if (!plan.evict) return;
      device.queue.writeBuffer(l.compaction, 0, Uint32Array.of(plan.newKept, 0, 0, 0));
      const pass = encoder.beginComputePass();
      ev.recordLayerSelect(pass, i);
      dispatch(pass, l.compact!, Math.ceil((plan.newKept * D) / 2 / 64), KV);
      pass.end();
      encoder.copyBufferToBuffer(scratch!.keys, 0, l.keys, 0, l.keys.size);
      encoder.copyBufferToBuffer(scratch!.values, 0, l.values, 0, l.values.size);
      const positions = ev.layers[i];
      encoder.copyBufferToBuffer(positions.scratchPositions, 0, positions.positions, 0, positions.positions.size);
      l.kept = plan.newKept;
      this.evicted = true;
    });
    device.queue.submit([encoder.finish()]);
  }

  bytes(): KvBytes {
    const { numKvHeads: KV, headDim: D } = this.cfg;
    const perToken = 2 * KV * D * 2;
    const layerBytes = (tokens: number): LayerKvBytes => ({ codes: 0, scales: 0, fullPrecision: tokens * perToken, metadata: 0 });
    // Eviction adds its per-layer buffers (positions, query window, LMBA), and once for all layers
    // the compaction scratch and the event buffers.
    const evictionBytes = this.eviction?.layerBytes() ?? 0;
    const perLayer = this.layers.map((l) => ({
      used: layerBytes(l.kept),
      allocated: { ...layerBytes(this.capacity), metadata: evictionBytes },
      keptTokens: l.kept,
      budgetTokens: l.budget,
    }));
    const kept = this.layers.reduce((n, l) => n + l.kept, 0);
    const sharedBytes = this.scratch ? this.scratch.keys.size + this.scratch.values.size + this.eviction!.sharedBytes : 0;
    return {
      perLayer,
      used: perToken * kept,
      allocated: perLayer.length * (perToken * this.capacity + evictionBytes) + sharedBytes,
      fp16Equivalent: perLayer.length * perToken * this.seen,
    };
  }

  destroy(): void {
    for (const b of this.buffers) b.destroy();
    this.eviction?.destroy();
  }
}

/** Eviction's block: budgets round to it, and decode evicts once a layer is this far over budget. */
const EVICTION_BLOCK = 32;

/** attention_f16_decode's tile: one split's keys. */
const DECODE_TILE = 256;

/** attention_f16_decode's limits (its header): GQA <= 8, HEAD_DIM a multiple of 8 with the queries
 *  (HEAD_DIM x quads of 4 heads) in 256 vec4s of workgroup memory. */
function decodeKernelFits(gqa: number, headDim: number): boolean {
  return Number.isInteger(gqa) && gqa <= 8 && headDim % 8 === 0 && headDim * Math.ceil(gqa / 4) <= 256;
}
