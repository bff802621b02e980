/**
 * `tokenguard scan` in-process against a fake API server on loopback (fake-cluster.ts) holding
 * the mix of mix.ts: what it asks for (list requests only; Secrets only as metadata, typed by a
 * field selector), what it reports, that nothing of any Secret's data reaches any output, paging
 * and an expired continue token, exit codes, errors and the progress line. The same scan
 * against the real kube-apiserver is test/e2e/23-scan.e2e.test.ts.
 */
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { runScanCommand } from '../../../src/cli/commands/scan.js';
import { runTestCommand } from '../../../src/cli/commands/test.js';
import type { ScanReport } from '../../../src/scan/report.js';
import { REPO } from '../../helpers/fixtures.js';
import { FakeCluster } from './fake-cluster.js';
import { addMix, CANARY, NOW } from './mix.js';

const POLICIES = join(REPO, 'policies');
let cluster: FakeCluster;
let kubeconfig: string;

beforeEach(async () => {
  cluster = new FakeCluster();
  await cluster.start();
  addMix(cluster);
  kubeconfig = cluster.kubeconfigFile();
});
afterEach(() => cluster.stop());

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function scan(args: readonly string[], o: { stderrTTY?: boolean; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await runScanCommand(
    ['--kubeconfig', kubeconfig, '--policies', POLICIES, ...args],
    {
      stdout: { write: (s: string) => (stdout += s) },
      stderr: { write: (s: string) => (stderr += s), isTTY: o.stderrTTY === true } as { write(s: string): unknown },
    },
    { now: () => NOW, env: o.env ?? {}, cwd: REPO },
  );
  return { code, stdout, stderr };
}

async function json(args: readonly string[] = []): Promise<ScanReport> {
  const r = await scan(['--output', 'json', ...args]);
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout) as ScanReport;
}

describe('what the scan asks the API server', () => {
  test('GET only; Secrets only through the metadata-only list of token Secrets; every list paged', async () => {
    await scan(['--page-size', '2']);
    const reqs = cluster.requests;
    expect(reqs.length).toBeGreaterThan(10);
    expect(reqs.every((r) => r.method === 'GET')).toBe(true);
    const secretRequests = reqs.filter((r) => /\/secrets(\/|$)/.test(r.path));
    expect(secretRequests.length).toBeGreaterThan(1); // 8 token Secrets, 2 a page
    for (const r of secretRequests) {
      expect(r.path).toBe('/api/v1/secrets');
      expect(r.accept).toBe('application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1');
      expect(r.query.fieldSelector).toBe('type=kubernetes.io/service-account-token');
    }
    // Everything but /version and the tracking ConfigMap is a list with a limit.
    const singles = reqs.filter((r) => !('limit' in r.query)).map((r) => r.path);
    expect(singles).toEqual([
      '/version',
      '/api/v1/namespaces/kube-system/configmaps/kube-apiserver-legacy-service-account-token-tracking',
    ]);
    expect(new Set(reqs.filter((r) => 'limit' in r.query).map((r) => r.query.limit))).toEqual(new Set(['2']));
    expect(reqs.some((r) => r.query.continue !== undefined)).toBe(true);
  });

  test('--namespace lists inside that namespace (bindings across the cluster, which can bind its ServiceAccounts)', async () => {
    await scan(['--namespace', 'team-b']);
    const paths = new Set(cluster.requests.map((r) => r.path));
    expect(paths).toContain('/api/v1/namespaces/team-b/pods');
    expect(paths).toContain('/api/v1/namespaces/team-b/secrets');
    expect(paths).toContain('/apis/rbac.authorization.k8s.io/v1/rolebindings');
    expect([...paths].filter((p) => p.includes('/namespaces/team-a'))).toEqual([]);
    expect(cluster.requests.find((r) => r.path === '/api/v1/namespaces')?.query.fieldSelector).toBe(
      'metadata.name=team-b',
    );
  });

  test('no byte of any Secret data, nor of its last-applied annotation, reaches any output, the plan or the reports', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tg-plan-'));
    const outputs = [];
    for (const format of ['text', 'json', 'policyreport'])
      outputs.push(await scan(['--output', format, '--plan', dir, '--apply']));
    const planText = readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => readFileSync(join(e.parentPath, e.name), 'utf8'))
      .join('\n');
    const reports = JSON.stringify([...cluster.objects('policyreports'), ...cluster.objects('clusterpolicyreports')]);
    const encoded = Buffer.from(CANARY).toString('base64');
    for (const text of [...outputs.flatMap((o) => [o.stdout, o.stderr]), planText, reports]) {
      expect(text).not.toContain(CANARY);
      expect(text).not.toContain(encoded.slice(0, 16));
    }
    // ... and the canary was there to be leaked: a full Secret list carries it.
    expect(JSON.stringify(cluster.objects('secrets'))).toContain(CANARY);
  });
});

