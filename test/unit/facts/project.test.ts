import pino from 'pino';
import type { JsonObject } from '../../../src/json.js';
import { backoffDelay, type FactsLogger } from '../../../src/facts/informers.js';
import {
  BindingIndex,
  subjectKeys,
  toBindingFacts,
  toNamespaceFacts,
  toServiceAccountFacts,
} from '../../../src/facts/project.js';
import { FactsStore, type FactsResource, MAX_BOUND_BY, projectForCache } from '../../../src/facts/store.js';

// pino's Logger is a FactsLogger (checked at compile time).
const _pinoFits: FactsLogger = pino({ enabled: false });
void _pinoFits;

test.each<[string, JsonObject, string, string[]]>([
  ['ServiceAccount, namespace from the subject', { kind: 'ServiceAccount', name: 'a', namespace: 'x' }, 'ns', ['x/a']],
  ['ServiceAccount, namespace from the RoleBinding', { kind: 'ServiceAccount', name: 'a' }, 'ns', ['ns/a']],
  ['the user a ServiceAccount authenticates as', { kind: 'User', name: 'system:serviceaccount:x:a' }, '', ['x/a']],
  ['a malformed ServiceAccount user name', { kind: 'User', name: 'system:serviceaccount:x' }, '', []],
  ['every ServiceAccount', { kind: 'Group', name: 'system:serviceaccounts' }, '', ['group:system:serviceaccounts']],
  [
    'the ServiceAccounts of one namespace',
    { kind: 'Group', name: 'system:serviceaccounts:x' },
    '',
    ['group:system:serviceaccounts:x'],
  ],
  [
    'all authenticated users: every ServiceAccount too',
    { kind: 'Group', name: 'system:authenticated' },
    '',
    ['group:system:serviceaccounts'],
  ],
  ['all unauthenticated users (no ServiceAccount)', { kind: 'Group', name: 'system:unauthenticated' }, '', []],
  ['a person', { kind: 'User', name: 'alice' }, 'ns', []],
  ['a group of people', { kind: 'Group', name: 'admins' }, 'ns', []],
])('subject keys: %s', (_name, subject, ns, keys) => {
  expect(subjectKeys(subject, ns)).toEqual(keys);
});

test('binding index: add, update (old subjects removed first), delete, no duplicates', () => {
  const index = new BindingIndex();
  index.set({ id: 'RoleBinding ns/a', keys: ['ns/x', 'ns/y'] });
  index.set({ id: 'RoleBinding ns/a', keys: ['ns/x', 'ns/y'] }); // the same event twice (relist)
  index.set({ id: 'ClusterRoleBinding g', keys: ['group:system:serviceaccounts:ns'] });
  expect(index.boundBy('ns', 'x')).toEqual(['RoleBinding ns/a', 'ClusterRoleBinding g']);
  expect(index.boundBy('other', 'x')).toEqual([]);
  expect(index.isBound('ns', 'z')).toBe(true); // through the namespace group
  expect(index.isBound('other', 'z')).toBe(false);
  index.set({ id: 'RoleBinding ns/a', keys: ['ns/z'] }); // update: moves from x, y to z
  expect(index.snapshot()).toEqual({
    'group:system:serviceaccounts:ns': ['ClusterRoleBinding g'],
    'ns/z': ['RoleBinding ns/a'],
  });
  index.delete('RoleBinding ns/a');
  index.delete('RoleBinding ns/unknown');
  expect(index.snapshot()).toEqual({ 'group:system:serviceaccounts:ns': ['ClusterRoleBinding g'] });
  expect(index.size).toBe(1);
  index.set({ id: 'ClusterRoleBinding all', keys: ['group:system:serviceaccounts'] });
  index.set({ id: 'RoleBinding ns/b', keys: ['ns/x', 'group:system:serviceaccounts'] });
  expect(index.boundBy('ns', 'x')).toEqual(['RoleBinding ns/b', 'ClusterRoleBinding all', 'ClusterRoleBinding g']);
  expect(index.boundBy('ns', 'x', 2)).toEqual(['RoleBinding ns/b', 'ClusterRoleBinding all']);
});

