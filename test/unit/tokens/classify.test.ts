import fc from 'fast-check';
import {
  classifyToken,
  decodeToken,
  findLegacyTokens,
  isLegacyServiceAccountJwt,
  MAX_SCAN_CANDIDATES,
  MAX_TOKEN_LENGTH,
  scanForLegacyTokens,
} from '../../../src/engine/tokens.js';
import {
  at,
  boundNodeClaims,
  boundPodClaims,
  boundSecretClaims,
  EXP_EXTENDED,
  IAT,
  ISSUER,
  legacyClaims,
  type SigningKey,
  sign,
  signatureOf,
  signingKey,
  unboundClaims,
  unsignedToken,
  WARN_AFTER,
} from './helpers.js';

let rsa: SigningKey;
let ec: SigningKey;
beforeAll(async () => {
  rsa = await signingKey('RS256');
  ec = await signingKey('ES256');
});

function classify(token: string, now = at(IAT + 60)) {
  const d = decodeToken(token);
  if (!d.ok) throw new Error(d.reason);
  return classifyToken(d.claims, d.header, { now });
}

const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('decodeToken', () => {
  test('decodes header and claims of a signed token and says it is signed', async () => {
    const token = await sign(boundPodClaims(), rsa);
    const d = decodeToken(`  Bearer ${token}\n`);
    expect(d.ok).toBe(true);
    if (!d.ok) return;
    expect(d.header).toEqual({ alg: 'RS256', kid: rsa.kid });
    expect(d.claims.sub).toBe('system:serviceaccount:kube-system:coredns');
    expect(d.signed).toBe(true);
    expect(JSON.stringify(d)).not.toContain(signatureOf(token));
  });

  test.each([
    ['two parts', 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0', 'not-three-parts'],
    ['four parts', 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln.eHg', 'not-three-parts'],
    ['bad base64url', 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIi*OiJ4In0.c2ln', 'bad-base64url'],
    ['standard base64 padding', 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0=.c2ln', 'bad-base64url'],
    ['impossible length', 'eyJhbGciOiJSUzI1NiJ9.eyJzd.c2ln', 'bad-base64url'],
    ['header not JSON', `${Buffer.from('{alg:RS256').toString('base64url')}.eyJzdWIiOiJ4In0.c2ln`, 'header-not-json'],
    [
      'claims not JSON',
      `eyJhbGciOiJSUzI1NiJ9.${Buffer.from('not json').toString('base64url')}.c2ln`,
      'claims-not-json',
    ],
    ['claims an array', `eyJhbGciOiJSUzI1NiJ9.${Buffer.from('[1,2]').toString('base64url')}.c2ln`, 'claims-not-object'],
    ['header null', `${Buffer.from('null').toString('base64url')}.eyJzdWIiOiJ4In0.c2ln`, 'header-not-object'],
    [
      'claims not UTF-8',
      `eyJhbGciOiJSUzI1NiJ9.${Buffer.from([0x7b, 0xff, 0xfe, 0x7d]).toString('base64url')}.c2ln`,
      'bad-utf8',
    ],
    ['empty', '   ', 'empty'],
  ])('refuses a malformed token: %s', (_name, token, code) => {
    const d = decodeToken(token);
    expect(d).toMatchObject({ ok: false, code });
    if (!d.ok) expect(d.reason).not.toContain(token.trim().slice(0, 12) || 'x'.repeat(99));
  });

  test('refuses a huge token fast, without decoding it', () => {
    const claims = Buffer.from(JSON.stringify({ sub: 'x', pad: 'a'.repeat(MAX_TOKEN_LENGTH) })).toString('base64url');
    const justOver = `eyJhbGciOiJSUzI1NiJ9.${claims}.c2ln`;
    expect(decodeToken(justOver)).toMatchObject({ ok: false, code: 'too-large' });
    const enormous = `eyJhbGciOiJSUzI1NiJ9.${'A'.repeat(50 * 1024 * 1024)}.c2ln`;
    const t0 = performance.now();
    expect(decodeToken(enormous)).toMatchObject({ ok: false, code: 'too-large' });
    expect(performance.now() - t0).toBeLessThan(50);
  });

  test('never throws, whatever the input', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.string({ unit: 'binary' }),
          fc.array(fc.base64String(), { maxLength: 4 }).map((a) => a.join('.')),
        ),
        (s) => {
          const d = decodeToken(s);
          expect(typeof d.ok).toBe('boolean');
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('classifyToken', () => {
  test('a default API token with the one-year extension (docs/tokens.md "Token claims")', async () => {
    const c = classify(await sign(boundPodClaims(), rsa), at(IAT + 600));
    expect(c).toMatchObject({
      kind: 'bound-pod',
      issuer: ISSUER,
      subject: 'system:serviceaccount:kube-system:coredns',
      namespace: 'kube-system',
      serviceAccount: { name: 'coredns', uid: 'a087d5a0-e1dd-43ec-93ac-f13d89cd13af' },
      boundObject: { kind: 'Pod', name: 'coredns-69cbfb9798-jv9gn', uid: '778a530c-b3f4-47c0-9cd5-ab018fb64f33' },
      node: { name: '127.0.0.1', uid: '58456cb0-dd00-45ed-b797-5578fdceaced' },
      issuedAt: IAT,
      notBefore: IAT,
      expiresAt: EXP_EXTENDED,
      lifetimeSeconds: 31536000,
      remainingSeconds: EXP_EXTENDED - IAT - 600,
      audiences: [ISSUER],
      warnAfter: WARN_AFTER,
      extended: true,
      intendedLifetimeSeconds: 3607,
      warnRemainingSeconds: 3007,
      jti: 'b0a5dc3e-0c7a-4b93-9c2e-5f1d0e0f6a11',
      algorithm: 'RS256',
      keyId: rsa.kid,
      problems: [],
    });
  });

  test('a pod-bound token without extension is not extended', async () => {
    const claims = boundPodClaims({ exp: IAT + 3600 });
    delete (claims['kubernetes.io'] as Record<string, unknown>).warnafter;
    const c = classify(await sign(claims, ec));
    expect(c).toMatchObject({
      kind: 'bound-pod',
      extended: false,
      lifetimeSeconds: 3600,
      algorithm: 'ES256',
      problems: [],
    });
    expect(c.warnAfter).toBeUndefined();
  });

  test('secret-bound, node-bound and unbound tokens', async () => {
    expect(classify(await sign(boundSecretClaims(), ec))).toMatchObject({
      kind: 'bound-secret',
      boundObject: { kind: 'Secret', name: 'deploy-anchor', uid: '0c5e9d2f-1b8a-4e57-a1c3-2f6d7e8b9a0c' },
      namespace: 'ci',
      serviceAccount: { name: 'deployer' },
      audiences: ['vault'],
      lifetimeSeconds: 3600,
      extended: false,
      problems: [],
    });
    const node = classify(await sign(boundNodeClaims(), rsa));
    expect(node).toMatchObject({
      kind: 'bound-node',
      boundObject: { kind: 'Node', name: 'worker-1' },
      node: { name: 'worker-1' },
      problems: [],
    });
    expect(classify(await sign(unboundClaims(), rsa))).toMatchObject({
      kind: 'unbound',
      lifetimeSeconds: 7200,
      problems: [],
    });
  });

  test('a legacy token (docs/tokens.md "Token claims"): four private claims, no expiry', async () => {
    const c = classify(await sign(legacyClaims(), rsa));
    expect(c).toMatchObject({
      kind: 'legacy',
      issuer: 'kubernetes/serviceaccount',
      subject: 'system:serviceaccount:default:build-robot',
      namespace: 'default',
      serviceAccount: { name: 'build-robot', uid: '9f1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d' },
      secretName: 'build-robot-secret',
      audiences: [],
      extended: false,
      problems: [],
    });
    expect(c.expiresAt).toBeUndefined();
    expect(c.remainingSeconds).toBeUndefined();
  });

  test('other tokens are not-kubernetes; inconsistencies are problems, not errors', async () => {
    expect(classify(await sign({ iss: 'https://accounts.example', sub: 'alice', exp: IAT + 60 }, ec)).kind).toBe(
      'not-kubernetes',
    );
    const incomplete = legacyClaims();
    delete incomplete['kubernetes.io/serviceaccount/service-account.uid'];
    expect(classify(await sign(incomplete, rsa)).problems).toEqual([
      'legacy claim kubernetes.io/serviceaccount/service-account.uid (serviceAccountUid) is missing',
    ]);
    expect(classify(await sign(unboundClaims({ sub: 'system:serviceaccount:ci:admin' }), rsa)).problems).toEqual([
      'sub does not name ServiceAccount ci/deployer',
    ]);
    expect(classify(unsignedToken(legacyClaims())).problems).toEqual(['unsigned token (alg none)']);
    const both = boundSecretClaims();
    (both['kubernetes.io'] as Record<string, unknown>).pod = { name: 'p', uid: 'u' };
    expect(classify(await sign(both, rsa)).problems).toContain('bound to a secret and to a pod or node at once');
    expect(classify(await sign(boundPodClaims({ exp: 'tomorrow' }), rsa)).problems).toContain(
      'exp is not a NumericDate',
    );
  });

  test('remaining time goes negative after expiry', async () => {
    const c = classify(await sign(unboundClaims(), rsa), at(IAT + 7200 + 5));
    expect(c.remainingSeconds).toBe(-5);
  });
});

describe('isLegacyServiceAccountJwt', () => {
  let legacy: string;
  beforeAll(async () => {
    legacy = await sign(legacyClaims('ci', 'legacy-runner'), rsa);
  });

  test('finds a bare legacy token, and only legacy ones', async () => {
    expect(isLegacyServiceAccountJwt(legacy)).toBe(true);
    expect(isLegacyServiceAccountJwt(`${legacy}\n`)).toBe(true);
    expect(isLegacyServiceAccountJwt(await sign(boundPodClaims(), rsa))).toBe(false);
    expect(isLegacyServiceAccountJwt(await sign(unboundClaims(), ec))).toBe(false);
    // The legacy issuer with an exp is not what the token controller mints.
    expect(isLegacyServiceAccountJwt(await sign({ ...legacyClaims(), exp: IAT + 60 }, rsa))).toBe(false);
    expect(isLegacyServiceAccountJwt('')).toBe(false);
    expect(isLegacyServiceAccountJwt('password=hunter2\n')).toBe(false);
  });

  test('finds one embedded in a kubeconfig, an .env file, JSON, or base64 one level down', () => {
    const kubeconfig = `apiVersion: v1
kind: Config
clusters:
- cluster: {certificate-authority-data: ${b64('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n')}, server: https://10.0.0.1:6443}
  name: prod
users:
- name: ci
  user:
    token: ${legacy}
contexts: [{context: {cluster: prod, user: ci}, name: prod}]
current-context: prod
`;
    expect(isLegacyServiceAccountJwt(kubeconfig)).toBe(true);
    expect(isLegacyServiceAccountJwt(`DB_URL=postgres://x\nKUBE_TOKEN=${legacy}\n`)).toBe(true);
    expect(isLegacyServiceAccountJwt(JSON.stringify({ auth: { bearer: legacy } }))).toBe(true);
    // A whole token Secret pasted into a value: its data.token is base64 of the JWT.
    expect(isLegacyServiceAccountJwt(`apiVersion: v1\nkind: Secret\ndata:\n  token: ${b64(legacy)}\n`)).toBe(true);
    expect(scanForLegacyTokens(kubeconfig)).toEqual({
      subjects: ['system:serviceaccount:ci:legacy-runner'],
      complete: true,
    });
  });

  test('bounded work on hostile input (1 MiB)', () => {
    const inputs = [
      'eyJ'.repeat(350_000),
      `${'eyJhbGc.'.repeat(130_000)}`,
      `${'eyJa.eyJb.'.repeat(100_000)}`,
      'A'.repeat(1024 * 1024),
      `${Buffer.from('eyJ'.repeat(260_000)).toString('base64')}`,
    ];
    for (const text of inputs) {
      const t0 = performance.now();
      expect(isLegacyServiceAccountJwt(text)).toBe(false);
      expect(performance.now() - t0).toBeLessThan(1000);
    }
    // Suspicious-looking decoys: decoded up to the cap only, then the scan stops (and says so).
    const decoys = 'eyJhbGciOiJub25lIn0.eyJL3NlcnZpY2VhY2NvdW50AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.c2ln\n'.repeat(12_000);
    const t0 = performance.now();
    expect(scanForLegacyTokens(decoys)).toEqual({ subjects: [], complete: false });
    expect(scanForLegacyTokens(Buffer.from(decoys).toString('base64'))).toEqual({ subjects: [], complete: false });
    expect(performance.now() - t0).toBeLessThan(1000);
  });

  test('ordinary JWTs do not use up the candidate budget; suspicious decoys past the cap fail closed', async () => {
    const bound = await sign(boundPodClaims(), rsa);
    const plain = `${Buffer.from('{"alg":"RS256"}').toString('base64url')}.${Buffer.from('{"sub":"x"}').toString('base64url')}.c2ln`;
    expect(scanForLegacyTokens(`${`${bound}\n${plain}\n`.repeat(500)}${legacy}`)).toEqual({
      subjects: ['system:serviceaccount:ci:legacy-runner'],
      complete: true,
    });
    // Look-alikes that mention /serviceaccount but are not legacy tokens (they expire): each is
    // decoded, up to the cap; past it, the scan stops and says so.
    const lookAlike = await sign({ ...legacyClaims(), exp: IAT + 60 }, ec);
    expect(scanForLegacyTokens(`${lookAlike}\n`.repeat(MAX_SCAN_CANDIDATES))).toEqual({ subjects: [], complete: true });
    const flood = `${`${lookAlike}\n`.repeat(MAX_SCAN_CANDIDATES + 1)}${legacy}`;
    expect(scanForLegacyTokens(flood)).toEqual({ subjects: [], complete: false });
    expect(isLegacyServiceAccountJwt(flood)).toBe(true);
    expect(isLegacyServiceAccountJwt(`${lookAlike}\n`.repeat(MAX_SCAN_CANDIDATES + 1))).toBe(true);
  });
});

describe('findLegacyTokens', () => {
  let legacy: string;
  let bound: string;
  beforeAll(async () => {
    legacy = await sign(legacyClaims('ci', 'legacy-runner'), ec);
    bound = await sign(boundPodClaims(), rsa);
  });

  test('reports the key and subject of a legacy token in base64 Secret data, never the token', () => {
    const found = findLegacyTokens({
      'ca.crt': b64('-----BEGIN CERTIFICATE-----\n'),
      token: b64(legacy),
      namespace: b64('ci'),
    });
    expect(found).toEqual([{ key: 'token', subject: 'system:serviceaccount:ci:legacy-runner' }]);
    const text = JSON.stringify(found);
    expect(text).not.toContain(legacy);
    expect(text).not.toContain(signatureOf(legacy));
    expect(text).not.toContain(legacy.split('.')[1] as string);
  });

  test('finds a kubeconfig in data, and stringData', () => {
    const kubeconfig = `users:\n- name: ci\n  user:\n    token: ${legacy}\n`;
    expect(findLegacyTokens({ config: b64(kubeconfig) })).toEqual([
      { key: 'config', subject: 'system:serviceaccount:ci:legacy-runner' },
    ]);
    expect(findLegacyTokens({}, { '.env': `TOKEN=${legacy}` })).toEqual([
      { key: '.env', subject: 'system:serviceaccount:ci:legacy-runner' },
    ]);
  });

  test('an Opaque Secret without tokens, or with a bound token only, has nothing found', () => {
    expect(
      findLegacyTokens({
        username: b64('admin'),
        password: b64('s3cr3t'),
        'tls.key': b64('-----BEGIN PRIVATE KEY-----\nMIIE\n'),
      }),
    ).toEqual([]);
    expect(findLegacyTokens({ token: b64(bound) })).toEqual([]);
    expect(findLegacyTokens(undefined)).toEqual([]);
    expect(findLegacyTokens({ weird: 42 as unknown as string })).toEqual([]);
  });

  test('several keys and several tokens', async () => {
    const other = await sign(legacyClaims('prod', 'deployer'), rsa);
    expect(findLegacyTokens({ a: b64(`${legacy}\n${other}`), b: b64(other) })).toEqual([
      { key: 'a', subject: 'system:serviceaccount:ci:legacy-runner' },
      { key: 'a', subject: 'system:serviceaccount:prod:deployer' },
      { key: 'b', subject: 'system:serviceaccount:prod:deployer' },
    ]);
  });

  test('a Secret flooded with look-alikes is reported as incomplete, never silently passed', async () => {
    const lookAlike = await sign({ ...legacyClaims(), exp: IAT + 60 }, ec);
    const found = findLegacyTokens({
      a: b64('nothing'),
      b: b64(`${lookAlike}\n`.repeat(MAX_SCAN_CANDIDATES + 1)),
      c: b64(legacy),
    });
    expect(found).toEqual([{ key: 'b', subject: 'unknown', incomplete: true }]);
  });

  test('bounded on a 1 MiB Secret of decoys', () => {
    const decoy = `eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln\n`;
    const data: Record<string, string> = {};
    for (let i = 0; i < 200; i++) data[`k${i}`] = b64(decoy.repeat(120));
    const t0 = performance.now();
    expect(findLegacyTokens(data)).toEqual([]);
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});

describe('base64 wrapped over lines', () => {
  let legacy: string;
  let bound: string;
  beforeAll(async () => {
    legacy = await sign(legacyClaims('ci', 'legacy-runner'), rsa);
    bound = await sign(boundPodClaims(), rsa);
  });
  /** `base64` as GNU coreutils writes it: `width` characters a line, a line break after each. */
  const wrapped = (s: string, width = 76, eol = '\n') =>
    `${(b64(s).match(new RegExp(`.{1,${width}}`, 'g')) ?? []).join(eol)}${eol}`;
  const found = [{ key: 'token', subject: 'system:serviceaccount:ci:legacy-runner' }];

  test('a legacy token base64-encoded by `base64` (76 columns) and stored as a Secret value is found', () => {
    expect(wrapped(legacy).split('\n').length).toBeGreaterThan(3);
    // kubectl create secret generic --from-file=token=token.b64: the data value is base64 of the wrapped text.
    expect(findLegacyTokens({ token: b64(wrapped(legacy)) })).toEqual(found);
    // The same in stringData, and with CRLF line ends, 64 columns (openssl base64), or indented in YAML.
    expect(findLegacyTokens({}, { token: wrapped(legacy) })).toEqual(found);
    expect(findLegacyTokens({ token: b64(wrapped(legacy, 76, '\r\n')) })).toEqual(found);
    expect(findLegacyTokens({}, { token: wrapped(legacy, 64) })).toEqual(found);
    const yaml = `token: |\n${wrapped(legacy)
      .split('\n')
      .map((l) => (l ? `  ${l}` : l))
      .join('\n')}`;
    expect(findLegacyTokens({ 'values.yaml': b64(`replicas: 2\n${yaml}other: x\n`) })).toEqual([
      { key: 'values.yaml', subject: 'system:serviceaccount:ci:legacy-runner' },
    ]);
    // A base64 line of prose before the block does not hide it, whatever its length.
    expect(findLegacyTokens({}, { token: `dGhpcyBpcyBub3QgaXQ\n${wrapped(legacy)}` })).toEqual(found);
    expect(findLegacyTokens({}, { token: `${'QUJD'.repeat(5)}\n${wrapped(legacy)}` })).toEqual(found);
    expect(isLegacyServiceAccountJwt(wrapped(legacy, 76, '\r\n'))).toBe(true);
  });

  test('a wrapped bound token, or wrapped non-tokens, are not reported', () => {
    expect(findLegacyTokens({}, { token: wrapped(bound) })).toEqual([]);
    expect(findLegacyTokens({}, { key: wrapped('-----BEGIN PRIVATE KEY-----\nMIIE'.repeat(40)) })).toEqual([]);
  });

  test('bounded work: every character is decoded at most twice, whatever the line structure', () => {
    const hostile = [
      `${'AAAA'.repeat(19)}\n`.repeat(14_000), // 1 MiB of 76-column lines: one block
      'AAAA\n'.repeat(200_000), // very many short lines
      `${'A'.repeat(76)}\n${'A'.repeat(75)}\n`.repeat(7_000), // blocks broken by an unaligned line
      `${'eyJh'.repeat(19)}\r\n`.repeat(14_000),
      wrapped('eyJ'.repeat(260_000)),
    ];
    for (const text of hostile) {
      const stats = { decodedCharacters: 0 };
      expect(scanForLegacyTokens(text, 16, stats)).toEqual({ subjects: [], complete: true });
      expect(stats.decodedCharacters).toBeLessThanOrEqual(2 * text.length);
    }
  });
});
