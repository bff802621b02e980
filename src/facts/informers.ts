/**
 * Live cluster facts for the webhook: one informer (list, then watch from the list's
 * resourceVersion) per resource — ServiceAccounts, Namespaces, RoleBindings and
 * ClusterRoleBindings — over the own client of `src/kube` (not `@kubernetes/client-node`, whose
 * generated models all load with it and multiply the resident memory). Objects are kept as small projections in O(1) indexes
 * ({@link FactsStore}), with a bounded direct read on a cache miss.
 *
 * What each informer does (client-go reflector semantics; docs/reliability.md "Informers that
 * stop"):
 *
 * | situation                                           | here                                                          |
 * |-----------------------------------------------------|---------------------------------------------------------------|
 * | start, or no resourceVersion to resume from         | list (paged), replace the cache (objects no longer listed are removed), watch from the list's resourceVersion |
 * | the watch ends cleanly (server-side `timeoutSeconds`) | reopen it at once from the last resourceVersion seen (events and bookmarks advance it) |
 * | 410 Gone (an ERROR event, or HTTP 410 on reopening) | relist at once, then watch again (a 410 again right after that relist is a failure) |
 * | periodic resync (`resyncPeriodMs`, jittered)         | end the watch and relist; changes the watch had missed are logged as a warning |
 * | list or watch failure, HTTP error, other ERROR event, broken connection | after a capped exponential backoff, jittered by `random`: reopen the watch from the last resourceVersion (relist if there is none, or after an ERROR event) |
 * | a hung watch or list                                | server-side `timeoutSeconds`, a stall watchdog, list and watch-open deadlines |
 * | a watch that ends at once, twice in a row           | counts as a failure, so backoff applies (no hot loop)         |
 * | arrival of an object                                | projected at once (`projectForCache`): the full object is never kept |
 * | a store update throws                               | logged; the informer goes on                                  |
 *
 * Unknown facts are the safe default: while the binding informers are stale (no event, bookmark
 * or relist for `staleAfterMs`, or a watch down) `bound` is left undefined, so the policy's
 * `automount.needed.whenUnknown` decides, and its default (`Needed`) keeps tokens rather than
 * removing them on stale data. ServiceAccount annotations and Namespace labels keep being
 * served from the last cache (they change rarely, and an SA created since is read directly).
 */
import { setMaxListeners } from 'node:events';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleepFor } from 'node:timers/promises';
import type { JsonObject } from '../json.js';
import type { ClusterFacts, NamespaceFacts, ServiceAccountFacts } from '../engine/types.js';
import { isDeadlineError, type WatchEvent } from '../kube/client.js';
import type { KubeConfig } from '../kube/config.js';
import { isDnsSubdomain } from '../policy/validate.js';
import { describeError, KubeApi, statusOf } from './kube-api.js';
import { serviceAccountKey, toNamespaceFacts, toServiceAccountFacts } from './project.js';
import { staticFacts } from './static.js';
import {
  type CachedObject,
  FACTS_RESOURCES,
  type FactsResource,
  type FactsSnapshot,
  FactsStore,
  type InformerResource,
  kindOf,
  projectForCache,
} from './store.js';
import type { FactsProvider, FactsRequest } from './types.js';

