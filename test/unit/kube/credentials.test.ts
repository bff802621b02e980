import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ExecConfig } from '../../../src/kube/config.js';
import { credentialSource, TOKEN_FILE_MAX_AGE_MS, TokenFile } from '../../../src/kube/credentials.js';
import { ExecCredentialPlugin, parseExecCredential, redactSecrets } from '../../../src/kube/exec.js';
import { waitFor } from '../facts/fake-apiserver.js';
import { hangingPlugin, isRunning, writeFiles, writePlugin } from './helpers.js';

const V1 = 'client.authentication.k8s.io/v1';
const V1BETA1 = 'client.authentication.k8s.io/v1beta1';

describe('token files are re-read once older than a minute (bound tokens rotate)', () => {
  test('cached for 60 s, then read again; a failed re-read keeps the last token', async () => {
    const dir = writeFiles({ token: 'first\n' });
    let clock = 1_000_000;
    const file = new TokenFile(join(dir, 'token'), undefined, { now: () => clock });
    expect(await file.token()).toBe('first');
    writeFileSync(join(dir, 'token'), 'second');
    clock += TOKEN_FILE_MAX_AGE_MS - 1;
    expect(await file.token()).toBe('first'); // still fresh
    expect(file.reads).toBe(1);
    clock += 1;
    expect(await file.token()).toBe('second');
    expect(file.reads).toBe(2);
    rmSync(join(dir, 'token'));
    clock += TOKEN_FILE_MAX_AGE_MS;
    expect(await file.token()).toBe('second'); // client-go: "Unable to rotate token", keeps the old one
    expect(file.reads).toBe(3);
  });

  test('nothing read yet: the kubeconfig token is the fallback; without one, an error naming the file but no content', async () => {
    const dir = writeFiles({ empty: '  \n' });
    await expect(new TokenFile(join(dir, 'nope'), 'from-kubeconfig').token()).resolves.toBe('from-kubeconfig');
    await expect(new TokenFile(join(dir, 'nope'), undefined).token()).rejects.toThrow(
      `cannot read the token file ${join(dir, 'nope')} (ENOENT)`,
    );
    await expect(new TokenFile(join(dir, 'empty'), undefined).token()).rejects.toThrow('(it is empty)');
  });

  test('the credential source sends the file token, re-reads it on a 401 and asks for a retry only if it changed', async () => {
    const dir = writeFiles({ token: 'one' });
    const source = credentialSource({
      source: 't',
      server: 'https://x',
      user: { token: 'one', tokenFile: join(dir, 'token') },
    });
    const used = await source.get();
    expect(used.authorization).toBe('Bearer one');
    expect(await source.refused(used)).toBe(false); // same content: retrying would not help
    writeFileSync(join(dir, 'token'), 'two');
    expect(await source.refused(used)).toBe(true);
    expect((await source.get()).authorization).toBe('Bearer two');
  });

  test('static token, basic auth, client certificate, nothing', async () => {
    const get = (user: object) => credentialSource({ source: 't', server: 'https://x', user }).get();
    await expect(get({ token: 'abc' })).resolves.toEqual({ authorization: 'Bearer abc' });
    await expect(get({ username: 'admin', password: 'p:w' })).resolves.toEqual({
      authorization: `Basic ${Buffer.from('admin:p:w').toString('base64')}`,
    });
    await expect(get({ clientCertificate: 'C', clientKey: 'K' })).resolves.toEqual({
      clientCertificate: 'C',
      clientKey: 'K',
    });
    await expect(get({})).resolves.toEqual({});
  });
});

