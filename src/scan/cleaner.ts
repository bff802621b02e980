/**
 * When kube-controller-manager's legacy-token cleaner will invalidate a token Secret, and when
 * it will delete it, from the Secret's labels, its ServiceAccount, whether a pod refers to it,
 * the start of last-used tracking and the clean-up period. Pure. The rules, with their upstream
 * source, are in docs/scan.md ("When the cleaner acts"); in short, once a day the cleaner looks
 * at every token Secret and
 *
 * | step | skips the Secret when                                                                  |
 * |------|----------------------------------------------------------------------------------------|
 * | 0    | tracking began less than a period (+ 1 day) ago: it does nothing at all                 |
 * | 1    | it was created less than a period ago, or is being deleted                              |
 * | 2    | its last-used label is not a date, or a date less than a period ago                     |
 * | 3    | its ServiceAccount is missing (or has another UID), or does not list it in `.secrets`   |
 * | 4    | a pod of the namespace refers to it (volume, env, envFrom, imagePullSecrets, ...)        |
 * | 5    | it has no valid invalid-since date: it sets that label to today (the token is refused from now on) |
 * | 6    | the invalid-since date is less than a period ago; otherwise it deletes the Secret       |
 *
 * Dates compare as `YYYY-MM-DD` strings, so "a period ago" means "on a day before today minus
 * the period". The API server refuses a token whose invalid-since label is set at all, valid
 * date or not.
 */
import { DAY_MS, formatDay, parseDay, startOfDay } from './dates.js';
import type { ServiceAccountInfo, TokenSecret } from './inventory.js';

/** What is known of legacy-token tracking: the `since` date of its ConfigMap, or why not. */
export type Tracking =
  | { readonly state: 'since'; readonly since: string }
  | { readonly state: 'off'; readonly reason: string }
  | { readonly state: 'unknown'; readonly reason: string };

export interface CleanerInput {
  readonly secret: TokenSecret;
  /** The Secret's ServiceAccount, if it exists. */
  readonly serviceAccount: ServiceAccountInfo | undefined;
  /** Some pod of the namespace refers to the Secret (any kind of reference). */
  readonly referencedByPod: boolean;
  readonly now: number;
  /** `--legacy-service-account-token-clean-up-period`, in days. */
  readonly periodDays: number;
  readonly tracking: Tracking;
}

/**
 * What the cleaner will do:
 * - `invalidated`: the label is set (the API server refuses the token); `deleteOn` when it would be deleted, if ever;
 * - `scheduled`: it will set the label on or after `invalidateOn`, and delete on or after `deleteOn`;
 * - `never`: it will not touch the Secret as things stand (`reason`);
 * - `deleting`: the Secret is already being deleted.
 */
export type CleanerForecast =
  | {
      readonly state: 'invalidated';
      readonly invalidSince: string;
      readonly deleteOn?: string;
      readonly reason: string;
    }
  | { readonly state: 'scheduled'; readonly invalidateOn: string; readonly deleteOn: string; readonly reason: string }
  | { readonly state: 'never'; readonly reason: string }
  | { readonly state: 'deleting'; readonly reason: string };

/**
 * Why the cleaner will not act on this Secret as things stand (steps 0 to 4 that no passing of
 * time changes), or undefined when it will in time.
 */
export function cleanerBlock(input: CleanerInput): string | undefined {
  const { secret, serviceAccount } = input;
  if (input.tracking.state === 'off') return input.tracking.reason;
  if (secret.lastUsed !== undefined && parseDay(secret.lastUsed) === undefined) {
    return `its ${'kubernetes.io/legacy-token-last-used'} label (${JSON.stringify(secret.lastUsed)}) is not a date, so the cleaner skips it`;
  }
  if (!secret.serviceAccountName) return 'it names no ServiceAccount';
  if (!serviceAccount) return `its ServiceAccount ${secret.serviceAccountName} does not exist`;
  if (secret.serviceAccountUid && serviceAccount.uid && secret.serviceAccountUid !== serviceAccount.uid) {
    return `ServiceAccount ${secret.serviceAccountName} was recreated (another UID)`;
  }
  if (!serviceAccount.secrets.includes(secret.name)) {
    return `ServiceAccount ${secret.serviceAccountName} does not list it in .secrets (the cleaner handles auto-generated tokens only)`;
  }
  if (input.referencedByPod) return 'a pod refers to it';
  return undefined;
}

/** The cleaner's next steps for one token Secret (see the table above). */
export function forecast(input: CleanerInput): CleanerForecast {
  const { secret, now, periodDays } = input;
  if (secret.deleting) return { state: 'deleting', reason: 'it is being deleted' };
  const period = periodDays * DAY_MS;
  const block = cleanerBlock(input);
  // The earliest instant at which steps 0 to 2 no longer skip the Secret.
  const earliest = (extra: number[]): number => {
    const bounds = [startOfDay(now), ...extra];
    if (input.tracking.state === 'since') bounds.push((parseDay(input.tracking.since) ?? 0) + DAY_MS + period);
    // "created before now - period" is strict: the first cleaner run after that instant.
    if (secret.createdAt !== undefined) bounds.push(secret.createdAt + period + 1);
    const lastUsed = secret.lastUsed !== undefined ? parseDay(secret.lastUsed) : undefined;
    if (lastUsed !== undefined) bounds.push(lastUsed + DAY_MS + period);
    return Math.max(...bounds);
  };
  if (secret.invalidSince !== undefined && secret.invalidSince !== '') {
    const since = parseDay(secret.invalidSince);
    if (block)
      return {
        state: 'invalidated',
        invalidSince: secret.invalidSince,
        reason: `not deleted by the cleaner while ${block}`,
      };
    if (since === undefined) {
      // Step 5 again: the cleaner writes a valid date, today, and counts from it.
      const restamp = earliest([]);
      return {
        state: 'invalidated',
        invalidSince: secret.invalidSince,
        deleteOn: formatDay(restamp + DAY_MS + period),
        reason: `the label is not a date: the cleaner sets it to the date of its next run (${formatDay(restamp)}), and deletes the Secret a period after that`,
      };
    }
    return {
      state: 'invalidated',
      invalidSince: secret.invalidSince,
      deleteOn: formatDay(earliest([since + DAY_MS + period])),
      reason: 'deleted by the cleaner a period after it was invalidated, if unused until then',
    };
  }
  if (block) return { state: 'never', reason: block };
  const invalidate = earliest([]);
  return {
    state: 'scheduled',
    invalidateOn: formatDay(invalidate),
    deleteOn: formatDay(startOfDay(invalidate) + DAY_MS + period),
    reason: 'auto-generated, unused for a period and mounted by no pod',
  };
}
