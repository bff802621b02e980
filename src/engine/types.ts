import type { PolicyMode } from '../policy/types.js';
import type { JsonObject } from '../json.js';

export type Operation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';

/** Which side of admission is asking: the mutating webhook or the validating one. */
export type Phase = 'mutate' | 'validate';

/**
 * The object kinds the engine judges; everything else is let through untouched.
 * `TokenRequest` is `authentication.k8s.io/v1` on the `serviceaccounts/token` subresource.
 */
export type ObjectKind = 'Pod' | 'Secret' | 'TokenRequest' | 'Other';

/** Who is asking (`request.userInfo`); undefined in the CLI. */
export interface RequestUser {
  readonly username: string;
  readonly groups: readonly string[];
}

/** One admission request, reduced to what the engine reads. Built by the adapter or the CLI. */
export interface EngineInput {
  readonly operation: Operation;
  readonly kind: ObjectKind;
  /** `request.subResource`, e.g. `status` or `ephemeralcontainers`; empty for the main resource. */
  readonly subResource: string;
  /** The object as sent (never modified by the engine). */
  readonly object: JsonObject | undefined;
  readonly oldObject: JsonObject | undefined;
  /** Namespace of the request; pods made by controllers carry it only here. */
  readonly namespace: string;
  readonly dryRun: boolean;
  /** The requesting user, when known (the webhook); undefined in the CLI. */
  readonly user?: RequestUser;
  /** `request.name`: for `serviceaccounts/token`, the ServiceAccount the token is for. */
  readonly name?: string;
}

/** What is known of the pod's ServiceAccount. */
export interface ServiceAccountFacts {
  readonly namespace: string;
  readonly name: string;
  readonly automountServiceAccountToken?: boolean;
  readonly annotations: Readonly<Record<string, string>>;
  /**
   * Whether some RoleBinding or ClusterRoleBinding names this ServiceAccount, directly or
   * through `system:serviceaccounts[:<ns>]`. Undefined when bindings are unknown.
   */
  readonly bound?: boolean;
  /** The bindings that name it, as `Kind namespace/name`, for reports. */
  readonly boundBy?: readonly string[];
  /** What the API server's audit log showed of its tokens; undefined when no log was read. */
  readonly observed?: ObservedUse;
}

/**
 * The audit-log evidence about one ServiceAccount (docs/usage.md "The TokenUsage document"):
 * the time the log covers, and the last use of one of its tokens in it. Times in ms since the
 * epoch.
 */
export interface ObservedUse {
  readonly from: number;
  readonly to: number;
  /** Last request made with one of its tokens, or last TokenReview of one; undefined: not seen in the log. */
  readonly lastSeen?: number;
}

export interface NamespaceFacts {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

/**
 * Cluster knowledge the engine may use. `undefined` means unknown: the engine never guesses
 * labels or bindings it was not given.
 */
export interface ClusterFacts {
  readonly serviceAccount?: ServiceAccountFacts;
  readonly namespace?: NamespaceFacts;
  /**
   * The API server's own audiences (`--api-audiences`; globs): a token for one of them is an API
   * token in every rule. Undefined: `DEFAULT_API_AUDIENCES` (docs/tokens.md "API audiences").
   */
  readonly apiAudiences?: readonly string[];
  /**
   * The time of the request (ms since the epoch), from the clock of whoever asks (the server,
   * the CLI): what `automount.needed.observedWithin` measures against. Undefined: observed use
   * is unknown.
   */
  readonly now?: number;
  /**
   * The legacy token Secrets (type `kubernetes.io/service-account-token`) of the object's
   * namespace that are known: name to the ServiceAccount its `kubernetes.io/service-account.name`
   * annotation names ('' for none). Never their data. A Secret absent from it is not known to be
   * one; undefined: none are known (`tokenguard serve` without `--watch-token-secrets`).
   */
  readonly tokenSecrets?: ReadonlyMap<string, string>;
}

/**
 * How a rule came out, in Kyverno's vocabulary:
 * - `pass`: the object meets the rule;
 * - `fail`: it does not (Enforce: denied; Audit: warned);
 * - `mutate`: the mutating phase changed the object to meet the rule;
 * - `warn`: worth telling, not a violation (for example a look-alike Secret type);
 * - `skip`: the rule does not apply to this object;
 * - `error`: the rule could not be evaluated (for example unknown namespace labels).
 */
export type RuleStatus = 'pass' | 'fail' | 'mutate' | 'warn' | 'skip' | 'error';

/** Stable rule ids; they appear verbatim in messages, reports and logs. */
export const RULE_IDS = [
  'match',
  'legacy-token-secret',
  'automount',
  'api-token-expiration',
  'token-bounds',
  'token-audience',
  'inject-token',
  'embedded-legacy-token',
  'legacy-token-mount',
  'token-request',
  'ephemeral-token',
] as const;

export type RuleId = (typeof RULE_IDS)[number];

/** The modes a rule runs in (`Off` policies are never evaluated). */
export type RuleMode = Exclude<PolicyMode, 'Off'>;

export interface RuleResult {
  /**
   * `metadata.name` of the policy, or of every policy whose limits were composed into the one
   * outcome (bounds, API token expiration, token requests), in name order. Messages name them
   * joined by `+` (messages.ts, `policyLabel`).
   */
  readonly policies: readonly string[];
  readonly rule: RuleId;
  readonly mode: RuleMode;
  readonly status: RuleStatus;
  readonly message: string;
}

/** A JSON Patch operation (RFC 6902) as the engine emits it. */
export interface PatchOperation {
  readonly op: 'add' | 'remove' | 'replace';
  readonly path: string;
  readonly value?: unknown;
}

/** The engine's answer for one phase. */
export interface EngineResult {
  readonly phase: Phase;
  /** Every rule outcome, Enforce and Audit, in a stable order. */
  readonly results: readonly RuleResult[];
  /** False when some Enforce rule failed (validate phase only). */
  readonly allowed: boolean;
  /** `policy/rule: message` lines of the failures that deny. */
  readonly denials: readonly string[];
  /**
   * The mutated object (mutate phase, Enforce policies), or undefined when nothing changed. For
   * pods it shares every subtree the engine did not edit with the input object: read-only.
   */
  readonly mutated: JsonObject | undefined;
  /** The patch Audit policies would have added on top of the Enforce mutation (mutate phase). */
  readonly auditPatch: readonly PatchOperation[];
  /** One-line messages for the client (`warnings`), at most 120 characters each. */
  readonly warnings: readonly string[];
  /** `auditAnnotations` for the API server's audit log; keys are valid qualified-name parts. */
  readonly auditAnnotations: Readonly<Record<string, string>>;
}
