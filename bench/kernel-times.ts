// Per-kernel totals of a profiled decode step (bench/profile.ts).

export interface KernelTime {
  kernel: string;
  dispatches: number;
  /** Sum over the step's dispatches of this kernel of each one's median time. */
  us: number;
  /** Share of the summed kernel times. */
  share: number;
}

/** Sums per-dispatch medians (µs, in dispatch order) by kernel, largest first. */
export function kernelTimes(kernels: string[], medianUs: number[]): KernelTime[] {
  const byKernel = new Map<string, { dispatches: number; us: number }>();
  kernels.forEach((kernel, i) => {
    const entry = byKernel.get(kernel) ?? { dispatches: 0, us: 0 };
    entry.dispatches += 1;
    entry.us += medianUs[i];
    byKernel.set(kernel, entry);
  });
  const total = medianUs.reduce((a, b) => a + b, 0);
  return [...byKernel]
    .map(([kernel, { dispatches, us }]) => ({ kernel, dispatches, us, share: total > 0 ? us / total : 0 }))
    .sort((a, b) => b.us - a.us);
}
