import { serviceAccountOf, UsageAggregator, type UsageOptions } from '../../../src/usage/aggregate.js';
import { decodeLine } from '../../../src/usage/decode.js';
import { type EventOptions, line, reviewResponse } from './events.js';

function aggregate(events: EventOptions[], options: UsageOptions = {}) {
  const u = new UsageAggregator(options);
  for (const e of events) for (const r of decodeLine(line(e)).records) u.add(r);
  return u.summary();
}

const api = 'system:serviceaccount:shop:api';
const sa = (summary: ReturnType<typeof aggregate>, key: string) =>
  summary.serviceAccounts.find((s) => `${s.namespace}/${s.name}` === key);

test('service account user names: exactly system:serviceaccount:<ns>:<name>', () => {
  expect(serviceAccountOf('system:serviceaccount:shop:api')).toEqual(['shop', 'api']);
  for (const u of [
    'alice',
    'system:serviceaccount:shop',
    'system:serviceaccount::api',
    'system:serviceaccount:shop:',
    'system:serviceaccount:a:b:c',
    'system:serviceaccounts:shop',
  ]) {
    expect(serviceAccountOf(u)).toBeUndefined();
  }
});

describe('a request is counted once, whatever stages the policy logs', () => {
  test.each([
    ['RequestReceived and ResponseComplete', ['RequestReceived', 'ResponseComplete']],
    ['ResponseComplete only (omitStages: [RequestReceived])', ['ResponseComplete']],
    [
      'a watch: RequestReceived, ResponseStarted, ResponseComplete',
      ['RequestReceived', 'ResponseStarted', 'ResponseComplete'],
    ],
    ['ResponseStarted and ResponseComplete', ['ResponseStarted', 'ResponseComplete']],
    ['a panic', ['RequestReceived', 'Panic']],
    ['RequestReceived only (the log ends before the answer)', ['RequestReceived']],
  ])('%s', (_name, stages) => {
    const s = aggregate(
      stages.map((stage) => ({ auditID: 'one', stage, user: api, pod: { name: 'api-1', uid: 'p1' } })),
    );
    expect(sa(s, 'shop/api')).toMatchObject({
      requests: 1,
      pods: [{ name: 'api-1', requests: 1 }],
      resources: [{ resource: 'pods', verbs: { list: 1 } }],
    });
  });

  test('two requests are two, and a refusal (403) is counted once even when two stages carry it', () => {
    const s = aggregate([
      { auditID: 'a', stage: 'RequestReceived', user: api },
      { auditID: 'a', stage: 'ResponseStarted', user: api, code: 403, verb: 'watch' },
      { auditID: 'a', stage: 'ResponseComplete', user: api, code: 403, verb: 'watch' },
      { auditID: 'b', user: api },
    ]);
    expect(sa(s, 'shop/api')).toMatchObject({ requests: 2, denied: 1 });
  });

  test('an auditID seen again after its last stage is a new request (an apiserver reusing Audit-ID headers)', () => {
    const s = aggregate([
      { auditID: 'x', stage: 'ResponseComplete', user: api },
      { auditID: 'x', stage: 'ResponseComplete', user: api },
    ]);
    expect(sa(s, 'shop/api')?.requests).toBe(2);
  });

  test('beyond the cap of open requests the oldest is forgotten and counted as unpaired', () => {
    const events: EventOptions[] = [];
    for (let i = 0; i < 5; i++) events.push({ auditID: `r${i}`, stage: 'RequestReceived', user: api });
    for (let i = 0; i < 5; i++) events.push({ auditID: `r${i}`, stage: 'ResponseComplete', user: api });
    const s = aggregate(events, { caps: { openRequests: 3 } });
    expect(s.unpaired).toBe(2);
    // r0 and r1 were forgotten, so their ResponseComplete counts again: 5 + 2.
    expect(sa(s, 'shop/api')?.requests).toBe(7);
  });
});

