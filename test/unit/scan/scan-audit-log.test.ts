/**
 * `tokenguard scan --audit-log`: the legacy token Secrets of mix.ts marked used or unused from
 * an audit log (the reader and aggregation of `tokenguard usage`), in-process against the fake
 * API server on loopback. The same against the real kube-apiserver's log is in
 * test/e2e/24-usage.e2e.test.ts.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { runScanCommand } from '../../../src/cli/commands/scan.js';
import type { LegacyTokenReport, ScanReport } from '../../../src/scan/report.js';
import { REPO } from '../../helpers/fixtures.js';
import { type EventOptions, line } from '../usage/events.js';
import { FakeCluster } from './fake-cluster.js';
import { addMix, NOW } from './mix.js';

const POLICIES = join(REPO, 'policies');
let cluster: FakeCluster;
let kubeconfig: string;
let dir: string;

beforeEach(async () => {
  cluster = new FakeCluster();
  await cluster.start();
  addMix(cluster);
  kubeconfig = cluster.kubeconfigFile();
  dir = mkdtempSync(join(tmpdir(), 'tg-scan-audit-'));
});
afterEach(() => cluster.stop());

async function scan(
  args: readonly string[],
  stdin?: Readable,
): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runScanCommand(
    ['--kubeconfig', kubeconfig, '--policies', POLICIES, '--fail-on', 'never', ...args],
    { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) } },
    { now: () => NOW, env: {}, cwd: dir, ...(stdin ? { stdin } : {}) },
  );
  return { code, stdout, stderr };
}

async function json(args: readonly string[], stdin?: Readable): Promise<ScanReport> {
  const r = await scan(['--output', 'json', ...args], stdin);
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as ScanReport;
}

const token = (r: ScanReport, name: string) => r.legacyTokens.find((t) => t.name === name) as LegacyTokenReport;

/** A request made with a legacy token of team-a (the annotations the API server adds since 1.29). */
function legacyUse(sa: string, secret: string | undefined, o: EventOptions = {}): string {
  return line({
    user: `system:serviceaccount:team-a:${sa}`,
    namespace: 'team-a',
    annotations: {
      'authentication.k8s.io/legacy-token': `system:serviceaccount:team-a:${sa}`,
      ...(secret ? { 'authentication.k8s.io/legacy-token-manual-secret': secret } : {}),
    },
    ...o,
  });
}

/** Someone else's request: it only makes the log's window. */
const other = (time: string) => line({ user: 'system:node:node-1', time, resource: 'nodes', namespace: '' });

