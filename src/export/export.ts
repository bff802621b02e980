/**
 * `tokenguard export`: TokenPolicies compiled into ValidatingAdmissionPolicies and
 * MutatingAdmissionPolicies, with their bindings, that the API server evaluates itself (no
 * webhook call). Pure: the command (src/cli/commands/export.ts) reads and writes the files.
 *
 * One policy becomes up to four ValidatingAdmissionPolicies, one per part that the API server
 * matches on its own (docs/vap.md "What a policy becomes"):
 *
 * | object                          | matches                                        | rules                                   |
 * |---------------------------------|------------------------------------------------|-----------------------------------------|
 * | `tokenguard-<p>-automount`      | pods CREATE, pods/ephemeralcontainers UPDATE   | automount, ephemeral-token (API token)  |
 * | `tokenguard-<p>-pods`           | pods CREATE (+ ephemeralcontainers UPDATE)     | api-token-expiration, token-bounds, token-audience, inject-token, ephemeral-token (injections) |
 * | `tokenguard-<p>-secrets`        | secrets CREATE of the token type               | legacy-token-secret                      |
 * | `tokenguard-<p>-token-requests` | serviceaccounts/token CREATE                   | token-request                            |
 *
 * and, for Enforce policies, MutatingAdmissionPolicies of the same names for what the mutating
 * webhook changes (automount, pods, token-requests). Several policies compile to several
 * objects each; the API server denies when any denies, which is the webhook's composition
 * wherever docs/vap.md "Composition" does not say otherwise.
 */
import { DEFAULT_API_AUDIENCES } from '../constants.js';
import { byName, type PolicyMode, type TokenPolicy } from '../policy/types.js';
import { isApiAudience } from '../engine/api-token.js';
import { allOf, not } from './cel.js';
import { compileMatch, matchCel, type TargetKind } from './match.js';
import {
  ANNOTATION_NOT_EXPORTED,
  ANNOTATION_POLICY,
  ANNOTATION_RULES,
  MAP_API_VERSION,
  type MatchCondition,
  type MatchResources,
  type Metadata,
  type MutatingAdmissionPolicy,
  type MutatingAdmissionPolicyBinding,
  type Mutation,
  type ParamKind,
  type ParamRef,
  type ResourceRule,
  VAP_API_VERSION,
  type ValidatingAdmissionPolicy,
  type ValidatingAdmissionPolicyBinding,
  type Variable,
} from './objects.js';
import {
  ADDED_EPHEMERAL,
  apiTokenDenials,
  apiTokenMutation,
  automountDenials,
  automountMutation,
  automountVariables,
  boundsDenials,
  boundsMutation,
  boundsOf,
  ephemeralAutomountDenials,
  ephemeralInjectionDenials,
  type Injection,
  injectedExpiration,
  injectionDenials,
  injectionMutation,
  injectionOf,
  neededPlan,
  podVariables,
  reservedInjectionName,
  SKIP_MIRROR_PODS,
} from './pods.js';
import { legacySecretDenials, ONLY_TOKEN_SECRETS } from './secrets.js';
import {
  exemptCondition,
  SKIP_KUBELET_POD_TOKENS,
  tokenRequestDenials,
  tokenRequestMutation,
  tokenRequestVariables,
} from './token-requests.js';

export interface ExportOptions {
  /** The API server's own audiences (`--api-audience`, globs); default docs/tokens.md "API audiences". */
  readonly apiAudiences?: readonly string[];
}

export type ValidatingObject = ValidatingAdmissionPolicy | ValidatingAdmissionPolicyBinding;
export type MutatingObject = MutatingAdmissionPolicy | MutatingAdmissionPolicyBinding;

/** What one TokenPolicy became. */
export interface PolicyExport {
  readonly policy: string;
  readonly mode: PolicyMode;
  /** ValidatingAdmissionPolicies, each followed by its binding. */
  readonly validating: readonly ValidatingObject[];
  /** MutatingAdmissionPolicies (Enforce only), each followed by its binding. */
  readonly mutating: readonly MutatingObject[];
  /** What the exported objects do not enforce, and why (also in each object's `tokenguard.dev/not-exported`). */
  readonly notExported: readonly string[];
}

export interface ExportResult {
  /** One entry per policy, in name order. */
  readonly policies: readonly PolicyExport[];
}

