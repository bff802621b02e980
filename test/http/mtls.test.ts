/**
 * `--client-ca`: only a caller with a client certificate from that CA (the API server, through
 * its AdmissionConfiguration kubeconfig) gets admission answers. Probes stay reachable without
 * a certificate, because the kubelet presents none.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CertificateSet } from '../../src/certs/generate.js';
import { runServeCommand } from '../../src/cli/commands/serve.js';
import { pod, review } from '../helpers/pods.js';
import {
  clientCertificate,
  makeCertificates,
  postReview,
  request,
  startTestServer,
  tempDir,
  type TestServer,
} from './helpers.js';

const TIMEOUT = 30_000;
const body = review(pod({ name: 'web' }), { uid: 'mtls-uid' });

// openssl makes the client certificates; without it these tests cannot run.
// openssl is a test dependency (.ci/run installs it when missing): these tests always run.
const describeWithOpenssl = describe;

describeWithOpenssl('client certificate authentication', () => {
  let s: TestServer;
  let clientCa: CertificateSet;
  beforeAll(async () => {
    clientCa = await makeCertificates();
    const dir = tempDir('client-ca');
    writeFileSync(join(dir, 'ca.crt'), clientCa.caCert);
    s = await startTestServer({ clientCa: join(dir, 'ca.crt') });
  }, TIMEOUT);
  afterAll(() => s.close());

  test('a client certificate issued by the client CA is accepted', async () => {
    const client = clientCertificate({ cert: clientCa.caCert, key: clientCa.caKey });
    for (const endpoint of ['mutate', 'validate'] as const) {
      const r = await postReview({
        port: s.port,
        ca: s.ca,
        endpoint,
        review: body,
        cert: client.cert,
        key: client.key,
      });
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body).response.uid).toBe('mtls-uid');
    }
  });

  test('no client certificate: admission endpoints answer 403 and no review is made', async () => {
    const reviews = () => s.sink.lines().filter((l) => l.event === 'review').length;
    const before = reviews();
    for (const endpoint of ['mutate', 'validate'] as const) {
      const r = await postReview({ port: s.port, ca: s.ca, endpoint, review: body });
      expect(r.status).toBe(403);
      expect(r.body).toBe('{"error":"a client certificate issued by the configured client CA is required"}');
    }
    expect(reviews()).toBe(before);
  });

  test('no client certificate: probes and metrics still answer (the kubelet has none)', async () => {
    for (const path of ['/healthz', '/readyz', '/metrics']) {
      const r = await request({ port: s.port, ca: s.ca, path });
      expect(r.status).toBe(200);
    }
  });

  test('a certificate from another CA is refused at the connection', async () => {
    const other = await makeCertificates();
    const client = clientCertificate({ cert: other.caCert, key: other.caKey });
    await expect(
      postReview({ port: s.port, ca: s.ca, endpoint: 'mutate', review: body, cert: client.cert, key: client.key }),
    ).rejects.toThrow();
    await expect(
      request({ port: s.port, ca: s.ca, path: '/healthz', cert: client.cert, key: client.key }),
    ).rejects.toThrow();
    const refused = s.sink.lines().filter((l) => l.event === 'tls' && l.msg === 'client certificate refused');
    expect(refused.length).toBeGreaterThan(0);
  });

  test('a serving certificate from the right CA is refused too (no clientAuth usage)', async () => {
    const serving = await makeCertificates({ cert: clientCa.caCert, key: clientCa.caKey });
    await expect(
      postReview({ port: s.port, ca: s.ca, endpoint: 'mutate', review: body, cert: serving.cert, key: serving.key }),
    ).rejects.toThrow();
    const refused = s.sink.lines().filter((l) => l.event === 'tls' && l.msg === 'client certificate refused');
    expect(refused.at(-1)?.error).toMatch(/purpose/i);
  });

  test('refusals are counted', async () => {
    const m = await request({ port: s.port, ca: s.ca, path: '/metrics' });
    expect(m.body).toMatch(/tokenguard_http_errors_total\{endpoint="mutate",code="403"\} [1-9]/);
  });
});

describeWithOpenssl('client certificate subjects (--client-subject)', () => {
  let clientCa: CertificateSet;
  let caFile: string;
  const servers: TestServer[] = [];
  beforeAll(async () => {
    clientCa = await makeCertificates();
    const dir = tempDir('client-ca');
    caFile = join(dir, 'ca.crt');
    writeFileSync(caFile, clientCa.caCert);
  }, TIMEOUT);
  afterAll(async () => {
    for (const s of servers) await s.close();
  });
  const serve = async (clientSubjects?: string[]) => {
    const s = await startTestServer({ clientCa: caFile, ...(clientSubjects ? { clientSubjects } : {}) });
    servers.push(s);
    return s;
  };
  const call = (s: TestServer, cn: string, dnsNames: string[] = []) => {
    const client = clientCertificate({ cert: clientCa.caCert, key: clientCa.caKey }, cn, dnsNames);
    return postReview({
      port: s.port,
      ca: s.ca,
      endpoint: 'validate',
      review: body,
      cert: client.cert,
      key: client.key,
    });
  };

  test(
    'by default only kube-apiserver: another certificate from the same CA gets 403, and the log names its subject',
    async () => {
      const s = await serve();
      expect((await call(s, 'kube-apiserver')).status).toBe(200);
      const r = await call(s, 'some-workload', ['some-workload.team-a.svc']);
      expect(r.status).toBe(403);
      expect(r.body).toBe('{"error":"the client certificate names none of the allowed subjects (--client-subject)"}');
      const line = s.sink.lines().find((l) => l.msg === 'client certificate subject not allowed');
      expect(line).toMatchObject({ event: 'tls', subjects: ['some-workload', 'some-workload.team-a.svc'] });
      expect(s.sink.lines().filter((l) => l.event === 'review')).toHaveLength(1);
      const probe = await request({ port: s.port, ca: s.ca, path: '/healthz' });
      expect(probe.status).toBe(200);
    },
    TIMEOUT,
  );

  test(
    'the subject CN or a DNS subject alternative name must be one of the names given',
    async () => {
      const s = await serve(['webhook-client', 'apiserver.example']);
      expect((await call(s, 'webhook-client')).status).toBe(200);
      expect((await call(s, 'other', ['apiserver.example'])).status).toBe(200);
      expect((await call(s, 'kube-apiserver')).status).toBe(403);
      expect((await call(s, 'webhook-client-2', ['x.apiserver.example'])).status).toBe(403);
    },
    TIMEOUT,
  );

  test(
    "'*' accepts any certificate from the CA",
    async () => {
      const s = await serve(['*']);
      expect((await call(s, 'anything')).status).toBe(200);
    },
    TIMEOUT,
  );
});

test('--client-subject without --client-ca is a usage error', async () => {
  let err = '';
  const code = await runServeCommand(['--no-cluster', '--client-subject', 'kube-apiserver'], {
    stdout: { write: () => true },
    stderr: { write: (t: string) => (err += t) },
  });
  expect(code).toBe(2);
  expect(err).toContain('--client-subject needs --client-ca');
});

test(
  'without --client-ca, no client certificate is asked for',
  async () => {
    const s = await startTestServer();
    try {
      const r = await postReview({ port: s.port, ca: s.ca, endpoint: 'mutate', review: body });
      expect(r.status).toBe(200);
    } finally {
      await s.close();
    }
  },
  TIMEOUT,
);