/** Structured logger; pino's `Logger` fits. Messages never carry object contents. */
export interface FactsLogger {
  debug(obj: Record<string, unknown>, msg: string): void;
  info(obj: Record<string, unknown>, msg: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
  error(obj: Record<string, unknown>, msg: string): void;
}

const silent: FactsLogger = { debug() {}, info() {}, warn() {}, error() {} };

/** Defaults, each overridable in {@link ClusterFactsOptions}. */
const FACTS_DEFAULTS = {
  /** Deadline of a direct read on a cache miss: well inside the webhook's 5 s `timeoutSeconds`. */
  directReadTimeoutMs: 1_500,
  /** No event, bookmark or relist for this long makes a resource stale. */
  staleAfterMs: 5 * 60_000,
  /** Full relist period (0: never); jittered by ±10 %. */
  resyncPeriodMs: 10 * 60_000,
  /** First reconnect delay; doubles per failed attempt. */
  backoffInitialMs: 500,
  /** Reconnect delay cap. */
  backoffMaxMs: 30_000,
  /** How long a direct-read result (found or 404) is reused. */
  missCacheTtlMs: 30_000,
  /** Direct reads in flight at once; more misses get unknown facts at once. */
  maxConcurrentDirectReads: 16,
  /** Items per list page. */
  pageSize: 500,
  /** Deadline of one list page, and of opening a watch. */
  requestTimeoutMs: 30_000,
} as const;

/** A watch that ends sooner than this without any event did not really work (twice in a row: a failure). */
const MIN_HEALTHY_WATCH_MS = 1_000;
/** Bound on the direct-read result cache. */
const MISS_CACHE_MAX = 4_096;

export interface ClusterFactsOptions {
  /** Where the API server is and how to authenticate (`loadKubeConfig` of `src/kube/config.ts`). */
  readonly kubeConfig: KubeConfig;
  /** Wall clock in milliseconds (staleness, ages, cache expiry). Default `Date.now`. */
  readonly now?: () => number;
  /** Waits between reconnect attempts; must settle (reject is fine) once `signal` aborts. */
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Jitter source in [0, 1). Default `Math.random`. */
  readonly random?: () => number;
  readonly logger?: FactsLogger;
  readonly resyncPeriodMs?: number;
  readonly directReadTimeoutMs?: number;
  readonly staleAfterMs?: number;
  readonly backoffInitialMs?: number;
  readonly backoffMaxMs?: number;
  /**
   * Server-side watch timeout. Default: random between 50 % and 80 % of `staleAfterMs`, so a
   * quiet but healthy watch is renewed (and counts as fresh) before it could look stale.
   */
  readonly watchTimeoutSeconds?: number;
  readonly missCacheTtlMs?: number;
  readonly maxConcurrentDirectReads?: number;
  readonly pageSize?: number;
  readonly requestTimeoutMs?: number;
  /**
   * Also watch legacy token Secrets (`serve --watch-token-secrets`): their metadata only, with
   * a `type` field selector, for rule legacy-token-mount. Off by default: then no Secret is
   * listed, and the rule has no facts (docs/reliability.md "Least privilege").
   */
  readonly watchTokenSecrets?: boolean;
}

/** How a direct read on a cache miss ended. */
export type DirectReadResult = 'found' | 'not_found' | 'timeout' | 'error' | 'throttled';

/** Health of one informer. */
export interface ResourceStatus {
  /** The first full list has been applied and a watch opened after it. */
  readonly synced: boolean;
  /** A watch is open (false from a failure until the next successful connect). */
  readonly watching: boolean;
  /** Not synced, not watching, or nothing heard for `staleAfterMs`. */
  readonly stale: boolean;
  /** Seconds since the last list, watch connect, event or bookmark; null before any. */
  readonly lastEventAgeSeconds: number | null;
  /** Restarts after a failure (list or watch error, stall). */
  readonly reconnects: number;
  /** Full lists after the first one (410 Gone, resync). */
  readonly relists: number;
  /** Objects held. */
  readonly objects: number;
}

/** What `status()` reports; the metrics are read from it. */
export interface ClusterFactsStatus {
  /** Every informer has applied its first full list. */
  readonly synced: boolean;
  /** Some informer is stale. */
  readonly stale: boolean;
  readonly lastEventAgeSeconds: Readonly<Record<FactsResource, number | null>>;
  readonly reconnects: Readonly<Record<FactsResource, number>>;
  readonly objects: Readonly<Record<FactsResource, number>>;
  readonly resources: Readonly<Record<FactsResource, ResourceStatus>>;
  readonly directReads: Readonly<Record<DirectReadResult, number>>;
  /** The token Secret informer, when watched (`watchTokenSecrets`); it counts towards `synced`, not `stale`. */
  readonly tokenSecrets?: ResourceStatus;
}

/** A {@link FactsProvider} fed by informers, with its lifecycle. */
export interface ClusterFactsProvider extends FactsProvider {
  /**
   * Starts the informers. Resolves once each has applied its first full list (retrying with
   * backoff until then); rejects if `stop()` comes first. Idempotent; not restartable.
   */
  start(): Promise<void>;
  /** Stops every informer, timer and request. Lookups keep answering from the cache. */
  stop(): Promise<void>;
  /** True once the first full sync is done (and until `stop()`). */
  ready(): boolean;
  status(): ClusterFactsStatus;
  /** Everything the informers hold, sorted (for tests and diagnostics; O(n), not for the hot path). */
  snapshot(): FactsSnapshot;
}

/**
 * The reconnect delay before attempt `attempt` (0-based): `initial * 2^attempt`, capped at
 * `max`, then jittered into its upper half ("equal jitter") so replicas do not reconnect in step.
 */
export function backoffDelay(attempt: number, initialMs: number, maxMs: number, random: () => number): number {
  const cap = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(cap / 2 + (random() * cap) / 2);
}

const defaultSleep = async (ms: number, signal: AbortSignal): Promise<void> => {
  await sleepFor(ms, undefined, { signal });
};

/** Resolved options and shared services of one provider. */
interface Context {
  readonly api: KubeApi;
  readonly store: FactsStore;
  readonly now: () => number;
  readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  readonly random: () => number;
  readonly log: FactsLogger;
  readonly stopSignal: AbortSignal;
  readonly staleAfterMs: number;
  readonly backoffInitialMs: number;
  readonly backoffMaxMs: number;
  readonly watchTimeoutSeconds: (() => number) | number;
  readonly pageSize: number;
  readonly requestTimeoutMs: number;
  /** Called after the store applied a change (cache-miss bookkeeping). */
  readonly changed: (resource: InformerResource, obj: CachedObject) => void;
  readonly listed: () => void;
}

/** A list just applied, until the watch after it opens; `changes`: objects it added, changed or removed. */
interface Listed {
  readonly count: number;
  readonly reason: string;
  readonly startedAt: number;
  readonly changes: number;
}

/** Why the informer itself ended a watch. */
type AbortReason = 'open-timeout' | 'stall' | 'resync' | 'error-event';

const GONE_REASON = 'resourceVersion expired (410 Gone)';

/** The cache key of an object: `namespace/name`, or `name` for cluster-scoped objects. */
function cacheKey(obj: CachedObject): string {
  return obj.metadata.namespace ? `${obj.metadata.namespace}/${obj.metadata.name}` : obj.metadata.name;
}

/** One informer: list, watch, relist, with reconnects, staleness and relist bookkeeping. */
class Reflector {
  readonly resource: InformerResource;
  synced = false;
  watching = false;
  lastAliveAt: number | undefined;
  reconnects = 0;
  relists = 0;
  readonly #ctx: Context;
  /** What the informer holds, by namespace/name, as projected for the cache. */
  readonly #cache = new Map<string, CachedObject>();
  /** Where the next watch starts; empty: list first. */
  #resourceVersion = '';
  #attempt = 0;
  #listed: Listed | undefined;
  #listedOnce = false;
  /** Consecutive watches that ended at once without an event (the second one counts as a failure). */
  #quickEnds = 0;
  /** HTTP 410 answers to opening a watch since one last opened (the second one in a row counts as a failure). */
  #gonesInARow = 0;
  #relistReason: string | undefined;
  #current: { abort(reason: AbortReason): void } | undefined;
  #loop: Promise<void> | undefined;

