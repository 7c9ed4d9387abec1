// Per-layer token budgets (DESIGN §5.3), one small "press" per policy in the spirit of kvpress:
// each turns the average budget and what the layers' attention looked like into one budget per layer.
// Budgets count tokens a layer keeps in total (sinks, recent window and selected tokens).

export type PolicyName = 'none' | 'uniform' | 'pyramid' | 'zigzag';

export interface BudgetInput {
  numLayers: number;
  /** Average tokens kept per layer (B_avg). */
  averageBudget: number;
  /** LMBA_l: per layer, the tokens needed to hold tau of the attention mass (averaged over heads). */
  lmba: number[];
  /** No layer gets less than beta * B_avg (ZigZagKV's B_min). */
  beta: number;
}

export interface BudgetPolicy {
  readonly name: PolicyName;
  /** Whether the policy evicts at all. */
  readonly evicts: boolean;
  /** Whether it needs LMBA (a read-back of attention statistics) before allocating. */
  readonly needsLmba: boolean;
  allocate(input: BudgetInput): number[];
}

const none: BudgetPolicy = {
  name: 'none',
  evicts: false,
  needsLmba: false,
  allocate: ({ numLayers }) => Array(numLayers).fill(Infinity),
};

/** SnapKV with the same budget in every layer. */
const uniform: BudgetPolicy = {
  name: 'uniform',
  evicts: true,
  needsLmba: false,
  allocate: ({ numLayers, averageBudget }) => Array(numLayers).fill(averageBudget),
};

/** PyramidKV: budgets fall linearly from the first layer to the last, keeping the average; the
 *  last layer gets B_min = beta * B_avg and the first 2 B_avg - B_min. */
const pyramid: BudgetPolicy = {
  name: 'pyramid',
  evicts: true,
  needsLmba: false,
  allocate: ({ numLayers, averageBudget, beta }) => {
    const bottom = beta * averageBudget;
    const top = 2 * averageBudget - bottom;
    if (numLayers === 1) return [averageBudget];
    return Array.from({ length: numLayers }, (_, l) => top - ((top - bottom) * l) / (numLayers - 1));
  },
};

/** ZigZagKV: B_l = B_min + (B_avg - B_min) * L * LMBA_l / sum_j LMBA_j, with B_min = beta * B_avg,
 *  so sum_l B_l = L * B_avg and layers that need more tokens to hold their attention get more. */
const zigzag: BudgetPolicy = {
  name: 'zigzag',
  evicts: true,
  needsLmba: true,
  allocate: ({ numLayers, averageBudget, lmba, beta }) => {
    const minimum = beta * averageBudget;
    const total = lmba.reduce((a, b) => a + b, 0);
    if (total <= 0) return Array(numLayers).fill(averageBudget);
    return lmba.map((need) => minimum + (averageBudget - minimum) * numLayers * (need / total));
  },
};

export const POLICIES: Record<PolicyName, BudgetPolicy> = { none, uniform, pyramid, zigzag };

/** Rounds budgets to whole blocks of `block` tokens, at least `floor` tokens each, keeping their sum
 *  at the exact total rounded to blocks: spare blocks go to the largest remainders, and blocks the
 *  floor adds are taken back from the layers with the smallest remainders. */
export function roundToBlocks(budgets: number[], block: number, floor: number): number[] {
  if (budgets.some((b) => !Number.isFinite(b))) return budgets.map(() => Infinity);
  const minBlocks = Math.ceil(floor / block);
  const exact = budgets.map((b) => b / block);
  const target = Math.max(Math.round(exact.reduce((a, b) => a + b, 0)), minBlocks * budgets.length);
  const blocks = exact.map((e) => Math.max(minBlocks, Math.floor(e)));
  const byRemainder = exact.map((e, l) => ({ l, r: e - Math.floor(e) })).sort((a, b) => b.r - a.r || a.l - b.l).map(({ l }) => l);
  let diff = target - blocks.reduce((a, b) => a + b, 0);
  for (let i = 0; diff > 0; i++, diff--) blocks[byRemainder[i % blocks.length]]++;
  for (const l of [...byRemainder].reverse()) {
    const take = Math.min(-diff, blocks[l] - minBlocks);
    if (take <= 0) continue;
    blocks[l] -= take;
    diff += take;
  }
  return blocks.map((b) => b * block);
}

/** LMBA of one head: the fewest tokens whose largest attention masses add up to `tau` of the total. */
export function headLmba(mass: ArrayLike<number>, tau: number): number {
  const sorted = Array.from(mass).sort((a, b) => b - a);
  const total = sorted.reduce((a, b) => a + b, 0);
  let kept = 0;
  for (let n = 0; n < sorted.length; n++) {
    kept += sorted[n];
    if (kept >= tau * total) return n + 1;
  }
  return sorted.length;
}
