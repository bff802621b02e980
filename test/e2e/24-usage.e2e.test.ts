/**
 * Scenario 24: who really uses a token, from the real API server's audit log. A control plane
 * of its own, since the suite's has no audit log: kube-apiserver with `--audit-policy-file`
 * (the policy docs/usage.md recommends, all stages kept so that counting once per auditID is
 * put to the test) and `--audit-log-path`.
 *
 * In namespace e2e-usage:
 * - `bound`: a token from `kubectl create token bound --bound-object-kind Pod
 *   --bound-object-name usage-pod`, the pod on a Node object, so the token names both;
 * - `legacy`: the token kube-controller-manager writes into a `kubernetes.io/service-account-token`
 *   Secret; later that Secret is marked invalid and used once more: refused, and (as this API
 *   server logs it) an event without user or annotation, counted apart;
 * - `reviewer`: a plain `kubectl create token`, which calls TokenReview with bound's token;
 * - `ci`: two legacy token Secrets, `ci-token` used twice by a client of its own user agent,
 *   `ci-spare` never used;
 * - `quiet`: bound by RBAC, never given a token.
 * `tokenguard usage` (the built CLI) on the log must name exactly those identities, their pods,
 * the legacy Secrets, the TokenReview and the counts of requests made here; `tokenguard scan
 * --audit-log` must mark each legacy token Secret used (how often, from where) or not.
 */
import { execFile } from 'node:child_process';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { type Cluster, startCluster } from './cluster.js';
import { type E2EState, fileSize, loadState, readSince, REPO_ROOT, saveState, waitFor } from './env.js';
import { apiAccessVolumes, create, kubectl, type Pod, podManifest } from './kube.js';
import { CLI, serveAlive, setPolicies, startServe, stopServe } from './tokenguard.js';

const NS = 'e2e-usage';

/** The audit policy of docs/usage.md, with every stage kept. */
const AUDIT_POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
rules:
  - level: RequestResponse
    resources: [{group: authentication.k8s.io, resources: [tokenreviews]}]
  - level: Metadata
    userGroups: [system:serviceaccounts]
  - level: None
    userGroups: [system:authenticated, system:unauthenticated]
  - level: Metadata
`;

let cluster: Cluster;
let state: E2EState;
let auditLog: string;
const tokens: Record<string, string> = {};
let podUid = '';
let nodeUid = '';
/** Requests made with each token, by their answer's status code. */
const made: Record<string, number[]> = { bound: [], legacy: [], reviewer: [], ci: [] };
/** The user agent of ci's client, as the audit log records it. */
const CI_AGENT = 'e2e-ci-client/1.0';

async function kube(args: readonly string[], input?: string): Promise<string> {
  const r = await kubectl(args, input === undefined ? {} : { input }, state);
  if (r.code !== 0) throw new Error(`e2e: kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}
const applyObjects = (...items: object[]) =>
  kube(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items }));

