import type { TokenPolicy } from '../policy/types.js';
import { NAMESPACE_NAME_LABEL } from '../constants.js';
import { anyGlob } from '../glob.js';
import { stringIn } from '../json.js';
import { type LabelReader, selectorKeys, selectorMatches } from './selector.js';
import type { NamespaceFacts } from './types.js';

/** What match rules read of an object. */
export interface MatchSubject {
  readonly namespace: string;
  /** The object's labels, read in place (the object's map may be huge; only selector keys are read). */
  readonly label: LabelReader;
  /** The ServiceAccount the object belongs to (a pod's, or the one a token Secret names). */
  readonly serviceAccount: string | undefined;
  readonly namespaceFacts: NamespaceFacts | undefined;
}

export type MatchOutcome = { readonly matched: boolean } | { readonly error: string };

/**
 * Decides whether a policy applies to an object. The order below is the documented precedence:
 *
 * | step | field               | effect                                                        |
 * |------|---------------------|---------------------------------------------------------------|
 * | 1    | excludeNamespaces   | a match excludes, whatever follows                             |
 * | 2    | namespaces          | when set, the namespace must match one glob                   |
 * | 3    | serviceAccounts     | when set, `name` or `namespace/name` must match one glob      |
 * | 4    | objectSelector      | the object's labels                                           |
 * | 5    | namespaceSelector   | the namespace's labels; unknown labels are an error, not a miss|
 *
 * A selector that only reads `kubernetes.io/metadata.name` is answered without facts, since the
 * control plane sets that label to the namespace name.
 */
export function matchPolicy(policy: TokenPolicy, subject: MatchSubject): MatchOutcome {
  const m = policy.spec.match;
  if (!m) return { matched: true };
  const ns = subject.namespace;
  if (!matchesScope(policy, ns, subject.serviceAccount)) return { matched: false };
  if (m.objectSelector && !selectorMatches(m.objectSelector, subject.label)) return { matched: false };
  if (m.namespaceSelector) {
    const labels = subject.namespaceFacts?.labels;
    if (!labels) {
      const onlyName = selectorKeys(m.namespaceSelector).every((k) => k === NAMESPACE_NAME_LABEL);
      if (!onlyName)
        return { error: `labels of namespace "${ns}" are unknown, so namespaceSelector cannot be evaluated` };
    }
    if (!selectorMatches(m.namespaceSelector, (k) => (k === NAMESPACE_NAME_LABEL ? ns : stringIn(labels, k))))
      return { matched: false };
  }
  return { matched: true };
}

/**
 * The name-based part of `match`: `excludeNamespaces`, `namespaces` and `serviceAccounts` (an
 * unknown ServiceAccount matches no `serviceAccounts` list). Label selectors are not looked at.
 */
export function matchesScope(policy: TokenPolicy, namespace: string, serviceAccount: string | undefined): boolean {
  const m = policy.spec.match;
  if (!m) return true;
  if (anyGlob(m.excludeNamespaces, namespace)) return false;
  if (m.namespaces && m.namespaces.length > 0 && !anyGlob(m.namespaces, namespace)) return false;
  if (m.serviceAccounts && m.serviceAccounts.length > 0) {
    if (serviceAccount === undefined) return false;
    if (!m.serviceAccounts.some((p) => serviceAccountPatternMatches(p, namespace, serviceAccount))) return false;
  }
  return true;
}

/** `name` matches the ServiceAccount name in any namespace; `namespace/name` both parts. Globs allowed. */
export function serviceAccountPatternMatches(pattern: string, namespace: string, name: string): boolean {
  const slash = pattern.indexOf('/');
  if (slash < 0) return anyGlob([pattern], name);
  return anyGlob([pattern.slice(0, slash)], namespace) && anyGlob([pattern.slice(slash + 1)], name);
}
