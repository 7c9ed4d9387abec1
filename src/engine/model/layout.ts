// Where each parameter of a supported architecture lives in an MLC tensor cache, and its shape.
// The GPU model and the CPU reference both read weights through this one map.
import type { ModelConfig, Quantization } from './types';

/** A linear layer y = W x (+ b), W of shape [outDim, inDim], named `${prefix}.weight` or
 *  `${prefix}.q_weight` / `${prefix}.q_scale` when group-quantized. */
export interface LinearSpec {
  prefix: string;
  outDim: number;
  inDim: number;
  bias: string | null;
}

export interface LayerSpec {
  inputNorm: string;
  /** Fused [q; k; v] projection (qkv_proj, or c_attn in qwen2): (numHeads + 2 * numKvHeads) * headDim outputs. */
  qkv: LinearSpec;
  o: LinearSpec;
  postNorm: string;
  /** Fused [gate; up] projection: 2 * intermediateSize outputs. */
  gateUp: LinearSpec;
  down: LinearSpec;
}

export interface ModelSpec {
  /** The embedding table, stored like a linear layer of shape [vocab, hidden]. */
  embed: LinearSpec;
  layers: LayerSpec[];
  finalNorm: string;
  /** lm_head, or the embedding table itself when embeddings are tied. */
  lmHead: LinearSpec;
}

export const GROUP_SIZE = 32;

export function isGroupQuantized(q: Quantization): boolean {
  return q === 'q4f16_1' || q === 'q4f32_1';
}

export function modelSpec(cfg: ModelConfig): ModelSpec {
  const { hiddenSize: hidden, headDim, numHeads, numKvHeads, intermediateSize, vocabSize } = cfg;
  const embed: LinearSpec = { prefix: 'model.embed_tokens', outDim: vocabSize, inDim: hidden, bias: null };
  const layers = Array.from({ length: cfg.numLayers }, (_, i): LayerSpec => {
    const p = `model.layers.${i}`;
    // mlc-llm's qwen2 keeps Qwen-1's name for the fused projection (qwen2_model.py: self.c_attn).
    const qkvPrefix = cfg.architecture === 'qwen2' ? `${p}.self_attn.c_attn` : `${p}.self_attn.qkv_proj`;
    return {
      inputNorm: `${p}.input_layernorm.weight`,
      qkv: {
        prefix: qkvPrefix,
        outDim: (numHeads + 2 * numKvHeads) * headDim,
        inDim: hidden,
        bias: cfg.qkvBias ? `${qkvPrefix}.bias` : null,
      },
      o: { prefix: `${p}.self_attn.o_proj`, outDim: hidden, inDim: numHeads * headDim, bias: null },
      postNorm: `${p}.post_attention_layernorm.weight`,
      gateUp: { prefix: `${p}.mlp.gate_up_proj`, outDim: 2 * intermediateSize, inDim: hidden, bias: null },
      down: { prefix: `${p}.mlp.down_proj`, outDim: hidden, inDim: intermediateSize, bias: null },
    };
  });
  const lmHead = cfg.tieWordEmbeddings ? embed : { prefix: 'lm_head', outDim: vocabSize, inDim: hidden, bias: null };
  return { embed, layers, finalNorm: 'model.norm.weight', lmHead };
}

/** Tensor names holding a linear layer's weight under a quantization. */
export function linearTensorNames(spec: LinearSpec, q: Quantization): { weight: string; scale: string | null } {
  return isGroupQuantized(q)
    ? { weight: `${spec.prefix}.q_weight`, scale: `${spec.prefix}.q_scale` }
    : { weight: `${spec.prefix}.weight`, scale: null };
}

/** Inverse RoPE frequencies per dimension pair, with Llama-3 frequency-dependent scaling. */
export function ropeInvFreq(cfg: ModelConfig): Float32Array {
  const half = cfg.headDim / 2;
  const invFreq = new Float32Array(half);
  for (let i = 0; i < half; i++) {
    let freq = 1 / cfg.ropeTheta ** ((2 * i) / cfg.headDim);
    const s = cfg.ropeScaling;
    if (s) {
      const wavelen = (2 * Math.PI) / freq;
      const lowFreqWavelen = s.originalMaxPositionEmbeddings / s.lowFreqFactor;
      const highFreqWavelen = s.originalMaxPositionEmbeddings / s.highFreqFactor;
      if (wavelen > lowFreqWavelen) {
        freq /= s.factor;
      } else if (wavelen >= highFreqWavelen) {
        const smooth = (s.originalMaxPositionEmbeddings / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
        freq = (1 - smooth) * (freq / s.factor) + smooth * freq;
      }
    }
    invFreq[i] = freq;
  }
  return invFreq;
}
