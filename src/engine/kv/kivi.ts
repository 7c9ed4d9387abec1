// The KIVI KV cache on the GPU (DESIGN §5.1-5.2; layouts in kv/layout.ts). Per chunk of T tokens,
// for every layer: kivi_append puts the new keys/values into the fp16 residual ring,
// attention_kivi + attention_reduce attend over the quantized blocks and the residual (for a single
// token attention_kivi_decode, which appends the token itself), and
// kivi_quant_keys / kivi_quant_values turn the oldest G residual tokens into a new block while the
// residual holds R + G or more. The CPU keeps the bookkeeping (ring position, block tables, free
// pool blocks) and hands it to the kernels through the KvBatch uniform and the tables.
import { bindKernel, dispatch, type BoundKernel, type PipelineCache } from '../gpu/shaders';
import type { ModelConfig } from '../model/types';
import { decodeSplits, type AttentionIo, type KvBytes, type KvCache, type LayerKvBytes } from './cache';
import { Eviction, type LayerPlan } from './eviction';
import { keyBlockWords, kiviShape, valueBlockWords, type KiviShape } from './layout';
import type { KvSettings } from './settings';

interface KiviLayer {
  append: BoundKernel;
  attention: BoundKernel;
  /** The decode (T = 1) kernel, which also appends the token: one workgroup per KV head and split;
   *  null past its GQA limit. */
  attentionDecode: BoundKernel | null;
  reduce: BoundKernel;
  quantKeys: BoundKernel;
  quantValues: BoundKernel;
  /** [poolBlocks] key and value blocks (layout.ts). */
  keyBlocks: GPUBuffer;
  valueBlocks: GPUBuffer;
  /** Pool ids [KV, maxBlocksPerHead], then each head's block count [KV]. */
  blockTable: GPUBuffer;
  buffers: GPUBuffer[];
  /** Pool block ids of each head's blocks, oldest first. */
  blocks: number[][];
  /** Pool block ids not in use. */
  free: FreeBlocks;
  /** Per head, the blocks the chunk being recorded flushes into (committed by endChunk). */
  pending: number[][];
  /** Eviction's re-formed blocks: new table [KV, maxBlocksPerHead] of scratch ids, compaction
   *  uniform and kernels. */
  newBlockTable: GPUBuffer | null;
  compaction: GPUBuffer | null;
  compactKeys: BoundKernel | null;
  compactValues: BoundKernel | null;
  budget: number;
}

/** A layer's free pool block ids: a stack in a typed array, so that an eviction event refills it
 *  without allocating (rebuilding a number[] of the pool's ~8K ids per layer cost an event step
 *  ~4 ms of JS on the GPU machine). */
class FreeBlocks {
  private readonly ids: Uint32Array;
  private count = 0;

  constructor(poolBlocks: number) {
    this.ids = new Uint32Array(poolBlocks);
    this.reset(0);
  }

  /** Ids `from` .. poolBlocks - 1 are free, `from` on top: flushes fill the pool upwards. */
  reset(from: number): void {
    let n = 0;
    for (let b = this.ids.length - 1; b >= from; b--) this.ids[n++] = b;
    this.count = n;
  }

  /** The `n` ids on top, the topmost first. */
  take(n: number): number[] {
    if (n > this.count) throw new Error(`KIVI block pool exhausted: ${n} blocks wanted, ${this.count} free`);
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push(this.ids[--this.count]);
    return out;
  }

  give(ids: number[]): void {
    for (const id of ids) this.ids[this.count++] = id;
  }
}

