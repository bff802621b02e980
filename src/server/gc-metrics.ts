/**
 * `nodejs_gc_duration_seconds{kind}`, the histogram of GC pauses that prom-client's default
 * metrics define, fed from V8's GC profiler (`v8.GCProfiler`) instead of a `PerformanceObserver`.
 *
 * Why (docs/benchmarks.md, decision 25): prom-client observes `gc` performance entries, and Node
 * builds a JavaScript entry object for every GC, many times a second under load. At 1,000
 * reviews/s those entries made objects survive scavenges: 1.7 MB/min promoted to the old
 * generation, against 0.07 MB/min without the observer, hence a mark-compact every minute or
 * two. The profiler records GCs natively; their durations reach the histogram in one batch
 * every {@link FOLD_MS} and at every scrape.
 *
 * One profiler serves the whole process, however many registries (tests build many servers).
 */
import { GCProfiler } from 'node:v8';
import { Histogram, type Registry } from 'prom-client';

/** prom-client's name, help, labels and buckets, so dashboards built on its metric keep working. */
export const GC_METRIC = 'nodejs_gc_duration_seconds';
const GC_HELP = 'Garbage collection duration by kind, one of major, minor, incremental or weakcb.';
const GC_BUCKETS = [0.001, 0.01, 0.1, 1, 2, 5];

/** V8's GC type names as the profiler reports them, as the `kind` label prom-client uses. */
const KIND_OF: Readonly<Record<string, string>> = {
  Scavenge: 'minor',
  MinorMarkSweep: 'minor',
  MinorMarkCompact: 'minor',
  MarkSweepCompact: 'major',
  IncrementalMarking: 'incremental',
  ProcessWeakCallbacks: 'weakcb',
};

/** How often recorded GCs are moved into the histograms between scrapes (bounds what the profiler holds). */
export const FOLD_MS = 10_000;

/**
 * The histograms fed, held weakly: a server's registry (and its histogram) that is dropped is
 * collected, and its entry goes at the next fold, instead of being fed for the life of the process.
 */
const sinks = new Set<WeakRef<Histogram<'kind'>>>();
let profiler: GCProfiler | undefined;

/** Moves the GCs recorded since the last fold into every histogram, and records on. */
export function foldGcStatistics(): void {
  if (!profiler) return;
  const recorded = profiler.stop();
  profiler.start();
  const live: Histogram<'kind'>[] = [];
  for (const ref of sinks) {
    const histogram = ref.deref();
    if (histogram) live.push(histogram);
    else sinks.delete(ref);
  }
  for (const s of recorded?.statistics ?? []) {
    const kind = KIND_OF[s.gcType] ?? 'other';
    // The profiler gives each GC's cost in microseconds.
    const seconds = s.cost / 1e6;
    for (const histogram of live) histogram.observe({ kind }, seconds);
  }
}

/** How many histograms are fed now (after a fold, which drops those collected). For tests. */
export function gcMetricSinks(): number {
  foldGcStatistics();
  return sinks.size;
}

function ensureProfiler(): void {
  if (profiler) return;
  profiler = new GCProfiler();
  profiler.start();
  setInterval(foldGcStatistics, FOLD_MS).unref();
}

/** Registers `nodejs_gc_duration_seconds` in `registry`. */
export function registerGcMetric(registry: Registry): void {
  const histogram = new Histogram({
    name: GC_METRIC,
    help: GC_HELP,
    labelNames: ['kind'],
    buckets: GC_BUCKETS,
    registers: [registry],
    // A scrape sees every GC up to now, not only those of the last fold.
    collect: foldGcStatistics,
  });
  sinks.add(new WeakRef(histogram));
  ensureProfiler();
}
