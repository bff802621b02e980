/**
 * The HTTP edge, with exact statuses and bodies (controller-runtime's http_test.go style):
 * size limit, media type, malformed JSON, missing uid, errors inside a review, and hostile
 * input that must never produce a 5xx.
 */
import type { IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import fc from 'fast-check';
import { MAX_BODY_BYTES } from '../../src/server/app.js';
import { createMetrics } from '../../src/server/metrics.js';
import { pod, review } from '../helpers/pods.js';
import { postReview, request, startTestServer, serveApp, type TestServer } from './helpers.js';

const TIMEOUT = 60_000;
const UID = 'edge-uid-1';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
}, TIMEOUT);
afterAll(() => s.close());

function post(body: string | Buffer, headers: Record<string, string | number> = { 'Content-Type': 'application/json' }, path = '/mutate') {
  return request({ port: s.port, ca: s.ca, path, method: 'POST', body, headers });
}

/** A valid review padded with trailing whitespace (valid JSON) to exactly `size` bytes. */
function reviewOfSize(size: number): string {
  const text = JSON.stringify(review(pod({ name: 'big' }), { uid: UID }));
  if (text.length > size) throw new Error('size too small');
  return text + ' '.repeat(size - text.length);
}

/** Sends `size` bytes with Transfer-Encoding: chunked (no Content-Length), in 64 KiB chunks. */
function postChunked(size: number) {
  const text = reviewOfSize(size);
  return request({
    port: s.port,
    ca: s.ca,
    path: '/validate',
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' },
    send: (req) => {
      for (let i = 0; i < text.length; i += 65536) req.write(text.slice(i, i + 65536));
      req.end();
    },
  });
}

describe('body size limit (7 MiB)', () => {
  test('the limit is 7 MiB', () => {
    expect(MAX_BODY_BYTES).toBe(7 * 1024 * 1024);
  });

  test(
    'a body 1 byte under the limit, and one exactly at it, are answered',
    async () => {
      for (const size of [MAX_BODY_BYTES - 1, MAX_BODY_BYTES]) {
        const r = await post(reviewOfSize(size));
        expect(r.status).toBe(200);
        expect(JSON.parse(r.body).response.uid).toBe(UID);
      }
    },
    TIMEOUT,
  );

  test(
    'a body 1 byte over the limit is 413 with an exact body (declared Content-Length)',
    async () => {
      const r = await post(reviewOfSize(MAX_BODY_BYTES + 1));
      expect(r.status).toBe(413);
      expect(r.body).toBe('{"error":"request body exceeds 7340032 bytes"}');
      expect(r.headers.connection).toBe('close');
    },
    TIMEOUT,
  );

  test(
    'a chunked body that grows past the limit is 413 too, and one under it is answered',
    async () => {
      const over = await postChunked(MAX_BODY_BYTES + 1);
      expect(over).toMatchObject({ status: 413, body: '{"error":"request body exceeds 7340032 bytes"}' });
      const under = await postChunked(MAX_BODY_BYTES - 1);
      expect(under.status).toBe(200);
    },
    TIMEOUT,
  );
});

describe('media type', () => {
  const body = JSON.stringify(review(pod({ name: 'x' }), { uid: UID }));

  test.each([
    ['text/plain', { 'Content-Type': 'text/plain' }],
    ['application/yaml', { 'Content-Type': 'application/yaml' }],
    ['application/x-www-form-urlencoded', { 'Content-Type': 'application/x-www-form-urlencoded' }],
    ['no Content-Type', {}],
  ])('%s is 415 with an exact body', async (_name, headers) => {
    const r = await post(body, headers);
    expect(r.status).toBe(415);
    expect(r.body).toBe('{"error":"Content-Type must be application/json"}');
    expect(r.headers['content-type']).toBe('application/json');
  });

  test('a large body of the wrong type is not read to the end: past 64 KiB the connection is dropped', async () => {
    const big = 'x'.repeat(4 * 1024 * 1024);
    const outcome = await post(big, { 'Content-Type': 'text/plain' }).then(
      (r) => `answered ${r.status}`,
      (e: NodeJS.ErrnoException) => `dropped ${e.code ?? e.message}`,
    );
    expect(outcome).toMatch(/^dropped /);
    expect((await post(body, { 'Content-Type': 'text/plain' })).status).toBe(415); // the server is fine
  });

  test('a compressed body is 415', async () => {
    const r = await post(body, { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' });
    expect(r.status).toBe(415);
    expect(r.body).toBe('{"error":"Content-Encoding is not supported"}');
  });

  test.each(['application/json; charset=utf-8', 'Application/JSON', 'application/json;charset=UTF-8'])('%s is accepted', async (type) => {
    const r = await post(body, { 'Content-Type': type });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body).response.uid).toBe(UID);
  });
});