export class KiviKvCache implements KvCache {
  readonly kind = 'kivi';
  readonly shape: KiviShape;
  private readonly layers: KiviLayer[];
  private readonly batch: GPUBuffer;
  /** Ring slot of the oldest residual token, and residual tokens held (the same in every layer). */
  private residualStart = 0;
  private residualLen = 0;
  private chunkTokens = 0;
  private flushBlocks = 0;
  private numSplits = 1;
  private headBlocksDirty = true;
  private readonly eviction: Eviction | null;
  private readonly poolBlocks: number;
  /** Eviction's re-formed key and value blocks, [poolBlocks] blocks each, shared by the layers:
   *  compaction reads a layer's pool and writes here, then the used range is copied back over it. */
  private readonly scratch: { keyBlocks: GPUBuffer; valueBlocks: GPUBuffer } | null;
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
    const k = (this.shape = kiviShape(settings, KV, D, capacity, cfg.prefillChunkSize));
    const overrides = {
      HEAD_DIM: D, NUM_HEADS: H, NUM_KV_HEADS: KV, GROUP: k.groupSize,
      KEY_BITS: k.keyBits, VALUE_BITS: k.valueBits, RING: k.ringSlots, MAX_BLOCKS: k.maxBlocksPerHead,
    };
    const { NUM_HEADS, NUM_KV_HEADS, HEAD_DIM, RING } = overrides;
    const pick = <K extends keyof typeof overrides>(...keys: K[]) => Object.fromEntries(keys.map((key) => [key, overrides[key]]));
    this.batch = device.createBuffer({ label: 'kiviBatch', size: 32, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
    this.eviction = settings.policy === 'none' ? null : new Eviction(device, pipelines, cfg, capacity, settings, io, this.batch);
    const poolBlocks = (this.poolBlocks = KV * k.maxBlocksPerHead);
    const storage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    this.scratch = this.eviction
      ? {
          keyBlocks: device.createBuffer({ label: 'scratchKeyBlocks', size: poolBlocks * keyBlockWords(k) * 4, usage: storage }),
          valueBlocks: device.createBuffer({ label: 'scratchValueBlocks', size: poolBlocks * valueBlockWords(k) * 4, usage: storage }),
        }
      : null;
    const scratch = this.scratch;
    this.layers = Array.from({ length: cfg.numLayers }, (_, i) => {
      const make = (name: string, bytes: number) => device.createBuffer({ label: `layer${i}.${name}`, size: bytes, usage: storage });
      const keyBlocks = make('keyBlocks', poolBlocks * keyBlockWords(k) * 4);
      const valueBlocks = make('valueBlocks', poolBlocks * valueBlockWords(k) * 4);
      const residualKeys = make('residualKeys', KV * k.ringSlots * (D / 2) * 4);
      const residualValues = make('residualValues', KV * k.ringSlots * (D / 2) * 4);
      const tableWords = KV * k.maxBlocksPerHead;
      const blockTable = make('blockTable', (tableWords + KV) * 4);
      const quant = pick('HEAD_DIM', 'NUM_KV_HEADS', 'GROUP', 'RING', 'MAX_BLOCKS');
      const ev = this.eviction?.layers[i];
      const newBlockTable = ev ? make('newBlockTable', tableWords * 4) : null;
      const compaction = ev ? device.createBuffer({ label: `layer${i}.compaction`, size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST }) : null;
      const compact = { ...pick('HEAD_DIM', 'NUM_KV_HEADS', 'GROUP', 'MAX_BLOCKS'), MAX_SEQ: capacity };
      if (ev) {
        const score = { ...pick('HEAD_DIM', 'NUM_HEADS', 'NUM_KV_HEADS', 'GROUP', 'KEY_BITS', 'RING', 'MAX_BLOCKS'), WINDOW: settings.window, CAPACITY: capacity };
        this.eviction!.setScoreKernel(i, bindKernel(device, pipelines.get('kv_score_kivi', score), [
          keyBlocks, blockTable, residualKeys, ev.positions, ev.queryRing, ev.statsRing, ev.scores, ev.params,
        ]));
      }
      return {
        append: bindKernel(device, pipelines.get('kivi_append', { HEAD_DIM, NUM_HEADS, NUM_KV_HEADS, RING }), [io.qkv, residualKeys, residualValues, this.batch]),
        attention: bindKernel(device, pipelines.get('attention_kivi', overrides), [
          io.qkv, keyBlocks, valueBlocks, blockTable, residualKeys, residualValues, io.partialAcc, io.partialMl, this.batch,
        ]),
        attentionDecode: hasDecodeKernel(H / KV, D)
          ? bindKernel(device, pipelines.get('attention_kivi_decode', overrides), [
              io.qkv, keyBlocks, valueBlocks, blockTable, residualKeys, residualValues, io.partialAcc, io.partialMl, this.batch,
            ])
          : null,
        reduce: bindKernel(device, pipelines.get('attention_reduce', { HEAD_DIM: D, NUM_HEADS: H }), [io.partialAcc, io.partialMl, io.attnOut, this.batch]),
        quantKeys: bindKernel(device, pipelines.get('kivi_quant_keys', { ...quant, KEY_BITS: k.keyBits }), [residualKeys, blockTable, keyBlocks, this.batch]),
        quantValues: bindKernel(device, pipelines.get('kivi_quant_values', { ...quant, VALUE_BITS: k.valueBits }), [residualValues, blockTable, valueBlocks, this.batch]),
        keyBlocks,
        valueBlocks,
        blockTable,
        buffers: [keyBlocks, valueBlocks, residualKeys, residualValues, blockTable, ...(newBlockTable ? [newBlockTable] : []), ...(compaction ? [compaction] : [])],
        blocks: Array.from({ length: KV }, () => []),
        free: new FreeBlocks(poolBlocks),
        pending: Array.from({ length: KV }, () => []),
        newBlockTable,
        compaction,
        compactKeys: ev
          ? bindKernel(device, pipelines.get('kivi_compact_keys', { ...compact, KEY_BITS: k.keyBits }), [
              ev.sourceOf, blockTable, newBlockTable!, keyBlocks, scratch!.keyBlocks, ev.positions, ev.scratchPositions, compaction!,
            ])
          : null,
        compactValues: ev
          ? bindKernel(device, pipelines.get('kivi_compact_values', { ...compact, VALUE_BITS: k.valueBits }), [
              ev.sourceOf, blockTable, newBlockTable!, valueBlocks, scratch!.valueBlocks, compaction!,
            ])
          : null,
        budget: Infinity,
      };
    });
  }

  get length(): number {
    return Math.max(...this.layers.map((l) => this.kept(l)));
  }

  /** Tokens each head of `layer` holds. */
  private kept(layer: KiviLayer): number {
    return layer.blocks[0].length * this.shape.groupSize + this.residualLen;
  }

  truncate(keep: number): number {
    if (keep >= this.seen) return this.length;
    // After an eviction the kept tokens are no longer a prefix of the conversation: start over.
    if (this.evicted) keep = 0;
    const G = this.shape.groupSize;
    // Without eviction every layer holds the same blocks.
    const quantized = this.layers[0].blocks[0].length * G;
    if (keep >= quantized) {
      this.residualLen = keep - quantized;
    } else {
      // Tokens inside a block cannot be brought back to fp16: keep whole blocks only.
      const keepBlocks = Math.floor(keep / G);
      for (const layer of this.layers) {
        for (const head of layer.blocks) layer.free.give(head.splice(keepBlocks));
      }
      this.residualStart = 0;
      this.residualLen = 0;
      this.headBlocksDirty = true;
    }
    this.evicted = false;
    this.seen = this.length;
    this.eviction?.truncated(this.length);
    return this.length;
  }

  beginChunk(numTokens: number, position: number): void {
    const { groupSize: G, residualLength: R, maxBlocksPerHead } = this.shape;
    this.chunkTokens = numTokens;
    this.flushBlocks = Math.max(0, Math.floor((this.residualLen + numTokens - R) / G));
    const { numKvHeads: KV } = this.cfg;
    if (numTokens > 1) this.numSplits = 1;
    else if (this.layers[0].attentionDecode) this.numSplits = kiviDecodeSplits(this.length + 1, KV, this.io.partialSlots);
    else this.numSplits = decodeSplits(this.length + 1, this.io.partialSlots);
    const { queue } = this.device;
    this.writeHeadBlocks();
    this.eviction?.beginChunk(this.layers.map((layer) => this.kept(layer)), position, numTokens, this.layers.map((layer) => layer.budget), G);
    this.layers.forEach((layer) => {
      if (this.flushBlocks === 0) return;
      layer.blocks.forEach((head, h) => {
        const ids = layer.free.take(this.flushBlocks);
        queue.writeBuffer(layer.blockTable, (h * maxBlocksPerHead + head.length) * 4, Uint32Array.from(ids));
        layer.pending[h] = ids;
      });
    });
    // startPos is the chunk's original position (kv_window_capture reads it; no KIVI kernel needs slots).
    queue.writeBuffer(this.batch, 0, Uint32Array.of(numTokens, position, this.numSplits, 0, this.residualStart, this.residualLen, this.flushBlocks, 0));
  }

  /** Each head's block count, at the tail of every layer's block table, when it changed. */
  private writeHeadBlocks(): void {
    if (!this.headBlocksDirty) return;
    const tableWords = this.shape.numKvHeads * this.shape.maxBlocksPerHead;
    for (const layer of this.layers) {
      this.device.queue.writeBuffer(layer.blockTable, tableWords * 4, Uint32Array.from(layer.blocks, (head) => head.length));
    }
    this.headBlocksDirty = false;
  }

  recordLayer(pass: GPUComputePassEncoder, layer: number): void {
    const { numHeads: H, numKvHeads: KV, headDim: D } = this.cfg;
    const T = this.chunkTokens;
    const l = this.layers[layer];
    // attention_kivi_decode appends the token itself.
    if (T === 1 && l.attentionDecode) {
      dispatch(pass, l.attentionDecode, this.numSplits, KV);
    } else {
      dispatch(pass, l.append, Math.ceil((KV * D) / 2 / 64), T);
      dispatch(pass, l.attention, this.numSplits, H, T);
    }
    this.eviction?.recordChunk(pass, layer, T);
    dispatch(pass, l.reduce, H, T);
    if (this.flushBlocks > 0) {
      dispatch(pass, l.quantKeys, ...flushGrid(this.shape, this.flushBlocks));
      dispatch(pass, l.quantValues, ...flushGrid(this.shape, this.flushBlocks));
    }
  }

  endChunk(): void {
    const { groupSize: G, ringSlots } = this.shape;
    for (const layer of this.layers) {
      layer.blocks.forEach((head, h) => head.push(...layer.pending[h]));
      layer.pending = layer.blocks.map(() => []);
    }
    this.residualStart = (this.residualStart + this.flushBlocks * G) % ringSlots;
    this.residualLen += this.chunkTokens - this.flushBlocks * G;
    this.seen += this.chunkTokens;
    if (this.flushBlocks > 0) this.headBlocksDirty = true;
  }

  async maintain(seen: number, phase: 'prefill' | 'decode'): Promise<void> {
    const ev = this.eviction;
    if (!ev) return;
    const { groupSize: G, maxBlocksPerHead, numKvHeads: KV, headDim: D } = this.shape;
    // The residual is the protected recent window: eviction re-forms blocks only.
    const states = this.layers.map((l) => ({ kept: this.kept(l), recent: this.residualLen }));
    if (!ev.needsEviction(states, seen, phase === 'decode' ? G : 0, this.layers.map((l) => l.budget))) return;
    this.writeHeadBlocks();
    const sinkBlocks = Math.ceil(ev.settings.sinks / G);
    const floor = (sinkBlocks + 1) * G + this.residualLen;
    // Decode evicts a block below the budget, so a layer takes about 2 G steps (not G) to be a block
    // over it again: half the events, each layer still within budget + one block.
    const margin = phase === 'decode' ? G : 0;
    const { plans, encoder } = await ev.select(states, seen, G, floor, (l, budget): LayerPlan => {
      const blocks = this.layers[l].blocks[0].length;
      const newBlocks = Math.min(blocks, Math.max(sinkBlocks + 1, Math.floor((budget - margin - this.residualLen) / G)));
      return { evict: newBlocks < blocks, budget, newKept: newBlocks * G + this.residualLen };
    }, phase, this.residualStart);
    const { device, scratch } = this;
    // Layer by layer in the one encoder: its new blocks into the shared scratch (scratch ids
    // h * newBlocks + i), then the scratch's used range copied over the start of its pool (every old
    // block is dead by then) together with the new table and positions, before the next layer's
    // compaction writes the scratch again.
    const tableWords = KV * maxBlocksPerHead;
    const keyBytes = keyBlockWords(this.shape) * 4;
    const valueBytes = valueBlockWords(this.shape) * 4;
    this.layers.forEach((layer, l) => {
      const plan = plans[l];
      layer.budget = plan.budget;
      if (!plan.evict) return;
      const newBlocks = (plan.newKept - this.residualLen) / G;
      const ids = layer.blocks.map((_, h) => Array.from({ length: newBlocks }, (_, i) => h * newBlocks + i));
      const table = new Uint32Array(tableWords);
      ids.forEach((headIds, h) => table.set(headIds, h * maxBlocksPerHead));
      device.queue.writeBuffer(layer.newBlockTable!, 0, table);
      device.queue.writeBuffer(layer.compaction!, 0, Uint32Array.of(plan.newKept, newBlocks, 0, 0));
      const pass = encoder.beginComputePass();
      ev.recordLayerSelect(pass, l);
      dispatch(pass, layer.compactKeys!, Math.ceil(D / 64), newBlocks + 1, KV);
      if (newBlocks > 0) dispatch(pass, layer.compactValues!, Math.ceil(D / 64), newBlocks, KV);
      pass.end();
      const usedBlocks = KV * newBlocks;
      if (usedBlocks > 0) {
        encoder.copyBufferToBuffer(scratch!.keyBlocks, 0, layer.keyBlocks, 0, usedBlocks * keyBytes);
        encoder.copyBufferToBuffer(scratch!.valueBlocks, 0, layer.valueBlocks, 0, usedBlocks * valueBytes);
      }
      encoder.copyBufferToBuffer(layer.newBlockTable!, 0, layer.blockTable, 0, tableWords * 4);
      const positions = ev.layers[l];
      encoder.copyBufferToBuffer(positions.scratchPositions, 0, positions.positions, 0, positions.positions.size);
      layer.blocks = ids;
      layer.free.reset(usedBlocks);
      this.evicted = true;
      this.headBlocksDirty = true;
    });
    device.queue.submit([encoder.finish()]);
  }

  bytes(): KvBytes {
    const k = this.shape;
    const { numKvHeads: KV, headDim: D } = this.cfg;
    const codeWords = (D * k.groupSize * k.keyBits) / 32 + (k.groupSize * D * k.valueBits) / 32;
    const scaleWords = keyBlockWords(k) + valueBlockWords(k) - codeWords;
    const layerBytes = (blocks: number, residual: number, tableEntries: number): LayerKvBytes => ({
      codes: blocks * codeWords * 4,
      scales: blocks * scaleWords * 4,
      fullPrecision: KV * residual * D * 2 * 2,
      metadata: (tableEntries + KV) * 4,
    });
    const total = (b: LayerKvBytes) => b.codes + b.scales + b.fullPrecision + b.metadata;
    const tableWords = KV * k.maxBlocksPerHead;
    // Eviction adds a second block table and its per-layer buffers (positions, query window, LMBA).
    const evictionBytes = this.eviction ? tableWords * 4 + this.eviction.layerBytes() : 0;
    const perLayer = this.layers.map((layer) => {
      const blocks = layer.blocks.reduce((n, head) => n + head.length, 0);
      const used = layerBytes(blocks, this.residualLen, blocks);
      const allocated = layerBytes(this.poolBlocks, k.ringSlots, tableWords);
      if (this.eviction) used.metadata += KV * this.kept(layer) * 4;
      allocated.metadata += evictionBytes;
      return { used, allocated, keptTokens: this.kept(layer), budgetTokens: layer.budget };
    });
    // Compaction's scratch blocks and eviction's event buffers are shared by the layers: counted
    // once, in the total only.
    const scratchBytes = this.scratch ? this.scratch.keyBlocks.size + this.scratch.valueBlocks.size + this.eviction!.sharedBytes : 0;
    return {
      perLayer,
      used: perLayer.reduce((n, l) => n + total(l.used), 0),
      allocated: perLayer.reduce((n, l) => n + total(l.allocated), 0) + scratchBytes,
      fp16Equivalent: this.layers.length * this.seen * KV * D * 2 * 2,
    };
  }

  destroy(): void {
    for (const l of this.layers) for (const b of l.buffers) b.destroy();
    this.scratch?.keyBlocks.destroy();
    this.scratch?.valueBlocks.destroy();
    this.eviction?.destroy();
    this.batch.destroy();
  }
}

/** attention_kivi_decode serves a whole GQA group per workgroup, up to 8 query heads, and splits
 *  HEAD_DIM into channel groups of 16-channel batches (head dims 64 and 128); other shapes decode
 *  with attention_kivi. */
const DECODE_MAX_GQA = 8;
const hasDecodeKernel = (gqa: number, headDim: number): boolean => gqa <= DECODE_MAX_GQA && headDim % 64 === 0 && headDim <= 128;
/** Kept tokens per tile of attention_kivi_decode (its workgroup size). */
const DECODE_TILE = 256;
/** Workgroups (splits x KV heads) the decode split count aims for: ~2 per SM on a 132-SM H100.
 *  Each workgroup pays a fixed cost (its prologue and final reduction, a few microseconds) that
 *  several tiles per split amortise: on an H200 at 32K tokens (Llama-3.2-1B, 8 KV heads) 32 splits
 *  of 4 tiles beat 65 of 2 and 129 of 1; fewer tiles than that give one tile per split. */
const DECODE_WORKGROUPS = 256;

/** attention_kivi_decode's splits for `keys` kept tokens: whole tiles per split (the kernel gives
 *  split s tiles s * ceil(tiles / splits) ..), rounded down so no split runs an extra, mostly empty tile. */
function kiviDecodeSplits(keys: number, numKvHeads: number, maxSplits: number): number {
  const tiles = Math.ceil(keys / DECODE_TILE);
  const tilesPerSplit = Math.max(1, Math.floor(tiles / Math.ceil(DECODE_WORKGROUPS / numKvHeads)));
  return Math.max(1, Math.min(maxSplits, Math.ceil(tiles / tilesPerSplit)));
}

/** kivi_quant_keys and kivi_quant_values: (ceil(HEAD_DIM / 64), new blocks, KV heads). */
function flushGrid(k: KiviShape, flushBlocks: number): [number, number, number] {
  return [Math.ceil(k.headDim / 64), flushBlocks, k.numKvHeads];
}
