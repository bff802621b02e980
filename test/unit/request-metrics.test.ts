import { Counter, Histogram, Registry } from 'prom-client';
import { DURATION_BUCKETS } from '../../src/server/metrics.js';
import { ScrapedCounter, ScrapedHistogram } from '../../src/server/request-metrics.js';

/** The same observations through prom-client's own metrics and through ours: the same exposition. */
describe('per-request metrics counted locally and exposed on scrape', () => {
  const observations: [string, number][] = [
    ['mutate', 0.0001],
    ['mutate', 0.0005], // on a bound: counts in that bucket (le is inclusive)
    ['validate', 0.003],
    ['mutate', 0.7],
    ['validate', 12], // above the last bound: +Inf only
    ['mutate', 0.0026],
  ];

  test('the histogram reads exactly as prom-client Histogram', async () => {
    const theirs = new Registry();
    const ours = new Registry();
    const h = new Histogram({
      name: 'd_seconds',
      help: 'h',
      labelNames: ['endpoint'],
      buckets: [...DURATION_BUCKETS],
      registers: [theirs],
    });
    const s = new ScrapedHistogram(ours, 'd_seconds', 'h', 'endpoint', DURATION_BUCKETS);
    expect(await ours.metrics()).toBe(await theirs.metrics()); // nothing observed yet
    for (const [endpoint, v] of observations) {
      h.observe({ endpoint }, v);
      s.observe(endpoint, v);
    }
    const text = await ours.metrics();
    expect(text).toBe(await theirs.metrics());
    expect(text).toContain('d_seconds_bucket{le="0.0005",endpoint="mutate"} 2');
    expect(text).toContain('d_seconds_bucket{le="+Inf",endpoint="validate"} 2');
    expect(text).toContain('d_seconds_count{endpoint="mutate"} 4');
    // prom-client adds `exemplar: null` to its values; exemplars are not enabled either way.
    const plain = (x: unknown) =>
      JSON.parse(JSON.stringify(x, (k, v: unknown) => (k === 'exemplar' ? undefined : v))) as unknown;
    expect(plain(await ours.getMetricsAsJSON())).toEqual(plain(await theirs.getMetricsAsJSON()));
    s.reset();
    h.reset();
    expect(await ours.metrics()).toBe(await theirs.metrics());
  });

  test('the counter catches up on every scrape, and only by what is new', async () => {
    const theirs = new Registry();
    const ours = new Registry();
    const labelNames = ['endpoint', 'decision'] as const;
    const c = new Counter({ name: 'r_total', help: 'c', labelNames, registers: [theirs] });
    const s = new ScrapedCounter(ours, { name: 'r_total', help: 'c', labelNames });
    const hit = (endpoint: string, decision: string) => {
      c.inc({ endpoint, decision });
      s.inc(endpoint, decision);
    };
    hit('mutate', 'patched');
    hit('mutate', 'patched');
    hit('validate', 'denied');
    expect(await ours.metrics()).toBe(await theirs.metrics());
    expect(await ours.metrics()).toContain('r_total{endpoint="mutate",decision="patched"} 2');
    hit('mutate', 'patched');
    hit('validate', 'allowed');
    expect(await ours.metrics()).toBe(await theirs.metrics());
    expect(await ours.metrics()).toContain('r_total{endpoint="mutate",decision="patched"} 3');
    expect(await ours.metrics()).toBe(await theirs.metrics()); // a scrape with nothing new adds nothing
  });
});
