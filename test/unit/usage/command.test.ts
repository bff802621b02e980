import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { parse } from 'yaml';
import { main } from '../../../src/cli/main.js';
import { runUsageCommand, type UsageCommandOptions } from '../../../src/cli/commands/usage.js';
import { usageFactsFrom } from '../../../src/usage/facts.js';
import { line, reviewResponse } from './events.js';

async function usage(args: string[], options: UsageCommandOptions = {}) {
  let stdout = '';
  let stderr = '';
  const io = { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) } };
  const code = await runUsageCommand(args, io, { version: '0.0.0-test', ...options });
  return { code, stdout, stderr };
}

const NOW = Date.parse('2026-12-02T00:00:00Z');
const api = 'system:serviceaccount:shop:api';

function logDir() {
  const dir = mkdtempSync(join(tmpdir(), 'tg-usage-cmd-'));
  const rotated = [
    line({
      auditID: 'r1',
      stage: 'RequestReceived',
      user: api,
      pod: { name: 'api-1', uid: 'p1' },
      time: '2026-11-01T10:00:00Z',
    }),
    line({
      auditID: 'r1',
      stage: 'ResponseComplete',
      user: api,
      pod: { name: 'api-1', uid: 'p1' },
      time: '2026-11-01T10:00:00Z',
    }),
  ].join('\n');
  const current = [
    line({
      auditID: 'c1',
      user: api,
      pod: { name: 'api-2', uid: 'p2' },
      verb: 'get',
      resource: 'configmaps',
      time: '2026-12-01T10:00:00Z',
    }),
    '{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"cut',
    line({
      auditID: 'c2',
      user: 'system:serviceaccount:ci:runner',
      annotations: {
        'authentication.k8s.io/legacy-token': 'system:serviceaccount:ci:runner',
        'authentication.k8s.io/legacy-token-manual-secret': 'runner-token',
      },
      sourceIP: '192.168.9.9',
      userAgent: 'curl/8.5',
      time: '2026-12-01T11:00:00Z',
    }),
    JSON.stringify({ kind: 'Event', apiVersion: 'audit.k8s.io/v1beta1', auditID: 'old', stage: 'ResponseComplete' }),
    line({
      auditID: 'c3',
      user: 'system:serviceaccount:vault:vault',
      verb: 'create',
      resource: 'tokenreviews',
      group: 'authentication.k8s.io',
      namespace: '',
      responseObject: reviewResponse('system:serviceaccount:shop:web', { name: 'web-1', uid: 'w1' }),
      time: '2026-12-01T12:00:00Z',
    }),
    line({ auditID: 'c4', user: 'alice', time: '2026-12-01T12:30:00Z' }),
  ].join('\n');
  writeFileSync(join(dir, 'audit-2026-11-30T00-00-00.000.log.gz'), gzipSync(`${rotated}\n`));
  writeFileSync(join(dir, 'audit.log'), `${current}\n`);
  return dir;
}

test('text: every ServiceAccount with its pods, resources, legacy Secret and TokenReviews; lines not read by number', async () => {
  const dir = logDir();
  const r = await usage(['--audit-log', dir], { cwd: dir, now: () => NOW });
  expect(r.code).toBe(0);
  expect(
    r.stdout,
  ).toBe(`tokenguard usage: 4 ServiceAccounts seen in 6 events of 2 files, 2026-11-01T10:00:00Z to 2026-12-01T12:30:00Z

ServiceAccount ci/runner
  1 request, first 2026-12-01T11:00:00Z, last 2026-12-01T11:00:00Z
  resources: pods in shop (list 1)
  legacy token, Secret runner-token (manual): 1 request, last 2026-12-01T11:00:00Z
    from 192.168.9.9, curl/8.5
  user agents: curl/8.5

ServiceAccount shop/api
  2 requests, first 2026-11-01T10:00:00Z, last 2026-12-01T10:00:00Z
  pod api-1 (uid p1): 1 request, last 2026-11-01T10:00:00Z
  pod api-2 (uid p2): 1 request, last 2026-12-01T10:00:00Z
  resources: configmaps in shop (get 1); pods in shop (list 1)
  user agents: app/1.0

ServiceAccount shop/web
  0 requests, first 2026-12-01T12:00:00Z, last 2026-12-01T12:00:00Z
  token presented to TokenReview by system:serviceaccount:vault:vault 1x (tokens of pods web-1), last 2026-12-01T12:00:00Z

ServiceAccount vault/vault
  1 request, first 2026-12-01T12:00:00Z, last 2026-12-01T12:00:00Z
  token bound to no pod: 1 request
  resources: tokenreviews.authentication.k8s.io (create 1)
  user agents: app/1.0

TokenReview callers
  system:serviceaccount:vault:vault: 1 review, 1 answered: shop/web 1x

Recommendations
  (give --facts FILE with the ServiceAccounts and (Cluster)RoleBindings, or --kubeconfig, to compare with what is bound)
  Legacy tokens still in use (1): move their users to TokenRequest tokens
    ci/runner: Secret runner-token (manual), 1 request, last 2026-12-01T11:00:00Z from 192.168.9.9, curl/8.5

Lines not read: 2 ("audit.k8s.io/v1beta1" event: only audit.k8s.io/v1 is read: 1; not JSON (cut short or corrupt): 1)
  audit.log:2: not JSON (cut short or corrupt at character 62)
  audit.log:4: "audit.k8s.io/v1beta1" event: only audit.k8s.io/v1 is read
`);
});

