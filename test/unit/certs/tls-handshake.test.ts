import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { request, type Server, createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { ensureDevCertificates } from '../../../src/certs/dev.js';
import { type CertificateSet, generateCertificates, type KeyType } from '../../../src/certs/generate.js';
import { tempDir } from './helpers.js';

interface Outcome {
  readonly status?: number;
  readonly body?: string;
  readonly error?: string;
}

/** GET / over real TLS with hostname verification on (Node's default checkServerIdentity). */
function get(port: number, options: { servername?: string; ca: string }): Promise<Outcome> {
  return new Promise((resolve) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/healthz',
        method: 'GET',
        ca: options.ca,
        ...(options.servername !== undefined ? { servername: options.servername } : {}),
        rejectUnauthorized: true,
        agent: false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
    req.end();
  });
}

async function serve(certs: { cert: string; key: string }): Promise<{ server: Server; port: number }> {
  const server = createHttpsServer({ cert: certs.cert, key: certs.key }, (_req, res) => {
    res.end('ok');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port };
}

describe.each<KeyType>(['ecdsa-p256', 'rsa-2048'])('TLS handshake with generated certificates (%s)', (keyType) => {
  let certs: CertificateSet;
  let other: CertificateSet;
  let server: Server;
  let port: number;

  beforeAll(async () => {
    certs = await generateCertificates({ service: 'tokenguard', namespace: 'tokenguard-system', keyType });
    other = await generateCertificates({ service: 'tokenguard', namespace: 'tokenguard-system', keyType });
    ({ server, port } = await serve(certs));
  });
  afterAll(async () => {
    server.close();
    await once(server, 'close');
  });

  it.each([
    'tokenguard.tokenguard-system.svc',
    'tokenguard.tokenguard-system.svc.cluster.local',
    'tokenguard.tokenguard-system',
  ])('succeeds for servername %s, trusting only ca.crt', async (servername) => {
    expect(await get(port, { servername, ca: certs.caCert })).toEqual({ status: 200, body: 'ok' });
  });

  it('fails hostname verification for another name', async () => {
    expect(await get(port, { servername: 'evil.example', ca: certs.caCert })).toEqual({
      error: 'ERR_TLS_CERT_ALTNAME_INVALID',
    });
  });

  it('fails for the right name when the client trusts a different CA', async () => {
    const outcome = await get(port, { servername: 'tokenguard.tokenguard-system.svc', ca: other.caCert });
    expect(outcome.status).toBeUndefined();
    expect(outcome.error).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT|CERT_SIGNATURE_FAILURE/);
  });

  it('fails for 127.0.0.1 when no IP SAN was requested', async () => {
    expect((await get(port, { ca: certs.caCert })).error).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
  });
});

describe('TLS handshake with development certificates', () => {
  const tmp = tempDir('dev-tls');
  afterAll(() => tmp.cleanup());

  it('serves 127.0.0.1 and localhost, as npm start does', async () => {
    const result = await ensureDevCertificates(tmp.dir);
    const files = {
      cert: readFileSync(join(tmp.dir, 'tls.crt'), 'utf8'),
      key: readFileSync(join(tmp.dir, 'tls.key'), 'utf8'),
    };
    const ca = readFileSync(result.caCert, 'utf8');
    const { server, port } = await serve(files);
    try {
      expect(await get(port, { ca })).toEqual({ status: 200, body: 'ok' }); // IP SAN 127.0.0.1
      expect(await get(port, { servername: 'localhost', ca })).toEqual({ status: 200, body: 'ok' });
      expect(await get(port, { servername: 'tokenguard.tokenguard-system.svc', ca })).toEqual({
        status: 200,
        body: 'ok',
      });
      expect((await get(port, { servername: 'evil.example', ca })).error).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
    } finally {
      server.close();
      await once(server, 'close');
    }
  });
});