test('first and last use, pods with nodes and their last credential id, requests without a pod', () => {
  const s = aggregate([
    {
      user: api,
      pod: { name: 'api-1', uid: 'p1' },
      node: { name: 'n1', uid: 'nu1' },
      jti: 'j1',
      time: '2026-12-01T10:00:00Z',
    },
    { user: api, pod: { name: 'api-1', uid: 'p1' }, jti: 'j2', time: '2026-12-01T09:00:00Z' },
    { user: api, pod: { name: 'api-2', uid: 'p2' }, time: '2026-12-01T11:00:00Z' },
    { user: api, time: '2026-12-01T12:00:00Z' },
  ]);
  const a = sa(s, 'shop/api');
  expect(a).toMatchObject({
    requests: 4,
    podlessRequests: 1,
    firstSeen: Date.parse('2026-12-01T09:00:00Z'),
    lastSeen: Date.parse('2026-12-01T12:00:00Z'),
  });
  expect(a?.pods).toEqual([
    {
      name: 'api-1',
      uid: 'p1',
      node: 'n1',
      nodeUid: 'nu1',
      firstSeen: Date.parse('2026-12-01T09:00:00Z'),
      lastSeen: Date.parse('2026-12-01T10:00:00Z'),
      requests: 2,
      lastCredentialId: 'JTI=j2',
    },
    {
      name: 'api-2',
      uid: 'p2',
      firstSeen: Date.parse('2026-12-01T11:00:00Z'),
      lastSeen: Date.parse('2026-12-01T11:00:00Z'),
      requests: 1,
    },
  ]);
});

test('resources are grouped by group, resource and subresource, with verbs and namespaces; other paths apart', () => {
  const s = aggregate([
    { user: api, verb: 'get', resource: 'pods', namespace: 'a' },
    { user: api, verb: 'list', resource: 'pods', namespace: 'b' },
    { user: api, verb: 'get', resource: 'pods', namespace: 'a' },
    { user: api, verb: 'get', resource: 'pods', subresource: 'log', namespace: 'a' },
    { user: api, verb: 'list', resource: 'deployments', group: 'apps', namespace: '' },
    { user: api, verb: 'get', uri: '/apis?timeout=32s' },
    { user: api, verb: 'get', uri: '/version' },
  ]);
  const a = sa(s, 'shop/api');
  expect(a?.resources.map((r) => [r.group, r.resource, r.subresource, r.verbs, r.namespaces])).toEqual([
    ['', 'pods', '', { get: 2, list: 1 }, ['a', 'b']],
    ['', 'pods', 'log', { get: 1 }, ['a']],
    ['apps', 'deployments', '', { list: 1 }, ['']],
  ]);
  expect(a?.paths).toEqual([
    { path: '/apis', verbs: { get: 1 } },
    { path: '/version', verbs: { get: 1 } },
  ]);
});

test('the pod list keeps the most recently seen pods and counts the rest', () => {
  const events: EventOptions[] = [];
  for (let i = 0; i < 10; i++) events.push({ user: api, pod: { name: `api-${i}`, uid: `p${i}` } });
  events.push({ user: api, pod: { name: 'api-0', uid: 'p0' } });
  const a = sa(aggregate(events, { caps: { podsPerServiceAccount: 3 } }), 'shop/api');
  expect(a?.pods.map((p) => p.name)).toEqual(['api-0', 'api-8', 'api-9']);
  expect(a?.podsDropped).toBe(8);
  expect(a?.requests).toBe(11);
});