describe('malformed bodies are 400 with an exact body', () => {
  test.each([
    ['not JSON', '{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionRev', '{"error":"request body is not valid JSON"}'],
    ['an empty body', '', '{"error":"request body is empty"}'],
    ['a JSON array', '[1,2,3]', '{"error":"body is not a JSON object"}'],
    ['JSON null', 'null', '{"error":"body is not a JSON object"}'],
    ['a review without request', '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}', '{"error":"request is missing"}'],
    ['a review without request.uid', JSON.stringify({ ...review(pod()), request: { operation: 'CREATE' } }), '{"error":"request.uid is missing or not a string"}'],
    ['a numeric uid', '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":42}}', '{"error":"request.uid is missing or not a string"}'],
  ])('%s', async (_name, body, expected) => {
    for (const path of ['/mutate', '/validate']) {
      const r = await post(body, { 'Content-Type': 'application/json' }, path);
      expect(r.status).toBe(400);
      expect(r.body).toBe(expected);
    }
  });

  test('the error never quotes the body (it may hold Secret data)', async () => {
    const r = await post('{"data": {"token": "c2VjcmV0LWNhbmFyeQ=="', { 'Content-Type': 'application/json' });
    expect(r.status).toBe(400);
    expect(r.body).not.toContain('c2VjcmV0');
  });

  test('plain HTTP errors are counted in metrics by endpoint and code', async () => {
    await post('', { 'Content-Type': 'application/json' }, '/validate');
    const m = await request({ port: s.port, ca: s.ca, path: '/metrics' });
    expect(m.body).toMatch(/tokenguard_http_errors_total\{endpoint="validate",code="400"\} [1-9]/);
  });
});

describe('a client that goes away mid-body', () => {
  const abortedCount = async (): Promise<number> => {
    const m = await request({ port: s.port, ca: s.ca, path: '/metrics' });
    const hit = /^tokenguard_admission_aborted_total\{endpoint="validate"\} (\d+)$/m.exec(m.body);
    if (!hit) throw new Error('tokenguard_admission_aborted_total{endpoint="validate"} not exposed');
    return Number(hit[1]);
  };

  test('is counted in tokenguard_admission_aborted_total and logged once with identifiers only', async () => {
    const metrics = await request({ port: s.port, ca: s.ca, path: '/metrics' });
    expect(metrics.body).toContain('# HELP tokenguard_admission_aborted_total ');
    expect(metrics.body).toContain('# TYPE tokenguard_admission_aborted_total counter');
    const before = await abortedCount();
    const logStart = s.sink.raw.length;
    const canary = 'aborted-body-canary';
    const part = `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"${canary}"`;
    // The server has the headers and part of the body (its first 'data'), then the client leaves.
    const received = new Promise<void>((resolve) => {
      s.running.server.once('request', (req: IncomingMessage) => req.once('data', () => resolve()));
    });
    const outcome = request({
      port: s.port,
      ca: s.ca,
      path: '/validate',
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Content-Length': 4096 },
      send: (req) => {
        req.write(part);
        void received.then(() => req.destroy());
      },
    }).then(
      (r) => `answered ${r.status}`,
      () => 'gone',
    );
    expect(await outcome).toBe('gone');
    const deadline = Date.now() + 10_000;
    while ((await abortedCount()) === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(await abortedCount()).toBe(before + 1);
    const logged = s.sink.raw.slice(logStart).join('');
    const lines = logged
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const aborted = lines.filter((l) => l.event === 'aborted');
    expect(aborted).toHaveLength(1);
    expect(aborted[0]).toMatchObject({ level: 'warn', endpoint: 'validate', msg: 'client closed the connection before the request body arrived' });
    expect(logged).not.toContain(canary);
    // Not an HTTP error: nothing was answered.
    expect(lines.filter((l) => l.event === 'http-error')).toHaveLength(0);
    expect((await post(JSON.stringify(review(pod({ name: 'after' }), { uid: UID })), undefined, '/validate')).status).toBe(200);
  }, TIMEOUT);
});

describe('a body past the limit and the discard allowance', () => {
  test('the server drops the connection and counts a 413, not a client abort', async () => {
    const metrics = createMetrics();
    const app = await serveApp({ policies: () => [], metrics, maxBodyBytes: 1024 });
    try {
      // Chunked, so no Content-Length refuses it up front: the server reads 1 KiB, then discards
      // up to 64 MiB more, then drops the connection.
      const chunk = Buffer.alloc(1024 * 1024, 0x20);
      const ended = await new Promise<string>((resolve) => {
        const req = httpsRequest({ host: '127.0.0.1', port: app.port, ca: app.ca, path: '/validate', method: 'POST', headers: { 'Content-Type': 'application/json' } });
        req.on('response', (res) => resolve(`answered ${res.statusCode}`));
        req.on('error', () => resolve('dropped'));
        let sent = 0;
        const pump = () => {
          while (sent < 80 && !req.destroyed) {
            sent += 1;
            if (!req.write(chunk)) return void req.once('drain', pump);
          }
          if (!req.destroyed) req.end();
        };
        pump();
      });
      expect(ended).toBe('dropped');
      const text = await metrics.registry.metrics();
      expect(text).toMatch(/^tokenguard_http_errors_total\{endpoint="validate",code="413"\} 1$/m);
      expect(text).toMatch(/^tokenguard_admission_aborted_total\{endpoint="validate"\} 0$/m);
      const lines = app.sink.raw.join('').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines.filter((l) => l.event === 'aborted')).toHaveLength(0);
      expect(lines.filter((l) => l.event === 'http-error')).toEqual([expect.objectContaining({ status: 413, endpoint: 'validate' })]);
    } finally {
      await app.close();
    }
  }, TIMEOUT);
});

