// CPU reference of eviction steps 1-3 and their bookkeeping (DESIGN §5.3; buffers and steps in
// src/engine/kv/evictionLayout.ts), one function per kernel: kv_positions_append, kv_window_capture,
// kv_score_fp16 / kv_score_kivi (one function: both score the kept keys as stored), kv_pool_lmba
// (poolScores and lmba) and kv_select. Scores and sums in f64.
import { EVICTED, EVICTION_DEFAULTS } from '../kv/evictionLayout';
import type { AttentionShape } from './kernels';

/** One layer's eviction buffers' dimensions: the attention shape, the window ring's W slots and the
 *  capacity C of the per-head [KV, C] buffers. */
export interface EvictionShape extends AttentionShape {
  windowSlots: number;
  capacity: number;
}

/** kv_positions_append: the chunk's token t becomes kept token kept + t of every head, at position startPos + t. */
export function appendPositions(positions: Uint32Array, shape: EvictionShape, kept: number, startPos: number, numTokens: number): void {
  for (let h = 0; h < shape.numKvHeads; h++) {
    for (let t = 0; t < numTokens; t++) positions[h * shape.capacity + kept + t] = startPos + t;
  }
}

/** The fields of the chunk's Batch uniform that the capture reads. */
export interface ChunkBatch {
  numTokens: number;
  /** Original position of the chunk's first token. */
  startPos: number;
  numSplits: number;
}

/** kv_window_capture: the chunk's tokens among the newest W write their queries (qkv [T, (H + 2 KV) D])
 *  into queryRing [W, H, D] and their softmax (M, L), combined from partialMl [T, H, numSplits, 2],
 *  into statsRing [W, H, 2], position p in slot p % W. */
export function captureWindow(qkv: Float32Array, partialMl: Float32Array, batch: ChunkBatch, shape: EvictionShape, queryRing: Float32Array, statsRing: Float32Array): void {
  const { numHeads: H, numKvHeads: KV, headDim: D, windowSlots: W } = shape;
  const { numTokens, startPos, numSplits } = batch;
  for (let t = Math.max(0, numTokens - W); t < numTokens; t++) {
    const slot = (startPos + t) % W;
    for (let h = 0; h < H; h++) {
      const q = qkv.subarray(t * (H + 2 * KV) * D + h * D, t * (H + 2 * KV) * D + (h + 1) * D);
      queryRing.set(q, (slot * H + h) * D);
      const splits = Array.from({ length: numSplits }, (_, s) => {
        const at = 2 * ((t * H + h) * numSplits + s);
        return { m: partialMl[at], l: partialMl[at + 1] };
      });
      const M = Math.max(...splits.map((s) => s.m));
      statsRing[2 * (slot * H + h)] = M;
      statsRing[2 * (slot * H + h) + 1] = splits.reduce((sum, s) => sum + s.l * Math.exp(s.m - M), 0);
    }
  }
}

/** The EvictParams fields scoring reads. */
export interface WindowParams {
  kept: number;
  /** Window queries to use (<= W and <= windowEnd). */
  window: number;
  /** Position of the newest query + 1. */
  windowEnd: number;
}

/** kv_score_*: scores [KV, C], for kept token j of head h (key keptKeys(h)[j], position positions[h C + j])
 *  the attention mass it gets from the window: sum over queries i < window at position p = windowEnd - 1 - i
 *  (ring slot p % W) that see it (position <= p) and over the query heads h' of its KV group of
 *  exp(q . k / sqrt(D) - M) / L. Entries j >= kept stay 0. */
