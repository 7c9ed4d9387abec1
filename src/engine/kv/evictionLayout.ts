// Eviction (DESIGN §5.3) on the GPU: the buffers and the steps, for the fp16 and the KIVI cache alike.
//
// Kept order. Each layer and KV head holds `kept` tokens in an order that never changes except by
// eviction: fp16 cache slot j = kept token j; KIVI kept token j = block j / G token j % G for
// j < blocks * G, then residual token j - blocks * G. All heads of a layer hold the same count;
// layers differ once budgets differ.
//
// Per layer (KV heads, capacity C tokens, query heads H, head dim D, window W):
//   positions  [KV, C] u32: original position of kept token j of head h at h * C + j (sinks are the
//              kept tokens with position < S). Written for new tokens by kv_positions_append (a prefill
//              chunk's with the chunk, decode steps' at the next event or chunk), moved by compaction.
//   queryRing  [W, H, D] f32: the rotated queries of the last W tokens, token at position p in slot p % W.
//   statsRing  [W, H, 2] f32: (M, L) of each of those queries' softmax over the cache it attended:
//              M = max score, L = sum_j exp(score_j - M), score = q.k / sqrt(D). Written by
//              kv_window_capture from the split partials (partialMl) right after each chunk's attention.
//   scores     [KV, C] f32: importance of kept token j of head h: the attention mass it receives from the
//              window: sum over window queries w that see it (position_j <= position_w) and over the
//              query heads h' of its KV group of exp(q_{w,h'} . k_j / sqrt(D) - M_{w,h'}) / L_{w,h'}.
//              Keys are read from the cache as stored (KIVI keys dequantized on the fly).
//   pooled     [KV, C] f32: scores max-pooled over kept neighbours j-3 .. j+3 (kernel 7, clipped at the ends).
//   lmba       [KV] u32: per head, the fewest tokens whose largest `scores` add up to tau of their sum.
//   newIndex   [KV, C] u32: after selection, kept token j's index in the compacted order, or EVICTED.
//   sourceOf   [KV, C] u32: the inverse: the old kept index of compacted token i (i < newKept).
//
// Steps of one eviction event (all layers, triggered by the CPU):
//   1. kv_score_fp16 / kv_score_kivi: scores for every kept token (one pass over the cache).
//   2. kv_pool_lmba: pooled and lmba.          -> the CPU reads lmba back and allocates budgets
//      (prefill events; decode events allocate from the last LMBA first, then score and pool only the
//      layers that evict, with the bisection for lmba left out: no read-back on the decode path)
//   3. kv_select: per head, keep the sinks (position < S), the protected newest tokens (kept index >=
//      kept - recent) and the `select` other tokens with the largest pooled score (ties: lower kept
//      index first); write newIndex and sourceOf in kept order.
//   4. compaction: kv_compact_f16 gathers keys/values/positions by sourceOf into scratch, then copies
//      back; kivi_compact_keys / kivi_compact_values re-form blocks: compacted tokens i*G .. i*G+G-1
//      are dequantized from their old blocks and quantized into new pool blocks (as kv/layout.ts),
//      positions likewise. The residual is never evicted (it is the protected recent window).
// Uniform `EvictParams { kept, select, sinks, recent, window, windowEnd, tau, pad }` (8 x 32 bits; tau f32):
//   kept = tokens per head before eviction, select = tokens to choose among the candidates,
//   window = queries in the window (<= W), windowEnd = position of the newest query + 1.

/** newIndex value of an evicted token. */
export const EVICTED = 0xffffffff;

/** Default eviction parameters (DESIGN §5.3). */
export const EVICTION_DEFAULTS = {
  /** Attention sinks: the first tokens of the conversation, always kept. */
  sinks: 4,
  /** Observation window: the last queries whose attention scores the tokens. */
  window: 32,
  /** LMBA: attention mass a layer's minimal budget must hold. */
  tau: 0.9,
  /** B_min = beta * B_avg. */
  beta: 0.2,
  /** Max-pool kernel over kept neighbours. */
  poolKernel: 7,
} as const;
