import { writeFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { runTokenCommand } from '../../../src/cli/commands/token.js';
import { duration } from '../../../src/engine/token-limits.js';
import { REPO } from '../../helpers/fixtures.js';
import { tempDir } from '../certs/helpers.js';
import {
  boundPodClaims,
  IAT,
  ISSUER,
  jwksOf,
  legacyClaims,
  type SigningKey,
  sign,
  signatureOf,
  signingKey,
  unboundClaims,
  unsignedToken,
} from './helpers.js';

let rsa: SigningKey;
let ec: SigningKey;
let otherRsa: SigningKey;
let dir: ReturnType<typeof tempDir>;
let jwksFile: string;
/** Every token made in this file: no output may contain one, its payload or its signature. */
const secrets: string[] = [];

beforeAll(async () => {
  [rsa, ec, otherRsa] = await Promise.all([signingKey('RS256'), signingKey('ES256'), signingKey('RS256')]);
  dir = tempDir('token-cli');
  jwksFile = join(dir.dir, 'jwks.json');
  writeFileSync(jwksFile, JSON.stringify(jwksOf(rsa, ec)));
});
afterAll(() => dir.cleanup());

async function token(
  claims: Record<string, unknown>,
  key: SigningKey = rsa,
  header: Record<string, unknown> = {},
): Promise<string> {
  const t = await sign(claims, key, header);
  remember(t);
  return t;
}

function remember(t: string): string {
  secrets.push(t);
  for (const part of t.split('.').slice(1)) if (part.length >= 8) secrets.push(part);
  return t;
}

function file(name: string, content: string): string {
  const p = join(dir.dir, name);
  writeFileSync(p, content);
  return p;
}

const NOW = ['--now', new Date((IAT + 600) * 1000).toISOString()];

/** Runs the command and checks that nothing secret came out, whatever happened. */
async function run(args: string[], stdin?: string) {
  let stdout = '';
  let stderr = '';
  const code = await runTokenCommand(args, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    readStdin: () => stdin ?? '',
  });
  for (const s of secrets) {
    expect(stdout).not.toContain(s);
    expect(stderr).not.toContain(s);
  }
  return { code, stdout, stderr, json: () => JSON.parse(stdout) };
}

/** The pod-bound claims of a pod in `team-a`, with the given lifetime and no extension. */
function teamPodClaims(lifetime: number, aud: string[] = [ISSUER]): Record<string, unknown> {
  const claims = boundPodClaims({ exp: IAT + lifetime, aud, sub: 'system:serviceaccount:team-a:web' });
  const k8s = claims['kubernetes.io'] as Record<string, unknown>;
  claims['kubernetes.io'] = {
    ...k8s,
    namespace: 'team-a',
    serviceaccount: { name: 'web', uid: 'u-1' },
    warnafter: undefined,
  };
  return claims;
}

