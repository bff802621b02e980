/**
 * Pure projections from Kubernetes objects to the small facts the engine reads, and the
 * binding index that answers "does some (Cluster)RoleBinding name this ServiceAccount?" in
 * O(1). Shared by {@link staticFacts} (manifests), the informers (live cluster) and the
 * benchmark, so that all three apply exactly the same rules.
 *
 * Inputs are plain JSON as parsed from a manifest, a list or a watch event.
 */
import { type JsonObject, objectAt, objectsAt, stringAt } from '../json.js';
import type { NamespaceFacts, ServiceAccountFacts } from '../engine/types.js';

/** Prefix of the user name a ServiceAccount authenticates as: `system:serviceaccount:<ns>:<name>`. */
const SERVICE_ACCOUNT_USER_PREFIX = 'system:serviceaccount:';
/** The group every ServiceAccount is in. */
const ALL_SERVICE_ACCOUNTS_GROUP = 'system:serviceaccounts';
/** Prefix of the per-namespace group: `system:serviceaccounts:<ns>`. */
const NAMESPACE_SERVICE_ACCOUNTS_GROUP_PREFIX = 'system:serviceaccounts:';
/**
 * The group the API server adds to every authenticated user, ServiceAccounts included
 * (docs/tokens.md "Groups of a ServiceAccount"): a binding to it binds every ServiceAccount, as
 * one to `system:serviceaccounts` does.
 */
const ALL_AUTHENTICATED_GROUP = 'system:authenticated';

/**
 * ClusterRoles that Kubernetes binds by default and that grant nothing but discovery and
 * public information (non-resource URLs such as `/api`, `/version`, `/.well-known/openid-configuration`,
 * and self-subject reviews). A binding to one of them does not count as "bound": every
 * cluster binds `system:service-account-issuer-discovery` to the group `system:serviceaccounts`
 * (kube-apiserver bootstrap policy), which would otherwise make every ServiceAccount bound and
 * `automount.needed.rbacBound` meaningless. A binding's roleRef cannot change, so this is
 * decided once per binding.
 */
const NON_GRANTING_CLUSTER_ROLES: ReadonlySet<string> = new Set([
  'system:service-account-issuer-discovery',
  'system:discovery',
  'system:basic-user',
  'system:public-info-viewer',
]);

/** The one empty label or annotation map that every object without any shares. */
const EMPTY_MAP: Readonly<Record<string, string>> = Object.freeze({});

/**
 * The string entries of the map at `key` (labels, annotations): the map itself when every value
 * is a string (facts are read-only, so a projected cache entry and the store, or a manifest and
 * its facts, share it rather than hold copies), a copy without the other values otherwise, and
 * {@link EMPTY_MAP} when there is none.
 */
function stringMap(md: JsonObject | undefined, key: string): Readonly<Record<string, string>> {
  const map = objectAt(md, key);
  if (!map) return EMPTY_MAP;
  const entries = Object.entries(map);
  const strings = entries.filter((e): e is [string, string] => typeof e[1] === 'string');
  if (strings.length === 0) return EMPTY_MAP;
  return strings.length === entries.length ? (map as Record<string, string>) : Object.fromEntries(strings);
}

/** The kinds of binding that can name a ServiceAccount. */
export type BindingKind = 'RoleBinding' | 'ClusterRoleBinding';

/** The key of a ServiceAccount in every map: `namespace/name`. */
export function serviceAccountKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

/** The key of a group subject in the binding index. */
function groupKey(group: string): string {
  return `group:${group}`;
}

/**
 * How a binding is named in `boundBy` and reports: `RoleBinding ns/name` or
 * `ClusterRoleBinding name`. Unique per binding, so it is also the binding's index key.
 */
export function bindingId(kind: BindingKind, namespace: string, name: string): string {
  return kind === 'RoleBinding' ? `RoleBinding ${namespace}/${name}` : `ClusterRoleBinding ${name}`;
}

/**
 * The index keys a binding subject stands for: a ServiceAccount (`ns/name`), the user name a
 * ServiceAccount authenticates as (same key), or one of the two ServiceAccount groups
 * (`group:system:serviceaccounts`, `group:system:serviceaccounts:<ns>`). `system:authenticated`,
 * which every ServiceAccount is in too, counts as `system:serviceaccounts` (its default bindings,
 * to discovery roles, grant nothing: {@link NON_GRANTING_CLUSTER_ROLES}). Other subjects (people,
 * other groups) name no ServiceAccount and give no key.
 *
 * @param bindingNamespace the RoleBinding's namespace (a ServiceAccount subject without a
 *   namespace means that one); empty for ClusterRoleBindings.
 */