test('projections keep what the facts read and nothing else', () => {
  const sa: JsonObject = {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: {
      name: 'a',
      namespace: 'ns',
      resourceVersion: '7',
      uid: 'u',
      annotations: { x: 'y', n: 1 as unknown as string },
      managedFields: [{}],
    },
    automountServiceAccountToken: false,
    secrets: [{ name: 'a-token' }],
  };
  expect(projectForCache('serviceaccounts', sa)).toEqual({
    metadata: { name: 'a', namespace: 'ns', resourceVersion: '7', annotations: { x: 'y' } },
    automountServiceAccountToken: false,
  });
  expect(toServiceAccountFacts(sa)).toEqual({
    namespace: 'ns',
    name: 'a',
    annotations: { x: 'y' },
    automountServiceAccountToken: false,
  });
  expect(toServiceAccountFacts({ metadata: { name: 'b' } })).toEqual({
    namespace: 'default',
    name: 'b',
    annotations: {},
  });
  expect(toServiceAccountFacts({ metadata: {} })).toBeUndefined();

  const ns: JsonObject = {
    metadata: { name: 'team', resourceVersion: '3', labels: { a: 'b' }, annotations: { big: 'x' } },
    spec: {},
    status: {},
  };
  expect(projectForCache('namespaces', ns)).toEqual({
    metadata: { name: 'team', resourceVersion: '3', labels: { a: 'b' } },
  });
  expect(toNamespaceFacts(ns)).toEqual({ name: 'team', labels: { a: 'b' } });

  const rb: JsonObject = {
    metadata: { name: 'r', namespace: 'ns', resourceVersion: '9', labels: { l: 'v' } },
    roleRef: { kind: 'Role', name: 'x' },
    subjects: [
      { kind: 'ServiceAccount', name: 'a', apiGroup: '' },
      { kind: 'User', name: 'alice' },
      { kind: 'Group', name: 'system:serviceaccounts:ns', apiGroup: 'rbac.authorization.k8s.io' },
    ],
  };
  expect(projectForCache('rolebindings', rb)).toEqual({
    metadata: { name: 'r', namespace: 'ns', resourceVersion: '9' },
    subjectKeys: ['ns/a', 'group:system:serviceaccounts:ns'],
  });
  expect(toBindingFacts('RoleBinding', rb)).toEqual({
    id: 'RoleBinding ns/r',
    keys: ['ns/a', 'group:system:serviceaccounts:ns'],
  });
  expect(toBindingFacts('ClusterRoleBinding', { metadata: { name: 'c', namespace: 'ignored' }, subjects: [] })).toEqual(
    { id: 'ClusterRoleBinding c', keys: [] },
  );
  // Bindings to roles that grant only discovery and public information name nobody.
  const discovery: JsonObject = {
    metadata: { name: 'system:service-account-issuer-discovery' },
    roleRef: {
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'ClusterRole',
      name: 'system:service-account-issuer-discovery',
    },
    subjects: [{ kind: 'Group', name: 'system:serviceaccounts' }],
  };
  expect(toBindingFacts('ClusterRoleBinding', discovery)).toEqual({
    id: 'ClusterRoleBinding system:service-account-issuer-discovery',
    keys: [],
  });
  expect(toBindingFacts('RoleBinding', { ...discovery, metadata: { name: 'x', namespace: 'ns' } })).toEqual({
    id: 'RoleBinding ns/x',
    keys: [],
  });
  // A namespaced Role that happens to share the name is a different role: it counts.
  expect(
    toBindingFacts('RoleBinding', {
      ...discovery,
      metadata: { name: 'x', namespace: 'ns' },
      roleRef: { kind: 'Role', name: 'system:discovery' },
    }),
  ).toEqual({
    id: 'RoleBinding ns/x',
    keys: ['group:system:serviceaccounts'],
  });
});