describe('token inspect: what it prints', () => {
  test('an extended API token, verified: every field, text and json, and never the token', async () => {
    const t = await token(boundPodClaims());
    const f = file('pod.jwt', `${t}\n`);
    const text = await run(['inspect', f, '--jwks', jwksFile, '--issuer', ISSUER, ...NOW]);
    expect(text.code).toBe(0);
    expect(text.stderr).toBe('');
    const lines = text.stdout;
    expect(lines).toMatch(/^source: +.*pod\.jwt$/m);
    expect(lines).toMatch(/^kind: +bound to a pod$/m);
    expect(lines).toMatch(/^issuer: +https:\/\/kubernetes\.default\.svc\.cluster\.local$/m);
    expect(lines).toMatch(/^subject: +system:serviceaccount:kube-system:coredns$/m);
    expect(lines).toMatch(/^namespace: +kube-system$/m);
    expect(lines).toMatch(/^service account: +coredns \(uid a087d5a0-e1dd-43ec-93ac-f13d89cd13af\)$/m);
    expect(lines).toMatch(
      /^bound object: +Pod coredns-69cbfb9798-jv9gn \(uid 778a530c-b3f4-47c0-9cd5-ab018fb64f33\)$/m,
    );
    expect(lines).toMatch(/^node: +127\.0\.0\.1 /m);
    expect(lines).toMatch(/^issued: +2023-11-15T19:43:33Z$/m);
    expect(lines).toMatch(/^expires: +2024-11-14T19:43:33Z \(in 364d 23h 50m\)$/m);
    expect(lines).toMatch(/^lifetime: +31536000 s \(365d\)$/m);
    expect(lines).toMatch(
      /^warnafter: +2023-11-15T20:43:40Z \(in 50m 7s\): extended; requested for 3607 s, accepted until exp, 365d after issue/m,
    );
    expect(lines).toMatch(/^audiences: +https:\/\/kubernetes\.default\.svc\.cluster\.local \(API server\)$/m);
    expect(lines).toMatch(/^signature: +verified with keys from .*jwks\.json$/m);
    expect(lines).toMatch(/^ {2}WARNING extended-expiration: /m);

    const json = (await run(['inspect', f, '--jwks', jwksFile, '--output', 'json', ...NOW])).json();
    expect(json).toMatchObject({
      kind: 'bound-pod',
      subject: 'system:serviceaccount:kube-system:coredns',
      namespace: 'kube-system',
      serviceAccount: { name: 'coredns', uid: 'a087d5a0-e1dd-43ec-93ac-f13d89cd13af' },
      boundObject: { kind: 'Pod', name: 'coredns-69cbfb9798-jv9gn' },
      issuedAt: '2023-11-15T19:43:33Z',
      expiresAt: '2024-11-14T19:43:33Z',
      warnAfter: '2023-11-15T20:43:40Z',
      extended: true,
      intendedLifetimeSeconds: 3607,
      lifetimeSeconds: 31536000,
      remainingSeconds: 31536000 - 600,
      audiences: [ISSUER],
      algorithm: 'RS256',
      keyId: rsa.kid,
      signature: { checked: true, verified: true, keySource: jwksFile },
    });
    expect(json.findings.map((x: { code: string; level: string }) => `${x.level}:${x.code}`)).toEqual([
      'warning:extended-expiration',
    ]);
  });

  test('a legacy token never expires: exit 1, whatever else', async () => {
    const t = await token(legacyClaims(), ec);
    for (const output of ['text', 'json']) {
      const r = await run(['inspect', file('legacy.jwt', t), '--jwks', jwksFile, '--output', output, ...NOW]);
      expect(r.code).toBe(1);
      if (output === 'json') {
        expect(r.json()).toMatchObject({
          kind: 'legacy',
          secretName: 'build-robot-secret',
          signature: { verified: true },
        });
        expect(r.json().findings).toEqual([expect.objectContaining({ level: 'error', code: 'no-expiry' })]);
      } else {
        expect(r.stdout).toMatch(/^kind: +legacy \(Secret-based, never expires\)$/m);
        expect(r.stdout).toMatch(/^expires: +never \(no exp\)$/m);
        expect(r.stdout).toMatch(/^secret: +build-robot-secret$/m);
        expect(r.stdout).toMatch(/ERROR {3}no-expiry: legacy Secret-based token/);
      }
    }
  });

  test('wrong key, expired, alg none: flagged, exit 1', async () => {
    const wrong = await token(boundPodClaims(), otherRsa, { kid: rsa.kid });
    const r1 = await run(['inspect', file('wrong.jwt', wrong), '--jwks', jwksFile, ...NOW]);
    expect(r1.code).toBe(1);
    expect(r1.stdout).toMatch(/^signature: +NOT verified: signature does not match the key$/m);
    expect(r1.stdout).toMatch(/ERROR {3}not-verified: /);

    const expired = await token(unboundClaims(), rsa);
    const r2 = await run([
      'inspect',
      file('expired.jwt', expired),
      '--jwks',
      jwksFile,
      '--output',
      'json',
      '--now',
      new Date((IAT + 7300) * 1000).toISOString(),
    ]);
    expect(r2.code).toBe(1);
    expect(r2.json().findings.map((x: { code: string }) => x.code)).toEqual(['expired', 'not-verified']);

    const none = remember(unsignedToken(legacyClaims()));
    const r3 = await run(['inspect', file('none.jwt', none), '--jwks', jwksFile, '--output', 'json', ...NOW]);
    expect(r3.code).toBe(1);
    expect(r3.json().findings.map((x: { code: string }) => x.code)).toEqual([
      'unsigned',
      'inconsistent-claims',
      'no-expiry',
      'not-verified',
    ]);
    expect(r3.json().signature.reason).toMatch(/"none" is not accepted/);
  });

  test('without keys the signature is not checked, and --issuer/--audience are compared with the claims', async () => {
    const f = file('unbound.jwt', await token(unboundClaims()));
    const r = await run(['inspect', f, ...NOW]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^signature: +not checked \(give --jwks FILE\|URL or an https --issuer\)$/m);
    expect(r.stdout).toMatch(/^findings: none$/m);
    const mismatch = await run([
      'inspect',
      f,
      '--issuer',
      'kubernetes/serviceaccount',
      '--audience',
      'vault',
      '--output',
      'json',
      ...NOW,
    ]);
    expect(mismatch.code).toBe(1);
    expect(mismatch.json().findings.map((x: { code: string }) => x.code)).toEqual([
      'issuer-mismatch',
      'audience-mismatch',
    ]);
  });
});