/** One request to the API server with a bearer token; returns the status code. */
function call(
  who: string,
  method: string,
  path: string,
  body?: object,
  userAgent?: string,
): Promise<{ status: number; body: string }> {
  const u = new URL(path, cluster.apiserverUrl);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        method,
        hostname: u.hostname,
        port: u.port,
        path: u.pathname + u.search,
        ca: readFileSync(cluster.caFile),
        headers: {
          authorization: `Bearer ${tokens[who]}`,
          ...(payload ? { 'content-type': 'application/json' } : {}),
          ...(userAgent ? { 'user-agent': userAgent } : {}),
        },
        agent: false,
        timeout: 15_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          made[who]?.push(res.statusCode ?? 0);
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timeout`)));
    req.on('error', reject);
    req.end(payload);
  });
}

function tokenguard(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({
        code: err ? ((err as { code?: number }).code ?? 1) : 0,
        stdout: String(stdout),
        stderr: String(stderr),
      });
    });
  });
}

const binding = (name: string, sa: string, role: string) => ({
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'RoleBinding',
  metadata: { name, namespace: NS },
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
  subjects: [{ kind: 'ServiceAccount', name: sa, namespace: NS }],
});

beforeAll(async () => {
  const binDir = process.env.TOKENGUARD_E2E_BIN_DIR;
  if (!binDir)
    throw new Error('e2e: TOKENGUARD_E2E_BIN_DIR is not set; run the suite with test/e2e/run.sh (npm run test:e2e)');
  const suite = loadState();
  const workDir = join(suite.workDir, 'usage-cluster');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(workDir, { recursive: true });
  const policyFile = join(workDir, 'audit-policy.yaml');
  writeFileSync(policyFile, AUDIT_POLICY);
  auditLog = join(workDir, 'audit', 'audit.log');
  cluster = await startCluster({
    binDir,
    workDir,
    extraApiserverArgs: [
      `--audit-policy-file=${policyFile}`,
      `--audit-log-path=${auditLog}`,
      '--audit-log-maxbackup=3',
    ],
  });
  state = { ...suite, kubeconfig: cluster.kubeconfig, apiserverUrl: cluster.apiserverUrl, caFile: cluster.caFile };

  await kube(['create', 'namespace', NS]);
  await applyObjects(
    ...['bound', 'legacy', 'reviewer', 'quiet', 'ci'].map((name) => ({
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name, namespace: NS },
    })),
    binding('bound-view', 'bound', 'view'),
    binding('quiet-view', 'quiet', 'view'),
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'e2e-usage-reviewer' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:auth-delegator' },
      subjects: [{ kind: 'ServiceAccount', name: 'reviewer', namespace: NS }],
    },
    { apiVersion: 'v1', kind: 'Node', metadata: { name: 'usage-node' } },
    ...[
      ['legacy-token', 'legacy'],
      ['ci-token', 'ci'],
      ['ci-spare', 'ci'],
    ].map(([name, sa]) => ({
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/service-account-token',
      metadata: { name, namespace: NS, annotations: { 'kubernetes.io/service-account.name': sa } },
    })),
  );
  // A pod on the node (no kubelet runs it: the API server only has to know it).
  await applyObjects({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'usage-pod', namespace: NS },
    spec: {
      serviceAccountName: 'bound',
      nodeName: 'usage-node',
      automountServiceAccountToken: false,
      containers: [{ name: 'app', image: 'registry.invalid/tokenguard-e2e/app:1' }],
    },
  });
  podUid = (await kube(['get', 'pod', 'usage-pod', '-n', NS, '-o', 'jsonpath={.metadata.uid}'])).trim();
  nodeUid = (await kube(['get', 'node', 'usage-node', '-o', 'jsonpath={.metadata.uid}'])).trim();

  tokens.bound = (
    await kube(['create', 'token', 'bound', '-n', NS, '--bound-object-kind', 'Pod', '--bound-object-name', 'usage-pod'])
  ).trim();
  tokens.reviewer = (await kube(['create', 'token', 'reviewer', '-n', NS])).trim();
  const secretToken = (name: string) =>
    waitFor(`kube-controller-manager fills the token Secret ${name}`, 60_000, async () => {
      const data = (await kube(['get', 'secret', name, '-n', NS, '-o', 'jsonpath={.data.token}'])).trim();
      return data ? Buffer.from(data, 'base64').toString('utf8') : undefined;
    });
  tokens.legacy = await secretToken('legacy-token');
  tokens.ci = await secretToken('ci-token');
  tokens.ciSpare = await secretToken('ci-spare');

  // bound: 3 requests (list pods, get a configmap list, discovery).
  await call('bound', 'GET', `/api/v1/namespaces/${NS}/pods`);
  await call('bound', 'GET', `/api/v1/namespaces/${NS}/configmaps?limit=5`);
  await call('bound', 'GET', '/version');
  // legacy: 2 requests, one refused by RBAC (it is bound to nothing).
  await call('legacy', 'GET', `/api/v1/namespaces/${NS}/secrets`);
  await call('legacy', 'GET', '/api');
  // ci: 2 requests with ci-token from a client of its own user agent; ci-spare is never used.
  await call('ci', 'GET', `/api/v1/namespaces/${NS}/configmaps`, undefined, CI_AGENT);
  await call('ci', 'GET', '/version', undefined, CI_AGENT);
  // reviewer: one TokenReview of bound's token (what Vault's Kubernetes auth does at a login).
  const review = await call('reviewer', 'POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenReview',
    spec: { token: tokens.bound },
  });
  expect(JSON.parse(review.body).status.user.username).toBe(`system:serviceaccount:${NS}:bound`);
  // The legacy Secret marked invalid (as the legacy-token cleaner does after a year): one more use, refused.
  await kube(['label', 'secret', 'legacy-token', '-n', NS, 'kubernetes.io/legacy-token-invalid-since=2026-01-01']);
  // The API server caches a token's authentication for a few seconds: use it until it is refused.
  await waitFor(
    'the invalidated legacy token refused',
    60_000,
    async () => ((await call('legacy', 'GET', '/api')).status === 401 ? true : undefined),
    2_000,
  );
  made.legacy?.pop(); // the refusal: not a request the API server authenticated

  // The log backend writes as events happen (--audit-log-mode=blocking, the default); wait for the last one.
  await waitFor('the refused request in the audit log', 30_000, async () =>
    readFileSync(auditLog, 'utf8').includes('"code":401') ? true : undefined,
  );
}, 240_000);

afterAll(async () => {
  await cluster?.stop();
});

interface Account {
  namespace: string;
  name: string;
  requests: number;
  denied: number;
  pods: { name: string; uid: string; node?: string; nodeUid?: string; requests: number; lastCredentialId?: string }[];
  podlessRequests: number;
  legacy: { secret: string; kind: string; requests: number; refused: number; sourceIPs: string[] }[];
  presented?: { reviews: number; reviewers: Record<string, number>; pods: string[] };
  resources: { group: string; resource: string; verbs: Record<string, number> }[];
  paths: { path: string; verbs: Record<string, number> }[];
  tokenRequests: Record<string, number>;
}

test('tokenguard usage on the real audit log names exactly those identities, pods, legacy use and counts', async () => {
  const r = await tokenguard(['usage', '--audit-log', join(auditLog, '..'), '--output', 'json']);
  expect(r.code).toBe(0);
  const body = JSON.parse(r.stdout) as {
    serviceAccounts: Account[];
    reviewers: { username: string; reviews: number; answered: number; presented: Record<string, number> }[];
    refusedAuthentication: { requests: number; sourceIPs: string[] };
    problems: { count: number };
  };
  expect(body.problems.count).toBe(0);
  // v1.34 logs the refusal of the invalidated legacy token with no user and no annotation:
  // it is counted as refused, under no identity.
  expect(body.refusedAuthentication).toMatchObject({ requests: 1, sourceIPs: ['127.0.0.1'] });
  const ours = body.serviceAccounts.filter((s) => s.namespace === NS);
  // quiet never had a token; only kube-controller-manager's own ServiceAccounts are seen besides ours.
  expect(ours.map((s) => s.name)).toEqual(['bound', 'ci', 'legacy', 'reviewer']);
  expect(body.serviceAccounts.filter((s) => s.namespace !== NS).every((s) => s.namespace === 'kube-system')).toBe(true);
  const sa = (name: string) => ours.find((s) => s.name === name) as Account;

  const bound = sa('bound');
  expect(bound.requests).toBe(made.bound?.length);
  expect(bound.requests).toBe(3);
  expect(bound.denied).toBe(0);
  expect(bound.pods).toEqual([
    expect.objectContaining({ name: 'usage-pod', uid: podUid, node: 'usage-node', nodeUid, requests: 3 }),
  ]);
  expect(bound.pods[0]?.lastCredentialId).toMatch(/^JTI=[0-9a-f-]{36}$/);
  expect(bound.resources.map((x) => [x.resource, x.verbs])).toEqual([
    ['configmaps', { list: 1 }],
    ['pods', { list: 1 }],
  ]);
  expect(bound.paths).toEqual([{ path: '/version', verbs: { get: 1 } }]);
  expect(bound.presented).toMatchObject({
    reviews: 1,
    reviewers: { [`system:serviceaccount:${NS}:reviewer`]: 1 },
    pods: ['usage-pod'],
  });
  expect(bound.tokenRequests).toEqual({});

  const legacy = sa('legacy');
  expect(legacy.requests).toBe(made.legacy?.length);
  expect(legacy.requests).toBeGreaterThanOrEqual(2);
  expect(legacy.denied).toBe(made.legacy?.filter((c) => c === 403).length);
  expect(legacy.denied).toBe(1);
  expect(legacy.pods).toEqual([]);
  expect(legacy.podlessRequests).toBe(0);
  expect(legacy.legacy).toEqual([
    expect.objectContaining({
      secret: 'legacy-token',
      kind: 'manual',
      requests: made.legacy?.length,
      refused: 0,
      sourceIPs: ['127.0.0.1'],
    }),
  ]);

  const reviewer = sa('reviewer');
  expect(reviewer.requests).toBe(1);
  expect(reviewer.podlessRequests).toBe(1);
  expect(reviewer.resources.map((x) => [x.group, x.resource, x.verbs])).toEqual([
    ['authentication.k8s.io', 'tokenreviews', { create: 1 }],
  ]);
  expect(body.reviewers.find((x) => x.username === `system:serviceaccount:${NS}:reviewer`)).toMatchObject({
    reviews: 1,
    answered: 1,
    presented: { [`${NS}/bound`]: 1 },
  });

  // Every stage of a request was logged, so counting per event would have counted more.
  const events = readFileSync(auditLog, 'utf8')
    .split('\n')
    .filter((l) => l.includes(`system:serviceaccount:${NS}:bound"`) && !l.includes('tokenreviews'));
  expect(events.length).toBeGreaterThan(3);
});

