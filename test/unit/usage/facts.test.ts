import { parse, stringify } from 'yaml';
import { formatDuration, parseDuration } from '../../../src/duration.js';
import { UsageAggregator } from '../../../src/usage/aggregate.js';
import { decodeLine } from '../../../src/usage/decode.js';
import { legacySecretEvidence, NO_USAGE, toTokenUsageDocument, usageFactsFrom } from '../../../src/usage/facts.js';
import { type Inventory, recommend } from '../../../src/usage/recommend.js';
import { type EventOptions, line, reviewResponse } from './events.js';

function summarize(events: EventOptions[], since?: number) {
  const u = new UsageAggregator(since !== undefined ? { since } : {});
  for (const e of events) for (const r of decodeLine(line(e)).records) u.add(r);
  return u.summary();
}

const legacyManual = {
  'authentication.k8s.io/legacy-token': 'system:serviceaccount:ci:runner',
  'authentication.k8s.io/legacy-token-manual-secret': 'runner-token',
};
const events: EventOptions[] = [
  { user: 'system:serviceaccount:shop:api', time: '2026-12-01T10:00:00Z' },
  { user: 'system:serviceaccount:shop:api', time: '2026-12-01T12:00:00Z' },
  { user: 'system:serviceaccount:ci:runner', annotations: legacyManual, time: '2026-12-01T11:00:00Z' },
  {
    user: 'system:serviceaccount:vault:vault',
    resource: 'tokenreviews',
    group: 'authentication.k8s.io',
    verb: 'create',
    namespace: '',
    responseObject: reviewResponse('system:serviceaccount:shop:web'),
    time: '2026-12-01T11:30:00Z',
  },
  {
    user: 'alice',
    verb: 'create',
    resource: 'serviceaccounts',
    subresource: 'token',
    name: 'batch',
    namespace: 'shop',
    time: '2026-12-01T09:00:00Z',
  },
];

test('the TokenUsage document round-trips through YAML into facts', () => {
  const doc = toTokenUsageDocument(summarize(events), 'shop-usage');
  expect(doc).toEqual({
    apiVersion: 'tokenguard.dev/v1alpha1',
    kind: 'TokenUsage',
    metadata: { name: 'shop-usage' },
    spec: {
      window: { from: '2026-12-01T09:00:00.000Z', to: '2026-12-01T12:00:00.000Z' },
      serviceAccounts: [
        {
          namespace: 'ci',
          name: 'runner',
          firstSeen: '2026-12-01T11:00:00.000Z',
          lastSeen: '2026-12-01T11:00:00.000Z',
          requests: 1,
          legacySecrets: [
            { name: 'runner-token', kind: 'manual', lastSeen: '2026-12-01T11:00:00.000Z', requests: 1, refused: 0 },
          ],
        },
        {
          namespace: 'shop',
          name: 'api',
          firstSeen: '2026-12-01T10:00:00.000Z',
          lastSeen: '2026-12-01T12:00:00.000Z',
          requests: 2,
        },
        {
          namespace: 'shop',
          name: 'web',
          firstSeen: '2026-12-01T11:30:00.000Z',
          lastSeen: '2026-12-01T11:30:00.000Z',
          requests: 0,
          presented: 1,
        },
        {
          namespace: 'vault',
          name: 'vault',
          firstSeen: '2026-12-01T11:30:00.000Z',
          lastSeen: '2026-12-01T11:30:00.000Z',
          requests: 1,
        },
      ],
    },
  });
  const { facts, errors } = usageFactsFrom([{ object: parse(stringify(doc)), where: 'usage.yaml:1' }]);
  expect(errors).toEqual([]);
  expect(facts?.from).toBe(Date.parse('2026-12-01T09:00:00Z'));
  expect(facts?.serviceAccounts.get('shop/api')).toEqual({
    namespace: 'shop',
    name: 'api',
    firstSeen: Date.parse('2026-12-01T10:00:00Z'),
    lastSeen: Date.parse('2026-12-01T12:00:00Z'),
    requests: 2,
    presented: 0,
    legacySecrets: [],
  });
  // Only issued, never used: not in the facts.
  expect(facts?.serviceAccounts.has('shop/batch')).toBe(false);
});

test('with --since, the window starts there when the log reaches back that far, else at its first event', () => {
  const since = Date.parse('2026-12-01T09:30:00Z');
  expect((toTokenUsageDocument(summarize(events, since)).spec as { window: unknown }).window).toEqual({
    from: '2026-12-01T09:30:00.000Z',
    to: '2026-12-01T12:00:00.000Z',
  });
  const later = Date.parse('2026-11-01T00:00:00Z');
  expect((toTokenUsageDocument(summarize(events, later)).spec as { window: unknown }).window).toEqual({
    from: '2026-12-01T09:00:00.000Z',
    to: '2026-12-01T12:00:00.000Z',
  });
});