describe('token inspect: limits from flags and policies', () => {
  test('--max-expiration and --allowed-audience; the API server audience is always allowed', async () => {
    const f = file('sts.jwt', await token(unboundClaims({ aud: ['sts.amazonaws.com', ISSUER] })));
    const r = await run([
      'inspect',
      f,
      '--max-expiration',
      '3600',
      '--allowed-audience',
      'vault',
      '--output',
      'json',
      ...NOW,
    ]);
    expect(r.code).toBe(1);
    expect(r.json().findings).toEqual([
      {
        level: 'error',
        code: 'lifetime-over-maximum',
        message: 'lifetime 7200 s (2h) is over the maximum 3600 s (1h)',
        source: 'command line',
      },
      {
        level: 'error',
        code: 'audience-not-allowed',
        message: 'audience "sts.amazonaws.com" not allowed (allowed: vault, and the API server\'s own)',
        source: 'command line',
      },
    ]);
    expect((await run(['inspect', f, '--max-expiration', '7200', '--allowed-audience', 'sts.*', ...NOW])).code).toBe(0);
    // An API server with --api-audiences set: say which audiences are its own.
    const api = file('api-aud.jwt', await token(unboundClaims({ aud: ['https://api.example'] })));
    expect((await run(['inspect', api, '--allowed-audience', 'vault', ...NOW])).code).toBe(1);
    expect(
      (await run(['inspect', api, '--allowed-audience', 'vault', '--api-audience', 'https://api.example', ...NOW]))
        .code,
    ).toBe(0);
  });

  test('an extended token is held to what it lives, a year, not to its 3607 s warn threshold', async () => {
    const f = file('ext.jwt', await token(boundPodClaims()));
    const over = await run(['inspect', f, '--max-expiration', '3607', '--output', 'json', ...NOW]);
    expect(over.code).toBe(1);
    expect(over.json().findings.map((x: { code: string }) => x.code)).toEqual([
      'extended-expiration',
      'lifetime-over-maximum',
    ]);
    expect(over.json().findings[1]).toMatchObject({
      code: 'lifetime-over-maximum',
      message: 'lifetime 31536000 s (365d) is over the maximum 3607 s (1h 0m 7s)',
    });
    const ok = await run(['inspect', f, '--max-expiration', '31536000', '--output', 'json', ...NOW]);
    expect(ok.code).toBe(0);
    expect(ok.json().findings.map((x: { code: string }) => x.code)).toEqual(['extended-expiration']);
  });

  test("an explicit API server audience is the API server's own: allowed by every audience list, by default and with --api-audience globs", async () => {
    const f = file('svc.jwt', await token(unboundClaims({ aud: ['https://kubernetes.default.svc'] }))); // not the issuer
    expect((await run(['inspect', f, '--allowed-audience', 'vault', ...NOW])).code).toBe(0);
    const r = await run([
      'inspect',
      f,
      '--allowed-audience',
      'vault',
      '--api-audience',
      'https://api.*.example',
      '--output',
      'json',
      ...NOW,
    ]);
    expect(r.code).toBe(1);
    expect(r.json().findings.map((x: { code: string }) => x.code)).toEqual(['audience-not-allowed']);
    const g = file('glob.jwt', await token(unboundClaims({ aud: ['https://api.eu.example'] })));
    expect(
      (await run(['inspect', g, '--allowed-audience', 'vault', '--api-audience', 'https://api.*.example', ...NOW]))
        .code,
    ).toBe(0);
  });

  test('the shipped policies: pod-bound tokens against projectedTokens.bounds, kube-system excluded', async () => {
    const policies = join(REPO, 'policies');
    const long = file('long.jwt', await token(teamPodClaims(2 * 86400, ['vault'])));
    const r = await run(['inspect', long, '--policies', policies, '--output', 'json', ...NOW]);
    expect(r.code).toBe(1);
    expect(r.json().limits).toEqual([
      { source: 'policy token-bounds (spec.projectedTokens.bounds)', level: 'error', maxExpirationSeconds: 86400 },
    ]);
    expect(r.json().findings).toEqual([
      {
        level: 'error',
        code: 'lifetime-over-maximum',
        message: 'lifetime 172800 s (2d) is over the maximum 86400 s (1d)',
        source: 'policy token-bounds (spec.projectedTokens.bounds)',
      },
    ]);
    const text = await run(['inspect', long, '--policies', policies, ...NOW]);
    expect(text.stdout).toMatch(/^limit: +max 86400 s from policy token-bounds \(spec\.projectedTokens\.bounds\)$/m);
    expect(
      (
        await run([
          'inspect',
          file('short.jwt', await token(teamPodClaims(3600, ['vault']))),
          '--policies',
          policies,
          ...NOW,
        ])
      ).code,
    ).toBe(0);
    const system = await run([
      'inspect',
      file('sys.jwt', await token(boundPodClaims({ exp: IAT + 2 * 86400 }))),
      '--policies',
      policies,
      '--output',
      'json',
      ...NOW,
    ]);
    expect(system.json().limits).toEqual([]);
  });

  test("the pod's API token is held to apiTokenExpirationSeconds, not to bounds, as pod admission holds it", async () => {
    const policies = join(REPO, 'policies');
    // Two days: over token-bounds' 86400, which pod admission does not apply to the API token.
    const api = await run([
      'inspect',
      file('api-long.jwt', await token(teamPodClaims(2 * 86400))),
      '--policies',
      policies,
      '--output',
      'json',
      ...NOW,
    ]);
    expect(api.json().limits).toEqual([
      {
        source: 'policy api-token-expiration (spec.projectedTokens.apiTokenExpirationSeconds)',
        level: 'warning',
        maxExpirationSeconds: 3600,
      },
    ]);
    expect(api.json().findings).toEqual([
      expect.objectContaining({
        level: 'warning',
        code: 'lifetime-over-maximum',
        source: 'policy api-token-expiration (spec.projectedTokens.apiTokenExpirationSeconds)',
      }),
    ]);
    expect(api.code).toBe(0); // the shipped api-token-expiration policy is Audit
    // Under one policy's apiTokenExpirationSeconds but over another's bounds maximum: no finding.
    const doc = (name: string, projected: string) =>
      `apiVersion: tokenguard.dev/v1alpha1\nkind: TokenPolicy\nmetadata: {name: ${name}}\nspec:\n  mode: Enforce\n  projectedTokens: ${projected}\n`;
    const tight = file(
      'tight.yaml',
      `${doc('tight', '{apiTokenExpirationSeconds: 7200}')}---\n${doc('bounds', '{bounds: {maxExpirationSeconds: 1800}}')}`,
    );
    const ok = await run([
      'inspect',
      file('api-1h.jwt', await token(teamPodClaims(3600))),
      '--policies',
      tight,
      '--output',
      'json',
      ...NOW,
    ]);
    expect(ok.code).toBe(0);
    expect(ok.json().findings).toEqual([]);
    const over = await run([
      'inspect',
      file('api-3h.jwt', await token(teamPodClaims(3 * 3600))),
      '--policies',
      tight,
      '--output',
      'json',
      ...NOW,
    ]);
    expect(over.code).toBe(1);
    expect(over.json().findings[0]).toMatchObject({
      level: 'error',
      code: 'lifetime-over-maximum',
      source: 'policy tight (spec.projectedTokens.apiTokenExpirationSeconds)',
    });
  });

  test('TokenRequest tokens against spec.tokenRequests; Audit policies warn', async () => {
    const policy = (name: string, mode: string) =>
      `apiVersion: tokenguard.dev/v1alpha1
kind: TokenPolicy
metadata: {name: ${name}}
spec:
  mode: ${mode}
  match: {namespaces: ["ci"]}
  tokenRequests: {maxExpirationSeconds: 3600, allowedAudiences: ["vault"]}
`;
    const enforce = file('enforce.yaml', policy('token-requests', 'Enforce'));
    const audit = file('audit.yaml', policy('token-requests-audit', 'Audit'));
    const f = file('ci.jwt', await token(unboundClaims({ aud: ['sts.amazonaws.com'] })));
    const r = await run(['inspect', f, '--policies', enforce, '--output', 'json', ...NOW]);
    expect(r.code).toBe(1);
    expect(
      r.json().findings.map((x: { level: string; code: string; source: string }) => `${x.level}:${x.code}:${x.source}`),
    ).toEqual([
      'error:lifetime-over-maximum:policy token-requests (spec.tokenRequests)',
      'error:audience-not-allowed:policy token-requests (spec.tokenRequests)',
    ]);
    const a = await run(['inspect', f, '--policies', audit, '--output', 'json', ...NOW]);
    expect(a.code).toBe(0);
    expect(a.json().findings.map((x: { level: string }) => x.level)).toEqual(['warning', 'warning']);
    // Another namespace: the policy does not apply.
    const other = file(
      'other.jwt',
      await token(
        unboundClaims({
          sub: 'system:serviceaccount:prod:deployer',
          'kubernetes.io': { namespace: 'prod', serviceaccount: { name: 'deployer', uid: 'u' } },
        }),
      ),
    );
    expect((await run(['inspect', other, '--policies', enforce, ...NOW])).code).toBe(0);
  });
});

