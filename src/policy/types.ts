/**
 * The TokenPolicy vocabulary (README "Policies", docs/policies.md), as the engine sees it after loading.
 * Optional fields stay optional: the engine applies the documented defaults, so a policy
 * round-trips unchanged through `tokenguard policy validate`.
 */

/** `Enforce` denies and mutates; `Audit` only reports what Enforce would do; `Off` is ignored. */
export type PolicyMode = 'Enforce' | 'Audit' | 'Off';

/** A Kubernetes label selector (`metav1.LabelSelector`). */
export interface LabelSelector {
  readonly matchLabels?: Readonly<Record<string, string>>;
  readonly matchExpressions?: readonly LabelSelectorRequirement[];
}

export interface LabelSelectorRequirement {
  readonly key: string;
  readonly operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  readonly values?: readonly string[];
}

/** Which objects a policy applies to. Every field is optional; an empty match matches everything. */
export interface PolicyMatch {
  /** Namespace globs (`team-*`). */
  readonly namespaces?: readonly string[];
  /** Namespace globs that are never matched, whatever else matches. */
  readonly excludeNamespaces?: readonly string[];
  readonly namespaceSelector?: LabelSelector;
  readonly objectSelector?: LabelSelector;
  /** `name` or `namespace/name`, both parts globs. */
  readonly serviceAccounts?: readonly string[];
}

export interface LegacyTokenSecretsSpec {
  readonly action: 'Deny' | 'Allow';
  /** `namespace/name` globs of ServiceAccounts whose legacy token Secrets may still be created. */
  readonly exemptServiceAccounts?: readonly string[];
  /**
   * A Secret of any type whose data carries a legacy ServiceAccount JWT (copied out of a token
   * Secret, or inside a kubeconfig): `Deny`, `Warn` (default) or `Ignore`.
   */
  readonly embeddedTokens?: 'Deny' | 'Warn' | 'Ignore';
  /**
   * A pod that mounts a legacy token Secret (a `secret` volume, a projected volume's `secret`
   * source, `env` `secretKeyRef` or `envFrom` `secretRef`): `Deny`, `Warn` (default) or `Ignore`.
   * A token Secret of an exempt ServiceAccount is warned about, never denied.
   */
  readonly mountedTokens?: 'Deny' | 'Warn' | 'Ignore';
}

/**
 * Limits on tokens requested through the TokenRequest API (`kubectl create token`,
 * `serviceaccounts/<name>/token`). The kubelet's pod-bound requests are always exempt: their
 * bounds were enforced when the pod was admitted.
 */
export interface TokenRequestsSpec {
  readonly maxExpirationSeconds?: number;
  /**
   * Audience globs. A request with no audiences asks for the API server's own, which the API
   * server fills in before validating admission: those (the API audiences) are always allowed.
   */
  readonly allowedAudiences?: readonly string[];
  /** `Mutate` shortens the requested expiration to the maximum; `Deny` (default) refuses. */
  readonly onViolation?: 'Mutate' | 'Deny';
  /** User name globs that are exempt, e.g. a CI identity. */
  readonly exemptUsers?: readonly string[];
  /** Group globs that are exempt. */
  readonly exemptGroups?: readonly string[];
}

export interface AutomountNeeded {
  /** Annotation key; the value `"true"` on the pod or its ServiceAccount marks API access as needed. */
  readonly annotation?: string;
  /** `namespace/name` (or `name`) globs of ServiceAccounts that need the API. */
  readonly serviceAccounts?: readonly string[];
  /** The ServiceAccount is a subject of some RoleBinding or ClusterRoleBinding. */
  readonly rbacBound?: boolean;
  /**
   * A duration (`30d`, `12h`): the ServiceAccount needs its token when the API server's audit
   * log shows one of its tokens used within it, before now (`serve --usage`, `test --facts`;
   * docs/usage.md).
   */
  readonly observedWithin?: string;
  /**
   * What a pod is taken to need when a fact that `rbacBound` or `observedWithin` reads is not
   * known (no cluster access, stale facts, no audit log covering the window) and nothing else
   * says it needs the API. Default `Needed`: keep the token.
   */
  readonly whenUnknown?: 'Needed' | 'NotNeeded';
}

export interface AutomountSpec {
  readonly action: 'DisableUnlessNeeded' | 'Keep';
  readonly needed?: AutomountNeeded;
}

export interface TokenInjection {
  readonly volumeName: string;
  readonly audience: string;
  /** Default 3600, as Kubernetes defaults it. */
  readonly expirationSeconds?: number;
  readonly mountPath: string;
  /** File name inside the volume. Default `token`. */
  readonly path?: string;
  /** Container name globs; init containers included. Default `["*"]`. */
  readonly containers?: readonly string[];
}

export interface TokenBounds {
  /**
   * Exact audiences (or globs) allowed on projected tokens. Tokens for the API server (no
   * audience, or an API audience) are always allowed: the automount rule decides about those.
   */
  readonly allowedAudiences?: readonly string[];
  readonly minExpirationSeconds?: number;
  readonly maxExpirationSeconds?: number;
  /** `Mutate` clamps expirations into bounds; `Deny` rejects. Default `Mutate`. */
  readonly onViolation?: 'Mutate' | 'Deny';
}

export interface ProjectedTokensSpec {
  readonly inject?: readonly TokenInjection[];
  readonly bounds?: TokenBounds;
  /**
   * Upper bound on every token for the API server (no audience, or an API audience): the
   * plugin's kube-api-access token, whose 3607 s lives a year, and any of the pod's own. Counted
   * as the token really lives (docs/tokens.md).
   */
  readonly apiTokenExpirationSeconds?: number;
}

export interface TokenPolicySpec {
  readonly mode: PolicyMode;
  readonly match?: PolicyMatch;
  readonly legacyTokenSecrets?: LegacyTokenSecretsSpec;
  readonly automount?: AutomountSpec;
  readonly projectedTokens?: ProjectedTokensSpec;
  readonly tokenRequests?: TokenRequestsSpec;
}

/** Where a policy came from, for error messages and reports. */
export interface PolicySource {
  readonly file: string;
  /** 1-based index of the YAML document in the file. */
  readonly document: number;
  /** 1-based line of the document start, when known. */
  readonly line?: number;
}

export interface TokenPolicy {
  readonly name: string;
  readonly spec: TokenPolicySpec;
  readonly source: PolicySource;
}

/** One problem found while loading policies: `file:document: path: message`. */
export interface PolicyError {
  readonly file: string;
  readonly document: number;
  readonly line?: number;
  /** Dotted field path inside the document, e.g. `spec.automount.action`; empty for the whole document. */
  readonly path: string;
  readonly message: string;
}

/** Renders a policy error as `file:document: path: message (line N)`. */
export function formatPolicyError(e: PolicyError): string {
  const where = e.path ? `${e.path}: ` : '';
  const line = e.line !== undefined ? ` (line ${e.line})` : '';
  return `${e.file}:${e.document}: ${where}${e.message}${line}`;
}

/**
 * Orders policies (or anything with a name) by name, comparing UTF-16 code units as `<` does,
 * not by locale: the order policies are composed and reported in is then the same everywhere.
 * Equal names compare 0 (the loader refuses duplicate policy names anyway).
 *
 * @example for (const p of [...policies].sort(byName)) ...
 */
export function byName(a: { readonly name: string }, b: { readonly name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}