test('--since DURATION counts from the injected clock; --facts adds the bound/unbound recommendations', async () => {
  const dir = logDir();
  writeFileSync(
    join(dir, 'rbac.yaml'),
    [
      'apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: api, namespace: shop}',
      'apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: idle, namespace: shop}',
      'apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: web, namespace: shop}',
      'apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: idle-edit, namespace: shop}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}\nsubjects: [{kind: ServiceAccount, name: idle, namespace: shop}]',
    ].join('\n---\n'),
  );
  const r = await usage(
    [
      '--audit-log',
      join(dir, 'audit.log'),
      join(dir, 'audit-2026-11-30T00-00-00.000.log.gz'),
      '--since',
      '7d',
      '--facts',
      'rbac.yaml',
    ],
    { cwd: dir, now: () => NOW },
  );
  expect(r.code).toBe(0);
  expect(r.stdout).toContain('  since 2026-11-25T00:00:00Z: 2 earlier events skipped\n');
  expect(r.stdout).toContain('ServiceAccount shop/api\n  1 request, first 2026-12-01T10:00:00Z');
  expect(r.stdout).toContain(`Recommendations
  Bound but never seen (1): automount can be off, and the binding is unused
    shop/idle: bound by RoleBinding shop/idle-edit
  Seen but unbound (4): keep the token
    ci/runner: uses pods: allowed by a group binding or another authorizer; not in the inventory (deleted since, or the inventory is of another cluster)
    shop/api: uses configmaps: allowed by a group binding or another authorizer
    shop/web: its token is presented to TokenReview by system:serviceaccount:vault:vault (1x): a login to another system depends on it
    vault/vault: uses tokenreviews.authentication.k8s.io: allowed by a group binding or another authorizer; not in the inventory (deleted since, or the inventory is of another cluster)
  Legacy tokens still in use (1)`);
});

test('json: the whole report, times in RFC 3339, lines not read listed', async () => {
  const dir = logDir();
  const r = await usage(['--audit-log', dir, '-o', 'json'], { cwd: dir, now: () => NOW });
  expect(r.code).toBe(0);
  const body = JSON.parse(r.stdout);
  expect(body.tool).toEqual({ name: 'tokenguard', version: '0.0.0-test' });
  expect(body.window).toEqual({ from: '2026-11-01T10:00:00.000Z', to: '2026-12-01T12:30:00.000Z' });
  expect(
    body.serviceAccounts.map((s: { namespace: string; name: string; requests: number }) => [
      `${s.namespace}/${s.name}`,
      s.requests,
    ]),
  ).toEqual([
    ['ci/runner', 1],
    ['shop/api', 2],
    ['shop/web', 0],
    ['vault/vault', 1],
  ]);
  expect(body.serviceAccounts[1].pods[1]).toMatchObject({ name: 'api-2', lastSeen: '2026-12-01T10:00:00.000Z' });
  expect(body.problems.lines).toEqual([
    { file: 'audit.log', line: 2, reason: 'not JSON (cut short or corrupt at character 62)' },
    { file: 'audit.log', line: 4, reason: '"audit.k8s.io/v1beta1" event: only audit.k8s.io/v1 is read' },
  ]);
  expect(r.stderr).toContain('2 line(s) held no readable audit event; the first: audit.log:2');
});

test('facts: a TokenUsage document that reads back; standard input works too', async () => {
  const dir = logDir();
  const r = await usage(['--audit-log', '-', '-o', 'facts', '--name', 'prod-usage'], {
    cwd: dir,
    stdin: Readable.from([Buffer.from(`${line({ user: api, time: '2026-12-01T10:00:00Z' })}\n`)]),
  });
  expect(r.code).toBe(0);
  const doc = parse(r.stdout);
  expect(doc.metadata).toEqual({ name: 'prod-usage' });
  const { facts, errors } = usageFactsFrom([{ object: doc, where: 'stdout' }]);
  expect(errors).toEqual([]);
  expect(facts?.serviceAccounts.get('shop/api')?.lastSeen).toBe(Date.parse('2026-12-01T10:00:00Z'));
});

test('bad arguments and unreadable inputs are exit 2 with a message; a folder of nothing too', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tg-usage-bad-'));
  expect((await usage([], { cwd: dir })).stderr).toContain('no audit log given');
  expect((await usage(['--audit-log', 'x', '-o', 'yaml'], { cwd: dir })).stderr).toContain(
    '--output must be one of text, json, facts',
  );
  expect((await usage(['--audit-log', 'x', '--since', 'a week'], { cwd: dir })).stderr).toContain(
    '--since: "a week" is not a duration',
  );
  const missing = await usage(['--audit-log', 'missing.log'], { cwd: dir });
  expect(missing).toMatchObject({ code: 2, stdout: '' });
  expect(missing.stderr).toBe('tokenguard usage: missing.log: cannot read: ENOENT\n');
  expect((await usage(['--audit-log', dir], { cwd: dir })).stderr).toContain('no files found');
  const kube = await usage(['--audit-log', 'x', '--kubeconfig', 'kc'], {
    cwd: dir,
    listCluster: async () => {
      throw new Error('connection refused');
    },
  });
  expect(kube).toMatchObject({
    code: 2,
    stderr: '--kubeconfig kc: cannot list ServiceAccounts and bindings: connection refused\n',
  });
});

test('tokenguard usage is a command of the CLI', async () => {
  let out = '';
  const code = await main(['usage', '--help'], {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: () => undefined },
  });
  expect(code).toBe(0);
  expect(out).toContain('usage: tokenguard usage --audit-log PATH...');
  let help = '';
  await main(['--help'], { stdout: { write: (s: string) => (help += s) }, stderr: { write: () => undefined } });
  expect(help).toContain('  usage            who used which ServiceAccount token');
});
