// CPU reference of every WGSL kernel, one function per kernel file of the same name, in plain
// TypeScript with f64 accumulation. Layouts are those in the kernels' header comments.
import { roundToHalf } from './f16';

/** A linear layer [outDim, inDim]: group-quantized to 4 bits (MLC layout "NK") or dense. */
export type Linear =
  | { kind: 'q4'; outDim: number; inDim: number; qWeight: Uint32Array; scale: Float32Array; bias: Float32Array | null }
  | { kind: 'dense'; outDim: number; inDim: number; weight: Float32Array; bias: Float32Array | null };

/** Weight W[n, k] of a linear layer. */
export function weightAt(lin: Linear, n: number, k: number): number {
  if (lin.kind === 'dense') return lin.weight[n * lin.inDim + k];
  const word = lin.qWeight[n * (lin.inDim / 8) + (k >> 3)];
  const code = (word >>> (4 * (k & 7))) & 15;
  return (code - 7) * lin.scale[n * (lin.inDim / 32) + (k >> 5)];
}

/** embed_q4 / embed_dense: rows of the table for each token, [T, hidden]. */
export function embed(table: Linear, tokens: ArrayLike<number>): Float32Array {
  const hidden = table.inDim;
  const out = new Float32Array(tokens.length * hidden);
  for (let t = 0; t < tokens.length; t++) {
    for (let c = 0; c < hidden; c++) out[t * hidden + c] = weightAt(table, tokens[t], c);
  }
  return out;
}

/** rmsnorm: each row of x [T, hidden] divided by its RMS, times weight. */
export function rmsnorm(x: Float32Array, weight: Float32Array, eps: number): Float32Array {
  const hidden = weight.length;
  const out = new Float32Array(x.length);
  for (let row = 0; row < x.length / hidden; row++) {
    let sumSq = 0;
    for (let c = 0; c < hidden; c++) sumSq += x[row * hidden + c] ** 2;
    const invRms = 1 / Math.sqrt(sumSq / hidden + eps);
    for (let c = 0; c < hidden; c++) out[row * hidden + c] = x[row * hidden + c] * invRms * weight[c];
  }
  return out;
}

/** matmul_q4 / matmul_dense: y [T, outDim] = x [T, inDim] W^T (+ bias). */
export function matmul(x: Float32Array, lin: Linear): Float32Array {
  const { inDim, outDim } = lin;
  const numTokens = x.length / inDim;
  const dense = new Float64Array(inDim);
  const y = new Float32Array(numTokens * outDim);
  for (let n = 0; n < outDim; n++) {
    for (let k = 0; k < inDim; k++) dense[k] = weightAt(lin, n, k);
    for (let t = 0; t < numTokens; t++) {
      let acc = lin.bias ? lin.bias[n] : 0;
      for (let k = 0; k < inDim; k++) acc += x[t * inDim + k] * dense[k];
      y[t * outDim + n] = acc;
    }
  }
  return y;
}

export interface AttentionShape {
  numHeads: number;
  numKvHeads: number;
  headDim: number;
}

/** rope: rotates the q and k heads of qkv [T, (H + 2 KV) D] in place, token t at startPos + t. */
export function rope(qkv: Float32Array, startPos: number, invFreq: Float32Array, shape: AttentionShape): void {
  const { numHeads, numKvHeads, headDim } = shape;
  const stride = (numHeads + 2 * numKvHeads) * headDim;
  const half = headDim / 2;
  for (let t = 0; t < qkv.length / stride; t++) {
    for (let head = 0; head < numHeads + numKvHeads; head++) {
      const base = t * stride + head * headDim;
      for (let i = 0; i < half; i++) {
        const angle = Math.fround((startPos + t) * invFreq[i]);
        const [c, s] = [Math.cos(angle), Math.sin(angle)];
        const [x0, x1] = [qkv[base + i], qkv[base + i + half]];
        qkv[base + i] = x0 * c - x1 * s;
        qkv[base + i + half] = x1 * c + x0 * s;
      }
    }
  }
}

/** One layer's fp16 KV cache: per KV head, [maxSeq, headDim] values already rounded to f16. */
export interface F16Cache {
  keys: Float32Array[];
  values: Float32Array[];
}

export function newF16Cache(shape: AttentionShape, maxSeq: number): F16Cache {
  const make = () => Array.from({ length: shape.numKvHeads }, () => new Float32Array(maxSeq * shape.headDim));
  return { keys: make(), values: make() };
}

