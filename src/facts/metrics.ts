/**
 * Prometheus metrics of the cluster facts, read from `status()` at scrape time (nothing is
 * registered globally: the caller passes its registry, so tests and several servers in one
 * process do not collide).
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ClusterFactsStatus, DirectReadResult } from './informers.js';
import { FACTS_RESOURCES } from './store.js';

/** Metric names, part of the operations contract (alerts and dashboards use them). */
const FACTS_METRICS = {
  synced: 'tokenguard_facts_synced',
  stale: 'tokenguard_facts_stale',
  lastEventAge: 'tokenguard_facts_last_event_age_seconds',
  reconnects: 'tokenguard_facts_watch_reconnects_total',
  objects: 'tokenguard_facts_objects',
  directReads: 'tokenguard_facts_direct_reads_total',
} as const;

const DIRECT_READ_RESULTS: readonly DirectReadResult[] = ['found', 'not_found', 'timeout', 'error', 'throttled'];

/**
 * Registers the facts metrics on `registry`:
 *
 * | metric                                              | type    | meaning                                                |
 * |-----------------------------------------------------|---------|--------------------------------------------------------|
 * | `tokenguard_facts_synced`                           | gauge   | 1 once every informer has listed (stays 1)              |
 * | `tokenguard_facts_stale`                            | gauge   | 1 while some informer is stale (a binding informer: bindings count as unknown) |
 * | `tokenguard_facts_last_event_age_seconds{resource}` | gauge   | seconds since the last list, watch open, event or bookmark |
 * | `tokenguard_facts_watch_reconnects_total{resource}` | counter | restarts after a list or watch failure                  |
 * | `tokenguard_facts_objects{resource}`                | gauge   | objects held                                            |
 * | `tokenguard_facts_direct_reads_total{result}`       | counter | cache-miss reads: found, not_found, timeout, error, throttled |
 *
 * Suggested alerts: `tokenguard_facts_stale == 1 for 10m`; `rate(tokenguard_facts_watch_reconnects_total[15m]) > 0.1`.
 */
export function registerFactsMetrics(registry: Registry, facts: { status(): ClusterFactsStatus }): void {
  const registers = [registry];
  new Gauge({
    name: FACTS_METRICS.synced,
    help: 'Whether every cluster-facts informer has completed its first list (1) or not yet (0); it stays 1 afterwards, tokenguard_facts_stale tells whether the facts are current.',
    registers,
    collect() {
      this.set(facts.status().synced ? 1 : 0);
    },
  });
  new Gauge({
    name: FACTS_METRICS.stale,
    help: 'Whether some cluster-facts informer is stale (1): no list, event or bookmark for too long. While a RoleBinding or ClusterRoleBinding informer is stale, RBAC bindings count as unknown.',
    registers,
    collect() {
      this.set(facts.status().stale ? 1 : 0);
    },
  });
  new Gauge({
    name: FACTS_METRICS.lastEventAge,
    help: 'Seconds since the last list, watch open, event or bookmark, per resource.',
    labelNames: ['resource'],
    registers,
    collect() {
      this.reset();
      const ages = facts.status().lastEventAgeSeconds;
      for (const r of FACTS_RESOURCES) {
        const age = ages[r];
        if (age !== null) this.set({ resource: r }, age);
      }
    },
  });
  new Counter({
    name: FACTS_METRICS.reconnects,
    help: 'Informer restarts after a list or watch failure, per resource.',
    labelNames: ['resource'],
    registers,
    collect() {
      this.reset();
      const n = facts.status().reconnects;
      for (const r of FACTS_RESOURCES) this.inc({ resource: r }, n[r]);
    },
  });
  new Gauge({
    name: FACTS_METRICS.objects,
    help: 'Objects held by the cluster-facts cache, per resource.',
    labelNames: ['resource'],
    registers,
    collect() {
      const n = facts.status().objects;
      for (const r of FACTS_RESOURCES) this.set({ resource: r }, n[r]);
    },
  });
  new Counter({
    name: FACTS_METRICS.directReads,
    help: 'Direct API reads on a cache miss, by result.',
    labelNames: ['result'],
    registers,
    collect() {
      this.reset();
      const n = facts.status().directReads;
      for (const r of DIRECT_READ_RESULTS) this.inc({ result: r }, n[r]);
    },
  });
}
