/**
 * `tokenguard scan` on a generated cluster: a real etcd + kube-apiserver + kube-controller-manager
 * of the e2e harness (test/e2e/cluster.ts; binaries from test/e2e/get-binaries.sh), filled through
 * the API with 50 namespaces, 5,000 ServiceAccounts, 2,000 legacy token Secrets (the token
 * controller fills them in), 1,000 Deployments with a ReplicaSet each, and their pods: first 5,000
 * (5 per workload), then 20,000 (20 per workload). Each size is scanned `--runs` times by the
 * built CLI (`node dist/cli/main.js scan --output json`), and the wall time, objects per second
 * and peak RSS (the child's own `maxRSS`) are reported: with the same 1,000 workloads, the peak
 * RSS must not grow with the pod count.
 *
 * The controllers that would act on the generated objects (garbage collector, Deployment,
 * ReplicaSet, ...) are off, so the pods stay exactly as created, owners and all; the
 * ServiceAccount admission plugin still gives every pod its API token volume.
 *
 * Opt-in, not part of `npm test` or the e2e suite (about 3 minutes on 2 cores):
 *   npm run bench:scan -- [--runs 3] [--docs]   (builds dist/ first)
 * `--docs` rewrites the "tokenguard scan" block of docs/benchmarks.md; the JSON goes to
 * bench/results/scan-latest.json either way.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { type Cluster, startCluster } from '../test/e2e/cluster.js';

const ROOT = resolve(import.meta.dirname ?? '.', '..');
const NAMESPACES = 50;
const SERVICE_ACCOUNTS = 5_000;
const SECRETS = 2_000;
const WORKLOADS = 1_000;
const PODS_SMALL = 5;
const PODS_LARGE = 20;
const CONCURRENCY = 24;
const CANARY = 'CANARY-bench-scan-3c9e';

/** Set from the command line in main() (this module is also imported for {@link writeDocsBlock}). */
let RUNS = 3;

function log(msg: string): void {
  process.stderr.write(`bench:scan: ${msg}\n`);
}

// ------------------------------------------------------------------ the API, directly

let agent: Agent;
let tls: { ca: Buffer; cert: Buffer; key: Buffer };
let server: URL;

/** How many objects a list would return: `remainingItemCount` of a one-item page, plus that item. */
function count(path: string): Promise<number> {
  return new Promise((res, rej) => {
    const req = request(
      {
        hostname: server.hostname,
        port: server.port,
        path: `${path}${path.includes('?') ? '&' : '?'}limit=1`,
        method: 'GET',
        agent,
        ...tls,
      },
      (r) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => {
          const list = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
            items?: unknown[];
            metadata?: { remainingItemCount?: number };
          };
          res((list.items?.length ?? 0) + (list.metadata?.remainingItemCount ?? 0));
        });
      },
    );
    req.on('error', rej);
    req.end();
  });
}

/** Every object the scan lists (the lists of src/scan/collect.ts). */
async function listed(): Promise<number> {
  const paths = [
    '/api/v1/namespaces',
    '/api/v1/serviceaccounts',
    '/apis/rbac.authorization.k8s.io/v1/rolebindings',
    '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings',
    '/api/v1/secrets?fieldSelector=type%3Dkubernetes.io%2Fservice-account-token',
    '/apis/apps/v1/deployments',
    '/apis/apps/v1/statefulsets',
    '/apis/apps/v1/daemonsets',
    '/apis/apps/v1/replicasets',
    '/api/v1/replicationcontrollers',
    '/apis/batch/v1/jobs',
    '/apis/batch/v1/cronjobs',
    '/api/v1/pods',
  ];
  return (await Promise.all(paths.map(count))).reduce((a, b) => a + b, 0);
}

function post(path: string, body: unknown): Promise<Record<string, unknown>> {
  const text = JSON.stringify(body);
  return new Promise((res, rej) => {
    const req = request(
      {
        hostname: server.hostname,
        port: server.port,
        path,
        method: 'POST',
        agent,
        ...tls,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) },
      },
      (r) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => {
          const out = Buffer.concat(chunks).toString('utf8');
          if ((r.statusCode ?? 0) >= 300) rej(new Error(`POST ${path}: HTTP ${r.statusCode}: ${out.slice(0, 300)}`));
          else res(JSON.parse(out) as Record<string, unknown>);
        });
      },
    );
    req.on('error', rej);
    req.end(text);
  });
}

