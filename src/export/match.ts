/**
 * A policy's `match` (src/engine/match.ts) as the API server matches admission policies:
 * `matchConstraints.namespaceSelector` and `objectSelector` where a label selector says it
 * exactly, `matchConditions` (CEL) for the rest. The API server knows every namespace's labels,
 * so a namespaceSelector never meets the engine's "labels unknown" error here.
 */
import { NAMESPACE_NAME_LABEL, SERVICE_ACCOUNT_NAME_ANNOTATION } from '../constants.js';
import type { LabelSelector, LabelSelectorRequirement, PolicyMatch, TokenPolicy } from '../policy/types.js';
import { allOf, anyOf, globs, not, orDefault, str, strList } from './cel.js';
import type { MatchCondition } from './objects.js';

/** The object kinds the exported policies judge, each with how its ServiceAccount is read. */
export type TargetKind = 'Pod' | 'Secret' | 'TokenRequest';

/** The namespace of the request (pods made by controllers carry it only there). */
export const NAMESPACE = 'request.namespace';

/** The ServiceAccount a pod runs as: `serviceAccountName`, its deprecated alias, else `default`. */
export const POD_SERVICE_ACCOUNT =
  "(has(object.spec.serviceAccountName) && object.spec.serviceAccountName != '' ? object.spec.serviceAccountName : " +
  "(has(object.spec.serviceAccount) && object.spec.serviceAccount != '' ? object.spec.serviceAccount : 'default'))";

const ANNOTATIONS = 'object.metadata.annotations';

/** CEL true when the Secret names a ServiceAccount (a non-empty `kubernetes.io/service-account.name`). */
export const SECRET_HAS_SERVICE_ACCOUNT = `(has(${ANNOTATIONS}) && ${str(SERVICE_ACCOUNT_NAME_ANNOTATION)} in ${ANNOTATIONS} && ${ANNOTATIONS}[${str(SERVICE_ACCOUNT_NAME_ANNOTATION)}] != '')`;
/** The ServiceAccount a Secret names (only read where {@link SECRET_HAS_SERVICE_ACCOUNT} holds). */
export const SECRET_SERVICE_ACCOUNT = `${ANNOTATIONS}[${str(SERVICE_ACCOUNT_NAME_ANNOTATION)}]`;

/** How the ServiceAccount of each kind is read: `known` (CEL bool) and `name` (CEL string). */
export function serviceAccountOf(kind: TargetKind): { known: string; name: string } {
  if (kind === 'Pod') return { known: 'true', name: POD_SERVICE_ACCOUNT };
  if (kind === 'Secret') return { known: SECRET_HAS_SERVICE_ACCOUNT, name: SECRET_SERVICE_ACCOUNT };
  return { known: "request.name != ''", name: 'request.name' };
}

/** `name` matches the ServiceAccount in any namespace, `namespace/name` both parts (src/engine/match.ts). */
export function serviceAccountPatterns(patterns: readonly string[], namespace: string, name: string): string {
  return anyOf(
    patterns.map((p) => {
      const slash = p.indexOf('/');
      if (slash < 0) return globs([p], name);
      return allOf([globs([p.slice(0, slash)], namespace), globs([p.slice(slash + 1)], name)]);
    }),
  );
}

/** A Kubernetes label selector of the API (`metav1.LabelSelector`), as the objects carry it. */
export interface Selector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

/** What the API server is told about a policy's match, for one kind. */
export interface CompiledMatch {
  readonly namespaceSelector?: Selector;
  readonly objectSelector?: Selector;
  readonly matchConditions: MatchCondition[];
}

function isLiteral(pattern: string): boolean {
  return !pattern.includes('*') && !pattern.includes('?');
}

function copySelector(s: LabelSelector): Selector {
  const out: Selector = {};
  if (s.matchLabels && Object.keys(s.matchLabels).length > 0) out.matchLabels = { ...s.matchLabels };
  if (s.matchExpressions && s.matchExpressions.length > 0) {
    out.matchExpressions = s.matchExpressions.map((e) => ({
      key: e.key,
      operator: e.operator,
      ...(e.values ? { values: [...e.values] } : {}),
    }));
  }
  return out;
}

