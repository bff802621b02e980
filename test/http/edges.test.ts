/**
 * The HTTP edge, with exact statuses and bodies (controller-runtime's http_test.go style):
 * size limit, media type, malformed JSON, missing uid, errors inside a review, and hostile
 * input that must never produce a 5xx.
 */
import type { IncomingMessage } from 'node:http';
import fc from 'fast-check';
import type { JsonObject } from '../../src/json.js';
import { LINGER_BYTES, MAX_BODY_BYTES } from '../../src/server/app.js';
import { CHARGE_PER_BYTE, CHARGE_PER_VALUE, JsonValueCounter, MAX_JSON_VALUES } from '../../src/server/limits.js';
import { createMetrics } from '../../src/server/metrics.js';
import { pod, review } from '../helpers/pods.js';
import {
  nextConnection,
  postHead,
  postReview,
  rawExchange,
  request,
  serveApp,
  startTestServer,
  type TestServer,
} from './helpers.js';

const TIMEOUT = 60_000;
const UID = 'edge-uid-1';

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer();
}, TIMEOUT);
afterAll(() => s.close());

function post(
  body: string | Buffer,
  headers: Record<string, string | number> = { 'Content-Type': 'application/json' },
  path = '/mutate',
) {
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

describe('body size limit (3 MiB)', () => {
  test("the limit is 3 MiB, the API server's own", () => {
    expect(MAX_BODY_BYTES).toBe(3 * 1024 * 1024);
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
    'a body 1 byte over the limit (declared Content-Length) is 413 with an exact body at once: the server reads almost none of it and closes the connection',
    async () => {
      const body = Buffer.from(reviewOfSize(MAX_BODY_BYTES + 1));
      const connection = nextConnection(s.running.server);
      const r = await rawExchange({
        port: s.port,
        ca: s.ca,
        head: postHead('/validate', { 'Content-Type': 'application/json', 'Content-Length': body.length }),
        body,
      });
      expect(r.status).toBe(413);
      expect(r.body).toBe('{"error":"request body exceeds 3145728 bytes"}');
      expect(r.headers.connection).toBe('close');
      expect(await (await connection).closed).toBeLessThan(LINGER_BYTES + 512 * 1024);
    },
    TIMEOUT,
  );

  test(
    'a chunked body that grows past the limit is 413 too, and one under it is answered',
    async () => {
      const over = await postChunked(MAX_BODY_BYTES + 1);
      expect(over).toMatchObject({ status: 413, body: '{"error":"request body exceeds 3145728 bytes"}' });
      const under = await postChunked(MAX_BODY_BYTES - 1);
      expect(under.status).toBe(200);
    },
    TIMEOUT,
  );
});

describe('JSON values per body', () => {
  /** A valid review holding exactly `values` JSON values, most of them in an env list. */
  const reviewWithValues = (values: number) => {
    const body = review(pod({ name: 'env' }), { uid: UID });
    const container = ((body.request as JsonObject).object as { spec: { containers: JsonObject[] } }).spec
      .containers[0] as JsonObject;
    container.env = [];
    const counter = new JsonValueCounter();
    counter.add(Buffer.from(JSON.stringify(body)));
    // n entries of {"name":"V…"} add 2n - 1 (a { each, a comma before all but the first); a
    // second field in the first adds 1.
    const missing = values - counter.count() + 1;
    container.env = Array.from({ length: Math.floor(missing / 2) }, (_, i) => ({ name: `V${i}` }));
    if (missing % 2 === 1) (container.env[0] as JsonObject).value = 'odd';
    const text = JSON.stringify(body);
    const check = new JsonValueCounter();
    check.add(Buffer.from(text));
    if (check.count() !== values) throw new Error(`built ${check.count()} values, not ${values}`);
    return text;
  };

  test(
    `${MAX_JSON_VALUES} values are answered; one more is 413 with an exact body`,
    async () => {
      const at = await post(reviewWithValues(MAX_JSON_VALUES), undefined, '/validate');
      expect(at.status).toBe(200);
      expect(JSON.parse(at.body).response.uid).toBe(UID);
      const over = await post(reviewWithValues(MAX_JSON_VALUES + 1), undefined, '/validate');
      expect(over.status).toBe(413);
      expect(over.body).toBe(`{"error":"request body holds over ${MAX_JSON_VALUES} JSON values"}`);
      expect(over.headers.connection).toBe('close');
    },
    TIMEOUT,
  );

  test('[{},{},…] under the byte limit is refused before it is parsed', async () => {
    const body = `[${'{},'.repeat(400_000)}{}]`;
    expect(body.length).toBeLessThan(MAX_BODY_BYTES);
    const r = await post(body, undefined, '/validate');
    expect(r.status).toBe(413);
    expect(r.body).toBe(`{"error":"request body holds over ${MAX_JSON_VALUES} JSON values"}`);
  });
});

describe('requests in flight', () => {
  /** A request whose head and first bytes are sent, held until `finish()` or `abandon()`. */
  const held = (port: number, ca: string, text: string) => {
    let finish = () => {};
    let abandon = () => {};
    const response = request({
      port,
      ca,
      path: '/validate',
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) },
      send: (req) => {
        req.write(text.slice(0, 10));
        finish = () => req.end(text.slice(10));
        abandon = () => req.destroy();
      },
    });
    return { response, finish: () => finish(), abandon: () => abandon() };
  };
  const arrived = (server: import('node:https').Server) =>
    new Promise<void>((resolve) => server.once('request', () => resolve()));
  /** What a whole body is charged (limits.ts). */
  const charge = (text: string) => {
    const values = new JsonValueCounter();
    values.add(Buffer.from(text));
    return CHARGE_PER_BYTE * Buffer.byteLength(text) + CHARGE_PER_VALUE * values.count();
  };
  /** The pod review, with `pad` spaces before its last brace. */
  const padded = (pad: number) => {
    const text = JSON.stringify(review(pod({ name: 'held' }), { uid: UID }));
    return `${text.slice(0, -1)}${' '.repeat(pad)}}`;
  };

  test('past the memory budget: 429 with Retry-After, an exact body and the connection closed; answered again once the budget is free', async () => {
    // Padded so that its bytes, charged up front from Content-Length, outweigh its JSON values:
    // a budget of exactly one whole request then has no room for a second one's bytes.
    const text = padded(20_000);
    const app = await serveApp({
      policies: () => [],
      limits: { memoryBudgetBytes: charge(text), largeRequestBytes: charge(text), largeShareBytes: charge(text) },
    });
    try {
      const first = held(app.port, app.ca, text);
      await arrived(app.server);
      const second = await rawExchange({
        port: app.port,
        ca: app.ca,
        head: postHead('/validate', { 'Content-Type': 'application/json', 'Content-Length': text.length }),
        body: Buffer.from(text),
      });
      expect(second.status).toBe(429);
      expect(second.headers['retry-after']).toBe('1');
      expect(second.headers.connection).toBe('close');
      expect(second.body).toBe(
        '{"error":"tokenguard is at its memory budget for admission requests in flight; try again"}',
      );
      first.finish();
      expect((await first.response).status).toBe(200);
      const third = await postReview({ port: app.port, ca: app.ca, endpoint: 'validate', review: text });
      expect(third.status).toBe(200);
      const lines = app.sink.lines().filter((l) => l.event === 'http-error');
      expect(lines).toEqual([expect.objectContaining({ status: 429, endpoint: 'validate' })]);
    } finally {
      await app.close();
    }
  });

  test('requests charged over the large threshold share part of the budget: a second large one is 429, a small one is answered', async () => {
    const big = padded(20_000);
    const small = padded(0);
    expect(charge(small)).toBeLessThan(CHARGE_PER_BYTE * big.length);
    const app = await serveApp({
      policies: () => [],
      // `small` is small, `big` large from its Content-Length on, and the large share holds one.
      limits: {
        memoryBudgetBytes: 10 * charge(big),
        largeRequestBytes: charge(small),
        largeShareBytes: charge(big) + CHARGE_PER_BYTE * big.length - 1,
      },
    });
    try {
      const first = held(app.port, app.ca, big);
      await arrived(app.server);
      const second = await postReview({ port: app.port, ca: app.ca, endpoint: 'validate', review: big });
      expect(second.status).toBe(429);
      const other = await postReview({ port: app.port, ca: app.ca, endpoint: 'validate', review: small });
      expect(other.status).toBe(200);
      first.finish();
      expect((await first.response).status).toBe(200);
    } finally {
      await app.close();
    }
  });

  test('past maxReviewsInFlight: 429 with an exact body; a client that goes away gives its place back', async () => {
    const text = padded(0);
    const app = await serveApp({ policies: () => [], limits: { maxReviewsInFlight: 1 } });
    try {
      const first = held(app.port, app.ca, text);
      await arrived(app.server);
      const second = await postReview({ port: app.port, ca: app.ca, endpoint: 'validate', review: text });
      expect(second.status).toBe(429);
      expect(second.body).toBe('{"error":"1 admission requests are in flight; try again"}');
      first.abandon();
      await first.response.catch(() => 'gone');
      // The server learns of the close a moment later; until then the place is still taken.
      let after = await postReview({ port: app.port, ca: app.ca, endpoint: 'validate', review: text });
      while (after.status === 429)
        after = await postReview({ port: app.port, ca: app.ca, endpoint: 'validate', review: text });
      expect(after.status).toBe(200);
    } finally {
      await app.close();
    }
  });
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

  test('a large body of the wrong type is answered 415 at once, not read to the end, and its connection closed', async () => {
    const big = Buffer.alloc(4 * 1024 * 1024, 'x');
    const connection = nextConnection(s.running.server);
    const r = await rawExchange({
      port: s.port,
      ca: s.ca,
      head: postHead('/mutate', { 'Content-Type': 'text/plain', 'Content-Length': big.length }),
      body: big,
    });
    expect(r.status).toBe(415);
    expect(r.headers.connection).toBe('close');
    expect(await (await connection).closed).toBeLessThan(LINGER_BYTES + 512 * 1024);
    expect((await post(body, { 'Content-Type': 'text/plain' })).status).toBe(415); // the server is fine
  });

  test('a compressed body is 415', async () => {
    const r = await post(body, { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' });
    expect(r.status).toBe(415);
    expect(r.body).toBe('{"error":"Content-Encoding is not supported"}');
  });

  test.each(['application/json; charset=utf-8', 'Application/JSON', 'application/json;charset=UTF-8'])(
    '%s is accepted',
    async (type) => {
      const r = await post(body, { 'Content-Type': type });
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body).response.uid).toBe(UID);
    },
  );
});

