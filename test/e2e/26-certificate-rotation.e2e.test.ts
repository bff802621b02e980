/**
 * Scenario 26: certificates that renew themselves, without an outage. Two real
 * `tokenguard serve --manage-certificates` processes on loopback share one Secret and one Lease
 * (in e2e-rotation-system, which their own webhooks do not match, as tokenguard's own namespace
 * is excluded in deploy/base). Their webhook configurations (`tokenguard-rotation`, the webhooks
 * of deploy/base renamed, for namespace e2e-rotation only, failurePolicy Fail, no caBundle at
 * first) send the pod mutation to replica A and the pod validation to replica B, so every pod
 * goes through both.
 *
 * Validities of seconds make the controller renew the serving certificate twice under the first
 * CA, stage a second CA, switch to a certificate of it once the bundle is published, renew that
 * one, and drop the first CA when it expires, while two loops create pods (server-side dry run)
 * through the API server without pause. Checked:
 * - every admission succeeded, and the API server called both webhooks without an error;
 * - at every observation (the configurations read, then a TLS handshake with each replica, then
 *   the configurations read again), each webhook's caBundle held, in both reads, the CA that
 *   signed the certificate its replica served;
 * - a new CA was seen in the caBundles before any replica served a certificate it signed, and the
 *   leader's log shows the order: CA staged, caBundles updated, then a certificate of it issued;
 * - exactly one Lease holder throughout, and it is the one replica that logged it leads.
 * Bounded: the run ends when the whole cycle was seen (about 90 s) or after 200 s, and at most
 * 15000 admissions.
 */
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { freePorts } from './cluster.js';
import { type E2EState, loadState, readSince, sleep, tailFile, waitFor } from './env.js';
import { webhookMetrics } from './health.js';
import { apiRequest, ensureNamespace, kubectlOk, podManifest } from './kube.js';
import { CLI, initPolicyDir, policyFiles, WEBHOOK_CLIENT_CN } from './tokenguard.js';
import { renderWebhookConfigs, type WebhookConfiguration } from './webhooks.js';

const NS = 'e2e-rotation';
const SYSTEM_NS = 'e2e-rotation-system';
const CONFIG = 'tokenguard-rotation';
const SECRET = 'rotation-certificates';
const LEASE = 'rotation-certificates';
/** Seconds: cert renewed at 12 s of its 24 s; a new CA staged 45 s before the 80 s CA expires; 8 s of propagation. */
const DURATIONS = [
  '--ca-validity',
  '80s',
  '--ca-renew-before',
  '45s',
  '--certificate-validity',
  '24s',
  '--certificate-renew-before',
  '12s',
  '--ca-propagation',
  '8s',
];
const RUN_LIMIT_MS = 200_000;
const MAX_ADMISSIONS = 15_000;

let state: E2EState;

interface Replica {
  readonly name: 'a' | 'b';
  readonly port: number;
  readonly log: string;
  pid: number;
}
const replicas: Replica[] = [];

function alive(r: Replica): boolean {
  try {
    const stat = readFileSync(`/proc/${r.pid}/stat`, 'utf8');
    const s = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return s !== 'Z' && s !== 'X' && readFileSync(`/proc/${r.pid}/cmdline`, 'utf8').includes(`rotation-${r.name}`);
  } catch {
    return false;
  }
}