/**
 * Compiles `match` for `kind`. Exact namespace names go into the namespaceSelector (the API
 * server sets `kubernetes.io/metadata.name` on every namespace), globs and ServiceAccounts into
 * matchConditions; the label selectors are passed on as they are.
 */
export function compileMatch(match: PolicyMatch | undefined, kind: TargetKind): CompiledMatch {
  const conditions: MatchCondition[] = [];
  const expressions: NonNullable<Selector['matchExpressions']> = [];
  const exclude = match?.excludeNamespaces ?? [];
  const excludeLiteral = exclude.filter(isLiteral);
  const excludeGlob = exclude.filter((p) => !isLiteral(p));
  if (excludeLiteral.length > 0)
    expressions.push({ key: NAMESPACE_NAME_LABEL, operator: 'NotIn', values: [...new Set(excludeLiteral)] });
  if (excludeGlob.length > 0)
    conditions.push({ name: 'exclude-namespaces', expression: not(globs(excludeGlob, NAMESPACE)) });
  const include = match?.namespaces ?? [];
  if (include.length > 0) {
    if (include.every(isLiteral))
      expressions.push({ key: NAMESPACE_NAME_LABEL, operator: 'In', values: [...new Set(include)] });
    else conditions.push({ name: 'namespaces', expression: globs(include, NAMESPACE) });
  }
  if (match?.serviceAccounts && match.serviceAccounts.length > 0) {
    const sa = serviceAccountOf(kind);
    conditions.push({
      name: 'service-accounts',
      expression: allOf([sa.known, serviceAccountPatterns(match.serviceAccounts, NAMESPACE, sa.name)]),
    });
  }
  const ns = match?.namespaceSelector ? copySelector(match.namespaceSelector) : {};
  if (expressions.length > 0) ns.matchExpressions = [...(ns.matchExpressions ?? []), ...expressions];
  const obj = match?.objectSelector ? copySelector(match.objectSelector) : undefined;
  return {
    ...(Object.keys(ns).length > 0 ? { namespaceSelector: ns } : {}),
    ...(obj && Object.keys(obj).length > 0 ? { objectSelector: obj } : {}),
    matchConditions: conditions,
  };
}

/** CEL for a label selector over the label map `labels` (an expression), as `selectorMatches` evaluates it. */
export function selectorCel(selector: LabelSelector, labels: string): string {
  const terms: string[] = [];
  for (const [k, v] of Object.entries(selector.matchLabels ?? {}))
    terms.push(`(${str(k)} in ${labels} && ${labels}[${str(k)}] == ${str(v)})`);
  for (const e of selector.matchExpressions ?? []) terms.push(requirementCel(e, labels));
  return allOf(terms);
}

function requirementCel(e: LabelSelectorRequirement, labels: string): string {
  const has = `${str(e.key)} in ${labels}`;
  const value = `${labels}[${str(e.key)}]`;
  switch (e.operator) {
    case 'In':
      return `(${has} && ${value} in ${strList(e.values ?? [])})`;
    case 'NotIn':
      return `!(${has} && ${value} in ${strList(e.values ?? [])})`;
    case 'Exists':
      return `(${has})`;
    case 'DoesNotExist':
      return `!(${has})`;
    default:
      return 'false';
  }
}

/**
 * The whole match of `policy` for `kind` as one CEL expression (selectors included, from
 * `object` and `namespaceObject`): for a policy that must know whether another one applies.
 */
export function matchCel(policy: TokenPolicy, kind: TargetKind): string {
  const m = policy.spec.match;
  if (!m) return 'true';
  const terms: string[] = [];
  if (m.excludeNamespaces && m.excludeNamespaces.length > 0) terms.push(not(globs(m.excludeNamespaces, NAMESPACE)));
  if (m.namespaces && m.namespaces.length > 0) terms.push(globs(m.namespaces, NAMESPACE));
  if (m.serviceAccounts && m.serviceAccounts.length > 0) {
    const sa = serviceAccountOf(kind);
    terms.push(allOf([sa.known, serviceAccountPatterns(m.serviceAccounts, NAMESPACE, sa.name)]));
  }
  if (m.objectSelector) terms.push(selectorCel(m.objectSelector, orDefault('object.metadata.labels', '{}')));
  if (m.namespaceSelector)
    terms.push(selectorCel(m.namespaceSelector, orDefault('namespaceObject.metadata.labels', '{}')));
  return allOf(terms);
}
