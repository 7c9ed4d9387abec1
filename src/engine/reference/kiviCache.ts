// CPU reference of one layer's streaming KIVI cache (DESIGN §5.1-5.2): the buffers, words and
// bookkeeping the GPU holds (src/engine/kv/layout.ts), driven in the same step order (append,
// attention, flush), so a GPU cache compares with it word for word. Also the offline quantization
// of a whole sequence, which a streamed cache must equal, and every kept token's dequantized key
// and value for the attention reference.
import { ContextFullError } from '../errors';
import { keyBlockWords, valueBlockWords, type KiviShape } from '../kv/layout';
import { floatToHalf, halfToFloat, roundToHalf } from './f16';
import { packKeyBlock, packValueBlock, unpackKeyToken, unpackValueToken } from './kivi';

/** The KIVI fields of one step's KvBatch uniform (words 4..6, after numTokens, startPos, numSplits, firstRow). */
export interface KiviStep {
  /** Ring slot of the oldest residual token. */
  residualStart: number;
  /** Residual tokens before the chunk's append. */
  residualLen: number;
  /** Blocks per head the flush after attention quantizes. */
  flushBlocks: number;
}

/** Blocks per head a flush quantizes from a residual of `residualTokens`: its oldest G tokens go,
 *  again and again, while it holds R + G or more, so R .. R + G - 1 tokens stay. */
export function blocksToFlush(residualTokens: number, k: KiviShape): number {
  return Math.max(0, Math.floor((residualTokens - k.residualLength) / k.groupSize));
}

export type ResidualRing = 'keys' | 'values';

export class KiviLayerCache {
  /** [KV, RING, D/2] u32: f16 pairs, residual token r of head h in slot (residualStart + r) % RING. */
  readonly residualKeys: Uint32Array;
  readonly residualValues: Uint32Array;
  /** [KV * maxBlocksPerHead, keyBlockWords] u32: the pool of packed key blocks. */
  readonly keyBlocks: Uint32Array;
  /** [KV * maxBlocksPerHead, valueBlockWords] u32, same block ids as keyBlocks. */
  readonly valueBlocks: Uint32Array;
  /** [KV * maxBlocksPerHead + KV] u32: pool id of head h's i-th block (oldest first) at
   *  h * maxBlocksPerHead + i, then headBlocks. */
  readonly blockTable: Uint32Array;
  /** [KV] u32: blocks each head holds; the tail of blockTable. */
  readonly headBlocks: Uint32Array;
  residualStart = 0;
  /** Residual tokens held by every head. */
  residualLen = 0;
  /** Pool ids not in use, the next one handed out last. */
  private readonly freeBlocks: number[];

  /** `poolOrder` is the order pool blocks are handed out (default 0, 1, 2, ...); tests shuffle it
   *  so that a kernel ignoring the block table fails. */
  constructor(
    readonly shape: KiviShape,
    readonly numHeads: number,
    poolOrder?: readonly number[],
  ) {
    const { numKvHeads: KV, headDim: D, ringSlots, maxBlocksPerHead } = shape;
    const poolBlocks = KV * maxBlocksPerHead;
    this.residualKeys = new Uint32Array(KV * ringSlots * (D / 2));
    this.residualValues = new Uint32Array(KV * ringSlots * (D / 2));
    this.keyBlocks = new Uint32Array(poolBlocks * keyBlockWords(shape));
    this.valueBlocks = new Uint32Array(poolBlocks * valueBlockWords(shape));
    this.blockTable = new Uint32Array(poolBlocks + KV);
    this.headBlocks = this.blockTable.subarray(poolBlocks);
    const order = poolOrder ?? Array.from({ length: poolBlocks }, (_, i) => i);
    if (order.length !== poolBlocks || new Set(order).size !== poolBlocks || order.some((id) => !(id >= 0 && id < poolBlocks))) {
      throw new RangeError(`KiviLayerCache: poolOrder must list each of the ${poolBlocks} pool block ids once.`);
    }
    this.freeBlocks = [...order].reverse();
  }

