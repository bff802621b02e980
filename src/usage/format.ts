/**
 * The outputs of `tokenguard usage`: text for people, JSON for programs (the facts document
 * is in facts.ts). Pure formatters, nothing else.
 */
import type { ResourceUse, ServiceAccountUsage, UsageSummary } from './aggregate.js';
import type { LineProblem, ReadStats } from './read.js';
import { type Recommendations, resourceName } from './recommend.js';

/** Everything one run produced. */
export interface UsageReport {
  readonly summary: UsageSummary;
  readonly recommendations: Recommendations;
  readonly read: ReadStats;
  /** Lines that held no readable event: the first ones, in reading order. */
  readonly problems: readonly LineProblem[];
  /** All such lines, also those beyond `problems`. */
  readonly problemCount: number;
  /** Problem count per reason (the reason without its character position). */
  readonly problemReasons: Readonly<Record<string, number>>;
}

/** Problems listed in the text output; the JSON output lists up to the command's cap. */
const TEXT_PROBLEMS = 20;

/** `2026-01-31T12:00:00Z`: UTC to the second. */
export function isoSecond(t: number): string {
  return new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** The text report. */
export function formatUsageText(report: UsageReport): string {
  const { summary: s, recommendations: rec } = report;
  const out: string[] = [];
  const seen = s.serviceAccounts.filter((a) => a.lastSeen !== undefined || a.legacy.length > 0);
  const window = s.from !== undefined && s.to !== undefined ? `, ${isoSecond(s.from)} to ${isoSecond(s.to)}` : '';
  out.push(
    `tokenguard usage: ${plural(seen.length, 'ServiceAccount')} seen in ${plural(s.events, 'event')} of ${plural(report.read.files, 'file')}${window}`,
  );
  if (s.since !== undefined)
    out.push(`  since ${isoSecond(s.since)}: ${plural(s.beforeSince, 'earlier event')} skipped`);
  if (s.unpaired > 0)
    out.push(`  ${plural(s.unpaired, 'request')} whose later stages came too late to be paired may be counted twice`);

  const refused = s.refusedAuthentication;
  if (refused.requests > 0) {
    const from = [...refused.sourceIPs, ...refused.userAgents];
    out.push(
      `  ${plural(refused.requests, 'request')} refused before any user was known (401)${from.length > 0 ? ` from ${from.join(', ')}` : ''}: the log does not say whose token`,
    );
  }

  for (const a of seen) out.push('', ...serviceAccountLines(a));

  if (s.reviewers.length > 0) {
    out.push('', 'TokenReview callers');
    for (const r of s.reviewers) {
      const presented = Object.entries(r.presented).map(([k, n]) => `${k} ${n}x`);
      const answered =
        r.answered === 0
          ? 'answers not in the log (log TokenReviews at RequestResponse to see whose tokens)'
          : `${r.answered} answered`;
      const other = r.otherIdentities > 0 ? `, ${r.otherIdentities} of other users` : '';
      const failed = r.unauthenticated > 0 ? `, ${r.unauthenticated} not authenticated` : '';
      out.push(
        `  ${r.username}: ${plural(r.reviews, 'review')}, ${answered}${presented.length > 0 ? `: ${presented.join(', ')}` : ''}${other}${failed}`,
      );
    }
  }

  out.push('', 'Recommendations');
  if (!rec.inventory) {
    out.push(
      '  (give --facts FILE with the ServiceAccounts and (Cluster)RoleBindings, or --kubeconfig, to compare with what is bound)',
    );
  } else {
    if (rec.boundNeverSeen.length > 0) {
      out.push(
        `  Bound but never seen (${rec.boundNeverSeen.length}): automount can be off, and the binding is unused`,
      );
      for (const b of rec.boundNeverSeen)
        out.push(
          `    ${b.namespace}/${b.name}: bound by ${b.boundBy.slice(0, 3).join(', ')}${b.boundBy.length > 3 ? ', ...' : ''}`,
        );
    }
    if (rec.seenUnbound.length > 0) {
      out.push(`  Seen but unbound (${rec.seenUnbound.length}): keep the token`);
      for (const u of rec.seenUnbound) out.push(`    ${u.namespace}/${u.name}: ${u.why.join('; ')}`);
    }
    if (rec.neverSeenUnbound.length > 0) {
      const names = rec.neverSeenUnbound.map((n) => `${n.namespace}/${n.name}`);
      out.push(`  Never seen and unbound (${names.length}): automount can be off`);
      out.push(`    ${names.slice(0, 10).join(', ')}${names.length > 10 ? `, and ${names.length - 10} more` : ''}`);
    }
  }
  if (rec.legacyInUse.length > 0) {
    out.push(`  Legacy tokens still in use (${rec.legacyInUse.length}): move their users to TokenRequest tokens`);
    for (const l of rec.legacyInUse) {
      const what = l.requests > 0 ? plural(l.requests, 'request') : 'no request accepted';
      const refused = l.refused > 0 ? `, ${l.refused} refused (Secret marked invalid)` : '';
      const from = l.from.length > 0 ? ` from ${l.from.join(', ')}` : '';
      out.push(
        `    ${l.namespace}/${l.name}: Secret ${l.secret || '(not named: API server before 1.29)'} (${l.kind}), ${what}${refused}, last ${isoSecond(l.lastSeen)}${from}`,
      );
    }
  }
  if (
    rec.inventory &&
    rec.boundNeverSeen.length + rec.seenUnbound.length + rec.neverSeenUnbound.length + rec.legacyInUse.length === 0
  )
    out.push('  none');
  if (!rec.inventory && rec.legacyInUse.length === 0) out.push('  no legacy token in use');

  if (report.problemCount > 0) {
    const reasons = Object.entries(report.problemReasons).map(([k, n]) => `${k}: ${n}`);
    out.push('', `Lines not read: ${report.problemCount} (${reasons.join('; ')})`);
    for (const p of report.problems.slice(0, TEXT_PROBLEMS)) out.push(`  ${p.file}:${p.line}: ${p.reason}`);
    if (report.problemCount > TEXT_PROBLEMS)
      out.push(`  ... and ${report.problemCount - TEXT_PROBLEMS} more (--output json lists more)`);
  }
  return `${out.join('\n')}\n`;
}

function serviceAccountLines(a: ServiceAccountUsage): string[] {
  const out = [`ServiceAccount ${a.namespace}/${a.name}`];
  if (a.lastSeen !== undefined && a.firstSeen !== undefined) {
    const denied = a.denied > 0 ? ` (${a.denied} refused with 403)` : '';
    out.push(
      `  ${plural(a.requests, 'request')}${denied}, first ${isoSecond(a.firstSeen)}, last ${isoSecond(a.lastSeen)}`,
    );
  }
  for (const p of a.pods) {
    const node = p.node ? ` on node ${p.node}` : '';
    out.push(
      `  pod ${p.name}${p.uid ? ` (uid ${p.uid})` : ''}${node}: ${plural(p.requests, 'request')}, last ${isoSecond(p.lastSeen)}`,
    );
  }
  if (a.podsDropped > 0) out.push(`  and ${plural(a.podsDropped, 'older pod')} not listed`);
  if (a.podlessRequests > 0) out.push(`  token bound to no pod: ${plural(a.podlessRequests, 'request')}`);
  if (a.resources.length > 0) out.push(`  resources: ${a.resources.map(resourceLine).join('; ')}`);
  if (a.paths.length > 0) {
    const paths = a.paths.map(
      (p) =>
        `${p.path} (${Object.entries(p.verbs)
          .map(([v, n]) => `${v} ${n}`)
          .join(', ')})`,
    );
    out.push(`  paths: ${paths.join('; ')}${a.pathsDropped > 0 ? `; and ${a.pathsDropped} more` : ''}`);
  }
  for (const l of a.legacy) {
    const refused = l.refused > 0 ? `, ${l.refused} refused (Secret marked invalid)` : '';
    out.push(
      `  legacy token, Secret ${l.secret || '(not named)'} (${l.kind}): ${plural(l.requests, 'request')}${refused}, last ${isoSecond(l.lastSeen)}`,
    );
    if (l.sourceIPs.length + l.userAgents.length > 0)
      out.push(`    from ${[...l.sourceIPs, ...l.userAgents].join(', ')}`);
  }
  if (a.presented) {
    const by = Object.entries(a.presented.reviewers)
      .map(([k, n]) => `${k} ${n}x`)
      .join(', ');
    const pods = a.presented.pods.length > 0 ? ` (tokens of pods ${a.presented.pods.join(', ')})` : '';
    out.push(`  token presented to TokenReview by ${by}${pods}, last ${isoSecond(a.presented.lastSeen)}`);
  }
  const requested = Object.entries(a.tokenRequests);
  if (requested.length > 0) out.push(`  tokens requested by ${requested.map(([k, n]) => `${k} ${n}x`).join(', ')}`);
  if (a.userAgents.length > 0) out.push(`  user agents: ${a.userAgents.join(', ')}`);
  return out;
}

/** `pods in shop, web (get 3, list 1)`. */
function resourceLine(r: ResourceUse): string {
  const ns = r.namespaces.filter((n) => n !== '');
  const where = ns.length > 0 ? ` in ${ns.join(', ')}${r.namespacesDropped > 0 ? ', ...' : ''}` : '';
  const verbs = Object.entries(r.verbs)
    .map(([v, n]) => `${v} ${n}`)
    .join(', ');
  return `${resourceName(r.resource, r.subresource, r.group)}${where} (${verbs})`;
}

/** The JSON report: the summary with RFC 3339 times, the recommendations, and the lines not read. */
export function formatUsageJson(report: UsageReport, version: string): string {
  const iso = (t: number | undefined) => (t === undefined ? undefined : new Date(t).toISOString());
  const s = report.summary;
  const body = {
    tool: { name: 'tokenguard', version },
    window: { from: iso(s.from), to: iso(s.to), since: iso(s.since) },
    events: s.events,
    beforeSince: s.beforeSince,
    otherEvents: s.otherEvents,
    unpaired: s.unpaired,
    refusedAuthentication: s.refusedAuthentication,
    read: report.read,
    serviceAccounts: s.serviceAccounts.map((a) => ({
      ...a,
      firstSeen: iso(a.firstSeen),
      lastSeen: iso(a.lastSeen),
      pods: a.pods.map((p) => ({ ...p, firstSeen: iso(p.firstSeen), lastSeen: iso(p.lastSeen) })),
      legacy: a.legacy.map((l) => ({ ...l, firstSeen: iso(l.firstSeen), lastSeen: iso(l.lastSeen) })),
      ...(a.presented
        ? { presented: { ...a.presented, firstSeen: iso(a.presented.firstSeen), lastSeen: iso(a.presented.lastSeen) } }
        : {}),
    })),
    reviewers: s.reviewers.map((r) => ({ ...r, firstSeen: iso(r.firstSeen), lastSeen: iso(r.lastSeen) })),
    recommendations: {
      ...report.recommendations,
      legacyInUse: report.recommendations.legacyInUse.map((l) => ({ ...l, lastSeen: iso(l.lastSeen) })),
    },
    problems: { count: report.problemCount, reasons: report.problemReasons, lines: report.problems },
  };
  return `${JSON.stringify(body, null, 2)}\n`;
}
