/**
 * What `tokenguard scan` reads from the cluster, over the own client of `src/kube`. Read-only:
 * list requests only, plus two single reads that are not Secrets (`/version`, and the ConfigMap
 * that dates legacy-token tracking). Every list is paged (`limit`/`continue`), each page handed
 * to a projection and dropped, so memory follows the number of workloads, not of pods.
 *
 * | order | what                                  | kept                                                   |
 * |-------|---------------------------------------|--------------------------------------------------------|
 * | 1     | Namespaces, ServiceAccounts, RoleBindings, ClusterRoleBindings | the facts the dry run needs (inventory.ts) |
 * | 2     | Secrets of type `kubernetes.io/service-account-token`, as metadata only (`PartialObjectMetadataList`) | name, uid, dates, the ServiceAccount and the two legacy-token labels |
 * | 3     | Deployments, StatefulSets, DaemonSets, ReplicaSets, ReplicationControllers, Jobs, CronJobs | ReplicaSet/Job owners; the objects whose template uses a legacy token Secret |
 * | 4     | Pods, page by page                     | the workload table (workloads.ts)                      |
 *
 * Secrets are never read with their data: the only Secret request is that metadata list, and
 * the API server then sends no `data` (test/unit/scan/collect.test.ts and the e2e check the
 * requests themselves).
 */
import { type JsonObject, objectAt, stringAt } from '../json.js';
import { KubeApiError, type KubeClient } from '../kube/client.js';
import type { TokenPolicy } from '../policy/types.js';
import { createPodEvaluator, type PodEvaluator } from './admission.js';
import type { Tracking } from './cleaner.js';
import { METADATA_LIST_ACCEPT, TOKEN_SECRET_FIELD_SELECTOR, TRACKING_CONFIGMAP } from './constants.js';
import { parseDay } from './dates.js';
import { FactsIndex } from './facts-index.js';
import { key, type TokenSecret, toBindingFact, toNamespaceFact, toServiceAccount, toTokenSecret } from './inventory.js';
import { controllerOf, OwnerIndex } from './owners.js';
import { TEMPLATE_PATHS } from './plan.js';
import { secretUses } from '../engine/secret-uses.js';
import { WorkloadTable } from './workloads.js';

/** Progress of the listing, for the line on a terminal. */
export interface Progress {
  readonly resource: string;
  readonly pages: number;
  /** Objects of this resource so far. */
  readonly objects: number;
  /** Objects of every resource so far. */
  readonly total: number;
  readonly elapsedMs: number;
}

export interface CollectOptions {
  readonly client: KubeClient;
  /** Only this namespace (`--namespace`); every namespace when undefined. */
  readonly namespace?: string;
  readonly pageSize: number;
  /** Deadline of each request. */
  readonly requestTimeoutMs: number;
  readonly policies: readonly TokenPolicy[];
  readonly apiAudiences?: readonly string[];
  readonly signal?: AbortSignal;
  /** Milliseconds, for progress rates (default `performance.now`). */
  readonly clock?: () => number;
  readonly onProgress?: (p: Progress) => void;
}

export interface Collected {
  readonly version: string | null;
  readonly tracking: Tracking;
  readonly secrets: readonly TokenSecret[];
  readonly facts: FactsIndex;
  readonly table: WorkloadTable;
  readonly evaluator: PodEvaluator;
  readonly namespaces: readonly string[];
  readonly notes: readonly string[];
  /** Requests sent, and objects listed. */
  readonly requests: number;
  readonly objects: number;
}

/** A failure that makes the scan meaningless (exit 2), with a message fit for the command line. */
export class ScanError extends Error {
  override readonly name = 'ScanError';
}

interface Resource {
  readonly name: string;
  readonly group: string;
  readonly version: string;
  readonly namespaced: boolean;
}

const core = (name: string, namespaced = true): Resource => ({ name, group: '', version: 'v1', namespaced });
const WORKLOADS: readonly (Resource & { readonly kind: string })[] = [
  { name: 'deployments', group: 'apps', version: 'v1', namespaced: true, kind: 'Deployment' },
  { name: 'statefulsets', group: 'apps', version: 'v1', namespaced: true, kind: 'StatefulSet' },
  { name: 'daemonsets', group: 'apps', version: 'v1', namespaced: true, kind: 'DaemonSet' },
  { name: 'replicasets', group: 'apps', version: 'v1', namespaced: true, kind: 'ReplicaSet' },
  { name: 'replicationcontrollers', group: '', version: 'v1', namespaced: true, kind: 'ReplicationController' },
  { name: 'jobs', group: 'batch', version: 'v1', namespaced: true, kind: 'Job' },
  { name: 'cronjobs', group: 'batch', version: 'v1', namespaced: true, kind: 'CronJob' },
];