test('facts store: counts, removal, bound only when bindings are known, boundBy capped', () => {
  const store = new FactsStore();
  const put = (r: FactsResource, o: JsonObject) => store.upsert(r, projectForCache(r, o));
  const drop = (r: FactsResource, o: JsonObject) => store.remove(r, projectForCache(r, o));
  put('serviceaccounts', { metadata: { name: 'a', namespace: 'ns' } });
  put('namespaces', { metadata: { name: 'ns' } });
  put('rolebindings', { metadata: { name: 'r', namespace: 'ns' }, subjects: [{ kind: 'ServiceAccount', name: 'a' }] });
  put('rolebindings', { metadata: { name: 'r', namespace: 'ns' }, subjects: [{ kind: 'ServiceAccount', name: 'a' }] });
  put('clusterrolebindings', { metadata: { name: 'people' }, subjects: [{ kind: 'User', name: 'alice' }] });
  expect([
    store.count('serviceaccounts'),
    store.count('namespaces'),
    store.count('rolebindings'),
    store.count('clusterrolebindings'),
  ]).toEqual([1, 1, 1, 1]);
  const sa = store.serviceAccounts.get('ns/a')!;
  expect(store.withBindings(sa, true)).toEqual({
    namespace: 'ns',
    name: 'a',
    annotations: {},
    bound: true,
    boundBy: ['RoleBinding ns/r'],
  });
  expect(store.withBindings(sa, false)).toEqual({ namespace: 'ns', name: 'a', annotations: {} });
  expect(store.lookup('ns', 'a', true)).toEqual({
    serviceAccount: { namespace: 'ns', name: 'a', annotations: {}, bound: true, boundBy: ['RoleBinding ns/r'] },
    namespace: { name: 'ns', labels: {} },
  });
  expect(store.lookup('ns', undefined, true)).toEqual({ namespace: { name: 'ns', labels: {} } });
  expect(store.lookup('ns', 'missing', true)).toBeUndefined();
  expect(store.lookup('other', 'a', true)).toBeUndefined();
  for (let i = 0; i < 40; i++)
    put('clusterrolebindings', {
      metadata: { name: `c${i}` },
      subjects: [{ kind: 'ServiceAccount', name: 'a', namespace: 'ns' }],
    });
  expect(store.withBindings(sa, true).boundBy).toHaveLength(MAX_BOUND_BY);
  drop('rolebindings', { metadata: { name: 'r', namespace: 'ns' } });
  drop('rolebindings', { metadata: { name: 'r', namespace: 'ns' } });
  drop('serviceaccounts', { metadata: { name: 'a', namespace: 'ns' } });
  drop('namespaces', { metadata: { name: 'ns' } });
  expect([
    store.count('serviceaccounts'),
    store.count('namespaces'),
    store.count('rolebindings'),
    store.count('clusterrolebindings'),
  ]).toEqual([0, 0, 0, 41]);
});