describe('token inspect: inputs', () => {
  test('the token as an argument (with a note on shell history), on stdin, or inside a kubeconfig', async () => {
    const t = await token(unboundClaims(), ec);
    const arg = await run(['inspect', t, '--jwks', jwksFile, ...NOW]);
    expect(arg.code).toBe(0);
    expect(arg.stdout).toMatch(/^source: +argument$/m);
    expect(arg.stderr).toMatch(/shell history/);
    const stdin = await run(['inspect', '-', '--jwks', jwksFile, ...NOW], `Bearer ${t}\n`);
    expect(stdin.code).toBe(0);
    expect(stdin.stdout).toMatch(/^source: +stdin$/m);
    const kubeconfig = file(
      'kubeconfig',
      `apiVersion: v1\nkind: Config\nusers:\n- name: ci\n  user:\n    token: ${t}\n`,
    );
    const kc = await run(['inspect', kubeconfig, '--jwks', jwksFile, ...NOW]);
    expect(kc.code).toBe(0);
    expect(kc.stdout).toMatch(/^signature: +verified with keys from /m);
    expect(kc.stderr).toMatch(/inspected the token found inside .*kubeconfig/);
    // A file whose name looks like a JWT (three dotted parts) is still a file.
    file('token.v1.jwt', t);
    const cwd = process.cwd();
    process.chdir(dir.dir);
    let byName: Awaited<ReturnType<typeof run>>;
    try {
      byName = await run(['inspect', 'token.v1.jwt', ...NOW]);
    } finally {
      process.chdir(cwd);
    }
    expect(byName.code).toBe(0);
    expect(byName.stdout).toMatch(/^source: +token\.v1\.jwt$/m);
    const two = file('two', `a: ${t}\nb: ${await token(legacyClaims())}\n`);
    expect(await run(['inspect', two, ...NOW])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/holds 2 tokens; give one/),
    });
  });

  test('keys from a server: a JWKS URL or the issuer', async () => {
    const server = http.createServer((req, res) => {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      if (req.url === '/openid/v1/jwks') res.writeHead(200).end(JSON.stringify(jwksOf(rsa, ec)));
      else if (req.url === '/.well-known/openid-configuration')
        res.writeHead(200).end(JSON.stringify({ issuer: ISSUER, jwks_uri: `${base}/openid/v1/jwks` }));
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const f = file('remote.jwt', await token(boundPodClaims()));
      for (const url of [`${base}/openid/v1/jwks`, base]) {
        const r = await run(['inspect', f, '--jwks', url, '--issuer', ISSUER, ...NOW]);
        expect(r.code).toBe(0);
        expect(r.stdout).toContain(`signature:       verified with keys from ${base}/openid/v1/jwks`);
      }
      const down = await run(['inspect', f, '--jwks', `${base}/nothing/here`, ...NOW]);
      expect(down.code).toBe(2);
      expect(down.stderr).toMatch(/cannot get the keys: .*HTTP 404/);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  test('unreadable input is exit 2, and a message that never echoes a token', async () => {
    const good = await token(unboundClaims());
    const [h, c] = good.split('.') as [string, string];
    const twoParts = remember(`${h}.${c}`);
    const badJson = remember(`${h}.${Buffer.from('{"sub":').toString('base64url')}.${signatureOf(good)}`);
    const huge = remember(
      `${h}.${Buffer.from(JSON.stringify({ pad: 'x'.repeat(20_000) })).toString('base64url')}.${signatureOf(good)}`,
    );
    const cases: [string[], string | undefined, RegExp][] = [
      [
        ['inspect', join(dir.dir, 'missing.jwt')],
        undefined,
        /^the argument \(\d+ characters\) is neither a readable file \(ENOENT\) nor a well-formed JWT/,
      ],
      [
        ['inspect', twoParts],
        undefined,
        /^argument: not a readable JWT: a JWT has 3 dot-separated parts; this has 2\n$/,
      ],
      [
        ['inspect', h],
        undefined,
        /^the argument \(\d+ characters\) is neither a readable file \(ENOENT\) nor a well-formed JWT \(three base64url parts\); it is not shown, as it may be a secret\n$/,
      ],
      [
        ['inspect', file('two-parts.jwt', twoParts)],
        undefined,
        /not a readable JWT: a JWT has 3 dot-separated parts; this has 2/,
      ],
      [['inspect', file('bad-json.jwt', badJson)], undefined, /not a readable JWT: the claims are not JSON/],
      [['inspect', badJson], undefined, /argument: not a readable JWT: the claims are not JSON/],
      [['inspect', file('huge.jwt', huge)], undefined, /not a readable JWT: token is over 16384 bytes/],
      [['inspect', '-'], '', /-?stdin|empty/],
      [['inspect', file('prose.txt', 'hello world\n')], undefined, /no JWT found/],
      [['inspect', file('ok.jwt', good), '--output', 'yaml'], undefined, /--output must be text or json/],
      [['inspect', file('ok.jwt', good), '--now', 'yesterday'], undefined, /--now must be an ISO date/],
      [
        ['inspect', file('ok.jwt', good), '--max-expiration', '1h'],
        undefined,
        /--max-expiration must be a positive whole number/,
      ],
      [
        ['inspect', file('ok.jwt', good), '--jwks', join(dir.dir, 'nokeys.json')],
        undefined,
        /nokeys\.json: cannot read: ENOENT/,
      ],
      [['inspect', file('ok.jwt', good), '--policies', join(dir.dir, 'nopolicies')], undefined, /nopolicies/],
      [['inspect', file('ok.jwt', good), '--bogus'], undefined, /Unknown option '--bogus'/],
      [['inspect'], undefined, /give exactly one TOKEN, FILE or -/],
      [['inspect', good, good], undefined, /give exactly one TOKEN, FILE or - \(got 2\)/],
      [['decode', good], undefined, /usage: tokenguard token inspect/],
    ];
    for (const [args, stdin, message] of cases) {
      const r = await run([args[0] as string, ...NOW, ...args.slice(1)], stdin);
      expect({ args: args.map((a) => a.slice(0, 40)), code: r.code }).toEqual({
        args: args.map((a) => a.slice(0, 40)),
        code: 2,
      });
      expect(r.stderr).toMatch(message);
      expect(r.stdout).toBe('');
    }
  });

  test('help', async () => {
    const r = await run(['inspect', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/usage: tokenguard token inspect/);
  });
});

test('duration', () => {
  expect(duration(3607)).toBe('1h 0m 7s');
  expect(duration(31536000)).toBe('365d');
  expect(duration(0)).toBe('0s');
  expect(duration(90061)).toBe('1d 1h 1m 1s');
  expect(duration(-60)).toBe('-1m');
});
