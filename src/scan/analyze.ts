/**
 * From what the scan read (token Secrets, facts, the workload table) to the report: a verdict per
 * legacy token Secret, a plan per workload that uses one, the ServiceAccounts that list token
 * Secrets, the admission verdicts per workload, the summaries, and the results in PolicyReport
 * vocabulary. Pure: the clock comes in as `now`.
 */
import { runDryRun } from '../dryrun/run.js';
import type { TokenPolicy } from '../policy/types.js';
import { byName } from '../policy/types.js';
import type { PodOutcome } from './admission.js';
import { type AuditEvidence, isoSecond } from './audit.js';
import type { Tracking } from './cleaner.js';
import { SCAN_POLICY } from './constants.js';
import { daysBetween } from './dates.js';
import type { FactsIndex } from './facts-index.js';
import { key, secretForEngine, type TokenSecret } from './inventory.js';
import { assessLegacyToken, type Consumer, DELETABLE, type LegacyVerdict } from './legacy.js';
import { planWorkload, type WorkloadPlan } from './plan.js';
import { describeUse, type SecretUse } from '../engine/secret-uses.js';
import {
  type Counts,
  type LegacyTokenReport,
  type NamespaceSummary,
  type PlanReport,
  type ResultStatus,
  SCAN_REPORT_SCHEMA_VERSION,
  type ScanReport,
  type ScanResult,
  type ServiceAccountReport,
  type Severity,
  type UseReport,
  type WorkloadReport,
} from './report.js';
import type { WorkloadEntry } from './workloads.js';

export interface AnalyzeInput {
  readonly now: number;
  readonly server: string;
  readonly version: string | null;
  /** `--namespace`, when the scan was limited to one. */
  readonly namespace: string | undefined;
  readonly policies: readonly TokenPolicy[];
  /** Where each policy came from, as the report shows it. */
  readonly policyFile: (p: TokenPolicy) => string;
  readonly periodDays: number;
  readonly minUnusedDays: number;
  readonly tracking: Tracking;
  readonly secrets: readonly TokenSecret[];
  readonly facts: FactsIndex;
  readonly workloads: readonly WorkloadEntry[];
  /** Every namespace scanned. */
  readonly namespaces: readonly string[];
  readonly notes: readonly string[];
  readonly apiAudiences?: readonly string[];
  /** The audit log's evidence (`--audit-log`): per Secret, and what was read. */
  readonly audit?: {
    readonly evidence: AuditEvidence;
    readonly files: number;
    readonly events: number;
    readonly linesNotRead: number;
  };
}

export interface Analysis {
  readonly report: ScanReport;
  /** The full plans (with the patched objects), for `--plan DIR`. */
  readonly plans: readonly WorkloadPlan[];
}

const OUTCOME_ORDER: readonly PodOutcome[] = ['error', 'denied', 'changed', 'warned', 'passed'];

const VERDICT_SEVERITY: Readonly<Record<LegacyVerdict, Severity>> = {
  'migrate-first': 'high',
  'find-client': 'high',
  'safe-to-delete': 'medium',
  invalidated: 'low',
  orphaned: 'low',
  deleting: 'info',
};