/** The list path of a resource, in one namespace or across all. */
export function listPath(r: Resource, namespace?: string): string {
  const base = r.group === '' ? `/api/${r.version}` : `/apis/${r.group}/${r.version}`;
  return r.namespaced && namespace
    ? `${base}/namespaces/${encodeURIComponent(namespace)}/${r.name}`
    : `${base}/${r.name}`;
}

/** Reads the cluster (table above) and fills the workload table. */
export async function collect(options: CollectOptions): Promise<Collected> {
  const { client, namespace } = options;
  const clock = options.clock ?? (() => performance.now());
  const started = clock();
  const notes: string[] = [];
  let requests = 0;
  let total = 0;

  /**
   * Every page of one list, each item through `onItem`. An expired continue token (410: the
   * list took longer than the API server keeps its snapshot) starts the list over once, after
   * `onRestart` has forgotten what the first attempt added.
   */
  const list = async (
    resource: string,
    path: string,
    query: Record<string, string>,
    onItem: (item: JsonObject) => void,
    extra: { accept?: string; onRestart?: () => void } = {},
  ) => {
    let cont: string | undefined;
    let pages = 0;
    let objects = 0;
    let restarted = false;
    for (;;) {
      let page: JsonObject;
      try {
        requests++;
        page = await client.getJson(
          path,
          { ...query, limit: options.pageSize, continue: cont },
          {
            timeoutMs: options.requestTimeoutMs,
            ...(extra.accept ? { accept: extra.accept } : {}),
            ...(options.signal ? { signal: options.signal } : {}),
          },
        );
      } catch (e) {
        if (cont && !restarted && e instanceof KubeApiError && e.statusCode === 410) {
          restarted = true;
          cont = undefined;
          total -= objects;
          pages = 0;
          objects = 0;
          extra.onRestart?.();
          notes.push(
            `the ${resource} list took longer than the API server keeps a list snapshot; it was read again from the start`,
          );
          continue;
        }
        throw e;
      }
      const items = page.items;
      if (Array.isArray(items)) {
        for (const item of items) {
          if (typeof item !== 'object' || item === null || Array.isArray(item)) continue;
          onItem(item as JsonObject);
          objects++;
          total++;
        }
      }
      pages++;
      options.onProgress?.({ resource, pages, objects, total, elapsedMs: clock() - started });
      const next = stringAt(objectAt(page, 'metadata'), 'continue');
      if (!next) return;
      cont = next;
    }
  };
  const failed = (what: string, e: unknown): ScanError => {
    if (e instanceof KubeApiError && e.statusCode === 403) {
      return new ScanError(
        `cannot ${what}: ${e.message} (grant the ClusterRole tokenguard-scan of deploy/scan, or a Role with the same rules for --namespace)`,
      );
    }
    if (e instanceof KubeApiError && e.statusCode === 401)
      return new ScanError(`cannot ${what}: ${e.message} (the credentials were refused)`);
    return new ScanError(`cannot ${what}: ${(e as Error).message}`);
  };
  const must = async (what: string, f: () => Promise<void>) => {
    try {
      await f();
    } catch (e) {
      throw failed(what, e);
    }
  };

  let version: string | null = null;
  try {
    requests++;
    const v = await client.getJson(
      '/version',
      {},
      { timeoutMs: options.requestTimeoutMs, ...(options.signal ? { signal: options.signal } : {}) },
    );
    version = stringAt(v, 'gitVersion') ?? null;
  } catch (e) {
    // Unreachable is fatal; anything else about /version is not.
    if (!(e instanceof KubeApiError)) throw failed('reach the API server', e);
  }

  const facts = new FactsIndex({ bindingsComplete: true });
  const namespaces: string[] = [];
  await must('list namespaces', () =>
    list(
      'namespaces',
      listPath(core('namespaces', false)),
      namespace ? { fieldSelector: `metadata.name=${namespace}` } : {},
      (item) => {
        const fact = toNamespaceFact(item);
        if (!fact) return;
        facts.addNamespace(fact);
        namespaces.push(stringAt(objectAt(fact, 'metadata'), 'name') as string);
      },
      {
        onRestart: () => {
          facts.clear('namespaces');
          namespaces.length = 0;
        },
      },
    ),
  );
  if (namespace && namespaces.length === 0) throw new ScanError(`namespace ${namespace} does not exist`);

  await must('list serviceaccounts', () =>
    list(
      'serviceaccounts',
      listPath(core('serviceaccounts'), namespace),
      {},
      (item) => {
        const sa = toServiceAccount(item);
        if (sa) facts.addServiceAccount(sa);
      },
      { onRestart: () => facts.clear('serviceaccounts') },
    ),
  );

  // Bindings across the cluster: a RoleBinding in one namespace can bind a ServiceAccount of another.
  const rbac = (name: string, namespaced: boolean): Resource => ({
    name,
    group: 'rbac.authorization.k8s.io',
    version: 'v1',
    namespaced,
  });
  for (const [resource, kind] of [
    ['rolebindings', 'RoleBinding'],
    ['clusterrolebindings', 'ClusterRoleBinding'],
  ] as const) {
    try {
      await list(resource, listPath(rbac(resource, resource === 'rolebindings')), {}, (item) => {
        const b = toBindingFact(kind, item);
        if (b) facts.addBinding(b);
      });
    } catch (e) {
      if (!(e instanceof KubeApiError && e.statusCode === 403)) throw failed(`list ${resource}`, e);
      facts.bindingsComplete = false;
      if (resource === 'rolebindings' && namespace) {
        await must('list rolebindings', () =>
          list(resource, listPath(rbac(resource, true), namespace), {}, (item) => {
            const b = toBindingFact(kind, item);
            if (b) facts.addBinding(b);
          }),
        );
      }
      notes.push(
        `${resource} cannot be listed (${e.message}): RBAC bindings count as unknown, so each policy's automount.needed.whenUnknown decides`,
      );
    }
  }

  const secrets = new Map<string, TokenSecret>();
  await must('list secrets (metadata only)', () =>
    list(
      'secrets',
      listPath(core('secrets'), namespace),
      { fieldSelector: TOKEN_SECRET_FIELD_SELECTOR },
      (item) => {
        const s = toTokenSecret(item);
        if (s) secrets.set(key(s.namespace, s.name), s);
      },
      { accept: METADATA_LIST_ACCEPT, onRestart: () => secrets.clear() },
    ),
  );

  const tracking = await readTracking(client, options);
  requests++;

  const evaluator = createPodEvaluator({
    policies: options.policies,
    facts,
    ...(options.apiAudiences ? { apiAudiences: options.apiAudiences } : {}),
  });
  const isTokenSecret = (ns: string, name: string) => secrets.has(key(ns, name));
  const table = new WorkloadTable({ evaluate: evaluator, isTokenSecret });
  const owners = new OwnerIndex();
  for (const w of WORKLOADS) {
    await must(`list ${w.name}`, () =>
      list(w.name, listPath(w, namespace), {}, (item) => {
        const md = objectAt(item, 'metadata');
        const ns = stringAt(md, 'namespace') ?? '';
        if (w.kind === 'ReplicaSet' || w.kind === 'Job') {
          owners.add(w.kind, item);
          // A ReplicaSet or Job with a controller is judged through that controller's template.
          if (controllerOf(md, ns)) return;
        }
        let template: JsonObject | undefined = item;
        for (const p of TEMPLATE_PATHS[w.kind] ?? []) template = objectAt(template, p);
        const uses = secretUses(objectAt(template, 'spec') ?? {}, (name) => isTokenSecret(ns, name));
        if (uses.length === 0) return;
        const name = stringAt(md, 'name') ?? '';
        table.addTemplate(
          {
            apiVersion: `${w.group ? `${w.group}/` : ''}${w.version}`,
            kind: w.kind,
            namespace: ns,
            name,
            ...(stringAt(md, 'uid') ? { uid: stringAt(md, 'uid') } : {}),
          },
          { apiVersion: `${w.group ? `${w.group}/` : ''}${w.version}`, kind: w.kind, ...item },
          uses,
        );
      }),
    );
  }

  await must('list pods', () =>
    list(
      'pods',
      listPath(core('pods'), namespace),
      {},
      (pod) => {
        table.addPod({ apiVersion: 'v1', kind: 'Pod', ...pod }, owners.workloadOf(pod));
      },
      { onRestart: () => table.resetPods() },
    ),
  );

  return {
    version,
    tracking,
    secrets: [...secrets.values()],
    facts,
    table,
    evaluator,
    namespaces: namespaces.sort(),
    notes,
    requests,
    objects: total,
  };
}

