/**
 * The workload that owns a pod: its controller, and that controller's controller when the first
 * is a ReplicaSet or a Job (Deployment → ReplicaSet → Pod, CronJob → Job → Pod). Pods without a
 * controller are their own workload. Pure; the index holds one entry per owned ReplicaSet and
 * Job, whatever the number of pods.
 */
import { isObject, type JsonObject, objectAt, stringAt } from '../json.js';
import { type ObjectRef, key } from './inventory.js';

/** Kinds whose own controller is the workload worth naming. */
const INTERMEDIATE_KINDS = new Set(['ReplicaSet', 'Job']);

/** The controller owner reference of an object's metadata (`controller: true`), if any. */
export function controllerOf(metadata: JsonObject | undefined, namespace: string): ObjectRef | undefined {
  const refs = metadata?.ownerReferences;
  if (!Array.isArray(refs)) return undefined;
  for (const r of refs) {
    if (!isObject(r) || r.controller !== true) continue;
    const kind = stringAt(r, 'kind');
    const name = stringAt(r, 'name');
    if (!kind || !name) continue;
    return {
      apiVersion: stringAt(r, 'apiVersion') ?? '',
      kind,
      namespace,
      name,
      ...(stringAt(r, 'uid') ? { uid: stringAt(r, 'uid') } : {}),
    };
  }
  return undefined;
}

/** ReplicaSet → Deployment (or whatever controls it) and Job → CronJob, by `kind/ns/name`. */
export class OwnerIndex {
  readonly #owners = new Map<string, ObjectRef>();

  /** Number of ReplicaSets and Jobs known to have a controller. */
  get size(): number {
    return this.#owners.size;
  }

  /** Records a listed ReplicaSet or Job (only those with a controller are kept). */
  add(kind: 'ReplicaSet' | 'Job', object: JsonObject): void {
    const md = objectAt(object, 'metadata');
    const namespace = stringAt(md, 'namespace') ?? '';
    const name = stringAt(md, 'name');
    const owner = controllerOf(md, namespace);
    if (name && owner) this.#owners.set(`${kind}/${key(namespace, name)}`, owner);
  }

  /** Drops everything (a list that starts again). */
  clear(): void {
    this.#owners.clear();
  }

  /**
   * The workload of a pod: the pod's controller, or the controller of that ReplicaSet or Job
   * when it has one; the pod itself when it has no controller.
   */
  workloadOf(pod: JsonObject): ObjectRef {
    const md = objectAt(pod, 'metadata');
    const namespace = stringAt(md, 'namespace') ?? '';
    const direct = controllerOf(md, namespace);
    if (!direct)
      return {
        apiVersion: 'v1',
        kind: 'Pod',
        namespace,
        name: stringAt(md, 'name') ?? '',
        ...(stringAt(md, 'uid') ? { uid: stringAt(md, 'uid') } : {}),
      };
    if (INTERMEDIATE_KINDS.has(direct.kind) && /^(apps|batch)\//.test(direct.apiVersion)) {
      const up = this.#owners.get(`${direct.kind}/${key(namespace, direct.name)}`);
      if (up) return up;
    }
    return direct;
  }

  /** The controller of a listed ReplicaSet or Job, if it has one. */
  ownerOf(kind: 'ReplicaSet' | 'Job', namespace: string, name: string): ObjectRef | undefined {
    return this.#owners.get(`${kind}/${key(namespace, name)}`);
  }
}

/** `Kind/ns/name`: the key of a workload in the scan's tables. */
export function workloadKey(ref: Pick<ObjectRef, 'kind' | 'namespace' | 'name'>): string {
  return `${ref.kind}/${ref.namespace}/${ref.name}`;
}
