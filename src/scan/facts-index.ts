/**
 * The cluster facts of the scan (Namespaces, ServiceAccounts, RoleBindings, ClusterRoleBindings),
 * indexed so that the dry run of one pod gets just the objects that can decide it: its
 * Namespace, its ServiceAccount, and the bindings that could name that ServiceAccount. Given all
 * bindings of the cluster, "bound by nothing" is then known (`bindingsComplete`), as
 * `tokenguard serve` knows it from its informers. Pure.
 */
import type { JsonObject } from '../json.js';
import { objectAt, objectsAt, stringAt } from '../json.js';
import { serviceAccountKey, subjectKeys } from '../facts/project.js';
import type { ServiceAccountInfo } from './inventory.js';

export class FactsIndex {
  readonly #namespaces = new Map<string, JsonObject>();
  readonly #serviceAccounts = new Map<string, ServiceAccountInfo>();
  /** Subject key (`ns/name`, `group:...`) → ids of the bindings naming it. */
  readonly #bindings = new Map<string, Set<string>>();
  /** Binding id (`Kind ns/name`) → the binding. */
  readonly #bindingById = new Map<string, JsonObject>();
  /** True when every binding of the cluster was listed, so an unbound ServiceAccount is known to be unbound. */
  bindingsComplete: boolean;

  constructor(options: { readonly bindingsComplete: boolean }) {
    this.bindingsComplete = options.bindingsComplete;
  }

  addNamespace(fact: JsonObject): void {
    const name = stringAt(objectAt(fact, 'metadata'), 'name');
    if (name) this.#namespaces.set(name, fact);
  }

  addServiceAccount(sa: ServiceAccountInfo): void {
    this.#serviceAccounts.set(serviceAccountKey(sa.namespace, sa.name), sa);
  }

  /** Adds a binding; adding the same one again (a list that starts over) replaces it. */
  addBinding(fact: JsonObject): void {
    const ns = fact.kind === 'RoleBinding' ? (stringAt(objectAt(fact, 'metadata'), 'namespace') ?? '') : '';
    const id = `${fact.kind} ${ns}/${stringAt(objectAt(fact, 'metadata'), 'name') ?? ''}`;
    this.#bindingById.set(id, fact);
    const keys = new Set(objectsAt(fact, 'subjects').flatMap((s) => subjectKeys(s, ns)));
    for (const k of keys) {
      const ids = this.#bindings.get(k) ?? new Set<string>();
      ids.add(id);
      this.#bindings.set(k, ids);
    }
  }

  /** Drops one kind of fact (a list that starts again). */
  clear(kind: 'namespaces' | 'serviceaccounts' | 'bindings'): void {
    if (kind === 'namespaces') this.#namespaces.clear();
    else if (kind === 'serviceaccounts') this.#serviceAccounts.clear();
    else {
      this.#bindings.clear();
      this.#bindingById.clear();
    }
  }

  hasNamespace(name: string): boolean {
    return this.#namespaces.has(name);
  }

  namespaceNames(): string[] {
    return [...this.#namespaces.keys()].sort();
  }

  serviceAccount(namespace: string, name: string): ServiceAccountInfo | undefined {
    return this.#serviceAccounts.get(serviceAccountKey(namespace, name));
  }

  /** Every ServiceAccount, in no particular order. */
  serviceAccounts(): IterableIterator<ServiceAccountInfo> {
    return this.#serviceAccounts.values();
  }

  get serviceAccountCount(): number {
    return this.#serviceAccounts.size;
  }

  /** The fact objects that decide a pod of `serviceAccount` in `namespace` (for `runDryRun`). */
  factsFor(namespace: string, serviceAccount: string): JsonObject[] {
    const out: JsonObject[] = [];
    const ns = this.#namespaces.get(namespace);
    if (ns) out.push(ns);
    const sa = this.#serviceAccounts.get(serviceAccountKey(namespace, serviceAccount));
    if (sa) out.push(sa.fact);
    const seen = new Set<string>();
    // The keys the facts' binding index files a ServiceAccount and its two groups under.
    const groups = [`system:serviceaccounts:${namespace}`, 'system:serviceaccounts'].flatMap((name) =>
      subjectKeys({ kind: 'Group', name }, ''),
    );
    for (const k of [serviceAccountKey(namespace, serviceAccount), ...groups]) {
      for (const id of this.#bindings.get(k) ?? []) {
        if (seen.has(id)) continue;
        seen.add(id);
        const b = this.#bindingById.get(id);
        if (b) out.push(b);
      }
    }
    return out;
  }
}