/**
 * The `since` date of legacy-token tracking (docs/scan.md): from the ConfigMap the API server
 * keeps in kube-system. Missing: tracking is off, and so is the cleaner. Unreadable: unknown.
 */
async function readTracking(client: KubeClient, options: CollectOptions): Promise<Tracking> {
  const { namespace, name, key: dataKey } = TRACKING_CONFIGMAP;
  try {
    const cm = await client.getJson(
      `/api/v1/namespaces/${namespace}/configmaps/${name}`,
      {},
      { timeoutMs: options.requestTimeoutMs, ...(options.signal ? { signal: options.signal } : {}) },
    );
    const since = stringAt(objectAt(cm, 'data'), dataKey);
    if (since && parseDay(since) !== undefined) return { state: 'since', since };
    return { state: 'unknown', reason: `ConfigMap ${namespace}/${name} has no valid ${dataKey} date` };
  } catch (e) {
    if (e instanceof KubeApiError && e.statusCode === 404) {
      return {
        state: 'off',
        reason: `legacy-token tracking is off (no ConfigMap ${namespace}/${name}), and the cleaner with it`,
      };
    }
    if (e instanceof KubeApiError)
      return {
        state: 'unknown',
        reason: `ConfigMap ${namespace}/${name} cannot be read (${e.message}); dates assume tracking began more than a period ago`,
      };
    throw e;
  }
}