export function scoreTokens(
  keptKeys: (kvHead: number) => ArrayLike<number>[],
  positions: Uint32Array,
  queryRing: Float32Array,
  statsRing: Float32Array,
  shape: EvictionShape,
  params: WindowParams,
): Float32Array {
  const { numHeads: H, numKvHeads: KV, headDim: D, windowSlots: W, capacity: C } = shape;
  const group = H / KV;
  const scores = new Float32Array(KV * C);
  for (let kvHead = 0; kvHead < KV; kvHead++) {
    const keys = keptKeys(kvHead);
    for (let j = 0; j < params.kept; j++) {
      let mass = 0;
      for (let i = 0; i < params.window; i++) {
        const queryPosition = params.windowEnd - 1 - i;
        if (positions[kvHead * C + j] > queryPosition) continue;
        const slot = queryPosition % W;
        for (let h = kvHead * group; h < (kvHead + 1) * group; h++) {
          const q = queryRing.subarray((slot * H + h) * D, (slot * H + h + 1) * D);
          const [M, L] = [statsRing[2 * (slot * H + h)], statsRing[2 * (slot * H + h) + 1]];
          mass += Math.exp(dot(q, keys[j]) / Math.sqrt(D) - M) / L;
        }
      }
      scores[kvHead * C + j] = mass;
    }
  }
  return scores;
}

/** kv_pool_lmba's pooling of one head's kept scores: each the max over kept neighbours within the
 *  kernel (7: j-3 .. j+3), clipped at the ends. */
export function poolScores(scores: ArrayLike<number>, kernel: number = EVICTION_DEFAULTS.poolKernel): Float32Array {
  const radius = (kernel - 1) / 2;
  return Float32Array.from({ length: scores.length }, (_, j) => {
    let best = -Infinity;
    for (let k = Math.max(0, j - radius); k <= Math.min(scores.length - 1, j + radius); k++) best = Math.max(best, scores[k]);
    return best;
  });
}

/** kv_pool_lmba's LMBA of one head's kept scores (non-negative): with mass(theta) the sum of scores
 *  >= theta, theta* the largest score with mass(theta*) >= tau * total, the count of scores >= theta*.
 *  For distinct scores it is budgets.ts headLmba (the fewest tokens whose largest scores hold tau of
 *  the total); tied scores at theta* all count, so all-equal scores give their count. */
export function lmba(scores: ArrayLike<number>, tau: number): number {
  const values = Array.from(scores);
  const total = values.reduce((a, b) => a + b, 0);
  const mass = (theta: number) => values.filter((s) => s >= theta).reduce((a, b) => a + b, 0);
  const distinctDescending = [...new Set(values)].sort((a, b) => b - a);
  const theta = distinctDescending.find((v) => mass(v) >= tau * total);
  return theta === undefined ? 0 : values.filter((s) => s >= theta).length;
}

/** The EvictParams fields selection reads. */
export interface SelectParams {
  /** Candidates to keep. */
  select: number;
  /** Tokens at positions < sinks are always kept. */
  sinks: number;
  /** The newest `recent` kept tokens are always kept. */
  recent: number;
}

export interface Selection {
  /** [kept]: each kept token's index after compaction, or EVICTED. */
  newIndex: Uint32Array;
  /** [newKept]: the old kept index of each compacted token, in kept order. */
  sourceOf: Uint32Array;
}

/** kv_select for one head (pooled and positions of its kept tokens): keep the sinks, the recent tokens
 *  and the `select` candidates with the largest pooled score, ties to the lower kept index (all
 *  candidates if there are no more than `select`); survivors keep their order. */
export function selectTokens(pooled: ArrayLike<number>, positions: ArrayLike<number>, params: SelectParams): Selection {
  const kept = pooled.length;
  const recentStart = kept - Math.min(params.recent, kept);
  const isSink = (j: number) => positions[j] < params.sinks;
  const candidates = Array.from({ length: recentStart }, (_, j) => j).filter((j) => !isSink(j));
  const chosen = new Set([...candidates].sort((a, b) => pooled[b] - pooled[a] || a - b).slice(0, params.select));
  const survivors = Array.from({ length: kept }, (_, j) => j).filter((j) => isSink(j) || j >= recentStart || chosen.has(j));
  const newIndex = new Uint32Array(kept).fill(EVICTED);
  survivors.forEach((j, i) => (newIndex[j] = i));
  return { newIndex, sourceOf: Uint32Array.from(survivors) };
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * b[i];
  return sum;
}