/** Builds the report (see the module comment). */
export function analyze(input: AnalyzeInput): Analysis {
  const { now } = input;
  const secretsByKey = new Map(input.secrets.map((s) => [key(s.namespace, s.name), s]));
  const consumers = new Map<string, Consumer[]>();
  for (const w of input.workloads) {
    for (const s of w.secrets.values()) {
      const k = key(w.ref.namespace, s.secret);
      const list = consumers.get(k) ?? [];
      list.push({ workload: w.ref, pods: s.pods, template: s.template, uses: s.uses });
      consumers.set(k, list);
    }
  }

  const plans: WorkloadPlan[] = [];
  const planByWorkload = new Map<WorkloadEntry, WorkloadPlan>();
  for (const w of input.workloads) {
    if (w.secrets.size === 0) continue;
    const plan = planWorkload({
      workload: w.ref,
      object: w.object,
      secrets: [...w.secrets.values()],
      tokenSecret: (name) => secretsByKey.get(key(w.ref.namespace, name)),
      policies: input.policies,
      facts: input.facts,
      ...(input.apiAudiences ? { apiAudiences: input.apiAudiences } : {}),
    });
    plans.push(plan);
    planByWorkload.set(w, plan);
  }

  const results: ScanResult[] = [];
  const legacyTokens: LegacyTokenReport[] = [];
  const sorted = [...input.secrets].sort((a, b) => cmp(a.namespace, b.namespace) || cmp(a.name, b.name));
  for (const s of sorted) {
    const sa = s.serviceAccountName ? input.facts.serviceAccount(s.namespace, s.serviceAccountName) : undefined;
    const using = consumers.get(key(s.namespace, s.name)) ?? [];
    const use = input.audit?.evidence.secrets.get(key(s.namespace, s.name));
    const audit = input.audit && use ? { evidence: input.audit.evidence, use } : undefined;
    const a = assessLegacyToken({
      secret: s,
      serviceAccount: sa,
      consumers: using,
      now,
      periodDays: input.periodDays,
      minUnusedDays: input.minUnusedDays,
      tracking: input.tracking,
      ...(audit ? { audit } : {}),
    });
    const policy = judgeSecret(s, input);
    legacyTokens.push({
      namespace: s.namespace,
      name: s.name,
      uid: s.uid,
      serviceAccount: { name: s.serviceAccountName ?? null, exists: a.serviceAccountExists, listsSecret: a.listedBy },
      createdAt: s.createdAt !== undefined ? new Date(s.createdAt).toISOString().replace('.000Z', 'Z') : null,
      ageDays: s.createdAt !== undefined ? Math.max(0, daysBetween(s.createdAt, now)) : null,
      lastUsed: s.lastUsed ?? null,
      invalidSince: s.invalidSince ?? null,
      unusedDays: a.unusedDays,
      unusedSince: a.unusedSince,
      consumers: using.map((c) => ({
        workload: c.workload,
        pods: c.pods,
        template: c.template,
        uses: c.uses.map(useReport),
      })),
      verdict: a.verdict,
      message: a.message,
      cleaner: a.cleaner,
      policy,
      audit: use
        ? {
            state: use.state,
            requests: use.requests,
            refused: use.refused,
            firstSeen: use.firstSeen !== undefined ? isoSecond(use.firstSeen) : null,
            lastSeen: use.lastSeen !== undefined ? isoSecond(use.lastSeen) : null,
            sourceIPs: [...use.sourceIPs],
            userAgents: [...use.userAgents],
            matchedBy: use.matchedBy ?? null,
          }
        : null,
    });
    const c = a.cleaner;
    results.push({
      namespace: s.namespace,
      policy: policy.policy,
      rule: policy.rule,
      result: policy.result,
      severity: policy.result === 'pass' ? 'info' : VERDICT_SEVERITY[a.verdict],
      message: `${a.verdict}: ${a.message}`,
      resource: {
        apiVersion: 'v1',
        kind: 'Secret',
        namespace: s.namespace,
        name: s.name,
        ...(s.uid ? { uid: s.uid } : {}),
      },
      properties: props({
        verdict: a.verdict,
        serviceAccount: s.serviceAccountName,
        lastUsed: s.lastUsed,
        invalidSince: s.invalidSince,
        unusedDays: a.unusedDays === null ? undefined : String(a.unusedDays),
        auditLog: use?.state,
        auditRequests: use ? String(use.requests) : undefined,
        auditLastSeen: use?.lastSeen !== undefined ? isoSecond(use.lastSeen) : undefined,
        auditFrom:
          use && use.state === 'used' ? [...use.sourceIPs, ...use.userAgents].join(', ') || undefined : undefined,
        invalidateOn: c.state === 'scheduled' ? c.invalidateOn : undefined,
        deleteOn: c.state === 'scheduled' || c.state === 'invalidated' ? c.deleteOn : undefined,
        consumers: String(using.length),
      }),
    });
  }

  const workloads: WorkloadReport[] = [];
  for (const w of input.workloads) {
    const plan = planByWorkload.get(w);
    const outcome = OUTCOME_ORDER.find((o) => w.outcomes[o] > 0) ?? 'passed';
    const variants = [...w.variants.values()].sort(
      (a, b) => b.pods - a.pods || cmp(a.verdict.signature, b.verdict.signature),
    );
    workloads.push({
      workload: w.ref,
      serviceAccounts: [...w.serviceAccounts],
      pods: w.pods,
      apiTokenPods: w.apiTokenPods,
      wouldLoseApiTokenPods: w.wouldLosePods,
      outcome: w.pods === 0 ? 'passed' : outcome,
      outcomes: { ...w.outcomes },
      variants: variants.map((v) => ({
        pods: v.pods,
        outcome: v.verdict.outcome,
        examplePod: v.examplePod,
        denials: v.verdict.denials.map((f) => `${f.policy}/${f.rule}: ${f.message}`),
        changes: v.verdict.changes.map((f) => `${f.policy}/${f.rule}: ${f.message}`),
        warnings: [...v.verdict.warnings],
        ...(v.verdict.reason ? { reason: v.verdict.reason } : {}),
      })),
      otherVariantPods: w.otherVariantPods,
      legacyTokens: [...w.secrets.values()]
        .sort((a, b) => cmp(a.secret, b.secret))
        .map((s) => ({ secret: s.secret, pods: s.pods, template: s.template, uses: s.uses.map(useReport) })),
      plan: plan ? planReport(plan) : null,
    });
    results.push(...workloadResults(w, plan));
  }

  const tokenNames = new Set(input.secrets.map((s) => key(s.namespace, s.name)));
  const serviceAccounts: ServiceAccountReport[] = [];
  for (const sa of [...input.facts.serviceAccounts()].sort(
    (a, b) => cmp(a.namespace, b.namespace) || cmp(a.name, b.name),
  )) {
    const listed = sa.secrets.map((name) => ({ name, tokenSecret: tokenNames.has(key(sa.namespace, name)) }));
    const tokens = listed.filter((x) => x.tokenSecret).map((x) => x.name);
    if (tokens.length === 0) continue;
    const message = `lists legacy token Secret${tokens.length === 1 ? '' : 's'} ${tokens.join(', ')} in .secrets: the API server counts ${tokens.length === 1 ? 'it' : 'them'} as auto-generated, and the cleaner invalidates such Secrets once unused for a period (deleting ${tokens.length === 1 ? 'it' : 'them'} also drops the entr${tokens.length === 1 ? 'y' : 'ies'}: the token controller does it)`;
    serviceAccounts.push({ namespace: sa.namespace, name: sa.name, secrets: listed, message });
    results.push({
      namespace: sa.namespace,
      policy: SCAN_POLICY,
      rule: 'serviceaccount-secrets',
      result: 'warn',
      severity: 'low',
      message,
      resource: {
        apiVersion: 'v1',
        kind: 'ServiceAccount',
        namespace: sa.namespace,
        name: sa.name,
        ...(sa.uid ? { uid: sa.uid } : {}),
      },
      properties: { secrets: tokens.join(',') },
    });
  }

  const nsNames = [
    ...new Set([
      ...input.namespaces,
      ...legacyTokens.map((t) => t.namespace),
      ...workloads.map((w) => w.workload.namespace),
    ]),
  ].sort();
  const namespaces: NamespaceSummary[] = nsNames.map((ns) => ({
    namespace: ns,
    ...counts(
      legacyTokens.filter((t) => t.namespace === ns),
      workloads.filter((w) => w.workload.namespace === ns),
      serviceAccounts.filter((s) => s.namespace === ns).length,
    ),
  }));
  for (const n of namespaces) results.push(namespaceResult(n, results));
  results.sort(
    (a, b) =>
      cmp(a.namespace, b.namespace) ||
      cmp(a.resource?.kind ?? '', b.resource?.kind ?? '') ||
      cmp(a.resource?.name ?? '', b.resource?.name ?? '') ||
      cmp(a.policy, b.policy) ||
      cmp(a.rule, b.rule),
  );
  const tally: Record<ResultStatus, number> = { pass: 0, fail: 0, warn: 0, error: 0 };
  for (const r of results) if (r.rule !== 'namespace-summary') tally[r.result]++;

  const report: ScanReport = {
    schemaVersion: SCAN_REPORT_SCHEMA_VERSION,
    scannedAt: new Date(now).toISOString(),
    cluster: { server: input.server, version: input.version },
    scope: { namespace: input.namespace ?? null },
    settings: {
      cleanUpPeriodDays: input.periodDays,
      minUnusedDays: input.minUnusedDays,
      tracking: {
        state: input.tracking.state,
        since: input.tracking.state === 'since' ? input.tracking.since : null,
        reason: input.tracking.state === 'since' ? null : input.tracking.reason,
      },
      auditLog: input.audit
        ? {
            files: input.audit.files,
            events: input.audit.events,
            from: input.audit.evidence.window ? isoSecond(input.audit.evidence.window.from) : null,
            to: input.audit.evidence.window ? isoSecond(input.audit.evidence.window.to) : null,
            coversMinUnusedDays: input.audit.evidence.covers,
            linesNotRead: input.audit.linesNotRead,
          }
        : null,
    },
    policies: [...input.policies]
      .sort(byName)
      .map((p) => ({ name: p.name, mode: p.spec.mode, file: input.policyFile(p) })),
    legacyTokens,
    serviceAccounts,
    workloads,
    namespaces,
    summary: {
      namespaces: namespaces.length,
      ...counts(legacyTokens, workloads, serviceAccounts.length),
      results: tally,
    },
    results,
    notes: [...input.notes],
  };
  return { report, plans };
}

