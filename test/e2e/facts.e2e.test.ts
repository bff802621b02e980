/**
 * Cluster facts (src/facts/informers.ts) against the real API server of the suite: the
 * informers run in this test process with the admin kubeconfig (TLS, client certificate,
 * paged lists, real watches), not through `tokenguard serve` (which the server wiring will do).
 * The faults that stop the API server run against the fake API server of test/unit/facts and,
 * on a control plane of its own since this one is shared by every scenario, in scenario 16.
 */
import type { ClusterFacts } from '../../src/engine/types.js';
import { type ClusterFactsProvider, createClusterFacts, readClusterFacts } from '../../src/facts/informers.js';
import { type KubeConfig, loadKubeConfig } from '../../src/kube/config.js';
import { loadState, waitFor } from './env.js';
import { apply, ensureNamespace, kubectlOk } from './kube.js';

const NS = 'e2e-facts';
let facts: ClusterFactsProvider;
let kubeConfig: KubeConfig;

const sa = (name: string, ns = NS) => facts.lookup({ namespace: ns, serviceAccount: name }) as ClusterFacts;
const until = <T>(what: string, f: () => T | undefined | false) =>
  waitFor(
    what,
    30_000,
    async () => {
      const v = f();
      return v === false ? undefined : v;
    },
    100,
  );

beforeAll(async () => {
  kubeConfig = loadKubeConfig(loadState().kubeconfig, {});
  await ensureNamespace(NS, { team: 'facts' });
  facts = createClusterFacts({ kubeConfig, resyncPeriodMs: 3_000 });
  await facts.start();
});

afterAll(async () => {
  await facts?.stop();
  await kubectlOk(['delete', 'namespace', NS, '--wait=false', '--ignore-not-found']);
  await kubectlOk(['delete', 'clusterrolebinding', 'e2e-facts-user', '--ignore-not-found']);
});

test('first full sync: ready, every kind held, the same content as an independent listing', async () => {
  expect(facts.ready()).toBe(true);
  const s = facts.status();
  expect(s.synced).toBe(true);
  expect(s.stale).toBe(false);
  expect(s.objects.namespaces).toBeGreaterThanOrEqual(4);
  expect(s.objects.clusterrolebindings).toBeGreaterThan(20); // the API server's own system:* bindings
  // kube-system controllers are bound by their system:controller:* ClusterRoleBindings
  await until('kube-system/namespace-controller', () => sa('namespace-controller', 'kube-system').serviceAccount);
  expect(sa('namespace-controller', 'kube-system').serviceAccount).toMatchObject({ bound: true });
  expect(sa('namespace-controller', 'kube-system').serviceAccount?.boundBy).toContain(
    'ClusterRoleBinding system:controller:namespace-controller',
  );
  const listed = await readClusterFacts(kubeConfig);
  await until('informers agree with a fresh list', () => {
    const snap = facts.snapshot();
    return (
      [...listed.serviceAccounts.keys()].every((k) => k in snap.serviceAccounts) &&
      [...listed.namespaces.keys()].every((k) => k in snap.namespaces)
    );
  });
});