function log(name: string, lines: readonly string[]): string {
  const file = join(dir, name);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

// NOW is 2026-12-10T12:00:00Z; --min-unused-days is 30 by default, so a log from 2026-11-01 covers it.
const LONG = ['2026-11-01T00:00:00Z', '2026-12-10T11:00:00Z'];

test('a Secret the log shows in use is "used", with count, last use and where from; the plan says to migrate the client', async () => {
  const file = log('audit.log', [
    other(LONG[0] as string),
    legacyUse('ci-bot', 'ci-token', {
      time: '2026-12-06T09:00:00Z',
      sourceIP: '10.0.0.5',
      userAgent: 'kubectl/v1.34.0 (linux/amd64)',
    }),
    legacyUse('ci-bot', 'ci-token', {
      time: '2026-12-07T10:00:00Z',
      sourceIP: '10.0.0.5',
      userAgent: 'kubectl/v1.34.0 (linux/amd64)',
      stage: 'RequestReceived',
      auditID: 'r1',
    }),
    legacyUse('ci-bot', 'ci-token', {
      time: '2026-12-07T10:00:00Z',
      sourceIP: '10.0.0.5',
      userAgent: 'kubectl/v1.34.0 (linux/amd64)',
      auditID: 'r1',
    }),
    other(LONG[1] as string),
  ]);
  const r = await json(['--audit-log', file]);
  expect(r.settings.auditLog).toEqual({
    files: 1,
    events: 5,
    from: '2026-11-01T00:00:00Z',
    to: '2026-12-10T11:00:00Z',
    coversMinUnusedDays: true,
    linesNotRead: 0,
  });
  const ci = token(r, 'ci-token');
  // Its label (2026-12-05) alone said "used 5 days ago" with no source; the log says how often, when and from where.
  expect(ci.lastUsed).toBe('2026-12-05');
  expect(ci.audit).toEqual({
    state: 'used',
    requests: 2, // the two stages of r1 are one request
    refused: 0,
    firstSeen: '2026-12-06T09:00:00Z',
    lastSeen: '2026-12-07T10:00:00Z',
    sourceIPs: ['10.0.0.5'],
    userAgents: ['kubectl/v1.34.0 (linux/amd64)'],
    matchedBy: 'secret',
  });
  expect(ci.verdict).toBe('find-client');
  expect(ci.message).toMatch(
    /^used 2 times in the audit log, last 2026-12-07T10:00:00Z \(3 days ago\) from 10\.0\.0\.5 by kubectl\/v1\.34\.0 \(linux\/amd64\), by nothing in the cluster: migrate the client before deleting it\./,
  );
  expect(ci.unusedDays).toBe(3);
  // The Secret nothing uses, in a log covering 30 days: unused, beside its old label.
  const listed = token(r, 'listed-token');
  expect(listed.audit?.state).toBe('unused');
  expect(listed.verdict).toBe('safe-to-delete');
  expect(listed.message).toMatch(
    /^not used within the audit log's window \(2026-11-01T00:00:00Z to 2026-12-10T11:00:00Z, 39 days\), which covers the last 30 days; its last-used label says 2026-03-01; no consumer: safe to invalidate, then delete\./,
  );
  // A Secret a pod uses keeps its verdict; the log's word is added.
  const cron = token(r, 'cron-token');
  expect(cron.verdict).toBe('migrate-first');
  expect(cron.message).toContain(
    'Audit log: not used within its window (2026-11-01T00:00:00Z to 2026-12-10T11:00:00Z, 39 days).',
  );

  // The PolicyReport result and the text carry it too.
  const result = r.results.find((x) => x.resource?.kind === 'Secret' && x.resource.name === 'ci-token');
  expect(result?.properties).toMatchObject({
    auditLog: 'used',
    auditRequests: '2',
    auditLastSeen: '2026-12-07T10:00:00Z',
    auditFrom: '10.0.0.5, kubectl/v1.34.0 (linux/amd64)',
    lastUsed: '2026-12-05',
  });
  const policyReport = await scan(['--output', 'policyreport', '--audit-log', file]);
  expect(policyReport.stdout).toContain('auditLastSeen: 2026-12-07T10:00:00Z');
  const text = await scan(['--audit-log', file]);
  expect(text.stdout).toContain(
    'audit log: 5 events in 1 file, 2026-11-01T00:00:00Z to 2026-12-10T11:00:00Z, 39 days; covers the last 30 days (--min-unused-days): a Secret it does not show is unused\n',
  );
  expect(text.stdout).toMatch(
    / {2}team-a\/ci-token: .*; last used 2026-12-05\n {4}audit log: 2 requests, last 2026-12-07T10:00:00Z from 10\.0\.0\.5 by kubectl\/v1\.34\.0 \(linux\/amd64\)\n {4}FIND THE CLIENT: used 2 times/,
  );
  expect(text.stdout).toMatch(
    / {2}team-a\/listed-token: .*\n {4}audit log: not used\n {4}SAFE TO DELETE: not used within the audit log's window/,
  );
});

test('a log shorter than --min-unused-days cannot call a Secret unused: the label decides, and the message says so', async () => {
  const file = log('short.log', [other('2026-12-10T10:00:00Z'), other('2026-12-10T11:00:00Z')]);
  const r = await json(['--audit-log', file]);
  expect(r.settings.auditLog).toMatchObject({
    from: '2026-12-10T10:00:00Z',
    to: '2026-12-10T11:00:00Z',
    coversMinUnusedDays: false,
  });
  const listed = token(r, 'listed-token');
  expect(listed.audit?.state).toBe('unknown');
  expect(listed.verdict).toBe('safe-to-delete'); // from its label: unused for 284 days
  expect(listed.message).toContain(
    'Audit log: not seen, but its window (2026-12-10T10:00:00Z to 2026-12-10T11:00:00Z, 1 hour) is shorter than the 30 days of --min-unused-days, so it cannot tell unused.',
  );
  const ci = token(r, 'ci-token');
  expect(ci.audit?.state).toBe('unknown');
  expect(ci.verdict).toBe('find-client');
  const text = await scan(['--audit-log', file]);
  expect(text.stdout).toContain(
    'shorter than the last 30 days (--min-unused-days): a Secret it does not show may still be used',
  );
  expect(text.stdout).toContain('    audit log: not seen (the log is too short to call it unused)\n');
  // A longer --min-unused-days than the log: the same with a long log.
  const long = log('long.log', [other(LONG[0] as string), other(LONG[1] as string)]);
  expect(token(await json(['--audit-log', long, '--min-unused-days', '60']), 'listed-token').audit?.state).toBe(
    'unknown',
  );
});

test('a use the last-used label records after the log, or inside its window where the log shows none, keeps the Secret from "unused"', async () => {
  // ci-token's label says 2026-12-05; this log ends on 2026-12-04 (and starts before the 30 days).
  const ended = log('ended.log', [other(LONG[0] as string), other('2026-12-04T23:00:00Z')]);
  const a = token(await json(['--audit-log', ended]), 'ci-token');
  expect(a.audit?.state).toBe('unused');
  expect(a.verdict).toBe('find-client');
  expect(a.message).toMatch(
    /^not in the audit log \(.*\), but its last-used label says 2026-12-05, the log's last day or later: used after the log ends\?/,
  );
  // This one covers 2026-12-05 and shows no use: the log does not see this token's requests.
  const blind = log('blind.log', [other(LONG[0] as string), other(LONG[1] as string)]);
  const b = token(await json(['--audit-log', blind]), 'ci-token');
  expect(b.verdict).toBe('find-client');
  expect(b.message).toMatch(
    /^its last-used label says 2026-12-05, inside the audit log's window \(.*\), which shows no use: the audit policy may not log its requests\./,
  );
});

test('an old use in a long log is still "safe to delete"; refusals of an invalidated token show a client still holds it', async () => {
  const file = log('old.log', [
    other('2026-10-01T00:00:00Z'),
    legacyUse('listed', 'listed-token', {
      time: '2026-10-02T08:00:00Z',
      sourceIP: '192.0.2.7',
      userAgent: 'deploy-bot/2',
    }),
    // stale-token is invalidated: its refusals name it, in `<secret>/<namespace>` (1.28+).
    line({
      user: '',
      namespace: 'team-a',
      code: 401,
      time: '2026-12-09T08:00:00Z',
      sourceIP: '192.0.2.9',
      userAgent: 'old-cron/1',
      annotations: {
        'authentication.k8s.io/legacy-token': 'system:serviceaccount:team-a:listed',
        'authentication.k8s.io/legacy-token-invalidated': 'stale-token/team-a',
      },
    }),
    other(LONG[1] as string),
  ]);
  const r = await json(['--audit-log', file]);
  const listed = token(r, 'listed-token');
  expect(listed.verdict).toBe('safe-to-delete');
  expect(listed.message).toMatch(
    /^used 1 time in the audit log, last 2026-10-02T08:00:00Z \(69 days ago\) from 192\.0\.2\.7 by deploy-bot\/2, none since \(69 days, at least 30\), no consumer: safe to invalidate, then delete\./,
  );
  const stale = token(r, 'stale-token');
  expect(stale.verdict).toBe('invalidated');
  expect(stale.audit).toMatchObject({
    state: 'used',
    requests: 0,
    refused: 1,
    sourceIPs: ['192.0.2.9'],
    userAgents: ['old-cron/1'],
  });
  expect(stale.message).toContain(
    'Audit log: refused 1 time (Secret marked invalid), last 2026-12-09T08:00:00Z from 192.0.2.9 by old-cron/1: a client still holds it.',
  );
});

test('an API server before 1.29 names no Secret: the use goes to every token Secret of the ServiceAccount', async () => {
  const file = log('old-server.log', [
    other(LONG[0] as string),
    legacyUse('ci-bot', undefined, { time: '2026-12-08T00:00:00Z' }),
    other(LONG[1] as string),
  ]);
  const r = await json(['--audit-log', file]);
  for (const name of ['ci-token', 'cron-token'])
    expect(token(r, name).audit).toMatchObject({ state: 'used', requests: 1, matchedBy: 'serviceAccount' });
  expect(token(r, 'ci-token').message).toContain(
    '(a legacy token of its ServiceAccount: the log does not name the Secret, as API servers before 1.29 do not)',
  );
  expect(token(r, 'listed-token').audit?.state).toBe('unused');
});

test('the inputs of tokenguard usage: gzip on standard input, folders; bad lines counted, not fatal; a missing file is exit 2 before the cluster is asked', async () => {
  const body = `${[other(LONG[0] as string), '{"kind":"Event", cut short', legacyUse('ci-bot', 'ci-token', { time: '2026-12-08T00:00:00Z' }), other(LONG[1] as string)].join('\n')}\n`;
  const r = await scan(['--output', 'json', '--audit-log', '-'], Readable.from([gzipSync(body)]));
  expect(r.code).toBe(0);
  const report = JSON.parse(r.stdout) as ScanReport;
  expect(report.settings.auditLog).toMatchObject({ files: 1, events: 3, linesNotRead: 1 });
  expect(token(report, 'ci-token').audit?.requests).toBe(1);
  expect(r.stderr).toContain(
    'tokenguard scan: --audit-log: 1 line(s) held no readable audit event; the first: stdin:2: not JSON',
  );

  const folder = join(dir, 'rotated');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(folder);
  writeFileSync(join(folder, 'audit-2026-11-01T00-00-00.000.log.gz'), gzipSync(`${other(LONG[0] as string)}\n`));
  writeFileSync(
    join(folder, 'audit.log'),
    `${legacyUse('ci-bot', 'ci-token', { time: '2026-12-08T00:00:00Z' })}\n${other(LONG[1] as string)}\n`,
  );
  const rotated = await json(['--audit-log', folder]);
  expect(rotated.settings.auditLog).toMatchObject({ files: 2, events: 3, coversMinUnusedDays: true });

  cluster.requests.length = 0;
  const missing = await scan(['--audit-log', join(dir, 'nope.log')]);
  expect(missing.code).toBe(2);
  expect(missing.stderr).toContain('tokenguard scan: --audit-log: nope.log: cannot read: ENOENT');
  expect(cluster.requests).toEqual([]);
  // A stray argument is still refused without --audit-log.
  expect((await scan(['stray'])).code).toBe(2);
});

test('without --audit-log the report has no audit fields to read from', async () => {
  const r = await json([]);
  expect(r.settings.auditLog).toBeNull();
  expect(r.legacyTokens.every((t) => t.audit === null)).toBe(true);
});
