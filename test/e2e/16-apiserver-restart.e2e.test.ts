/**
 * Scenario 16: the API server restarts under tokenguard's cluster facts (src/facts/informers.ts,
 * what `tokenguard serve --kubeconfig` runs). A control plane of its own (etcd, kube-apiserver,
 * kube-controller-manager), since the suite's is shared by every other scenario; the informers
 * run in this process, as in facts.e2e.test.ts. kube-apiserver alone is stopped with SIGTERM,
 * as a rolling restart of the control plane does, while etcd keeps the data.
 * - while it is down: lookups answer from the cache without waiting on the network, RBAC
 *   bindings count as unknown (never as "unbound", which would strip tokens on stale data),
 *   a cache miss gives up as an error instead of hanging, and readiness holds;
 * - when it is back (a new process, a new watch cache, the same etcd): every informer is
 *   watching again, and changes made after the restart arrive, as a fresh listing shows them.
 * The unit tests run the same faults against a fake API server (test/unit/facts); this one
 * checks them against the real server's watch semantics after a restart.
 */
import { join } from 'node:path';
import type { ClusterFacts } from '../../src/engine/types.js';
import {
  type ClusterFactsProvider,
  createClusterFacts,
  type FactsLogger,
  readClusterFacts,
} from '../../src/facts/informers.js';
import { type KubeConfig, loadKubeConfig } from '../../src/kube/config.js';
import { type Cluster, startCluster } from './cluster.js';
import { type E2EState, loadState, waitFor } from './env.js';
import { kubectl } from './kube.js';

const NS = 'e2e-restart';
const LIMIT_MS = 60_000;

let cluster: Cluster;
let state: E2EState;
let kubeConfig: KubeConfig;
let facts: ClusterFactsProvider;
const lines: { level: string; msg: string; obj: Record<string, unknown> }[] = [];
const logger: FactsLogger = {
  debug: (obj, msg) => lines.push({ level: 'debug', msg, obj }),
  info: (obj, msg) => lines.push({ level: 'info', msg, obj }),
  warn: (obj, msg) => lines.push({ level: 'warn', msg, obj }),
  error: (obj, msg) => lines.push({ level: 'error', msg, obj }),
};

