/**
 * The user-visible text of rule outcomes, written here once: denial reasons, warnings, audit
 * findings. Rules return structured results (`RuleResult`); everything that names policies or
 * prefixes the product name is formatted below, for the webhook and `tokenguard test` alike.
 */
import { MAX_WARNING_LENGTH } from '../constants.js';
import type { Phase, RuleId, RuleResult } from './types.js';

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
    else if (r.mode === 'Enforce' && r.status === 'mutate' && r.rule === 'token-request')
      warnings.push(warning(`${policy}: ${r.message}`));
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

/** What a rule checks, for reports that describe their rules (SARIF, Code Quality). */
export interface RuleDescription {
  /** One line: what the rule asks for. */
  readonly summary: string;
  /** A paragraph: what is checked, and why. */
  readonly description: string;
  /** What to do about a finding. */
  readonly help: string;
}

/** Every rule's description, written here once; docs/rules.md has one section per rule id. */
export const RULE_DESCRIPTIONS: Readonly<Record<RuleId, RuleDescription>> = {
  match: {
    summary: 'The policy can be matched against the object',
    description:
      "A policy with a namespaceSelector needs the labels of the object's Namespace. When they are not known (no Namespace in the manifests or facts, no cluster access), the policy cannot decide whether it applies.",
    help: 'Give the Namespace as a manifest or with --facts (kubectl get namespaces -o yaml), or match by namespace name instead of labels.',
  },
  'legacy-token-secret': {
    summary: 'No new legacy ServiceAccount token Secrets (their tokens never expire)',
    description:
      'A Secret of type kubernetes.io/service-account-token makes the control plane write a token that never expires and is never bound to a pod. Anyone who reads the Secret can use it until the Secret is deleted.',
    help: 'Use short-lived tokens instead: a projected serviceAccountToken volume in the pod, or kubectl create token for a person or a pipeline. Exempt a ServiceAccount only with legacyTokenSecrets.exemptServiceAccounts.',
  },
  automount: {
    summary: 'No Kubernetes API token in pods that do not need the API',
    description:
      'Unless a pod sets automountServiceAccountToken: false, the API server mounts a token for the Kubernetes API in every container. A pod that never calls the API carries a credential an attacker in the container can use.',
    help: 'Set automountServiceAccountToken: false on the pod (or its ServiceAccount). If the pod needs the API, opt in with the policy\'s annotation (tokenguard.dev/api-access: "true" in the shipped policy) on the pod or its ServiceAccount, or bind the ServiceAccount with RBAC.',
  },
  'api-token-expiration': {
    summary: 'The default API token (kube-api-access) has a bounded expiration',
    description:
      'The token the API server mounts for the Kubernetes API asks for 3607 seconds, which API servers with --service-account-extend-token-expiration (on by default) stretch to one year. The policy bounds it to apiTokenExpirationSeconds.',
    help: 'Nothing to change in the manifest: the mutating webhook sets the bound at admission. In Audit mode this shows what Enforce would change.',
  },
  'token-bounds': {
    summary: 'Projected ServiceAccount tokens expire within the allowed bounds',
    description:
      'A projected serviceAccountToken volume asks for a lifetime with expirationSeconds (default 3600). The policy allows lifetimes between minExpirationSeconds and maxExpirationSeconds; longer tokens stay valid longer after a leak.',
    help: "Set expirationSeconds within the policy's bounds. With onViolation: Mutate the webhook shortens the token at admission; with Deny the pod is refused.",
  },
  'token-audience': {
    summary: 'Projected ServiceAccount tokens use an allowed audience',
    description:
      'A projected token is accepted by every service that trusts its audience. The policy lists the audiences pods may ask for (bounds.allowedAudiences); tokens for the API server are always allowed.',
    help: "Ask for one of the allowed audiences, or add the audience to the policy's bounds.allowedAudiences.",
  },
  'inject-token': {
    summary: 'Required projected tokens are mounted',
    description:
      'The policy injects projected tokens (projectedTokens.inject) into the containers it names. An injection fails when the volume name is taken by a different volume or a container already mounts something else at the mount path.',
    help: 'Rename the clashing volume or mount, or mount the token yourself with the audience and path the policy asks for.',
  },
  'embedded-legacy-token': {
    summary: 'No legacy ServiceAccount tokens pasted into other Secrets',
    description:
      'A legacy ServiceAccount token (a JWT that never expires) copied into an ordinary Secret is as dangerous as a legacy token Secret, and harder to find.',
    help: 'Remove the token from the Secret and give the workload a projected token, or kubectl create token for a short-lived one.',
  },
  'legacy-token-mount': {
    summary: 'Pods take no token from a legacy ServiceAccount token Secret (it never expires)',
    description:
      'A pod that mounts a Secret of type kubernetes.io/service-account-token as a volume, or reads it through env or envFrom, carries a token that never expires and is not bound to the pod. It keeps working after the pod is gone, for whoever copied it.',
    help: 'Mount a projected serviceAccountToken volume at the same path instead (tokenguard scan --plan writes the patch), and have applications that read the token from an environment variable read the projected file.',
  },
  'token-request': {
    summary: 'Token requests stay within the allowed lifetime and audiences',
    description:
      'kubectl create token and other TokenRequests ask the API server for a token with an expiration and audiences. The policy bounds them (tokenRequests.maxExpirationSeconds, allowedAudiences).',
    help: 'Ask for a shorter --duration or an allowed --audience, or exempt the requester with tokenRequests.exemptUsers.',
  },
  'ephemeral-token': {
    summary: 'Ephemeral containers mount no token the policies withhold from them',
    description:
      'kubectl debug adds an ephemeral container to a running pod. It may not mount the API token of a pod that does not need the API, nor a token a policy injects only into other containers.',
    help: 'Debug without mounting that token volume, or opt the pod in to API access.',
  },
};

/** What a token read from an environment variable needs: a person (scan's plan, rule `legacy-token-mount`). */
export const ENV_TOKEN_ADVICE =
  'a token in an environment variable never rotates; have the application read a projected token file instead';

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
export const VOLUME_TOKEN_ADVICE =
  'a legacy token never expires; mount a projected serviceAccountToken at the same path instead (tokenguard scan --plan writes the patch)';