export function subjectKeys(subject: JsonObject, bindingNamespace: string): string[] {
  const kind = stringAt(subject, 'kind');
  const name = stringAt(subject, 'name') ?? '';
  if (kind === 'ServiceAccount') return [serviceAccountKey(stringAt(subject, 'namespace') || bindingNamespace, name)];
  if (kind === 'User' && name.startsWith(SERVICE_ACCOUNT_USER_PREFIX)) {
    const [ns, sa] = name.slice(SERVICE_ACCOUNT_USER_PREFIX.length).split(':');
    return ns && sa ? [serviceAccountKey(ns, sa)] : [];
  }
  if (
    kind === 'Group' &&
    (name === ALL_SERVICE_ACCOUNTS_GROUP || name.startsWith(NAMESPACE_SERVICE_ACCOUNTS_GROUP_PREFIX))
  ) {
    return [groupKey(name)];
  }
  if (kind === 'Group' && name === ALL_AUTHENTICATED_GROUP) return [groupKey(ALL_SERVICE_ACCOUNTS_GROUP)];
  return [];
}

/**
 * The ServiceAccount facts of a ServiceAccount object: namespace, name, every annotation (and
 * nothing else of its metadata), and `automountServiceAccountToken` when it is a boolean.
 * Bindings are not known here; {@link BindingIndex} adds them at lookup time.
 *
 * @param defaultNamespace used when the object has none (manifests); the API always sets one.
 */
export function toServiceAccountFacts(sa: JsonObject, defaultNamespace = 'default'): ServiceAccountFacts | undefined {
  const md = objectAt(sa, 'metadata');
  const name = stringAt(md, 'name');
  if (!name) return undefined;
  const automount = sa.automountServiceAccountToken;
  return {
    namespace: stringAt(md, 'namespace') || defaultNamespace,
    name,
    annotations: stringMap(md, 'annotations'),
    ...(typeof automount === 'boolean' ? { automountServiceAccountToken: automount } : {}),
  };
}

/** The facts of a Namespace object: its name and labels. */
export function toNamespaceFacts(ns: JsonObject): NamespaceFacts | undefined {
  const md = objectAt(ns, 'metadata');
  const name = stringAt(md, 'name');
  return name ? { name, labels: stringMap(md, 'labels') } : undefined;
}

/** What the binding index keeps of one binding: its id and the keys its subjects stand for. */
export interface BindingFacts {
  readonly id: string;
  readonly keys: readonly string[];
}

/**
 * The index entry of a RoleBinding or ClusterRoleBinding: subjects reduced to keys,
 * deduplicated; none when the binding grants a role of {@link NON_GRANTING_CLUSTER_ROLES}.
 */
export function toBindingFacts(kind: BindingKind, binding: JsonObject): BindingFacts | undefined {
  const md = objectAt(binding, 'metadata');
  const name = stringAt(md, 'name');
  if (!name) return undefined;
  const ns = kind === 'RoleBinding' ? (stringAt(md, 'namespace') ?? '') : '';
  const id = bindingId(kind, ns, name);
  const roleRef = objectAt(binding, 'roleRef');
  if (stringAt(roleRef, 'kind') === 'ClusterRole' && NON_GRANTING_CLUSTER_ROLES.has(stringAt(roleRef, 'name') ?? ''))
    return { id, keys: [] };
  const keys = new Set<string>();
  for (const s of objectsAt(binding, 'subjects')) for (const k of subjectKeys(s, ns)) keys.add(k);
  return { id, keys: [...keys] };
}

/**
 * Which bindings name which ServiceAccounts, maintained incrementally: subject key -> the set
 * of binding ids, plus each binding's current keys, so an update first removes the keys the
 * binding had and a delete removes exactly what it added. Setting the same binding twice is
 * harmless (no duplicates can arise), which is what makes a relist safe.
 *
 * A lookup reads at most three sets (the ServiceAccount's own key, its namespace's group and
 * the all-ServiceAccounts group) whatever the number of bindings in the cluster; the group
 * sets are kept apart so that a lookup builds one key string, not three.
 */
