/**
 * Rule `embedded-legacy-token` (`legacyTokenSecrets.embeddedTokens`, default `Warn`): a legacy
 * ServiceAccount JWT inside a Secret's data (copied out of a token Secret, pasted into a
 * kubeconfig or an .env file). Judged on CREATE and UPDATE (validate).
 */
import type { TokenPolicy } from '../../policy/types.js';
import { SERVICE_ACCOUNT_TOKEN_SECRET_TYPE } from '../../constants.js';
import { type JsonObject, objectAt, stringAt } from '../../json.js';
import { quoted } from '../messages.js';
import { findLegacyTokens } from '../tokens.js';
import type { RuleMode, RuleResult } from '../types.js';

/**
 * Looks for legacy tokens in `data` and `stringData` under one policy. Token-type Secrets are
 * skipped: they carry such a token by design, and `legacy-token-secret` judges their creation.
 * Bounded work; findings name the key and the token's subject, never the token.
 */
export function validateEmbeddedTokens(secret: JsonObject, policy: TokenPolicy, mode: RuleMode): RuleResult[] {
  const spec = policy.spec.legacyTokenSecrets;
  const action = spec?.embeddedTokens ?? 'Warn';
  if (!spec || action === 'Ignore' || stringAt(secret, 'type') === SERVICE_ACCOUNT_TOKEN_SECRET_TYPE) return [];
  const found = findLegacyTokens(objectAt(secret, 'data'), objectAt(secret, 'stringData'));
  return found.map((f) => ({
    policies: [policy.name],
    rule: 'embedded-legacy-token' as const,
    mode,
    status: action === 'Deny' ? ('fail' as const) : ('warn' as const),
    message: f.incomplete
      ? `data key ${quoted(f.key)}: too many token-like values to check; treated as a legacy token`
      : `legacy token of ${shortSubject(f.subject)} in data key ${quoted(f.key)} (never expires)`,
  }));
}

/** `system:serviceaccount:ns:name` → `ns/name`, the form policies use. */
function shortSubject(subject: string): string {
  const m = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(subject);
  return m ? `${m[1]}/${m[2]}` : subject;
}