  constructor(resource: InformerResource, ctx: Context) {
    this.resource = resource;
    this.#ctx = ctx;
  }

  /** Starts the list-and-watch loop (once). */
  start(): void {
    this.#loop ??= this.#run();
  }

  /** Waits for the loop to end; `stopSignal` must have been aborted first. */
  async stop(): Promise<void> {
    this.watching = false;
    this.#current?.abort('stall');
    await this.#loop;
  }

  /** Ends the open watch and relists (periodic resync); no-op while listing or reconnecting. */
  resync(): void {
    if (!this.#current) return;
    this.#relistReason = 'periodic resync';
    this.#current.abort('resync');
  }

  stale(now: number): boolean {
    return (
      !this.synced ||
      !this.watching ||
      this.lastAliveAt === undefined ||
      now - this.lastAliveAt > this.#ctx.staleAfterMs
    );
  }

  async #run(): Promise<void> {
    const ctx = this.#ctx;
    while (!ctx.stopSignal.aborted) {
      try {
        if (!this.#resourceVersion) await this.#list();
        await this.#watch();
      } catch (err) {
        if (ctx.stopSignal.aborted) return;
        this.watching = false;
        this.reconnects++;
        const attempt = this.#attempt++;
        const delayMs = backoffDelay(attempt, ctx.backoffInitialMs, ctx.backoffMaxMs, ctx.random);
        ctx.log.warn(
          { resource: this.resource, error: describeError(err), attempt: attempt + 1, retryInMs: delayMs },
          'facts watch failed; reconnecting',
        );
        try {
          await ctx.sleep(delayMs, ctx.stopSignal);
        } catch {
          // a sleep that rejects on stop ends the loop below
        }
      }
    }
  }

  /** Lists every object, replaces the cache with them, and remembers the resourceVersion to watch from. */
  async #list(): Promise<void> {
    const ctx = this.#ctx;
    const startedAt = performance.now();
    const reason = this.#relistReason ?? (this.synced ? 'relist after reconnect' : 'initial list');
    const list = await ctx.api.listAll(
      this.resource,
      { pageSize: ctx.pageSize, pageTimeoutMs: ctx.requestTimeoutMs, signal: ctx.stopSignal },
      (item) => projectForCache(this.resource, item),
    );
    if (ctx.stopSignal.aborted) return;
    if (this.#listedOnce) this.relists++;
    this.#listedOnce = true;
    let changes = 0;
    const seen = new Set<string>();
    for (const obj of list.items) {
      const key = cacheKey(obj);
      seen.add(key);
      if (this.#upsert(key, obj)) changes++;
    }
    for (const [key, old] of this.#cache) {
      if (seen.has(key)) continue;
      this.#cache.delete(key);
      this.#apply('remove', old);
      changes++;
    }
    this.#resourceVersion = list.resourceVersion;
    // synced means "listed and watching": #watch completes this once the watch is open.
    this.#listed = { count: list.items.length, reason, startedAt, changes };
    this.#relistReason = undefined;
  }

  /**
   * One watch from the current resourceVersion, until it ends. Returns when the next step is
   * to reopen it (clean end) or to relist (410 Gone, resync: the resourceVersion is cleared);
   * throws when the next step is a backoff.
   */
  async #watch(): Promise<void> {
    const ctx = this.#ctx;
    const timeoutSeconds =
      typeof ctx.watchTimeoutSeconds === 'number'
        ? ctx.watchTimeoutSeconds
        : Math.max(1, Math.round(ctx.watchTimeoutSeconds()));
    const stallMs = timeoutSeconds * 1000 + Math.min(30_000, Math.max(1_000, (timeoutSeconds * 1000) / 4));
    const controller = new AbortController();
    const onStop = () => controller.abort();
    ctx.stopSignal.addEventListener('abort', onStop, { once: true });
    let abortReason: AbortReason | undefined;
    let errorEvent: { code: number | undefined } | undefined;
    let opened = false;
    let events = 0;
    const openedAt = performance.now();
    let watchdog: NodeJS.Timeout | undefined;
    const abort = (reason: AbortReason) => {
      abortReason ??= reason;
      controller.abort();
    };
    const arm = (ms: number, reason: AbortReason) => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => abort(reason), ms);
      watchdog.unref();
    };
    const handle = { abort };