/** How the policies judge creating this Secret, through the same dry run as `tokenguard test`. */
function judgeSecret(s: TokenSecret, input: AnalyzeInput): LegacyTokenReport['policy'] {
  const facts = input.facts
    .factsFor(s.namespace, s.serviceAccountName ?? 'default')
    .filter((f) => f.kind === 'Namespace');
  const report = runDryRun({
    policies: input.policies,
    objects: [{ object: secretForEngine(s), file: 'cluster', document: 1, line: 0 }],
    facts,
    namespace: s.namespace,
  });
  const o = report.objects[0];
  const verdicts = (o?.policies ?? []).filter(
    (p) => p.status !== 'skip' && p.results.some((r) => r.rule === 'legacy-token-secret'),
  );
  const order: Record<string, number> = { fail: 0, warn: 1, mutate: 2, pass: 3 };
  verdicts.sort((a, b) => (order[a.status] ?? 9) - (order[b.status] ?? 9) || cmp(a.policy, b.policy));
  const v = verdicts[0];
  if (!v)
    return {
      result: 'warn',
      policy: SCAN_POLICY,
      rule: 'legacy-token-secret',
      message: 'no policy judges legacy token Secrets in this namespace',
    };
  const r = v.results.find((x) => x.rule === 'legacy-token-secret');
  const result: ResultStatus = v.status === 'fail' ? 'fail' : v.status === 'pass' ? 'pass' : 'warn';
  return { result, policy: v.policy, rule: 'legacy-token-secret', message: r?.message ?? '' };
}