test('several documents merge: latest times, summed counts, the widest window', () => {
  const doc = (from: string, to: string, lastSeen: string, requests: number) => ({
    apiVersion: 'tokenguard.dev/v1alpha1',
    kind: 'TokenUsage',
    metadata: { name: 'u' },
    spec: {
      window: { from, to },
      serviceAccounts: [
        {
          namespace: 'shop',
          name: 'api',
          lastSeen,
          requests,
          legacySecrets: [{ name: 't', kind: 'unknown', lastSeen, requests }],
        },
      ],
    },
  });
  const { facts } = usageFactsFrom([
    { object: doc('2026-11-01T00:00:00Z', '2026-11-15T00:00:00Z', '2026-11-14T00:00:00Z', 3), where: 'a' },
    { object: doc('2026-11-10T00:00:00Z', '2026-12-01T00:00:00Z', '2026-11-20T00:00:00Z', 4), where: 'b' },
  ]);
  expect(facts?.from).toBe(Date.parse('2026-11-01T00:00:00Z'));
  expect(facts?.to).toBe(Date.parse('2026-12-01T00:00:00Z'));
  expect(facts?.serviceAccounts.get('shop/api')).toMatchObject({
    lastSeen: Date.parse('2026-11-20T00:00:00Z'),
    requests: 7,
    legacySecrets: [{ name: 't', requests: 7 }],
  });
});

test('every problem of a TokenUsage document is named with its field, and none gives facts', () => {
  const { facts, errors } = usageFactsFrom([
    {
      object: {
        apiVersion: 'tokenguard.dev/v1',
        kind: 'TokenUsage',
        spec: {
          window: { from: 'yesterday' },
          extra: 1,
          serviceAccounts: [
            {
              namespace: 'Shop',
              name: 'api',
              requests: -1,
              lastSeen: '2026-12-01',
              colour: 'x',
              legacySecrets: [{ kind: 'old' }],
            },
            'x',
          ],
        },
      },
      where: 'u.yaml:3',
    },
    { object: { apiVersion: 'tokenguard.dev/v1alpha1', kind: 'TokenUsage' }, where: 'u.yaml:20' },
  ]);
  expect(facts).toBeUndefined();
  expect(errors).toEqual([
    'u.yaml:3: apiVersion: must be tokenguard.dev/v1alpha1',
    'u.yaml:3: spec.extra: unknown field',
    'u.yaml:3: spec.window.from: must be an RFC 3339 time such as 2026-01-31T12:00:00Z',
    'u.yaml:3: spec.serviceAccounts[0].colour: unknown field',
    'u.yaml:3: spec.serviceAccounts[0].namespace: required: a Kubernetes name (lower case letters, digits, - and .)',
    'u.yaml:3: spec.serviceAccounts[0].lastSeen: must be an RFC 3339 time such as 2026-01-31T12:00:00Z',
    'u.yaml:3: spec.serviceAccounts[0].requests: must be a whole number, 0 or more',
    'u.yaml:3: spec.serviceAccounts[0].legacySecrets[0].name: required (a string)',
    'u.yaml:3: spec.serviceAccounts[0].legacySecrets[0].kind: must be autogenerated, manual, invalidated or unknown',
    'u.yaml:3: spec.serviceAccounts[0].legacySecrets[0].lastSeen: required (an RFC 3339 time)',
    'u.yaml:3: spec.serviceAccounts[1]: must be an object',
    'u.yaml:20: spec: required (an object)',
  ]);
});

test('legacy Secret evidence for scan: used, refused, unused, unknown, and unnamed uses of old API servers', () => {
  const s = summarize([
    ...events,
    {
      user: '',
      annotations: {
        'authentication.k8s.io/legacy-token': 'system:serviceaccount:ci:runner',
        'authentication.k8s.io/legacy-token-invalidated': 'old/ci',
      },
    },
    {
      user: 'system:serviceaccount:ci:runner',
      annotations: { 'authentication.k8s.io/legacy-token': 'system:serviceaccount:ci:runner' },
    },
  ]);
  const { facts } = usageFactsFrom([{ object: toTokenUsageDocument(s), where: 'x' }]);
  if (!facts) throw new Error('no facts');
  expect(legacySecretEvidence(facts, 'ci', 'runner', 'runner-token')).toEqual({
    status: 'used',
    lastSeen: Date.parse('2026-12-01T11:00:00Z'),
    requests: 1,
    refused: 0,
    unnamedUses: 1,
  });
  expect(legacySecretEvidence(facts, 'ci', 'runner', 'old')).toMatchObject({
    status: 'refused',
    requests: 0,
    refused: 1,
  });
  expect(legacySecretEvidence(facts, 'ci', 'runner', 'other')).toEqual({
    status: 'unused',
    requests: 0,
    refused: 0,
    unnamedUses: 1,
  });
  expect(legacySecretEvidence(facts, 'shop', 'api', 'api-token')).toEqual({
    status: 'unused',
    requests: 0,
    refused: 0,
    unnamedUses: 0,
  });
  expect(legacySecretEvidence(NO_USAGE, 'ci', 'runner', 'runner-token').status).toBe('unknown');
});