describe('the report', () => {
  test('a verdict per legacy token Secret, with dates from its labels and the clean-up period', async () => {
    const r = await json();
    const v = Object.fromEntries(r.legacyTokens.map((t) => [`${t.namespace}/${t.name}`, t.verdict]));
    expect(v).toEqual({
      'team-a/ci-token': 'find-client',
      'team-a/cron-token': 'migrate-first',
      'team-a/env-user-token': 'migrate-first',
      'team-a/legacy-user-token': 'migrate-first',
      'team-a/listed-token': 'safe-to-delete',
      'team-a/stale-token': 'invalidated',
      'team-b/orphan-token': 'orphaned',
      'team-b/pull-token': 'migrate-first',
    });
    const listed = r.legacyTokens.find((t) => t.name === 'listed-token');
    expect(listed).toMatchObject({
      serviceAccount: { name: 'listed', exists: true, listsSecret: true },
      lastUsed: '2026-03-01',
      unusedDays: 284,
      // tracking since 2024-01-01; created 2026-01-01; last used 2026-03-01: a period (365 days) and a day after that use.
      cleaner: { state: 'scheduled', invalidateOn: '2027-03-02', deleteOn: '2028-03-02' },
      policy: { result: 'fail', policy: 'legacy-token-secrets', rule: 'legacy-token-secret' },
    });
    expect(listed?.message).toBe(
      'unused for 284 days (last used 2026-03-01), no consumer: safe to delete. The API server will invalidate it on or after 2027-03-02 and delete it on or after 2028-03-02 (legacy-token cleaner).',
    );
    const cron = r.legacyTokens.find((t) => t.name === 'cron-token');
    expect(cron?.consumers).toEqual([
      {
        workload: expect.objectContaining({ kind: 'CronJob', name: 'nightly' }),
        pods: 0,
        template: true,
        uses: [
          {
            kind: 'volume',
            text: 'volume ci (key token) at /etc/ci in containers/job',
            container: 'containers/job',
            mountPath: '/etc/ci',
          },
        ],
      },
    ]);
    expect(r.legacyTokens.find((t) => t.name === 'legacy-user-token')?.consumers[0]).toMatchObject({
      workload: { kind: 'Deployment', namespace: 'team-a', name: 'api-client' },
      pods: 2,
      template: true,
    });
    expect(r.serviceAccounts).toEqual([
      expect.objectContaining({
        namespace: 'team-a',
        name: 'listed',
        secrets: [
          { name: 'listed-token', tokenSecret: true },
          { name: 'not-a-token', tokenSecret: false },
        ],
      }),
    ]);
  });

  test('pods grouped by workload, judged as if created now, the API token they would lose counted', async () => {
    const r = await json();
    const web = r.workloads.find((w) => w.workload.name === 'web');
    expect(web).toMatchObject({
      workload: { kind: 'Deployment', namespace: 'team-a', name: 'web' },
      pods: 3,
      apiTokenPods: 3,
      wouldLoseApiTokenPods: 3,
      outcome: 'changed',
    });
    // Three pods with three different kube-api-access-xxxxx names: one verdict.
    expect(web?.variants).toEqual([
      {
        pods: 3,
        outcome: 'changed',
        examplePod: 'web-xyz-1',
        denials: [],
        changes: [
          'automount/automount: removed API token kube-api-access-* (1 mount), automount off: API access not needed',
        ],
        warnings: [],
      },
    ]);
    expect(r.workloads.find((w) => w.workload.name === 'long-token')?.variants[0]?.changes).toEqual([
      'token-bounds/token-bounds: vault: expirationSeconds 172800 -> 86400',
    ]);
    // One result per workload, policy and rule; a pod counted once, whatever the rule said of it.
    expect(
      r.results
        .filter((x) => x.resource?.name === 'long-token')
        .map((x) => `${x.policy}/${x.rule} ${x.result} ${x.severity}: ${x.message}`),
    ).toEqual([
      'api-token-expiration/api-token-expiration warn low: admission would warn (1 of 1 pod): API token kube-api-access-* expirationSeconds 3607 -> 3600; API token kube-api-access-* expirationSeconds 3607 > 3600',
      'automount/automount pass info: passes (1 of 1 pod): API token allowed: pod annotation tokenguard.dev/api-access=true',
      'token-bounds/token-bounds fail medium: admission would change these pods now (1 of 1 pod): vault: expirationSeconds 172800 -> 86400',
    ]);
    expect(r.summary).toMatchObject({
      legacyTokens: 8,
      inUse: 4,
      safeToDelete: 1,
      invalidated: 1,
      orphaned: 1,
      findClient: 1,
      pods: 8,
      apiTokenPods: 7,
      wouldLoseApiTokenPods: 6,
      wouldLoseApiTokenShare: 0.75,
      oldestUnused: { namespace: 'team-a', name: 'stale-token', days: 343 },
    });
    expect(r.namespaces.map((n) => [n.namespace, n.legacyTokens, n.pods])).toEqual([
      ['kube-system', 0, 0],
      ['team-a', 6, 7],
      ['team-b', 2, 1],
    ]);
  });

  test('the text report tells the same, widest first', async () => {
    const r = await scan([]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(
      '  team-a/listed-token: ServiceAccount listed, listed in its .secrets; created 2026-01-01 (343 days ago); last used 2026-03-01\n    SAFE TO DELETE: unused for 284 days',
    );
    expect(r.stdout).toContain(
      '  Deployment team-a/web: 3 pods, ServiceAccount default; 3 with an API token, 3 would lose it\n    CHANGED (3 pods, e.g. web-xyz-1):\n',
    );
    expect(r.stdout).toContain('  pods carrying an API token they would lose: 6 of 8 (75.0 %)\n');
    expect(r.stdout).toMatch(/results: 16 fail, 2 warn, 0 error, 2 pass; 16 at or above --fail-on fail\n$/);
  });
});

describe('the plan (--plan DIR)', () => {
  test('patched workloads pass tokenguard test with the same policies; JSON Patch, kustomize patch and delete lines written', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tg-plan-'));
    const r = await scan(['--plan', dir]);
    expect(r.stderr).toMatch(/wrote the plan to .* \(3 workload\(s\) patched, \d+ file\(s\)\)/);
    const files = readdirSync(dir, { recursive: true }).map(String).sort();
    expect(files).toEqual(
      expect.arrayContaining([
        'README.md',
        'delete-secrets.sh',
        'facts.yaml',
        'json-patch/team-a/cronjob-nightly.json',
        'json-patch/team-a/deployment-api-client.json',
        'json-patch/team-b/pod-debug.json',
        'kustomize/team-a/deployment-api-client.yaml',
        'workloads/team-a/cronjob-nightly.yaml',
        'workloads/team-a/deployment-api-client.yaml',
        'workloads/team-b/pod-debug.yaml',
      ]),
    );
    expect(files.some((f) => f.includes('env-reader'))).toBe(false); // env only: by hand
    const api = parseAllDocuments(
      readFileSync(join(dir, 'workloads/team-a/deployment-api-client.yaml'), 'utf8'),
    )[0]?.toJS();
    expect(api.spec.template.spec.serviceAccountName).toBe('legacy-user');
    expect(api.spec.template.metadata.annotations).toEqual({ 'tokenguard.dev/api-access': 'true' });
    expect(api.spec.template.spec.volumes).toEqual([
      {
        name: 'legacy',
        projected: {
          sources: [
            { serviceAccountToken: { path: 'token', expirationSeconds: 3600 } },
            { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
            {
              downwardAPI: {
                items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }],
              },
            },
          ],
        },
      },
    ]);
    expect(api.spec.template.spec.containers[0].volumeMounts).toEqual([
      { name: 'legacy', mountPath: '/var/run/secrets/legacy', readOnly: true },
    ]);
    expect(api.metadata).toEqual({ name: 'api-client', namespace: 'team-a' }); // no server fields
    expect(api.status).toBeUndefined();
    const cron = parseAllDocuments(readFileSync(join(dir, 'workloads/team-a/cronjob-nightly.yaml'), 'utf8'))[0]?.toJS();
    expect(cron.spec.jobTemplate.spec.template.spec.volumes[0].projected.sources).toEqual([
      { serviceAccountToken: { path: 'sa-token', expirationSeconds: 3600 } },
    ]);
    const debug = parseAllDocuments(readFileSync(join(dir, 'workloads/team-b/pod-debug.yaml'), 'utf8'))[0]?.toJS();
    expect(debug.spec.imagePullSecrets).toBeUndefined();

    const patch = JSON.parse(readFileSync(join(dir, 'json-patch/team-a/deployment-api-client.json'), 'utf8'));
    expect(patch.map((o: { op: string; path: string }) => `${o.op} ${o.path}`)).toEqual([
      'remove /spec/template/spec/volumes/0/secret',
      'add /spec/template/spec/volumes/0/projected',
      'add /spec/template/spec/serviceAccountName',
      'add /spec/template/metadata/annotations',
    ]);
    const script = readFileSync(join(dir, 'delete-secrets.sh'), 'utf8');
    expect(script.split('\n').filter((l) => l.startsWith('kubectl '))).toEqual([
      'kubectl delete secret listed-token -n team-a',
      'kubectl delete secret stale-token -n team-a',
      'kubectl delete secret orphan-token -n team-b',
    ]);
    expect(script).toContain('# kubectl delete secret legacy-user-token -n team-a');
    expect(script).not.toContain('env-user-token -n'); // its plan is manual
    expect(statSync(join(dir, 'delete-secrets.sh')).mode & 0o111).not.toBe(0);

    // tokenguard test of the patched workloads, with the same policies and the facts the plan wrote.
    let out = '';
    const code = await runTestCommand(
      [
        '--policies',
        POLICIES,
        '--facts',
        join(dir, 'facts.yaml'),
        '--bindings-complete',
        '--output',
        'json',
        join(dir, 'workloads'),
      ],
      {
        stdout: { write: (s: string) => (out += s) },
        stderr: { write: () => true },
      },
      { version: 'test', cwd: REPO, env: {} },
    );
    expect(code).toBe(0);
    const test = JSON.parse(out) as { objects: { name: string; outcome: string; denials: unknown[] }[] };
    expect(test.objects.map((o) => [o.name, o.outcome])).toEqual([
      ['nightly', 'warned'], // the plugin's default API token, 3607 s: the shipped Audit policy would bound it
      ['api-client', 'warned'],
      ['debug', 'passed'],
    ]);
  });

  test('refuses a folder of other files, and replaces an earlier plan', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tg-plan-'));
    writeFileSync(join(dir, 'mine.txt'), 'x');
    const refused = await scan(['--plan', dir]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('holds files that are not an earlier plan');
    const fresh = mkdtempSync(join(tmpdir(), 'tg-plan-'));
    expect((await scan(['--plan', fresh])).code).toBe(1);
    writeFileSync(join(fresh, 'workloads', 'stale.yaml'), 'kind: Pod\n');
    expect((await scan(['--plan', fresh])).code).toBe(1);
    expect(readdirSync(join(fresh, 'workloads'))).not.toContain('stale.yaml');
  });
});