/** `metadata.name` prefix of every exported object. */
export const OBJECT_PREFIX = 'tokenguard-';

const LABELS = { 'app.kubernetes.io/part-of': 'tokenguard', 'app.kubernetes.io/component': 'admission-policy' };

const POD_CREATE: ResourceRule = {
  apiGroups: [''],
  apiVersions: ['v1'],
  operations: ['CREATE'],
  resources: ['pods'],
  scope: 'Namespaced',
};
const EPHEMERAL_UPDATE: ResourceRule = {
  apiGroups: [''],
  apiVersions: ['v1'],
  operations: ['UPDATE'],
  resources: ['pods/ephemeralcontainers'],
  scope: 'Namespaced',
};
const SECRET_CREATE: ResourceRule = {
  apiGroups: [''],
  apiVersions: ['v1'],
  operations: ['CREATE'],
  resources: ['secrets'],
  scope: 'Namespaced',
};
const TOKEN_CREATE: ResourceRule = {
  apiGroups: [''],
  apiVersions: ['v1'],
  operations: ['CREATE'],
  resources: ['serviceaccounts/token'],
  scope: 'Namespaced',
};

/** The pod's ServiceAccount, among the namespace's (docs/vap.md "The ServiceAccount's annotation"). */
const SERVICE_ACCOUNT_PARAM: ParamKind = { apiVersion: 'v1', kind: 'ServiceAccount' };
const EVERY_SERVICE_ACCOUNT: ParamRef = { selector: {}, parameterNotFoundAction: 'Deny' };

/**
 * Compiles every policy (mode `Off` ones say so and produce nothing).
 *
 * @example
 * const { policies } = exportPolicies(loaded.policies, {});
 * for (const p of policies) write(p.validating);
 */
export function exportPolicies(policies: readonly TokenPolicy[], options: ExportOptions = {}): ExportResult {
  const api = options.apiAudiences && options.apiAudiences.length > 0 ? options.apiAudiences : DEFAULT_API_AUDIENCES;
  const sorted = [...policies].sort(byName);
  return { policies: sorted.map((p) => exportOne(p, sorted, api)) };
}

interface Part {
  readonly suffix: 'automount' | 'pods' | 'secrets' | 'token-requests';
  readonly kind: TargetKind;
  readonly rules: readonly ResourceRule[];
  readonly conditions: readonly MatchCondition[];
  readonly rulesNamed: readonly string[];
  readonly variables: readonly Variable[];
  /** CEL list of denial lines. */
  readonly denials: string;
  /** CEL bool: this evaluation judges (false for the other ServiceAccounts' evaluations). */
  readonly judges?: string;
  readonly params?: boolean;
  /** JSON Patch expressions of the MutatingAdmissionPolicy (Enforce), in order; none: no MAP. */
  readonly mutations: readonly string[];
  /** Variables of the MutatingAdmissionPolicy (default: `variables`). */
  readonly mutateVariables?: readonly Variable[];
  /** Resource rules of the MutatingAdmissionPolicy (default: the CREATE rule of `rules`). */
  readonly mutateRules?: readonly ResourceRule[];
}