function startReplica(name: 'a' | 'b', port: number, dir: string, policyDir: string): Replica {
  const log = join(dir, `replica-${name}.log`);
  const args = [
    CLI,
    'serve',
    '--port',
    String(port),
    '--host',
    '127.0.0.1',
    '--client-ca',
    state.serve.clientCaFile,
    '--client-subject',
    WEBHOOK_CLIENT_CN,
    '--policies',
    policyDir,
    '--kubeconfig',
    state.kubeconfig,
    '--log-level',
    'info',
    '--shutdown-delay',
    '0s',
    '--manage-certificates',
    '--certificate-namespace',
    SYSTEM_NS,
    '--certificate-secret',
    SECRET,
    '--leader-election-lease',
    LEASE,
    '--certificate-ip',
    '127.0.0.1',
    '--validating-webhook-configuration',
    CONFIG,
    '--mutating-webhook-configuration',
    CONFIG,
    ...DURATIONS,
    '--certificate-poll-interval',
    '1s',
    '--certificate-dir',
    join(dir, `rotation-${name}`),
  ];
  const fd = openSync(log, 'a');
  const sp = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));
  const [cmd, argv] = sp ? [sp, ['--pdeathsig', 'KILL', '--', process.execPath, ...args]] : [process.execPath, args];
  try {
    const child = spawn(cmd, argv, {
      cwd: dir,
      stdio: ['ignore', fd, fd],
      env: { ...process.env, NODE_ENV: 'production' },
    });
    child.unref();
    if (!child.pid) throw new Error(`e2e: cannot start replica ${name}`);
    const r: Replica = { name, port, log, pid: child.pid };
    replicas.push(r);
    return r;
  } finally {
    closeSync(fd);
  }
}

async function stopReplica(r: Replica): Promise<void> {
  if (!alive(r)) return;
  process.kill(r.pid, 'SIGTERM');
  const deadline = Date.now() + 15_000;
  while (alive(r) && Date.now() < deadline) await sleep(50);
  if (alive(r)) process.kill(r.pid, 'SIGKILL');
}

interface LogLine {
  level?: string;
  msg?: string;
  identity?: string;
  action?: string;
  configuration?: string;
  cas?: number;
  event?: string;
  endpoint?: string;
  decision?: string;
}
function lines(r: Replica): LogLine[] {
  const out: LogLine[] = [];
  for (const l of readSince(r.log, 0).split('\n')) {
    if (!l.startsWith('{')) continue;
    try {
      out.push(JSON.parse(l) as LogLine);
    } catch {
      // a line being written
    }
  }
  return out;
}

// ------------------------------------------------------------------ the API server, as the admin

const agent = new Agent({ keepAlive: true, maxSockets: 4 });
function api(method: 'GET' | 'POST', path: string, body?: object): Promise<{ status: number; body: string }> {
  return apiRequest(method, path, body, state, agent);
}
async function getJson<T>(path: string): Promise<T> {
  const r = await api('GET', path);
  if (r.status !== 200) throw new Error(`e2e: GET ${path} answered ${r.status}: ${r.body.slice(0, 300)}`);
  return JSON.parse(r.body) as T;
}

/** Per webhook of both configurations: the port its URL names and the CAs of its caBundle (fingerprints). */
async function readBundles(): Promise<Map<string, { port: number; cas: X509Certificate[] }>> {
  const out = new Map<string, { port: number; cas: X509Certificate[] }>();
  for (const kind of ['mutating', 'validating']) {
    const c = await getJson<WebhookConfiguration>(
      `/apis/admissionregistration.k8s.io/v1/${kind}webhookconfigurations/${CONFIG}`,
    );
    for (const w of c.webhooks) {
      const pem = w.clientConfig.caBundle ? Buffer.from(w.clientConfig.caBundle, 'base64').toString('utf8') : '';
      const cas = (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []).map(
        (p) => new X509Certificate(p),
      );
      out.set(w.name, { port: Number(new URL(w.clientConfig.url ?? '').port), cas });
    }
  }
  return out;
}

/** The certificate a replica serves to a new connection (its chain is not checked here). */
function servedCertificate(port: number): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false, timeout: 15_000 }, () => {
      const raw = socket.getPeerCertificate().raw;
      socket.destroy();
      if (!raw) reject(new Error(`e2e: 127.0.0.1:${port} presented no certificate`));
      else resolve(new X509Certificate(raw));
    });
    socket.on('timeout', () => socket.destroy(new Error(`e2e: TLS handshake with 127.0.0.1:${port} timed out`)));
    socket.on('error', reject);
  });
}

const signs = (ca: X509Certificate, leaf: X509Certificate) => leaf.checkIssued(ca) && leaf.verify(ca.publicKey);

// ------------------------------------------------------------------ setup