describe('recommendations', () => {
  const inventory = (accounts: string[], bound: Record<string, string[]>): Inventory => ({
    serviceAccounts: accounts.map((k) => ({ namespace: k.split('/')[0] as string, name: k.split('/')[1] as string })),
    boundBy: (ns, name) => bound[`${ns}/${name}`] ?? [],
  });

  test('bound but never seen, seen but unbound (and why), never seen and unbound, legacy tokens in use', () => {
    const s = summarize([
      ...events,
      { user: 'system:serviceaccount:shop:disco', verb: 'get', uri: '/apis' },
      { user: 'system:serviceaccount:shop:denied', verb: 'list', resource: 'secrets', code: 403 },
    ]);
    const r = recommend(
      s,
      inventory(
        ['shop/api', 'shop/web', 'shop/idle', 'shop/quiet', 'shop/disco', 'shop/denied', 'ci/runner', 'vault/vault'],
        {
          'shop/api': ['RoleBinding shop/api-view'],
          'shop/idle': ['ClusterRoleBinding idle-admin'],
          'vault/vault': ['ClusterRoleBinding vault-auth-delegator'],
        },
      ),
    );
    expect(r.inventory).toBe(true);
    expect(r.boundNeverSeen).toEqual([{ namespace: 'shop', name: 'idle', boundBy: ['ClusterRoleBinding idle-admin'] }]);
    expect(r.neverSeenUnbound).toEqual([{ namespace: 'shop', name: 'quiet' }]);
    expect(r.seenUnbound.map((u) => [`${u.namespace}/${u.name}`, u.why])).toEqual([
      ['ci/runner', ['uses pods: allowed by a group binding or another authorizer']],
      ['shop/denied', ['1 of its 1 requests were refused (403): it calls the API without the permission to']],
      ['shop/disco', ['calls discovery (/apis), which every authenticated user may']],
      [
        'shop/web',
        [
          'its token is presented to TokenReview by system:serviceaccount:vault:vault (1x): a login to another system depends on it',
        ],
      ],
    ]);
    expect(r.legacyInUse).toEqual([
      {
        namespace: 'ci',
        name: 'runner',
        secret: 'runner-token',
        kind: 'manual',
        requests: 1,
        refused: 0,
        lastSeen: Date.parse('2026-12-01T11:00:00Z'),
        from: ['10.0.0.1', 'app/1.0'],
      },
    ]);
  });

  test('without an inventory only the legacy tokens are listed', () => {
    const r = recommend(summarize(events), undefined);
    expect(r).toMatchObject({ inventory: false, boundNeverSeen: [], seenUnbound: [], neverSeenUnbound: [] });
    expect(r.legacyInUse).toHaveLength(1);
  });
});

test('durations: Go units plus days and weeks, errors that say why', () => {
  expect(parseDuration('30d')).toBe(30 * 86400);
  expect(parseDuration('1h30m')).toBe(5400);
  expect(parseDuration('2w1d')).toBe(15 * 86400);
  expect(parseDuration('1.5h')).toBe(5400);
  expect(parseDuration('90s')).toBe(90);
  for (const bad of ['', '30', 'd', '1y', '0s', '-1h', '1h ', '101000000h'])
    expect(typeof parseDuration(bad)).toBe('object');
  expect(parseDuration('30x')).toEqual({
    error: '"30x" is not a duration (at character 1; e.g. 30d, 12h, 1h30m; units s, m, h, d, w)',
  });
  for (const s of [90, 5400, 30 * 86400, 14 * 86400, 8 * 86400, 3661]) expect(parseDuration(formatDuration(s))).toBe(s);
  expect(formatDuration(14 * 86400)).toBe('2w');
  expect(formatDuration(8 * 86400)).toBe('8d');
});

test('policies/schema.json accepts the TokenUsage documents tokenguard writes and refuses broken ones, and still every shipped policy', async () => {
  const { readFileSync, readdirSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { Ajv } = await import('ajv');
  const { REPO } = await import('../../helpers/fixtures.js');
  const validate = new Ajv({ allErrors: true, strict: false }).compile(
    JSON.parse(readFileSync(join(REPO, 'policies', 'schema.json'), 'utf8')),
  );
  const doc = parse(stringify(toTokenUsageDocument(summarize(events))));
  expect(validate(doc)).toBe(true);
  expect(
    validate({
      ...doc,
      spec: { ...doc.spec, serviceAccounts: [{ namespace: 'shop', name: 'api', lastSeen: 'yesterday' }] },
    }),
  ).toBe(false);
  expect(validate({ ...doc, spec: { ...doc.spec, colour: 'blue' } })).toBe(false);
  for (const f of readdirSync(join(REPO, 'policies')).filter((n) => n.endsWith('.yaml'))) {
    for (const d of readFileSync(join(REPO, 'policies', f), 'utf8')
      .split(/^---$/m)
      .map((t) => parse(t))
      .filter(Boolean))
      expect(validate(d)).toBe(true);
  }
  expect(
    validate({
      apiVersion: 'tokenguard.dev/v1alpha1',
      kind: 'TokenPolicy',
      metadata: { name: 'x' },
      spec: { mode: 'Sometimes' },
    }),
  ).toBe(false);
});
