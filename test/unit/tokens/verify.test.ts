import { writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { generateCertificates } from '../../../src/certs/generate.js';
import { parseKeys, readKeysFile, verifyToken } from '../../../src/tokens/verify.js';
import { tempDir } from '../certs/helpers.js';
import {
  at,
  boundPodClaims,
  boundSecretClaims,
  EXP_EXTENDED,
  IAT,
  ISSUER,
  jwksOf,
  legacyClaims,
  type SigningKey,
  sign,
  signingKey,
  unboundClaims,
  unsignedToken,
} from './helpers.js';

let rsa: SigningKey;
let ec: SigningKey;
let otherRsa: SigningKey;
beforeAll(async () => {
  [rsa, ec, otherRsa] = await Promise.all([signingKey('RS256'), signingKey('ES256'), signingKey('RS256')]);
});

const during = at(IAT + 60);

describe('verifyToken with a local key set', () => {
  test('a bound pod token (RS256) and a secret-bound one (ES256) verify, with issuer and audience', async () => {
    const jwks = jwksOf(rsa, ec);
    const pod = await sign(boundPodClaims(), rsa);
    expect(await verifyToken(pod, { jwks, now: during, issuer: ISSUER, audience: ISSUER })).toEqual({
      verified: true,
      keySource: 'inline',
      algorithm: 'RS256',
      keyId: rsa.kid,
    });
    const secret = await sign(boundSecretClaims(), ec);
    expect(await verifyToken(secret, { jwks, now: during, audience: ['sts', 'vault'] })).toMatchObject({
      verified: true,
      algorithm: 'ES256',
    });
  });

  test('a legacy token (no exp) verifies through compactVerify, whatever issuer the cluster has', async () => {
    const jwks = jwksOf(rsa, ec);
    for (const key of [rsa, ec]) {
      const legacy = await sign(legacyClaims(), key);
      // Years later: a legacy token never expires.
      expect(await verifyToken(legacy, { jwks, now: at(IAT + 10 * 365 * 86400) })).toMatchObject({ verified: true });
      expect(await verifyToken(legacy, { jwks, now: during, issuer: ISSUER })).toMatchObject({ verified: true });
      expect(await verifyToken(legacy, { jwks, now: during, issuer: 'https://other.example' })).toMatchObject({
        verified: true,
      });
      expect(await verifyToken(legacy, { jwks, now: during, audience: ISSUER })).toMatchObject({
        verified: false,
        reason: 'signature valid, but the token has no aud claim (legacy tokens carry none)',
      });
    }
    const notLegacyIssuer = await sign({ ...legacyClaims(), iss: 'https://evil.example' }, rsa);
    expect(await verifyToken(notLegacyIssuer, { jwks, now: during, issuer: ISSUER })).toMatchObject({
      verified: false,
      reason: `signature valid, but iss is not ${ISSUER}`,
    });
    const wrong = await sign(legacyClaims(), otherRsa, { kid: rsa.kid });
    expect(await verifyToken(wrong, { jwks, now: during })).toMatchObject({
      verified: false,
      reason: 'signature does not match the key',
    });
  });

  test('a token signed by another key fails, whether or not its kid matches', async () => {
    const jwks = jwksOf(rsa, ec);
    const sameKid = await sign(boundPodClaims(), otherRsa, { kid: rsa.kid });
    expect(await verifyToken(sameKid, { jwks, now: during })).toMatchObject({
      verified: false,
      reason: 'signature does not match the key',
    });
    const otherKid = await sign(boundPodClaims(), otherRsa);
    expect(await verifyToken(otherKid, { jwks, now: during })).toMatchObject({
      verified: false,
      reason: 'no key in the key set matches the token (kid and alg)',
    });
  });

  test('without a kid, every key of the right type is tried', async () => {
    const noKid = (k: SigningKey) => ({ ...k.jwk, kid: undefined });
    const token = await new SignJWT(boundPodClaims()).setProtectedHeader({ alg: 'RS256' }).sign(rsa.privateKey);
    expect(
      await verifyToken(token, { jwks: { keys: [noKid(otherRsa), noKid(rsa), noKid(ec)] }, now: during }),
    ).toMatchObject({ verified: true });
    expect(await verifyToken(token, { jwks: { keys: [noKid(otherRsa), noKid(ec)] }, now: during })).toMatchObject({
      verified: false,
      reason: 'signature does not match the key',
    });
  });

  test('expired, not yet valid, issued in the future, wrong issuer or audience', async () => {
    const jwks = jwksOf(rsa);
    const pod = await sign(boundPodClaims(), rsa);
    const expired = await verifyToken(pod, { jwks, now: at(EXP_EXTENDED + 1) });
    expect(expired.verified).toBe(false);
    expect(expired.reason).toMatch(/^expired/);
    const short = await sign(unboundClaims({ nbf: IAT + 600, iat: IAT }), rsa);
    expect((await verifyToken(short, { jwks, now: during })).reason).toMatch(/nbf/);
    expect(await verifyToken(pod, { jwks, now: at(IAT - 120) })).toMatchObject({
      verified: false,
      reason: 'issued in the future (iat is after now)',
    });
    expect(await verifyToken(pod, { jwks, now: at(IAT - 120), clockToleranceSeconds: 300 })).toMatchObject({
      verified: true,
    });
    expect((await verifyToken(pod, { jwks, now: during, issuer: 'https://other.example' })).reason).toMatch(
      /claim check failed: .*iss/,
    );
    expect((await verifyToken(pod, { jwks, now: during, audience: 'vault' })).reason).toMatch(
      /claim check failed: .*aud/,
    );
  });

  test('alg none, HMAC and unsigned tokens are refused before any key is looked at', async () => {
    const jwks = jwksOf(rsa);
    expect(await verifyToken(unsignedToken(legacyClaims()), { jwks, now: during })).toMatchObject({
      verified: false,
      reason: 'algorithm "none" is not accepted (only RS256, ES256, ES384, ES512)',
    });
    expect(await verifyToken(unsignedToken(boundPodClaims()), { jwks, now: during })).toMatchObject({
      verified: false,
    });
    const hmac = await new SignJWT(boundPodClaims())
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode('k'.repeat(32)));
    expect((await verifyToken(hmac, { jwks, now: during })).reason).toMatch(/"HS256" is not accepted/);
    const stripped = (await sign(boundPodClaims(), rsa)).replace(/\.[^.]*$/, '.');
    expect(await verifyToken(stripped, { jwks, now: during })).toMatchObject({
      verified: false,
      reason: 'the token has no signature',
    });
  });

  test('malformed and huge tokens are refused with a reason that does not quote them', async () => {
    const jwks = jwksOf(rsa);
    const two = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0';
    const r = await verifyToken(two, { jwks, now: during });
    expect(r).toMatchObject({ verified: false });
    expect(r.reason).toMatch(/^not a JWT: /);
    expect(r.reason).not.toContain('eyJ');
    const huge = await verifyToken(`eyJhbGciOiJSUzI1NiJ9.${'A'.repeat(20_000)}.c2ln`, { jwks, now: during });
    expect(huge.reason).toMatch(/over 16384 bytes/);
  });

  test('a key set with private or symmetric keys, or no keys at all, is unavailable, not a failure of the token', async () => {
    const token = await sign(boundPodClaims(), rsa);
    expect(await verifyToken(token, { jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] }, now: during })).toMatchObject({
      verified: false,
      keysUnavailable: true,
    });
    expect(await verifyToken(token, { jwks: { keys: [{ ...rsa.jwk, d: 'x' }] }, now: during })).toMatchObject({
      verified: false,
      keysUnavailable: true,
    });
    expect(await verifyToken(token, { now: during })).toMatchObject({ verified: false, keysUnavailable: true });
    expect(await verifyToken(token, { now: during, issuer: 'kubernetes/serviceaccount' })).toMatchObject({
      keysUnavailable: true,
    });
  });

  test('PEM public keys (the cluster sa.pub) and key files', async () => {
    const dir = tempDir('tokens');
    try {
      const pem = join(dir.dir, 'sa.pub');
      writeFileSync(pem, `${rsa.pem}\n${ec.pem}`);
      const jwks = readKeysFile(pem);
      expect(jwks.keys.map((k) => k.kid)).toEqual([rsa.kid, ec.kid]); // the kid Kubernetes computes (docs/tokens.md "Signatures and discovery")
      expect(
        await verifyToken(await sign(boundPodClaims(), rsa, { kid: undefined }), { jwks, now: during }),
      ).toMatchObject({ verified: true });
      expect(await verifyToken(await sign(legacyClaims(), ec), { jwks, now: during })).toMatchObject({
        verified: true,
      });
      const file = join(dir.dir, 'jwks.json');
      writeFileSync(file, JSON.stringify(jwksOf(rsa)));
      expect(readKeysFile(file)).toEqual(jwksOf(rsa));
      expect(() => readKeysFile(join(dir.dir, 'missing.json'))).toThrow(/missing\.json: cannot read: ENOENT/);
      expect(() => parseKeys('-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n')).toThrow(/private key/);
      expect(() => parseKeys('{"nope":1}')).toThrow(/not a JWKS/);
      expect(() => parseKeys('hello')).toThrow(/neither JSON/);
    } finally {
      dir.cleanup();
    }
  });
});