test('the facts store holds what project.ts gives for the same objects, sharing the cached maps rather than copying them', () => {
  const serviceAccounts: JsonObject[] = [
    { metadata: { name: 'plain', namespace: 'ns' } },
    { metadata: { name: 'no-namespace' } },
    {
      metadata: { name: 'annotated', namespace: 'ns', annotations: { a: 'b', n: 1 as unknown as string } },
      automountServiceAccountToken: true,
    },
    {
      metadata: { name: 'odd-flag', namespace: 'ns', annotations: { only: 2 as unknown as string } },
      automountServiceAccountToken: 'no' as unknown as boolean,
    },
    { metadata: { namespace: 'ns' } },
  ];
  const namespaces: JsonObject[] = [
    { metadata: { name: 'bare' } },
    { metadata: { name: 'labelled', labels: { a: 'b', n: null } } },
    { metadata: {} },
  ];
  const rbs: JsonObject[] = [
    {
      metadata: { name: 'r', namespace: 'ns' },
      roleRef: { kind: 'Role', name: 'x' },
      subjects: [
        { kind: 'ServiceAccount', name: 'plain' },
        { kind: 'Group', name: 'system:serviceaccounts' },
      ],
    },
    { metadata: { namespace: 'ns' }, subjects: [{ kind: 'ServiceAccount', name: 'plain' }] },
  ];
  const crbs: JsonObject[] = [
    {
      metadata: { name: 'c', namespace: 'ignored' },
      roleRef: { kind: 'ClusterRole', name: 'system:discovery' },
      subjects: [{ kind: 'Group', name: 'system:serviceaccounts' }],
    },
  ];
  const store = new FactsStore();
  const cached = (r: FactsResource, objects: JsonObject[]) => objects.map((o) => projectForCache(r, o));
  const sas = cached('serviceaccounts', serviceAccounts);
  for (const o of sas) store.upsert('serviceaccounts', o);
  for (const o of cached('namespaces', namespaces)) store.upsert('namespaces', o);
  for (const o of cached('rolebindings', rbs)) store.upsert('rolebindings', o);
  for (const o of cached('clusterrolebindings', crbs)) store.upsert('clusterrolebindings', o);

  const byKey = <T>(facts: (T | undefined)[], key: (f: T) => string) =>
    Object.fromEntries(facts.flatMap((f) => (f ? [[key(f), f]] : [])));
  expect(store.snapshot().serviceAccounts).toEqual(
    byKey(
      serviceAccounts.map((o) => toServiceAccountFacts(o)),
      (f) => `${f.namespace}/${f.name}`,
    ),
  );
  expect(store.snapshot().namespaces).toEqual(
    byKey(
      namespaces.map((o) => toNamespaceFacts(o)),
      (f) => f.name,
    ),
  );
  const index = new BindingIndex();
  for (const o of rbs) if (toBindingFacts('RoleBinding', o)) index.set(toBindingFacts('RoleBinding', o)!);
  for (const o of crbs)
    if (toBindingFacts('ClusterRoleBinding', o)) index.set(toBindingFacts('ClusterRoleBinding', o)!);
  expect(store.snapshot().bindings).toEqual(index.snapshot());
  expect([
    store.count('serviceaccounts'),
    store.count('namespaces'),
    store.count('rolebindings'),
    store.count('clusterrolebindings'),
  ]).toEqual([4, 2, 1, 1]);

  // One copy of each map: the cache entry's annotations are the store's; no annotations share one empty map.
  expect(store.serviceAccounts.get('ns/annotated')!.annotations).toBe(sas[2]!.metadata.annotations);
  expect(store.serviceAccounts.get('ns/plain')!.annotations).toBe(
    store.serviceAccounts.get('default/no-namespace')!.annotations,
  );
  expect(store.namespaces.get('bare')!.labels).toBe(store.serviceAccounts.get('ns/plain')!.annotations);

  // A DELETED event finds what the ADDED one indexed, by the same rules.
  for (const o of sas) store.remove('serviceaccounts', o);
  store.remove('rolebindings', projectForCache('rolebindings', { metadata: { name: 'r', namespace: 'ns' } }));
  store.remove('clusterrolebindings', projectForCache('clusterrolebindings', { metadata: { name: 'c' } }));
  expect([store.count('serviceaccounts'), store.count('rolebindings'), store.count('clusterrolebindings')]).toEqual([
    0, 0, 0,
  ]);
});

test('backoff: doubles per attempt, capped, jittered into the upper half by the injected random', () => {
  const at = (r: number) => [0, 1, 2, 3, 4, 5, 6, 40].map((n) => backoffDelay(n, 500, 30_000, () => r));
  expect(at(0)).toEqual([250, 500, 1000, 2000, 4000, 8000, 15000, 15000]);
  expect(at(0.999999)).toEqual([500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
});
