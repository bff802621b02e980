/**
 * The webhook over real HTTPS on loopback: every endpoint, and the same answers as
 * `handleReview` (the `tokenguard review` path) for realistic reviews and for every golden
 * admission fixture — one engine, two front-ends.
 */
import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { join } from 'node:path';
import { type Endpoint, handleReview } from '../../src/admission/review.js';
import type { JsonObject } from '../../src/json.js';
import type { FactsProvider } from '../../src/facts/types.js';
import { noFacts } from '../../src/facts/types.js';
import { loadPolicies } from '../../src/policy/load.js';
import type { TokenPolicy } from '../../src/policy/types.js';
import { admissionFixtures } from '../helpers/fixtures.js';
import { pod, review } from '../helpers/pods.js';
import { postReview, request, SHIPPED_POLICIES, serveApp, startTestServer, type TestServer } from './helpers.js';

const TIMEOUT = 30_000;

/** What the CLI path answers: the AdmissionReview, or the HTTP 400 the server must send. */
async function expected(endpoint: Endpoint, body: unknown, policies: readonly TokenPolicy[], facts: FactsProvider) {
  const r = await handleReview(endpoint, body, { policies: () => policies, facts });
  return r.ok
    ? { status: 200, body: r.outcome.review as unknown }
    : { status: 400, body: { error: r.message } as unknown };
}

/** Realistic reviews built the way the API server sends them. */
function realisticReviews(): [string, JsonObject][] {
  const secret = (type: string, operation = 'CREATE') =>
    review(
      {
        apiVersion: 'v1',
        kind: 'Secret',
        type,
        metadata: {
          name: 'ci-token',
          namespace: 'team-a',
          annotations: { 'kubernetes.io/service-account.name': 'ci' },
        },
      },
      { kind: 'Secret', operation, name: 'ci-token' },
    );
  return [
    ['pod on CREATE', review(pod({ name: 'web' }))],
    [
      'pod with init containers',
      review(pod({ name: 'job', initContainers: ['init'], containers: ['app', 'sidecar'] })),
    ],
    ['pod opted in by annotation', review(pod({ name: 'ctl', annotations: { 'tokenguard.dev/api-access': 'true' } }))],
    ['pod with generateName', review(pod({ generateName: 'web-7d4b9-' }))],
    ['pod without the token plugin', review(pod({ name: 'plain', plugin: false }))],
    ['pod in kube-system', review(pod({ name: 'dns', namespace: 'kube-system' }), { namespace: 'kube-system' })],
    ['pod dry run', review(pod({ name: 'dry' }), { dryRun: true })],
    ['pod UPDATE', review(pod({ name: 'web' }), { operation: 'UPDATE', oldObject: pod({ name: 'web' }) })],
    ['pod DELETE', review(null, { operation: 'DELETE', oldObject: pod({ name: 'web' }) })],
    [
      'pod status subresource',
      review(pod({ name: 'web' }), { operation: 'UPDATE', subResource: 'status', oldObject: pod({ name: 'web' }) }),
    ],
    ['legacy token Secret CREATE', secret('kubernetes.io/service-account-token')],
    ['legacy token Secret UPDATE', secret('kubernetes.io/service-account-token', 'UPDATE')],
    ['Opaque Secret', secret('Opaque')],
  ];
}