let a: Replica;
let b: Replica;
let metricsBefore: Map<string, number>;

beforeAll(async () => {
  state = loadState();
  const dir = join(state.workDir, 'rotation');
  mkdirSync(dir, { recursive: true });
  await ensureNamespace(NS);
  await ensureNamespace(SYSTEM_NS);
  const [portA, portB] = await freePorts(2);
  if (portA === undefined || portB === undefined) throw new Error('e2e: no free ports');

  // deploy/base's webhooks, renamed, for e2e-rotation only, every one failing closed; no caBundle.
  const rendered = await renderWebhookConfigs('https://127.0.0.1:0', '');
  let i = 0;
  for (const config of [rendered.mutating, rendered.validating]) {
    config.metadata = { name: CONFIG };
    for (const hook of config.webhooks) {
      const target =
        hook.name === 'mutate.tokenguard.dev'
          ? portA
          : hook.name === 'validate-pods.tokenguard.dev'
            ? portB
            : i++ % 2 === 0
              ? portA
              : portB;
      hook.name = hook.name.replace(/\.tokenguard\.dev$/, '.rotation.tokenguard.dev');
      hook.clientConfig = { url: `https://127.0.0.1:${target}${new URL(hook.clientConfig.url ?? '').pathname}` };
      hook.namespaceSelector = {
        matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: [NS] }],
      };
      hook.failurePolicy = 'Fail';
    }
  }
  await kubectlOk(['delete', 'mutatingwebhookconfiguration', CONFIG, '--ignore-not-found']);
  await kubectlOk(['delete', 'validatingwebhookconfiguration', CONFIG, '--ignore-not-found']);
  await kubectlOk(['create', '-f', '-'], {
    input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [rendered.mutating, rendered.validating] }),
  });

  const policyDir = join(dir, 'policies');
  initPolicyDir(policyDir, policyFiles('test/fixtures/policies/strict'));
  a = startReplica('a', portA, dir, policyDir);
  b = startReplica('b', portB, dir, policyDir);
  for (const r of [a, b]) {
    await waitFor(`replica ${r.name} /readyz`, 60_000, async () => {
      if (!alive(r)) throw new Error(`replica ${r.name} exited:\n${tailFile(r.log, 20)}`);
      const status = await new Promise<number>((resolve, reject) => {
        const req = request(
          {
            hostname: '127.0.0.1',
            port: r.port,
            path: '/readyz',
            rejectUnauthorized: false,
            agent: false,
            timeout: 5000,
          },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        req.end();
      });
      return status === 200 ? true : undefined;
    });
  }
  // Both configurations hold the bundle, and every webhook's replica serves a certificate it trusts.
  await waitFor('the caBundles to trust both replicas', 60_000, async () => {
    for (const [, w] of await readBundles()) {
      const served = await servedCertificate(w.port);
      if (!w.cas.some((ca) => signs(ca, served))) return undefined;
    }
    return true;
  });
  // The API server calls them: a pod in e2e-rotation is mutated and validated.
  await waitFor('the rotation webhooks to be effective', 60_000, async () => {
    const r = await api('POST', `/api/v1/namespaces/${NS}/pods?dryRun=All`, podManifest(NS, 'probe'));
    return r.status === 201 ? true : undefined;
  });
  metricsBefore = await webhookMetrics(state);
}, 240_000);

afterAll(async () => {
  await Promise.all(replicas.map(stopReplica));
  agent.destroy();
  await kubectlOk(['delete', 'mutatingwebhookconfiguration', CONFIG, '--ignore-not-found']);
  await kubectlOk(['delete', 'validatingwebhookconfiguration', CONFIG, '--ignore-not-found']);
  await kubectlOk(['delete', 'namespace', NS, SYSTEM_NS, '--wait=false', '--ignore-not-found']);
});

// ------------------------------------------------------------------ the scenario

