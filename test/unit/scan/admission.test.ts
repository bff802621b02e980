/**
 * Running pods judged as if created now: the reduction of a pod to what the engine reads
 * changes no verdict (checked against `runDryRun` of the whole pod, over every pod of the
 * admission fixtures, every policy set, and random labels, annotations, names and nodes), and
 * pods that differ only outside it share one evaluation.
 */
import fc from 'fast-check';
import { runDryRun } from '../../../src/dryrun/run.js';
import { isPluginTokenVolume } from '../../../src/engine/api-token.js';
import type { JsonObject } from '../../../src/json.js';
import { createPodEvaluator, reducePod } from '../../../src/scan/admission.js';
import { FactsIndex } from '../../../src/scan/facts-index.js';
import { toNamespaceFact, toServiceAccount } from '../../../src/scan/inventory.js';
import { OwnerIndex } from '../../../src/scan/owners.js';
import { describeUse, secretUses } from '../../../src/engine/secret-uses.js';
import { admissionFixtures, policySet } from '../../helpers/fixtures.js';

const POLICY_SETS = ['shipped', 'strict', 'selector', 'inject', 'deny-bounds', 'audit', 'composed'];

/** Pod CREATEs of the admission fixtures, as stored pods. */
function fixturePods(): JsonObject[] {
  const out: JsonObject[] = [];
  for (const f of admissionFixtures()) {
    const req = (
      f.body as {
        request?: {
          kind?: { kind?: string };
          operation?: string;
          subResource?: string;
          object?: JsonObject;
          namespace?: string;
        };
      }
    ).request;
    if (
      req?.kind?.kind !== 'Pod' ||
      req.operation !== 'CREATE' ||
      req.subResource ||
      !req.object ||
      typeof req.object !== 'object'
    )
      continue;
    // Stored pods are valid ones: the malformed requests of the fixtures never get that far.
    if (
      f.name.startsWith('malformed-') ||
      typeof req.object.spec !== 'object' ||
      !Array.isArray((req.object.spec as JsonObject).containers)
    )
      continue;
    const md = (req.object.metadata ?? {}) as JsonObject;
    out.push({
      ...req.object,
      metadata: { ...md, namespace: (md.namespace as string | undefined) ?? req.namespace ?? 'default' },
    });
  }
  return out;
}

function facts(): FactsIndex {
  const f = new FactsIndex({ bindingsComplete: true });
  for (const ns of ['default', 'team-a', 'team-inject', 'apps', 'kube-system']) {
    const fact = toNamespaceFact({
      metadata: { name: ns, labels: { 'kubernetes.io/metadata.name': ns, ...(ns === 'apps' ? { tier: 'apps' } : {}) } },
    });
    if (fact) f.addNamespace(fact);
  }
  for (const ns of ['default', 'team-a', 'team-inject', 'apps']) {
    for (const name of ['default', 'app', 'builder']) {
      const sa = toServiceAccount({
        metadata: {
          name,
          namespace: ns,
          ...(name === 'builder' ? { annotations: { 'tokenguard.dev/api-access': 'true' } } : {}),
        },
      });
      if (sa) f.addServiceAccount(sa);
    }
  }
  return f;
}

/** The verdict of the whole pod through runDryRun, with the plugin volume's name as the reduction shows it. */
function direct(pod: JsonObject, policies: string, index: FactsIndex) {
  const md = pod.metadata as JsonObject;
  const spec = pod.spec as JsonObject;
  const ns = md.namespace as string;
  const sa = (spec.serviceAccountName as string | undefined) || 'default';
  const o = runDryRun({
    policies: policySet(policies),
    objects: [{ object: pod, file: 'x', document: 1, line: 1 }],
    facts: index.factsFor(ns, sa),
    bindingsComplete: true,
    namespace: ns,
  }).objects[0];
  const name = ((spec.volumes as JsonObject[] | undefined) ?? []).find((v) => isPluginTokenVolume(v))?.name as
    | string
    | undefined;
  const shown = (m: string) => (name ? m.split(name).join('kube-api-access-*') : m);
  if (!o || o.outcome === 'error') return { outcome: 'error' };
  return {
    outcome:
      o.outcome === 'denied'
        ? 'denied'
        : o.changes.length > 0
          ? 'changed'
          : o.warnings.length > 0
            ? 'warned'
            : 'passed',
    denials: o.denials.map((d) => shown(d.message)),
    changes: o.changes.map((d) => shown(d.message)),
    warnings: o.warnings.map(shown),
  };
}

