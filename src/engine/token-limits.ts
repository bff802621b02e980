/**
 * Judging one token by itself and against the policies, for `tokenguard token inspect`: which
 * limits apply to it, and what it breaks. The same rules as admission, applied to an issued
 * token instead of a request: an extended token is held to what it lives, a year
 * (docs/tokens.md "Extension to a year"), and the API server's own audiences are always allowed.
 */
import { anyGlob } from '../glob.js';
import { byName, type TokenPolicy } from '../policy/types.js';
import { isApiAudience } from './api-token.js';
import { matchesScope } from './match.js';
import { quoted } from './messages.js';
import type { TokenClassification } from './tokens.js';

export type FindingLevel = 'error' | 'warning' | 'info';

/** One thing worth telling about a token. */
export interface TokenFinding {
  readonly level: FindingLevel;
  readonly code: string;
  readonly message: string;
  /** The policy (or `--max-expiration`, `--allowed-audience`) behind the finding. */
  readonly source?: string;
}

/** A maximum lifetime and/or audience list that applies to a token, and where it comes from. */
export interface TokenLimit {
  readonly source: string;
  /** `error` for the command line and Enforce policies, `warning` for Audit ones. */
  readonly level: FindingLevel;
  readonly maxExpirationSeconds?: number;
  readonly allowedAudiences?: readonly string[];
}

/**
 * The API server's own audiences as far as this token tells: the configured ones (or the
 * defaults), its issuer (the API audiences default to the issuers), and, for an extended token,
 * its own audiences (only tokens for the API audiences are extended). docs/tokens.md "API
 * audiences".
 */
export function tokenApiAudiences(token: TokenClassification, configured: readonly string[]): string[] {
  const out = new Set([...configured, ...(token.issuer !== undefined ? [token.issuer] : [])]);
  if (token.extended) for (const a of token.audiences) out.add(a);
  return [...out];
}

export interface TokenLimitsArgs {
  readonly token: TokenClassification;
  readonly policies: readonly TokenPolicy[];
  /** `--max-expiration` and `--allowed-audience`, when given. */
  readonly maxExpirationSeconds?: number;
  readonly allowedAudiences?: readonly string[];
  readonly apiAudiences: readonly string[];
}

/**
 * The limits that apply to this token: those given on the command line, and those of each
 * Enforce (error) or Audit (warning) policy whose namespaces and ServiceAccounts match the
 * token's (label selectors cannot be evaluated for a token and are taken to match). The pod's API
 * token (only API audiences) is held to `projectedTokens.apiTokenExpirationSeconds`, as pod
 * admission holds it; other pod-bound tokens to `projectedTokens.bounds`; other tokens to
 * `tokenRequests`. Legacy tokens and tokens that are not Kubernetes' get the command line's only.
 */
export function tokenLimits({
  token,
  policies,
  maxExpirationSeconds,
  allowedAudiences,
  apiAudiences,
}: TokenLimitsArgs): TokenLimit[] {
  const limits: TokenLimit[] = [];
  if (maxExpirationSeconds !== undefined || allowedAudiences !== undefined) {
    limits.push({
      source: 'command line',
      level: 'error',
      ...(maxExpirationSeconds !== undefined ? { maxExpirationSeconds } : {}),
      ...(allowedAudiences !== undefined ? { allowedAudiences } : {}),
    });
  }
  if (token.kind === 'legacy' || token.kind === 'not-kubernetes') return limits;
  for (const p of [...policies].sort(byName)) {
    if (p.spec.mode === 'Off' || !mayApply(p, token)) continue;
    const level: FindingLevel = p.spec.mode === 'Enforce' ? 'error' : 'warning';
    if (
      token.kind === 'bound-pod' &&
      token.audiences.length > 0 &&
      token.audiences.every((a) => isApiAudience(a, apiAudiences))
    ) {
      // The pod's API token: pod admission holds it to apiTokenExpirationSeconds, not to bounds.
      const max = p.spec.projectedTokens?.apiTokenExpirationSeconds;
      if (max !== undefined)
        limits.push({
          source: `policy ${p.name} (spec.projectedTokens.apiTokenExpirationSeconds)`,
          level,
          maxExpirationSeconds: max,
        });
    } else if (token.kind === 'bound-pod') {
      const b = p.spec.projectedTokens?.bounds;
      if (b?.maxExpirationSeconds !== undefined || b?.allowedAudiences !== undefined) {
        limits.push({
          source: `policy ${p.name} (spec.projectedTokens.bounds)`,
          level,
          ...(b.maxExpirationSeconds !== undefined ? { maxExpirationSeconds: b.maxExpirationSeconds } : {}),
          ...(b.allowedAudiences !== undefined ? { allowedAudiences: b.allowedAudiences } : {}),
        });
      }
    } else {
      const t = p.spec.tokenRequests;
      if (t?.maxExpirationSeconds !== undefined || t?.allowedAudiences !== undefined) {
        limits.push({
          source: `policy ${p.name} (spec.tokenRequests)`,
          level,
          ...(t.maxExpirationSeconds !== undefined ? { maxExpirationSeconds: t.maxExpirationSeconds } : {}),
          ...(t.allowedAudiences !== undefined ? { allowedAudiences: t.allowedAudiences } : {}),
        });
      }
    }
  }
  return limits;
}

