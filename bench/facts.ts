/**
 * Cluster-facts benchmark: memory and lookup time with 10,000 ServiceAccounts and 20,000
 * bindings (plus 200 Namespaces), generated and fed the way the informers feed them (the
 * cache-projection of `store.ts`, the informer's cache by namespace/name with its
 * resourceVersion check, `FactsStore`), no network. Not a test; run with `npx tsx bench/facts.ts`.
 *
 * Memory is the V8 heap retained after a full GC (`heapUsed` deltas; GC is exposed at run time
 * if the process was not started with --expose-gc), next to what keeping the full objects
 * would cost (what a plain `makeInformer` cache holds). Lookup time is ns per lookup over
 * 1,000,000 lookups of the cache-hit path (namespace, ServiceAccount and its bindings), next to
 * a plain `Map.get` in the same run.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { ClusterFacts } from '../src/engine/types.js';
import { serviceAccountKey } from '../src/facts/project.js';
import {
  type CachedObject,
  FACTS_RESOURCES,
  type FactsResource,
  FactsStore,
  projectForCache,
} from '../src/facts/store.js';
import type { JsonObject } from '../src/json.js';

const SERVICE_ACCOUNTS = 10_000;
const NAMESPACES = 200;
const BINDINGS = 20_000;
const LOOKUPS = Number(process.env.LOOKUPS ?? 1_000_000);

const gc: () => void = (() => {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) return g;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();

function heap(): number {
  for (let i = 0; i < 4; i++) gc();
  return process.memoryUsage().heapUsed;
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

// ------------------------------------------------------------------ generated cluster
let rv = 1000;
const meta = (name: string, namespace?: string, extra: JsonObject = {}): JsonObject => ({
  name,
  ...(namespace ? { namespace } : {}),
  uid: `0a1b2c3d-${(rv % 100000).toString().padStart(5, '0')}-4e5f-8a9b-${name.length.toString().padStart(12, '0')}`,
  resourceVersion: String(++rv),
  creationTimestamp: '2024-05-01T10:00:00Z',
  managedFields: [
    {
      manager: 'kubectl-client-side-apply',
      operation: 'Update',
      apiVersion: 'v1',
      time: '2024-05-01T10:00:00Z',
      fieldsType: 'FieldsV1',
      fieldsV1: { 'f:metadata': { 'f:annotations': {} } },
    },
  ],
  ...extra,
});
const nsName = (i: number) => `team-${i % NAMESPACES}`;
const saName = (i: number) => `svc-${i}`;

function* namespaces(): Generator<JsonObject> {
  for (let i = 0; i < NAMESPACES; i++) {
    yield {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: meta(nsName(i), undefined, {
        labels: { 'kubernetes.io/metadata.name': nsName(i), tier: i % 3 ? 'apps' : 'data', owner: `group-${i % 17}` },
      }),
      spec: { finalizers: ['kubernetes'] },
      status: { phase: 'Active' },
    };
  }
}

function* serviceAccounts(): Generator<JsonObject> {
  for (let i = 0; i < SERVICE_ACCOUNTS; i++) {
    const annotations: Record<string, string> = { 'app.kubernetes.io/managed-by': 'helm' };
    if (i % 10 === 0) annotations['tokenguard.dev/api-access'] = 'true';
    if (i % 2 === 0) {
      annotations['kubectl.kubernetes.io/last-applied-configuration'] =
        `{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"annotations":{},"name":"${saName(i)}","namespace":"${nsName(i)}"}}\n`;
    }
    yield {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: meta(saName(i), nsName(i), { annotations, labels: { app: saName(i) } }),
      ...(i % 4 === 0 ? { automountServiceAccountToken: false } : {}),
      secrets: i % 5 === 0 ? [{ name: `${saName(i)}-token-abcde` }] : [],
    };
  }
}

/** 20,000 bindings: 16,000 RoleBindings, 4,000 ClusterRoleBindings; ~70 % name ServiceAccounts. */
function* bindings(): Generator<[FactsResource, JsonObject]> {
  for (let i = 0; i < BINDINGS; i++) {
    const cluster = i % 5 === 0;
    const sa = (i * 7919) % SERVICE_ACCOUNTS; // spread over ServiceAccounts
    const subjects: JsonObject[] = [];
    if (i % 10 < 5) subjects.push({ kind: 'ServiceAccount', name: saName(sa), namespace: nsName(sa) });
    else if (i % 10 < 7)
      subjects.push({
        kind: 'User',
        apiGroup: 'rbac.authorization.k8s.io',
        name: `system:serviceaccount:${nsName(sa)}:${saName(sa)}`,
      });
    else subjects.push({ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: `person-${i}@example.com` });
    if (i % 100 === 0)
      subjects.push({
        kind: 'Group',
        apiGroup: 'rbac.authorization.k8s.io',
        name: `system:serviceaccounts:${nsName(i)}`,
      });
    if (i % 3 === 0)
      subjects.push({ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: `oidc:team-${i % 40}` });
    const obj: JsonObject = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: cluster ? 'ClusterRoleBinding' : 'RoleBinding',
      metadata: meta(`binding-${i}`, cluster ? undefined : nsName(sa), {
        labels: { 'app.kubernetes.io/part-of': 'platform' },
      }),
      roleRef: {
        apiGroup: 'rbac.authorization.k8s.io',
        kind: cluster ? 'ClusterRole' : 'Role',
        name: `role-${i % 50}`,
      },
      subjects,
    };
    yield [cluster ? 'clusterrolebindings' : 'rolebindings', obj];
  }
}