function useReport(u: SecretUse): UseReport {
  return {
    kind: u.kind,
    text: describeUse(u),
    ...(u.container ? { container: u.container } : {}),
    ...(u.mountPath ? { mountPath: u.mountPath } : {}),
  };
}

function planReport(p: WorkloadPlan): PlanReport {
  return {
    status: p.status,
    serviceAccount: p.serviceAccount,
    expirationSeconds: p.expirationSeconds,
    changes: [...p.changes],
    manual: [...p.manual],
    replaces: [...p.replaces],
    check: p.check
      ? { outcome: p.check.outcome, denials: [...p.check.denials], warnings: [...p.check.warnings] }
      : null,
  };
}

/**
 * The results of one workload: one per legacy token Secret it uses, and one per policy and rule
 * over its pods, as admission would judge them now:
 *
 * | over its pods                             | result | severity |
 * |-------------------------------------------|--------|----------|
 * | some Enforce rule would deny them          | fail   | high     |
 * | some Enforce rule would change them        | fail   | medium   |
 * | Audit policies warn, or a rule warns       | warn   | low      |
 * | every rule passes                          | pass   | info     |
 * | they could not be evaluated                | error  | high     |
 */
function workloadResults(w: WorkloadEntry, plan: WorkloadPlan | undefined): ScanResult[] {
  const out: ScanResult[] = [];
  const resource = w.ref;
  for (const s of [...w.secrets.values()].sort((a, b) => cmp(a.secret, b.secret))) {
    const uses = [...new Set(s.uses.map(describeUse))].join(', ');
    const where = s.pods > 0 ? `${s.pods} pod${s.pods === 1 ? '' : 's'}` : 'its template (no pod now)';
    const planned = plan
      ? ` Plan: ${plan.status}${plan.replaces.includes(s.secret) ? ', the patch replaces it' : ''}.`
      : '';
    out.push({
      namespace: resource.namespace,
      policy: SCAN_POLICY,
      rule: 'legacy-token-consumer',
      result: 'fail',
      severity: 'high',
      message: `uses legacy token Secret ${s.secret} (${where}): ${uses}.${planned}`,
      resource,
      properties: props({ secret: s.secret, pods: String(s.pods), template: String(s.template), plan: plan?.status }),
    });
  }
  if (w.pods === 0) return out;
  const rank: Record<string, number> = { error: 0, fail: 1, mutate: 2, warn: 3, pass: 4 };
  const byRule = new Map<string, { policy: string; rule: string; status: string; messages: string[]; pods: number }>();
  for (const v of w.variants.values()) {
    if (v.verdict.outcome === 'error') {
      const k = `\u0000error`;
      const e = byRule.get(k) ?? {
        policy: SCAN_POLICY,
        rule: 'evaluate',
        status: 'error',
        messages: [v.verdict.reason ?? 'could not be evaluated'],
        pods: 0,
      };
      e.pods += v.pods;
      byRule.set(k, e);
      continue;
    }
    const counted = new Set<string>();
    for (const p of v.verdict.policies) {
      if (p.status === 'skip') continue;
      for (const r of p.results) {
        const k = `${p.policy}\u0000${r.rule}`;
        let e = byRule.get(k);
        if (!e) {
          e = { policy: p.policy, rule: r.rule, status: p.status, messages: [], pods: 0 };
          byRule.set(k, e);
        } else if ((rank[p.status] ?? 9) < (rank[e.status] ?? 9)) {
          e.status = p.status;
          e.messages = [];
        }
        if (p.status === e.status && !e.messages.includes(r.message)) e.messages.push(r.message);
        // A pod counts once per rule, however many messages the rule gave it.
        if (!counted.has(k)) {
          counted.add(k);
          e.pods += v.pods;
        }
      }
    }
  }
  for (const e of byRule.values()) {
    const result: ResultStatus =
      e.status === 'error'
        ? 'error'
        : e.status === 'fail' || e.status === 'mutate'
          ? 'fail'
          : e.status === 'warn'
            ? 'warn'
            : 'pass';
    const severity: Severity =
      e.status === 'error' || e.status === 'fail'
        ? 'high'
        : e.status === 'mutate'
          ? 'medium'
          : e.status === 'warn'
            ? 'low'
            : 'info';
    const lead =
      e.status === 'fail'
        ? 'admission would deny these pods now'
        : e.status === 'mutate'
          ? 'admission would change these pods now'
          : e.status === 'warn'
            ? 'admission would warn'
            : e.status === 'error'
              ? 'could not be evaluated'
              : 'passes';
    out.push({
      namespace: resource.namespace,
      policy: e.policy,
      rule: e.rule,
      result,
      severity,
      message: `${lead} (${e.pods} of ${w.pods} pod${w.pods === 1 ? '' : 's'}): ${e.messages.join('; ')}`,
      resource,
      properties: props({ pods: String(w.pods), matchingPods: String(e.pods) }),
    });
  }
  return out;
}