describe('malformed bodies are 400 with an exact body', () => {
  test.each([
    [
      'not JSON',
      '{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionRev',
      '{"error":"request body is not valid JSON"}',
    ],
    ['an empty body', '', '{"error":"request body is empty"}'],
    ['a JSON array', '[1,2,3]', '{"error":"body is not a JSON object"}'],
    ['JSON null', 'null', '{"error":"body is not a JSON object"}'],
    [
      'a review without request',
      '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}',
      '{"error":"request is missing"}',
    ],
    [
      'a review without request.uid',
      JSON.stringify({ ...review(pod()), request: { operation: 'CREATE' } }),
      '{"error":"request.uid is missing or not a string"}',
    ],
    [
      'a numeric uid',
      '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":42}}',
      '{"error":"request.uid is missing or not a string"}',
    ],
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

  test(
    'is counted in tokenguard_admission_aborted_total and logged once with identifiers only',
    async () => {
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
      expect(aborted[0]).toMatchObject({
        level: 'warn',
        endpoint: 'validate',
        msg: 'client closed the connection before the request body arrived',
      });
      expect(logged).not.toContain(canary);
      // Not an HTTP error: nothing was answered.
      expect(lines.filter((l) => l.event === 'http-error')).toHaveLength(0);
      expect(
        (await post(JSON.stringify(review(pod({ name: 'after' }), { uid: UID })), undefined, '/validate')).status,
      ).toBe(200);
    },
    TIMEOUT,
  );
});

describe('a body that never stops', () => {
  test(
    'is answered 413 once past the limit, read no further than the linger allowance, counted as a 413 and not as a client abort',
    async () => {
      const metrics = createMetrics();
      const app = await serveApp({ policies: () => [], metrics, limits: { maxBodyBytes: 1024 } });
      try {
        // Chunked, so no Content-Length refuses it up front: the server reads 1 KiB, answers, then
        // reads at most LINGER_BYTES more while the connection closes; the client offers 80 MiB.
        const connection = nextConnection(app.server);
        const chunk = Buffer.alloc(1024 * 1024, 0x20);
        const body = Buffer.concat([Buffer.from('{"a":"'), ...Array.from({ length: 80 }, () => chunk)]);
        const chunked = Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body]);
        const r = await rawExchange({
          port: app.port,
          ca: app.ca,
          head: postHead('/validate', { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' }),
          body: chunked,
        });
        expect(r.status).toBe(413);
        expect(r.body).toBe('{"error":"request body exceeds 1024 bytes"}');
        expect(await (await connection).closed).toBeLessThan(LINGER_BYTES + 1024 * 1024);
        const text = await metrics.registry.metrics();
        expect(text).toMatch(/^tokenguard_http_errors_total\{endpoint="validate",code="413"\} 1$/m);
        expect(text).toMatch(/^tokenguard_admission_aborted_total\{endpoint="validate"\} 0$/m);
        const lines = app.sink.lines();
        expect(lines.filter((l) => l.event === 'aborted')).toHaveLength(0);
        expect(lines.filter((l) => l.event === 'http-error')).toEqual([
          expect.objectContaining({ status: 413, endpoint: 'validate' }),
        ]);
      } finally {
        await app.close();
      }
    },
    TIMEOUT,
  );
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
      expect(line).toMatchObject({
        uid: 'thrown-uid',
        decision: 'error',
        error: 'tokenguard: internal error: policy store exploded',
      });
    } finally {
      await served.close();
    }
  });

  test('a facts lookup that rejects still answers with the uid', async () => {
    const served = await serveApp({
      policies: () => [],
      facts: { lookup: () => Promise.reject(new Error('informer gone')) },
    });
    try {
      const r = await postReview({
        port: served.port,
        ca: served.ca,
        endpoint: 'validate',
        review: review(pod({ name: 'web' }), { uid: 'facts-uid' }),
      });
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
            kind: fc.oneof(
              fc.record({
                group: fc.constant(''),
                version: fc.constant('v1'),
                kind: fc.constantFrom('Pod', 'Secret', 'Other'),
              }),
              fc.jsonValue(),
            ),
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
        fc.asyncProperty(
          fc.oneof(
            fc.string(),
            fc.uint8Array({ maxLength: 512 }).map((a) => Buffer.from(a)),
          ),
          async (body) => {
            const r = await post(body, { 'Content-Type': 'application/json' });
            expect(r.status).toBeGreaterThanOrEqual(200);
            expect(r.status).toBeLessThan(500);
          },
        ),
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