describe('the reduction changes no verdict', () => {
  const pods = fixturePods();
  const index = facts();

  test('there are pods to check', () => {
    expect(pods.length).toBeGreaterThan(30);
  });

  test.each(POLICY_SETS)(
    'policy set %s: every fixture pod, with random labels, annotations, names and nodes',
    (set) => {
      const evaluate = createPodEvaluator({ policies: policySet(set), facts: index });
      const extra = fc.record({
        labels: fc.dictionary(
          fc.constantFrom('app', 'tier', 'statefulset.kubernetes.io/pod-name', 'x'),
          fc.constantFrom('a', 'web-0', 'apps'),
        ),
        annotations: fc.dictionary(
          fc.constantFrom('tokenguard.dev/api-access', 'cni.example/ip', 'kubernetes.io/config.mirror'),
          fc.constantFrom('true', 'false', '10.0.0.1'),
        ),
        name: fc.constantFrom('web-0', 'web-1', 'x-7d9f'),
        node: fc.constantFrom('n1', 'n2'),
      });
      fc.assert(
        fc.property(fc.constantFrom(...pods), extra, (pod, e) => {
          const md = pod.metadata as JsonObject;
          const full: JsonObject = {
            ...pod,
            metadata: {
              ...md,
              name: e.name,
              labels: { ...((md.labels as JsonObject) ?? {}), ...e.labels },
              annotations: { ...((md.annotations as JsonObject) ?? {}), ...e.annotations },
            },
            spec: { ...(pod.spec as JsonObject), nodeName: e.node },
          };
          const v = evaluate(full);
          const want = direct({ ...full, spec: { ...(full.spec as JsonObject) } }, set, index);
          expect(
            v.outcome === 'error'
              ? { outcome: 'error' }
              : {
                  outcome: v.outcome,
                  denials: v.denials.map((d) => d.message),
                  changes: v.changes.map((d) => d.message),
                  warnings: [...v.warnings],
                },
          ).toEqual(want);
        }),
        { numRuns: 60, seed: 22 },
      );
    },
  );
});

describe('one evaluation per distinct reduction', () => {
  test('pods of one ReplicaSet share one, whatever their names, nodes and API token volume names', () => {
    const index = facts();
    const evaluate = createPodEvaluator({ policies: policySet('shipped'), facts: index });
    const pod = (name: string, suffix: string): JsonObject => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name,
        namespace: 'team-a',
        labels: { app: 'web', 'pod-template-hash': 'abc' },
        annotations: { 'cni.example/ip': name },
      },
      spec: {
        nodeName: `node-${name}`,
        serviceAccountName: 'default',
        containers: [
          {
            name: 'app',
            image: 'x',
            volumeMounts: [
              {
                name: `kube-api-access-${suffix}`,
                mountPath: '/var/run/secrets/kubernetes.io/serviceaccount',
                readOnly: true,
              },
            ],
          },
        ],
        volumes: [
          {
            name: `kube-api-access-${suffix}`,
            projected: {
              defaultMode: 420,
              sources: [
                { serviceAccountToken: { path: 'token', expirationSeconds: 3607 } },
                { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
                {
                  downwardAPI: {
                    items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }],
                  },
                },
              ],
            },
          },
        ],
      },
    });
    const verdicts = ['bcdfg', 'hjklm', 'npqrs', 'tvwxz'].map((s, i) => evaluate(pod(`web-abc-${i}`, s)));
    expect(evaluate.stats).toEqual({ evaluations: 1, cached: 3 });
    expect(new Set(verdicts.map((v) => v.signature)).size).toBe(1);
    expect(verdicts[0]).toMatchObject({ outcome: 'changed', apiTokenBefore: true, apiTokenAfter: false });
    expect(verdicts[0]?.changes[0]?.message).toBe(
      'removed API token kube-api-access-* (1 mount), automount off: API access not needed',
    );
    const reduced = reducePod(pod('web-abc-9', 'zz2b4'), new Set(['app']), new Set(['tokenguard.dev/api-access']));
    expect(reduced.metadata).toEqual({ name: 'pod', namespace: 'team-a', labels: { app: 'web' } });
    expect((reduced.spec as JsonObject).nodeName).toBeUndefined();
  });
});