/** The ClusterPolicyReport's line about one namespace: the worst of its results, and its counts. */
function namespaceResult(n: NamespaceSummary, results: readonly ScanResult[]): ScanResult {
  const own = results.filter((r) => r.namespace === n.namespace);
  const result: ResultStatus = own.some((r) => r.result === 'error')
    ? 'error'
    : own.some((r) => r.result === 'fail')
      ? 'fail'
      : own.some((r) => r.result === 'warn')
        ? 'warn'
        : 'pass';
  const severity: Severity = result === 'pass' ? 'info' : result === 'warn' ? 'low' : 'high';
  const pct = (n.wouldLoseApiTokenShare * 100).toFixed(1);
  return {
    namespace: '',
    policy: SCAN_POLICY,
    rule: 'namespace-summary',
    result,
    severity,
    message: `${n.legacyTokens} legacy token Secret${n.legacyTokens === 1 ? '' : 's'} (${n.inUse} in use, ${n.safeToDelete + n.invalidated + n.orphaned} deletable); ${n.pods} pod${n.pods === 1 ? '' : 's'} in ${n.workloads} workload${n.workloads === 1 ? '' : 's'}, ${n.wouldLoseApiTokenPods} (${pct} %) carrying an API token they would lose`,
    resource: { apiVersion: 'v1', kind: 'Namespace', namespace: '', name: n.namespace },
    properties: props({
      legacyTokens: String(n.legacyTokens),
      inUse: String(n.inUse),
      deletable: String(n.safeToDelete + n.invalidated + n.orphaned),
      pods: String(n.pods),
      wouldLoseApiTokenPods: String(n.wouldLoseApiTokenPods),
      oldestUnused: n.oldestUnused ? `${n.oldestUnused.name} (${n.oldestUnused.days} days)` : undefined,
    }),
  };
}

