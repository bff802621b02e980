/**
 * Rule `legacy-token-secret` (`legacyTokenSecrets`): no new `kubernetes.io/service-account-token`
 * Secrets, whose tokens never expire, unless the policy exempts their ServiceAccount. Judged on
 * CREATE only (validate): updates and deletions of existing ones are never blocked.
 */
import type { TokenPolicy } from '../../policy/types.js';
import { SERVICE_ACCOUNT_NAME_ANNOTATION, SERVICE_ACCOUNT_TOKEN_SECRET_TYPE } from '../../constants.js';
import { type JsonObject, objectAt, stringAt, stringIn } from '../../json.js';
import { serviceAccountPatternMatches } from '../match.js';
import { quoted } from '../messages.js';
import type { RuleMode, RuleResult } from '../types.js';

/** The ServiceAccount a Secret names in `kubernetes.io/service-account.name`, if any. */
export function secretServiceAccount(secret: JsonObject): string | undefined {
  return stringIn(objectAt(objectAt(secret, 'metadata'), 'annotations'), SERVICE_ACCOUNT_NAME_ANNOTATION) || undefined;
}

/**
 * Judges a Secret CREATE under one policy. Only the exact type string makes the token
 * controller mint a never-expiring token (docs/kubernetes.md "Legacy token Secrets"); look-alike
 * spellings are warned about, as is the ServiceAccount annotation on a Secret of another type.
 * Secret data is never read here, and nothing of it reaches a message.
 */
export function validateLegacySecret(
  secret: JsonObject,
  namespace: string,
  policy: TokenPolicy,
  mode: RuleMode,
): RuleResult[] {
  const spec = policy.spec.legacyTokenSecrets;
  if (!spec) return [];
  const type = stringAt(secret, 'type') ?? 'Opaque';
  const sa = secretServiceAccount(secret);
  const r = (status: RuleResult['status'], message: string): RuleResult[] => [
    { policies: [policy.name], rule: 'legacy-token-secret', mode, status, message },
  ];
  if (type !== SERVICE_ACCOUNT_TOKEN_SECRET_TYPE) {
    if (type.trim().toLowerCase() === SERVICE_ACCOUNT_TOKEN_SECRET_TYPE) {
      return r(
        'warn',
        `type ${quoted(type)} is not exactly ${SERVICE_ACCOUNT_TOKEN_SECRET_TYPE}; no token will be issued`,
      );
    }
    if (sa !== undefined) {
      return r(
        'warn',
        `Secret of type ${quoted(type)} names ServiceAccount ${sa}; only ${SERVICE_ACCOUNT_TOKEN_SECRET_TYPE} Secrets get tokens`,
      );
    }
    return [];
  }
  if (spec.action === 'Allow') return r('pass', 'legacy token Secrets allowed by policy');
  const who = `${namespace}/${sa ?? ''}`;
  if (
    sa !== undefined &&
    (spec.exemptServiceAccounts ?? []).some((p) => p.includes('/') && serviceAccountPatternMatches(p, namespace, sa))
  ) {
    return r('pass', `ServiceAccount ${who} is exempt`);
  }
  return r(
    'fail',
    `legacy token Secret for ServiceAccount ${who}: such tokens never expire; use kubectl create token or a projected token`,
  );
}
