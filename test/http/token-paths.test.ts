/**
 * The token paths of docs/tokens.md over real HTTPS: the server started by `tokenguard serve`
 * (in process, with its flags), reviews as the API server sends them, one denied and one
 * allowed case each. The engine-level cases are test/unit/engine/token-paths.test.ts; the golden
 * fixtures of the same paths are also answered by the server in server.test.ts.
 */
import { EventEmitter } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runServeCommand } from '../../src/cli/commands/serve.js';
import type { JsonObject } from '../../src/json.js';
import type { RunningServer } from '../../src/server/serve.js';
import { REPO } from '../helpers/fixtures.js';
import { pod, review } from '../helpers/pods.js';
import { LogSink, makeCertificates, postReview, SHIPPED_POLICIES, tempDir } from './helpers.js';

const TIMEOUT = 30_000;
const API_PATH = '/var/run/secrets/kubernetes.io/serviceaccount';
const STRICT = join(REPO, 'test', 'fixtures', 'policies', 'strict');
const TOKEN_REQUESTS = join(REPO, 'test', 'fixtures', 'policies', 'token-requests-vault');

interface Served {
  readonly port: number;
  readonly ca: string;
  readonly sink: LogSink;
  stop(): Promise<number>;
}

/** `tokenguard serve --no-cluster` with `args` on an ephemeral loopback port. */
async function serve(args: string[]): Promise<Served> {
  const dir = tempDir('tokens');
  const certs = await makeCertificates();
  writeFileSync(join(dir, 'tls.crt'), certs.cert);
  writeFileSync(join(dir, 'tls.key'), certs.key);
  const signals = new EventEmitter();
  const sink = new LogSink();
  let exit: Promise<number> = Promise.resolve(-1);
  const running = await new Promise<RunningServer>((resolve, reject) => {
    exit = runServeCommand(
      [
        '--port',
        '0',
        '--host',
        '127.0.0.1',
        '--tls-cert',
        join(dir, 'tls.crt'),
        '--tls-key',
        join(dir, 'tls.key'),
        '--no-cluster',
        '--shutdown-delay',
        '0',
        ...args,
      ],
      { stdout: { write: () => true }, stderr: { write: (t: string) => reject(new Error(t)) } },
      { signals, logDestination: sink, onListening: resolve },
    );
  });
  return {
    port: running.port,
    ca: certs.caCert,
    sink,
    stop: async () => {
      signals.emit('SIGTERM');
      return exit;
    },
  };
}

async function answer(s: Served, endpoint: 'mutate' | 'validate', body: unknown): Promise<JsonObject> {
  const r = await postReview({ port: s.port, ca: s.ca, endpoint, review: body });
  expect(r.status).toBe(200);
  return (JSON.parse(r.body) as { response: JsonObject }).response;
}

function patchOf(response: JsonObject): { op: string; path: string; value?: unknown }[] {
  return typeof response.patch === 'string' ? JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')) : [];
}

/** A pod with a projected token volume of its own, mounted at `mountPath`. */
function podWithToken(
  name: string,
  token: JsonObject,
  o: { mountPath?: string; plugin?: boolean; needsApi?: boolean } = {},
): JsonObject {
  const p = pod({
    name: 'web',
    plugin: o.plugin ?? true,
    ...(o.needsApi ? { annotations: { 'tokenguard.dev/api-access': 'true' } } : {}),
  });
  const spec = p.spec as { volumes: JsonObject[]; containers: { volumeMounts: JsonObject[] }[] };
  spec.volumes.unshift({
    name,
    projected: { defaultMode: 420, sources: [{ serviceAccountToken: { path: 'token', ...token } }] },
  });
  if (o.mountPath !== '')
    spec.containers[0]?.volumeMounts.push({ name, mountPath: o.mountPath ?? '/var/run/own', readOnly: true });
  return p;
}

function tokenRequest(spec: JsonObject): JsonObject {
  return review(
    {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      metadata: { name: 'default', namespace: 'team-a' },
      spec,
    },
    {
      kind: 'TokenRequest',
      subResource: 'token',
      name: 'default',
      user: { username: 'alice@example.com', groups: ['system:authenticated'] },
    },
  );
}

