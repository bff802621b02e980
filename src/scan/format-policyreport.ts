/**
 * `tokenguard scan --output policyreport`: the findings as `wgpolicyk8s.io/v1alpha2` objects of
 * the Kubernetes Policy working group (kubernetes-sigs/wg-policy-prototypes), which Policy
 * Reporter and Kyverno's dashboards read: one PolicyReport per namespace scanned, and one
 * ClusterPolicyReport with a line per namespace and one for the cluster. Pure.
 */
import { stringify } from 'yaml';
import type { JsonObject } from '../json.js';
import { REPORT_NAME, REPORT_SOURCE, SCAN_POLICY } from './constants.js';
import type { ScanReport, ScanResult } from './report.js';

export const POLICY_REPORT_API_VERSION = 'wgpolicyk8s.io/v1alpha2';

/** Every result is about ServiceAccount tokens. */
const CATEGORY = 'ServiceAccount tokens';

/** The PolicyReports (namespaces in order) and then the ClusterPolicyReport. */
export function policyReports(report: ScanReport): JsonObject[] {
  const seconds = Math.floor(Date.parse(report.scannedAt) / 1000);
  const byNamespace = new Map<string, ScanResult[]>();
  for (const n of report.namespaces) byNamespace.set(n.namespace, []);
  const cluster: ScanResult[] = [];
  for (const r of report.results) {
    if (r.namespace === '') cluster.push(r);
    else {
      const list = byNamespace.get(r.namespace) ?? [];
      list.push(r);
      byNamespace.set(r.namespace, list);
    }
  }
  const labels = { 'app.kubernetes.io/managed-by': REPORT_SOURCE };
  const out: JsonObject[] = [];
  for (const [namespace, results] of [...byNamespace.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    out.push({
      apiVersion: POLICY_REPORT_API_VERSION,
      kind: 'PolicyReport',
      metadata: { name: REPORT_NAME, namespace, labels },
      summary: summary(results),
      results: results.map((r) => result(r, seconds)),
    });
  }
  const s = report.summary;
  const whole: ScanResult = {
    namespace: '',
    policy: SCAN_POLICY,
    rule: 'cluster-summary',
    result: s.results.error > 0 ? 'error' : s.results.fail > 0 ? 'fail' : s.results.warn > 0 ? 'warn' : 'pass',
    severity: s.results.fail > 0 || s.results.error > 0 ? 'high' : s.results.warn > 0 ? 'low' : 'info',
    message: `${s.legacyTokens} legacy token Secrets (${s.inUse} in use, ${s.safeToDelete + s.invalidated + s.orphaned} deletable, ${s.scheduledForInvalidation} to be invalidated by the cleaner); ${s.pods} pods in ${s.workloads} workloads, ${s.wouldLoseApiTokenPods} (${(s.wouldLoseApiTokenShare * 100).toFixed(1)} %) carrying an API token they would lose${s.oldestUnused ? `; oldest unused: ${s.oldestUnused.namespace}/${s.oldestUnused.name} (${s.oldestUnused.days} days)` : ''}`,
    resource: undefined,
    properties: {
      namespaces: String(s.namespaces),
      legacyTokens: String(s.legacyTokens),
      inUse: String(s.inUse),
      pods: String(s.pods),
      wouldLoseApiTokenPods: String(s.wouldLoseApiTokenPods),
      wouldLoseApiTokenShare: String(s.wouldLoseApiTokenShare),
    },
  };
  const clusterResults = [...cluster, whole];
  out.push({
    apiVersion: POLICY_REPORT_API_VERSION,
    kind: 'ClusterPolicyReport',
    metadata: { name: REPORT_NAME, labels },
    summary: summary(clusterResults),
    results: clusterResults.map((r) => result(r, seconds)),
  });
  return out;
}

/** The reports as YAML documents, ready for `kubectl apply -f -`. */
export function formatPolicyReports(report: ScanReport): string {
  return policyReports(report)
    .map((o) => stringify(o, { lineWidth: 0 }))
    .join('---\n');
}

function summary(results: readonly ScanResult[]): JsonObject {
  const s = { pass: 0, fail: 0, warn: 0, error: 0, skip: 0 };
  for (const r of results) s[r.result]++;
  return s;
}

function result(r: ScanResult, seconds: number): JsonObject {
  const resource = r.resource
    ? [
        {
          apiVersion: r.resource.apiVersion,
          kind: r.resource.kind,
          name: r.resource.name,
          ...(r.resource.namespace ? { namespace: r.resource.namespace } : {}),
          ...(r.resource.uid ? { uid: r.resource.uid } : {}),
        },
      ]
    : undefined;
  return {
    source: REPORT_SOURCE,
    policy: r.policy,
    rule: r.rule,
    category: CATEGORY,
    result: r.result,
    severity: r.severity,
    scored: true,
    message: r.message,
    ...(resource ? { resources: resource } : {}),
    ...(Object.keys(r.properties).length > 0 ? { properties: { ...r.properties } } : {}),
    timestamp: { seconds, nanos: 0 },
  };
}
