/**
 * Rules `token-bounds` and `token-audience` (`projectedTokens.bounds`): every projected
 * ServiceAccount token in a pod but the plugin's own expires within the bounds, counted as the
 * API server issues it (docs/tokens.md "Extension to a year"), and has an allowed audience.
 * Tokens for the API server are always allowed by audience: whether a pod may have one is the
 * automount rule's question.
 */
import type { TokenPolicy } from '../../policy/types.js';
import { MAX_EXPIRATION_SECONDS, MIN_EXPIRATION_SECONDS } from '../../constants.js';
import { anyGlob } from '../../glob.js';
import type { JsonObject } from '../../json.js';
import { boundedExpiration, describeLifetime, isApiAudience } from '../api-token.js';
import { quoted } from '../messages.js';
import { type TokenSource, tokenSources, writableToken } from '../pod.js';
import type { RuleMode, RuleResult } from '../types.js';

/** Bounds after intersecting every matching policy's bounds. */
export interface PlannedBounds {
  readonly policies: readonly string[];
  readonly min: number;
  readonly max: number;
  /** Allowed audience globs, each list from one policy; a token must satisfy all lists. */
  readonly audienceLists: readonly (readonly string[])[];
  /** True when any policy says `onViolation: Deny`. */
  readonly deny: boolean;
}

/** The intersection of the `projectedTokens.bounds` of `policies` (in name order), or undefined. */
export function planBounds(policies: readonly TokenPolicy[]): PlannedBounds | undefined {
  let bounds: { policies: string[]; min: number; max: number; audienceLists: string[][]; deny: boolean } | undefined;
  for (const p of policies) {
    const b = p.spec.projectedTokens?.bounds;
    if (!b) continue;
    bounds ??= {
      policies: [],
      min: MIN_EXPIRATION_SECONDS,
      max: MAX_EXPIRATION_SECONDS,
      audienceLists: [],
      deny: false,
    };
    bounds.policies.push(p.name);
    bounds.min = Math.max(bounds.min, b.minExpirationSeconds ?? MIN_EXPIRATION_SECONDS);
    bounds.max = Math.min(bounds.max, b.maxExpirationSeconds ?? MAX_EXPIRATION_SECONDS);
    if (b.allowedAudiences) bounds.audienceLists.push([...b.allowedAudiences]);
    if (b.onViolation === 'Deny') bounds.deny = true;
  }
  return bounds;
}

export interface MutateBoundsArgs {
  /** The spec of the edit copy (`podEditCopy`), after the injections. */
  readonly spec: JsonObject;
  readonly bounds: PlannedBounds;
  /** `apiTokenExpirationSeconds`, which an API token of the pod's own must meet too. */
  readonly apiTokenMax: number | undefined;
  readonly apiAudiences: readonly string[];
  readonly mode: RuleMode;
}

/**
 * Clamps every token outside the bounds into them (`onViolation: Mutate`), or fails (`Deny`, or
 * no expiration meets them). An API token of the pod's own is held to `apiTokenExpirationSeconds`
 * too (the validating side checks both): it is clamped into both at once. A clamp never writes
 * the extended 3607 for an API token.
 */
export function mutateBounds({ spec, bounds: b, apiTokenMax, apiAudiences, mode }: MutateBoundsArgs): RuleResult[] {
  const results: RuleResult[] = [];
  const r = (rule: 'token-bounds' | 'token-audience', status: RuleResult['status'], message: string) =>
    results.push({ policies: b.policies, rule, mode, status, message });
  if (b.min > b.max) {
    r('token-bounds', 'error', `bounds do not intersect: min ${b.min} > max ${b.max}`);
    return results;
  }
  for (const s of tokenSources(spec, apiAudiences)) {
    if (s.isPluginVolume) continue; // governed by apiTokenExpirationSeconds
    const api = s.isApiToken ? apiTokenMax : undefined;
    const max = api !== undefined ? Math.min(b.max, api) : b.max;
    if (b.min > max) {
      r(
        'token-bounds',
        'fail',
        `${s.volumeName}: no expiration is within [${b.min}, ${b.max}] and apiTokenExpirationSeconds ${api}`,
      );
    } else if (b.deny ? outside(s, b) : outside(s, b) || s.lifetimeSeconds > max) {
      const target = boundedExpiration(s.expirationSeconds, b.min, max, s.isApiToken);
      if (b.deny || target === undefined) {
        r('token-bounds', 'fail', boundsFailure(s, b));
      } else {
        writableToken(spec, s).expirationSeconds = target;
        r(
          'token-bounds',
          'mutate',
          `${s.volumeName}: ${describeLifetime(s.expirationSeconds, s.lifetimeSeconds, b.max)} -> ${target}`,
        );
      }
    }
    const aud = audienceProblem(s.audience, b.audienceLists, apiAudiences);
    if (aud) r('token-audience', 'fail', `${s.volumeName}: ${aud}`);
  }
  return results;
}

export interface ValidateBoundsArgs {
  readonly sources: readonly TokenSource[];
  readonly bounds: PlannedBounds;
  readonly apiAudiences: readonly string[];
  readonly mode: RuleMode;
}

/** Fails for every token outside the bounds or with an audience not allowed. */
export function validateBounds({ sources, bounds: b, apiAudiences, mode }: ValidateBoundsArgs): RuleResult[] {
  const results: RuleResult[] = [];
  const r = (rule: 'token-bounds' | 'token-audience', status: RuleResult['status'], message: string) =>
    results.push({ policies: b.policies, rule, mode, status, message });
  if (b.min > b.max) r('token-bounds', 'error', `bounds do not intersect: min ${b.min} > max ${b.max}`);
  for (const s of sources) {
    if (s.isPluginVolume) continue; // governed by apiTokenExpirationSeconds
    if (outside(s, b)) r('token-bounds', 'fail', boundsFailure(s, b));
    else r('token-bounds', 'pass', `${s.volumeName}: expirationSeconds ${s.expirationSeconds}`);
    const aud = audienceProblem(s.audience, b.audienceLists, apiAudiences);
    if (aud) r('token-audience', 'fail', `${s.volumeName}: ${aud}`);
  }
  return results;
}

/** True when the token's real lifetime is outside the bounds. */
function outside(s: TokenSource, b: PlannedBounds): boolean {
  return s.lifetimeSeconds < b.min || s.lifetimeSeconds > b.max;
}

function boundsFailure(s: TokenSource, b: PlannedBounds): string {
  return `${s.volumeName}: ${describeLifetime(s.expirationSeconds, s.lifetimeSeconds, b.max)} outside [${b.min}, ${b.max}]`;
}

/**
 * Why an audience is not allowed, or undefined. Tokens for the API server (no audience, or one
 * of the API audiences) are always allowed.
 */
function audienceProblem(
  audience: string,
  lists: readonly (readonly string[])[],
  apiAudiences: readonly string[],
): string | undefined {
  if (isApiAudience(audience, apiAudiences)) return undefined;
  for (const list of lists) {
    if (!anyGlob(list, audience))
      return `audience ${quoted(audience)} not allowed (allowed: ${list.join(', ') || 'none'})`;
  }
  return undefined;
}