/** Whether `p` may apply to the token: its namespace and ServiceAccount match (selectors cannot be evaluated and are taken to match). */
function mayApply(p: TokenPolicy, token: TokenClassification): boolean {
  return token.namespace === undefined || matchesScope(p, token.namespace, token.serviceAccount?.name);
}

export interface JudgeTokenArgs {
  readonly token: TokenClassification;
  /** Whether the token has a signature part at all. */
  readonly signed: boolean;
  readonly limits: readonly TokenLimit[];
  readonly apiAudiences: readonly string[];
  /** The time to judge at, in seconds since the epoch. */
  readonly nowSeconds: number;
}

/**
 * What the token is and breaks, in this order: not a Kubernetes token, unsigned, inconsistent
 * claims, never expiring, not yet valid, expired, extended to a year, then every limit it is over
 * (lifetime, then audiences). Signature checks are the caller's: they need keys.
 */
export function judgeToken({ token, signed, limits, apiAudiences, nowSeconds }: JudgeTokenArgs): TokenFinding[] {
  const findings: TokenFinding[] = [];
  const add = (level: FindingLevel, code: string, message: string, source?: string) =>
    findings.push(source !== undefined ? { level, code, message, source } : { level, code, message });

  if (token.kind === 'not-kubernetes')
    add('warning', 'not-kubernetes', 'not a Kubernetes ServiceAccount token (no kubernetes.io or legacy claims)');
  if (!signed || token.algorithm?.toLowerCase() === 'none')
    add('error', 'unsigned', 'the token is unsigned (alg none or no signature); no API server accepts it');
  for (const p of token.problems) add('warning', 'inconsistent-claims', p);

  if (token.expiresAt === undefined) {
    add(
      'error',
      'no-expiry',
      token.kind === 'legacy'
        ? 'legacy Secret-based token: it never expires and works until its Secret is deleted; replace it with kubectl create token or a projected token'
        : 'the token has no exp: it never expires',
    );
  } else {
    if (token.notBefore !== undefined && token.notBefore > nowSeconds)
      add('warning', 'not-yet-valid', `not valid for another ${duration(token.notBefore - nowSeconds)} (nbf)`);
    if (token.remainingSeconds !== undefined && token.remainingSeconds <= 0)
      add('warning', 'expired', `expired ${duration(-token.remainingSeconds)} ago`);
    if (token.extended) {
      add(
        'warning',
        'extended-expiration',
        `extended token: requested for ${duration(token.intendedLifetimeSeconds ?? 3607)} (the warnafter threshold), but the API server accepts it until exp, ${duration(token.lifetimeSeconds ?? 0)} after issue; use after warnafter is only audited as stale. projectedTokens.apiTokenExpirationSeconds gives the API token a real bound`,
      );
    }
  }
  for (const l of limits) {
    if (l.maxExpirationSeconds === undefined || token.expiresAt === undefined) continue;
    // An extended token is judged by what it lives, a year, as pod and TokenRequest admission count it.
    const lifetime = token.lifetimeSeconds;
    if (lifetime !== undefined && lifetime > l.maxExpirationSeconds) {
      add(
        l.level,
        'lifetime-over-maximum',
        `lifetime ${lifetime} s (${duration(lifetime)}) is over the maximum ${l.maxExpirationSeconds} s (${duration(l.maxExpirationSeconds)})`,
        l.source,
      );
    }
  }
  for (const l of limits) {
    if (l.allowedAudiences === undefined) continue;
    const bad = token.audiences.filter((a) => !isApiAudience(a, apiAudiences) && !anyGlob(l.allowedAudiences, a));
    if (bad.length > 0) {
      add(
        l.level,
        'audience-not-allowed',
        `audience ${bad.map(quoted).join(', ')} not allowed (allowed: ${l.allowedAudiences.join(', ') || 'none'}, and the API server's own)`,
        l.source,
      );
    }
  }
  return findings;
}

/** `3607` → `1h 0m 7s`; `31536000` → `365d`. */
export function duration(seconds: number): string {
  let s = Math.abs(Math.round(seconds));
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  const parts: string[] = [];
  if (d) parts.push(`${d}d`);
  if (h || (d && (m || s))) parts.push(`${h}h`);
  if (m || ((d || h) && s)) parts.push(`${m}m`);
  if (s || parts.length === 0) parts.push(`${s}s`);
  return `${seconds < 0 ? '-' : ''}${parts.join(' ')}`;
}