describe('exec credential plugins', () => {
  const plugin = writePlugin();
  const config = (extra: Partial<ExecConfig> = {}, env: Record<string, string> = {}): ExecConfig => ({
    apiVersion: V1,
    command: process.execPath,
    args: [plugin.script, 'get-token', '--cluster=c1'],
    env: [
      { name: 'PLUGIN_LOG', value: plugin.log },
      { name: 'EXTRA', value: 'from-kubeconfig' },
      ...Object.entries(env).map(([name, value]) => ({ name, value })),
    ],
    interactiveMode: 'IfAvailable',
    ...extra,
  });
  const runs = () =>
    readFileSync(plugin.log, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { args: string[]; info: unknown; extra: string });

  beforeEach(() => rmSync(plugin.log, { force: true }));

  test('runs the command with its args, env and KUBERNETES_EXEC_INFO; caches the token until expirationTimestamp', async () => {
    let clock = Date.parse('2030-01-01T00:00:00Z');
    const p = new ExecCredentialPlugin(
      config({ cluster: { server: 'https://c1.example' } }, { PLUGIN_EXPIRES: '2030-01-01T00:10:00Z' }),
      { now: () => clock },
    );
    const [a, b] = await Promise.all([p.get(), p.get()]); // concurrent callers share one run
    expect(a).toEqual({ token: 'tok-1', expiresAt: Date.parse('2030-01-01T00:10:00Z') });
    expect(b).toBe(a);
    expect(runs()).toEqual([
      {
        args: ['get-token', '--cluster=c1'],
        info: {
          apiVersion: V1,
          kind: 'ExecCredential',
          spec: { interactive: false, cluster: { server: 'https://c1.example' } },
        },
        extra: 'from-kubeconfig',
      },
    ]);
    clock = Date.parse('2030-01-01T00:09:59Z');
    expect((await p.get()).token).toBe('tok-1');
    clock = Date.parse('2030-01-01T00:10:00Z');
    expect((await p.get()).token).toBe('tok-2');
    expect(p.runs).toBe(2);
  });

  test('no expirationTimestamp: cached until the API server refuses it (401), then run again once', async () => {
    const p = new ExecCredentialPlugin(config({ apiVersion: V1BETA1 }));
    const first = await p.get();
    expect(first).toEqual({ token: 'tok-1' });
    expect(await p.get()).toBe(first);
    const [again, twice] = await Promise.all([p.refused(first), p.refused(first)]);
    expect([again, twice]).toEqual([true, true]);
    expect(p.runs).toBe(2); // two 401s for the same credential: one new run
    expect((await p.get()).token).toBe('tok-2');
    expect(runs()[0]?.info).toMatchObject({ apiVersion: V1BETA1 });
  });

  test('through the credential source: Bearer from the plugin; a client certificate from the plugin too', async () => {
    const dir = writeFiles({
      'c.pem': '-----BEGIN CERTIFICATE-----\nA\n',
      'k.pem': '-----BEGIN PRIVATE KEY-----\nB\n',
    });
    const token = credentialSource({ source: 't', server: 'https://x', user: { exec: config() } });
    expect((await token.get()).authorization).toBe('Bearer tok-1');
    const cert = credentialSource({
      source: 't',
      server: 'https://x',
      user: {
        exec: config({}, { PLUGIN_MODE: 'cert', PLUGIN_CERT: join(dir, 'c.pem'), PLUGIN_KEY: join(dir, 'k.pem') }),
      },
    });
    const got = await cert.get();
    expect(got).toMatchObject({
      clientCertificate: '-----BEGIN CERTIFICATE-----\nA\n',
      clientKey: '-----BEGIN PRIVATE KEY-----\nB\n',
    });
    expect(got.authorization).toBeUndefined();
    // a static token wins over exec (client-go: the plugin is not even run)
    rmSync(plugin.log, { force: true });
    const both = credentialSource({ source: 't', server: 'https://x', user: { token: 'static', exec: config() } });
    expect((await both.get()).authorization).toBe('Bearer static');
    expect(() => readFileSync(plugin.log)).toThrow();
  });

  test('a failing plugin: the error names the command, the exit code and the last lines of its stderr, never its stdout', async () => {
    const p = new ExecCredentialPlugin(config({}, { PLUGIN_MODE: 'fail' }));
    const err = await p.get().then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).toBe(
      `exec plugin "${process.execPath}" failed (exit code 3); its stderr ended with: "some progress" / "login required"`,
    );
    expect(err?.message).not.toContain('leaked-secret');
    const garbage = await new ExecCredentialPlugin(config({}, { PLUGIN_MODE: 'garbage' })).get().catch((e: Error) => e);
    expect(String(garbage)).toContain(
      `exec plugin "${process.execPath}" did not print an ExecCredential (its output is not JSON); its stderr ended with: "warning: printing a plain token, not an ExecCredential"`,
    );
    expect(String(garbage)).not.toContain('leaked-secret');
  });

  test('a failing plugin’s stderr: only its last lines, with tokens, keys and passwords redacted', async () => {
    const err = await new ExecCredentialPlugin(config({}, { PLUGIN_MODE: 'fail-verbose' }))
      .get()
      .catch((e: Error) => e);
    expect(String(err)).not.toContain('leaked');
    expect(String(err)).not.toContain('AKIA');
    expect((err as Error).message).toBe(
      `exec plugin "${process.execPath}" failed (exit code 1); its stderr ended with: ` +
        [
          'using cache /home/user/.kube/cache/oidc-login/4f2a9c',
          'error: refresh token [redacted] expired',
          'retrying with Authorization: [redacted] [redacted]',
          'fallback key [redacted] password=[redacted]',
          'login required: open https://login.example.com/device and enter the code ABCD-EFGH',
        ]
          .map((l) => JSON.stringify(l))
          .join(' / '),
    );
  });

  test('not found (with the install hint), the wrong apiVersion back, interactiveMode Always', async () => {
    await expect(
      new ExecCredentialPlugin(config({ command: '/nonexistent/kubelogin', installHint: 'install kubelogin' })).get(),
    ).rejects.toThrow('exec plugin "/nonexistent/kubelogin" not found\n\ninstall kubelogin');
    await expect(new ExecCredentialPlugin(config({}, { PLUGIN_API: V1BETA1 })).get()).rejects.toThrow(
      `is configured to use API version ${V1}, plugin returned version "${V1BETA1}"`,
    );
    await expect(new ExecCredentialPlugin(config({ interactiveMode: 'Always' })).get()).rejects.toThrow(
      'interactiveMode is Always, and standard input is not a terminal',
    );
  });

  test('a plugin that hangs is killed after the timeout', async () => {
    const dir = writeFiles({ 'hang.mjs': 'setTimeout(() => {}, 60_000);' });
    const p = new ExecCredentialPlugin({ ...config(), args: [join(dir, 'hang.mjs')] }, { timeoutMs: 300 });
    await expect(p.get()).rejects.toThrow('did not finish within 300 ms');
  });

  test('a plugin whose own child keeps its output open is killed with it, and the run ends at the timeout', async () => {
    // The child inherits stdout and would outlive the plugin's own process by a minute.
    const plugin = hangingPlugin();
    const outcome = new ExecCredentialPlugin(plugin.exec, { timeoutMs: 2_000 }).get().then(
      () => 'resolved',
      (e: Error) => e.message,
    );
    try {
      const pids = await plugin.pids();
      expect(await outcome).toBe(`exec plugin "${process.execPath}" did not finish within 2000 ms`);
      await waitFor('plugin and child are gone', () => !pids.some(isRunning));
    } finally {
      plugin.kill();
    }
  }, 15_000);

  test.each([
    [{ kind: 'ExecCredential', apiVersion: V1 }, "didn't return a status field"],
    [{ kind: 'ExecCredential', apiVersion: V1, status: {} }, "didn't return a token or cert/key pair"],
    [
      { kind: 'ExecCredential', apiVersion: V1, status: { clientCertificateData: 'c' } },
      'returned only certificate or key, not both',
    ],
    [
      { kind: 'ExecCredential', apiVersion: V1, status: { token: 'secret-tok', expirationTimestamp: 'tomorrow' } },
      'not a RFC 3339 time',
    ],
    [{ kind: 'Other', apiVersion: V1, status: { token: 'secret-tok' } }, 'printed kind "Other", not ExecCredential'],
  ])('parseExecCredential refuses %j', (doc, message) => {
    expect(() => parseExecCredential(JSON.stringify(doc), V1, 'p')).toThrow(message);
    try {
      parseExecCredential(JSON.stringify(doc), V1, 'p');
    } catch (e) {
      expect((e as Error).message).not.toContain('secret-tok');
    }
  });
});

test.each([
  ['error: token expired', 'error: token expired'],
  [
    'open https://login.microsoftonline.com/common/oauth2/devicecode and enter ABCD1234',
    'open https://login.microsoftonline.com/common/oauth2/devicecode and enter ABCD1234',
  ],
  [
    'cache /home/ci/.kube/cache/oidc-login/0a1b2c3d4e5f60718293a4b5c6d7e8f9',
    'cache /home/ci/.kube/cache/oidc-login/[redacted]',
  ],
  ['id_token=abc.def.ghi', 'id_token=[redacted]'],
  ['"refresh_token": "1//0gABCDEF"', '"refresh_token": [redacted]'],
  ['Password: hunter2', 'Password: [redacted]'],
  ['got eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sig', 'got [redacted]'],
  ['Authorization: Bearer abc', 'Authorization: [redacted] [redacted]'],
  [
    'key AKIAIOSFODNN7EXAMPLE and secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
    'key [redacted] and secret [redacted]',
  ],
  ['request 5b1c6d2e-0000-4000-8000-000000000001 failed', 'request [redacted] failed'],
])('redactSecrets(%j) is %j', (line, want) => {
  expect(redactSecrets(line)).toBe(want);
});