test('the text report recommends from the cluster: bound never seen, seen unbound, the legacy token and where it is used from', async () => {
  const r = await tokenguard(['usage', '--audit-log', auditLog, '--kubeconfig', cluster.kubeconfig]);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(
    /Bound but never seen \(\d+\): automount can be off, and the binding is unused\n(?:.*\n)*? {4}e2e-usage\/quiet: bound by RoleBinding e2e-usage\/quiet-view\n/,
  );
  const n = made.legacy?.length;
  expect(r.stdout).toContain(
    `    e2e-usage/legacy: calls discovery (/api), which every authenticated user may; 1 of its ${n} requests were refused (403)`,
  );
  expect(r.stdout).toMatch(
    new RegExp(`e2e-usage/legacy: Secret legacy-token \\(manual\\), ${n} requests, last \\S+ from 127\\.0\\.0\\.1\n`),
  );
  expect(r.stdout).toContain('  1 request refused before any user was known (401) from 127.0.0.1');
  expect(r.stdout).not.toContain(tokens.bound as string);
  expect(r.stdout).not.toContain(tokens.legacy as string);
});

test('the facts output is a TokenUsage document with those ServiceAccounts', async () => {
  const r = await tokenguard(['usage', '--audit-log', auditLog, '--output', 'facts']);
  expect(r.code).toBe(0);
  const { parse } = await import('yaml');
  const doc = parse(r.stdout) as {
    kind: string;
    spec: {
      window: { from: string; to: string };
      serviceAccounts: {
        namespace: string;
        name: string;
        requests: number;
        legacySecrets?: { name: string; refused: number }[];
      }[];
    };
  };
  expect(doc.kind).toBe('TokenUsage');
  const ours = doc.spec.serviceAccounts.filter((s) => s.namespace === NS);
  expect(ours.map((s) => [s.name, s.requests])).toEqual([
    ['bound', 3],
    ['ci', 2],
    ['legacy', made.legacy?.length],
    ['reviewer', 1],
  ]);
  expect(ours[2]?.legacySecrets).toEqual([expect.objectContaining({ name: 'legacy-token', refused: 0 })]);
  expect(Date.parse(doc.spec.window.to)).toBeGreaterThanOrEqual(Date.parse(doc.spec.window.from));
});

