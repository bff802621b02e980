/**
 * The verdict on one legacy token Secret: who uses it, whether it can go, and what the API
 * server will do to it and when. Pure.
 *
 * | verdict          | when (first that applies)                                                     |
 * |------------------|-------------------------------------------------------------------------------|
 * | `deleting`       | it is being deleted                                                            |
 * | `migrate-first`  | a pod, or a workload's pod template, uses it                                    |
 * | `invalidated`    | the API server already refuses its token (invalid-since label), and nothing uses it |
 * | `orphaned`       | its ServiceAccount is gone (or was recreated): the token authenticates nothing |
 * | `find-client`    | nothing in the cluster uses it, but it was used less than `minUnusedDays` ago (or when is unknown): something outside the cluster holds it |
 * | `safe-to-delete` | nothing uses it, and it has not been used for `minUnusedDays` or more           |
 *
 * With an audit log (`--audit-log`), the last use is the later of the log's and the last-used
 * label's (the label has day granularity and no source; the log has both), and "not used" is
 * said only of a log that covers the last `minUnusedDays` (src/scan/audit.ts); a log that does
 * not leaves the label to decide, and the message says why.
 */
import { type AuditEvidence, describeSources, describeWindow, isoSecond, type SecretAudit } from './audit.js';
import { type CleanerForecast, forecast, type Tracking } from './cleaner.js';
import { daysBetween, formatDay, parseDay, startOfDay } from './dates.js';
import { describeRef, type ObjectRef, type ServiceAccountInfo, type TokenSecret } from './inventory.js';
import { describeUse, type SecretUse } from '../engine/secret-uses.js';

export type LegacyVerdict =
  | 'deleting'
  | 'migrate-first'
  | 'invalidated'
  | 'orphaned'
  | 'find-client'
  | 'safe-to-delete';

/** Verdicts whose Secret can be deleted now: nothing uses it, and its token is useless or unused. */
export const DELETABLE: ReadonlySet<LegacyVerdict> = new Set(['safe-to-delete', 'invalidated', 'orphaned']);

/** One workload using the Secret. */
export interface Consumer {
  readonly workload: ObjectRef;
  /** Its pods that refer to the Secret (0 when only its template does, e.g. a CronJob between runs). */
  readonly pods: number;
  /** Its pod template refers to the Secret. */
  readonly template: boolean;
  readonly uses: readonly SecretUse[];
}

export interface LegacyInput {
  readonly secret: TokenSecret;
  readonly serviceAccount: ServiceAccountInfo | undefined;
  readonly consumers: readonly Consumer[];
  readonly now: number;
  readonly periodDays: number;
  readonly minUnusedDays: number;
  readonly tracking: Tracking;
  /** What the audit log says of this Secret, with `--audit-log`. */
  readonly audit?: {
    readonly evidence: Pick<AuditEvidence, 'window' | 'covers' | 'minUnusedDays'>;
    readonly use: SecretAudit;
  };
}

export interface LegacyAssessment {
  readonly verdict: LegacyVerdict;
  /** One sentence, with dates. */
  readonly message: string;
  /** Days without recorded use, and the day that count starts from; null when unknown. */
  readonly unusedDays: number | null;
  readonly unusedSince: string | null;
  readonly serviceAccountExists: boolean;
  readonly listedBy: boolean;
  readonly cleaner: CleanerForecast;
}

