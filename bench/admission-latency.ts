/**
 * Admission latency of pod creation in three set-ups, on a real kube-apiserver 1.34 of the e2e
 * harness (test/e2e/cluster.ts, with the MutatingAdmissionPolicy feature gate and
 * `admissionregistration.k8s.io/v1beta1`, as scenario 25 runs it), one control plane for all three:
 *
 *   (a) webhooks:     `tokenguard serve` behind the webhook configurations of deploy/base;
 *   (b) VAP+webhooks: the same, plus the ValidatingAdmissionPolicies of `tokenguard export vap`;
 *   (c) VAP+MAP:      the export of `tokenguard export vap` and `export map`, no webhook at all.
 *
 * The policies are test/fixtures/policies/strict (the e2e suite's set; every part of it a pod
 * create meets is exported). Each set-up gets a warm-up, then `--pods` direct pod creates (no
 * Deployment; no kubelet, so they never run) with `--concurrency` in flight over keep-alive
 * connections, each checked: 201, API token removed; the set-ups take turns for `--rounds` rounds. Reported: the wall time of the batch and
 * the client's per-request latency, and from the API server's /metrics (bucket deltas before and
 * after the batch) `apiserver_admission_step_admission_duration_seconds` (type admit, validate),
 * `apiserver_admission_controller_admission_duration_seconds` (the four plugins),
 * `apiserver_admission_webhook_admission_duration_seconds` (tokenguard's webhooks),
 * `apiserver_validating_admission_policy_check_duration_seconds` and
 * `apiserver_mutating_admission_policy_check_duration_seconds` (tokenguard's policies). The
 * machine is shared and noisy: figures are also given as ratios to (a) of the same run.
 *
 * Opt-in, not part of `npm test`, the e2e suite or `npm run bench` (about 3 minutes on 2 cores):
 *   npx tsx bench/admission-latency.ts [--pods 500] [--concurrency 10] [--rounds 3] [--no-docs]
 * Builds dist/ first; writes its table into the admission-latency block of docs/benchmarks.md
 * (unless --no-docs) and the raw figures to bench/results/admission-latency-latest.json.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { type Cluster, freePorts, startCluster } from '../test/e2e/cluster.js';
import { type E2EState, PROBE_NAMESPACE, REPO_ROOT, STATE_ENV, saveState, waitFor } from '../test/e2e/env.js';
import { apiGet, apiRequest, ensureNamespace, kubectlOk, podManifest } from '../test/e2e/kube.js';
import {
  CLI,
  generateServingCerts,
  initPolicyDir,
  makeWebhookClientAuth,
  policyFiles,
  serveArgs,
  startServe,
  stopServe,
} from '../test/e2e/tokenguard.js';
import {
  deleteWebhookConfiguration,
  legacyTokenSecret,
  registerWebhooks,
  renderWebhookConfigs,
} from '../test/e2e/webhooks.js';
import { writeDocsBlock } from './scan.js';

const { values } = parseArgs({
  options: {
    pods: { type: 'string', default: '500' },
    concurrency: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    'no-docs': { type: 'boolean', default: false },
  },
});
const PODS = Number(values.pods);
const CONCURRENCY = Number(values.concurrency);
const ROUNDS = Number(values.rounds);
const WARMUP = 30;
const POLICIES = 'test/fixtures/policies/strict';
if (![PODS, CONCURRENCY, ROUNDS].every((n) => Number.isInteger(n) && n > 0))
  throw new Error('bench:admission-latency: --pods, --concurrency and --rounds take positive integers');

type Mode = 'a' | 'b' | 'c';
const MODES: Record<Mode, string> = { a: '(a) webhooks', b: '(b) VAP + webhooks', c: '(c) VAP + MAP, no webhook' };

function log(msg: string): void {
  process.stderr.write(`bench:admission-latency: ${msg}\n`);
}

// ------------------------------------------------------------------ the API server's histograms

/** One histogram: cumulative counts by upper bound (`+Inf` last), sum and count. */
interface Histogram {
  readonly bounds: number[];
  readonly counts: number[];
  sum: number;
  count: number;
}