interface Served {
  readonly url: string;
  readonly requests: { path: string; authorization: string | undefined }[];
  close(): Promise<void>;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, base: string) => void;

/** An API server's discovery endpoints (docs/tokens.md "Signatures and discovery") on 127.0.0.1. */
function apiServerHandler(jwks: unknown, options: { requireBearer?: string } = {}): Handler {
  return (req, res, base) => {
    if (options.requireBearer && req.headers.authorization !== `Bearer ${options.requireBearer}`) {
      res.writeHead(401).end('{"kind":"Status","code":401}');
      return;
    }
    const json = (body: unknown, type = 'application/json') =>
      res.writeHead(200, { 'content-type': type }).end(JSON.stringify(body));
    if (req.url === '/openid/v1/jwks') {
      // As kube-apiserver (go-restful, Produces application/jwk-set+json): 406 unless accepted.
      if (!/application\/jwk-set\+json|\*\/\*/.test(req.headers.accept ?? '')) return res.writeHead(406).end();
      return json(jwks, 'application/jwk-set+json');
    }
    if (req.url === '/.well-known/openid-configuration') {
      return json({
        issuer: ISSUER,
        jwks_uri: `${base}/openid/v1/jwks`,
        response_types_supported: ['id_token'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['ES256', 'RS256'],
      });
    }
    res.writeHead(404).end();
  };
}

async function serve(handler: Handler, tls?: { cert: string; key: string }): Promise<Served> {
  const requests: Served['requests'] = [];
  let base = '';
  const listener = (req: http.IncomingMessage, res: http.ServerResponse) => {
    requests.push({ path: req.url ?? '', authorization: req.headers.authorization });
    handler(req, res, base);
  };
  const server = tls ? https.createServer(tls, listener) : http.createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `${tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: base,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('verifyToken with keys from a server (node:http on 127.0.0.1)', () => {
  let api: Served;
  beforeAll(async () => {
    api = await serve(apiServerHandler(jwksOf(rsa, ec)));
  });
  afterAll(() => api.close());

  test('from /openid/v1/jwks, from the discovery document, and from the issuer', async () => {
    const token = await sign(boundPodClaims(), rsa);
    for (const url of [
      `${api.url}/openid/v1/jwks`,
      `${api.url}/.well-known/openid-configuration`,
      api.url,
      `${api.url}/`,
    ]) {
      expect(await verifyToken(token, { jwks: new URL(url), now: during, issuer: ISSUER })).toMatchObject({
        verified: true,
        keySource: `${api.url}/openid/v1/jwks`,
      });
    }
    expect(
      await verifyToken(await sign(legacyClaims(), ec), { jwks: new URL(`${api.url}/openid/v1/jwks`), now: during }),
    ).toMatchObject({ verified: true });
    const wrong = await verifyToken(await sign(boundPodClaims(), otherRsa, { kid: rsa.kid }), {
      jwks: new URL(api.url),
      now: during,
    });
    expect(wrong).toMatchObject({ verified: false, reason: 'signature does not match the key' });
    expect(wrong.keysUnavailable).toBeUndefined();
  });

  test('a bearer token is never sent over plain http', async () => {
    api.requests.length = 0;
    await verifyToken(await sign(boundPodClaims(), rsa), {
      jwks: new URL(`${api.url}/openid/v1/jwks`),
      now: during,
      bearerToken: 'sekret',
    });
    expect(api.requests).toEqual([{ path: '/openid/v1/jwks', authorization: undefined }]);
  });

  test('unreachable, slow, refusing, oversized or non-JSON servers make the keys unavailable', async () => {
    const token = await sign(boundPodClaims(), rsa);
    const nothing = await serve((_req, res) => res.writeHead(404).end());
    const forbidden = await serve((_req, res) => res.writeHead(403).end());
    const slow = await serve(() => undefined);
    const big = await serve((_req, res) => res.writeHead(200).end(`{"keys":[${'0,'.repeat(600_000)}0]}`));
    const html = await serve((_req, res) => res.writeHead(200).end('<html>'));
    try {
      const cases: [string, RegExp][] = [
        [`${nothing.url}/openid/v1/jwks`, /HTTP 404/],
        [`${forbidden.url}/openid/v1/jwks`, /HTTP 403 \(the discovery endpoints need credentials/],
        [`${slow.url}/openid/v1/jwks`, /timed out after 300 ms/],
        [`${big.url}/openid/v1/jwks`, /response over 1048576 bytes/],
        [`${html.url}/openid/v1/jwks`, /not JSON/],
        ['http://127.0.0.1:1/openid/v1/jwks', /ECONNREFUSED/],
      ];
      for (const [url, reason] of cases) {
        const r = await verifyToken(token, { jwks: new URL(url), now: during, timeoutMs: 300 });
        expect(r).toMatchObject({ verified: false, keysUnavailable: true });
        expect(r.reason).toMatch(reason);
      }
    } finally {
      await Promise.all([nothing.close(), forbidden.close(), slow.close(), big.close(), html.close()]);
    }
  });
});

describe('verifyToken against a cluster over https', () => {
  test('discovers from an https issuer with a CA file and a bearer token', async () => {
    const certs = await generateCertificates({
      service: 'kubernetes',
      namespace: 'default',
      ipAddresses: ['127.0.0.1'],
    });
    const dir = tempDir('tokens');
    const api = await serve(apiServerHandler(jwksOf(rsa), { requireBearer: 'reader-token' }), {
      cert: certs.cert,
      key: certs.key,
    });
    try {
      const caFile = join(dir.dir, 'ca.crt');
      writeFileSync(caFile, certs.caCert);
      const token = await sign(boundPodClaims(), rsa);
      expect(
        await verifyToken(token, { issuer: api.url, now: during, caFile, bearerToken: 'reader-token' }),
      ).toMatchObject({
        verified: false,
        reason: expect.stringMatching(/claim check failed: .*iss/), // the token's issuer is the in-cluster name
      });
      expect(
        await verifyToken(token, {
          jwks: new URL(api.url),
          issuer: ISSUER,
          now: during,
          caFile,
          bearerToken: 'reader-token',
        }),
      ).toMatchObject({
        verified: true,
        keySource: `${api.url}/openid/v1/jwks`,
      });
      expect(api.requests.every((r) => r.authorization === 'Bearer reader-token')).toBe(true);
      const untrusted = await verifyToken(token, { jwks: new URL(api.url), now: during, bearerToken: 'reader-token' });
      expect(untrusted).toMatchObject({ verified: false, keysUnavailable: true });
      expect(untrusted.reason).toMatch(/certificate/);
      const anonymous = await verifyToken(token, { jwks: new URL(`${api.url}/openid/v1/jwks`), now: during, caFile });
      expect(anonymous.reason).toMatch(/HTTP 401/);
    } finally {
      await api.close();
      dir.cleanup();
    }
  });

  test('the bearer token is not sent to a jwks_uri on another origin', async () => {
    const certs = await generateCertificates({
      service: 'kubernetes',
      namespace: 'default',
      ipAddresses: ['127.0.0.1'],
    });
    const dir = tempDir('tokens');
    const keys = await serve(apiServerHandler(jwksOf(rsa)), { cert: certs.cert, key: certs.key });
    const discovery = await serve(
      (_req, res) => res.writeHead(200).end(JSON.stringify({ issuer: ISSUER, jwks_uri: `${keys.url}/openid/v1/jwks` })),
      { cert: certs.cert, key: certs.key },
    );
    try {
      const caFile = join(dir.dir, 'ca.crt');
      writeFileSync(caFile, certs.caCert);
      const r = await verifyToken(await sign(boundPodClaims(), rsa), {
        jwks: new URL(discovery.url),
        now: during,
        caFile,
        bearerToken: 'reader-token',
      });
      expect(r).toMatchObject({ verified: true, keySource: `${keys.url}/openid/v1/jwks` });
      expect(discovery.requests).toEqual([{ path: '/', authorization: 'Bearer reader-token' }]);
      expect(keys.requests).toEqual([{ path: '/openid/v1/jwks', authorization: undefined }]);
    } finally {
      await Promise.all([keys.close(), discovery.close()]);
      dir.cleanup();
    }
  });
});
