/**
 * Scenario 15: tokens themselves (issue 8). A token the real API server issues is inspected by
 * `tokenguard token inspect` and verified against that API server's own keys, fetched from
 * `/openid/v1/jwks` over https with the cluster CA and a ServiceAccount token as the bearer. The
 * token text never appears in the command's output.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadState } from './env.js';
import { ensureNamespace, kubectlOk } from './kube.js';
import { CLI } from './tokenguard.js';

const NS = 'e2e-tokens';

function inspect(args: string[], stdin: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [CLI, 'token', 'inspect', ...args],
      { encoding: 'utf8' },
      (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
    child.stdin?.end(stdin);
  });
}

describe('scenario 15: token inspect against the API server that issued the token', () => {
  let dir = '';
  let token = '';
  let keysArgs: string[] = [];

  beforeAll(async () => {
    await ensureNamespace(NS);
    await kubectlOk(['create', 'serviceaccount', 'inspector', '-n', NS]);
    token = (
      await kubectlOk(['create', 'token', 'inspector', '-n', NS, '--duration=20m', '--audience=vault'])
    ).stdout.trim();
    const bearer = (await kubectlOk(['create', 'token', 'default', '-n', NS, '--duration=10m'])).stdout.trim();
    dir = mkdtempSync(join(tmpdir(), 'tg-inspect-'));
    writeFileSync(join(dir, 'bearer'), bearer, { mode: 0o600 });
    const state = loadState();
    keysArgs = [
      '--jwks',
      `${state.apiserverUrl}/openid/v1/jwks`,
      '--ca-file',
      state.caFile,
      '--bearer-token-file',
      join(dir, 'bearer'),
    ];
  });

  test('classifies it as an unbound token of its ServiceAccount and verifies its signature with the cluster keys', async () => {
    const r = await inspect([...keysArgs, '--output', 'json', '-'], token);
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout);
    expect(JSON.stringify(out)).not.toContain(token.split('.')[2]);
    expect(out).toMatchObject({
      kind: 'unbound',
      namespace: NS,
      serviceAccount: { name: 'inspector' },
      audiences: ['vault'],
      lifetimeSeconds: 1200,
      findings: [],
      signature: { checked: true, verified: true, keySource: `${loadState().apiserverUrl}/openid/v1/jwks` },
    });
    expect(r.code).toBe(0);
  });

  test('flags a lifetime over the maximum and an audience the policy does not allow; the token never appears', async () => {
    const r = await inspect(
      [...keysArgs, '--max-expiration', '600', '--allowed-audience', 'sts.amazonaws.com', '-'],
      token,
    );
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/1200/);
    expect(r.stdout).toMatch(/vault/);
    for (const part of token.split('.')) expect(r.stdout + r.stderr).not.toContain(part);
  });

  test('a token signed by another key does not verify against the cluster keys', async () => {
    const [h, p] = token.split('.');
    const forged = `${h}.${p}.${Buffer.from('not the signature of this cluster').toString('base64url')}`;
    const r = await inspect([...keysArgs, '--output', 'json', '-'], forged);
    const out = JSON.parse(r.stdout);
    expect(out.signature).toMatchObject({ checked: true, verified: false });
    expect(r.code).toBe(1);
  });
});