/** kubectl against this scenario's own cluster (the transcript is the suite's). */
async function kube(args: readonly string[], input?: string): Promise<void> {
  const r = await kubectl(args, input === undefined ? {} : { input }, state);
  if (r.code !== 0) throw new Error(`e2e: kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
}

const applyObjects = (...objects: object[]) =>
  kube(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));

const sa = (name: string) => facts.lookup({ namespace: NS, serviceAccount: name });
const until = <T>(what: string, f: () => T | undefined | false) =>
  waitFor(
    what,
    LIMIT_MS,
    async () => {
      const v = f();
      return v === false ? undefined : v;
    },
    100,
  );

const roleBinding = (name: string, serviceAccount: string) => ({
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'RoleBinding',
  metadata: { name, namespace: NS },
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
  subjects: [{ kind: 'ServiceAccount', name: serviceAccount, namespace: NS }],
});

beforeAll(async () => {
  const binDir = process.env.TOKENGUARD_E2E_BIN_DIR;
  if (!binDir)
    throw new Error('e2e: TOKENGUARD_E2E_BIN_DIR is not set; run the suite with test/e2e/run.sh (npm run test:e2e)');
  const suite = loadState();
  cluster = await startCluster({ binDir, workDir: join(suite.workDir, 'restart-cluster') });
  state = { ...suite, kubeconfig: cluster.kubeconfig };
  kubeConfig = loadKubeConfig(cluster.kubeconfig, {});
  await kube(['create', 'namespace', NS]);
  await kube(['label', 'namespace', NS, 'tier=before']);
  await applyObjects(
    {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'worker', namespace: NS, annotations: { 'tokenguard.dev/api-access': 'false' } },
    },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'reader', namespace: NS } },
    roleBinding('reader-view', 'reader'),
  );
  facts = createClusterFacts({ kubeConfig, logger, backoffInitialMs: 200, backoffMaxMs: 2_000 });
  await facts.start();
  await until('reader bound, worker known', () => {
    const r = sa('reader') as ClusterFacts;
    const w = sa('worker') as ClusterFacts;
    return r.serviceAccount?.bound === true && w.serviceAccount?.bound === false;
  });
}, 240_000);

afterAll(async () => {
  await facts?.stop();
  await cluster?.stop();
}, 60_000);

test('kube-apiserver stopped: answers from the cache, bindings unknown, a miss fails fast, still ready', async () => {
  expect(facts.status().stale).toBe(false);
  await cluster.stopApiserver();
  await until('every informer down and reconnecting', () => {
    const s = facts.status();
    return (
      Object.values(s.resources).every((r) => !r.watching && r.stale) && Object.values(s.reconnects).every((n) => n > 0)
    );
  });
  expect(facts.status().stale).toBe(true);

  const reader = sa('reader');
  expect(reader).not.toBeInstanceOf(Promise); // from the cache: no request to a server that is gone
  expect((reader as ClusterFacts).serviceAccount).toMatchObject({ namespace: NS, name: 'reader' });
  // Bound a moment ago; with the RBAC informers down it is unknown, not "unbound".
  expect((reader as ClusterFacts).serviceAccount?.bound).toBeUndefined();
  expect((reader as ClusterFacts).namespace?.labels.tier).toBe('before');
  const worker = sa('worker') as ClusterFacts;
  expect(worker.serviceAccount?.annotations['tokenguard.dev/api-access']).toBe('false');
  expect(worker.serviceAccount?.bound).toBeUndefined();

  // A ServiceAccount the cache does not hold: the direct read fails (connection refused) and the
  // lookup answers without it, well inside the webhook's timeout, instead of hanging.
  const errorsBefore = facts.status().directReads.error + facts.status().directReads.timeout;
  const missing = await sa('unknown-during-outage');
  expect(missing.serviceAccount).toBeUndefined();
  expect(facts.status().directReads.error + facts.status().directReads.timeout).toBe(errorsBefore + 1);

  expect(facts.ready()).toBe(true); // readiness is about the first sync; staleness degrades decisions, not serving
  expect(lines.some((l) => l.level === 'warn' && l.msg === 'facts watch failed; reconnecting')).toBe(true);
  // Staleness is checked on a timer (every 10 s by default), and said once when it starts.
  await until('the stale warning', () =>
    lines.some((l) => l.level === 'warn' && l.msg.startsWith('cluster facts are stale')),
  );
}, 120_000);

test('kube-apiserver back (new process, same etcd): watches reopen, changes made after the restart arrive', async () => {
  await cluster.startApiserver();
  // Right away, before the informers' next attempt: these must come in through the new watches or a relist.
  await kube(['label', 'namespace', NS, 'tier=after', '--overwrite']);
  await applyObjects(
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'made-after-restart', namespace: NS } },
    roleBinding('worker-view', 'worker'),
  );
  await kube(['delete', 'rolebinding', 'reader-view', '-n', NS]);

  await until('fresh again', () => !facts.status().stale);
  const s = facts.status();
  expect(Object.values(s.resources).every((r) => r.watching && !r.stale)).toBe(true);
  await until('changes of after the restart', () => {
    const w = sa('worker') as ClusterFacts;
    const r = sa('reader') as ClusterFacts;
    const made = sa('made-after-restart');
    return (
      w.serviceAccount?.bound === true &&
      r.serviceAccount?.bound === false &&
      r.namespace?.labels.tier === 'after' &&
      !(made instanceof Promise) &&
      made.serviceAccount?.bound === false
    );
  });
  expect((sa('worker') as ClusterFacts).serviceAccount?.boundBy).toEqual([`RoleBinding ${NS}/worker-view`]);
  expect(lines.some((l) => l.level === 'info' && l.msg === 'facts watch reconnected')).toBe(true);

  // The same ServiceAccounts and Namespaces as a fresh listing of the restarted server: nothing lost, nothing twice.
  const listed = await readClusterFacts(kubeConfig);
  const keys = (o: object) => Object.keys(o).sort();
  await until('the cache agrees with a fresh listing', () => {
    const snap = facts.snapshot();
    return (
      JSON.stringify(keys(snap.serviceAccounts)) === JSON.stringify([...listed.serviceAccounts.keys()].sort()) &&
      JSON.stringify(keys(snap.namespaces)) === JSON.stringify([...listed.namespaces.keys()].sort())
    );
  });
  expect(facts.status().objects.serviceaccounts).toBe(listed.serviceAccounts.size);
  expect(facts.status().objects.namespaces).toBe(listed.namespaces.size);
}, 120_000);
