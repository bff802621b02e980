/** `tokenguard scan --output text`: the report for a person, widest first. Pure. */
import type { PodOutcome } from './admission.js';
import { describeSources, describeWindow } from './audit.js';
import { describeRef } from './inventory.js';
import type { Counts, LegacyTokenReport, ScanReport, WorkloadReport } from './report.js';

const VERDICT_LABEL: Readonly<Record<LegacyTokenReport['verdict'], string>> = {
  'migrate-first': 'MIGRATE FIRST',
  'find-client': 'FIND THE CLIENT',
  'safe-to-delete': 'SAFE TO DELETE',
  invalidated: 'INVALIDATED',
  orphaned: 'ORPHANED',
  deleting: 'DELETING',
};

const OUTCOME_LABEL: Readonly<Record<PodOutcome, string>> = {
  denied: 'DENIED',
  changed: 'CHANGED',
  warned: 'WARNED',
  passed: 'PASSED',
  error: 'ERROR',
};

export interface TextOptions {
  /** `--fail-on` level, for the last line. */
  readonly failOn: 'fail' | 'warn' | 'never';
}

/** Renders the report as text (sections: legacy tokens, ServiceAccounts, workloads, summary). */
export function formatScanText(report: ScanReport, options: TextOptions): string {
  const out: string[] = [];
  const scope = report.scope.namespace ? `namespace ${report.scope.namespace}` : 'all namespaces';
  out.push(
    `tokenguard scan of ${report.cluster.server}${report.cluster.version ? ` (Kubernetes ${report.cluster.version})` : ''}, ${scope}, at ${report.scannedAt.replace(/\.\d+Z$/, 'Z')}`,
  );
  out.push(`policies: ${report.policies.map((p) => `${p.name} (${p.mode})`).join(', ') || 'none'}`);
  const t = report.settings.tracking;
  const tracking = t.state === 'since' ? `last-used tracking since ${t.since}` : `last-used tracking: ${t.reason}`;
  out.push(`legacy-token clean-up period: ${report.settings.cleanUpPeriodDays} days; ${tracking}`);
  const log = report.settings.auditLog;
  if (log) {
    const window =
      log.from !== null && log.to !== null
        ? describeWindow({ from: Date.parse(log.from), to: Date.parse(log.to) })
        : 'no event';
    const covers = log.coversMinUnusedDays
      ? `covers the last ${report.settings.minUnusedDays} days (--min-unused-days): a Secret it does not show is unused`
      : `shorter than the last ${report.settings.minUnusedDays} days (--min-unused-days): a Secret it does not show may still be used`;
    const notRead =
      log.linesNotRead > 0
        ? `; ${log.linesNotRead} line${log.linesNotRead === 1 ? '' : 's'} held no audit event (tokenguard usage names them)`
        : '';
    out.push(
      `audit log: ${log.events} event${log.events === 1 ? '' : 's'} in ${log.files} file${log.files === 1 ? '' : 's'}, ${window}; ${covers}${notRead}`,
    );
  }
  for (const n of report.notes) out.push(`note: ${n}`);
  out.push('');

  out.push(`Legacy token Secrets (${report.legacyTokens.length})`);
  if (report.legacyTokens.length === 0) out.push('  none');
  for (const s of report.legacyTokens) {
    const sa = s.serviceAccount.name
      ? `ServiceAccount ${s.serviceAccount.name}${s.serviceAccount.exists ? '' : ' (missing)'}${s.serviceAccount.listsSecret ? ', listed in its .secrets' : ''}`
      : 'no ServiceAccount';
    const age = s.createdAt
      ? `created ${s.createdAt.slice(0, 10)} (${s.ageDays} day${s.ageDays === 1 ? '' : 's'} ago)`
      : 'creation unknown';
    const labels = [
      `last used ${s.lastUsed ?? 'never recorded'}`,
      ...(s.invalidSince !== null ? [`invalid since ${s.invalidSince}`] : []),
    ].join(', ');
    out.push(`  ${s.namespace}/${s.name}: ${sa}; ${age}; ${labels}`);
    if (s.audit) out.push(`    audit log: ${auditLine(s.audit)}`);
    out.push(`    ${VERDICT_LABEL[s.verdict]}: ${s.message}`);
    out.push(
      `    policy: ${s.policy.policy}/${s.policy.rule} ${s.policy.result}${s.policy.message ? `: ${s.policy.message}` : ''}`,
    );
  }
  out.push('');

  out.push(`ServiceAccounts that list legacy token Secrets (${report.serviceAccounts.length})`);
  if (report.serviceAccounts.length === 0) out.push('  none');
  for (const sa of report.serviceAccounts) out.push(`  ${sa.namespace}/${sa.name}: ${sa.message}`);
  out.push('');

  const shown = report.workloads.filter((w) => w.outcome !== 'passed' || w.legacyTokens.length > 0);
  const quiet = report.workloads.filter((w) => !shown.includes(w) && w.pods > 0);
  out.push(
    `Workloads: running pods judged as if created now, and users of legacy tokens (${shown.length} with findings, ${quiet.length} passing)`,
  );
  if (shown.length === 0) out.push('  none');
  for (const w of shown) out.push(...workloadLines(w));
  out.push('');

  out.push('Summary');
  const rows: string[][] = [
    [
      'namespace',
      'legacy',
      'in use',
      'deletable',
      'find client',
      'pods',
      'API token',
      'would lose',
      'denied',
      'changed',
    ],
  ];
  const row = (name: string, c: Counts) => [
    name,
    String(c.legacyTokens),
    String(c.inUse),
    String(c.safeToDelete + c.invalidated + c.orphaned),
    String(c.findClient),
    String(c.pods),
    String(c.apiTokenPods),
    String(c.wouldLoseApiTokenPods),
    String(c.podsDenied),
    String(c.podsChanged),
  ];
  for (const n of report.namespaces) if (n.legacyTokens > 0 || n.pods > 0) rows.push(row(n.namespace, n));
  rows.push(row('(cluster)', report.summary));
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows)
    out.push(`  ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')}`.trimEnd());
  const s = report.summary;
  out.push(
    s.oldestUnused
      ? `  oldest unused legacy token: ${s.oldestUnused.namespace}/${s.oldestUnused.name}, ${s.oldestUnused.days} day${s.oldestUnused.days === 1 ? '' : 's'} without use`
      : '  oldest unused legacy token: none',
  );
  out.push(
    `  pods carrying an API token they would lose: ${s.wouldLoseApiTokenPods} of ${s.pods} (${(s.wouldLoseApiTokenShare * 100).toFixed(1)} %)`,
  );
  const r = s.results;
  const counted = options.failOn === 'never' ? 0 : r.fail + r.error + (options.failOn === 'warn' ? r.warn : 0);
  out.push(
    `  results: ${r.fail} fail, ${r.warn} warn, ${r.error} error, ${r.pass} pass; ${counted} at or above --fail-on ${options.failOn}`,
  );
  return `${out.join('\n')}\n`;
}