function counts(
  tokens: readonly LegacyTokenReport[],
  workloads: readonly WorkloadReport[],
  serviceAccountsListing: number,
): Counts {
  const v = (x: LegacyVerdict) => tokens.filter((t) => t.verdict === x).length;
  const sum = (f: (w: WorkloadReport) => number) => workloads.reduce((n, w) => n + f(w), 0);
  const pods = sum((w) => w.pods);
  const lose = sum((w) => w.wouldLoseApiTokenPods);
  let oldest: Counts['oldestUnused'] = null;
  for (const t of tokens) {
    if (t.verdict === 'migrate-first' || t.verdict === 'deleting' || t.unusedDays === null) continue;
    if (!oldest || t.unusedDays > oldest.days) oldest = { namespace: t.namespace, name: t.name, days: t.unusedDays };
  }
  return {
    legacyTokens: tokens.length,
    inUse: v('migrate-first'),
    safeToDelete: v('safe-to-delete'),
    findClient: v('find-client'),
    invalidated: v('invalidated'),
    orphaned: v('orphaned'),
    deleting: v('deleting'),
    scheduledForInvalidation: tokens.filter((t) => t.cleaner.state === 'scheduled').length,
    serviceAccountsListingTokens: serviceAccountsListing,
    workloads: workloads.filter((w) => w.pods > 0).length,
    pods,
    podsDenied: sum((w) => w.outcomes.denied),
    podsChanged: sum((w) => w.outcomes.changed),
    podsWarned: sum((w) => w.outcomes.warned),
    podsPassed: sum((w) => w.outcomes.passed),
    podsError: sum((w) => w.outcomes.error),
    apiTokenPods: sum((w) => w.apiTokenPods),
    wouldLoseApiTokenPods: lose,
    wouldLoseApiTokenShare: pods > 0 ? Math.round((lose / pods) * 10000) / 10000 : 0,
    oldestUnused: oldest,
  };
}

function props(o: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The secrets a set of verdicts makes deletable now. */
export function deletable(report: ScanReport): LegacyTokenReport[] {
  return report.legacyTokens.filter((t) => DELETABLE.has(t.verdict));
}