/** Every object, each freshly parsed from JSON as a watch event delivers it (no shared strings). */
function* everything(): Generator<[FactsResource, JsonObject]> {
  const parsed = (o: JsonObject) => JSON.parse(JSON.stringify(o)) as JsonObject;
  for (const o of namespaces()) yield ['namespaces', parsed(o)];
  for (const o of serviceAccounts()) yield ['serviceaccounts', parsed(o)];
  for (const [r, o] of bindings()) yield [r, parsed(o)];
}

// ------------------------------------------------------------------ memory
type Cache = Map<string, CachedObject>;
const caches = (): Record<FactsResource, Cache> =>
  Object.fromEntries(FACTS_RESOURCES.map((r) => [r, new Map()])) as Record<FactsResource, Cache>;
/** The informer's cache key (src/facts/informers.ts `cacheKey`). */
const cacheKey = (o: CachedObject) =>
  o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;
/** The informer's upsert: a new resourceVersion replaces the cached projection and updates the indexes. */
function upsert(cache: Cache, resource: FactsResource, o: CachedObject): void {
  const key = cacheKey(o);
  const old = cache.get(key);
  if (old?.metadata.resourceVersion !== undefined && old.metadata.resourceVersion === o.metadata.resourceVersion)
    return;
  cache.set(key, o);
  store.upsert(resource, o);
}

await new Promise((r) => setTimeout(r, 200)); // let start-up garbage (the TypeScript transform) become collectable
const h0 = heap();
// What a plain informer would keep: every full object.
let full: JsonObject[] | undefined = [];
for (const [, o] of everything()) full.push(o);
const hFull = heap();
const fullBytes = hFull - h0;
full = undefined;
const h1 = heap();

// What ours keeps: the informers' cache of projections, plus the facts indexes.
const store = new FactsStore();
const cache = caches();
const t0 = process.hrtime.bigint();
for (const [resource, o] of everything()) upsert(cache[resource], resource, projectForCache(resource, o));
const buildMs = Number(process.hrtime.bigint() - t0) / 1e6;
const h2 = heap();
const ourBytes = h2 - h1;

// The indexes alone (a second store fed from the projections already in memory).
const indexOnly = new FactsStore();
for (const r of FACTS_RESOURCES) for (const o of cache[r].values()) indexOnly.upsert(r, o);
const h3 = heap();
const indexBytes = h3 - h2;

// A relist with nothing changed: the informer's replace (upsert every item, remove the unseen).
const t1 = process.hrtime.bigint();
for (const r of FACTS_RESOURCES) {
  const items = [...cache[r].values()];
  const seen = new Set<string>();
  for (const o of items) {
    seen.add(cacheKey(o));
    upsert(cache[r], r, o);
  }
  for (const [key, old] of cache[r]) {
    if (seen.has(key)) continue;
    cache[r].delete(key);
    store.remove(r, old);
  }
}
const relistMs = Number(process.hrtime.bigint() - t1) / 1e6;

