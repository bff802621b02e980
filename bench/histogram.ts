/**
 * A latency histogram in the manner of HdrHistogram, so that latencies of several measurements
 * (the 30-s slices of a soak) can be merged into whole-run percentiles: percentiles themselves
 * cannot be averaged. Values are in ms; the buckets are 1 µs wide below 2.048 ms and then 1,024
 * per power of two, so a percentile read from the histogram (the upper edge of its bucket, never
 * above the exact maximum) is at most 1 µs or 0.1% above the exact one. Only non-empty buckets
 * are kept, as `[index, count]` pairs sorted by index (a 30-s slice at 1,000/s has a few thousand).
 * No dependencies and no side effects: both the load generator and the parent import it.
 */
import type { Percentiles } from './percentiles.js';

export interface LatencyHistogram {
  readonly count: number;
  /** Sum of the values, ms (for the exact mean). */
  readonly sumMs: number;
  /** The exact largest value, ms. */
  readonly maxMs: number;
  /** Non-empty buckets, `[index, count]`, ascending index. */
  readonly buckets: readonly (readonly [number, number])[];
}

/** Below LINEAR µs one bucket per µs; above, HALF buckets per power of two. */
const LINEAR = 2048;
const HALF = 1024;

/** The bucket of a value in ms. */
export function bucketOf(ms: number): number {
  const us = ms > 0 ? ms * 1000 : 0;
  if (us < LINEAR) return Math.floor(us);
  let e = Math.floor(Math.log2(us)) - 10;
  // Math.log2 may round across a power of two: put `sub` back into [HALF, LINEAR).
  while (e > 1 && Math.floor(us / 2 ** e) < HALF) e -= 1;
  while (Math.floor(us / 2 ** e) >= LINEAR) e += 1;
  const sub = Math.floor(us / 2 ** e);
  return LINEAR + (e - 1) * HALF + (sub - HALF);
}

/** The upper edge of a bucket, ms (exclusive: every value in the bucket is below it). */
export function bucketUpperMs(index: number): number {
  if (index < LINEAR) return (index + 1) / 1000;
  const e = Math.floor((index - LINEAR) / HALF) + 1;
  const sub = ((index - LINEAR) % HALF) + HALF;
  return ((sub + 1) * 2 ** e) / 1000;
}

export function histogramOf(values: ArrayLike<number>): LatencyHistogram {
  const counts = new Map<number, number>();
  let sumMs = 0;
  let maxMs = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    const b = bucketOf(v);
    counts.set(b, (counts.get(b) ?? 0) + 1);
    sumMs += v;
    if (v > maxMs) maxMs = v;
  }
  return { count: values.length, sumMs, maxMs, buckets: [...counts].sort((a, b) => a[0] - b[0]) };
}

export function mergeHistograms(hs: readonly LatencyHistogram[]): LatencyHistogram {
  const counts = new Map<number, number>();
  let count = 0;
  let sumMs = 0;
  let maxMs = 0;
  for (const h of hs) {
    for (const [b, n] of h.buckets) counts.set(b, (counts.get(b) ?? 0) + n);
    count += h.count;
    sumMs += h.sumMs;
    if (h.maxMs > maxMs) maxMs = h.maxMs;
  }
  return { count, sumMs, maxMs, buckets: [...counts].sort((a, b) => a[0] - b[0]) };
}

/** Nearest-rank percentiles, as `percentiles()` of percentiles.ts computes them on the raw values. */
export function histogramPercentiles(h: LatencyHistogram): Percentiles {
  const n = h.count;
  const at = (q: number): number => {
    if (n === 0) return 0;
    const rank = Math.min(n, Math.max(1, Math.ceil(q * n)));
    let seen = 0;
    for (const [b, c] of h.buckets) {
      seen += c;
      if (seen >= rank) return Math.min(bucketUpperMs(b), h.maxMs);
    }
    return h.maxMs;
  };
  return { count: n, mean: n === 0 ? 0 : h.sumMs / n, p50: at(0.5), p90: at(0.9), p99: at(0.99), p999: at(0.999), max: h.maxMs };
}
