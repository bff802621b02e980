/**
 * The in-memory facts of a cluster: ServiceAccounts by `ns/name`, Namespaces by name and the
 * binding index, fed object by object (informer events, or generated objects in the
 * benchmark). Every lookup is O(1) whatever the cluster size. No I/O, no clock.
 */
import { SERVICE_ACCOUNT_NAME_ANNOTATION } from '../constants.js';
import { type JsonObject, objectAt, stringAt, stringIn } from '../json.js';
import type { ClusterFacts, NamespaceFacts, ServiceAccountFacts } from '../engine/types.js';
import {
  BindingIndex,
  type BindingKind,
  bindingId,
  serviceAccountKey,
  toBindingFacts,
  toNamespaceFacts,
  toServiceAccountFacts,
} from './project.js';

/** The four kinds the facts come from, by their API resource name (also the metrics label). */
export type FactsResource = 'serviceaccounts' | 'namespaces' | 'rolebindings' | 'clusterrolebindings';

/**
 * What an informer may watch: the four fact kinds, and, opted into (`serve --watch-token-secrets`),
 * the metadata of legacy token Secrets (rule legacy-token-mount).
 */
export type InformerResource = FactsResource | 'secrets';

/** Every {@link FactsResource}, in a fixed order. */
export const FACTS_RESOURCES: readonly FactsResource[] = [
  'serviceaccounts',
  'namespaces',
  'rolebindings',
  'clusterrolebindings',
];

/**
 * At most this many bindings are listed in `boundBy` (the engine quotes three): a lookup does
 * bounded work even for a ServiceAccount named by thousands of bindings.
 */
export const MAX_BOUND_BY = 16;

/** The binding kind of a binding resource. */
function bindingKindOf(resource: InformerResource): BindingKind | undefined {
  return resource === 'rolebindings'
    ? 'RoleBinding'
    : resource === 'clusterrolebindings'
      ? 'ClusterRoleBinding'
      : undefined;
}

/** The `kind` of the objects of a resource. */
export function kindOf(resource: InformerResource): string {
  switch (resource) {
    case 'secrets':
      return 'Secret';
    case 'serviceaccounts':
      return 'ServiceAccount';
    case 'namespaces':
      return 'Namespace';
    case 'rolebindings':
      return 'RoleBinding';
    case 'clusterrolebindings':
      return 'ClusterRoleBinding';
  }
}

/**
 * The stripped-down copy of an object that the informer cache keeps (the EKS webhook's
 * `stripDownServiceAccount` idea): name, namespace and resourceVersion (which the cache needs
 * to diff a relist), plus exactly what the facts read, as `project.ts` reads it: a
 * ServiceAccount's annotations and automount flag, a Namespace's labels, and the subject keys
 * of a binding (computed once on arrival). Everything else (managedFields, secrets, roleRef,
 * other subjects...) is dropped on arrival. A ServiceAccount or Namespace entry is itself a
 * (small) API object, so the store projects it with the same `project.ts` functions as any
 * other, sharing its maps and arrays rather than copying them.
 */
export interface CachedObject {
  metadata: {
    name: string;
    namespace?: string;
    resourceVersion?: string;
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
  };
  automountServiceAccountToken?: boolean;
  subjectKeys?: readonly string[];
}

/** The token Secrets of one namespace: name to the ServiceAccount it names ('' for none). */
const NO_TOKEN_SECRETS: ReadonlyMap<string, string> = new Map();