/** Every series of the API server's /metrics, by name and labels: `name{labels}` -> value. */
async function scrape(state: E2EState): Promise<Map<string, number>> {
  const r = await apiGet('/metrics', state);
  if (r.status !== 200) throw new Error(`GET /metrics answered ${r.status}`);
  const out = new Map<string, number>();
  for (const line of r.body.split('\n')) {
    if (
      !line.startsWith('apiserver_admission_') &&
      !line.startsWith('apiserver_validating_admission_policy_') &&
      !line.startsWith('apiserver_mutating_admission_policy_')
    )
      continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

function labelsOf(series: string): Record<string, string> {
  const out: Record<string, string> = {};
  const body = series.slice(series.indexOf('{') + 1, series.lastIndexOf('}'));
  for (const m of body.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) out[m[1] as string] = m[2] as string;
  return out;
}

/** The histogram `name`, over every series whose labels pass `where`, of the increase from `before` to `after`. */
function histogramDelta(
  before: Map<string, number>,
  after: Map<string, number>,
  name: string,
  where: (labels: Record<string, string>) => boolean,
): Histogram {
  const byBound = new Map<number, number>();
  const h: Histogram = { bounds: [], counts: [], sum: 0, count: 0 };
  for (const [series, v] of after) {
    if (!series.startsWith(`${name}_`)) continue;
    const labels = labelsOf(series);
    const { le, ...rest } = labels;
    if (!where(rest)) continue;
    const d = v - (before.get(series) ?? 0);
    const kind = series.slice(name.length + 1, series.indexOf('{') < 0 ? undefined : series.indexOf('{'));
    if (kind === 'bucket' && le !== undefined) {
      const bound = le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le);
      byBound.set(bound, (byBound.get(bound) ?? 0) + d);
    } else if (kind === 'sum') h.sum += d;
    else if (kind === 'count') h.count += d;
  }
  for (const b of [...byBound.keys()].sort((x, y) => x - y)) {
    h.bounds.push(b);
    h.counts.push(byBound.get(b) as number);
  }
  return h;
}

/** The q-quantile, interpolated linearly within its bucket (as Prometheus' histogram_quantile); `>` bound when it falls in +Inf. */
function quantile(h: Histogram, q: number): { value: number; above?: boolean } | undefined {
  const total = h.counts[h.counts.length - 1] ?? 0;
  if (total === 0) return undefined;
  const rank = q * total;
  for (let i = 0; i < h.bounds.length; i++) {
    const upper = h.bounds[i] as number;
    const cum = h.counts[i] as number;
    if (cum < rank) continue;
    if (upper === Number.POSITIVE_INFINITY) return { value: h.bounds[i - 1] ?? 0, above: true };
    const lower = i === 0 ? 0 : (h.bounds[i - 1] as number);
    const prev = i === 0 ? 0 : (h.counts[i - 1] as number);
    return { value: lower + (upper - lower) * ((rank - prev) / (cum - prev || 1)) };
  }
  return undefined;
}

// ------------------------------------------------------------------ the set-ups

/** `tokenguard export vap|map` of the bench's policies, as YAML. */
function exported(which: 'vap' | 'map'): string {
  return execFileSync(process.execPath, [CLI, 'export', which, '--policies', join(REPO_ROOT, POLICIES), '--out', '-'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
}

/** The names of the exported policies of `kind` that match pod creates (the `automount` and `pods` parts, docs/vap.md). */
function podPolicies(yaml: string, kind: string): string[] {
  return parseAllDocuments(yaml)
    .map((d) => d.toJS() as { kind?: string; metadata?: { name?: string } } | null)
    .filter((o) => o?.kind === kind && /-(automount|pods)$/.test(o.metadata?.name ?? ''))
    .map((o) => o?.metadata?.name as string);
}

interface Expect {
  readonly webhooks: boolean;
  /** The exported ValidatingAdmissionPolicies are installed. */
  readonly vap: boolean;
  /** The exported MutatingAdmissionPolicies that a pod create meets. */
  readonly map: readonly string[];
}

/**
 * Waits until admission is as `want` says (a bounded wait, not a sleep), from `--dry-run`
 * creates: a pod reaches tokenguard's webhooks or not, and each expected MutatingAdmissionPolicy
 * and no other (the API server's counters); a legacy token Secret is denied by a
 * ValidatingAdmissionPolicy or not (an admitted pod cannot show a ValidatingAdmissionPolicy in the
 * counters: docs/vap.md "Admission latency"). The whole export is applied at once, as scenario 25
 * applies it before its own probe.
 */
async function settle(state: E2EState, namespace: string, want: Expect): Promise<void> {
  let n = 0;
  await waitFor(
    `admission as set up (webhooks ${want.webhooks ? 'on' : 'off'}, VAP ${want.vap ? 'on' : 'off'}, ${want.map.length} MAP)`,
    120_000,
    async () => {
      const before = await scrape(state);
      const r = await apiRequest(
        'POST',
        `/api/v1/namespaces/${namespace}/pods?dryRun=All`,
        podManifest(namespace, `settle-${n++}`),
        state,
      );
      if (r.status !== 201) throw new Error(`dry-run pod create answered ${r.status}: ${r.body.slice(0, 300)}`);
      const after = await scrape(state);
      const called = (prefix: string) =>
        [...after]
          .filter(([s, v]) => s.startsWith(prefix) && v > (before.get(s) ?? 0))
          .map(([s]) => labelsOf(s).policy ?? labelsOf(s).name)
          .filter((x): x is string => x?.includes('tokenguard') === true);
      const hooks = new Set(called('apiserver_admission_webhook_admission_duration_seconds_count'));
      const maps = new Set(called('apiserver_mutating_admission_policy_check_total'));
      const secret = await apiRequest(
        'POST',
        `/api/v1/namespaces/${namespace}/secrets?dryRun=All`,
        legacyTokenSecret(namespace, `settle-${n++}`),
        state,
      );
      const byVap = secret.status >= 400 && secret.body.includes("ValidatingAdmissionPolicy 'tokenguard-");
      const same = (got: Set<string>, w: readonly string[]) => got.size === w.length && w.every((x) => got.has(x));
      if (hooks.size > 0 !== want.webhooks || byVap !== want.vap || !same(maps, want.map)) {
        throw new Error(
          `pod: webhooks [${[...hooks]}], MAP [${[...maps]}]; legacy token Secret: HTTP ${secret.status}${byVap ? ' from a ValidatingAdmissionPolicy' : ''}`,
        );
      }
      return true;
    },
  );
}

/** Installs set-up `mode` and waits until it is in force. */
async function setUp(
  state: E2EState,
  mode: Mode,
  x: { vap: string; map: string; maps: string[]; configs: Awaited<ReturnType<typeof renderWebhookConfigs>> },
): Promise<void> {
  const webhooks = mode !== 'c';
  const vap = mode !== 'a';
  const map = mode === 'c';
  const remove = [
    ...(vap ? [] : ['validatingadmissionpolicybindings', 'validatingadmissionpolicies']),
    ...(map ? [] : ['mutatingadmissionpolicybindings', 'mutatingadmissionpolicies']),
  ];
  if (remove.length > 0)
    await kubectlOk(['delete', remove.join(','), '-l', 'app.kubernetes.io/part-of=tokenguard', '--wait=true']);
  // Before the policies: the webhooks' own readiness probe expects the webhooks' answers alone.
  if (webhooks) await registerWebhooks(x.configs);
  if (vap) await kubectlOk(['apply', '-f', '-'], { input: x.vap });
  if (map) await kubectlOk(['apply', '-f', '-'], { input: x.map });
  if (!webhooks) {
    await deleteWebhookConfiguration('mutatingwebhookconfiguration');
    await deleteWebhookConfiguration('validatingwebhookconfiguration');
  }
  await settle(state, `bench-${mode}`, { webhooks, vap, map: map ? x.maps : [] });
}

interface Batch {
  readonly mode: Mode;
  readonly wallMs: number;
  /** Per-request latency at the client, sorted (ms). */
  readonly latencies: number[];
  readonly histograms: Record<string, Histogram>;
}

/** `count` pod creates in `namespace`, `CONCURRENCY` in flight; each must be admitted with its API token removed. */
async function creates(
  state: E2EState,
  agent: Agent,
  namespace: string,
  prefix: string,
  count: number,
): Promise<{ wallMs: number; latencies: number[] }> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    for (let i = next++; i < count; i = next++) {
      const t = performance.now();
      const r = await apiRequest(
        'POST',
        `/api/v1/namespaces/${namespace}/pods`,
        podManifest(namespace, `${prefix}-${i}`),
        state,
        agent,
      );
      latencies.push(performance.now() - t);
      if (r.status !== 201)
        throw new Error(`pod ${namespace}/${prefix}-${i}: HTTP ${r.status}: ${r.body.slice(0, 300)}`);
      const pod = JSON.parse(r.body) as {
        spec: { automountServiceAccountToken?: boolean; volumes?: { name: string }[] };
      };
      if (
        pod.spec.automountServiceAccountToken !== false ||
        (pod.spec.volumes ?? []).some((v) => v.name.startsWith('kube-api-access-'))
      ) {
        throw new Error(`pod ${namespace}/${prefix}-${i} was admitted with its API token: admission is not as set up`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, count) }, worker));
  return { wallMs: performance.now() - started, latencies: latencies.sort((x, y) => x - y) };
}

const HISTOGRAMS: Record<string, [string, (l: Record<string, string>) => boolean]> = {
  'step admit': [
    'apiserver_admission_step_admission_duration_seconds',
    (l) => l.type === 'admit' && l.operation === 'CREATE',
  ],
  'step validate': [
    'apiserver_admission_step_admission_duration_seconds',
    (l) => l.type === 'validate' && l.operation === 'CREATE',
  ],
  'MutatingAdmissionWebhook plugin': [
    'apiserver_admission_controller_admission_duration_seconds',
    (l) => l.name === 'MutatingAdmissionWebhook' && l.operation === 'CREATE',
  ],
  'ValidatingAdmissionWebhook plugin': [
    'apiserver_admission_controller_admission_duration_seconds',
    (l) => l.name === 'ValidatingAdmissionWebhook' && l.operation === 'CREATE',
  ],
  'MutatingAdmissionPolicy plugin': [
    'apiserver_admission_controller_admission_duration_seconds',
    (l) => l.name === 'MutatingAdmissionPolicy' && l.operation === 'CREATE',
  ],
  'ValidatingAdmissionPolicy plugin': [
    'apiserver_admission_controller_admission_duration_seconds',
    (l) => l.name === 'ValidatingAdmissionPolicy' && l.operation === 'CREATE',
  ],
  'webhook call, mutating': [
    'apiserver_admission_webhook_admission_duration_seconds',
    (l) => l.type === 'admit' && (l.name ?? '').endsWith('tokenguard.dev'),
  ],
  'webhook call, validating': [
    'apiserver_admission_webhook_admission_duration_seconds',
    (l) => l.type !== 'admit' && (l.name ?? '').endsWith('tokenguard.dev'),
  ],
  // Recorded on deny, warn, audit or error only (docs/vap.md "Admission latency"): empty for admitted pods.
  'VAP check (per policy)': [
    'apiserver_validating_admission_policy_check_duration_seconds',
    (l) => (l.policy ?? '').startsWith('tokenguard-'),
  ],
  'MAP check (per policy)': [
    'apiserver_mutating_admission_policy_check_duration_seconds',
    (l) => (l.policy ?? '').startsWith('tokenguard-'),
  ],
};

async function batch(state: E2EState, agent: Agent, mode: Mode, round: number): Promise<Batch> {
  const namespace = `bench-${mode}`;
  await creates(state, agent, namespace, `warmup-${round}`, WARMUP);
  const before = await scrape(state);
  const { wallMs, latencies } = await creates(state, agent, namespace, `pod-${round}`, PODS);
  const after = await scrape(state);
  const histograms: Record<string, Histogram> = {};
  for (const [label, [name, where]] of Object.entries(HISTOGRAMS))
    histograms[label] = histogramDelta(before, after, name, where);
  log(`round ${round + 1}, ${MODES[mode]}: ${PODS} pods in ${(wallMs / 1000).toFixed(2)} s`);
  return { mode, wallMs, latencies, histograms };
}

/** The rounds of one set-up as one: the median wall time, every request's latency, the histograms added up. */
function merge(rounds: Batch[]): Batch {
  const walls = rounds.map((b) => b.wallMs).sort((x, y) => x - y);
  const histograms: Record<string, Histogram> = {};
  for (const label of Object.keys(HISTOGRAMS)) {
    const hs = rounds.map((b) => b.histograms[label] as Histogram);
    const bounds = hs.find((h) => h.bounds.length > 0)?.bounds ?? [];
    histograms[label] = {
      bounds,
      counts: bounds.map((_, i) => hs.reduce((t, h) => t + (h.counts[i] ?? 0), 0)),
      sum: hs.reduce((t, h) => t + h.sum, 0),
      count: hs.reduce((t, h) => t + h.count, 0),
    };
  }
  return {
    mode: (rounds[0] as Batch).mode,
    wallMs: walls[Math.floor(walls.length / 2)] as number,
    latencies: rounds.flatMap((b) => b.latencies).sort((x, y) => x - y),
    histograms,
  };
}

// ------------------------------------------------------------------ the table

/** Milliseconds, to three significant digits or so. */
const ms = (x: number) =>
  x >= 10 ? `${x.toFixed(0)} ms` : x >= 0.1 ? `${x.toFixed(2)} ms` : `${(x * 1000).toFixed(1)} µs`;
const pick = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number;

function render(batches: Batch[], env: string): string {
  const [a] = batches as [Batch];
  const rows: [string, (b: Batch) => { v: number; text: string } | undefined][] = [
    [
      `wall time of ${PODS} creates (median of ${ROUNDS})`,
      (b) => ({ v: b.wallMs, text: `${(b.wallMs / 1000).toFixed(2)} s` }),
    ],
    ['creates/s', (b) => ({ v: PODS / (b.wallMs / 1000), text: (PODS / (b.wallMs / 1000)).toFixed(0) })],
    [
      'client latency mean',
      (b) => ({
        v: b.latencies.reduce((x, y) => x + y, 0) / b.latencies.length,
        text: ms(b.latencies.reduce((x, y) => x + y, 0) / b.latencies.length),
      }),
    ],
    ['client latency p50', (b) => ({ v: pick(b.latencies, 0.5), text: ms(pick(b.latencies, 0.5)) })],
    ['client latency p99', (b) => ({ v: pick(b.latencies, 0.99), text: ms(pick(b.latencies, 0.99)) })],
  ];
  for (const label of Object.keys(HISTOGRAMS)) {
    for (const stat of ['mean', 'p50', 'p99'] as const) {
      rows.push([
        `${label} ${stat}`,
        (b) => {
          const h = b.histograms[label] as Histogram;
          if (h.count === 0) return undefined;
          if (stat === 'mean') return { v: h.sum / h.count, text: `${ms((h.sum / h.count) * 1000)} (n=${h.count})` };
          const q = quantile(h, stat === 'p50' ? 0.5 : 0.99);
          if (!q) return undefined;
          return { v: q.value, text: `${q.above ? '> ' : ''}${ms(q.value * 1000)}` };
        },
      ]);
    }
  }
  const lines = [
    `| measure | ${batches.map((b) => MODES[b.mode]).join(' | ')} |`,
    `|---|${batches.map(() => '---:').join('|')}|`,
  ];
  for (const [label, f] of rows) {
    const base = f(a);
    const cells = batches.map((b) => {
      const x = f(b);
      if (!x) return '–';
      if (b === a || !base || base.v === 0) return x.text;
      return `${x.text} (×${(x.v / base.v).toFixed(2)})`;
    });
    if (cells.every((c) => c === '–')) continue;
    lines.push(`| ${label} | ${cells.join(' | ')} |`);
  }
  return [
    `Per set-up, ${ROUNDS} rounds (the set-ups take turns: a, b, c, a, ...) of ${PODS} direct pod creates, ${CONCURRENCY} in flight, each after ${WARMUP} warm-up creates; policies \`${POLICIES}\`. Client latencies and the API server's histograms cover every round; (×) is the ratio to (a) of the same run. Histogram quantiles are interpolated within the API server's buckets (5 ms, 25 ms, 100 ms, ... for admission), so the means are the precise figures. \`apiserver_validating_admission_policy_check_duration_seconds\` has no row: the API server records a ValidatingAdmissionPolicy's check only when it denies, warns, audits or fails, never for an admitted request; the \`ValidatingAdmissionPolicy plugin\` row (\`apiserver_admission_controller_admission_duration_seconds\`) is its cost.`,
    '',
    ...lines,
    '',
    `Measured with \`npx tsx bench/admission-latency.ts --pods ${PODS} --concurrency ${CONCURRENCY} --rounds ${ROUNDS}\` on ${env}.`,
  ].join('\n');
}

// ------------------------------------------------------------------ main

async function main(): Promise<void> {
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: REPO_ROOT, stdio: 'inherit' });
  const binDir = execFileSync('bash', [join(REPO_ROOT, 'test/e2e/get-binaries.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  })
    .trim()
    .split('\n')
    .pop() as string;
  const work = mkdtempSync(join(tmpdir(), 'tg-bench-admission-'));
  let cluster: Cluster | undefined;
  let state: E2EState | undefined;
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  try {
    const clientAuth = await makeWebhookClientAuth(join(work, 'webhook-client'));
    cluster = await startCluster({
      binDir,
      workDir: join(work, 'cluster'),
      admissionConfigFile: clientAuth.admissionConfigFile,
      extraApiserverArgs: [
        '--feature-gates=MutatingAdmissionPolicy=true',
        '--runtime-config=admissionregistration.k8s.io/v1beta1=true',
      ],
    });
    log(`control plane at ${cluster.apiserverUrl}`);
    const certDir = join(work, 'tokenguard', 'certs');
    const { caBundle } = await generateServingCerts(certDir);
    const [port] = await freePorts(1);
    if (port === undefined) throw new Error('no free port');
    const policyDir = join(work, 'tokenguard', 'policies');
    initPolicyDir(policyDir, policyFiles(POLICIES));
    const serve = {
      port,
      pid: 0,
      certDir,
      clientCaFile: clientAuth.caFile,
      policyDir,
      kubeconfig: cluster.kubeconfig,
      log: join(work, 'tokenguard', 'tokenguard.log'),
    };
    state = {
      workDir: work,
      binDir,
      kubeconfig: cluster.kubeconfig,
      apiserverUrl: cluster.apiserverUrl,
      caFile: cluster.caFile,
      adminCertFile: cluster.adminCertFile,
      adminKeyFile: cluster.adminKeyFile,
      logs: { ...cluster.logs, transcript: join(work, 'kubectl-transcript.jsonl') },
      serve: { ...serve, args: serveArgs(serve) },
      webhookBaseUrl: `https://127.0.0.1:${port}`,
      caBundle,
    };
    // The e2e helpers read the state file the variable names.
    process.env[STATE_ENV] = join(work, 'state.json');
    writeFileSync(state.logs.transcript, '');
    saveState(state);
    state = await startServe(state);
    await ensureNamespace(PROBE_NAMESPACE);
    for (const m of Object.keys(MODES)) await ensureNamespace(`bench-${m}`);
    const vap = exported('vap');
    const map = exported('map');
    const maps = podPolicies(map, 'MutatingAdmissionPolicy');
    const configs = await renderWebhookConfigs(state.webhookBaseUrl, caBundle);
    const rounds: Batch[][] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const batches: Batch[] = [];
      for (const mode of Object.keys(MODES) as Mode[]) {
        await setUp(state, mode, { vap, map, maps, configs });
        batches.push(await batch(state, agent, mode, round));
      }
      rounds.push(batches);
    }
    const batches = (Object.keys(MODES) as Mode[]).map((mode) =>
      merge(rounds.map((r) => r.find((b) => b.mode === mode) as Batch)),
    );
    const env = `${cpus().length} CPUs (${cpus()[0]?.model.trim()}), Node.js ${process.version}, Kubernetes v1.34.4 (kube-apiserver, etcd and tokenguard on the same machine)`;
    const table = render(batches, env);
    process.stdout.write(`${table}\n`);
    mkdirSync(join(REPO_ROOT, 'bench/results'), { recursive: true });
    writeFileSync(
      join(REPO_ROOT, 'bench/results/admission-latency-latest.json'),
      `${JSON.stringify({ at: new Date().toISOString(), env, pods: PODS, concurrency: CONCURRENCY, batches: batches.map((b) => ({ ...b, latencies: undefined, p50: pick(b.latencies, 0.5), p99: pick(b.latencies, 0.99) })) }, null, 2)}\n`,
    );
    if (!values['no-docs']) writeDocsBlock('admission-latency', table, 'Admission latency: webhook, VAP, MAP');
  } finally {
    agent.destroy();
    if (state) await stopServe(state).catch(() => undefined);
    await cluster?.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:admission-latency: ${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 1;
});