test('a RoleBinding binds, deleting it unbinds; group and user-name subjects count; labels follow', async () => {
  await apply(
    {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'worker', namespace: NS, annotations: { 'tokenguard.dev/api-access': 'false' } },
    },
    {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'other', namespace: NS },
      automountServiceAccountToken: false,
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'reader', namespace: NS },
      rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }],
    },
  );
  await until('worker known, unbound', () => sa('worker').serviceAccount?.bound === false);
  // kubectl apply adds its last-applied annotation; the facts keep every annotation.
  expect(sa('worker').serviceAccount?.annotations['tokenguard.dev/api-access']).toBe('false');
  // Every cluster binds system:service-account-issuer-discovery to all ServiceAccounts; it does not count.
  await until(
    'the bootstrap discovery binding',
    () => facts.snapshot().bindings['group:system:serviceaccounts'] === undefined,
  );
  expect(sa('other').serviceAccount).toMatchObject({ automountServiceAccountToken: false, bound: false });

  const rb = (name: string, subjects: object[]) => ({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name, namespace: NS },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'reader' },
    subjects,
  });
  await apply(rb('worker-reader', [{ kind: 'ServiceAccount', name: 'worker', namespace: NS }]));
  await until('bound', () => sa('worker').serviceAccount?.bound === true);
  expect(sa('worker').serviceAccount?.boundBy).toEqual([`RoleBinding ${NS}/worker-reader`]);
  expect(sa('other').serviceAccount?.bound).toBe(false);
  await kubectlOk(['delete', 'rolebinding', 'worker-reader', '-n', NS]);
  await until('unbound', () => sa('worker').serviceAccount?.bound === false);

  await apply(
    rb('all-sas-here', [
      { kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: `system:serviceaccounts:${NS}` },
    ]),
  );
  await until(
    'group binding',
    () => sa('other').serviceAccount?.bound === true && sa('worker').serviceAccount?.bound === true,
  );
  await kubectlOk(['delete', 'rolebinding', 'all-sas-here', '-n', NS]);
  await until('group unbound', () => sa('other').serviceAccount?.bound === false);

  await apply({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name: 'e2e-facts-user' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
    subjects: [{ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: `system:serviceaccount:${NS}:worker` }],
  });
  await until('user-name subject', () =>
    sa('worker').serviceAccount?.boundBy?.includes('ClusterRoleBinding e2e-facts-user'),
  );
  await kubectlOk(['delete', 'clusterrolebinding', 'e2e-facts-user']);
  await until('user-name unbound', () => sa('worker').serviceAccount?.bound === false);

  await kubectlOk(['label', 'namespace', NS, 'tier=apps', '--overwrite']);
  await until('label added', () => (facts.lookup({ namespace: NS }) as ClusterFacts).namespace?.labels.tier === 'apps');
  await kubectlOk(['label', 'namespace', NS, 'tier-']);
  await until(
    'label removed',
    () => (facts.lookup({ namespace: NS }) as ClusterFacts).namespace?.labels.tier === undefined,
  );
  expect(Object.values(facts.status().reconnects).every((n) => n === 0)).toBe(true);
});

test('cache miss: a direct read finds what exists; a 404 answers without the ServiceAccount, never an error', async () => {
  // A provider that never started has an empty cache: every lookup is a miss.
  const cold = createClusterFacts({ kubeConfig });
  try {
    const found = await cold.lookup({ namespace: NS, serviceAccount: 'worker' });
    expect(found.serviceAccount).toMatchObject({
      namespace: NS,
      name: 'worker',
      annotations: { 'tokenguard.dev/api-access': 'false' },
    });
    expect(found.serviceAccount?.bound).toBeUndefined(); // bindings unknown: never synced
    expect(found.namespace?.labels['kubernetes.io/metadata.name']).toBe(NS);
    const missing = await cold.lookup({ namespace: NS, serviceAccount: 'does-not-exist' });
    expect(missing.serviceAccount).toBeUndefined();
    expect(cold.status().directReads).toMatchObject({ found: 2, not_found: 1, timeout: 0, error: 0 });
  } finally {
    await cold.stop();
  }
});

test('periodic resync relists against the real API server without duplicates or losses', async () => {
  const before = facts.status().resources.serviceaccounts.relists;
  await until(
    'a resync relist',
    () => facts.status().resources.serviceaccounts.relists > before && !facts.status().stale,
  );
  const listed = await readClusterFacts(kubeConfig);
  await until('same ServiceAccounts as a fresh list', () => {
    const keys = Object.keys(facts.snapshot().serviceAccounts).sort();
    return JSON.stringify(keys) === JSON.stringify([...listed.serviceAccounts.keys()].sort());
  });
  expect(facts.status().objects.serviceaccounts).toBe(listed.serviceAccounts.size);
});