describe('endpoints of the real server (shipped policies, no cluster)', () => {
  let s: TestServer;
  let policies: TokenPolicy[];
  beforeAll(async () => {
    s = await startTestServer();
    policies = loadPolicies([SHIPPED_POLICIES]).policies;
  }, TIMEOUT);
  afterAll(() => s.close());

  test('GET /healthz is 200 ok', async () => {
    const r = await request({ port: s.port, path: '/healthz', ca: s.ca });
    expect(r.status).toBe(200);
    expect(r.body).toBe('ok');
  });

  test('GET /readyz is 200 with policies and certificate loaded', async () => {
    const r = await request({ port: s.port, path: '/readyz', ca: s.ca });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ status: 'ready', reasons: [] });
  });

  test('GET /metrics is Prometheus text with the tokenguard metrics and process metrics', async () => {
    await postReview({ port: s.port, ca: s.ca, endpoint: 'validate', review: realisticReviews()[10]?.[1] });
    const r = await request({ port: s.port, path: '/metrics', ca: s.ca });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(r.body).toContain(
      'tokenguard_admission_requests_total{endpoint="validate",kind="Secret",operation="CREATE",decision="denied"} 1',
    );
    expect(r.body).toContain('tokenguard_admission_duration_seconds_bucket{le="0.0005",endpoint="validate"}');
    expect(r.body).toContain('tokenguard_policies_loaded 4');
    expect(r.body).toContain('tokenguard_policy_last_reload_success 1');
    expect(r.body).toContain('tokenguard_policy_reloads_total{result="failure"} 0');
    expect(r.body).toMatch(/tokenguard_certificate_expiry_timestamp_seconds \d+/);
    expect(r.body).toContain('process_cpu_user_seconds_total');
  });

  test.each(realisticReviews())(
    '%s: /mutate and /validate answer exactly what handleReview answers',
    async (_name, body) => {
      for (const endpoint of ['mutate', 'validate'] as const) {
        const r = await postReview({ port: s.port, ca: s.ca, endpoint, review: body });
        const want = await expected(endpoint, body, policies, noFacts);
        expect({ status: r.status, body: JSON.parse(r.body) }).toEqual(want);
        expect(r.headers['content-type']).toBe('application/json');
      }
    },
  );

  test('the query string the API server adds (?timeout=10s) is accepted', async () => {
    const body = review(pod({ name: 'web' }), { uid: 'with-timeout' });
    for (const endpoint of ['mutate', 'validate'] as const) {
      const r = await postReview({ port: s.port, ca: s.ca, endpoint, review: body, query: '?timeout=10s' });
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body)).toEqual((await expected(endpoint, body, policies, noFacts)).body);
    }
  });

  test('a keep-alive connection carries many reviews (as the API server reuses connections)', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const ports = new Set<number>();
      for (let i = 0; i < 20; i++) {
        const r = await postReview({
          port: s.port,
          ca: s.ca,
          agent,
          endpoint: 'mutate',
          review: review(pod({ name: `p${i}` }), { uid: `uid-${i}` }),
        });
        expect(r.status).toBe(200);
        expect(r.headers['keep-alive']).toBe('timeout=120');
        expect(JSON.parse(r.body).response.uid).toBe(`uid-${i}`);
        ports.add(r.localPort ?? 0);
      }
      expect(ports.size).toBe(1);
    } finally {
      agent.destroy();
    }
  });

  test('unknown paths are 404 and other methods on the admission paths 405, as JSON', async () => {
    const notFound = await request({ port: s.port, path: '/nope', ca: s.ca });
    expect(notFound.status).toBe(404);
    expect(JSON.parse(notFound.body)).toEqual({ error: 'not found' });
    const get = await request({ port: s.port, path: '/mutate', ca: s.ca });
    expect(get.status).toBe(405);
    expect(get.headers.allow).toBe('POST');
    expect(JSON.parse(get.body)).toEqual({ error: 'method not allowed; use POST' });
    const postHealth = await request({ port: s.port, path: '/healthz', method: 'POST', ca: s.ca });
    expect(postHealth.status).toBe(404);
  });

  test('TLS below 1.2 is refused', async () => {
    await expect(
      new Promise((resolve, reject) => {
        import('node:tls').then(({ connect }) => {
          const socket = connect(
            {
              host: '127.0.0.1',
              port: s.port,
              ca: s.ca,
              servername: 'localhost',
              maxVersion: 'TLSv1.1',
              minVersion: 'TLSv1',
            },
            () => {
              socket.end();
              resolve('connected');
            },
          );
          socket.on('error', reject);
        });
      }),
    ).rejects.toThrow();
  });
});

describe('every golden admission fixture: the server answers what `tokenguard review` answers', () => {
  const fixtures = admissionFixtures();
  // One server; each request runs with its fixture's policies and facts.
  let current = fixtures[0];
  let served: Awaited<ReturnType<typeof serveApp>>;
  beforeAll(async () => {
    served = await serveApp({
      policies: () => current?.policies ?? [],
      facts: { lookup: (r) => (current ? current.facts.lookup(r) : {}) },
    });
  }, TIMEOUT);
  afterAll(() => served.close());

  test('there are fixtures', () => {
    expect(fixtures.length).toBeGreaterThan(0);
  });

  test.each(fixtures.map((f) => [f.name, f] as const))('%s', async (_name, f) => {
    current = f;
    // The file's own bytes: some fixtures nest too deep for JSON.stringify.
    const raw = readFileSync(join(f.dir, 'review.json'), 'utf8');
    for (const endpoint of ['mutate', 'validate'] as const) {
      const r = await postReview({ port: served.port, ca: served.ca, endpoint, review: raw, query: '?timeout=10s' });
      const want = await expected(endpoint, f.body, f.policies, f.facts);
      expect({ status: r.status, body: JSON.parse(r.body) }).toEqual(want);
    }
  });
});