/** kv_append_f16: stores the k and v heads of qkv at slots startPos + t, rounded to f16. */
export function kvAppendF16(cache: F16Cache, qkv: Float32Array, startPos: number, shape: AttentionShape): void {
  const { numHeads, numKvHeads, headDim } = shape;
  const stride = (numHeads + 2 * numKvHeads) * headDim;
  for (let t = 0; t < qkv.length / stride; t++) {
    for (let h = 0; h < numKvHeads; h++) {
      const k = t * stride + (numHeads + h) * headDim;
      const v = t * stride + (numHeads + numKvHeads + h) * headDim;
      for (let c = 0; c < headDim; c++) {
        cache.keys[h][(startPos + t) * headDim + c] = roundToHalf(qkv[k + c]);
        cache.values[h][(startPos + t) * headDim + c] = roundToHalf(qkv[v + c]);
      }
    }
  }
}

/** attention_f16 + attention_reduce: causal softmax(q k^T / sqrt(D)) v for T queries at
 *  startPos.., query head h reading KV head h / (H / KV). Returns [T, H * D]. */
export function attention(qkv: Float32Array, cache: F16Cache, startPos: number, shape: AttentionShape): Float32Array {
  const { numHeads, numKvHeads, headDim } = shape;
  const stride = (numHeads + 2 * numKvHeads) * headDim;
  const numTokens = qkv.length / stride;
  const out = new Float32Array(numTokens * numHeads * headDim);
  const scale = 1 / Math.sqrt(headDim);
  for (let t = 0; t < numTokens; t++) {
    const kvLen = startPos + t + 1;
    for (let h = 0; h < numHeads; h++) {
      const kvHead = Math.floor(h / (numHeads / numKvHeads));
      const [keys, values] = [cache.keys[kvHead], cache.values[kvHead]];
      const q = t * stride + h * headDim;
      const scores = new Float64Array(kvLen);
      for (let j = 0; j < kvLen; j++) {
        let dot = 0;
        for (let c = 0; c < headDim; c++) dot += qkv[q + c] * keys[j * headDim + c];
        scores[j] = dot * scale;
      }
      const max = Math.max(...scores);
      let total = 0;
      for (let j = 0; j < kvLen; j++) total += (scores[j] = Math.exp(scores[j] - max));
      for (let c = 0; c < headDim; c++) {
        let acc = 0;
        for (let j = 0; j < kvLen; j++) acc += scores[j] * values[j * headDim + c];
        out[t * numHeads * headDim + h * headDim + c] = acc / total;
      }
    }
  }
  return out;
}

/** silu_mul: act [T, I] = silu(gate) * up from gateUp [T, 2I] = [gate | up]. */
export function siluMul(gateUp: Float32Array, intermediate: number): Float32Array {
  const numTokens = gateUp.length / (2 * intermediate);
  const act = new Float32Array(numTokens * intermediate);
  for (let t = 0; t < numTokens; t++) {
    for (let i = 0; i < intermediate; i++) {
      const gate = gateUp[t * 2 * intermediate + i];
      const up = gateUp[t * 2 * intermediate + intermediate + i];
      act[t * intermediate + i] = (gate / (1 + Math.exp(-gate))) * up;
    }
  }
  return act;
}

/** sample_penalty: divides positive logits of seen tokens by the penalty, multiplies negative ones. */
export function samplePenalty(logits: Float32Array, seenTokens: ArrayLike<number>, penalty: number): void {
  for (let i = 0; i < seenTokens.length; i++) {
    const tok = seenTokens[i];
    logits[tok] = logits[tok] > 0 ? logits[tok] / penalty : logits[tok] * penalty;
  }
}

/** sample_argmax: index of the largest logit, the lowest index winning ties. */
export function sampleArgmax(logits: Float32Array): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

export const TOP_P_BISECTION_STEPS = 32;

/** sample_top_p: the same nucleus-by-bisection algorithm as the kernel (see its header), in f64.
 *  Returns the drawn token and the nucleus threshold on unnormalised probabilities. */
export function sampleTopP(logits: Float32Array, temperature: number, topP: number, u: number): { token: number; theta: number } {
  let maxLogit = -Infinity;
  for (const l of logits) maxLogit = Math.max(maxLogit, l);
  const probs = Float64Array.from(logits, (l) => Math.exp((l - maxLogit) / temperature));
  const total = probs.reduce((a, b) => a + b, 0);
  const keptMass = (theta: number) => probs.reduce((acc, p) => (p >= theta ? acc + p : acc), 0);
  let [lo, hi] = [0, 1];
  for (let i = 0; i < TOP_P_BISECTION_STEPS; i++) {
    const mid = Math.fround(0.5 * (lo + hi));
    if (keptMass(mid) >= topP * total) lo = mid;
    else hi = mid;
  }
  const goal = u * keptMass(lo);
  let cumulative = 0;
  let token = -1;
  for (let i = 0; i < probs.length; i++) {
    if (probs[i] < lo) continue;
    cumulative += probs[i];
    token = i;
    if (cumulative > goal) break;
  }
  return { token, theta: lo };
}