/** Projects an API object (plain JSON, as listed or watched) for the cache, by the rules of `project.ts`. */
export function projectForCache(resource: InformerResource, obj: JsonObject): CachedObject {
  const md = objectAt(obj, 'metadata');
  const metadata: CachedObject['metadata'] = { name: stringAt(md, 'name') ?? '' };
  const namespace = stringAt(md, 'namespace');
  if (namespace) metadata.namespace = namespace;
  const rv = stringAt(md, 'resourceVersion');
  if (rv) metadata.resourceVersion = rv;
  const out: CachedObject = { metadata };
  if (resource === 'serviceaccounts') {
    const sa = toServiceAccountFacts(obj);
    if (sa && Object.keys(sa.annotations).length > 0) metadata.annotations = sa.annotations;
    if (sa?.automountServiceAccountToken !== undefined)
      out.automountServiceAccountToken = sa.automountServiceAccountToken;
  } else if (resource === 'namespaces') {
    const ns = toNamespaceFacts(obj);
    if (ns && Object.keys(ns.labels).length > 0) metadata.labels = ns.labels;
  } else if (resource === 'secrets') {
    // One annotation, by name; the rest (last-applied-configuration may hold the data) unread.
    const sa = stringIn(objectAt(md, 'annotations'), SERVICE_ACCOUNT_NAME_ANNOTATION);
    if (sa) metadata.annotations = { [SERVICE_ACCOUNT_NAME_ANNOTATION]: sa };
  } else {
    out.subjectKeys = toBindingFacts(bindingKindOf(resource)!, obj)?.keys ?? [];
  }
  return out;
}

/** A cache entry as the API object it is a subset of (what the `project.ts` functions read). */
function asJson(obj: CachedObject): JsonObject {
  return obj as unknown as JsonObject;
}

/** The content of a {@link FactsStore}, for comparisons in tests and diagnostics. */
export interface FactsSnapshot {
  readonly serviceAccounts: Readonly<Record<string, ServiceAccountFacts>>;
  readonly namespaces: Readonly<Record<string, NamespaceFacts>>;
  /** Subject key (`ns/name` or `group:<group>`) to the ids of the bindings naming it. */
  readonly bindings: Readonly<Record<string, string[]>>;
}

/** The facts of a cluster, indexed for O(1) lookups and updated one object at a time. */
export class FactsStore {
  readonly serviceAccounts = new Map<string, ServiceAccountFacts>();
  readonly namespaces = new Map<string, NamespaceFacts>();
  readonly bindings = new BindingIndex();
  /** Legacy token Secrets by namespace, then name, to the ServiceAccount named ('' for none); empty unless watched. */
  readonly tokenSecrets = new Map<string, Map<string, string>>();
  #tokenSecretCount = 0;
  readonly #bindingCount = { rolebindings: 0, clusterrolebindings: 0 };

  /**
   * Adds or replaces one object (an ADDED or MODIFIED event, or an item of a list), as projected
   * for the cache; its facts are those `project.ts` gives. Objects without a name are ignored.
   */
  upsert(resource: InformerResource, obj: CachedObject): void {
    if (resource === 'secrets') {
      const { name, namespace = '' } = obj.metadata;
      if (!name) return;
      let names = this.tokenSecrets.get(namespace);
      if (!names) {
        names = new Map();
        this.tokenSecrets.set(namespace, names);
      }
      if (!names.has(name)) this.#tokenSecretCount++;
      names.set(name, obj.metadata.annotations?.[SERVICE_ACCOUNT_NAME_ANNOTATION] ?? '');
    } else if (resource === 'serviceaccounts') {
      const sa = toServiceAccountFacts(asJson(obj));
      if (sa) this.serviceAccounts.set(serviceAccountKey(sa.namespace, sa.name), sa);
    } else if (resource === 'namespaces') {
      const ns = toNamespaceFacts(asJson(obj));
      if (ns) this.namespaces.set(ns.name, ns);
    } else {
      const id = this.#bindingId(resource, obj);
      if (id === undefined) return;
      const before = this.bindings.size;
      this.bindings.set({ id, keys: obj.subjectKeys ?? [] });
      if (this.bindings.size > before) this.#bindingCount[resource]++;
    }
  }

