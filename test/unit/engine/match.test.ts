import { globMatch } from '../../../src/glob.js';
import { matchPolicy, serviceAccountPatternMatches } from '../../../src/engine/match.js';
import { selectorMatches } from '../../../src/engine/selector.js';
import { staticFacts } from '../../../src/facts/static.js';
import { stringIn } from '../../../src/json.js';
import type { PolicyMatch, TokenPolicy } from '../../../src/policy/types.js';

const policy = (match: PolicyMatch): TokenPolicy => ({
  name: 'p',
  spec: { mode: 'Enforce', match },
  source: { file: 'f', document: 1 },
});
const subject = (o: Partial<Parameters<typeof matchPolicy>[1]> = {}) => ({
  namespace: 'team-a',
  label: (key: string) => stringIn({ app: 'web' }, key),
  serviceAccount: 'default',
  namespaceFacts: undefined,
  ...o,
});

test.each([
  ['team-*', 'team-a', true],
  ['team-*', 'team-', true],
  ['team-*', 'teams', false],
  ['t?am', 'team', true],
  ['a.b', 'axb', false],
  ['kube-system', 'kube-system', true],
  ['*', '', true],
  ['(x)+', '(x)+', true],
])('glob %s matches %s: %s', (p, v, want) => {
  expect(globMatch(p, v)).toBe(want);
});

test('label selectors follow Kubernetes semantics', () => {
  const labels = (key: string) => stringIn({ app: 'web', tier: 'front' }, key);
  expect(selectorMatches({}, labels)).toBe(true);
  expect(selectorMatches({ matchLabels: { app: 'web' } }, labels)).toBe(true);
  expect(selectorMatches({ matchLabels: { app: 'db' } }, labels)).toBe(false);
  expect(
    selectorMatches({ matchExpressions: [{ key: 'tier', operator: 'In', values: ['front', 'back'] }] }, labels),
  ).toBe(true);
  expect(selectorMatches({ matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['front'] }] }, labels)).toBe(
    false,
  );
  expect(selectorMatches({ matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] }, labels)).toBe(true);
  expect(selectorMatches({ matchExpressions: [{ key: 'zone', operator: 'Exists' }] }, labels)).toBe(false);
  expect(selectorMatches({ matchExpressions: [{ key: 'zone', operator: 'DoesNotExist' }] }, labels)).toBe(true);
  expect(selectorMatches({ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] }, labels)).toBe(false);
});

test('ServiceAccount patterns: name in any namespace, or namespace/name', () => {
  expect(serviceAccountPatternMatches('ci-runner', 'x', 'ci-runner')).toBe(true);
  expect(serviceAccountPatternMatches('payments/*', 'payments', 'api')).toBe(true);
  expect(serviceAccountPatternMatches('payments/*', 'billing', 'api')).toBe(false);
});

test('match precedence: exclusion wins; namespaces, ServiceAccounts and selectors must all hold', () => {
  expect(matchPolicy(policy({}), subject())).toEqual({ matched: true });
  expect(matchPolicy(policy({ namespaces: ['team-*'], excludeNamespaces: ['team-a'] }), subject())).toEqual({
    matched: false,
  });
  expect(matchPolicy(policy({ namespaces: ['team-*'] }), subject({ namespace: 'payments' }))).toEqual({
    matched: false,
  });
  expect(matchPolicy(policy({ serviceAccounts: ['builder'] }), subject())).toEqual({ matched: false });
  expect(matchPolicy(policy({ serviceAccounts: ['team-a/default'] }), subject())).toEqual({ matched: true });
  expect(matchPolicy(policy({ serviceAccounts: ['x'] }), subject({ serviceAccount: undefined }))).toEqual({
    matched: false,
  });
  expect(matchPolicy(policy({ objectSelector: { matchLabels: { app: 'db' } } }), subject())).toEqual({
    matched: false,
  });
});

test('namespaceSelector: facts decide; without facts only the metadata.name label is known, anything else is an error', () => {
  const sel = policy({ namespaceSelector: { matchLabels: { tier: 'apps' } } });
  expect(matchPolicy(sel, subject({ namespaceFacts: { name: 'team-a', labels: { tier: 'apps' } } }))).toEqual({
    matched: true,
  });
  expect(matchPolicy(sel, subject({ namespaceFacts: { name: 'team-a', labels: {} } }))).toEqual({ matched: false });
  expect(matchPolicy(sel, subject())).toEqual({
    error: 'labels of namespace "team-a" are unknown, so namespaceSelector cannot be evaluated',
  });
  const byName = policy({
    namespaceSelector: {
      matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system'] }],
    },
  });
  expect(matchPolicy(byName, subject())).toEqual({ matched: true });
  expect(matchPolicy(byName, subject({ namespace: 'kube-system' }))).toEqual({ matched: false });
});

test('static facts: ServiceAccounts, namespace labels, and bindings by subject, user name and group', () => {
  const facts = staticFacts(
    [
      {
        kind: 'ServiceAccount',
        metadata: { name: 'a', namespace: 'ns', annotations: { x: 'y' } },
        automountServiceAccountToken: false,
      },
      { kind: 'Namespace', metadata: { name: 'ns', labels: { tier: 'apps' } } },
      {
        kind: 'RoleBinding',
        metadata: { name: 'rb', namespace: 'ns' },
        subjects: [{ kind: 'ServiceAccount', name: 'a' }],
      },
      {
        kind: 'ClusterRoleBinding',
        metadata: { name: 'crb' },
        subjects: [{ kind: 'User', name: 'system:serviceaccount:other:b' }],
      },
      {
        kind: 'ClusterRoleBinding',
        metadata: { name: 'grp' },
        subjects: [{ kind: 'Group', name: 'system:serviceaccounts:third' }],
      },
    ],
    { bindingsComplete: true },
  );
  expect(facts.lookup({ namespace: 'ns', serviceAccount: 'a' })).toEqual({
    serviceAccount: {
      namespace: 'ns',
      name: 'a',
      annotations: { x: 'y' },
      automountServiceAccountToken: false,
      bound: true,
      boundBy: ['RoleBinding ns/rb'],
    },
    namespace: { name: 'ns', labels: { tier: 'apps' } },
  });
  expect(facts.lookup({ namespace: 'other', serviceAccount: 'b' })).toMatchObject({
    serviceAccount: { bound: true, boundBy: ['ClusterRoleBinding crb'] },
  });
  expect(facts.lookup({ namespace: 'third', serviceAccount: 'any' })).toMatchObject({
    serviceAccount: { bound: true, boundBy: ['ClusterRoleBinding grp'] },
  });
  expect(facts.lookup({ namespace: 'ns', serviceAccount: 'unbound' })).toMatchObject({
    serviceAccount: { bound: false },
  });
  expect(staticFacts([]).lookup({ namespace: 'ns', serviceAccount: 'x' })).toEqual({
    serviceAccount: { namespace: 'ns', name: 'x', annotations: {} },
  });
});
