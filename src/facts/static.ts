import { isObject, type JsonObject, objectAt, objectsAt, stringAt, stringMapAt } from '../engine/json.js';
import type { ClusterFacts, NamespaceFacts, ServiceAccountFacts } from '../engine/types.js';
import type { FactsProvider, FactsRequest } from './types.js';

export interface StaticFactsOptions {
  /**
   * Take the given bindings as all there are, so a ServiceAccount none of them names is
   * "not bound". Off by default: absence from a set of manifests proves nothing.
   */
  readonly bindingsComplete?: boolean;
}

/**
 * Facts from plain Kubernetes objects (ServiceAccounts, Namespaces, RoleBindings,
 * ClusterRoleBindings; anything else is ignored), for the CLI, `--no-cluster` and tests.
 */
export function staticFacts(objects: readonly JsonObject[], options: StaticFactsOptions = {}): FactsProvider & {
  readonly serviceAccounts: ReadonlyMap<string, ServiceAccountFacts>;
  readonly namespaces: ReadonlyMap<string, NamespaceFacts>;
} {
  const serviceAccounts = new Map<string, ServiceAccountFacts>();
  const namespaces = new Map<string, NamespaceFacts>();
  const bindings = new Map<string, string[]>(); // "ns/name" | "group:<g>" -> binding names
  const bind = (key: string, by: string) => {
    const list = bindings.get(key) ?? [];
    list.push(by);
    bindings.set(key, list);
  };
  for (const o of objects) {
    if (!isObject(o)) continue;
    const kind = stringAt(o, 'kind');
    const md = objectAt(o, 'metadata');
    const name = stringAt(md, 'name') ?? '';
    const ns = stringAt(md, 'namespace') ?? '';
    if (kind === 'Namespace' && name) namespaces.set(name, { name, labels: stringMapAt(md, 'labels') });
    else if (kind === 'ServiceAccount' && name) {
      const saNs = ns || 'default';
      const automount = o.automountServiceAccountToken;
      serviceAccounts.set(`${saNs}/${name}`, {
        namespace: saNs,
        name,
        annotations: stringMapAt(md, 'annotations'),
        ...(typeof automount === 'boolean' ? { automountServiceAccountToken: automount } : {}),
      });
    } else if (kind === 'RoleBinding' || kind === 'ClusterRoleBinding') {
      const by = kind === 'RoleBinding' ? `RoleBinding ${ns}/${name}` : `ClusterRoleBinding ${name}`;
      for (const s of objectsAt(o, 'subjects')) {
        for (const key of subjectKeys(s, kind === 'RoleBinding' ? ns : '')) bind(key, by);
      }
    }
  }
  const boundBy = (ns: string, name: string): string[] => [
    ...(bindings.get(`${ns}/${name}`) ?? []),
    ...(bindings.get('group:system:serviceaccounts') ?? []),
    ...(bindings.get(`group:system:serviceaccounts:${ns}`) ?? []),
  ];
  const lookup = (req: FactsRequest): ClusterFacts => {
    const namespace = namespaces.get(req.namespace);
    if (req.serviceAccount === undefined) return namespace ? { namespace } : {};
    const known = serviceAccounts.get(`${req.namespace}/${req.serviceAccount}`);
    const by = boundBy(req.namespace, req.serviceAccount);
    const bound = by.length > 0 ? true : options.bindingsComplete ? false : undefined;
    const serviceAccount: ServiceAccountFacts = {
      ...(known ?? { namespace: req.namespace, name: req.serviceAccount, annotations: {} }),
      ...(bound !== undefined ? { bound } : {}),
      ...(by.length > 0 ? { boundBy: by } : {}),
    };
    return { serviceAccount, ...(namespace ? { namespace } : {}) };
  };
  return { lookup, serviceAccounts, namespaces };
}

/**
 * The keys a binding subject stands for: a ServiceAccount (`ns/name`), the user name a
 * ServiceAccount authenticates as, or one of the ServiceAccount groups.
 */
function subjectKeys(subject: JsonObject, bindingNamespace: string): string[] {
  const kind = stringAt(subject, 'kind');
  const name = stringAt(subject, 'name') ?? '';
  if (kind === 'ServiceAccount') return [`${stringAt(subject, 'namespace') || bindingNamespace}/${name}`];
  if (kind === 'User' && name.startsWith('system:serviceaccount:')) {
    const [ns, sa] = name.slice('system:serviceaccount:'.length).split(':');
    return ns && sa ? [`${ns}/${sa}`] : [];
  }
  if (kind === 'Group' && (name === 'system:serviceaccounts' || name.startsWith('system:serviceaccounts:'))) return [`group:${name}`];
  return [];
}
