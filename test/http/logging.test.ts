/**
 * Nothing secret reaches a log (docs/reliability.md "No Secret data in logs"): a run that admits
 * Secrets carrying a known canary in `data`, `stringData` and the last-applied-configuration
 * annotation, on CREATE, UPDATE and DELETE, with an Authorization header and malformed bodies too,
 * at the most verbose level, leaves no trace of the canary (raw or base64) in the log, the metrics
 * or the answers. Child loggers are made with `childLogger`, which redacts their bindings.
 */
import { randomBytes } from 'node:crypto';
import type { JsonObject } from '../../src/json.js';
import { childLogger, createLogger, redactSecrets } from '../../src/log.js';
import { pod, review } from '../helpers/pods.js';
import { LogSink, postReview, request, startTestServer, type TestServer } from './helpers.js';

const TIMEOUT = 30_000;
const CANARY = `tg-canary-${randomBytes(8).toString('hex')}`;
const CANARY_B64 = Buffer.from(CANARY).toString('base64');
/** Every form the canary could take in output. */
const FORMS = [CANARY, CANARY_B64, Buffer.from(CANARY_B64).toString('base64'), encodeURIComponent(CANARY)];

function secret(name: string, type: string): JsonObject {
  const manifest = {
    apiVersion: 'v1',
    kind: 'Secret',
    type,
    metadata: { name, namespace: 'team-a' },
    data: { token: CANARY_B64 },
    stringData: { password: CANARY },
  };
  return {
    ...manifest,
    metadata: {
      name,
      namespace: 'team-a',
      annotations: {
        'kubernetes.io/service-account.name': 'ci',
        'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify(manifest),
      },
    },
  };
}

function reviews(): { endpoint: 'mutate' | 'validate'; body: unknown }[] {
  const legacy = secret('ci-token', 'kubernetes.io/service-account-token');
  const opaque = secret('app-creds', 'Opaque');
  const withEnv = pod({ name: 'web', annotations: { note: CANARY } });
  ((withEnv.spec as JsonObject).containers as JsonObject[])[0]!.env = [{ name: 'PASSWORD', value: CANARY }];
  const bodies: unknown[] = [
    review(legacy, { kind: 'Secret', name: 'ci-token', uid: 'log-1' }),
    review(opaque, { kind: 'Secret', name: 'app-creds', uid: 'log-2' }),
    review(opaque, {
      kind: 'Secret',
      name: 'app-creds',
      uid: 'log-3',
      operation: 'UPDATE',
      oldObject: secret('app-creds', 'Opaque'),
    }),
    review(null, { kind: 'Secret', name: 'ci-token', uid: 'log-4', operation: 'DELETE', oldObject: legacy }),
    review(legacy, { kind: 'Secret', name: 'ci-token', uid: 'log-5', dryRun: true }),
    review(legacy, { kind: 'Secret', name: 'ci-token', uid: 'log-6', namespace: 'kube-system' }),
    review(withEnv, { uid: 'log-7' }),
    // Malformed, with a uid: answered as invalid.
    {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: { uid: 'log-8', operation: 'EXPLODE', object: legacy },
    },
    // Malformed, without a uid: HTTP 400.
    { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { object: legacy } },
  ];
  return bodies.flatMap((body) => [
    { endpoint: 'mutate' as const, body },
    { endpoint: 'validate' as const, body },
  ]);
}

function expectNoCanary(text: string): void {
  for (const form of FORMS) expect(text).not.toContain(form);
}

describe('a run admitting Secrets with a canary', () => {
  let s: TestServer;
  const answers: string[] = [];
  beforeAll(async () => {
    s = await startTestServer({ logLevel: 'trace' });
    for (const { endpoint, body } of reviews()) {
      const r = await postReview({
        port: s.port,
        ca: s.ca,
        endpoint,
        review: body,
        headers: { Authorization: `Bearer ${CANARY}` },
      });
      answers.push(r.body);
    }
    // Not JSON, with the canary inside: a 400 that must not quote it.
    const broken = await request({
      port: s.port,
      ca: s.ca,
      path: '/validate',
      method: 'POST',
      body: `{"request": {"uid": "x", "object": {"data": {"token": "${CANARY_B64}"`,
      headers: { 'Content-Type': 'application/json' },
    });
    answers.push(broken.body);
    answers.push((await request({ port: s.port, ca: s.ca, path: '/metrics' })).body);
  }, TIMEOUT);
  afterAll(() => s.close());

  test('the run was logged: one line per decision with the summary fields', () => {
    const lines = s.sink.lines().filter((l) => l.event === 'review');
    expect(lines).toHaveLength(16);
    expect(lines[0]).toEqual({
      level: 'info',
      time: expect.any(Number),
      pid: process.pid,
      event: 'review',
      uid: 'log-1',
      kind: 'Secret',
      namespace: 'team-a',
      name: 'ci-token',
      operation: 'CREATE',
      subResource: '',
      user: 'system:serviceaccount:kube-system:replicaset-controller',
      dryRun: false,
      endpoint: 'mutate',
      decision: 'allowed',
      policies: [],
      patchOps: 0,
      durationMs: expect.any(Number),
      msg: 'review',
    });
    expect(lines.find((l) => l.uid === 'log-1' && l.endpoint === 'validate')).toMatchObject({
      decision: 'denied',
      policies: ['legacy-token-secrets'],
    });
    expect(lines.find((l) => l.uid === 'log-8' && l.endpoint === 'validate')).toMatchObject({
      decision: 'invalid',
      error: 'unknown operation "EXPLODE"',
    });
    expect(s.sink.lines().filter((l) => l.event === 'http-error').length).toBe(3);
  });

  test('the canary appears nowhere in the log, raw or base64', () => {
    expect(s.sink.text().length).toBeGreaterThan(0);
    expectNoCanary(s.sink.text());
  });

  test('nor in any answer or in the metrics', () => {
    expect(answers).toHaveLength(20);
    expectNoCanary(answers.join('\n'));
  });
});