describe('exit codes and errors', () => {
  test('--fail-on: 1 for fail results by default; warn counts warnings too; never exits 0', async () => {
    expect((await scan(['--fail-on', 'never'])).code).toBe(0);
    expect((await scan(['--namespace', 'kube-system'])).code).toBe(0); // nothing there
    cluster.add('serviceaccounts', {
      metadata: { name: 'listed', namespace: 'kube-system' },
      secrets: [{ name: 'x' }],
    });
    cluster.add('secrets', {
      metadata: {
        name: 'x',
        namespace: 'kube-system',
        annotations: { 'kubernetes.io/service-account.name': 'listed' },
      },
      type: 'kubernetes.io/service-account-token',
    });
    // The shipped policies exclude kube-system: the Secret is a warning only (no policy judges it), and so is the list.
    const warned = await scan(['--namespace', 'kube-system', '--output', 'json']);
    expect(warned.code).toBe(0);
    expect((JSON.parse(warned.stdout) as ScanReport).summary.results).toEqual({ pass: 0, fail: 0, warn: 2, error: 0 });
    expect((await scan(['--namespace', 'kube-system', '--fail-on', 'warn'])).code).toBe(1);
  });

  test('2 for bad arguments, an invalid policy, a missing context or namespace, a forbidden list and an unreachable cluster', async () => {
    expect((await scan(['--output', 'yaml'])).stderr).toContain('--output must be one of text, json, policyreport');
    expect((await scan(['--fail-on', 'deny'])).code).toBe(2);
    expect((await scan(['--clean-up-period', '0d'])).code).toBe(2);
    expect((await scan(['--namespace', 'Bad_Name'])).code).toBe(2);
    const ctx = await scan(['--context', 'nope']);
    expect([ctx.code, ctx.stderr]).toEqual([2, expect.stringContaining('context "nope" does not exist')]);
    expect((await scan(['--context', 'other', '--fail-on', 'never'])).code).toBe(0);
    const ns = await scan(['--namespace', 'team-z']);
    expect([ns.code, ns.stderr]).toEqual([2, 'tokenguard scan: namespace team-z does not exist\n']);
    cluster.forbidden.add('/api/v1/pods');
    const forbidden = await scan([]);
    expect(forbidden.code).toBe(2);
    expect(forbidden.stderr).toBe(
      'tokenguard scan: cannot list pods: HTTP 403 Forbidden: forbidden: cannot list /api/v1/pods (grant the ClusterRole tokenguard-scan of deploy/scan, or a Role with the same rules for --namespace)\n',
    );
    expect(forbidden.stdout).toBe('');
    await cluster.stop();
    const down = await scan([]);
    expect(down.code).toBe(2);
    expect(down.stderr).toMatch(/^tokenguard scan: cannot reach the API server: .*ECONNREFUSED/);
    const badPolicy = join(mkdtempSync(join(tmpdir(), 'tg-pol-')), 'p.yaml');
    writeFileSync(
      badPolicy,
      'apiVersion: tokenguard.dev/v1alpha1\nkind: TokenPolicy\nmetadata: {name: x}\nspec: {mode: Sometimes, automount: {action: Keep}}\n',
    );
    let stderr = '';
    const code = await runScanCommand(
      ['--kubeconfig', kubeconfig, '--policies', badPolicy],
      { stdout: { write: () => true }, stderr: { write: (s: string) => (stderr += s) } },
      { env: {} },
    );
    expect(code).toBe(2);
    expect(stderr).toMatch(/p\.yaml:\d+: spec\.mode: .*\ntokenguard scan: 1 policy error\(s\); nothing was scanned\n$/);
  });

  test('forbidden bindings are not fatal: they count as unknown, and the report says so', async () => {
    cluster.forbidden.add('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings');
    const r = await json();
    expect(r.notes).toEqual([
      expect.stringMatching(
        /^clusterrolebindings cannot be listed \(HTTP 403 Forbidden: .*\): RBAC bindings count as unknown/,
      ),
    ]);
    // Unknown bindings keep the token (the shipped automount policy's whenUnknown: Needed).
    expect(r.workloads.find((w) => w.workload.name === 'web')?.wouldLoseApiTokenPods).toBe(0);
  });

  test('an expired continue token (410) starts that list over once, and nothing is counted twice', async () => {
    cluster.expireContinueOnce.add('/api/v1/pods');
    cluster.expireContinueOnce.add('/api/v1/secrets');
    const r = await json(['--page-size', '3']);
    expect(r.summary.pods).toBe(8);
    expect(r.summary.legacyTokens).toBe(8);
    expect(r.workloads.find((w) => w.workload.name === 'web')?.pods).toBe(3);
    expect(r.notes).toEqual([
      'the secrets list took longer than the API server keeps a list snapshot; it was read again from the start',
      'the pods list took longer than the API server keeps a list snapshot; it was read again from the start',
    ]);
  });
});