/** Runs `jobs` with at most CONCURRENCY in flight; retries a job a few times (a throttled API server). */
async function pool(what: string, jobs: (() => Promise<unknown>)[]): Promise<number> {
  const started = performance.now();
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < jobs.length; i = next++) {
      for (let attempt = 0; ; attempt++) {
        try {
          await (jobs[i] as () => Promise<unknown>)();
          break;
        } catch (e) {
          if (attempt >= 5) throw e;
          await new Promise((r) => setTimeout(r, 200 * (attempt + 1)));
        }
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const s = (performance.now() - started) / 1000;
  log(`${what}: ${jobs.length} in ${s.toFixed(1)} s (${Math.round(jobs.length / s)}/s)`);
  return s;
}

const ns = (i: number) => `bench-${String(i).padStart(3, '0')}`;

async function generate(): Promise<{
  rs: { namespace: string; name: string; uid: string; sa: string; secret: string | undefined }[];
}> {
  await pool(
    'namespaces',
    Array.from(
      { length: NAMESPACES },
      (_, i) => () => post('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns(i) } }),
    ),
  );
  const perNs = SERVICE_ACCOUNTS / NAMESPACES;
  const secretsPerNs = SECRETS / NAMESPACES;
  await pool(
    'ServiceAccounts',
    Array.from({ length: SERVICE_ACCOUNTS }, (_, i) => () => {
      const n = Math.floor(i / perNs);
      const k = i % perNs;
      // Half of the ServiceAccounts with a token Secret list it, as auto-generated ones did.
      return post(`/api/v1/namespaces/${ns(n)}/serviceaccounts`, {
        apiVersion: 'v1',
        kind: 'ServiceAccount',
        metadata: { name: `sa-${k}` },
        ...(k < secretsPerNs && k % 2 === 0 ? { secrets: [{ name: `sa-${k}-token` }] } : {}),
      });
    }),
  );
  const day = (d: number) => new Date(Date.now() - d * 86_400_000).toISOString().slice(0, 10);
  await pool(
    'legacy token Secrets',
    Array.from({ length: SECRETS }, (_, i) => () => {
      const n = Math.floor(i / secretsPerNs);
      const k = i % secretsPerNs;
      const labels: Record<string, string> = {};
      if (k % 4 === 1) labels['kubernetes.io/legacy-token-last-used'] = day(10 + k);
      if (k % 10 === 3) labels['kubernetes.io/legacy-token-invalid-since'] = day(k);
      return post(`/api/v1/namespaces/${ns(n)}/secrets`, {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: `sa-${k}-token`, labels, annotations: { 'kubernetes.io/service-account.name': `sa-${k}` } },
        type: 'kubernetes.io/service-account-token',
        stringData: { canary: CANARY },
      });
    }),
  );
  const perNsWorkloads = WORKLOADS / NAMESPACES;
  const rs: { namespace: string; name: string; uid: string; sa: string; secret: string | undefined }[] = [];
  await pool(
    'Deployments and ReplicaSets',
    Array.from({ length: WORKLOADS }, (_, i) => async () => {
      const n = Math.floor(i / perNsWorkloads);
      const k = i % perNsWorkloads;
      const name = `app-${k}`;
      const sa = `sa-${k}`;
      // A quarter mount their ServiceAccount's legacy token.
      const secret = k % 4 === 0 && k < secretsPerNs ? `${sa}-token` : undefined;
      const template = podTemplate(name, sa, secret);
      const labels = { app: name };
      const d = await post(`/apis/apps/v1/namespaces/${ns(n)}/deployments`, {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name },
        spec: { replicas: PODS_LARGE, selector: { matchLabels: labels }, template },
      });
      const dUid = (d.metadata as { uid: string }).uid;
      const r = await post(`/apis/apps/v1/namespaces/${ns(n)}/replicasets`, {
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        metadata: {
          name: `${name}-7d4b9c8f5`,
          ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name, uid: dUid, controller: true }],
        },
        spec: { replicas: PODS_LARGE, selector: { matchLabels: labels }, template },
      });
      rs.push({ namespace: ns(n), name: `${name}-7d4b9c8f5`, uid: (r.metadata as { uid: string }).uid, sa, secret });
    }),
  );
  return { rs };
}

function podTemplate(app: string, sa: string, secret: string | undefined) {
  return {
    metadata: { labels: { app, tier: 'web' } },
    spec: {
      serviceAccountName: sa,
      containers: [
        {
          name: 'app',
          image: 'registry.invalid/bench/app:1',
          env: [{ name: 'MODE', value: 'bench' }],
          resources: { requests: { cpu: '10m', memory: '16Mi' } },
          ...(secret
            ? { volumeMounts: [{ name: 'legacy', mountPath: '/var/run/secrets/legacy', readOnly: true }] }
            : {}),
        },
      ],
      ...(secret ? { volumes: [{ name: 'legacy', secret: { secretName: secret } }] } : {}),
    },
  };
}