describe('shipped policies (tokenguard serve --no-cluster)', () => {
  let s: Served;
  beforeAll(async () => {
    s = await serve(['--policies', SHIPPED_POLICIES]);
  }, TIMEOUT);
  afterAll(async () => {
    expect(await s.stop()).toBe(0);
  });

  test('1. a 3607 s token for the API server: /validate denies it as a year, /mutate writes 3606; 3606 is allowed', async () => {
    const body = review(podWithToken('own-api', { expirationSeconds: 3607 }));
    const v = await answer(s, 'validate', body);
    expect(v.allowed).toBe(false);
    expect((v.status as JsonObject).message).toBe(
      'tokenguard: token-bounds/token-bounds: own-api: expirationSeconds 3607 (extended to 31536000 s) outside [600, 86400]',
    );
    const m = await answer(s, 'mutate', body);
    expect(patchOf(m)).toEqual([
      { op: 'replace', path: '/spec/volumes/0/projected/sources/0/serviceAccountToken/expirationSeconds', value: 3606 },
    ]);
    expect((await answer(s, 'validate', review(podWithToken('own-api', { expirationSeconds: 3606 })))).allowed).toBe(
      true,
    );
  });

  test('2. a kube-api-access-* volume of 2^32 s at the API path is bounded; the plugin volume itself is not', async () => {
    const body = review(
      podWithToken('kube-api-access-evil', { expirationSeconds: 4294967296 }, { mountPath: API_PATH, plugin: false }),
    );
    const v = await answer(s, 'validate', body);
    expect(v.allowed).toBe(false);
    expect((v.status as JsonObject).message).toBe(
      'tokenguard: token-bounds/token-bounds: kube-api-access-evil: expirationSeconds 4294967296 outside [600, 86400]',
    );
    expect(patchOf(await answer(s, 'mutate', body))).toEqual([
      {
        op: 'replace',
        path: '/spec/volumes/0/projected/sources/0/serviceAccountToken/expirationSeconds',
        value: 86400,
      },
    ]);
    expect((await answer(s, 'validate', review(pod({ name: 'web' })))).allowed).toBe(true);
  });

  test('16. malformed shapes are refused naming the field; the well-formed pod is allowed', async () => {
    const bad = pod({ name: 'web' });
    (bad.spec as JsonObject).volumes = 'kube-api-access-x7k2p';
    const v = await answer(s, 'validate', review(bad));
    expect(v).toMatchObject({
      allowed: false,
      status: {
        code: 400,
        reason: 'BadRequest',
        message: 'tokenguard: malformed AdmissionReview: request.object.spec.volumes must be an array, not a string',
      },
    });
    const m = await answer(s, 'mutate', review(bad));
    expect(m).toMatchObject({
      allowed: true,
      warnings: ['tokenguard: malformed AdmissionReview: request.object.spec.volumes must be an array, not a string'],
    });
    expect(m.patch).toBeUndefined();
    const badToken = podWithToken('own', { expirationSeconds: '4294967296' as unknown as number });
    expect(((await answer(s, 'validate', review(badToken))).status as JsonObject).message).toContain(
      'spec.volumes[0].projected.sources[0].serviceAccountToken.expirationSeconds must be an integer, not a string',
    );
    expect((await answer(s, 'validate', review(podWithToken('own', { expirationSeconds: 3600 })))).allowed).toBe(true);
  });
});