    const onOpen = () => {
      opened = true;
      arm(stallMs, 'stall');
      this.#current = handle;
      const wasDown = !this.watching;
      this.watching = true;
      this.lastAliveAt = ctx.now();
      if (wasDown && this.reconnects > 0)
        ctx.log.info({ resource: this.resource, reconnects: this.reconnects }, 'facts watch reconnected');
      const listed = this.#listed;
      this.#listed = undefined;
      if (listed) this.#afterList(listed);
    };

    const onEvent = (event: WatchEvent) => {
      if (abortReason) return;
      events++;
      this.lastAliveAt = ctx.now();
      arm(stallMs, 'stall');
      if (event.type !== 'ERROR') {
        // Only a watch that delivers resets the backoff and the 410 count: a server answering
        // every watch with an ERROR event must meet the backoff, not a relist loop.
        this.#attempt = 0;
        this.#gonesInARow = 0;
      }
      if (event.type === 'ERROR') {
        const code = statusOf(event.object);
        errorEvent = { code };
        ctx.log.info({ resource: this.resource, code }, 'facts watch received an error event; reopening');
        abort('error-event'); // the API server ends the stream after an ERROR event; do not wait for it
        return;
      }
      const md = event.object.metadata;
      const rv =
        typeof md === 'object' && md !== null && !Array.isArray(md) && typeof md.resourceVersion === 'string'
          ? md.resourceVersion
          : '';
      if (event.type === 'ADDED' || event.type === 'MODIFIED') {
        const obj = projectForCache(this.resource, event.object);
        this.#upsert(cacheKey(obj), obj);
      } else if (event.type === 'DELETED') {
        const key = cacheKey(projectForCache(this.resource, event.object));
        const old = this.#cache.get(key);
        if (old) {
          this.#cache.delete(key);
          this.#apply('remove', old);
        }
      }
      // BOOKMARK: nothing but the resourceVersion (and liveness, above).
      if (rv) this.#resourceVersion = rv;
    };

