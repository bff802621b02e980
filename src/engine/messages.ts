/**
 * The user-visible text of rule outcomes, written here once: denial reasons, warnings, audit
 * findings. Rules return structured results (`RuleResult`); everything that names policies or
 * prefixes the product name is formatted below, for the webhook and `tokenguard test` alike.
 */
import { MAX_WARNING_LENGTH } from '../constants.js';
import type { Phase, RuleResult } from './types.js';

/**
 * Longest input value a message quotes whole, in UTF-16 code units: every Kubernetes name (at
 * most 253) and any real audience fit; a hostile 60 KB audience is cut.
 */
export const MAX_QUOTED_LENGTH = 256;

/**
 * A value from the input, quoted as JSON for a message: a string longer than
 * {@link MAX_QUOTED_LENGTH} is cut there (never inside a surrogate pair), with `…` after the
 * closing quote; any other value is written as JSON and cut the same way.
 */
export function quoted(value: unknown): string {
  if (typeof value !== 'string') {
    const text = JSON.stringify(value) ?? String(value);
    return text.length <= MAX_QUOTED_LENGTH ? text : `${text.slice(0, MAX_QUOTED_LENGTH)}…`;
  }
  if (value.length <= MAX_QUOTED_LENGTH) return JSON.stringify(value);
  const high = value.charCodeAt(MAX_QUOTED_LENGTH - 1);
  const cut = high >= 0xd800 && high <= 0xdbff ? MAX_QUOTED_LENGTH - 1 : MAX_QUOTED_LENGTH;
  return `${JSON.stringify(value.slice(0, cut))}…`;
}

/** How an outcome names its policies: one name, or the composed ones joined by `+` (`a+b`). */
export function policyLabel(policies: readonly string[]): string {
  return policies.join('+');
}

/** `policy/rule: message`, the form of denial reasons, audit findings and reports. */
function ruleLine(r: RuleResult): string {
  return `${policyLabel(r.policies)}/${r.rule}: ${r.message}`;
}

/** What the outcomes of one phase say to the requester and to the audit log. */
export interface PhaseMessages {
  /** `policy/rule: message` of each Enforce failure (validate phase only). */
  readonly denials: string[];
  /** One-line warnings for the client, deduplicated, each at most 120 characters. */
  readonly warnings: string[];
  /** `would change: ...` / `would deny: ...` lines of Audit policies. */
  readonly auditFindings: string[];
}

/**
 * The messages of one phase's rule outcomes, in their order:
 *
 * | outcome                                      | validate          | mutate                       |
 * |----------------------------------------------|-------------------|------------------------------|
 * | `pass`, `skip`                               | nothing           | nothing                      |
 * | `warn` (any mode)                            | warning           | warning                      |
 * | Enforce `fail` or `error`                    | denial            | warning `not fixed: ...`     |
 * | Enforce `mutate` of `token-request`          | warning           | warning                      |
 * | Audit `fail`, `error` or `mutate`            | warning and audit finding | warning and audit finding |
 *
 * Warnings name the policy and lead with what matters, since the API server asks for 120
 * characters; denials and audit findings also carry the rule id. A requester must hear that the
 * token they get is shorter than asked (as the API server's own
 * `--service-account-max-token-expiration` warns); pod mutations are reported by audit logs.
 */
export function phaseMessages(phase: Phase, results: readonly RuleResult[]): PhaseMessages {
  const denials: string[] = [];
  const warnings: string[] = [];
  const auditFindings: string[] = [];
  for (const r of results) {
    if (r.status === 'pass' || r.status === 'skip') continue;
    const policy = policyLabel(r.policies);
    if (r.status === 'warn') warnings.push(warning(`${policy}: ${r.message}`));
    else if (r.mode === 'Enforce' && r.status === 'mutate' && r.rule === 'token-request') warnings.push(warning(`${policy}: ${r.message}`));
    else if (r.mode === 'Enforce' && (r.status === 'fail' || r.status === 'error')) {
      if (phase === 'validate') denials.push(ruleLine(r));
      else warnings.push(warning(`${policy}: not fixed: ${r.message}`));
    } else if (r.mode === 'Audit' && (r.status === 'fail' || r.status === 'error' || r.status === 'mutate')) {
      const verb = r.status === 'mutate' ? 'would change' : 'would deny';
      warnings.push(warning(`audit ${policy} ${verb}: ${r.message}`));
      auditFindings.push(`${verb}: ${ruleLine(r)}`);
    }
  }
  return { denials, warnings: [...new Set(warnings)], auditFindings };
}

/** The `status.message` of a denial: every reason, behind the product name. */
export function denialMessage(denials: readonly string[]): string {
  return `tokenguard: ${denials.join('; ')}`;
}

/** The message for a request that cannot be judged (a field of the wrong type, say). */
export function malformedMessage(problem: string): string {
  return `tokenguard: malformed AdmissionReview: ${problem}`;
}

/**
 * Makes a warning the API server will pass on: one line without control characters (it drops
 * those silently, docs/kubernetes.md "Warnings"), prefixed with the product name, at most 120
 * characters.
 */
export function warning(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control characters is the point
  const clean = `tokenguard: ${text}`.replace(/[\u0000-\u001f\u007f]+/g, ' ');
  // The limit counts characters (code points); a string of at most that many UTF-16 units has at
  // most that many, which is nearly every warning: no walk at all then.
  if (clean.length <= MAX_WARNING_LENGTH) return clean;
  let count = 0;
  let cut = 0;
  for (const ch of clean) {
    count += 1;
    if (count > MAX_WARNING_LENGTH) return `${clean.slice(0, cut)}…`;
    if (count < MAX_WARNING_LENGTH) cut += ch.length;
  }
  return clean;
}

/** What a token read from an environment variable needs: a person (scan's plan, rule `legacy-token-mount`). */
export const ENV_TOKEN_ADVICE = 'a token in an environment variable never rotates; have the application read a projected token file instead';

/**
 * How a use of a legacy token Secret through `env` or `envFrom` is told, by `tokenguard scan`'s
 * migration plan and by rule `legacy-token-mount` alike:
 * `app-token is read through env TOKEN (key token) in containers/app: a token in an environment variable never rotates; ...`.
 */
export function envTokenMessage(secret: string, use: string): string {
  return `${secret} is read through ${use}: ${ENV_TOKEN_ADVICE}`;
}

/**
 * How a pod's use of a legacy token Secret through a volume is told (rule `legacy-token-mount`):
 * `legacy token Secret app-token is mounted through volume tok at /var/run/tok in containers/app: ...`.
 */
export function volumeTokenMessage(secret: string, use: string): string {
  return `${secret} is mounted through ${use}: ${VOLUME_TOKEN_ADVICE}`;
}

/** What a legacy token mounted from a Secret volume needs: a projected token at the same path (`tokenguard scan --plan` writes it). */
export const VOLUME_TOKEN_ADVICE = 'a legacy token never expires; mount a projected serviceAccountToken at the same path instead (tokenguard scan --plan writes the patch)';