function auditLine(a: NonNullable<LegacyTokenReport['audit']>): string {
  if (a.state === 'unused') return 'not used';
  if (a.state === 'unknown') return 'not seen (the log is too short to call it unused)';
  const refused = a.refused > 0 ? `, ${a.refused} refused (Secret marked invalid)` : '';
  const sources = describeSources(a);
  return `${a.requests} request${a.requests === 1 ? '' : 's'}${refused}, last ${a.lastSeen}${sources ? ` ${sources}` : ''}${a.matchedBy === 'serviceAccount' ? ' (by its ServiceAccount: the log does not name the Secret)' : ''}`;
}

function workloadLines(w: WorkloadReport): string[] {
  const out: string[] = [];
  const sa = w.serviceAccounts.length > 0 ? `, ServiceAccount ${w.serviceAccounts.join(', ')}` : '';
  const token = w.pods > 0 ? `; ${w.apiTokenPods} with an API token, ${w.wouldLoseApiTokenPods} would lose it` : '';
  out.push(`  ${describeRef(w.workload)}: ${w.pods} pod${w.pods === 1 ? '' : 's'}${sa}${token}`);
  for (const v of w.variants) {
    const lines = [
      ...v.denials.map((d) => `deny ${d}`),
      ...v.changes.map((c) => `change ${c}`),
      ...v.warnings.map((x) => `warn ${x}`),
      ...(v.reason ? [v.reason] : []),
    ];
    if (v.outcome === 'passed' && lines.length === 0) continue;
    out.push(`    ${OUTCOME_LABEL[v.outcome]} (${v.pods} pod${v.pods === 1 ? '' : 's'}, e.g. ${v.examplePod}):`);
    for (const l of lines) out.push(`      ${l}`);
  }
  if (w.otherVariantPods > 0)
    out.push(
      `    ${w.otherVariantPods} more pod${w.otherVariantPods === 1 ? '' : 's'} with other verdicts (not listed)`,
    );
  for (const t of w.legacyTokens) {
    const template = t.template && w.workload.kind !== 'Pod';
    const where =
      t.pods > 0
        ? `${t.pods} pod${t.pods === 1 ? '' : 's'}${template ? ' and its template' : ''}`
        : 'its template only';
    out.push(`    uses legacy token ${t.secret} (${where}): ${[...new Set(t.uses.map((u) => u.text))].join('; ')}`);
  }
  if (w.plan) {
    out.push(
      `    plan: ${w.plan.status}${w.plan.expirationSeconds ? ` (a token of ServiceAccount ${w.plan.serviceAccount} for ${w.plan.expirationSeconds} s)` : ''}`,
    );
    for (const c of w.plan.changes) out.push(`      - ${c}`);
    for (const m of w.plan.manual) out.push(`      ! ${m}`);
    if (w.plan.check) {
      out.push(`      check (tokenguard test of the patched workload): ${w.plan.check.outcome}`);
      for (const d of w.plan.check.denials) out.push(`        deny ${d}`);
    }
  }
  return out;
}