describe('progress', () => {
  test('a line per page on a terminal, cleared at the end; none when piped', async () => {
    const tty = await scan(['--page-size', '2', '--fail-on', 'never'], { stderrTTY: true });
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the terminal's erase-line sequence is the point
    expect(tty.stderr).toMatch(/\r\u001b\[Kscan: pods page 4 \(8\), \d+ objects, [\d,]+\/s/);
    expect(tty.stderr.endsWith('\r\u001b[K')).toBe(true);
    expect((await scan(['--page-size', '2', '--fail-on', 'never'])).stderr).toBe('');
  });
});

describe('deploy/scan: the RBAC the scan needs', () => {
  type Rule = { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] };
  const docs = parseAllDocuments(readFileSync(join(REPO, 'deploy/scan/rbac.yaml'), 'utf8')).map(
    (d) => d.toJS() as { kind: string; metadata: { name: string; namespace?: string }; rules: Rule[] },
  );
  const role = (name: string) => docs.find((d) => d.metadata.name === name) as (typeof docs)[number];

  /** The RBAC attributes of a request, as the API server derives them. */
  function attributes(r: { method: string; path: string; query: Record<string, string> }) {
    const m = /^\/(?:api\/v1|apis\/([^/]+)\/[^/]+)(?:\/namespaces\/([^/]+))?\/([^/]+)(?:\/([^/]+))?$/.exec(r.path);
    if (!m) return { nonResource: r.path };
    const verb = r.method === 'PATCH' ? 'patch' : m[4] ? 'get' : 'list';
    return { group: m[1] ?? '', namespace: m[2], resource: m[3] as string, name: m[4], verb };
  }
  const allows = (rules: Rule[], a: ReturnType<typeof attributes>) =>
    'resource' in a &&
    rules.some(
      (rule) =>
        rule.apiGroups.includes(a.group ?? '') &&
        rule.resources.includes(a.resource ?? '') &&
        rule.verbs.includes(a.verb ?? '') &&
        (!rule.resourceNames || rule.resourceNames.includes(a.name ?? '')),
    );

  test('every request of a scan (and of --apply) is allowed by the roles; /version is public', async () => {
    await scan(['--apply', '--page-size', '3']);
    const scanRules = [...role('tokenguard-scan').rules, ...role('tokenguard-scan-tracking').rules];
    const denied = cluster.requests
      .map(attributes)
      .filter(
        (a) =>
          !('nonResource' in a && a.nonResource === '/version') &&
          !('nonResource' in a && a.nonResource === '/apis/wgpolicyk8s.io/v1alpha2'),
      )
      .filter((a) => !allows(scanRules, a) && !allows(role('tokenguard-scan-reports').rules, a));
    expect(denied).toEqual([]);
  });

  test('list only; nothing on Secrets but list; no write outside the reports role', () => {
    expect(role('tokenguard-scan').rules.flatMap((r) => r.verbs)).toEqual(['list', 'list', 'list', 'list']);
    expect(role('tokenguard-scan-tracking')).toMatchObject({
      metadata: { namespace: 'kube-system' },
      rules: [
        {
          resources: ['configmaps'],
          resourceNames: ['kube-apiserver-legacy-service-account-token-tracking'],
          verbs: ['get'],
        },
      ],
    });
    expect(role('tokenguard-scan-reports').rules).toEqual([
      {
        apiGroups: ['wgpolicyk8s.io'],
        resources: ['policyreports', 'clusterpolicyreports'],
        verbs: ['get', 'create', 'patch'],
      },
    ]);
  });
});