describe('strict policies: API audiences, unmounted volumes, ephemeral containers', () => {
  let s: Served;
  beforeAll(async () => {
    s = await serve(['--policies', STRICT]);
  }, TIMEOUT);
  afterAll(async () => {
    expect(await s.stop()).toBe(0);
  });

  test('3. a token for https://kubernetes.default.svc.cluster.local in a pod that does not need the API is denied; a vault token is allowed', async () => {
    const body = review(
      podWithToken(
        'svc',
        { audience: 'https://kubernetes.default.svc.cluster.local', expirationSeconds: 3600 },
        { plugin: false },
      ),
    );
    const v = await answer(s, 'validate', body);
    expect((v.status as JsonObject).message).toBe(
      'tokenguard: strict/automount: pod mounts API token svc but does not need API access',
    );
    expect((await answer(s, 'mutate', body)).warnings).toEqual([
      'tokenguard: strict: not fixed: pod mounts API token svc (its own volume, not removed) but does not need API access',
    ]);
    expect(
      (
        await answer(
          s,
          'validate',
          review(podWithToken('v', { audience: 'vault', expirationSeconds: 3600 }, { plugin: false })),
        )
      ).allowed,
    ).toBe(true);
  });

  test('5. an API token volume no container mounts is denied; the pod that needs the API keeps it', async () => {
    const v = await answer(
      s,
      'validate',
      review(podWithToken('spare', { expirationSeconds: 3600 }, { mountPath: '', plugin: false })),
    );
    expect((v.status as JsonObject).message).toBe(
      'tokenguard: strict/automount: pod has API token spare (no container mounts it yet) but does not need API access',
    );
    const ok = await answer(
      s,
      'validate',
      review(podWithToken('spare', { expirationSeconds: 3600 }, { mountPath: '', plugin: false, needsApi: true })),
    );
    expect(ok.allowed).toBe(true);
  });

  test('5. pods/ephemeralcontainers: an ephemeral container mounting the API token of a pod that does not need it is denied; without it, allowed', async () => {
    const before = pod({ name: 'web' });
    const debug = (mounts: JsonObject[]) => {
      const after = structuredClone(before);
      (after.spec as JsonObject).ephemeralContainers = [
        { name: 'debugger', image: 'busybox', targetContainerName: 'app', volumeMounts: mounts },
      ];
      return review(after, { operation: 'UPDATE', subResource: 'ephemeralcontainers', oldObject: before, name: 'web' });
    };
    const v = await answer(
      s,
      'validate',
      debug([{ name: 'kube-api-access-x7k2p', mountPath: API_PATH, readOnly: true }]),
    );
    expect((v.status as JsonObject).message).toBe(
      'tokenguard: strict/ephemeral-token: ephemeral container debugger mounts API token kube-api-access-x7k2p, but the pod does not need API access',
    );
    expect(await answer(s, 'mutate', debug([{ name: 'kube-api-access-x7k2p', mountPath: API_PATH }]))).toEqual({
      uid: expect.any(String),
      allowed: true,
    });
    expect((await answer(s, 'validate', debug([]))).allowed).toBe(true);
  });
});

describe('TokenRequests (allowedAudiences [vault], maximum 7200 s) and --api-audience', () => {
  test(
    "1 and 4. without --api-audience: the defaulted audience is allowed, a pod-bound 3607 s request denied; with it, the cluster's issuer is the API audience",
    async () => {
      const pod3607 = {
        expirationSeconds: 3607,
        boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'web', uid: 'u' },
      };
      const eks = 'https://oidc.eks.eu-west-1.amazonaws.com/id/ABC';
      const plain = await serve(['--policies', TOKEN_REQUESTS]);
      try {
        expect(
          (
            await answer(
              plain,
              'validate',
              tokenRequest({ audiences: ['https://kubernetes.default.svc'], expirationSeconds: 3600 }),
            )
          ).allowed,
        ).toBe(true);
        const long = await answer(
          plain,
          'validate',
          tokenRequest({ audiences: ['https://kubernetes.default.svc'], ...pod3607 }),
        );
        expect((long.status as JsonObject).message).toBe(
          'tokenguard: token-requests-vault/token-request: requested expirationSeconds 3607 (extended to 31536000 s) exceeds the maximum 7200',
        );
        expect(
          (await answer(plain, 'validate', tokenRequest({ audiences: [eks], expirationSeconds: 3600 }))).allowed,
        ).toBe(false);
      } finally {
        expect(await plain.stop()).toBe(0);
      }
      const configured = await serve([
        '--policies',
        TOKEN_REQUESTS,
        '--api-audience',
        'https://oidc.eks.*.amazonaws.com/id/*',
      ]);
      try {
        expect(configured.sink.lines().some((l) => l.event === 'api-audiences')).toBe(true);
        expect(
          (await answer(configured, 'validate', tokenRequest({ audiences: [eks], expirationSeconds: 3600 }))).allowed,
        ).toBe(true);
        expect((await answer(configured, 'validate', tokenRequest({ audiences: [eks], ...pod3607 }))).allowed).toBe(
          false,
        );
        // The defaults no longer apply: that audience is now someone else's.
        expect(
          (
            await answer(
              configured,
              'validate',
              tokenRequest({ audiences: ['https://kubernetes.default.svc'], expirationSeconds: 3600 }),
            )
          ).allowed,
        ).toBe(false);
      } finally {
        expect(await configured.stop()).toBe(0);
      }
    },
    TIMEOUT,
  );
});