async function addPods(rs: Awaited<ReturnType<typeof generate>>['rs'], from: number, to: number): Promise<void> {
  const jobs: (() => Promise<unknown>)[] = [];
  for (const r of rs) {
    const app = r.name.replace(/-7d4b9c8f5$/, '');
    for (let p = from; p < to; p++) {
      const t = podTemplate(app, r.sa, r.secret);
      jobs.push(() =>
        post(`/api/v1/namespaces/${r.namespace}/pods`, {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: {
            name: `${r.name}-${String(p).padStart(5, '0')}`,
            labels: { ...t.metadata.labels, 'pod-template-hash': '7d4b9c8f5' },
            ownerReferences: [
              { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: r.name, uid: r.uid, controller: true },
            ],
          },
          spec: t.spec,
        }),
      );
    }
  }
  await pool(`pods ${from * rs.length}..${to * rs.length}`, jobs);
}

// ------------------------------------------------------------------ the scan, measured

interface Measure {
  readonly pods: number;
  readonly wallMs: number;
  readonly objects: number;
  readonly maxRssKiB: number;
  /** CPU time of the scan process (user + system). */
  readonly cpuMs: number;
  readonly exit: number;
  readonly summary: Record<string, unknown>;
}

async function measure(kubeconfig: string, work: string, pods: number): Promise<Measure> {
  const rssFile = join(work, 'maxrss');
  const hook = join(work, 'maxrss.mjs');
  writeFileSync(
    hook,
    `import { writeFileSync } from 'node:fs';\nprocess.on('exit', () => { const u = process.resourceUsage(); writeFileSync(process.env.TG_MAXRSS_FILE, JSON.stringify({ maxRSS: u.maxRSS, cpuMs: (u.userCPUTime + u.systemCPUTime) / 1000 })); });\n`,
  );
  const out = join(work, 'report.json');
  const started = performance.now();
  const exit = await new Promise<number>((res) => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        hook,
        join(ROOT, 'dist/cli/main.js'),
        'scan',
        '--kubeconfig',
        kubeconfig,
        '--policies',
        join(ROOT, 'policies'),
        '--output',
        'json',
      ],
      {
        env: { PATH: process.env.PATH, HOME: tmpdir(), TG_MAXRSS_FILE: rssFile },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const chunks: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.on('exit', (code) => {
      writeFileSync(out, Buffer.concat(chunks));
      res(code ?? -1);
    });
  });
  const wallMs = performance.now() - started;
  const text = readFileSync(out, 'utf8');
  if (text.includes(CANARY)) throw new Error('bench:scan: the canary of the Secrets is in the report');
  const report = JSON.parse(text) as {
    summary: Record<string, unknown> & { pods: number; legacyTokens: number; workloads: number };
  };
  if (report.summary.pods !== pods)
    throw new Error(`bench:scan: the report counts ${report.summary.pods} pods, ${pods} expected`);
  const objects = await listed();
  const usage = JSON.parse(readFileSync(rssFile, 'utf8')) as { maxRSS: number; cpuMs: number };
  return { pods, wallMs, objects, maxRssKiB: usage.maxRSS, cpuMs: usage.cpuMs, exit, summary: report.summary };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

function render(rows: Measure[][], env: string): string {
  const lines = [
    `| pods | workloads | objects listed | wall time (median of ${RUNS}) | objects/s | CPU time of the scan | peak RSS (median, range) |`,
    '|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const runs of rows) {
    const m = runs[0] as Measure;
    const wall = median(runs.map((r) => r.wallMs));
    const rss = runs.map((r) => r.maxRssKiB / 1024);
    lines.push(
      `| ${m.pods.toLocaleString('en-US')} | ${WORKLOADS.toLocaleString('en-US')} | ${m.objects.toLocaleString('en-US')} | ${(wall / 1000).toFixed(1)} s | ${Math.round(m.objects / (wall / 1000)).toLocaleString('en-US')} | ${(median(runs.map((r) => r.cpuMs)) / 1000).toFixed(1)} s | ${median(rss).toFixed(0)} MiB (${Math.min(...rss).toFixed(0)}–${Math.max(...rss).toFixed(0)}) |`,
    );
  }
  const [small, large] = rows.map((runs) => median(runs.map((r) => r.maxRssKiB / 1024)));
  lines.push(
    '',
    `Peak RSS at ${PODS_LARGE * WORKLOADS} pods vs ${PODS_SMALL * WORKLOADS}: ${(((large as number) / (small as number) - 1) * 100).toFixed(1)} % (${env}).`,
  );
  return lines.join('\n');
}