function exportOne(p: TokenPolicy, all: readonly TokenPolicy[], api: readonly string[]): PolicyExport {
  const notes: string[] = [];
  const mode = p.spec.mode;
  if (mode === 'Off')
    return { policy: p.name, mode, validating: [], mutating: [], notExported: ['mode Off: nothing to export'] };
  const parts: Part[] = [];
  const label = p.name;

  // automount
  const am = p.spec.automount;
  if (am?.action === 'DisableUnlessNeeded') {
    const needed = neededPlan(am.needed);
    if (am.needed?.rbacBound) {
      notes.push(
        needed.alwaysNeeded
          ? 'automount: not enforced: needed.rbacBound keeps the token of every ServiceAccount a RoleBinding or ClusterRoleBinding names, and RBAC bindings are cluster facts CEL cannot read; with whenUnknown: Needed every pod counts as needing the API'
          : 'automount: needed.rbacBound is not seen (RBAC bindings are cluster facts CEL cannot read): whenUnknown: NotNeeded applies, so a pod of a bound ServiceAccount keeps its token only through the annotation or needed.serviceAccounts',
      );
    }
    if (am.needed?.observedWithin !== undefined) {
      notes.push(
        needed.alwaysNeeded
          ? 'automount: not enforced: needed.observedWithin keeps the token of every ServiceAccount seen using the API, and observed use (TokenUsage) is a fact CEL cannot read; with whenUnknown: Needed every pod counts as needing the API'
          : 'automount: needed.observedWithin is not seen (observed use is a fact CEL cannot read): whenUnknown: NotNeeded applies, so a pod that uses the API keeps its token only through the annotation or needed.serviceAccounts',
      );
    }
    if (!needed.alwaysNeeded) {
      if (needed.usesServiceAccount) {
        notes.push(
          `automount: the ServiceAccount's ${am.needed?.annotation} annotation is read from the namespace's ServiceAccounts (paramKind ServiceAccount); one created a moment before its pod may not be seen yet`,
        );
      }
      const base = podVariables(api);
      const variables = [...base, ...automountVariables(needed), ADDED_EPHEMERAL];
      parts.push({
        suffix: 'automount',
        kind: 'Pod',
        rules: [POD_CREATE, EPHEMERAL_UPDATE],
        conditions: [SKIP_MIRROR_PODS],
        rulesNamed: ['automount', 'ephemeral-token'],
        variables,
        denials: `(has(request.subResource) && request.subResource == 'ephemeralcontainers') ? (${ephemeralAutomountDenials(label)}) : (${automountDenials(label)})`,
        judges: 'variables.own',
        params: needed.usesServiceAccount,
        mutations: [automountMutation()],
        mutateVariables: [
          ...base.filter((v) => v.name === 'volumes' || v.name === 'pluginVolumes'),
          ...automountVariables(needed).filter((v) => v.name === 'own' || v.name === 'needed'),
        ],
        mutateRules: [POD_CREATE],
      });
    }
  }

  // api-token-expiration, bounds, injections
  const pt = p.spec.projectedTokens;
  const apiMax = pt?.apiTokenExpirationSeconds;
  const bounds = pt?.bounds ? boundsOf(pt.bounds) : undefined;
  const injections = planOwnInjections(p, all, notes);
  if (apiMax !== undefined || bounds || injections.length > 0) {
    const lists: Variable[] = [];
    const mutations: string[] = [];
    const rulesNamed: string[] = [];
    if (apiMax !== undefined) {
      lists.push({ name: 'apiTokenExpiration', expression: apiTokenDenials(label, apiMax) });
      mutations.push(apiTokenMutation(apiMax, api));
      rulesNamed.push('api-token-expiration');
    }
    if (bounds) {
      lists.push({ name: 'tokenBounds', expression: boundsDenials(label, bounds) });
      rulesNamed.push('token-bounds');
      if (bounds.audiences) rulesNamed.push('token-audience');
    }
    injections.forEach(({ inj, guard }, i) => {
      lists.push({ name: `inject${i}`, expression: injectionDenials(label, inj, guard) });
      if (!reservedInjectionName(inj))
        mutations.push(
          injectionMutation(inj, injectedExpiration(inj, bounds, api, isApiAudience(inj.audience, api)), guard),
        );
    });
    if (injections.length > 0) rulesNamed.push('inject-token', 'ephemeral-token');
    const clamp = bounds ? boundsMutation(bounds, apiMax, api) : undefined;
    if (clamp) mutations.push(clamp);
    const create = lists.map((l) => `variables.${l.name}`).join(' + ');
    const ephemeral = injections.map(({ inj }) => `(${ephemeralInjectionDenials(label, inj)})`).join(' + ');
    const base = podVariables(api);
    parts.push({
      suffix: 'pods',
      kind: 'Pod',
      rules: injections.length > 0 ? [POD_CREATE, EPHEMERAL_UPDATE] : [POD_CREATE],
      conditions: [SKIP_MIRROR_PODS],
      rulesNamed,
      variables: [...base, ...(injections.length > 0 ? [ADDED_EPHEMERAL] : []), ...lists],
      denials:
        injections.length > 0
          ? `(has(request.subResource) && request.subResource == 'ephemeralcontainers') ? ${ephemeral} : ${create}`
          : create,
      mutations,
      mutateVariables: base,
      mutateRules: [POD_CREATE],
    });
  }

  // legacy token Secrets
  const lts = p.spec.legacyTokenSecrets;
  if (lts) {
    const embedded = lts.embeddedTokens ?? 'Warn';
    if (embedded !== 'Ignore') {
      notes.push(
        `legacyTokenSecrets.embeddedTokens: ${embedded}: not enforced: finding a legacy JWT inside a Secret's data needs base64 and JWT decoding, which Kubernetes CEL has not`,
      );
    }
    // Said when set: the default (Warn) has nothing to enforce, and an admission policy has no Secret facts anyway.
    const mounted = lts.mountedTokens;
    if (mounted !== undefined && mounted !== 'Ignore') {
      notes.push(
        `legacyTokenSecrets.mountedTokens: ${mounted}: not enforced: knowing which Secrets a pod names are token Secrets needs the Secrets' types, which an admission policy on pods cannot read`,
      );
    }
    if (lts.action === 'Deny') {
      parts.push({
        suffix: 'secrets',
        kind: 'Secret',
        rules: [SECRET_CREATE],
        conditions: [ONLY_TOKEN_SECRETS],
        rulesNamed: ['legacy-token-secret'],
        variables: [],
        denials: legacySecretDenials(label, lts),
        mutations: [],
      });
    }
  }

  // token requests
  const tr = p.spec.tokenRequests;
  if (tr && (tr.maxExpirationSeconds !== undefined || tr.allowedAudiences !== undefined)) {
    const exempt = exemptCondition(tr);
    const mutate = (tr.onViolation ?? 'Deny') === 'Mutate' && tr.maxExpirationSeconds !== undefined;
    if (mutate && mode === 'Enforce')
      notes.push('tokenRequests.onViolation: Mutate: the requester is not warned that the token was shortened');
    parts.push({
      suffix: 'token-requests',
      kind: 'TokenRequest',
      rules: [TOKEN_CREATE],
      conditions: [SKIP_KUBELET_POD_TOKENS, ...(exempt ? [exempt] : [])],
      rulesNamed: ['token-request'],
      variables: tokenRequestVariables(api),
      denials: tokenRequestDenials(label, tr, api),
      mutations: mutate && tr.maxExpirationSeconds !== undefined ? [tokenRequestMutation(tr.maxExpirationSeconds)] : [],
    });
  }

  if (mode === 'Audit' && parts.some((x) => x.mutations.length > 0)) {
    notes.push(
      'Audit: only would-be denials are reported (warnings and audit annotations), not the changes the mutating webhook would make',
    );
  }

  const validating: ValidatingObject[] = [];
  const mutating: MutatingObject[] = [];
  for (const part of parts) {
    const name = `${OBJECT_PREFIX}${p.name}-${part.suffix}`;
    const metadata = meta(name, p.name, part.rulesNamed, notes);
    const match = compileMatch(p.spec.match, part.kind);
    const constraints = (rules: readonly ResourceRule[]): MatchResources => ({
      resourceRules: rules.map((r) => ({
        ...r,
        apiGroups: [...r.apiGroups],
        apiVersions: [...r.apiVersions],
        operations: [...r.operations],
        resources: [...r.resources],
      })),
      ...(match.namespaceSelector ? { namespaceSelector: match.namespaceSelector } : {}),
      ...(match.objectSelector ? { objectSelector: match.objectSelector } : {}),
      matchPolicy: 'Equivalent',
    });
    const conditions = [...part.conditions, ...match.matchConditions];
    const valid = part.judges ? `!${part.judges} || size(variables.denials) == 0` : 'size(variables.denials) == 0';
    validating.push({
      apiVersion: VAP_API_VERSION,
      kind: 'ValidatingAdmissionPolicy',
      metadata,
      spec: {
        failurePolicy: 'Fail',
        ...(part.params ? { paramKind: { ...SERVICE_ACCOUNT_PARAM } } : {}),
        matchConstraints: constraints(part.rules),
        ...(conditions.length > 0 ? { matchConditions: conditions.map((c) => ({ ...c })) } : {}),
        variables: [...part.variables.map((v) => ({ ...v })), { name: 'denials', expression: part.denials }],
        validations: [
          {
            expression: valid,
            messageExpression: "'tokenguard: ' + variables.denials.join('; ')",
            message: `tokenguard: policy ${p.name} denies this request`,
            reason: 'Forbidden',
          },
        ],
      },
    });
    validating.push({
      apiVersion: VAP_API_VERSION,
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata: meta(name, p.name, part.rulesNamed, notes),
      spec: {
        policyName: name,
        validationActions: mode === 'Enforce' ? ['Deny'] : ['Warn', 'Audit'],
        ...(part.params ? { paramRef: { ...EVERY_SERVICE_ACCOUNT, selector: {} } } : {}),
      },
    });
    if (mode === 'Enforce' && part.mutations.length > 0) {
      const mutations: Mutation[] = part.mutations.map((expression) => ({
        patchType: 'JSONPatch',
        jsonPatch: { expression },
      }));
      const mutateConditions = conditions.filter((c) => c.name !== 'only-service-account-token-secrets');
      mutating.push({
        apiVersion: MAP_API_VERSION,
        kind: 'MutatingAdmissionPolicy',
        metadata: meta(name, p.name, part.rulesNamed, notes),
        spec: {
          // Best effort, as the mutating webhook: the validating policy judges the result.
          failurePolicy: 'Ignore',
          reinvocationPolicy: 'IfNeeded',
          ...(part.params ? { paramKind: { ...SERVICE_ACCOUNT_PARAM } } : {}),
          matchConstraints: constraints(part.mutateRules ?? part.rules),
          ...(mutateConditions.length > 0 ? { matchConditions: mutateConditions.map((c) => ({ ...c })) } : {}),
          variables: (part.mutateVariables ?? part.variables).map((v) => ({ ...v })),
          mutations,
        },
      });
      mutating.push({
        apiVersion: MAP_API_VERSION,
        kind: 'MutatingAdmissionPolicyBinding',
        metadata: meta(name, p.name, part.rulesNamed, notes),
        spec: { policyName: name, ...(part.params ? { paramRef: { ...EVERY_SERVICE_ACCOUNT, selector: {} } } : {}) },
      });
    }
  }
  return { policy: p.name, mode, validating, mutating, notExported: notes };
}