    let failure: unknown;
    arm(ctx.requestTimeoutMs, 'open-timeout');
    try {
      await ctx.api.watch(this.resource, {
        resourceVersion: this.#resourceVersion,
        timeoutSeconds,
        signal: controller.signal,
        onOpen,
        onEvent,
      });
    } catch (err) {
      failure = err;
    } finally {
      clearTimeout(watchdog);
      ctx.stopSignal.removeEventListener('abort', onStop);
      if (this.#current === handle) this.#current = undefined;
    }
    if (ctx.stopSignal.aborted) return;

    const healthy = events > 0 || performance.now() - openedAt >= MIN_HEALTHY_WATCH_MS;
    if (healthy) this.#quickEnds = 0;
    const quickEnd = () => !healthy && ++this.#quickEnds >= 2;
    switch (abortReason) {
      case 'resync':
        this.#resourceVersion = '';
        return;
      case 'stall':
        throw new Error(`watch stalled: nothing received for ${stallMs} ms`);
      case 'open-timeout':
        throw new Error(`watch did not open within ${ctx.requestTimeoutMs} ms`);
      case 'error-event':
        this.#resourceVersion = '';
        if (errorEvent?.code === 410) {
          this.#relistReason = GONE_REASON;
          if (++this.#gonesInARow >= 2) throw new Error('watch answered 410 Gone again right after a relist');
          return;
        }
        throw new Error(`watch error event${errorEvent?.code ? ` (code ${errorEvent.code})` : ''}`);
    }
    if (failure !== undefined) {
      if (statusOf(failure) !== 410) throw failure;
      // HTTP 410 on (re)opening: the resourceVersion is too old; relist, unless even a fresh one is refused.
      this.#resourceVersion = '';
      this.#relistReason = GONE_REASON;
      if (++this.#gonesInARow >= 2) throw new Error('watch refused with 410 Gone right after a relist');
      return;
    }
    if (!opened) throw new Error('watch ended before it opened');
    if (quickEnd()) throw new Error('watch ended at once without any event, twice in a row');
  }

  #afterList(listed: Listed): void {
    const first = !this.synced;
    this.synced = true;
    this.lastAliveAt = this.#ctx.now();
    const fields = {
      resource: this.resource,
      objects: listed.count,
      reason: listed.reason,
      ms: Math.round(performance.now() - listed.startedAt),
    };
    if (first) {
      this.#ctx.log.info(fields, 'facts listed');
      this.#ctx.listed();
    } else if (listed.changes > 0 && listed.reason === 'periodic resync') {
      // The watch had missed something (kubernetes-client/javascript#364 class): say how much.
      this.#ctx.log.warn(
        { ...fields, changes: listed.changes },
        'facts relisted: the periodic resync found changes the watch had missed',
      );
    } else {
      this.#ctx.log[listed.reason === 'periodic resync' ? 'debug' : 'info'](
        { ...fields, changes: listed.changes },
        'facts relisted',
      );
    }
  }

  /** Adds or replaces an object unless the cache holds the same resourceVersion; true if it changed anything. */
  #upsert(key: string, obj: CachedObject): boolean {
    const old = this.#cache.get(key);
    if (old?.metadata.resourceVersion !== undefined && old.metadata.resourceVersion === obj.metadata.resourceVersion)
      return false;
    this.#cache.set(key, obj);
    this.#apply('upsert', obj);
    return true;
  }

  #apply(verb: 'upsert' | 'remove', obj: CachedObject): void {
    try {
      if (verb === 'upsert') this.#ctx.store.upsert(this.resource, obj);
      else this.#ctx.store.remove(this.resource, obj);
      this.#ctx.changed(this.resource, obj);
    } catch (err) {
      // An exception must neither vanish (the Pepr PR #3052 class of bug) nor stop the informer: say so.
      this.#ctx.log.error({ resource: this.resource, error: describeError(err) }, 'facts update failed');
    }
  }
}

/** A direct-read result kept for `missCacheTtlMs`: the facts, or undefined for "does not exist". */
interface MissEntry<T> {
  readonly value: T | undefined;
  readonly expiresAt: number;
}

/** A cache answer: `{ value }` (value undefined: known not to exist), or undefined on a miss. */
type Hit<T> = { readonly value: T | undefined } | undefined;

/**
 * Creates the informer-backed facts provider. Does no I/O until `start()`.
 *
 * @example
 * const facts = createClusterFacts({ kubeConfig: loadKubeConfig(undefined, process.env), logger });
 * facts.start().catch(() => {}); // readiness follows facts.ready()
 * await facts.lookup({ namespace: 'team-a', serviceAccount: 'web' });
 */
