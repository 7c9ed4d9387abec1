// Seeded pseudo-random numbers for the benchmarks' prompts and weights (reproducible runs).

/** A 32-bit linear congruential generator; yields its top 24 bits (its low bits cycle quickly). */
export function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state >>> 8;
  };
}

/** Marsaglia's xorshift32: uniform 32-bit words (never 0). */
export function xorshift32(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}
