import { Registry } from 'prom-client';
import type { ClusterFactsStatus, ResourceStatus } from '../../../src/facts/informers.js';
import { registerFactsMetrics } from '../../../src/facts/metrics.js';

const resource = (over: Partial<ResourceStatus>): ResourceStatus => ({
  synced: true,
  watching: true,
  stale: false,
  lastEventAgeSeconds: 1.5,
  reconnects: 0,
  relists: 0,
  objects: 0,
  ...over,
});

test('facts metrics are read from status() at scrape time, on the registry given', async () => {
  let status: ClusterFactsStatus = {
    synced: false,
    stale: true,
    lastEventAgeSeconds: { serviceaccounts: 2, namespaces: null, rolebindings: 0.5, clusterrolebindings: 0 },
    reconnects: { serviceaccounts: 3, namespaces: 0, rolebindings: 1, clusterrolebindings: 0 },
    objects: { serviceaccounts: 10, namespaces: 2, rolebindings: 4, clusterrolebindings: 1 },
    resources: {
      serviceaccounts: resource({}),
      namespaces: resource({}),
      rolebindings: resource({}),
      clusterrolebindings: resource({}),
    },
    directReads: { found: 1, not_found: 2, timeout: 0, error: 0, throttled: 0 },
  };
  const registry = new Registry();
  registerFactsMetrics(registry, { status: () => status });
  const text = await registry.metrics();
  expect(text).toContain('tokenguard_facts_synced 0');
  expect(text).toContain('tokenguard_facts_stale 1');
  expect(text).toContain('tokenguard_facts_last_event_age_seconds{resource="serviceaccounts"} 2');
  expect(text).not.toContain('tokenguard_facts_last_event_age_seconds{resource="namespaces"}');
  expect(text).toContain('tokenguard_facts_watch_reconnects_total{resource="serviceaccounts"} 3');
  expect(text).toContain('# TYPE tokenguard_facts_watch_reconnects_total counter');
  expect(text).toContain('tokenguard_facts_objects{resource="rolebindings"} 4');
  expect(text).toContain('tokenguard_facts_direct_reads_total{result="not_found"} 2');

  status = { ...status, synced: true, stale: false, reconnects: { ...status.reconnects, serviceaccounts: 5 } };
  const later = await registry.metrics();
  expect(later).toContain('tokenguard_facts_synced 1');
  expect(later).toContain('tokenguard_facts_watch_reconnects_total{resource="serviceaccounts"} 5');
  // A second registry in the same process does not collide (nothing global).
  registerFactsMetrics(new Registry(), { status: () => status });
});