describe('scenario 26: certificate rotation under load', () => {
  test(
    'no failed admission through two serving-certificate renewals, a CA rotation and the old CA leaving; the caBundle always trusts what is served',
    async () => {
      const failures: string[] = [];
      let admitted = 0;
      let admittedAfterNewCa = 0;
      let stop = false;
      let newCaServed = false;

      const admissions = async (loop: number) => {
        for (let n = 0; !stop && admitted + failures.length < MAX_ADMISSIONS; n++) {
          try {
            const r = await api(
              'POST',
              `/api/v1/namespaces/${NS}/pods?dryRun=All`,
              podManifest(NS, `rotation-${loop}-${n}`),
            );
            if (r.status === 201) {
              admitted++;
              if (newCaServed) admittedAfterNewCa++;
            } else failures.push(`${r.status}: ${r.body.slice(0, 400)}`);
          } catch (e) {
            failures.push((e as Error).message);
          }
        }
      };
      const loops = [admissions(0), admissions(1)];

      // Observations.
      const violations: string[] = [];
      const firstInBundle = new Map<string, number>();
      const firstServed = new Map<string, number>();
      const leaves = new Map<string, Set<string>>(); // CA fingerprint -> leaf fingerprints served
      const holders = new Set<string>();
      const transitions = new Set<number>();
      let firstCa = '';
      let sawPrune = false;
      const started = Date.now();
      let obs = 0;
      const done = () => {
        const cas = [...leaves.keys()];
        return cas.length >= 2 && cas.every((ca) => (leaves.get(ca)?.size ?? 0) >= 2) && sawPrune;
      };
      try {
        while (!done() && Date.now() - started < RUN_LIMIT_MS && alive(a) && alive(b)) {
          obs++;
          const before = await readBundles();
          const served = new Map<number, X509Certificate>();
          for (const r of [a, b]) served.set(r.port, await servedCertificate(r.port));
          const after = await readBundles();
          const lease = await getJson<{ spec: { holderIdentity?: string; leaseTransitions?: number } }>(
            `/apis/coordination.k8s.io/v1/namespaces/${SYSTEM_NS}/leases/${LEASE}`,
          );
          holders.add(lease.spec.holderIdentity ?? '');
          transitions.add(lease.spec.leaseTransitions ?? 0);

          for (const [name, w] of before) {
            for (const ca of w.cas)
              if (!firstInBundle.has(ca.fingerprint256)) firstInBundle.set(ca.fingerprint256, obs);
            if (firstCa === '') firstCa = w.cas[0]?.fingerprint256 ?? '';
            const leaf = served.get(w.port) as X509Certificate;
            const trustedBefore = w.cas.find((ca) => signs(ca, leaf));
            const trustedAfter = after.get(name)?.cas.find((ca) => signs(ca, leaf));
            if (!trustedBefore || !trustedAfter) {
              violations.push(
                `observation ${obs}: ${name} (127.0.0.1:${w.port}) served ${leaf.serialNumber} (issuer ${leaf.issuer}), not signed by a CA of its caBundle ${trustedBefore ? 'after' : 'before'} the handshake`,
              );
              continue;
            }
            const issuer = trustedBefore.fingerprint256;
            if (!firstServed.has(issuer)) firstServed.set(issuer, obs);
            if (!leaves.has(issuer)) leaves.set(issuer, new Set());
            leaves.get(issuer)?.add(leaf.fingerprint256);
            if (issuer !== firstCa) newCaServed = true;
            if (firstCa !== '' && issuer !== firstCa && !w.cas.some((ca) => ca.fingerprint256 === firstCa))
              sawPrune = true;
          }
          await sleep(200);
        }
      } finally {
        stop = true;
        await Promise.all(loops);
      }

      const context = `after ${obs} observations, ${admitted} admissions; leaves per CA ${JSON.stringify([...leaves].map(([ca, l]) => [ca.slice(0, 11), l.size]))}; pruned ${sawPrune}`;
      process.stderr.write(`e2e: scenario 26: ${context}, ${failures.length} failed\n`);
      expect({ alive: [alive(a), alive(b)], context }).toEqual({ alive: [true, true], context });
      expect(failures).toEqual([]);
      expect(violations).toEqual([]);
      // The whole cycle was seen: two CAs, at least two certificates of each, the first CA gone.
      expect({ done: done(), context }).toEqual({ done: true, context });
      // Every CA other than the first was in the caBundles before a certificate of it was served.
      for (const [ca, servedAt] of firstServed) {
        if (ca === firstCa) continue;
        expect({ ca, inBundle: (firstInBundle.get(ca) ?? Number.POSITIVE_INFINITY) < servedAt }).toEqual({
          ca,
          inBundle: true,
        });
      }
      expect(admitted).toBeGreaterThan(0);
      expect(admittedAfterNewCa).toBeGreaterThan(0);

      // Exactly one holder of the Lease throughout, the one replica that says it leads.
      expect([...holders]).toHaveLength(1);
      expect([...transitions]).toEqual([0]);
      const leading = [a, b].filter((r) =>
        lines(r).some((l) => l.msg === 'leading: this replica manages the certificates'),
      );
      expect(leading).toHaveLength(1);
      const leader = leading[0] as Replica;
      expect(lines(leader).find((l) => l.msg === 'leading: this replica manages the certificates')?.identity).toBe(
        [...holders][0],
      );
      for (const r of [a, b]) expect(lines(r).filter((l) => String(l.msg).startsWith('no longer leading'))).toEqual([]);

      // The leader's order: the CA staged, both caBundles updated with two CAs, then a certificate of it issued.
      const steps = lines(leader).flatMap((l) =>
        l.action !== undefined
          ? [`${l.action}`]
          : l.configuration !== undefined && String(l.msg).startsWith('caBundle of')
            ? [`bundle ${l.configuration} ${l.cas}`]
            : [],
      );
      const staged = steps.indexOf('stage-ca');
      expect(staged).toBeGreaterThan(0);
      const afterStage = steps.slice(staged + 1);
      const promoted = afterStage.indexOf('issue');
      expect(afterStage.slice(0, promoted).sort()).toEqual([
        `bundle mutatingwebhookconfigurations/${CONFIG} 2`,
        `bundle validatingwebhookconfigurations/${CONFIG} 2`,
      ]);
      expect(afterStage).toContain('prune');

      // Both replicas reloaded certificates, and neither logged an error.
      for (const r of [a, b]) {
        const l = lines(r);
        expect(
          l.filter((x) => x.event === 'certificate-reload' && x.msg === 'serving certificate reloaded').length,
        ).toBeGreaterThanOrEqual(3);
        expect(l.filter((x) => x.level === 'error' || x.level === 'fatal')).toEqual([]);
      }
      // The API server called our webhooks on both replicas, never with an error.
      const now = await webhookMetrics(state);
      const delta = (pred: (series: string) => boolean) =>
        [...now]
          .filter(([s]) => pred(s) && s.includes('rotation.tokenguard.dev'))
          .reduce((sum, [s, v]) => sum + v - (metricsBefore.get(s) ?? 0), 0);
      expect(
        delta(
          (s) =>
            s.startsWith('apiserver_admission_webhook_request_total') &&
            s.includes('name="mutate.rotation.tokenguard.dev"') &&
            s.includes('code="200"'),
        ),
      ).toBeGreaterThanOrEqual(admitted);
      expect(
        delta(
          (s) =>
            s.startsWith('apiserver_admission_webhook_request_total') &&
            s.includes('name="validate-pods.rotation.tokenguard.dev"') &&
            s.includes('code="200"'),
        ),
      ).toBeGreaterThanOrEqual(admitted);
      expect(
        delta(
          (s) => s.startsWith('apiserver_admission_webhook_rejection_count') && !s.includes('error_type="no_error"'),
        ),
      ).toBe(0);
      expect(delta((s) => s.startsWith('apiserver_admission_webhook_fail_open_count'))).toBe(0);
      expect(delta((s) => s.startsWith('apiserver_admission_webhook_request_total') && !s.includes('code="200"'))).toBe(
        0,
      );
    },
    RUN_LIMIT_MS + 120_000,
  );
});