interface ScanToken {
  name: string;
  verdict: string;
  message: string;
  lastUsed: string | null;
  audit: {
    state: string;
    requests: number;
    refused: number;
    lastSeen: string | null;
    sourceIPs: string[];
    userAgents: string[];
    matchedBy: string | null;
  } | null;
}

test('tokenguard scan --audit-log marks each legacy token Secret used (how often, when, from where) or not, beside its last-used label', async () => {
  const args = [
    'scan',
    '--kubeconfig',
    cluster.kubeconfig,
    '--policies',
    join(REPO_ROOT, 'policies'),
    '--namespace',
    NS,
    '--fail-on',
    'never',
    '--audit-log',
    join(auditLog, '..'),
  ];
  const r = await tokenguard([...args, '--output', 'json']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const report = JSON.parse(r.stdout) as {
    settings: {
      auditLog: { events: number; from: string; to: string; coversMinUnusedDays: boolean; linesNotRead: number };
    };
    legacyTokens: ScanToken[];
  };
  // The log covers the minutes of this test: shorter than the 30 days of --min-unused-days.
  expect(report.settings.auditLog).toMatchObject({ coversMinUnusedDays: false, linesNotRead: 0 });
  expect(report.settings.auditLog.events).toBeGreaterThan(0);
  const secret = (name: string) => report.legacyTokens.find((t) => t.name === name) as ScanToken;
  expect(report.legacyTokens.map((t) => t.name).sort()).toEqual(['ci-spare', 'ci-token', 'legacy-token']);

  const ci = secret('ci-token');
  expect(ci.audit).toEqual({
    state: 'used',
    requests: made.ci?.length,
    refused: 0,
    firstSeen: expect.any(String),
    lastSeen: expect.any(String),
    sourceIPs: ['127.0.0.1'],
    userAgents: [CI_AGENT],
    matchedBy: 'secret',
  });
  expect(ci.audit?.requests).toBe(2);
  // Beside the label the API server writes on use (day granularity, no source).
  const label = (
    await kube([
      'get',
      'secret',
      'ci-token',
      '-n',
      NS,
      '-o',
      'jsonpath={.metadata.labels.kubernetes\\.io/legacy-token-last-used}',
    ])
  ).trim();
  expect(ci.lastUsed).toBe(label || null);
  expect(ci.verdict).toBe('find-client');
  expect(ci.message).toMatch(
    /^used 2 times in the audit log, last \S+ \(less than a day ago\) from 127\.0\.0\.1 by e2e-ci-client\/1\.0, by nothing in the cluster: migrate the client before deleting it\./,
  );

  // Never used, but the log is too short to say so.
  const spare = secret('ci-spare');
  expect(spare.audit).toMatchObject({ state: 'unknown', requests: 0 });
  expect(spare.message).toMatch(
    /Audit log: not seen, but its window \(\S+ to \S+, \d+ (?:seconds?|minutes?)\) is shorter than the 30 days of --min-unused-days, so it cannot tell unused\.$/,
  );

  // Invalidated since: the verdict stays, the log tells its use before.
  const legacy = secret('legacy-token');
  expect(legacy.verdict).toBe('invalidated');
  expect(legacy.audit).toMatchObject({ state: 'used', requests: made.legacy?.length, matchedBy: 'secret' });
  expect(legacy.message).toContain(`Audit log: used ${made.legacy?.length} times in the audit log, last `);

  const text = await tokenguard(args);
  expect(text.code).toBe(0);
  expect(text.stdout).toMatch(
    /\n {2}e2e-usage\/ci-token: ServiceAccount ci; .*\n {4}audit log: 2 requests, last \S+ from 127\.0\.0\.1 by e2e-ci-client\/1\.0\n {4}FIND THE CLIENT: used 2 times/,
  );
  expect(text.stdout).toContain('    audit log: not seen (the log is too short to call it unused)\n');
  const policyReport = await tokenguard([...args, '--output', 'policyreport']);
  expect(policyReport.stdout).toContain(`auditFrom: 127.0.0.1, ${CI_AGENT}`);
  for (const out of [r.stdout, text.stdout, policyReport.stdout]) {
    for (const t of Object.values(tokens)) expect(out).not.toContain(t);
    expect(out).not.toContain('eyJ');
  }
});

test('no token text reaches the text, JSON or facts output (the log holds one: the TokenReview request carries it)', async () => {
  // The TokenReview was logged at RequestResponse: its request body, bound's token, is in the log.
  expect(readFileSync(auditLog, 'utf8')).toContain(tokens.bound as string);
  expect(Object.keys(tokens).sort()).toEqual(['bound', 'ci', 'ciSpare', 'legacy', 'reviewer']);
  for (const output of ['text', 'json', 'facts']) {
    const r = await tokenguard([
      'usage',
      '--audit-log',
      join(auditLog, '..'),
      '--output',
      output,
      '--kubeconfig',
      cluster.kubeconfig,
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBeGreaterThan(100);
    for (const text of [r.stdout, r.stderr]) {
      for (const [who, t] of Object.entries(tokens))
        expect({ output, who, leaked: text.includes(t) }).toEqual({ output, who, leaked: false });
      // No JWT of any kind: every ServiceAccount token, bound or legacy, starts with eyJ.
      expect({ output, jwt: text.includes('eyJ') }).toEqual({ output, jwt: false });
    }
  }
});

/**
 * observedWithin through the real webhook: the facts `tokenguard usage --output facts` wrote from
 * this test's log, fed to the suite's `tokenguard serve --usage` (restarted with the flag and
 * restored afterwards), judge pods created on the suite's API server: bound (seen using its
 * token) keeps it, quiet (never seen, in a log covering the window) loses it. Without the facts
 * both would keep it (whenUnknown: Needed), so each pod tells the facts were read.
 */
describe('a pod created afterwards under observedWithin, through serve --usage and the real webhook', () => {
  let suite: E2EState;
  let factsFile: string;

  const writeFacts = async () => {
    const r = await tokenguard(['usage', '--audit-log', join(auditLog, '..'), '--output', 'facts']);
    expect(r.code).toBe(0);
    // As a ConfigMap update reaches a pod: the new content appears at once, never half-written.
    writeFileSync(`${factsFile}.tmp`, r.stdout);
    renameSync(`${factsFile}.tmp`, factsFile);
    const { parse } = await import('yaml');
    return parse(r.stdout) as {
      spec: {
        window: { from: string; to: string };
        serviceAccounts: { namespace: string; name: string; lastSeen: string }[];
      };
    };
  };

  beforeAll(async () => {
    suite = loadState();
    factsFile = join(suite.workDir, 'usage-facts.yaml');
    await writeFacts();
    // The suite's cluster gets the same namespace and ServiceAccounts (the facts name them by namespace/name).
    const onSuite = async (args: string[], input?: string) => {
      const r = await kubectl(args, input === undefined ? {} : { input }, suite);
      if (r.code !== 0 && !r.stderr.includes('AlreadyExists'))
        throw new Error(`e2e: kubectl ${args.join(' ')}: ${r.stderr.trim()}`);
    };
    await onSuite(['create', 'namespace', NS]);
    for (const sa of ['bound', 'quiet']) await onSuite(['create', 'serviceaccount', sa, '-n', NS]);
    await stopServe(suite);
    const withUsage: E2EState = {
      ...loadState(),
      serve: { ...suite.serve, pid: 0, args: [...suite.serve.args, '--usage', factsFile] },
    };
    saveState(withUsage);
    await startServe(withUsage);
  }, 120_000);

  afterAll(async () => {
    // Leave the suite's tokenguard as the setup made it.
    await stopServe(loadState());
    const restored: E2EState = { ...loadState(), serve: { ...loadState().serve, pid: 0, args: suite.serve.args } };
    saveState(restored);
    if (!serveAlive(restored)) await startServe(restored);
  }, 60_000);

  test('bound, seen using its token, keeps it; quiet, not seen in a log covering the window, loses it', async () => {
    const state = loadState();
    // A fresh use of bound's token, then the facts again: serve reloads them as it reloads policies.
    await call('bound', 'GET', `/api/v1/namespaces/${NS}/pods`);
    const offset = fileSize(state.serve.log);
    const doc = await writeFacts();
    await waitFor('tokenguard to reload the usage facts', 20_000, async () =>
      /"event":"usage"[^\n]*"result":"success"/.test(readSince(state.serve.log, offset)) ? true : undefined,
    );
    const from = Date.parse(doc.spec.window.from);
    const to = Date.parse(doc.spec.window.to);
    const lastSeen = Date.parse(
      doc.spec.serviceAccounts.find((s) => s.namespace === NS && s.name === 'bound')?.lastSeen ?? '',
    );
    expect(doc.spec.serviceAccounts.some((s) => s.namespace === NS && s.name === 'quiet')).toBe(false);
    // observedWithin reaches back to the middle of the log: covered by it, with bound's last use inside.
    const span = to - from;
    if (span < 20_000)
      throw new Error(`e2e: the audit log covers only ${span} ms; observedWithin needs some room inside it`);
    const within = Math.ceil((Date.now() - from - span / 2) / 1000);
    expect(lastSeen).toBeGreaterThan(from + span / 2);
    await setPolicies(
      {
        'observed.yaml': `apiVersion: tokenguard.dev/v1alpha1
kind: TokenPolicy
metadata: {name: observed}
spec:
  mode: Enforce
  match: {namespaces: ["${NS}"]}
  automount:
    action: DisableUnlessNeeded
    needed:
      observedWithin: ${within}s
      whenUnknown: Needed
`,
      },
      state,
    );
    const kept = (await create(podManifest(NS, 'seen-pod', { serviceAccountName: 'bound' }))).stored as Pod;
    const lost = (await create(podManifest(NS, 'unseen-pod', { serviceAccountName: 'quiet' }))).stored as Pod;
    expect(kept.spec.automountServiceAccountToken).not.toBe(false);
    expect(apiAccessVolumes(kept)).toHaveLength(1);
    expect(lost.spec.automountServiceAccountToken).toBe(false);
    expect(apiAccessVolumes(lost)).toEqual([]);
  });
});
