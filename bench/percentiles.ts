/**
 * Percentiles of a latency sample, nearest-rank, as the HTTP benchmark reports them. Its own
 * module (no side effects) so that the load generator, the histogram and the tests share it.
 */
export interface Percentiles {
  readonly count: number;
  readonly mean: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
}

/** Percentiles of a sample (ms), nearest-rank on the sorted values. */
export function percentiles(values: Float64Array): Percentiles {
  const sorted = Float64Array.from(values).sort();
  const n = sorted.length;
  const at = (q: number) => (n === 0 ? 0 : (sorted[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))] as number));
  let sum = 0;
  for (const v of sorted) sum += v;
  return { count: n, mean: n === 0 ? 0 : sum / n, p50: at(0.5), p90: at(0.9), p99: at(0.99), p999: at(0.999), max: n === 0 ? 0 : (sorted[n - 1] as number) };
}