  /** A whole sequence quantized at once (qkv [T, (H + 2 KV) D] f32): complete blocks of G from
   *  the first token, the newest R .. R + G - 1 tokens left in the residual, token p in ring slot
   *  p % RING as streaming puts it. */
  static fromSequence(shape: KiviShape, numHeads: number, qkv: Float32Array, poolOrder?: readonly number[]): KiviLayerCache {
    const cache = new KiviLayerCache(shape, numHeads, poolOrder);
    const { numKvHeads: KV, headDim: D, groupSize: G, ringSlots } = shape;
    const stride = (numHeads + 2 * KV) * D;
    const numTokens = qkv.length / stride;
    const blocks = blocksToFlush(numTokens, shape);
    cache.reserveBlocks(blocks, numTokens);
    const token = (p: number, head: number) => Array.from(qkv.subarray(p * stride + head * D, p * stride + head * D + D), roundToHalf);
    for (let h = 0; h < KV; h++) {
      for (let i = 0; i < blocks; i++) {
        const ids = Array.from({ length: G }, (_, j) => i * G + j);
        cache.storeBlock(h, i, ids.map((p) => token(p, numHeads + h)), ids.map((p) => token(p, numHeads + KV + h)));
      }
      for (let p = blocks * G; p < numTokens; p++) {
        cache.writeResidual(h, p % ringSlots, qkv.subarray(p * stride + (numHeads + h) * D), qkv.subarray(p * stride + (numHeads + KV + h) * D));
      }
    }
    cache.headBlocks.fill(blocks);
    cache.residualStart = (blocks * G) % ringSlots;
    cache.residualLen = numTokens - blocks * G;
    return cache;
  }

  /** Step 1 (kivi_append): the k and v heads of qkv [T, (H + 2 KV) D] f32 become residual tokens
   *  residualLen .., rounded to f16; the pool blocks the coming flush fills are entered in the
   *  block table. Returns the step's KvBatch fields (the state before the append). */
  append(qkv: Float32Array, numTokens: number): KiviStep {
    const { numKvHeads: KV, headDim: D, ringSlots } = this.shape;
    if (blocksToFlush(this.residualLen, this.shape) > 0) {
      throw new RangeError('KiviLayerCache: flush() the previous chunk before appending the next.');
    }
    if (this.residualLen + numTokens > ringSlots) {
      throw new RangeError(`KiviLayerCache: a chunk of ${numTokens} tokens does not fit the ring of ${ringSlots} slots holding ${this.residualLen}.`);
    }
    const step = { residualStart: this.residualStart, residualLen: this.residualLen, flushBlocks: blocksToFlush(this.residualLen + numTokens, this.shape) };
    this.reserveBlocks(step.flushBlocks, this.keptTokens() + numTokens);
    const stride = (this.numHeads + 2 * KV) * D;
    for (let t = 0; t < numTokens; t++) {
      const slot = (this.residualStart + this.residualLen + t) % ringSlots;
      for (let h = 0; h < KV; h++) {
        this.writeResidual(h, slot, qkv.subarray(t * stride + (this.numHeads + h) * D), qkv.subarray(t * stride + (this.numHeads + KV + h) * D));
      }
    }
    this.residualLen += numTokens;
    return step;
  }

  /** Step 3 (kivi_quant_keys + kivi_quant_values): while the residual holds R + G or more tokens,
   *  its oldest G become a new block per head, in the pool blocks the append entered. */
  flush(): void {
    const { numKvHeads: KV, groupSize: G, ringSlots } = this.shape;
    const blocks = blocksToFlush(this.residualLen, this.shape);
    for (let h = 0; h < KV; h++) {
      for (let i = 0; i < blocks; i++) {
        const rs = Array.from({ length: G }, (_, j) => i * G + j);
        this.storeBlock(h, this.headBlocks[h] + i, rs.map((r) => this.residualToken('keys', h, r)), rs.map((r) => this.residualToken('values', h, r)));
      }
      this.headBlocks[h] += blocks;
    }
    this.residualStart = (this.residualStart + blocks * G) % ringSlots;
    this.residualLen -= blocks * G;
  }