/**
 * Replaces what docs/benchmarks.md holds between `<!-- NAME:begin -->` and `<!-- NAME:end -->`
 * with `block`, nothing else. Without the markers: with `heading`, a `## heading` section holding
 * them is appended at the end; without, it is an error.
 */
export function writeDocsBlock(name: string, block: string, heading?: string): void {
  const file = join(ROOT, 'docs/benchmarks.md');
  const doc = readFileSync(file, 'utf8');
  const begin = `<!-- ${name}:begin -->`;
  const end = `<!-- ${name}:end -->`;
  if (!doc.includes(begin) || !doc.includes(end)) {
    if (heading === undefined) throw new Error(`docs/benchmarks.md has no ${begin} marker`);
    writeFileSync(file, `${doc.trimEnd()}\n\n## ${heading}\n\n${begin}\n${block}\n${end}\n`);
  } else
    writeFileSync(file, `${doc.slice(0, doc.indexOf(begin) + begin.length)}\n${block}\n${doc.slice(doc.indexOf(end))}`);
  process.stderr.write(`docs/benchmarks.md: the ${name} block updated\n`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { runs: { type: 'string', default: '3' }, docs: { type: 'boolean', default: false } },
  });
  RUNS = Number(values.runs);
  const binDir = execFileSync('bash', [join(ROOT, 'test/e2e/get-binaries.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  })
    .trim()
    .split('\n')
    .pop() as string;
  const work = mkdtempSync(join(tmpdir(), 'tg-bench-scan-'));
  let cluster: Cluster | undefined;
  const stop = async () => {
    await cluster?.stop();
    rmSync(work, { recursive: true, force: true });
  };
  process.on('SIGINT', () => void stop().then(() => process.exit(130)));
  try {
    cluster = await startCluster({
      binDir,
      workDir: join(work, 'cluster'),
      // The harness passes --controllers=*; a repeated flag adds to the list: these switch off
      // what would act on the generated objects, so the pods stay exactly as created.
      extraControllerManagerArgs: [
        '--controllers=-garbage-collector-controller,-replicaset-controller,-deployment-controller,-statefulset-controller,-daemonset-controller,-job-controller,-cronjob-controller,-pod-garbage-collector-controller,-legacy-serviceaccount-token-cleaner-controller',
      ],
      extraApiserverArgs: ['--max-requests-inflight=800', '--max-mutating-requests-inflight=400'],
    });
    server = new URL(cluster.apiserverUrl);
    tls = {
      ca: readFileSync(cluster.caFile),
      cert: readFileSync(cluster.adminCertFile),
      key: readFileSync(cluster.adminKeyFile),
    };
    agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    log(`control plane at ${cluster.apiserverUrl}`);
    // The default ServiceAccount of each namespace must exist before its pods (the plugin looks it up).
    const generated = await generate();
    const rows: Measure[][] = [];
    for (const [from, to] of [
      [0, PODS_SMALL],
      [PODS_SMALL, PODS_LARGE],
    ] as const) {
      await addPods(generated.rs, from, to);
      const runs: Measure[] = [];
      for (let i = 0; i < RUNS; i++) {
        const m = await measure(cluster.kubeconfig, work, to * WORKLOADS);
        log(
          `scan of ${m.pods} pods: ${(m.wallMs / 1000).toFixed(2)} s (CPU ${(m.cpuMs / 1000).toFixed(2)} s), peak RSS ${(m.maxRssKiB / 1024).toFixed(0)} MiB, exit ${m.exit}`,
        );
        runs.push(m);
      }
      rows.push(runs);
    }
    const env = `${cpus().length} CPUs (${cpus()[0]?.model.trim()}), Node.js ${process.version}, Kubernetes v1.34.4 on the same machine`;
    const table = render(rows, env);
    process.stdout.write(`${table}\n`);
    mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
    writeFileSync(
      join(ROOT, 'bench/results/scan-latest.json'),
      `${JSON.stringify({ at: new Date().toISOString(), env, rows }, null, 2)}\n`,
    );
    if (values.docs) writeDocsBlock('bench:scan', table);
  } finally {
    agent?.destroy();
    await stop();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((e: unknown) => {
    process.stderr.write(`bench:scan: ${(e as Error).stack ?? String(e)}\n`);
    process.exitCode = 1;
  });
}