test('legacy tokens: named Secrets with their kind, where the calls came from, and refusals of invalidated ones', () => {
  const legacy = (secret: string, kind: 'manual' | 'autogenerated') => ({
    'authentication.k8s.io/legacy-token': 'system:serviceaccount:ci:runner',
    [`authentication.k8s.io/legacy-token-${kind}-secret`]: secret,
  });
  const s = aggregate([
    {
      user: 'system:serviceaccount:ci:runner',
      annotations: legacy('runner-token', 'manual'),
      sourceIP: '192.168.1.5',
      userAgent: 'curl/8',
      time: '2026-12-01T10:00:00Z',
    },
    {
      user: 'system:serviceaccount:ci:runner',
      annotations: legacy('runner-token', 'manual'),
      sourceIP: '192.168.1.6',
      time: '2026-12-01T11:00:00Z',
    },
    { user: 'system:serviceaccount:ci:runner', annotations: legacy('runner-token-x1', 'autogenerated') },
    // Refused: authentication failed, so the event has no user; the annotations name the subject and Secret.
    {
      user: '',
      code: 401,
      annotations: {
        'authentication.k8s.io/legacy-token': 'system:serviceaccount:ci:runner',
        'authentication.k8s.io/legacy-token-invalidated': 'old-token/ci',
      },
    },
    {
      user: 'system:serviceaccount:ci:runner',
      annotations: { 'authentication.k8s.io/legacy-token': 'system:serviceaccount:ci:runner' },
    },
  ]);
  const a = sa(s, 'ci/runner');
  expect(a?.requests).toBe(4);
  expect(a?.podlessRequests).toBe(0);
  expect(a?.legacy.map((l) => [l.secret, l.kind, l.requests, l.refused, l.sourceIPs, l.userAgents])).toEqual([
    ['', 'unknown', 1, 0, ['10.0.0.1'], ['app/1.0']],
    ['old-token', 'invalidated', 0, 1, ['10.0.0.1'], ['app/1.0']],
    ['runner-token', 'manual', 2, 0, ['192.168.1.5', '192.168.1.6'], ['app/1.0', 'curl/8']],
    ['runner-token-x1', 'autogenerated', 1, 0, ['10.0.0.1'], ['app/1.0']],
  ]);
});

test('a refused legacy token alone does not make its ServiceAccount seen using a token', () => {
  const s = aggregate([
    {
      user: '',
      code: 401,
      annotations: {
        'authentication.k8s.io/legacy-token': 'system:serviceaccount:ci:old',
        'authentication.k8s.io/legacy-token-invalidated': 'old-token/ci',
      },
    },
  ]);
  expect(sa(s, 'ci/old')).toMatchObject({ requests: 0, legacy: [{ secret: 'old-token', refused: 1 }] });
  expect(sa(s, 'ci/old')?.lastSeen).toBeUndefined();
});

describe('TokenReviews', () => {
  const review = (o: EventOptions): EventOptions => ({
    verb: 'create',
    resource: 'tokenreviews',
    group: 'authentication.k8s.io',
    namespace: '',
    ...o,
  });

  test('at RequestResponse: the reviewer, and whose tokens were presented, from which pods', () => {
    const s = aggregate([
      review({ auditID: 'r1', stage: 'RequestReceived', user: 'system:serviceaccount:vault:vault' }),
      review({
        auditID: 'r1',
        user: 'system:serviceaccount:vault:vault',
        responseObject: reviewResponse(api, { name: 'api-1', uid: 'p1' }),
        time: '2026-12-01T10:00:00Z',
      }),
      review({
        user: 'system:serviceaccount:vault:vault',
        responseObject: reviewResponse(api, { name: 'api-2', uid: 'p2' }),
        time: '2026-12-01T11:00:00Z',
      }),
      review({ user: 'system:serviceaccount:vault:vault', responseObject: reviewResponse(undefined) }),
      review({ user: 'system:kube-controller-manager', responseObject: reviewResponse('alice') }),
    ]);
    expect(s.reviewers).toEqual([
      {
        username: 'system:kube-controller-manager',
        reviews: 1,
        answered: 1,
        unauthenticated: 0,
        presented: {},
        otherIdentities: 1,
        firstSeen: expect.any(Number),
        lastSeen: expect.any(Number),
      },
      {
        username: 'system:serviceaccount:vault:vault',
        reviews: 3,
        answered: 3,
        unauthenticated: 1,
        presented: { 'shop/api': 2 },
        otherIdentities: 0,
        firstSeen: expect.any(Number),
        lastSeen: expect.any(Number),
      },
    ]);
    // The presented ServiceAccount is seen using its token even though it made no request itself.
    expect(sa(s, 'shop/api')).toMatchObject({
      requests: 0,
      lastSeen: Date.parse('2026-12-01T11:00:00Z'),
      presented: { reviews: 2, reviewers: { 'system:serviceaccount:vault:vault': 2 }, pods: ['api-1', 'api-2'] },
    });
    // The reviewer's own calls are its token's use.
    expect(sa(s, 'vault/vault')?.requests).toBe(3);
  });

  test('at Metadata: only the reviewer is known', () => {
    const s = aggregate([review({ user: 'system:serviceaccount:vault:vault' })]);
    expect(s.reviewers[0]).toMatchObject({ reviews: 1, answered: 0 });
    expect(s.serviceAccounts.map((a) => `${a.namespace}/${a.name}`)).toEqual(['vault/vault']);
  });
});