function meta(name: string, policy: string, rules: readonly string[], notes: readonly string[]): Metadata {
  return {
    name,
    labels: { ...LABELS },
    annotations: {
      [ANNOTATION_POLICY]: policy,
      [ANNOTATION_RULES]: rules.join(', '),
      ...(notes.length > 0 ? { [ANNOTATION_NOT_EXPORTED]: notes.join('; ') } : {}),
    },
  };
}

/**
 * This policy's injections (src/engine/rules/inject.ts `planInjections`), each with the CEL
 * guard that skips it where an earlier policy (in name order, of the same mode) that claims the
 * same volume name applies: that claim stands, as in the engine.
 */
function planOwnInjections(
  p: TokenPolicy,
  all: readonly TokenPolicy[],
  notes: string[],
): { inj: Injection; guard: string }[] {
  const out: { inj: Injection; guard: string }[] = [];
  const earlier = all.filter((q) => q.spec.mode === p.spec.mode && byName(q, p) < 0);
  for (const raw of p.spec.projectedTokens?.inject ?? []) {
    const inj = injectionOf(raw);
    if (out.some((o) => o.inj.volumeName === inj.volumeName)) {
      notes.push(
        `inject-token: volume ${inj.volumeName} is injected twice; the later injection is skipped (no warning)`,
      );
      continue;
    }
    const claimers = earlier.filter((q) =>
      (q.spec.projectedTokens?.inject ?? []).some((i) => i.volumeName === inj.volumeName),
    );
    if (claimers.length > 0) {
      notes.push(
        `inject-token: volume ${inj.volumeName} is also injected by ${claimers.map((q) => q.name).join(', ')}, whose injection stands where it applies (no warning about a conflict)`,
      );
    }
    out.push({ inj, guard: allOf(claimers.map((q) => not(matchCel(q, 'Pod')))) });
  }
  return out;
}

/** Every object of the result, validating ones or mutating ones, in order. */
export function exportedObjects(
  result: ExportResult,
  which: 'validating' | 'mutating',
): (ValidatingObject | MutatingObject)[] {
  return result.policies.flatMap((p): (ValidatingObject | MutatingObject)[] =>
    which === 'validating' ? [...p.validating] : [...p.mutating],
  );
}