  /** Removes one object (a DELETED event); unknown objects are ignored. */
  remove(resource: InformerResource, obj: CachedObject): void {
    if (resource === 'secrets') {
      const { name, namespace = '' } = obj.metadata;
      const names = this.tokenSecrets.get(namespace);
      if (!names?.delete(name)) return;
      this.#tokenSecretCount--;
      if (names.size === 0) this.tokenSecrets.delete(namespace);
    } else if (resource === 'serviceaccounts') {
      const sa = toServiceAccountFacts(asJson(obj));
      if (sa) this.serviceAccounts.delete(serviceAccountKey(sa.namespace, sa.name));
    } else if (resource === 'namespaces') {
      const ns = toNamespaceFacts(asJson(obj));
      if (ns) this.namespaces.delete(ns.name);
    } else {
      const id = this.#bindingId(resource, obj);
      if (id === undefined) return;
      const before = this.bindings.size;
      this.bindings.delete(id);
      if (this.bindings.size < before) this.#bindingCount[resource]--;
    }
  }

  /** How many objects of a resource are held. */
  count(resource: InformerResource): number {
    if (resource === 'secrets') return this.#tokenSecretCount;
    if (resource === 'serviceaccounts') return this.serviceAccounts.size;
    if (resource === 'namespaces') return this.namespaces.size;
    return this.#bindingCount[resource];
  }

  /** Everything held, with sorted keys (for tests and diagnostics; O(n)). */
  snapshot(): FactsSnapshot {
    const sorted = <T>(m: ReadonlyMap<string, T>) =>
      Object.fromEntries([...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    return {
      serviceAccounts: sorted(this.serviceAccounts),
      namespaces: sorted(this.namespaces),
      bindings: this.bindings.snapshot(),
    };
  }

  /**
   * A ServiceAccount's facts with its bindings: `bound` and `boundBy` when `bindingsKnown`,
   * neither otherwise (unknown: the policy's `whenUnknown` decides). Built field by field:
   * object spread costs more than the rest of a lookup together.
   */
  withBindings(sa: ServiceAccountFacts, bindingsKnown: boolean, key?: string): ServiceAccountFacts {
    if (!bindingsKnown) return sa;
    const by = this.bindings.boundBy(sa.namespace, sa.name, MAX_BOUND_BY, key);
    const out: Mutable<ServiceAccountFacts> = {
      namespace: sa.namespace,
      name: sa.name,
      annotations: sa.annotations,
      bound: by.length > 0,
    };
    if (sa.automountServiceAccountToken !== undefined)
      out.automountServiceAccountToken = sa.automountServiceAccountToken;
    if (by.length > 0) out.boundBy = by;
    return out;
  }

  /** The facts to answer with, from what was found (the cache, or a direct read). */
  facts(
    sa: ServiceAccountFacts | undefined,
    ns: NamespaceFacts | undefined,
    bindingsKnown: boolean,
    key?: string,
  ): ClusterFacts {
    const out: Mutable<ClusterFacts> = {};
    if (sa) out.serviceAccount = this.withBindings(sa, bindingsKnown, key);
    if (ns) out.namespace = ns;
    return out;
  }

  /** A binding's index id (`bindingId` of `project.ts`, which also ignores a ClusterRoleBinding's namespace). */
  /** The token Secrets of a namespace (name to ServiceAccount); empty when none are held. */
  tokenSecretsIn(namespace: string): ReadonlyMap<string, string> {
    return this.tokenSecrets.get(namespace) ?? NO_TOKEN_SECRETS;
  }

  #bindingId(resource: 'rolebindings' | 'clusterrolebindings', obj: CachedObject): string | undefined {
    const { name, namespace = '' } = obj.metadata;
    return name ? bindingId(bindingKindOf(resource)!, namespace, name) : undefined;
  }

  /**
   * The cache-hit path of a lookup: the facts when the namespace and (if asked for) the
   * ServiceAccount are both held, undefined otherwise (the caller then tries harder).
   */
  lookup(namespace: string, serviceAccount: string | undefined, bindingsKnown: boolean): ClusterFacts | undefined {
    const ns = this.namespaces.get(namespace);
    if (!ns) return undefined;
    if (serviceAccount === undefined) return { namespace: ns };
    const key = serviceAccountKey(namespace, serviceAccount);
    const sa = this.serviceAccounts.get(key);
    return sa ? this.facts(sa, ns, bindingsKnown, key) : undefined;
  }
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