describe('a review that has a uid is always answered with it', () => {
  test('a review nested too deep is answered (allowed without patch / denied 400), not a 5xx', async () => {
    // 20,000 levels: JSON.parse copes, recursive code (and JSON.stringify) would not.
    const text = `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"${UID}","kind":{"group":"","version":"v1","kind":"Pod"},"operation":"CREATE","object":${'{"a":'.repeat(20000)}{}${'}'.repeat(20000)}}}`;
    for (const path of ['/mutate', '/validate']) {
      const r = await post(text, { 'Content-Type': 'application/json' }, path);
      expect(r.status).toBe(200);
      const res = JSON.parse(r.body).response;
      expect(res.uid).toBe(UID);
      expect(res.patch).toBeUndefined();
      if (path === '/validate') expect(res).toMatchObject({ allowed: false, status: { code: 400 } });
    }
  });

  test('policies() throwing still answers with the uid: mutate allows unchanged with a warning, validate fails closed', async () => {
    const served = await serveApp({
      policies: () => {
        throw new Error('policy store exploded');
      },
    });
    try {
      const body = review(pod({ name: 'web' }), { uid: 'thrown-uid' });
      const m = await postReview({ port: served.port, ca: served.ca, endpoint: 'mutate', review: body });
      expect(m.status).toBe(200);
      expect(JSON.parse(m.body)).toEqual({
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        response: { uid: 'thrown-uid', allowed: true, warnings: ['tokenguard: internal error: policy store exploded'] },
      });
      const v = await postReview({ port: served.port, ca: served.ca, endpoint: 'validate', review: body });
      expect(v.status).toBe(200);
      expect(JSON.parse(v.body).response).toEqual({
        uid: 'thrown-uid',
        allowed: false,
        status: { code: 500, reason: 'InternalError', message: 'tokenguard: internal error: policy store exploded' },
      });
      const line = served.sink.lines().find((l) => l.event === 'review' && l.endpoint === 'validate');
      expect(line).toMatchObject({ uid: 'thrown-uid', decision: 'error', error: 'tokenguard: internal error: policy store exploded' });
    } finally {
      await served.close();
    }
  });

  test('a facts lookup that rejects still answers with the uid', async () => {
    const served = await serveApp({ policies: () => [], facts: { lookup: () => Promise.reject(new Error('informer gone')) } });
    try {
      const r = await postReview({ port: served.port, ca: served.ca, endpoint: 'validate', review: review(pod({ name: 'web' }), { uid: 'facts-uid' }) });
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body).response).toMatchObject({ uid: 'facts-uid', allowed: false, status: { code: 500 } });
    } finally {
      await served.close();
    }
  });

  test('an error outside the review path reaches the error middleware: a plain 500 JSON, and the server keeps serving', async () => {
    const served = await serveApp({
      policies: () => [],
      readiness: () => {
        throw new Error('readiness exploded');
      },
    });
    try {
      const r = await request({ port: served.port, ca: served.ca, path: '/readyz' });
      expect(r.status).toBe(500);
      expect(r.body).toBe('{"error":"internal error"}');
      const after = await request({ port: served.port, ca: served.ca, path: '/healthz' });
      expect(after.status).toBe(200);
    } finally {
      await served.close();
    }
  });
});

