import { isObject, type JsonObject, stringAt } from '../json.js';
import type { ClusterFacts, NamespaceFacts, ServiceAccountFacts } from '../engine/types.js';
import { BindingIndex, serviceAccountKey, toBindingFacts, toNamespaceFacts, toServiceAccountFacts } from './project.js';
import type { FactsProvider, FactsRequest } from './types.js';

export interface StaticFactsOptions {
  /**
   * Take the given bindings as all there are, so a ServiceAccount none of them names is
   * "not bound". Off by default: absence from a set of manifests proves nothing.
   */
  readonly bindingsComplete?: boolean;
  /** The API server's own audiences (`--api-audience`), given with every answer; default: the engine's. */
  readonly apiAudiences?: readonly string[];
}

/**
 * Facts from plain Kubernetes objects (ServiceAccounts, Namespaces, RoleBindings,
 * ClusterRoleBindings; anything else is ignored), for the CLI, `--no-cluster` and tests.
 * The projection and binding rules are those of `project.ts`, shared with the informers.
 */
export function staticFacts(
  objects: readonly JsonObject[],
  options: StaticFactsOptions = {},
): FactsProvider & {
  readonly serviceAccounts: ReadonlyMap<string, ServiceAccountFacts>;
  readonly namespaces: ReadonlyMap<string, NamespaceFacts>;
} {
  const serviceAccounts = new Map<string, ServiceAccountFacts>();
  const namespaces = new Map<string, NamespaceFacts>();
  // Manifests may repeat a binding (same kind, namespace and name): the union of its subjects counts.
  const bindingKeys = new Map<string, Set<string>>();
  for (const o of objects) {
    if (!isObject(o)) continue;
    const kind = stringAt(o, 'kind');
    if (kind === 'Namespace') {
      const ns = toNamespaceFacts(o);
      if (ns) namespaces.set(ns.name, ns);
    } else if (kind === 'ServiceAccount') {
      const sa = toServiceAccountFacts(o);
      if (sa) serviceAccounts.set(serviceAccountKey(sa.namespace, sa.name), sa);
    } else if (kind === 'RoleBinding' || kind === 'ClusterRoleBinding') {
      const b = toBindingFacts(kind, o);
      if (!b) continue;
      const keys = bindingKeys.get(b.id) ?? new Set<string>();
      for (const k of b.keys) keys.add(k);
      bindingKeys.set(b.id, keys);
    }
  }
  const bindings = new BindingIndex();
  for (const [id, keys] of bindingKeys) bindings.set({ id, keys: [...keys] });

  const audiences = options.apiAudiences ? { apiAudiences: options.apiAudiences } : {};
  const lookup = (req: FactsRequest): ClusterFacts => {
    const namespace = namespaces.get(req.namespace);
    if (req.serviceAccount === undefined) return namespace ? { namespace, ...audiences } : { ...audiences };
    const known = serviceAccounts.get(serviceAccountKey(req.namespace, req.serviceAccount));
    const by = bindings.boundBy(req.namespace, req.serviceAccount);
    const bound = by.length > 0 ? true : options.bindingsComplete ? false : undefined;
    const serviceAccount: ServiceAccountFacts = {
      ...(known ?? { namespace: req.namespace, name: req.serviceAccount, annotations: {} }),
      ...(bound !== undefined ? { bound } : {}),
      ...(by.length > 0 ? { boundBy: by } : {}),
    };
    return { serviceAccount, ...(namespace ? { namespace } : {}), ...audiences };
  };
  return { lookup, serviceAccounts, namespaces };
}
