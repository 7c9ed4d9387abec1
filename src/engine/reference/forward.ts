// The whole forward pass on the CPU, written to read like the math; the oracle for the GPU model.
import { kiviShape } from '../kv/layout';
import { DEFAULT_KV_SETTINGS, isQuantized, type KvSettings } from '../kv/settings';
import { isGroupQuantized, linearTensorNames, modelSpec, ropeInvFreq, type LinearSpec } from '../model/layout';
import type { ModelConfig, TensorData, WeightMap } from '../model/types';
import { halvesToFloats } from './f16';
import {
  attention, embed, kvAppendF16, matmul, newF16Cache, rmsnorm, rope, siluMul,
  type AttentionShape, type F16Cache, type Linear,
} from './kernels';
import { kiviAttention } from './kiviAttention';
import { KiviLayerCache } from './kiviCache';

function tensor(weights: WeightMap, name: string): TensorData {
  const t = weights.get(name);
  if (!t) throw new Error(`reference: tensor ${name} missing`);
  return t;
}

/** A tensor's values as f32 (f16 and f32 tensors alike). */
export function floatsOf(t: TensorData): Float32Array {
  const bytes = t.bytes.slice();
  if (t.dtype === 'float16') return halvesToFloats(new Uint16Array(bytes.buffer));
  if (t.dtype === 'float32') return new Float32Array(bytes.buffer);
  throw new Error(`reference: ${t.name} is ${t.dtype}, expected a float tensor`);
}

function linear(cfg: ModelConfig, weights: WeightMap, spec: LinearSpec): Linear {
  const names = linearTensorNames(spec, cfg.quantization);
  const bias = spec.bias ? floatsOf(tensor(weights, spec.bias)) : null;
  const { outDim, inDim } = spec;
  if (isGroupQuantized(cfg.quantization)) {
    const qWeight = new Uint32Array(tensor(weights, names.weight).bytes.slice().buffer);
    return { kind: 'q4', outDim, inDim, qWeight, scale: floatsOf(tensor(weights, names.scale!)), bias };
  }
  return { kind: 'dense', outDim, inDim, weight: floatsOf(tensor(weights, names.weight)), bias };
}

export class ReferenceModel {
  private readonly shape: AttentionShape;
  private readonly invFreq: Float32Array;
  private readonly embedTable: Linear;
  private readonly lmHead: Linear;
  private readonly finalNorm: Float32Array;
  private readonly layers: { inputNorm: Float32Array; qkv: Linear; o: Linear; postNorm: Float32Array; gateUp: Linear; down: Linear }[];
  /** One KV cache per layer: fp16, or KIVI (append, attend, flush, as on the GPU). */
  private readonly caches: (F16Cache | KiviLayerCache)[];
  /** Tokens already in the KV cache. */
  length = 0;

  constructor(private readonly cfg: ModelConfig, weights: WeightMap, kv: KvSettings = DEFAULT_KV_SETTINGS, capacity = cfg.contextWindowSize) {
    const spec = modelSpec(cfg);
    this.shape = { numHeads: cfg.numHeads, numKvHeads: cfg.numKvHeads, headDim: cfg.headDim };
    this.invFreq = ropeInvFreq(cfg);
    this.embedTable = linear(cfg, weights, spec.embed);
    this.lmHead = cfg.tieWordEmbeddings ? this.embedTable : linear(cfg, weights, spec.lmHead);
    this.finalNorm = floatsOf(tensor(weights, spec.finalNorm));
    this.layers = spec.layers.map((l) => ({
      inputNorm: floatsOf(tensor(weights, l.inputNorm)),
      qkv: linear(cfg, weights, l.qkv),
      o: linear(cfg, weights, l.o),
      postNorm: floatsOf(tensor(weights, l.postNorm)),
      gateUp: linear(cfg, weights, l.gateUp),
      down: linear(cfg, weights, l.down),
    }));
    this.caches = spec.layers.map(() =>
      isQuantized(kv)
        ? new KiviLayerCache(kiviShape(kv, cfg.numKvHeads, cfg.headDim, capacity, cfg.prefillChunkSize), cfg.numHeads)
        : newF16Cache(this.shape, capacity),
    );
  }

  /** Runs `tokens` at positions length.. in prefill chunks like the GPU (a quantized cache makes
   *  chunking visible: a later chunk attends over blocks an earlier one flushed), appends them to
   *  the cache, and returns the last token's logits. */
  forward(tokens: number[]): Float32Array {
    let logits: Float32Array = new Float32Array(0);
    for (let start = 0; start < tokens.length; start += this.cfg.prefillChunkSize) {
      logits = this.forwardChunk(tokens.slice(start, start + this.cfg.prefillChunkSize));
    }
    return logits;
  }

  private forwardChunk(tokens: number[]): Float32Array {
    const { cfg, shape } = this;
    const startPos = this.length;
    const x = embed(this.embedTable, tokens);
    this.layers.forEach((layer, l) => {
      // attention block
      const qkv = matmul(rmsnorm(x, layer.inputNorm, cfg.rmsNormEps), layer.qkv);
      rope(qkv, startPos, this.invFreq, shape);
      const attnOut = this.attend(this.caches[l], qkv, startPos, tokens.length);
      addInPlace(x, matmul(attnOut, layer.o));
      // feed-forward block
      const gateUp = matmul(rmsnorm(x, layer.postNorm, cfg.rmsNormEps), layer.gateUp);
      addInPlace(x, matmul(siluMul(gateUp, cfg.intermediateSize), layer.down));
    });
    this.length += tokens.length;
    const last = x.subarray((tokens.length - 1) * cfg.hiddenSize);
    return matmul(rmsnorm(last, this.finalNorm, cfg.rmsNormEps), this.lmHead);
  }

  /** Stores the chunk's keys and values in the layer's cache and attends over it. */
  private attend(cache: F16Cache | KiviLayerCache, qkv: Float32Array, startPos: number, numTokens: number): Float32Array {
    if (cache instanceof KiviLayerCache) {
      cache.append(qkv, numTokens);
      const attnOut = kiviAttention(qkv, cache, this.shape);
      cache.flush();
      return attnOut;
    }
    kvAppendF16(cache, qkv, startPos, this.shape);
    return attention(qkv, cache, startPos, this.shape);
  }
}

function addInPlace(x: Float32Array, y: Float32Array): void {
  for (let i = 0; i < x.length; i++) x[i] += y[i];
}
