/**
 * The two per-request metrics, counted in plain numbers on the request path and handed to
 * prom-client only when `/metrics` is scraped.
 *
 * Why: prom-client hashes the label object, validates every label and stamps a time on every
 * `inc()` and `observe()`, whether or not anybody scrapes (docs/decisions.md "Performance", the
 * paragraph *Per-request metrics are counted in plain numbers*); here a request costs a map
 * lookup and two additions. The exposition is prom-client's own: the counter stays a prom-client
 * `Counter` that catches up in its `collect()` hook, and the histogram is a metric object whose
 * `get()` returns what prom-client's `Histogram.get()` returns, so the registry formats both.
 */
import { Counter, type Registry } from 'prom-client';

/** A counter with a fixed label set, counted locally and added to prom-client on scrape. */
export class ScrapedCounter<L extends string> {
  readonly #series = new Map<string, { labels: Record<L, string>; count: number; reported: number }>();
  readonly #labelNames: readonly L[];

  constructor(registry: Registry, config: { name: string; help: string; labelNames: readonly L[] }) {
    this.#labelNames = config.labelNames;
    const series = this.#series;
    new Counter<L>({
      ...config,
      registers: [registry],
      collect() {
        for (const s of series.values()) {
          if (s.count > s.reported) {
            this.inc(s.labels, s.count - s.reported);
            s.reported = s.count;
          }
        }
      },
    });
  }

  /** Adds one; `values` in the order of `labelNames`. The caller keeps the value sets small. */
  inc(...values: string[]): void {
    const key = values.join('\u0000');
    let s = this.#series.get(key);
    if (s === undefined) {
      const labels = {} as Record<L, string>;
      this.#labelNames.forEach((name, i) => {
        labels[name] = values[i] ?? '';
      });
      s = { labels, count: 0, reported: 0 };
      this.#series.set(key, s);
    }
    s.count += 1;
  }
}

interface Series {
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

/** A histogram with one label, in prom-client's exposition (`_bucket` with `le`, `_sum`, `_count`). */
export class ScrapedHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly #series = new Map<string, Series>();

  constructor(
    registry: Registry,
    readonly name: string,
    readonly help: string,
    readonly labelName: string,
    readonly buckets: readonly number[],
  ) {
    registry.registerMetric(this as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  observe(labelValue: string, value: number): void {
    if (!Number.isFinite(value)) return;
    let s = this.#series.get(labelValue);
    if (s === undefined) {
      s = { counts: new Float64Array(this.buckets.length), sum: 0, count: 0 };
      this.#series.set(labelValue, s);
    }
    s.sum += value;
    s.count += 1;
    const b = this.buckets;
    for (let i = 0; i < b.length; i++) {
      if (value <= (b[i] as number)) {
        (s.counts as Float64Array)[i] = (s.counts[i] as number) + 1;
        break;
      }
    }
  }

  /** What prom-client's registry reads on a scrape. */
  get(): {
    name: string;
    help: string;
    type: string;
    aggregator: string;
    values: { labels: Record<string, string | number>; value: number; metricName: string }[];
  } {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    for (const [labelValue, s] of this.#series) {
      let acc = 0;
      this.buckets.forEach((le, i) => {
        acc += s.counts[i] as number;
        values.push({ labels: { le, [this.labelName]: labelValue }, value: acc, metricName: `${this.name}_bucket` });
      });
      values.push({
        labels: { le: '+Inf', [this.labelName]: labelValue },
        value: s.count,
        metricName: `${this.name}_bucket`,
      });
      values.push({ labels: { [this.labelName]: labelValue }, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { [this.labelName]: labelValue }, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.#series.clear();
  }
}