/** Judges one legacy token Secret (see the table above). */
export function assessLegacyToken(input: LegacyInput): LegacyAssessment {
  const { secret, serviceAccount, consumers, now, tracking } = input;
  const saOk =
    !!serviceAccount &&
    !(secret.serviceAccountUid && serviceAccount.uid && secret.serviceAccountUid !== serviceAccount.uid);
  const listedBy = !!serviceAccount && serviceAccount.secrets.includes(secret.name);
  const cleaner = forecast({
    secret,
    serviceAccount,
    referencedByPod: consumers.some((c) => c.pods > 0),
    now,
    periodDays: input.periodDays,
    tracking,
  });
  const { days, since, how } = unused(secret, now, tracking);
  const base = { unusedDays: days, unusedSince: since, serviceAccountExists: saOk, listedBy, cleaner };
  const invalid = secret.invalidSince !== undefined && secret.invalidSince !== '';
  const after = cleanerSentence(cleaner);

  const audit = input.audit ? auditSentence(input.audit, now) : '';
  const withAudit = (a: LegacyAssessment): LegacyAssessment =>
    audit ? { ...a, message: `${a.message}${a.message.endsWith('.') ? '' : '.'} ${audit}` } : a;

  if (secret.deleting) return withAudit({ ...base, verdict: 'deleting', message: 'being deleted' });
  if (consumers.length > 0) {
    const who = consumers.map(describeConsumer).join('; ');
    const extra = invalid
      ? ` Its token is already refused (invalidated on ${secret.invalidSince}): those pods fail to authenticate with it.`
      : !saOk
        ? ` Its ServiceAccount ${secret.serviceAccountName ?? '(none)'} no longer exists: the token authenticates nothing.`
        : '';
    return withAudit({
      ...base,
      verdict: 'migrate-first',
      message: `used by ${who}: migrate first.${extra}${after ? ` ${after}` : ''}`,
    });
  }
  if (invalid) {
    return withAudit({
      ...base,
      verdict: 'invalidated',
      message: `invalidated on ${secret.invalidSince}: the API server refuses its token, and nothing in the cluster uses it; safe to delete.${after ? ` ${after}` : ''}`,
    });
  }
  if (!saOk) {
    const why = serviceAccount
      ? `ServiceAccount ${secret.serviceAccountName} was recreated`
      : `ServiceAccount ${secret.serviceAccountName ?? '(none)'} does not exist`;
    return withAudit({
      ...base,
      verdict: 'orphaned',
      message: `${why}: the token authenticates nothing, and nothing uses it; safe to delete.`,
    });
  }
  if (input.audit && input.audit.use.state !== 'unknown') return fromAudit(input, input.audit, base, after);
  if (days === null || days < input.minUnusedDays) {
    const when =
      days === null
        ? `its last-used label (${JSON.stringify(secret.lastUsed)}) is not a date`
        : days === 0
          ? 'used today'
          : `used ${days} day${days === 1 ? '' : 's'} ago (${secret.lastUsed})`;
    if (how === 'label' || days === null) {
      return withAudit({
        ...base,
        verdict: 'find-client',
        message: `${when}, by nothing in the cluster: find the client that holds it (a CI system, a kubeconfig) before deleting it.${after ? ` ${after}` : ''}`,
      });
    }
    return withAudit({
      ...base,
      verdict: 'find-client',
      message: `no use recorded since ${since} (${days} day${days === 1 ? '' : 's'}), fewer than ${input.minUnusedDays}, and nothing in the cluster uses it: wait, or find the client that may hold it.${after ? ` ${after}` : ''}`,
    });
  }
  const what =
    how === 'label'
      ? `unused for ${days} days (last used ${secret.lastUsed})`
      : `unused for ${days} days (no use recorded since ${since})`;
  return withAudit({
    ...base,
    verdict: 'safe-to-delete',
    message: `${what}, no consumer: safe to delete.${after ? ` ${after}` : ''}`,
  });
}

type Base = Omit<LegacyAssessment, 'verdict' | 'message'>;

/**
 * The verdict of a Secret nothing in the cluster uses, from an audit log that says something:
 * it was used (when, how often, from where), or the log covers the last `minUnusedDays` and
 * shows no use. The label still counts: a use it records after the log ended, or inside the
 * log's window where the log shows none (an audit policy that does not log these requests),
 * keeps the Secret from being called unused.
 */
function fromAudit(
  input: LegacyInput,
  audit: NonNullable<LegacyInput['audit']>,
  base: Base,
  after: string,
): LegacyAssessment {
  const { secret, now, minUnusedDays } = input;
  const { use, evidence } = audit;
  const tail = after ? ` ${after}` : '';
  const label = secret.lastUsed !== undefined ? parseDay(secret.lastUsed) : undefined;
  const window = describeWindow(evidence.window);
  if (use.state === 'used' && use.lastSeen !== undefined && use.requests > 0) {
    const last = Math.max(use.lastSeen, label ?? Number.NEGATIVE_INFINITY);
    const days = Math.max(0, daysBetween(last, now));
    const used = usedSentence(use, now);
    const withLabel =
      label !== undefined && label > use.lastSeen
        ? ` (its last-used label says ${secret.lastUsed}, after the log)`
        : '';
    if (days < minUnusedDays) {
      return {
        ...base,
        unusedDays: days,
        unusedSince: formatDay(last),
        verdict: 'find-client',
        message: `${used}${withLabel}, by nothing in the cluster: migrate the client before deleting it.${tail}`,
      };
    }
    return {
      ...base,
      unusedDays: days,
      unusedSince: formatDay(last),
      verdict: 'safe-to-delete',
      message: `${used}${withLabel}, none since (${days} days, at least ${minUnusedDays}), no consumer: safe to invalidate, then delete.${tail}`,
    };
  }
  if (use.state === 'used') {
    // Only refusals: the Secret is invalid by now, or was when the log was written.
    return {
      ...base,
      verdict: 'find-client',
      message: `${refusedSentence(use)} in the audit log (${window}), by nothing in the cluster: find that client before deleting it.${tail}`,
    };
  }
  // Not used within a log that covers the period.
  if (label !== undefined && evidence.window && label >= startOfDay(evidence.window.from)) {
    const message =
      label >= startOfDay(evidence.window.to)
        ? `not in the audit log (${window}), but its last-used label says ${secret.lastUsed}, the log's last day or later: used after the log ends? Find the client before deleting it.${tail}`
        : `its last-used label says ${secret.lastUsed}, inside the audit log's window (${window}), which shows no use: the audit policy may not log its requests. Find the client before deleting it.${tail}`;
    return { ...base, verdict: 'find-client', message };
  }
  const labelText = secret.lastUsed !== undefined ? `; its last-used label says ${secret.lastUsed}` : '';
  return {
    ...base,
    verdict: 'safe-to-delete',
    message: `not used within the audit log's window (${window}), which covers the last ${minUnusedDays} days${labelText}; no consumer: safe to invalidate, then delete.${tail}`,
  };
}

