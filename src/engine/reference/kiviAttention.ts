// CPU reference of shaders/attention_kivi.wgsl (+ attention_reduce): causal attention of a chunk's T
// new queries over the kept tokens of one layer's KIVI cache, dequantized, in f64.
import type { AttentionShape } from './kernels';

/** What attention reads of a layer's KIVI cache (reference/kiviCache.ts's KiviLayerCache is one):
 *  each KV head's kept tokens in attention order (every block's tokens dequantized with
 *  unpackKeyToken / unpackValueToken, then the residual's f16 values), D values per token. The
 *  chunk's T tokens have been appended, so they are the last T kept tokens. */
export interface KeptTokens {
  keptKeys(kvHead: number): Float32Array[];
  keptValues(kvHead: number): Float32Array[];
}

/** attnOut [T, H * D] for qkv [T, (H + 2 KV) D]: query t (head h reads KV head h / (H / KV)) attends
 *  to every kept token up to its own, the (n - T + t)-th of n kept: softmax(q.k / sqrt(D)) . v. */
export function kiviAttention(qkv: Float32Array, cache: KeptTokens, shape: AttentionShape): Float32Array {
  const { numHeads, numKvHeads, headDim } = shape;
  const stride = (numHeads + 2 * numKvHeads) * headDim;
  const numTokens = qkv.length / stride;
  const out = new Float32Array(numTokens * numHeads * headDim);
  for (let kvHead = 0; kvHead < numKvHeads; kvHead++) {
    const keys = cache.keptKeys(kvHead);
    const values = cache.keptValues(kvHead);
    for (let h = kvHead * (numHeads / numKvHeads); h < (kvHead + 1) * (numHeads / numKvHeads); h++) {
      for (let t = 0; t < numTokens; t++) {
        const visible = keys.length - numTokens + t + 1;
        const q = qkv.subarray(t * stride + h * headDim, t * stride + (h + 1) * headDim);
        const scores = keys.slice(0, visible).map((k) => dot(q, k) / Math.sqrt(headDim));
        const max = Math.max(...scores);
        const weights = scores.map((s) => Math.exp(s - max));
        const total = weights.reduce((a, b) => a + b, 0);
        for (let c = 0; c < headDim; c++) {
          let acc = 0;
          for (let j = 0; j < visible; j++) acc += weights[j] * values[j][c];
          out[(t * numHeads + h) * headDim + c] = acc / total;
        }
      }
    }
  }
  return out;
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * b[i];
  return sum;
}
