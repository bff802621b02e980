import { PerformanceObserver } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { GC_METRIC, gcMetricSinks } from '../../src/server/gc-metrics.js';
import { createMetrics } from '../../src/server/metrics.js';

/** Where churn() keeps its objects for a while, so the optimizing compiler cannot elide them. */
const kept: unknown[] = [];

/** Makes the process scavenge several times: some tens of MB of objects that die young. */
function churn(): number {
  let made = 0;
  for (let i = 0; i < 400_000; i++) {
    kept.push({ i, s: `x${i}`, a: [i, i + 1, i + 2] });
    if (kept.length >= 1_000) {
      made += kept.length;
      kept.length = 0;
    }
  }
  return made;
}

/** The entry types every PerformanceObserver asked for while `fn` ran. */
function observedEntryTypes(fn: () => void): string[] {
  const original = PerformanceObserver.prototype.observe;
  const types: string[] = [];
  PerformanceObserver.prototype.observe = function (this: PerformanceObserver, options: Parameters<PerformanceObserver['observe']>[0]) {
    const o = options as { entryTypes?: readonly string[]; type?: string };
    types.push(...(o.entryTypes ?? []), ...(o.type ? [o.type] : []));
    return original.call(this, options);
  };
  try {
    fn();
  } finally {
    PerformanceObserver.prototype.observe = original;
  }
  return types;
}

const names = async (r: Registry) => new Set((await r.getMetricsAsJSON()).map((m) => m.name));
const bucketBounds = (text: string) =>
  text
    .split('\n')
    .filter((l) => l.startsWith(`${GC_METRIC}_bucket{`) && l.includes('kind="minor"'))
    .map((l) => /le="([^"]+)"/.exec(l)?.[1]);

describe('process and Node.js metrics', () => {
  it("has every metric of prom-client's default metrics", async () => {
    const theirs = new Registry();
    collectDefaultMetrics({ register: theirs });
    const ours = createMetrics().registry;
    const ourNames = await names(ours);
    const missing = [...(await names(theirs))].filter((n) => !ourNames.has(n));
    expect(missing).toEqual([]);
    expect(await names(ours)).toContain(GC_METRIC);
  });

  it('times GCs without a PerformanceObserver of gc entries (prom-client itself makes one)', () => {
    expect(observedEntryTypes(() => createMetrics())).not.toContain('gc');
    expect(observedEntryTypes(() => collectDefaultMetrics({ register: new Registry() }))).toContain('gc');
  });

  it('counts the GCs of the process by kind, with the buckets of prom-client, as of the scrape', async () => {
    const ours = createMetrics().registry;
    expect(churn()).toBeGreaterThan(0);
    const text = await ours.metrics();
    const count = Number(new RegExp(`^${GC_METRIC}_count\\{kind="minor"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
    expect(count).toBeGreaterThan(0);
    const sum = Number(new RegExp(`^${GC_METRIC}_sum\\{kind="minor"\\} ([\\d.e-]+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
    // Seconds, not microseconds: a scavenge takes well under a second.
    expect(sum).toBeGreaterThan(0);
    expect(sum / count).toBeLessThan(0.5);
    // prom-client's buckets (DEFAULT_GC_DURATION_BUCKETS in its lib/metrics/gc.js).
    expect(bucketBounds(text)).toEqual(['0.001', '0.01', '0.1', '1', '2', '5', '+Inf']);
  });

  it('every registry sees the same GCs', async () => {
    const a = createMetrics().registry;
    const b = createMetrics().registry;
    await a.metrics();
    await b.metrics();
    churn();
    const minor = async (r: Registry) => Number(new RegExp(`^${GC_METRIC}_count\\{kind="minor"\\} (\\d+)$`, 'm').exec(await r.metrics())?.[1] ?? 0);
    const before = [await minor(a), await minor(b)];
    churn();
    const after = [await minor(a), await minor(b)];
    expect(after[0]).toBeGreaterThan(before[0] ?? 0);
    expect(after[1]).toBeGreaterThan(before[1] ?? 0);
  });

  it('stops feeding the histogram of a registry nobody holds any more', async () => {
    setFlagsFromString('--expose-gc');
    const collect = runInNewContext('gc') as () => void;
    const held = createMetrics().registry;
    const before = gcMetricSinks();
    for (let i = 0; i < 5; i++) createMetrics();
    expect(gcMetricSinks()).toBe(before + 5);
    // WeakRefs are cleared only after the job that made them ends, and a full GC has run.
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setImmediate(r));
      collect();
    }
    expect(gcMetricSinks()).toBeLessThanOrEqual(before);
    expect(await names(held)).toContain(GC_METRIC);
  });
});
