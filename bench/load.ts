// Closed-loop load for the benchmarks: a fixed number of workers, each issuing its next request
// as soon as the previous one is answered, with latency percentiles.

export interface Figures {
  count: number;
  opsPerSec: number;
  p50: number;
  p99: number;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/**
 * `concurrency` workers, each calling `op(worker)` until the time is up or `op` returns false
 * (nothing left to do); a call that returns false is not counted.
 */
export async function closedLoop(concurrency: number, maxSeconds: number, op: (worker: number) => Promise<boolean>): Promise<Figures> {
  const latencies: number[] = [];
  const end = performance.now() + maxSeconds * 1000;
  const worker = async (w: number) => {
    while (performance.now() < end) {
      const t0 = performance.now();
      if (!(await op(w))) return;
      latencies.push(performance.now() - t0);
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
  const elapsed = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  return { count: latencies.length, opsPerSec: latencies.length / elapsed, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

export const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : '-');
