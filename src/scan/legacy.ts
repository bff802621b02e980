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
 */
import { type CleanerForecast, forecast, type Tracking } from './cleaner.js';
import { daysBetween, formatDay, parseDay } from './dates.js';
import { describeRef, type ObjectRef, type ServiceAccountInfo, type TokenSecret } from './inventory.js';
import { describeUse, type SecretUse } from './references.js';

export type LegacyVerdict = 'deleting' | 'migrate-first' | 'invalidated' | 'orphaned' | 'find-client' | 'safe-to-delete';

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
  const saOk = !!serviceAccount && !(secret.serviceAccountUid && serviceAccount.uid && secret.serviceAccountUid !== serviceAccount.uid);
  const listedBy = !!serviceAccount && serviceAccount.secrets.includes(secret.name);
  const cleaner = forecast({ secret, serviceAccount, referencedByPod: consumers.some((c) => c.pods > 0), now, periodDays: input.periodDays, tracking });
  const { days, since, how } = unused(secret, now, tracking);
  const base = { unusedDays: days, unusedSince: since, serviceAccountExists: saOk, listedBy, cleaner };
  const invalid = secret.invalidSince !== undefined && secret.invalidSince !== '';
  const after = cleanerSentence(cleaner);

  if (secret.deleting) return { ...base, verdict: 'deleting', message: 'being deleted' };
  if (consumers.length > 0) {
    const who = consumers.map(describeConsumer).join('; ');
    const extra = invalid
      ? ` Its token is already refused (invalidated on ${secret.invalidSince}): those pods fail to authenticate with it.`
      : !saOk
        ? ` Its ServiceAccount ${secret.serviceAccountName ?? '(none)'} no longer exists: the token authenticates nothing.`
        : '';
    return { ...base, verdict: 'migrate-first', message: `used by ${who}: migrate first.${extra}${after ? ` ${after}` : ''}` };
  }
  if (invalid) {
    return { ...base, verdict: 'invalidated', message: `invalidated on ${secret.invalidSince}: the API server refuses its token, and nothing in the cluster uses it; safe to delete.${after ? ` ${after}` : ''}` };
  }
  if (!saOk) {
    const why = serviceAccount ? `ServiceAccount ${secret.serviceAccountName} was recreated` : `ServiceAccount ${secret.serviceAccountName ?? '(none)'} does not exist`;
    return { ...base, verdict: 'orphaned', message: `${why}: the token authenticates nothing, and nothing uses it; safe to delete.` };
  }
  if (days === null || days < input.minUnusedDays) {
    const when = days === null ? `its last-used label (${JSON.stringify(secret.lastUsed)}) is not a date` : days === 0 ? 'used today' : `used ${days} day${days === 1 ? '' : 's'} ago (${secret.lastUsed})`;
    if (how === 'label' || days === null) {
      return { ...base, verdict: 'find-client', message: `${when}, by nothing in the cluster: find the client that holds it (a CI system, a kubeconfig) before deleting it.${after ? ` ${after}` : ''}` };
    }
    return {
      ...base,
      verdict: 'find-client',
      message: `no use recorded since ${since} (${days} day${days === 1 ? '' : 's'}), fewer than ${input.minUnusedDays}, and nothing in the cluster uses it: wait, or find the client that may hold it.${after ? ` ${after}` : ''}`,
    };
  }
  const what = how === 'label' ? `unused for ${days} days (last used ${secret.lastUsed})` : `unused for ${days} days (no use recorded since ${since})`;
  return { ...base, verdict: 'safe-to-delete', message: `${what}, no consumer: safe to delete.${after ? ` ${after}` : ''}` };
}

/**
 * Days without recorded use: since the last-used date when the label is there; else since the
 * later of its creation and the start of tracking (no label means no use since tracking began).
 */
function unused(secret: TokenSecret, now: number, tracking: Tracking): { days: number | null; since: string | null; how: 'label' | 'tracking' | 'created' } {
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
      return f.deleteOn ? `The cleaner deletes it on or after ${f.deleteOn}.` : `The cleaner will not delete it: ${f.reason.replace(/^not deleted by the cleaner while /, '')}.`;
    default:
      return '';
  }
}