// ------------------------------------------------------------------ lookups
const requests: { namespace: string; serviceAccount: string }[] = [];
for (let i = 0; i < 4096; i++) {
  const n = (i * 104729) % SERVICE_ACCOUNTS;
  requests.push({ namespace: nsName(n), serviceAccount: saName(n) });
}
const keys = requests.map((r) => serviceAccountKey(r.namespace, r.serviceAccount));
const plain = new Map<string, object>(keys.map((k) => [k, { k }]));
for (let i = 0; i < SERVICE_ACCOUNTS; i++) plain.set(serviceAccountKey(nsName(i), saName(i)), { i });

/** The cache-hit path of `createClusterFacts().lookup` (the same function): namespace, ServiceAccount, bindings. */
const hit = (req: { namespace: string; serviceAccount: string }): ClusterFacts | undefined =>
  store.lookup(req.namespace, req.serviceAccount, true);

let sink = 0;
function time(fn: (i: number) => unknown): number {
  for (let i = 0; i < 100_000; i++) fn(i); // warm-up
  const start = process.hrtime.bigint();
  for (let i = 0; i < LOOKUPS; i++) if (fn(i)) sink++;
  return Number(process.hrtime.bigint() - start) / LOOKUPS;
}
const rounds = 5;
const results: Record<string, number[]> = { map: [], mapKey: [], hit: [], bindings: [] };
for (let r = 0; r < rounds; r++) {
  results.map!.push(time((i) => plain.get(keys[i & 4095]!)));
  results.mapKey!.push(
    time((i) => plain.get(serviceAccountKey(requests[i & 4095]!.namespace, requests[i & 4095]!.serviceAccount))),
  );
  results.hit!.push(time((i) => hit(requests[i & 4095]!)));
  results.bindings!.push(
    time((i) => store.bindings.isBound(requests[i & 4095]!.namespace, requests[i & 4095]!.serviceAccount)),
  );
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const bound = requests.filter((r) => hit(r)?.serviceAccount?.bound).length;

// ------------------------------------------------------------------ report
const counts = Object.fromEntries(FACTS_RESOURCES.map((r) => [r, store.count(r)]));
console.log(
  `Node ${process.version}; objects held: ${JSON.stringify(counts)}; ${bound}/${requests.length} sampled ServiceAccounts bound`,
);
console.log('');
console.log('memory (V8 heap retained after full GC)');
console.log(`  full objects, as a plain informer cache keeps them   ${mib(fullBytes).padStart(10)}`);
console.log(
  `  tokenguard: projected informer cache + indexes       ${mib(ourBytes).padStart(10)}   (${((ourBytes / fullBytes) * 100).toFixed(0)} % of full)`,
);
console.log(`    of which the projected informer cache              ${mib(ourBytes - indexBytes).padStart(10)}`);
console.log(`    of which the facts indexes (FactsStore)            ${mib(indexBytes).padStart(10)}`);
console.log(`  process RSS at the end (benchmark garbage included) ${mib(process.memoryUsage().rss).padStart(10)}`);
console.log('');
console.log(
  `feeding ${(SERVICE_ACCOUNTS + BINDINGS + NAMESPACES).toLocaleString('en')} objects (projection + cache + index): ${buildMs.toFixed(0)} ms; a relist with no change: ${relistMs.toFixed(0)} ms`,
);
console.log('');
console.log(`lookup time, median of ${rounds} x ${LOOKUPS.toLocaleString('en')} lookups (ns/lookup)`);
console.log(`  baseline: Map.get, precomputed key                   ${median(results.map!).toFixed(1).padStart(8)}`);
console.log(`  baseline: Map.get, key built from ns + name          ${median(results.mapKey!).toFixed(1).padStart(8)}`);
console.log(
  `  BindingIndex.isBound (3 Map.has)                     ${median(results.bindings!).toFixed(1).padStart(8)}`,
);
console.log(`  cache-hit lookup: namespace + SA + bound/boundBy     ${median(results.hit!).toFixed(1).padStart(8)}`);
if (sink < 0) console.log(sink);