test('redaction is the second layer: secrets logged by mistake are blanked out at any depth', () => {
  const sink = new LogSink();
  const log = createLogger({ level: 'trace' }, sink);
  const legacy = secret('ci-token', 'kubernetes.io/service-account-token');
  log.debug({ object: legacy }, 'object at top level');
  log.debug({ request: { object: legacy, oldObject: legacy } }, 'request');
  log.debug({ secret: legacy }, 'one level down');
  log.debug({ a: { b: { c: { d: { secret: legacy } } } } }, 'four levels down');
  log.debug({ review: { request: { uid: 'x' } }, manifest: { metadata: legacy.metadata } }, 'annotations');
  log.debug({ req: { headers: { authorization: `Bearer ${CANARY}`, Authorization: `Bearer ${CANARY}` } } }, 'headers');
  log.debug({ token: CANARY, data: { a: CANARY_B64 }, stringData: { b: CANARY } }, 'fields');
  log.debug({ StringData: { b: CANARY }, OLDOBJECT: { c: CANARY }, Authorization: CANARY }, 'keys in any case');
  log.debug({ received: Buffer.from(`{"data":"${CANARY}"}`) }, 'a body as bytes');
  log.debug('printf-style %j %s', { data: CANARY }, CANARY);
  log.debug({ list: [legacy, { nested: [legacy] }] }, 'arrays');
  childLogger(log, { object: legacy, context: { secret: legacy } }).debug('child bindings');
  childLogger(childLogger(log, { a: 1 }), { secret: legacy }).debug('grandchild bindings');
  log.error({ err: new Error('boom') }, 'errors keep type and message');
  const cyclic: Record<string, unknown> = { name: 'loop' };
  cyclic.self = cyclic;
  log.debug({ cyclic }, 'a cycle ends at the depth limit');
  expect(sink.lines()).toHaveLength(15);
  expectNoCanary(sink.text());
  expect(sink.text()).toContain('[REDACTED]');
  expect(sink.lines()[13]).toMatchObject({ err: { type: 'Error', message: 'boom' } });
  expect(sink.lines()[8]).toMatchObject({ received: expect.stringMatching(/^\[BINARY \d+ bytes\]$/) });
  expect(sink.lines()[3]).toMatchObject({ a: { b: { c: { d: { secret: { metadata: { name: 'ci-token' } } } } } } });
});

test('redactSecrets returns a clean value itself, copies only what it censors, and never changes its input', () => {
  const clean = { event: 'review', uid: 'u', policies: ['a', 'b'], nested: { kind: 'Pod', list: [{ name: 'x' }] } };
  expect(redactSecrets(clean)).toBe(clean);
  const dirty = { event: 'review', nested: { list: [{ name: 'x' }, { Token: CANARY }] }, untouched: { a: 1 } };
  const before = JSON.stringify(dirty);
  const out = redactSecrets(dirty) as typeof dirty;
  expect(out).not.toBe(dirty);
  expect(JSON.stringify(dirty)).toBe(before);
  expect(out).toEqual({
    event: 'review',
    nested: { list: [{ name: 'x' }, { Token: '[REDACTED]' }] },
    untouched: { a: 1 },
  });
  // Many distinct keys (the key memo is bounded) are still judged one by one.
  const wide: Record<string, unknown> = {};
  for (let i = 0; i < 6000; i++) wide[`k${i}`] = i;
  wide.PASSWORD = CANARY;
  expect(JSON.stringify(redactSecrets(wide))).not.toContain(CANARY);
  expect(redactSecrets({ k5999: 1, k42: 2 })).toEqual({ k5999: 1, k42: 2 });
});
