/**
 * Scenario 17: the token paths of docs/tokens.md on the real API server, through the deploy/base
 * webhooks (validate-ephemeral-containers included).
 * - A pod's own 3607 s token for the API server lives a year: the shipped token-bounds clamp it to
 *   3606 s, deny-bounds-day refuses it; 3606 s is admitted as it is.
 * - A user volume named kube-api-access-* is not the plugin's: the plugin mounts it at the API path,
 *   and it is bounded like any token.
 * - A token for the API server's audience spelled out (the e2e issuer, https://kubernetes.default.svc)
 *   works against the API server, a vault one does not, and strict treats the former as an API
 *   token; a token volume no container mounts is judged too.
 * - kubectl debug (--custom, pods/ephemeralcontainers): an ephemeral container may not mount the
 *   API token of a pod that does not need it. There is no kubelet, so ephemeral containers never
 *   run: the test checks what the API server stores, as every scenario does.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadState } from './env.js';
import {
  API_TOKEN_PATH,
  apiAccessVolumes,
  create,
  createRefused,
  ensureNamespace,
  kubectl,
  type Pod,
  podManifest,
  tokenLifetime,
  tokenSources,
  type Volume,
} from './kube.js';
import { policyFiles, setPolicies } from './tokenguard.js';

const NS = 'e2e-token-paths';
const NEEDS_API = { 'tokenguard.dev/api-access': 'true' };
const ISSUER = 'https://kubernetes.default.svc';
let work: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'tokenguard-e2e-17-'));
  await ensureNamespace(NS);
});
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

/** A projected token volume of the pod's own. */
function tokenVolume(name: string, token: { expirationSeconds?: number; audience?: string }): Volume {
  return { name, projected: { sources: [{ serviceAccountToken: { path: 'token', ...token } }] } } as Volume;
}

const expirationOf = (pod: Pod, volume: string) =>
  tokenSources((pod.spec.volumes ?? []).find((v) => v.name === volume))[0]?.expirationSeconds;

/** GET /api with a bearer token, without the admin certificate: 200 if the API server accepts the token. */
function getWithToken(token: string): Promise<number> {
  const state = loadState();
  const u = new URL('/api', state.apiserverUrl);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        method: 'GET',
        hostname: u.hostname,
        port: u.port,
        path: u.pathname,
        ca: readFileSync(state.caFile),
        agent: false,
        timeout: 15_000,
        headers: { Authorization: `Bearer ${token}` },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('timeout', () => req.destroy(new Error('GET /api: timeout')));
    req.on('error', reject);
    req.end();
  });
}

describe('scenario 17: 3607 s tokens for the API server live a year', () => {
  test('shipped policies: a user token of 3607 s for the API server is stored as 3606 s; 3606 s is stored unchanged', async () => {
    await setPolicies(policyFiles('policies'));
    const mounts = { app: [{ name: 'own-api', mountPath: '/var/run/own', readOnly: true }] };
    const { stored } = await create(
      podManifest(NS, 'own-3607', {
        annotations: NEEDS_API,
        volumes: [tokenVolume('own-api', { expirationSeconds: 3607 })],
        mounts,
      }),
    );
    expect(expirationOf(stored as Pod, 'own-api')).toBe(3606);
    const kept = await create(
      podManifest(NS, 'own-3606', {
        annotations: NEEDS_API,
        volumes: [tokenVolume('own-api', { expirationSeconds: 3606 })],
        mounts,
      }),
    );
    expect(expirationOf(kept.stored as Pod, 'own-api')).toBe(3606);
  });

  test('bounds with Deny (max 86400): the 3607 s token is refused as the year it lives; 3606 s is admitted', async () => {
    await setPolicies(policyFiles('test/fixtures/policies/deny-bounds-day'));
    const mounts = { app: [{ name: 'own-api', mountPath: '/var/run/own', readOnly: true }] };
    const r = await createRefused(
      podManifest(NS, 'deny-3607', {
        volumes: [tokenVolume('own-api', { expirationSeconds: 3607, audience: ISSUER })],
        mounts,
      }),
    );
    expect(r.stderr).toContain(
      'admission webhook "validate-pods.tokenguard.dev" denied the request: tokenguard: day-tokens/token-bounds: own-api: expirationSeconds 3607 (extended to 31536000 s) outside [600, 86400]',
    );
    await create(
      podManifest(NS, 'deny-3606', {
        volumes: [tokenVolume('own-api', { expirationSeconds: 3606, audience: ISSUER })],
        mounts,
      }),
    );
  });

  test('a user volume named kube-api-access-* (2^32 s): the plugin mounts it at the API path, token-bounds clamps it; Deny refuses it', async () => {
    await setPolicies(policyFiles('policies'));
    const manifest = (name: string) =>
      podManifest(NS, name, {
        annotations: NEEDS_API,
        volumes: [tokenVolume('kube-api-access-evil', { expirationSeconds: 4294967296 })],
      });
    const { stored } = await create(manifest('lookalike'));
    const pod = stored as Pod;
    // The plugin took the volume for its own (it reuses any kube-api-access-* volume) and mounted it.
    expect(apiAccessVolumes(pod).map((v) => v.name)).toEqual(['kube-api-access-evil']);
    expect(pod.spec.containers[0]?.volumeMounts).toEqual([
      { name: 'kube-api-access-evil', mountPath: API_TOKEN_PATH, readOnly: true },
    ]);
    expect(expirationOf(pod, 'kube-api-access-evil')).toBe(86400);
    await setPolicies(policyFiles('test/fixtures/policies/deny-bounds-day'));
    const r = await createRefused(manifest('lookalike-denied'));
    expect(r.stderr).toContain(
      'day-tokens/token-bounds: kube-api-access-evil: expirationSeconds 4294967296 outside [600, 86400]',
    );
  });
});