describe('owners and references', () => {
  test('Pod -> ReplicaSet -> Deployment, Pod -> Job -> CronJob, StatefulSet, DaemonSet; a bare pod is its own workload', () => {
    const owners = new OwnerIndex();
    const ref = (kind: string, name: string, apiVersion = 'apps/v1') => ({
      apiVersion,
      kind,
      name,
      uid: `u-${name}`,
      controller: true,
    });
    owners.add('ReplicaSet', {
      metadata: { name: 'web-abc', namespace: 'ns', ownerReferences: [ref('Deployment', 'web')] },
    });
    owners.add('Job', {
      metadata: { name: 'nightly-29', namespace: 'ns', ownerReferences: [ref('CronJob', 'nightly', 'batch/v1')] },
    });
    owners.add('ReplicaSet', { metadata: { name: 'bare-rs', namespace: 'ns' } });
    expect(owners.size).toBe(2);
    const of = (ownerReferences?: JsonObject[]) =>
      owners.workloadOf({
        metadata: { name: 'p', namespace: 'ns', uid: 'pu', ...(ownerReferences ? { ownerReferences } : {}) },
      });
    expect(of([ref('ReplicaSet', 'web-abc')])).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      namespace: 'ns',
      name: 'web',
      uid: 'u-web',
    });
    expect(of([ref('Job', 'nightly-29', 'batch/v1')])).toEqual({
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      namespace: 'ns',
      name: 'nightly',
      uid: 'u-nightly',
    });
    expect(of([ref('ReplicaSet', 'bare-rs')])).toMatchObject({ kind: 'ReplicaSet', name: 'bare-rs' });
    expect(of([ref('StatefulSet', 'db')])).toMatchObject({ kind: 'StatefulSet', name: 'db' });
    expect(of([ref('DaemonSet', 'agent')])).toMatchObject({ kind: 'DaemonSet', name: 'agent' });
    expect(of([{ ...ref('ReplicaSet', 'web-abc'), controller: false }])).toEqual({
      apiVersion: 'v1',
      kind: 'Pod',
      namespace: 'ns',
      name: 'p',
      uid: 'pu',
    });
  });

  test('every reference the cleaner counts, with what a migration needs', () => {
    const spec = {
      imagePullSecrets: [{ name: 'tok' }, { name: 'other' }],
      initContainers: [{ name: 'init', envFrom: [{ secretRef: { name: 'tok' }, prefix: 'K_' }] }],
      containers: [
        {
          name: 'a',
          env: [{ name: 'T', valueFrom: { secretKeyRef: { name: 'tok', key: 'token' } } }],
          volumeMounts: [
            { name: 'v', mountPath: '/t' },
            { name: 'p', mountPath: '/p', subPath: 'token' },
          ],
        },
        { name: 'b', volumeMounts: [{ name: 'v', mountPath: '/b' }] },
      ],
      volumes: [
        { name: 'v', secret: { secretName: 'tok', items: [{ key: 'token', path: 't' }] } },
        { name: 'p', projected: { sources: [{ secret: { name: 'tok' } }] } },
        { name: 'c', csi: { driver: 'x', nodePublishSecretRef: { name: 'tok' } } },
        { name: 'unmounted', secret: { secretName: 'tok' } },
      ],
    };
    expect(secretUses(spec, (n) => n === 'tok').map(describeUse)).toEqual([
      'listed in imagePullSecrets',
      'envFrom (prefix K_) in initContainers/init',
      'env T (key token) in containers/a',
      'volume v (key token) at /t in containers/a',
      'volume v (key token) at /b in containers/b',
      'projected volume p at /p (subPath token) in containers/a',
      'csi volume c',
      'volume unmounted, not mounted',
    ]);
  });
});