export function createClusterFacts(options: ClusterFactsOptions): ClusterFactsProvider {
  const now = options.now ?? Date.now;
  const log = options.logger ?? silent;
  const random = options.random ?? Math.random;
  const staleAfterMs = options.staleAfterMs ?? FACTS_DEFAULTS.staleAfterMs;
  const directReadTimeoutMs = options.directReadTimeoutMs ?? FACTS_DEFAULTS.directReadTimeoutMs;
  const missCacheTtlMs = options.missCacheTtlMs ?? FACTS_DEFAULTS.missCacheTtlMs;
  const maxConcurrentDirectReads = options.maxConcurrentDirectReads ?? FACTS_DEFAULTS.maxConcurrentDirectReads;
  const resyncPeriodMs = options.resyncPeriodMs ?? FACTS_DEFAULTS.resyncPeriodMs;
  const stopper = new AbortController();
  // Every watch, list page and direct read in flight listens on it (up to 4 + 4 + maxConcurrentDirectReads).
  setMaxListeners(16 + maxConcurrentDirectReads, stopper.signal);
  const store = new FactsStore();
  const api = new KubeApi(options.kubeConfig);
  const saMisses = new Map<string, MissEntry<ServiceAccountFacts>>();
  const nsMisses = new Map<string, MissEntry<NamespaceFacts>>();
  const inflight = new Map<string, Promise<{ value: unknown }>>();
  const directReads: Record<DirectReadResult, number> = { found: 0, not_found: 0, timeout: 0, error: 0, throttled: 0 };
  const timers: NodeJS.Timeout[] = [];
  let started = false;
  let wasStale: boolean | undefined;

  let resolveSynced: () => void = () => {};
  let rejectSynced: (err: Error) => void = () => {};
  const synced = new Promise<void>((resolve, reject) => {
    resolveSynced = resolve;
    rejectSynced = reject;
  });
  synced.catch(() => {}); // callers that drop start()'s promise must not crash the process on stop()

  const ctx: Context = {
    api,
    store,
    now,
    sleep: options.sleep ?? defaultSleep,
    random,
    log,
    stopSignal: stopper.signal,
    staleAfterMs,
    backoffInitialMs: options.backoffInitialMs ?? FACTS_DEFAULTS.backoffInitialMs,
    backoffMaxMs: options.backoffMaxMs ?? FACTS_DEFAULTS.backoffMaxMs,
    watchTimeoutSeconds: options.watchTimeoutSeconds ?? (() => (staleAfterMs / 1000) * (0.5 + 0.3 * random())),
    pageSize: options.pageSize ?? FACTS_DEFAULTS.pageSize,
    requestTimeoutMs: options.requestTimeoutMs ?? FACTS_DEFAULTS.requestTimeoutMs,
    changed: (resource, obj) => {
      if (resource === 'serviceaccounts')
        saMisses.delete(serviceAccountKey(obj.metadata.namespace ?? '', obj.metadata.name));
      else if (resource === 'namespaces') nsMisses.delete(obj.metadata.name);
    },
    listed: () => {
      if (reflectors.every((r) => r.synced)) {
        log.info(
          { objects: Object.fromEntries(reflectors.map((r) => [r.resource, store.count(r.resource)])) },
          'cluster facts synced',
        );
        resolveSynced();
      }
    },
  };
  const watchTokenSecrets = options.watchTokenSecrets === true;
  const resources: InformerResource[] = [...FACTS_RESOURCES, ...(watchTokenSecrets ? (['secrets'] as const) : [])];
  const reflectors = resources.map((r) => new Reflector(r, ctx));
  const byResource = Object.fromEntries(reflectors.map((r) => [r.resource, r])) as Record<FactsResource, Reflector> & {
    secrets?: Reflector;
  };
  const core = FACTS_RESOURCES.map((r) => byResource[r]);

  /** Bindings are known when both binding informers are synced and fresh. */
  const bindingsKnown = (t: number) => !byResource.rolebindings.stale(t) && !byResource.clusterrolebindings.stale(t);

  function cached<T>(fromStore: T | undefined, misses: Map<string, MissEntry<T>>, key: string): Hit<T> {
    if (fromStore) return { value: fromStore };
    const m = misses.get(key);
    if (!m) return undefined;
    if (m.expiresAt > now()) return { value: m.value };
    misses.delete(key);
    return undefined;
  }

  function remember<T>(misses: Map<string, MissEntry<T>>, key: string, value: T | undefined): void {
    misses.delete(key);
    misses.set(key, { value, expiresAt: now() + missCacheTtlMs });
    if (misses.size > MISS_CACHE_MAX) {
      const oldest = misses.keys().next();
      if (!oldest.done) misses.delete(oldest.value);
    }
  }

  /** One bounded direct read, shared by concurrent misses of the same object. Never rejects. */
  function directRead<T>(
    what: 'ServiceAccount' | 'Namespace',
    namespace: string,
    name: string,
  ): Promise<{ value: T | undefined }> {
    // Only names the API server could hold are worth a request (and nothing odd reaches a URL):
    // DNS-1123 subdomains, by the policy validator's rule. (Namespace names are stricter still,
    // DNS-1123 labels; one that is a subdomain but not a label is read and answered 404, harmlessly.)
    if (!isDnsSubdomain(name) || (what === 'ServiceAccount' && !isDnsSubdomain(namespace)))
      return Promise.resolve({ value: undefined });
    const key = `${what} ${namespace}/${name}`;
    const pending = inflight.get(key);
    if (pending) return pending as Promise<{ value: T | undefined }>;
    if (stopper.signal.aborted || inflight.size >= maxConcurrentDirectReads) {
      directReads.throttled++;
      log.warn({ kind: what, namespace, name }, 'facts cache miss not read: too many direct reads in flight');
      return Promise.resolve({ value: undefined });
    }
    const p = readOnce<T>(what, namespace, name).finally(() => inflight.delete(key));
    inflight.set(key, p);
    return p;
  }

  async function readOnce<T>(
    what: 'ServiceAccount' | 'Namespace',
    namespace: string,
    name: string,
  ): Promise<{ value: T | undefined }> {
    // The client's deadline bounds the whole read (credentials, connection, body), and the stop
    // signal ends it at once: no timer of its own here.
    const options = { signal: stopper.signal, timeoutMs: directReadTimeoutMs };
    const startedAt = performance.now();
    try {
      const obj =
        what === 'ServiceAccount'
          ? await api.readServiceAccount(namespace, name, options)
          : await api.readNamespace(name, options);
      const value = (what === 'ServiceAccount' ? toServiceAccountFacts(obj, namespace) : toNamespaceFacts(obj)) as
        | T
        | undefined;
      if (what === 'ServiceAccount')
        remember(saMisses, serviceAccountKey(namespace, name), value as ServiceAccountFacts | undefined);
      else remember(nsMisses, name, value as NamespaceFacts | undefined);
      directReads.found++;
      log.debug(
        { kind: what, namespace, name, ms: Math.round(performance.now() - startedAt) },
        'facts cache miss read directly',
      );
      return { value };
    } catch (err) {
      if (isDeadlineError(err) || stopper.signal.aborted) {
        directReads.timeout++;
        log.warn(
          { kind: what, namespace, name, timeoutMs: directReadTimeoutMs },
          'facts cache miss: direct read timed out; facts unknown',
        );
      } else if (statusOf(err) === 404) {
        if (what === 'ServiceAccount') remember(saMisses, serviceAccountKey(namespace, name), undefined);
        else remember(nsMisses, name, undefined);
        directReads.not_found++;
        log.debug({ kind: what, namespace, name }, 'facts cache miss: object does not exist');
      } else {
        directReads.error++;
        log.warn(
          { kind: what, namespace, name, error: describeError(err) },
          'facts cache miss: direct read failed; facts unknown',
        );
      }
      return { value: undefined };
    }
  }

  function answer(sa: ServiceAccountFacts | undefined, ns: NamespaceFacts | undefined): ClusterFacts {
    return store.facts(sa, ns, bindingsKnown(now()));
  }

  /**
   * The facts with the token Secrets of the namespace, once their informer has listed (served
   * from its cache afterwards, like ServiceAccount annotations, even while its watch is down).
   */
  function withTokenSecrets(f: ClusterFacts, namespace: string): ClusterFacts {
    return { ...f, tokenSecrets: store.tokenSecretsIn(namespace) };
  }

  function lookup(req: FactsRequest): ClusterFacts | Promise<ClusterFacts> {
    const f = lookupCore(req);
    if (!byResource.secrets?.synced) return f;
    return f instanceof Promise
      ? f.then((x) => withTokenSecrets(x, req.namespace))
      : withTokenSecrets(f, req.namespace);
  }

  function lookupCore(req: FactsRequest): ClusterFacts | Promise<ClusterFacts> {
    try {
      const hit = store.lookup(req.namespace, req.serviceAccount, bindingsKnown(now()));
      if (hit) return hit;
      const ns = cached(store.namespaces.get(req.namespace), nsMisses, req.namespace);
      const saKey = serviceAccountKey(req.namespace, req.serviceAccount ?? '');
      const sa: Hit<ServiceAccountFacts> =
        req.serviceAccount === undefined
          ? { value: undefined }
          : cached(store.serviceAccounts.get(saKey), saMisses, saKey);
      if (ns && sa) return answer(sa.value, ns.value);
      return Promise.all([
        ns ?? directRead<NamespaceFacts>('Namespace', '', req.namespace),
        sa ?? directRead<ServiceAccountFacts>('ServiceAccount', req.namespace, req.serviceAccount ?? ''),
      ]).then(
        ([n, s]) => answer(s.value, n.value),
        () => ({}),
      );
    } catch (err) {
      log.error({ error: describeError(err) }, 'facts lookup failed; facts unknown');
      return {};
    }
  }

  function status(): ClusterFactsStatus {
    const t = now();
    const statusOf = (r: Reflector): ResourceStatus => ({
      synced: r.synced,
      watching: r.watching,
      stale: r.stale(t),
      lastEventAgeSeconds: r.lastAliveAt === undefined ? null : Math.max(0, (t - r.lastAliveAt) / 1000),
      reconnects: r.reconnects,
      relists: r.relists,
      objects: store.count(r.resource),
    });
    const per = Object.fromEntries(core.map((r) => [r.resource, statusOf(r)])) as Record<FactsResource, ResourceStatus>;
    const pick = <K extends keyof ResourceStatus>(k: K) =>
      Object.fromEntries(FACTS_RESOURCES.map((r) => [r, per[r][k]])) as Record<FactsResource, ResourceStatus[K]>;
    return {
      synced: reflectors.every((r) => r.synced),
      stale: core.some((r) => r.stale(t)),
      lastEventAgeSeconds: pick('lastEventAgeSeconds'),
      reconnects: pick('reconnects'),
      objects: pick('objects'),
      resources: per,
      directReads: { ...directReads },
      ...(byResource.secrets ? { tokenSecrets: statusOf(byResource.secrets) } : {}),
    };
  }

  function watchStaleness(): void {
    const s = status();
    if (!s.synced || s.stale === wasStale) return;
    wasStale = s.stale;
    if (s.stale)
      log.warn(
        {
          lastEventAgeSeconds: s.lastEventAgeSeconds,
          watching: Object.fromEntries(reflectors.map((r) => [r.resource, r.watching])),
        },
        'cluster facts are stale; RBAC bindings now count as unknown',
      );
    else log.info({}, 'cluster facts are fresh again');
  }

  function scheduleResync(): void {
    if (resyncPeriodMs <= 0 || stopper.signal.aborted) return;
    const t = setTimeout(
      () => {
        timers.splice(timers.indexOf(t), 1);
        for (const r of reflectors) r.resync();
        scheduleResync();
      },
      resyncPeriodMs * (0.9 + 0.2 * random()),
    );
    t.unref();
    timers.push(t);
  }

  return {
    lookup,
    status,
    snapshot: () => store.snapshot(),
    ready: () => !stopper.signal.aborted && reflectors.every((r) => r.synced),
    start() {
      if (stopper.signal.aborted) return Promise.reject(new Error('cluster facts were stopped; create a new provider'));
      if (!started) {
        started = true;
        for (const r of reflectors) r.start();
        const check = setInterval(watchStaleness, Math.min(10_000, Math.max(100, staleAfterMs / 4)));
        check.unref();
        timers.push(check as unknown as NodeJS.Timeout);
        scheduleResync();
      }
      return synced;
    },
    async stop() {
      if (stopper.signal.aborted) return;
      stopper.abort();
      for (const t of timers) clearTimeout(t);
      timers.length = 0;
      rejectSynced(new Error('cluster facts stopped before the first full sync'));
      await Promise.all(reflectors.map((r) => r.stop()));
      api.close();
    },
  };
}