describe('scenario 17: tokens for the API server, mounted or not', () => {
  test('a token for the explicit API audience works against the API server; one for vault does not', async () => {
    const api = await kubectl(['create', 'token', 'default', '-n', NS, `--audience=${ISSUER}`, '--duration=10m']);
    expect(api.code).toBe(0);
    expect(tokenLifetime(api.stdout.trim()).claims.aud).toEqual([ISSUER]);
    expect(await getWithToken(api.stdout.trim())).toBe(200);
    const vault = await kubectl(['create', 'token', 'default', '-n', NS, '--audience=vault', '--duration=10m']);
    expect(vault.code).toBe(0);
    expect(await getWithToken(vault.stdout.trim())).toBe(401);
  });

  test('strict: a pod that does not need the API may not carry a token for that audience; one for vault is admitted', async () => {
    await setPolicies(policyFiles('test/fixtures/policies/strict'));
    const mounts = { app: [{ name: 'svc', mountPath: '/var/run/svc', readOnly: true }] };
    const r = await createRefused(
      podManifest(NS, 'explicit-api', {
        volumes: [tokenVolume('svc', { audience: ISSUER, expirationSeconds: 3600 })],
        mounts,
      }),
    );
    expect(r.stderr).toContain(
      'admission webhook "validate-pods.tokenguard.dev" denied the request: tokenguard: strict/automount: pod mounts API token svc but does not need API access',
    );
    const { stored } = await create(
      podManifest(NS, 'vault-only', {
        volumes: [tokenVolume('svc', { audience: 'vault', expirationSeconds: 3600 })],
        mounts,
      }),
    );
    expect(expirationOf(stored as Pod, 'svc')).toBe(3600);
  });

  test('strict: a token volume for the API that no container mounts is refused too; with the opt-in it is admitted', async () => {
    const r = await createRefused(
      podManifest(NS, 'spare', { volumes: [tokenVolume('spare', { expirationSeconds: 3600 })] }),
    );
    expect(r.stderr).toContain(
      'strict/automount: pod has API token spare (no container mounts it yet) but does not need API access',
    );
    await create(
      podManifest(NS, 'spare-needed', {
        annotations: NEEDS_API,
        volumes: [tokenVolume('spare', { expirationSeconds: 3600 })],
      }),
    );
  });
});

describe('scenario 17: kubectl debug (pods/ephemeralcontainers)', () => {
  /** `kubectl debug pod/<pod> --custom <file>`: an ephemeral container with these volume mounts. */
  async function debug(pod: string, container: string, mounts: { name: string; mountPath: string }[]) {
    const custom = join(work, `${pod}-${container}.json`);
    writeFileSync(custom, JSON.stringify({ volumeMounts: mounts }));
    return kubectl([
      'debug',
      '-n',
      NS,
      `pod/${pod}`,
      '--image=registry.invalid/tokenguard-e2e/debug:1',
      `--container=${container}`,
      `--custom=${custom}`,
      '--profile=general',
    ]);
  }

  let apiVolume = '';
  test('a pod created while no pod policy applied keeps its API token; under strict, kubectl debug may not mount it', async () => {
    await setPolicies(policyFiles('test/fixtures/policies/token-requests-vault')); // no pod rules
    const { stored } = await create(podManifest(NS, 'debug-me'));
    apiVolume = apiAccessVolumes(stored as Pod)[0]?.name ?? '';
    expect(apiVolume).toMatch(/^kube-api-access-/);
    await setPolicies(policyFiles('test/fixtures/policies/strict'));
    const r = await debug('debug-me', 'steal', [{ name: apiVolume, mountPath: API_TOKEN_PATH }]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(
      `admission webhook "validate-ephemeral-containers.tokenguard.dev" denied the request: tokenguard: strict/ephemeral-token: ephemeral container steal mounts API token ${apiVolume}, but the pod does not need API access`,
    );
    const pod = JSON.parse((await kubectl(['get', 'pod', 'debug-me', '-n', NS, '-o', 'json'])).stdout) as Pod & {
      spec: { ephemeralContainers?: unknown[] };
    };
    expect(pod.spec.ephemeralContainers ?? []).toEqual([]);
  });

  test('kubectl debug without the token mount is admitted; on a pod that needs the API, with it too', async () => {
    const plain = await debug('debug-me', 'look', []);
    expect(plain.stderr).not.toContain('denied');
    expect(plain.code).toBe(0);
    const pod = JSON.parse((await kubectl(['get', 'pod', 'debug-me', '-n', NS, '-o', 'json'])).stdout) as Pod & {
      spec: { ephemeralContainers?: { name: string }[] };
    };
    expect((pod.spec.ephemeralContainers ?? []).map((c) => c.name)).toEqual(['look']);

    const { stored } = await create(podManifest(NS, 'debug-api', { annotations: NEEDS_API }));
    const volume = apiAccessVolumes(stored as Pod)[0]?.name ?? '';
    const withToken = await debug('debug-api', 'ops', [{ name: volume, mountPath: API_TOKEN_PATH }]);
    expect(withToken.stderr).not.toContain('denied');
    expect(withToken.code).toBe(0);
  });
});