/** `used 3 times in the audit log, last 2026-12-01T10:00:00Z (3 days ago) from 10.0.0.5 by kubectl/v1.34` */
function usedSentence(use: SecretAudit, now: number): string {
  const last = use.lastSeen ?? now;
  const days = daysBetween(last, now);
  const ago = days <= 0 ? 'less than a day ago' : `${days} day${days === 1 ? '' : 's'} ago`;
  const sources = describeSources(use);
  const which =
    use.matchedBy === 'serviceAccount'
      ? ' (a legacy token of its ServiceAccount: the log does not name the Secret, as API servers before 1.29 do not)'
      : '';
  const refused = use.refused > 0 ? `; ${use.refused} refused (Secret marked invalid)` : '';
  return `used ${use.requests} time${use.requests === 1 ? '' : 's'} in the audit log${which}, last ${isoSecond(last)} (${ago})${sources ? ` ${sources}` : ''}${refused}`;
}

function refusedSentence(use: SecretAudit): string {
  const sources = describeSources(use);
  return `refused ${use.refused} time${use.refused === 1 ? '' : 's'} (Secret marked invalid), last ${isoSecond(use.lastSeen ?? 0)}${sources ? ` ${sources}` : ''}: a client still holds it`;
}

/** The audit log's word on a Secret, for verdicts the log does not decide. */
function auditSentence(audit: NonNullable<LegacyInput['audit']>, now: number): string {
  const { use, evidence } = audit;
  const window = describeWindow(evidence.window);
  if (use.state === 'used')
    return use.requests > 0 ? `Audit log: ${usedSentence(use, now)}.` : `Audit log: ${refusedSentence(use)}.`;
  if (use.state === 'unused') return `Audit log: not used within its window (${window}).`;
  return `Audit log: not seen, but its window (${window}) is shorter than the ${evidence.minUnusedDays} days of --min-unused-days, so it cannot tell unused.`;
}

/**
 * Days without recorded use: since the last-used date when the label is there; else since the
 * later of its creation and the start of tracking (no label means no use since tracking began).
 */
function unused(
  secret: TokenSecret,
  now: number,
  tracking: Tracking,
): { days: number | null; since: string | null; how: 'label' | 'tracking' | 'created' } {
  if (secret.lastUsed !== undefined) {
    const day = parseDay(secret.lastUsed);
    if (day === undefined) return { days: null, since: null, how: 'label' };
    return { days: Math.max(0, daysBetween(day, now)), since: secret.lastUsed, how: 'label' };
  }
  const trackedFrom = tracking.state === 'since' ? parseDay(tracking.since) : undefined;
  const created = secret.createdAt;
  if (created === undefined && trackedFrom === undefined) return { days: null, since: null, how: 'created' };
  const from = Math.max(created ?? 0, trackedFrom ?? 0);
  const how = trackedFrom !== undefined && trackedFrom > (created ?? 0) ? 'tracking' : 'created';
  return { days: Math.max(0, daysBetween(from, now)), since: formatDay(from), how };
}

function describeConsumer(c: Consumer): string {
  const pods = c.pods > 0 ? ` (${c.pods} pod${c.pods === 1 ? '' : 's'})` : ' (its template; no pod now)';
  const uses = [...new Set(c.uses.map(describeUse))].join(', ');
  return `${describeRef(c.workload)}${pods}: ${uses}`;
}

/** What the cleaner will do, as a sentence, or '' when it will not act. */
function cleanerSentence(f: CleanerForecast): string {
  switch (f.state) {
    case 'scheduled':
      return `The API server will invalidate it on or after ${f.invalidateOn} and delete it on or after ${f.deleteOn} (legacy-token cleaner).`;
    case 'invalidated':
      return f.deleteOn
        ? `The cleaner deletes it on or after ${f.deleteOn}.`
        : `The cleaner will not delete it: ${f.reason.replace(/^not deleted by the cleaner while /, '')}.`;
    default:
      return '';
  }
}
