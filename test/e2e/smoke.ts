/**
 * Smoke test of the e2e control plane (no tokenguard involved):
 *   1. get-binaries.sh (cached after the first run)
 *   2. startCluster()
 *   3. kubectl create deployment nginx --image=nginx
 *      -> the ReplicaSet controller stores a Pod, and the ServiceAccount admission plugin
 *         has injected the projected kube-api-access-xxxxx volume
 *   4. kubectl create token default --duration=1h
 *   5. stop(), then check no process is left.
 *
 * Run with any TypeScript runner, e.g. `npx tsx test/e2e/smoke.ts`.
 * Env: TOKENGUARD_E2E_KEEP=1 keeps the work dir; KUBECTL overrides the kubectl binary.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCluster } from './cluster.js';
import type { Cluster } from './cluster.js';

const here = dirname(fileURLToPath(import.meta.url));
const KUBECTL = process.env.KUBECTL ?? 'kubectl';

function sh(cmd: string, args: string[], timeoutMs = 60_000): Promise<string> {
  return new Promise((res, rej) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) rej(new Error(`${cmd} ${args.join(' ')}: ${String(stderr || err.message).trim()}`));
      else res(String(stdout));
    });
  });
}

function assert(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new Error(`assertion failed: ${msg}`);
}

async function waitFor<T>(what: string, timeoutMs: number, f: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

interface PodList {
  items: Array<{
    metadata: { name: string; ownerReferences?: Array<{ kind: string }> };
    spec: {
      serviceAccountName?: string;
      volumes?: Array<{ name: string; projected?: { sources: Array<Record<string, unknown>> } }>;
      containers: Array<{ volumeMounts?: Array<{ name: string; mountPath: string }> }>;
    };
  }>;
}

async function main(): Promise<void> {
  const t0 = Date.now();
  const binOut = await sh('bash', [join(here, 'get-binaries.sh')], 60 * 60_000);
  const binDir = binOut.trim().split('\n').pop()!;
  console.log(`binaries: ${binDir} (${((Date.now() - t0) / 1000).toFixed(1)}s)`);

  const workDir = await mkdtemp(join(tmpdir(), 'tokenguard-e2e-'));
  let cluster: Cluster | undefined;
  let ok = false;
  try {
    const t1 = Date.now();
    cluster = await startCluster({ binDir, workDir });
    console.log(`cluster up in ${((Date.now() - t1) / 1000).toFixed(1)}s at ${cluster.apiserverUrl}`);
    const kc = ['--kubeconfig', cluster.kubeconfig];

    console.log((await sh(KUBECTL, [...kc, 'version'])).trim());
    await sh(KUBECTL, [...kc, 'create', 'deployment', 'nginx', '--image=nginx']);

    const pod = await waitFor('a Pod of deployment nginx', 60_000, async () => {
      const list = JSON.parse(await sh(KUBECTL, [...kc, 'get', 'pods', '-l', 'app=nginx', '-o', 'json'])) as PodList;
      return list.items[0];
    });
    const vol = pod.spec.volumes?.find((v) => /^kube-api-access-[a-z0-9]{5}$/.test(v.name));
    assert(vol, `pod ${pod.metadata.name} has a kube-api-access-xxxxx volume: ${JSON.stringify(pod.spec.volumes)}`);
    const sources = vol.projected?.sources ?? [];
    assert(
      sources.some((s) => 'serviceAccountToken' in s),
      'projected volume has a serviceAccountToken source',
    );
    assert(
      sources.some((s) => 'configMap' in s),
      'projected volume has the kube-root-ca.crt configMap source',
    );
    assert(pod.spec.serviceAccountName === 'default', 'pod uses ServiceAccount default');
    assert(
      pod.spec.containers[0]?.volumeMounts?.some(
        (m) => m.name === vol.name && m.mountPath === '/var/run/secrets/kubernetes.io/serviceaccount',
      ),
      'container mounts the token volume',
    );
    assert(pod.metadata.ownerReferences?.[0]?.kind === 'ReplicaSet', 'pod is owned by a ReplicaSet');
    console.log(`pod ${pod.metadata.name}: volume ${vol.name} with ${JSON.stringify(sources)}`);

    const token = (await sh(KUBECTL, [...kc, 'create', 'token', 'default', '--duration=1h'])).trim();
    const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as {
      iss: string;
      sub: string;
      exp: number;
      iat: number;
    };
    assert(claims.iss === cluster.serviceAccountIssuer, `token iss ${claims.iss}`);
    assert(claims.sub === 'system:serviceaccount:default:default', `token sub ${claims.sub}`);
    assert(claims.exp - claims.iat === 3600, `token lifetime ${claims.exp - claims.iat}`);
    console.log(`token: iss=${claims.iss} sub=${claims.sub} lifetime=${claims.exp - claims.iat}s`);
    ok = true;
  } finally {
    if (cluster) {
      const t2 = Date.now();
      await cluster.stop();
      console.log(`stopped in ${((Date.now() - t2) / 1000).toFixed(1)}s`);
    }
    const left = (await sh('ps', ['-eo', 'pid,args'])).split('\n').filter((l) => l.includes(workDir));
    if (left.length > 0) {
      console.error(`processes left:\n${left.join('\n')}`);
      ok = false;
    }
    if (ok && process.env.TOKENGUARD_E2E_KEEP !== '1') await rm(workDir, { recursive: true, force: true });
    else console.log(`work dir kept: ${workDir}`);
  }
  if (!ok) process.exitCode = 1;
  else console.log('smoke: 1 passed, 0 failed');
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
