import { bucketOf, bucketUpperMs, histogramOf, histogramPercentiles, mergeHistograms } from '../../../bench/histogram.js';
import { percentiles } from '../../../bench/percentiles.js';

/** A deterministic generator (mulberry32), so a failure names a reproducible sample. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Latencies shaped like a fixed-rate run: most near 0.5 ms, a tail to seconds. */
function latencies(n: number, seed: number): Float64Array {
  const r = random(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const u = r();
    out[i] = u < 0.9 ? 0.2 + r() * 0.6 : u < 0.99 ? 0.8 + r() * 4 : 5 + r() ** 3 * 3000;
  }
  return out;
}

describe('latency histogram (whole-run percentiles of a soak)', () => {
  it('puts every value below the upper edge of its bucket and at or above the edge of the bucket before', () => {
    const r = random(1);
    const misplaced: number[] = [];
    for (let i = 0; i < 20_000; i++) {
      // 1 µs to ~30 s, spread over the decades.
      const ms = 10 ** (r() * 7.5 - 3);
      const b = bucketOf(ms);
      if (!(ms < bucketUpperMs(b)) || (b > 0 && ms * (1 + 1e-12) < bucketUpperMs(b - 1))) misplaced.push(ms);
    }
    expect(misplaced).toEqual([]);
  });

  it('has buckets 1 µs wide below 2.048 ms and at most 0.1 % wide above', () => {
    expect(bucketOf(0)).toBe(0);
    expect(bucketOf(-1)).toBe(0);
    expect(bucketOf(0.0005)).toBe(0);
    expect(bucketOf(0.001)).toBe(1);
    expect(bucketOf(2.0475)).toBe(2047);
    expect(bucketUpperMs(2047)).toBeCloseTo(2.048, 12);
    for (const ms of [2.048, 3.3, 17.9, 250, 4096, 65_000]) {
      const b = bucketOf(ms);
      const width = bucketUpperMs(b) - bucketUpperMs(b - 1);
      expect(width / ms).toBeLessThanOrEqual(0.001 + 1e-12);
    }
    // Exact powers of two, where Math.log2 may round either way, land in one bucket each, in order.
    const edges = [2.048, 4.096, 8.192, 16.384, 32.768, 1048.576].map(bucketOf);
    expect([...edges].sort((a, b) => a - b)).toEqual(edges);
    expect(new Set(edges).size).toBe(edges.length);
  });

  it('reads percentiles within 1 µs or 0.1 % above the exact nearest-rank ones, never below, never above the maximum', () => {
    for (const seed of [2, 3, 4]) {
      const values = latencies(30_000, seed);
      const exact = percentiles(values);
      const fromHistogram = histogramPercentiles(histogramOf(values));
      expect(fromHistogram.count).toBe(exact.count);
      expect(fromHistogram.max).toBe(exact.max);
      expect(fromHistogram.mean).toBeCloseTo(exact.mean, 9);
      for (const q of ['p50', 'p90', 'p99', 'p999'] as const) {
        expect(fromHistogram[q]).toBeGreaterThanOrEqual(exact[q]);
        expect(fromHistogram[q] - exact[q]).toBeLessThanOrEqual(Math.max(0.001, exact[q] * 0.001) + 1e-9);
        expect(fromHistogram[q]).toBeLessThanOrEqual(exact.max);
      }
    }
  });

  it('merges slices into the histogram of all their values: percentiles of percentiles would be wrong', () => {
    // A quiet slice and one with a stall: the p99 of the whole is neither slice's p99 nor their mean.
    const quiet = latencies(9_000, 5).map((v) => Math.min(v, 1));
    const stalled = new Float64Array(1_000).map((_, i) => (i < 200 ? 100 + i : 0.5));
    const merged = mergeHistograms([histogramOf(quiet), histogramOf(stalled)]);
    const all = new Float64Array([...quiet, ...stalled]);
    expect(merged).toEqual(histogramOf(all));
    const whole = histogramPercentiles(merged);
    expect(whole.count).toBe(10_000);
    expect(whole.p99).toBeGreaterThan(100);
    const meanOfP99s = (histogramPercentiles(histogramOf(quiet)).p99 + histogramPercentiles(histogramOf(stalled)).p99) / 2;
    expect(Math.abs(whole.p99 - meanOfP99s)).toBeGreaterThan(50);
  });

  it('answers zeros for no values', () => {
    const empty = histogramPercentiles(mergeHistograms([]));
    expect(empty).toEqual({ count: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 });
  });
});