export class BindingIndex {
  /** `ns/name` -> binding ids. */
  readonly #direct = new Map<string, Set<string>>();
  /** namespace -> ids of the bindings naming `system:serviceaccounts:<namespace>`. */
  readonly #namespaceGroups = new Map<string, Set<string>>();
  /** ids of the bindings naming `system:serviceaccounts`. */
  readonly #allGroup = new Set<string>();
  readonly #byBinding = new Map<string, readonly string[]>();

  /** Number of bindings indexed (including those that name no ServiceAccount). */
  get size(): number {
    return this.#byBinding.size;
  }

  /** Adds a binding, or replaces what was known of it. */
  set(binding: BindingFacts): void {
    this.delete(binding.id);
    this.#byBinding.set(binding.id, binding.keys);
    for (const key of binding.keys) this.#setOf(key, true)!.add(binding.id);
  }

  /** Forgets a binding; unknown ids are ignored. */
  delete(id: string): void {
    const old = this.#byBinding.get(id);
    if (!old) return;
    this.#byBinding.delete(id);
    for (const key of old) {
      const ids = this.#setOf(key, false);
      if (!ids) continue;
      ids.delete(id);
      if (ids.size === 0) {
        if (key.startsWith(NS_GROUP_KEY_PREFIX)) this.#namespaceGroups.delete(key.slice(NS_GROUP_KEY_PREFIX.length));
        else if (key !== ALL_GROUP_KEY) this.#direct.delete(key);
      }
    }
  }

  /** True when some binding names this ServiceAccount, directly or through its groups. O(1). */
  isBound(namespace: string, name: string): boolean {
    return (
      this.#allGroup.size > 0 ||
      this.#namespaceGroups.has(namespace) ||
      this.#direct.has(serviceAccountKey(namespace, name))
    );
  }

  /**
   * The bindings that name this ServiceAccount: direct ones first, then those of
   * `system:serviceaccounts`, then `system:serviceaccounts:<ns>`, each once, in the order they
   * were indexed; at most `limit` of them. `key` saves building `ns/name` again when the
   * caller has it.
   */
  boundBy(
    namespace: string,
    name: string,
    limit = Number.POSITIVE_INFINITY,
    key = serviceAccountKey(namespace, name),
  ): string[] {
    const direct = this.#direct.get(key);
    const nsGroup = this.#namespaceGroups.get(namespace);
    const all = this.#allGroup.size > 0 ? this.#allGroup : undefined;
    if (!nsGroup && !all) {
      if (!direct) return [];
      if (direct.size <= limit) return [...direct];
    }
    const out: string[] = [];
    const seen = new Set<string>();
    for (const ids of [direct, all, nsGroup]) {
      if (!ids) continue;
      for (const id of ids) {
        if (out.length >= limit) return out;
        if (seen.has(id)) continue;
        seen.add(id);
        out.push(id);
      }
    }
    return out;
  }

  /** The ids indexed under one subject key (for tests and diagnostics). */
  bindingsFor(key: string): string[] {
    return [...(this.#setOf(key, false) ?? [])];
  }

  /** Every subject key and its binding ids, sorted (for tests and diagnostics). */
  snapshot(): Record<string, string[]> {
    const entries: [string, Set<string>][] = [...this.#direct.entries()];
    for (const [ns, ids] of this.#namespaceGroups) entries.push([NS_GROUP_KEY_PREFIX + ns, ids]);
    if (this.#allGroup.size > 0) entries.push([ALL_GROUP_KEY, this.#allGroup]);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return Object.fromEntries(entries.map(([k, ids]) => [k, [...ids].sort()]));
  }

  #setOf(key: string, create: boolean): Set<string> | undefined {
    if (key === ALL_GROUP_KEY) return this.#allGroup;
    const [map, k] = key.startsWith(NS_GROUP_KEY_PREFIX)
      ? [this.#namespaceGroups, key.slice(NS_GROUP_KEY_PREFIX.length)]
      : [this.#direct, key];
    let ids = map.get(k);
    if (!ids && create) {
      ids = new Set();
      map.set(k, ids);
    }
    return ids;
  }
}

const ALL_GROUP_KEY = groupKey(ALL_SERVICE_ACCOUNTS_GROUP);
const NS_GROUP_KEY_PREFIX = groupKey(NAMESPACE_SERVICE_ACCOUNTS_GROUP_PREFIX);
