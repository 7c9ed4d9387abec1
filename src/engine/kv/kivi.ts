// The KIVI KV cache on the GPU (DESIGN §5.1-5.2; layouts in kv/layout.ts). Per chunk of T tokens,
// for every layer: kivi_append puts the new keys/values into the fp16 residual ring,
// attention_kivi + attention_reduce attend over the quantized blocks and the residual, and
// kivi_quant_keys / kivi_quant_values turn the oldest G residual tokens into a new block while the
// residual holds R + G or more. The CPU keeps the bookkeeping (ring position, block tables, free
// pool blocks) and hands it to the kernels through the KvBatch uniform and the tables.
import { bindKernel, dispatch, type BoundKernel, type PipelineCache } from '../gpu/shaders';
import type { ModelConfig } from '../model/types';
import { decodeSplits, type AttentionIo, type KvBytes, type KvCache, type LayerKvBytes } from './cache';
import { keyBlockWords, kiviShape, valueBlockWords, type KiviShape } from './layout';
import type { KvSettings } from './settings';

interface KiviLayer {
  append: BoundKernel;
  attention: BoundKernel;
  reduce: BoundKernel;
  quantKeys: BoundKernel;
  quantValues: BoundKernel;
  /** Pool ids [KV, maxBlocksPerHead], then each head's block count [KV]. */
  blockTable: GPUBuffer;
  buffers: GPUBuffer[];
  /** Pool block ids of each head's blocks, oldest first. */
  blocks: number[][];
  /** Pool block ids not in use. */
  free: number[];
  /** Per head, the blocks the chunk being recorded flushes into (committed by endChunk). */
  pending: number[][];
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
    const poolBlocks = KV * k.maxBlocksPerHead;
    const storage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    this.layers = Array.from({ length: cfg.numLayers }, (_, i) => {
      const make = (name: string, bytes: number) => device.createBuffer({ label: `layer${i}.${name}`, size: bytes, usage: storage });
      const keyBlocks = make('keyBlocks', poolBlocks * keyBlockWords(k) * 4);
      const valueBlocks = make('valueBlocks', poolBlocks * valueBlockWords(k) * 4);
      const residualKeys = make('residualKeys', KV * k.ringSlots * (D / 2) * 4);
      const residualValues = make('residualValues', KV * k.ringSlots * (D / 2) * 4);
      const blockTable = make('blockTable', (poolBlocks + KV) * 4);
      const quant = pick('HEAD_DIM', 'NUM_KV_HEADS', 'GROUP', 'RING', 'MAX_BLOCKS');
      return {
        append: bindKernel(device, pipelines.get('kivi_append', { HEAD_DIM, NUM_HEADS, NUM_KV_HEADS, RING }), [io.qkv, residualKeys, residualValues, this.batch]),
        attention: bindKernel(device, pipelines.get('attention_kivi', overrides), [
          io.qkv, keyBlocks, valueBlocks, blockTable, residualKeys, residualValues, io.partialAcc, io.partialMl, this.batch,
        ]),
        reduce: bindKernel(device, pipelines.get('attention_reduce', { HEAD_DIM: D, NUM_HEADS: H }), [io.partialAcc, io.partialMl, io.attnOut, this.batch]),
        quantKeys: bindKernel(device, pipelines.get('kivi_quant_keys', { ...quant, KEY_BITS: k.keyBits }), [residualKeys, blockTable, keyBlocks, this.batch]),
        quantValues: bindKernel(device, pipelines.get('kivi_quant_values', { ...quant, VALUE_BITS: k.valueBits }), [residualValues, blockTable, valueBlocks, this.batch]),
        blockTable,
        buffers: [keyBlocks, valueBlocks, residualKeys, residualValues, blockTable],
        blocks: Array.from({ length: KV }, () => []),
        free: Array.from({ length: poolBlocks }, (_, b) => poolBlocks - 1 - b),
        pending: Array.from({ length: KV }, () => []),
      };
    });
  }

  get length(): number {
    return this.layers[0].blocks[0].length * this.shape.groupSize + this.residualLen;
  }

  truncate(keep: number): number {
    const G = this.shape.groupSize;
    const quantized = this.layers[0].blocks[0].length * G;
    if (keep >= quantized) {
      this.residualLen = Math.min(this.residualLen, keep - quantized);
    } else {
      // Tokens inside a block cannot be brought back to fp16: keep whole blocks only.
      const keepBlocks = Math.floor(keep / G);
      for (const layer of this.layers) {
        for (const head of layer.blocks) layer.free.push(...head.splice(keepBlocks));
      }
      this.residualStart = 0;
      this.residualLen = 0;
      this.headBlocksDirty = true;
    }
    return this.length;
  }

  beginChunk(numTokens: number): void {
    const { groupSize: G, residualLength: R, maxBlocksPerHead, numKvHeads } = this.shape;
    const poolBlocks = numKvHeads * maxBlocksPerHead;
    this.chunkTokens = numTokens;
    this.flushBlocks = Math.max(0, Math.floor((this.residualLen + numTokens - R) / G));
    this.numSplits = numTokens === 1 ? decodeSplits(this.length + 1, this.io.partialSlots) : 1;
    const { queue } = this.device;
    for (const layer of this.layers) {
      if (this.headBlocksDirty) queue.writeBuffer(layer.blockTable, poolBlocks * 4, Uint32Array.from(layer.blocks, (head) => head.length));
      if (this.flushBlocks === 0) continue;
      layer.blocks.forEach((head, h) => {
        const ids = layer.free.splice(layer.free.length - this.flushBlocks).reverse();
        queue.writeBuffer(layer.blockTable, (h * maxBlocksPerHead + head.length) * 4, Uint32Array.from(ids));
        layer.pending[h] = ids;
      });
    }
    this.headBlocksDirty = false;
    queue.writeBuffer(this.batch, 0, Uint32Array.of(numTokens, this.length, this.numSplits, 0, this.residualStart, this.residualLen, this.flushBlocks, 0));
  }

  recordLayer(pass: GPUComputePassEncoder, layer: number): void {
    const { numHeads: H, numKvHeads: KV, headDim: D } = this.cfg;
    const T = this.chunkTokens;
    const l = this.layers[layer];
    dispatch(pass, l.append, Math.ceil((KV * D) / 2 / 64), T);
    dispatch(pass, l.attention, this.numSplits, H, T);
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
    if (this.flushBlocks > 0) this.headBlocksDirty = true;
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
    const perLayer = this.layers.map((layer) => {
      const blocks = layer.blocks.reduce((n, head) => n + head.length, 0);
      return {
        used: layerBytes(blocks, this.residualLen, blocks),
        allocated: layerBytes(KV * k.maxBlocksPerHead, k.ringSlots, KV * k.maxBlocksPerHead),
      };
    });
    return {
      perLayer,
      used: perLayer.reduce((n, l) => n + total(l.used), 0),
      allocated: perLayer.reduce((n, l) => n + total(l.allocated), 0),
      fp16Equivalent: this.layers.length * this.length * KV * D * 2 * 2,
    };
  }

  destroy(): void {
    for (const l of this.layers) for (const b of l.buffers) b.destroy();
    this.batch.destroy();
  }
}

/** kivi_quant_keys and kivi_quant_values: (ceil(HEAD_DIM / 64), new blocks, KV heads). */
function flushGrid(k: KiviShape, flushBlocks: number): [number, number, number] {
  return [Math.ceil(k.headDim / 64), flushBlocks, k.numKvHeads];
}
