import type { TokenPolicy } from '../policy/types.js';
import { SERVICE_ACCOUNT_NAME_ANNOTATION, SERVICE_ACCOUNT_TOKEN_SECRET_TYPE } from '../constants.js';
import { type JsonObject, objectAt, stringAt, stringMapAt } from '../json.js';
import { serviceAccountPatternMatches } from './match.js';
import { findLegacyTokens } from '../tokens/classify.js';
import type { RuleResult } from './types.js';

/**
 * Looks for legacy ServiceAccount JWTs inside a Secret's data (copied out of a token Secret,
 * pasted into a kubeconfig or an .env file) under one policy's `embeddedTokens` setting
 * (default `Warn`). Token-type Secrets are skipped: they carry such a token by design, and the
 * legacy rule judges their creation. Bounded work; findings name the key and the token's subject,
 * never the token.
 */
export function judgeEmbeddedTokens(secret: JsonObject, policy: TokenPolicy, mode: RuleResult['mode']): RuleResult[] {
  const spec = policy.spec.legacyTokenSecrets;
  const action = spec?.embeddedTokens ?? 'Warn';
  if (!spec || action === 'Ignore' || stringAt(secret, 'type') === SERVICE_ACCOUNT_TOKEN_SECRET_TYPE) return [];
  const found = findLegacyTokens(objectAt(secret, 'data'), objectAt(secret, 'stringData'));
  return found.map((f) => ({
    policy: policy.name,
    rule: 'embedded-legacy-token' as const,
    mode,
    status: action === 'Deny' ? ('fail' as const) : ('warn' as const),
    message: f.incomplete
      ? `data key ${JSON.stringify(f.key)}: too many token-like values to check; treated as a legacy token`
      : `legacy token of ${shortSubject(f.subject)} in data key ${JSON.stringify(f.key)} (never expires)`,
  }));
}

/** `system:serviceaccount:ns:name` → `ns/name`, the form policies use. */
function shortSubject(subject: string): string {
  const m = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(subject);
  return m ? `${m[1]}/${m[2]}` : subject;
}

/** The ServiceAccount a Secret names in `kubernetes.io/service-account.name`, if any. */
export function secretServiceAccount(secret: JsonObject): string | undefined {
  return stringMapAt(objectAt(secret, 'metadata'), 'annotations')[SERVICE_ACCOUNT_NAME_ANNOTATION] || undefined;
}

/**
 * Judges a Secret CREATE under one policy. Only the exact type string makes the token
 * controller mint a never-expiring token (docs/kubernetes.md "Legacy token Secrets"); look-alike spellings are warned about, as
 * is the ServiceAccount annotation on a Secret of another type. Secret data is never read here,
 * and nothing of it reaches a message.
 */
export function judgeSecret(
  secret: JsonObject,
  namespace: string,
  policy: TokenPolicy,
  mode: RuleResult['mode'],
): RuleResult[] {
  const spec = policy.spec.legacyTokenSecrets;
  if (!spec) return [];
  const type = stringAt(secret, 'type') ?? 'Opaque';
  const sa = secretServiceAccount(secret);
  const r = (status: RuleResult['status'], message: string): RuleResult[] => [
    { policy: policy.name, rule: 'legacy-token-secret', mode, status, message },
  ];
  if (type !== SERVICE_ACCOUNT_TOKEN_SECRET_TYPE) {
    if (type.trim().toLowerCase() === SERVICE_ACCOUNT_TOKEN_SECRET_TYPE) {
      return r('warn', `type ${JSON.stringify(type)} is not exactly ${SERVICE_ACCOUNT_TOKEN_SECRET_TYPE}; no token will be issued`);
    }
    if (sa !== undefined) {
      return r('warn', `Secret of type ${JSON.stringify(type)} names ServiceAccount ${sa}; only ${SERVICE_ACCOUNT_TOKEN_SECRET_TYPE} Secrets get tokens`);
    }
    return [];
  }
  if (spec.action === 'Allow') return r('pass', 'legacy token Secrets allowed by policy');
  const who = `${namespace}/${sa ?? ''}`;
  if (sa !== undefined && (spec.exemptServiceAccounts ?? []).some((p) => p.includes('/') && serviceAccountPatternMatches(p, namespace, sa))) {
    return r('pass', `ServiceAccount ${who} is exempt`);
  }
  return r(
    'fail',
    `legacy token Secret for ServiceAccount ${who}: such tokens never expire; use kubectl create token or a projected token`,
  );
}