test('TokenRequests: who asked for a ServiceAccount token (kubelets as one), without making it seen', () => {
  const tr = (user: string): EventOptions => ({
    user,
    verb: 'create',
    resource: 'serviceaccounts',
    subresource: 'token',
    name: 'api',
    namespace: 'shop',
  });
  const s = aggregate([tr('system:node:n1'), tr('system:node:n2'), tr('alice'), { ...tr('alice'), verb: 'get' }]);
  expect(sa(s, 'shop/api')).toMatchObject({ tokenRequests: { alice: 1, 'system:node:*': 2 }, requests: 0 });
  expect(sa(s, 'shop/api')?.lastSeen).toBeUndefined();
});

test('--since skips earlier events; the window is that of the events read', () => {
  const s = aggregate(
    [
      { user: api, time: '2026-11-01T00:00:00Z' },
      { user: 'alice', time: '2026-12-01T00:00:00Z' },
      { user: api, time: '2026-12-02T00:00:00Z' },
    ],
    { since: Date.parse('2026-11-15T00:00:00Z') },
  );
  expect(s).toMatchObject({
    events: 3,
    beforeSince: 1,
    otherEvents: 1,
    from: Date.parse('2026-12-01T00:00:00Z'),
    to: Date.parse('2026-12-02T00:00:00Z'),
  });
  expect(sa(s, 'shop/api')?.requests).toBe(1);
});

test('memory follows identities, not events: the summary of 10x the events is the same size', () => {
  const run = (rounds: number) => {
    const u = new UsageAggregator();
    for (let i = 0; i < rounds; i++) {
      for (let k = 0; k < 20; k++) {
        const id = `${i}-${k}`;
        const user = `system:serviceaccount:ns${k % 4}:sa${k % 5}`;
        for (const stage of ['RequestReceived', 'ResponseComplete']) {
          for (const r of decodeLine(
            line({
              auditID: id,
              stage,
              user,
              pod: { name: `pod-${k % 7}`, uid: `u${k % 7}` },
              verb: k % 2 ? 'get' : 'list',
            }),
          ).records)
            u.add(r);
        }
      }
    }
    return u.summary();
  };
  const small = run(50);
  const large = run(500);
  const shape = (s: ReturnType<typeof run>) => JSON.stringify(s, (_k, v) => (typeof v === 'number' ? 0 : v)).length;
  expect(shape(large)).toBe(shape(small));
  expect(large.serviceAccounts.reduce((n, a) => n + a.requests, 0)).toBe(500 * 20);
});

test('requests refused before any user was known (401) are counted with where they came from, under no identity', () => {
  const s = aggregate([
    {
      auditID: 'f1',
      stage: 'ResponseStarted',
      user: '',
      code: 401,
      uri: '/api',
      verb: 'get',
      sourceIP: '10.9.9.9',
      userAgent: 'curl/8',
    },
    {
      auditID: 'f1',
      stage: 'ResponseComplete',
      user: '',
      code: 401,
      uri: '/api',
      verb: 'get',
      sourceIP: '10.9.9.9',
      userAgent: 'curl/8',
    },
    { user: '', code: 200, uri: '/healthz', verb: 'get' },
  ]);
  expect(s.refusedAuthentication).toEqual({ requests: 1, sourceIPs: ['10.9.9.9'], userAgents: ['curl/8'] });
  expect(s.serviceAccounts).toEqual([]);
  expect(s.otherEvents).toBe(1);
});
