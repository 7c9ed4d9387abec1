// The arithmetic of the quality benchmark (bench/quality.ts), kept pure so that unit tests pin it:
// per-token NLL from a logits row, top-1, greedy-sequence agreement, the summary figures
// and the markdown table the coordinator pastes into docs/BENCHMARKS.md.

/** -log softmax(logits)[target], in nats, computed with the max subtracted so large logits stay finite. */
export function tokenNll(logits: ArrayLike<number>, target: number): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
  return Math.log(sum) + max - logits[target];
}

/** Index of the largest logit; the lowest index wins a tie, as the GPU's sample_argmax does. */
export function argmax(logits: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

/** What a cache predicted at each scored position of one case: the NLL of the true next token and its argmax. */
export interface Predictions {
  nll: number[];
  top1: number[];
}

/** Sums over cases of a cache's predictions against the fp16 cache's at the same positions. */
export interface Comparison {
  positions: number;
  /** sum(NLL_cache - NLL_fp16), nats. */
  dnllSum: number;
  /** Positions where the cache's argmax equals fp16's. */
  top1Agree: number;
  /** Positions where the cache's argmax equals the true next token. */
  correct: number;
  /** The same for the fp16 cache (the ratio's denominator). */
  fp16Correct: number;
}

export const EMPTY_COMPARISON: Comparison = { positions: 0, dnllSum: 0, top1Agree: 0, correct: 0, fp16Correct: 0 };

/** Adds one case (positions aligned with `fp16`'s, true next tokens `targets`) to `sum`. */
export function addComparison(sum: Comparison, predictions: Predictions, fp16: Predictions, targets: number[]): Comparison {
  const n = targets.length;
  if (predictions.nll.length !== n || fp16.nll.length !== n || predictions.top1.length !== n || fp16.top1.length !== n) {
    throw new Error(`predictions for ${predictions.nll.length} and ${fp16.nll.length} positions do not match ${n} targets`);
  }
  const next = { ...sum, positions: sum.positions + n };
  for (let i = 0; i < n; i++) {
    next.dnllSum += predictions.nll[i] - fp16.nll[i];
    next.top1Agree += predictions.top1[i] === fp16.top1[i] ? 1 : 0;
    next.correct += predictions.top1[i] === targets[i] ? 1 : 0;
    next.fp16Correct += fp16.top1[i] === targets[i] ? 1 : 0;
  }
  return next;
}

export interface TeacherForcedFigures {
  positions: number;
  /** Mean NLL_cache - NLL_fp16 per scored token, nats. */
  dnll: number;
  /** Fraction of positions whose argmax equals fp16's. */
  top1Agreement: number;
  /** Fraction of positions whose argmax is the true next token, for this cache and for fp16. */
  accuracy: number;
  fp16Accuracy: number;
  /** accuracy / fp16Accuracy (null when fp16 got none right). */
  accuracyRatio: number | null;
}

export function figures(c: Comparison): TeacherForcedFigures {
  if (c.positions === 0) throw new Error('no scored positions');
  const accuracy = c.correct / c.positions;
  const fp16Accuracy = c.fp16Correct / c.positions;
  return {
    positions: c.positions,
    dnll: c.dnllSum / c.positions,
    top1Agreement: c.top1Agree / c.positions,
    accuracy,
    fp16Accuracy,
    accuracyRatio: c.fp16Correct === 0 ? null : c.correct / c.fp16Correct,
  };
}

export interface GreedyAgreement {
  /** Fraction of positions where the two generations hold the same token. */
  agreement: number;
  /** Index of the first differing token; the length when none differs. */
  firstDivergence: number;
}

export function greedyAgreement(fp16: number[], tokens: number[]): GreedyAgreement {
  if (fp16.length !== tokens.length) throw new Error(`generations of ${fp16.length} and ${tokens.length} tokens`);
  let same = 0;
  let firstDivergence = tokens.length;
  for (let i = 0; i < tokens.length; i++) {
    if (tokens[i] === fp16[i]) same++;
    else firstDivergence = Math.min(firstDivergence, i);
  }
  return { agreement: same / tokens.length, firstDivergence };
}

export function mean(xs: number[]): number {
  if (xs.length === 0) throw new Error('mean of no values');
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}