/** Options of {@link readClusterFacts}. */
export interface ReadClusterFactsOptions {
  /** Deadline of each list page. Default 30 s. */
  readonly requestTimeoutMs?: number;
  readonly pageSize?: number;
}

/**
 * Lists the four kinds once, read-only, as plain objects with their `kind` set (what
 * `staticFacts` takes), e.g. to merge with the objects of a set of manifests. Rejects if any
 * list fails.
 */
export async function listClusterObjects(
  kubeConfig: KubeConfig,
  options: ReadClusterFactsOptions = {},
): Promise<JsonObject[]> {
  const api = new KubeApi(kubeConfig);
  try {
    const lists = await Promise.all(
      FACTS_RESOURCES.map(async (resource) => {
        const list = await api.listAll(
          resource,
          {
            pageSize: options.pageSize ?? FACTS_DEFAULTS.pageSize,
            pageTimeoutMs: options.requestTimeoutMs ?? FACTS_DEFAULTS.requestTimeoutMs,
          },
          (item): JsonObject => ({ ...item, kind: kindOf(resource) }),
        );
        return list.items;
      }),
    );
    return lists.flat();
  } finally {
    api.close();
  }
}

/**
 * Lists the four kinds once, read-only, and returns static facts from them: the same
 * projection rules as the informers (`project.ts`), bindings taken as complete. Rejects if any
 * list fails. No command uses it yet (the CLI takes facts as manifests); the end-to-end suite
 * compares the informers' facts with it.
 */
export async function readClusterFacts(
  kubeConfig: KubeConfig,
  options: ReadClusterFactsOptions = {},
): Promise<ReturnType<typeof staticFacts>> {
  return staticFacts(await listClusterObjects(kubeConfig, options), { bindingsComplete: true });
}