  /** Head h's i-th key block (oldest first) as stored in the pool. */
  keyBlock(h: number, i: number): Uint32Array {
    const words = keyBlockWords(this.shape);
    const id = this.blockTable[h * this.shape.maxBlocksPerHead + i];
    return this.keyBlocks.subarray(id * words, (id + 1) * words);
  }

  valueBlock(h: number, i: number): Uint32Array {
    const words = valueBlockWords(this.shape);
    const id = this.blockTable[h * this.shape.maxBlocksPerHead + i];
    return this.valueBlocks.subarray(id * words, (id + 1) * words);
  }

  /** Residual token r (0 = oldest) of head h: D f16 values. */
  residualToken(ring: ResidualRing, h: number, r: number): Float32Array {
    const { headDim: D, ringSlots } = this.shape;
    const words = ring === 'keys' ? this.residualKeys : this.residualValues;
    const base = (h * ringSlots + ((this.residualStart + r) % ringSlots)) * (D / 2);
    return Float32Array.from({ length: D }, (_, c) => halfToFloat((words[base + (c >> 1)] >>> (16 * (c & 1))) & 0xffff));
  }

  /** Head h's kept keys, one D-vector per token in attention order: every block's tokens
   *  dequantized, then the residual's f16 values. */
  keptKeys(h: number): Float32Array[] {
    return this.kept(h, 'keys');
  }

  keptValues(h: number): Float32Array[] {
    return this.kept(h, 'values');
  }

  private kept(h: number, ring: ResidualRing): Float32Array[] {
    const G = this.shape.groupSize;
    const tokens: Float32Array[] = [];
    for (let i = 0; i < this.headBlocks[h]; i++) {
      for (let j = 0; j < G; j++) {
        tokens.push(ring === 'keys' ? unpackKeyToken(this.keyBlock(h, i), j, this.shape) : unpackValueToken(this.valueBlock(h, i), j, this.shape));
      }
    }
    for (let r = 0; r < this.residualLen; r++) tokens.push(this.residualToken(ring, h, r));
    return tokens;
  }

  /** Tokens each head keeps (blocks and residual). */
  private keptTokens(): number {
    return this.headBlocks[0] * this.shape.groupSize + this.residualLen;
  }

  /** Enters pool blocks for each head's next `blocks` blocks in the block table, block-major. */
  private reserveBlocks(blocks: number, neededTokens: number): void {
    const { numKvHeads: KV, groupSize: G, residualLength: R, maxBlocksPerHead } = this.shape;
    for (let i = 0; i < blocks; i++) {
      for (let h = 0; h < KV; h++) {
        if (this.headBlocks[h] + i >= maxBlocksPerHead) throw new ContextFullError(neededTokens, maxBlocksPerHead * G + R + G - 1);
        this.blockTable[h * maxBlocksPerHead + this.headBlocks[h] + i] = this.freeBlocks.pop()!;
      }
    }
  }

  /** Quantizes G tokens x D channels of keys and of values (f16 values) into head h's i-th block. */
  private storeBlock(h: number, i: number, keys: ArrayLike<number>[], values: ArrayLike<number>[]): void {
    this.keyBlock(h, i).set(packKeyBlock(keys, this.shape));
    this.valueBlock(h, i).set(packValueBlock(values, this.shape));
  }

  /** Rounds D keys and values (f32) to f16 pairs into ring slot `slot` of head h. */
  private writeResidual(h: number, slot: number, keys: ArrayLike<number>, values: ArrayLike<number>): void {
    const { headDim: D, ringSlots } = this.shape;
    const base = (h * ringSlots + slot) * (D / 2);
    for (let w = 0; w < D / 2; w++) {
      this.residualKeys[base + w] = (floatToHalf(keys[2 * w]) | (floatToHalf(keys[2 * w + 1]) << 16)) >>> 0;
      this.residualValues[base + w] = (floatToHalf(values[2 * w]) | (floatToHalf(values[2 * w + 1]) << 16)) >>> 0;
    }
  }
}