describe('hostile input never yields a 5xx and never stops the server', () => {
  const reviewish = fc.record(
    {
      apiVersion: fc.oneof(fc.constant('admission.k8s.io/v1'), fc.constant('admission.k8s.io/v1beta1'), fc.string()),
      kind: fc.oneof(fc.constant('AdmissionReview'), fc.string()),
      request: fc.oneof(
        fc.record(
          {
            uid: fc.oneof(fc.string({ minLength: 1 }), fc.integer(), fc.constant(null)),
            kind: fc.oneof(fc.record({ group: fc.constant(''), version: fc.constant('v1'), kind: fc.constantFrom('Pod', 'Secret', 'Other') }), fc.jsonValue()),
            operation: fc.oneof(fc.constantFrom('CREATE', 'UPDATE', 'DELETE', 'CONNECT'), fc.string()),
            namespace: fc.oneof(fc.string(), fc.jsonValue()),
            object: fc.oneof(fc.constant(pod({ name: 'f' })), fc.jsonValue(), fc.constant(null)),
            oldObject: fc.oneof(fc.constant(null), fc.jsonValue()),
            dryRun: fc.jsonValue(),
            userInfo: fc.jsonValue(),
          },
          { requiredKeys: [] },
        ),
        fc.jsonValue(),
      ),
    },
    { requiredKeys: [] },
  );

  test(
    'AdmissionReview-shaped garbage (150 cases per endpoint): 200 with the uid echoed, or 400',
    async () => {
      for (const endpoint of ['mutate', 'validate'] as const) {
        await fc.assert(
          fc.asyncProperty(reviewish, async (body) => {
            const r = await postReview({ port: s.port, ca: s.ca, endpoint, review: body });
            expect([200, 400]).toContain(r.status);
            if (r.status === 200) {
              const out = JSON.parse(r.body);
              expect(out.kind).toBe('AdmissionReview');
              expect(out.response.uid).toBe((body.request as { uid: unknown }).uid);
            } else {
              expect(Object.keys(JSON.parse(r.body))).toEqual(['error']);
            }
          }),
          { numRuns: 150 },
        );
      }
    },
    TIMEOUT,
  );

  test(
    'arbitrary bytes and strings (100 cases): a 4xx, never a 5xx',
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.oneof(fc.string(), fc.uint8Array({ maxLength: 512 }).map((a) => Buffer.from(a))), async (body) => {
          const r = await post(body, { 'Content-Type': 'application/json' });
          expect(r.status).toBeGreaterThanOrEqual(200);
          expect(r.status).toBeLessThan(500);
        }),
        { numRuns: 100 },
      );
    },
    TIMEOUT,
  );

  test('__proto__ keys do not pollute prototypes', async () => {
    const text = `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","__proto__":{"polluted":true},"request":{"uid":"${UID}","__proto__":{"polluted":true},"kind":{"group":"","version":"v1","kind":"Pod"},"operation":"CREATE","object":{"kind":"Pod","metadata":{"__proto__":{"polluted":true}},"spec":{"containers":[]}}}}`;
    const r = await post(text);
    expect(r.status).toBe(200);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  test('the server is still healthy afterwards', async () => {
    const r = await request({ port: s.port, ca: s.ca, path: '/healthz' });
    expect(r.status).toBe(200);
  });
});
