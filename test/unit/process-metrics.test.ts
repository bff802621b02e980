/**
 * prom-client's default metrics in tokenguard's registry: all of them, except the GC histogram,
 * which only `--gc-metrics` adds (its PerformanceObserver costs the old generation; metrics.ts).
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { createMetrics } from '../../src/server/metrics.js';
import { GC_METRIC } from '../../src/server/process-metrics.js';

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
  PerformanceObserver.prototype.observe = function (
    this: PerformanceObserver,
    options: Parameters<PerformanceObserver['observe']>[0],
  ) {
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

/** Each metric as a dashboard sees it: name, type, help and the label names of its samples, in registration order. */
async function shapes(r: Registry) {
  return (await r.getMetricsAsJSON()).map((m) => ({
    name: m.name,
    type: m.type,
    help: m.help,
    labels: [...new Set(m.values.flatMap((v) => Object.keys(v.labels)))].filter((l) => l !== 'le').sort(),
  }));
}

describe('process and Node.js metrics', () => {
  it("has every metric of prom-client's default metrics but the GC histogram, and no gc observer", async () => {
    const theirs = new Registry();
    collectDefaultMetrics({ register: theirs });
    let ours = new Registry();
    expect(observedEntryTypes(() => (ours = createMetrics().registry))).not.toContain('gc');
    const ourNames = await names(ours);
    const missing = [...(await names(theirs))].filter((n) => !ourNames.has(n));
    expect(missing).toEqual([GC_METRIC]);
  });

  it("exposes each metric under prom-client's name, type, help and labels, in its order", async () => {
    const theirs = new Registry();
    collectDefaultMetrics({ register: theirs });
    const ours = createMetrics(undefined, { gcMetrics: true }).registry;
    churn();
    await new Promise((r) => setTimeout(r, 50));
    const tokenguard = (n: string) => !n.startsWith('tokenguard_');
    const mine = (await shapes(ours)).filter((m) => tokenguard(m.name));
    const expected = await shapes(theirs);
    // Label sets depend on what is alive at the scrape (handle types) or on GCs having run: compare names.
    const strip = (list: typeof mine) => list.map(({ labels, ...rest }) => ({ ...rest, labelled: labels.length > 0 }));
    expect(strip(mine)).toEqual(strip(expected));
  });

  it('reads real values: memory, CPU, start time, heap spaces and the Node.js version', async () => {
    const text = await createMetrics().registry.metrics();
    const value = (re: string) => Number(new RegExp(`^${re} ([0-9.e+-]+)$`, 'm').exec(text)?.[1]);
    expect(value('process_resident_memory_bytes')).toBeGreaterThan(10 * 1024 * 1024);
    expect(value('process_start_time_seconds')).toBeCloseTo(Date.now() / 1000 - process.uptime(), -1);
    expect(value('nodejs_heap_space_size_used_bytes\\{space="old"\\}')).toBeGreaterThan(0);
    expect(value('process_open_fds')).toBeGreaterThan(2);
    expect(text).toContain(
      `nodejs_version_info{version="${process.version}",major="${process.versions.node.split('.')[0]}"`,
    );
  });

  it('with gcMetrics, has all of them: the GC histogram as prom-client times it, counting GCs', async () => {
    let ours = new Registry();
    expect(observedEntryTypes(() => (ours = createMetrics(undefined, { gcMetrics: true }).registry))).toEqual(['gc']);
    const theirs = new Registry();
    collectDefaultMetrics({ register: theirs });
    const ourNames = await names(ours);
    expect([...(await names(theirs))].filter((n) => !ourNames.has(n))).toEqual([]);
    expect(churn()).toBeGreaterThan(0);
    // The observer's entries arrive after the turn that ran the GCs.
    await new Promise((r) => setTimeout(r, 50));
    const text = await ours.metrics();
    const count = Number(new RegExp(`^${GC_METRIC}_count\\{kind="minor"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
    expect(count).toBeGreaterThan(0);
  });
});
