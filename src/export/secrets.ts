/**
 * Rule `legacy-token-secret` (src/engine/rules/legacy-secret.ts) as CEL: a Secret CREATE of type
 * `kubernetes.io/service-account-token` is denied unless its ServiceAccount is exempt.
 */
import { SERVICE_ACCOUNT_TOKEN_SECRET_TYPE } from '../constants.js';
import type { LegacyTokenSecretsSpec } from '../policy/types.js';
import { str } from './cel.js';
import { NAMESPACE, SECRET_HAS_SERVICE_ACCOUNT, SECRET_SERVICE_ACCOUNT, serviceAccountPatterns } from './match.js';
import type { MatchCondition } from './objects.js';

/** Only token Secrets are judged: every other Secret is admitted without evaluating the policy. */
export const ONLY_TOKEN_SECRETS: MatchCondition = {
  name: 'only-service-account-token-secrets',
  expression: `has(object.type) && object.type == ${str(SERVICE_ACCOUNT_TOKEN_SECRET_TYPE)}`,
};

/** The denial list of `validateLegacySecret` for one policy with `action: Deny`. */
export function legacySecretDenials(label: string, spec: LegacyTokenSecretsSpec): string {
  // Only namespace/name patterns exempt (a bare name never does, as in the engine).
  const exempt = (spec.exemptServiceAccounts ?? []).filter((p) => p.includes('/'));
  const isExempt =
    exempt.length > 0
      ? `${SECRET_HAS_SERVICE_ACCOUNT} && ${serviceAccountPatterns(exempt, NAMESPACE, SECRET_SERVICE_ACCOUNT)}`
      : 'false';
  const who = `${NAMESPACE} + '/' + (${SECRET_HAS_SERVICE_ACCOUNT} ? ${SECRET_SERVICE_ACCOUNT} : '')`;
  return `${isExempt} ? [] : [${str(`${label}/legacy-token-secret: legacy token Secret for ServiceAccount `)} + ${who} + ': such tokens never expire; use kubectl create token or a projected token']`;
}
