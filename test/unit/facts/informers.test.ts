import { createHook } from 'node:async_hooks';
import type { ClusterFacts } from '../../../src/engine/types.js';
import {
  type ClusterFactsOptions,
  type ClusterFactsProvider,
  createClusterFacts,
  type FactsLogger,
  listClusterObjects,
  readClusterFacts,
} from '../../../src/facts/informers.js';
import type { FactsRequest } from '../../../src/facts/types.js';
import { WATCH_PATHS } from '../../../src/facts/kube-api.js';
import type { FactsResource } from '../../../src/facts/store.js';
import { hangingPlugin, isRunning } from '../kube/helpers.js';
import { FakeApiServer, k8s, waitFor } from './fake-apiserver.js';

const T = 30_000; // per-test budget; conditions are polled for at most 10 s each

/** Log lines kept for assertions (and printed if a test fails to help debugging). */
function logSink(): FactsLogger & { lines: { level: string; msg: string; obj: Record<string, unknown> }[] } {
  const lines: { level: string; msg: string; obj: Record<string, unknown> }[] = [];
  const at = (level: string) => (obj: Record<string, unknown>, msg: string) => void lines.push({ level, msg, obj });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** The watch requests the server received for a resource, in order. */
function watchRequests(server: FakeApiServer, resource: FactsResource): string[] {
  return server.requests.filter((r) => r.startsWith(`GET ${WATCH_PATHS[resource]}?`) && r.includes('watch=true'));
}

/** How many list requests (pages) the server received for a resource. */
function listRequests(server: FakeApiServer, resource: FactsResource): number {
  return server.requests.filter((r) => r.startsWith(`GET ${WATCH_PATHS[resource]}?`) && !r.includes('watch=true'))
    .length;
}

/** The resourceVersion a request asked for. */
function resourceVersionOf(request: string | undefined): string | null {
  return new URL(request?.split(' ')[1] ?? '/', 'http://x').searchParams.get('resourceVersion');
}

/**
 * Watches, with async_hooks, the handles that keep a process alive or leak (timers, ref'd or
 * not, sockets, child processes) from now on. `created()` lists those made so far and not yet
 * closed; `stillOpen(ids)` which of them are still open.
 */
function trackHandles() {
  const types = new Set([
    'Timeout',
    'TCPWRAP',
    'TCPCONNECTWRAP',
    'PIPEWRAP',
    'PROCESSWRAP',
    'TLSWRAP',
    'GETADDRINFOREQWRAP',
  ]);
  const open = new Map<number, string>();
  let recording = true;
  const hook = createHook({
    init(id, type) {
      if (recording && types.has(type)) open.set(id, type);
    },
    destroy(id) {
      open.delete(id);
    },
  }).enable();
  return {
    /** Stops recording new handles (those of the checks themselves) and returns the ids open now. */
    created(): number[] {
      recording = false;
      return [...open.keys()];
    },
    stillOpen: (ids: number[]) => ids.filter((id) => open.has(id)).map((id) => open.get(id)!),
    disable: () => hook.disable(),
  };
}

/** A cluster every test starts from. */
function seed(server: FakeApiServer): void {
  server.apply('namespaces', k8s.ns('team-a', { tier: 'apps' }));
  server.apply('namespaces', k8s.ns('team-b'));
  server.apply('namespaces', k8s.ns('grp'));
  server.apply('serviceaccounts', k8s.sa('team-a', 'default'));
  server.apply(
    'serviceaccounts',
    k8s.sa('team-a', 'bound', { annotations: { 'tokenguard.dev/api-access': 'false', other: 'x' } }),
  );
  server.apply('serviceaccounts', k8s.sa('team-a', 'unbound', { automount: false }));
  server.apply('serviceaccounts', k8s.sa('team-b', 'by-user'));
  server.apply('serviceaccounts', k8s.sa('grp', 'any'));
  server.apply('rolebindings', k8s.rb('team-a', 'bound-reader', [k8s.saSubject('bound'), k8s.user('alice')]));
  server.apply('rolebindings', k8s.rb('team-a', 'people', [k8s.user('alice'), k8s.group('admins')]));
  server.apply('clusterrolebindings', k8s.crb('by-user', [k8s.user('system:serviceaccount:team-b:by-user')]));
  server.apply('clusterrolebindings', k8s.crb('grp-view', [k8s.group('system:serviceaccounts:grp')]));
  // Every real cluster has this one (kube-apiserver bootstrap policy); it must not make every SA "bound".
  server.apply('clusterrolebindings', {
    ...k8s.crb('system:service-account-issuer-discovery', [k8s.group('system:serviceaccounts')]),
    roleRef: {
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'ClusterRole',
      name: 'system:service-account-issuer-discovery',
    },
  });
}

/** What the seeded cluster's facts say about team-a/bound (a RoleBinding names it). */
const BOUND_IN_TEAM_A = {
  serviceAccount: {
    namespace: 'team-a',
    name: 'bound',
    annotations: { 'tokenguard.dev/api-access': 'false', other: 'x' },
    bound: true,
    boundBy: ['RoleBinding team-a/bound-reader'],
  },
  namespace: { name: 'team-a', labels: { 'kubernetes.io/metadata.name': 'team-a', tier: 'apps' } },
};

describe('cluster facts from informers (fake API server)', () => {
  let server: FakeApiServer;
  let facts: ClusterFactsProvider | undefined;
  let log: ReturnType<typeof logSink>;

  const make = (extra: Partial<ClusterFactsOptions> = {}): ClusterFactsProvider => {
    facts = createClusterFacts({
      kubeConfig: server.kubeConfig(),
      logger: log,
      backoffInitialMs: 20,
      backoffMaxMs: 200,
      directReadTimeoutMs: 300,
      ...extra,
    });
    return facts;
  };
  const lookup = async (req: FactsRequest): Promise<ClusterFacts> => facts!.lookup(req);

  beforeEach(async () => {
    server = new FakeApiServer();
    await server.up();
    seed(server);
    log = logSink();
  });

  afterEach(async () => {
    await facts?.stop();
    facts = undefined;
    await server.close();
  });

  test(
    'initial sync, then cache lookups answer synchronously with SA, namespace and bindings',
    async () => {
      const f = make();
      expect(f.ready()).toBe(false);
      await f.start();
      expect(f.ready()).toBe(true);
      const s = f.status();
      expect(s).toMatchObject({
        synced: true,
        stale: false,
        objects: { serviceaccounts: 5, namespaces: 3, rolebindings: 2, clusterrolebindings: 3 },
        reconnects: { serviceaccounts: 0, namespaces: 0, rolebindings: 0, clusterrolebindings: 0 },
      });

      const bound = f.lookup({ namespace: 'team-a', serviceAccount: 'bound' });
      expect(bound).not.toBeInstanceOf(Promise); // a cache hit costs no await
      expect(bound).toEqual(BOUND_IN_TEAM_A);
      expect(f.lookup({ namespace: 'team-a', serviceAccount: 'unbound' })).toEqual({
        serviceAccount: {
          namespace: 'team-a',
          name: 'unbound',
          annotations: {},
          automountServiceAccountToken: false,
          bound: false,
        },
        namespace: { name: 'team-a', labels: { 'kubernetes.io/metadata.name': 'team-a', tier: 'apps' } },
      });
      // people and their groups bind no ServiceAccount
      expect(f.lookup({ namespace: 'team-a', serviceAccount: 'default' })).toMatchObject({
        serviceAccount: { bound: false },
      });
      expect(f.lookup({ namespace: 'team-b', serviceAccount: 'by-user' })).toMatchObject({
        serviceAccount: { bound: true, boundBy: ['ClusterRoleBinding by-user'] },
      });
      expect(f.lookup({ namespace: 'grp', serviceAccount: 'any' })).toMatchObject({
        serviceAccount: { bound: true, boundBy: ['ClusterRoleBinding grp-view'] },
      });
      expect(f.lookup({ namespace: 'team-b' })).toEqual({
        namespace: { name: 'team-b', labels: { 'kubernetes.io/metadata.name': 'team-b' } },
      });
      // nothing but lists and watches went to the server
      expect(server.requests.filter((r) => r.includes('/namespaces/'))).toEqual([]);
      expect(f.snapshot().bindings).toEqual({
        'team-a/bound': ['RoleBinding team-a/bound-reader'],
        'team-b/by-user': ['ClusterRoleBinding by-user'],
        'group:system:serviceaccounts:grp': ['ClusterRoleBinding grp-view'],
      });
    },
    T,
  );

  test(
    'bind via RoleBinding, unbind, binding UPDATE that moves subjects, group bindings, namespace labels',
    async () => {
      const f = make();
      await f.start();
      const sa = (ns: string, name: string) => f.lookup({ namespace: ns, serviceAccount: name }) as ClusterFacts;

      expect(sa('team-a', 'unbound').serviceAccount?.bound).toBe(false);
      server.apply('rolebindings', k8s.rb('team-a', 'late', [k8s.saSubject('unbound')]));
      await waitFor('unbound becomes bound', () => sa('team-a', 'unbound').serviceAccount?.bound === true);
      expect(sa('team-a', 'unbound').serviceAccount?.boundBy).toEqual(['RoleBinding team-a/late']);

      // UPDATE: the binding now names another ServiceAccount; the old subject must be gone.
      server.apply('rolebindings', k8s.rb('team-a', 'late', [k8s.saSubject('default')]));
      await waitFor('binding moved to default', () => sa('team-a', 'default').serviceAccount?.bound === true);
      expect(sa('team-a', 'unbound').serviceAccount?.bound).toBe(false);
      expect(f.snapshot().bindings['team-a/unbound']).toBeUndefined();

      server.delete('rolebindings', 'late', 'team-a');
      await waitFor('unbind', () => sa('team-a', 'default').serviceAccount?.bound === false);

      // A group binding for every ServiceAccount counts for all of them, in every namespace.
      server.apply('clusterrolebindings', k8s.crb('all-sas', [k8s.group('system:serviceaccounts')]));
      await waitFor(
        'all bound',
        () =>
          sa('team-a', 'unbound').serviceAccount?.bound === true &&
          sa('team-b', 'by-user').serviceAccount?.boundBy?.length === 2,
      );
      expect(sa('team-b', 'by-user').serviceAccount?.boundBy).toEqual([
        'ClusterRoleBinding by-user',
        'ClusterRoleBinding all-sas',
      ]);
      server.delete('clusterrolebindings', 'all-sas');
      await waitFor('group unbind', () => sa('team-a', 'unbound').serviceAccount?.bound === false);
      // So does a binding of system:authenticated, which every ServiceAccount is in; its default
      // bindings (to discovery roles) grant nothing and count for none.
      server.apply('clusterrolebindings', {
        ...k8s.crb('system:discovery', [k8s.group('system:authenticated')]),
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:discovery' },
      });
      server.apply('rolebindings', k8s.rb('team-b', 'everyone', [k8s.group('system:authenticated')]));
      await waitFor('authenticated bound', () => sa('team-a', 'unbound').serviceAccount?.bound === true);
      expect(sa('team-a', 'unbound').serviceAccount?.boundBy).toEqual(['RoleBinding team-b/everyone']);
      server.delete('rolebindings', 'everyone', 'team-b');
      await waitFor('authenticated unbind', () => sa('team-a', 'unbound').serviceAccount?.bound === false);
      // A per-namespace group binding counts only in its namespace.
      server.apply('rolebindings', k8s.rb('team-b', 'ns-group', [k8s.group('system:serviceaccounts:team-b')]));
      await waitFor(
        'ns group',
        () => sa('team-b', 'by-user').serviceAccount?.boundBy?.includes('RoleBinding team-b/ns-group') === true,
      );
      expect(sa('team-a', 'unbound').serviceAccount?.bound).toBe(false);

      // Namespace label change moves the namespace in or out of a selector.
      server.apply('namespaces', k8s.ns('team-b', { tier: 'apps' }));
      await waitFor(
        'label added',
        () => (f.lookup({ namespace: 'team-b' }) as ClusterFacts).namespace?.labels.tier === 'apps',
      );
      server.apply('namespaces', k8s.ns('team-b'));
      await waitFor(
        'label removed',
        () => (f.lookup({ namespace: 'team-b' }) as ClusterFacts).namespace?.labels.tier === undefined,
      );
      // ServiceAccount annotation change (an opt-in annotation).
      server.apply(
        'serviceaccounts',
        k8s.sa('team-a', 'unbound', { automount: false, annotations: { 'tokenguard.dev/api-access': 'true' } }),
      );
      await waitFor(
        'annotation',
        () => sa('team-a', 'unbound').serviceAccount?.annotations['tokenguard.dev/api-access'] === 'true',
      );
      server.delete('serviceaccounts', 'unbound', 'team-a');
      await waitFor('SA deleted', () => f.status().objects.serviceaccounts === 4);
      expect(f.status().reconnects).toEqual({
        serviceaccounts: 0,
        namespaces: 0,
        rolebindings: 0,
        clusterrolebindings: 0,
      });
    },
    T,
  );

  test(
    'cache miss: one bounded direct read (found, 404, timeout), shared by concurrent misses, cached, never throws',
    async () => {
      const f = make();
      await f.start();
      const reads = () => server.requests.filter((r) => r.startsWith('GET /api/v1/namespaces/')).length;

      // Created a moment ago: the watch has not delivered it yet.
      server.apply(
        'serviceaccounts',
        k8s.sa('team-a', 'fresh', { annotations: { 'tokenguard.dev/api-access': 'true' } }),
        { silent: true },
      );
      const pending = f.lookup({ namespace: 'team-a', serviceAccount: 'fresh' });
      const again = f.lookup({ namespace: 'team-a', serviceAccount: 'fresh' });
      expect(pending).toBeInstanceOf(Promise);
      const [a, b] = await Promise.all([pending, again]);
      expect(a).toEqual(b);
      expect(a.serviceAccount).toEqual({
        namespace: 'team-a',
        name: 'fresh',
        annotations: { 'tokenguard.dev/api-access': 'true' },
        bound: false,
      });
      expect(reads()).toBe(1); // one read for two concurrent misses
      expect(f.lookup({ namespace: 'team-a', serviceAccount: 'fresh' })).not.toBeInstanceOf(Promise); // cached
      expect(reads()).toBe(1);

      // Does not exist: facts without it, no error, and the answer is cached too.
      await expect(lookup({ namespace: 'team-a', serviceAccount: 'ghost' })).resolves.toEqual({
        namespace: { name: 'team-a', labels: { 'kubernetes.io/metadata.name': 'team-a', tier: 'apps' } },
      });
      expect(f.lookup({ namespace: 'team-a', serviceAccount: 'ghost' })).not.toBeInstanceOf(Promise);
      // ...until the informer sees it created.
      server.apply('serviceaccounts', k8s.sa('team-a', 'ghost'));
      await waitFor(
        'ghost arrives',
        () =>
          (f.lookup({ namespace: 'team-a', serviceAccount: 'ghost' }) as ClusterFacts).serviceAccount?.name === 'ghost',
      );

      // A namespace created a moment ago is read the same way.
      server.apply('namespaces', k8s.ns('brand-new', { tier: 'apps' }), { silent: true });
      await expect(lookup({ namespace: 'brand-new' })).resolves.toEqual({
        namespace: { name: 'brand-new', labels: { 'kubernetes.io/metadata.name': 'brand-new', tier: 'apps' } },
      });

      // Names no API object can have are not even asked for.
      const before = reads();
      await expect(lookup({ namespace: 'team-a', serviceAccount: '../../secrets' })).resolves.toMatchObject({
        namespace: { name: 'team-a' },
      });
      await expect(lookup({ namespace: '', serviceAccount: 'x' })).resolves.toEqual({});
      expect(reads()).toBe(before);

      // The API server does not answer: unknown facts within the deadline, no exception.
      server.hangReads = true;
      const slow = await lookup({ namespace: 'team-a', serviceAccount: 'slow' });
      expect(slow).toEqual({
        namespace: { name: 'team-a', labels: { 'kubernetes.io/metadata.name': 'team-a', tier: 'apps' } },
      });
      const both = await lookup({ namespace: 'nowhere', serviceAccount: 'slow' });
      expect(both).toEqual({});
      // A timeout is not cached: the next lookup tries again.
      expect(f.lookup({ namespace: 'team-a', serviceAccount: 'slow' })).toBeInstanceOf(Promise);
      await waitFor('reads settle', () => f.status().directReads.timeout >= 3);
      expect(f.status().directReads).toMatchObject({ found: 2, not_found: 1, error: 0 });
      expect(log.lines.some((l) => l.level === 'warn' && l.msg.includes('timed out'))).toBe(true);
    },
    T,
  );

  test(
    'a direct read is made only for DNS-1123 subdomain names, by the policy validator’s rule',
    async () => {
      const f = make();
      await f.start();
      const readsOf = (path: string) => server.requests.filter((r) => r === `GET ${path}`).length;
      const notNames = ['a..b', 'a.-b', 'a-.b', '.a', 'a.', '-a', 'a-', 'A', 'a_b', 'a b', '', 'a'.repeat(254)];
      for (const name of notNames) {
        await expect(lookup({ namespace: 'team-a', serviceAccount: name })).resolves.toMatchObject({
          namespace: { name: 'team-a' },
        });
        await expect(lookup({ namespace: name, serviceAccount: 'x' })).resolves.toEqual({});
        expect([
          readsOf(`/api/v1/namespaces/team-a/serviceaccounts/${encodeURIComponent(name)}`),
          readsOf(`/api/v1/namespaces/${encodeURIComponent(name)}`),
        ]).toEqual([0, 0]);
      }
      // Subdomains, dotted and at the length limit, are read (and answered 404 here).
      for (const name of [
        'a.b',
        'a-1.b-2.c',
        `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`,
      ]) {
        expect(name.length).toBeLessThanOrEqual(253);
        await lookup({ namespace: 'team-a', serviceAccount: name });
        expect(readsOf(`/api/v1/namespaces/team-a/serviceaccounts/${name}`)).toBe(1);
      }
      expect(f.status().directReads).toMatchObject({ not_found: 3, throttled: 0 });
    },
    T,
  );

  test(
    'a direct read that gets no answer ends at the client’s deadline (directReadTimeoutMs): facts unknown, counted as a timeout',
    async () => {
      const f = make({ directReadTimeoutMs: 200 });
      await f.start();
      server.hangReads = true;
      await expect(lookup({ namespace: 'team-a', serviceAccount: 'slow' })).resolves.toEqual({
        namespace: { name: 'team-a', labels: { 'kubernetes.io/metadata.name': 'team-a', tier: 'apps' } },
      });
      expect(f.status().directReads).toMatchObject({ timeout: 1, error: 0, found: 0 });
      expect(log.lines.filter((l) => l.msg.includes('direct read timed out')).map((l) => l.obj)).toEqual([
        { kind: 'ServiceAccount', namespace: 'team-a', name: 'slow', timeoutMs: 200 },
      ]);
    },
    T,
  );

  test(
    'a watch that ends cleanly is reopened at once from the last resourceVersion it delivered, without a relist',
    async () => {
      const f = make();
      await f.start();
      const listRv = resourceVersionOf(watchRequests(server, 'serviceaccounts')[0]);
      server.apply('serviceaccounts', k8s.sa('team-a', 'one'));
      server.apply('serviceaccounts', k8s.sa('team-a', 'two'));
      const lastDelivered = server.resourceVersion;
      server.apply('namespaces', k8s.ns('later')); // the server moves on; the ServiceAccount watch never sees this one
      await waitFor(
        'events applied',
        () => f.status().objects.serviceaccounts === 7 && f.status().objects.namespaces === 4,
      );
      const lists = listRequests(server, 'serviceaccounts');
      const watches = watchRequests(server, 'serviceaccounts').length;

      server.endWatches(); // as the server-side timeoutSeconds does
      await waitFor(
        'the watch reopened',
        () =>
          watchRequests(server, 'serviceaccounts').length === watches + 1 && server.watchers('serviceaccounts') === 1,
      );
      expect(lastDelivered).not.toBe(listRv);
      expect(lastDelivered).not.toBe(server.resourceVersion);
      expect(resourceVersionOf(watchRequests(server, 'serviceaccounts').at(-1))).toBe(lastDelivered);
      expect(listRequests(server, 'serviceaccounts')).toBe(lists);
      expect(f.status().resources.serviceaccounts).toMatchObject({ relists: 0, reconnects: 0, watching: true });
      server.apply('serviceaccounts', k8s.sa('team-a', 'three'));
      await waitFor('events flow on the new watch', () => f.status().objects.serviceaccounts === 8);
    },
    T,
  );

  test(
    'a BOOKMARK’s resourceVersion is where the next watch starts',
    async () => {
      const f = make();
      await f.start();
      const before = resourceVersionOf(watchRequests(server, 'serviceaccounts').at(-1));
      server.apply('namespaces', k8s.ns('elsewhere')); // moves the server's resourceVersion; nothing for the ServiceAccount watch
      await waitFor('namespace applied', () => f.status().objects.namespaces === 4);
      const watches = watchRequests(server, 'serviceaccounts').length;
      const lists = listRequests(server, 'serviceaccounts');

      server.bookmark(); // at the current resourceVersion, to every watch; the stream carries it before its end
      server.endWatches();
      await waitFor('the watch reopened', () => watchRequests(server, 'serviceaccounts').length === watches + 1);
      expect(before).not.toBe(server.resourceVersion);
      expect(resourceVersionOf(watchRequests(server, 'serviceaccounts').at(-1))).toBe(server.resourceVersion);
      expect(listRequests(server, 'serviceaccounts')).toBe(lists);
    },
    T,
  );

  test(
    'after stop(), no timer, socket or request of the provider remains, and nothing reconnects',
    async () => {
      const handles = trackHandles();
      try {
        // A direct read in flight with a deadline far away, the periodic resync and staleness timers
        // armed, an idle keep-alive connection and four open watches: stop() must end all of it.
        const f = make({ directReadTimeoutMs: 60_000 });
        await f.start();
        server.apply('serviceaccounts', k8s.sa('team-a', 'fresh-1'), { silent: true });
        server.apply('serviceaccounts', k8s.sa('team-a', 'fresh-2'), { silent: true });
        // Two reads at once take two connections; the hanging read below reuses one, the other stays idle in the pool.
        const found = await Promise.all([
          lookup({ namespace: 'team-a', serviceAccount: 'fresh-1' }),
          lookup({ namespace: 'team-a', serviceAccount: 'fresh-2' }),
        ]);
        expect(found.map((x) => x.serviceAccount?.name)).toEqual(['fresh-1', 'fresh-2']);
        server.hangReads = true;
        const pending = f.lookup({ namespace: 'team-a', serviceAccount: 'in-flight' });
        await waitFor('the direct read reached the server', () =>
          server.requests.some((r) => r.endsWith('/serviceaccounts/in-flight')),
        );
        expect(server.watchers()).toBe(4);
        expect(server.connections()).toBeGreaterThanOrEqual(6); // four watches, the hanging read, at least one idle

        await f.stop();
        await expect(pending).resolves.toMatchObject({ namespace: { name: 'team-a' } }); // ended by stop(), not by its deadline
        const created = handles.created();
        await waitFor('the server saw every connection close', () => server.connections() === 0);
        try {
          await waitFor('every handle made since start() is closed', () => handles.stillOpen(created).length === 0);
        } catch (e) {
          throw new Error(`${(e as Error).message}; still open: ${handles.stillOpen(created).join(', ')}`);
        }
        const requests = server.requests.length;
        await new Promise((r) => setTimeout(r, 500)); // more than the longest backoff (backoffMaxMs 200)
        expect(server.requests.length).toBe(requests);
        expect(server.connections()).toBe(0);
      } finally {
        handles.disable();
      }
    },
    T,
  );

  test(
    'stop() kills an exec credential plugin still running (and the child it started), and rejects start()',
    async () => {
      const plugin = hangingPlugin();
      const f = make({ kubeConfig: { source: 'fake', server: server.url, user: { exec: plugin.exec } } });
      const started = f.start();
      started.catch(() => {});
      try {
        const pids = await plugin.pids();
        expect(pids.map(isRunning)).toEqual([true, true]);
        await f.stop();
        await expect(started).rejects.toThrow('stopped before the first full sync');
        await waitFor('plugin and child are gone', () => !pids.some(isRunning));
        expect(server.requests).toEqual([]); // every request waited for the credential
      } finally {
        plugin.kill();
      }
    },
    T,
  );

  test(
    'API server stopped and restarted: lookups keep answering from cache, bindings unknown while stale, watches reconnect',
    async () => {
      const f = make();
      await f.start();
      await server.down();
      await waitFor('stale and reconnecting', () => f.status().stale && f.status().reconnects.serviceaccounts > 0);
      const during = f.lookup({ namespace: 'team-a', serviceAccount: 'bound' });
      expect(during).not.toBeInstanceOf(Promise); // from the cache, no network
      expect(during).toEqual({
        serviceAccount: {
          namespace: 'team-a',
          name: 'bound',
          annotations: { 'tokenguard.dev/api-access': 'false', other: 'x' },
        },
        namespace: { name: 'team-a', labels: { 'kubernetes.io/metadata.name': 'team-a', tier: 'apps' } },
      });
      expect(f.ready()).toBe(true); // readiness is about the first sync; staleness degrades to `whenUnknown`
      const down = f.status();
      expect(Object.values(down.resources).every((r) => !r.watching && r.stale)).toBe(true);

      // Changes while the watches are down arrive on reconnect (history replay from the last resourceVersion).
      server.apply('serviceaccounts', k8s.sa('team-b', 'made-while-down'));
      server.delete('rolebindings', 'bound-reader', 'team-a');
      await server.up();
      await waitFor('fresh again', () => !f.status().stale);
      await waitFor('changes replayed', () => f.status().objects.serviceaccounts === 6);
      expect(f.lookup({ namespace: 'team-a', serviceAccount: 'bound' })).toMatchObject({
        serviceAccount: { bound: false },
      });
      expect(f.lookup({ namespace: 'team-b', serviceAccount: 'made-while-down' })).toMatchObject({
        serviceAccount: { bound: false },
      });
      const up = f.status();
      expect(Object.values(up.resources).every((r) => r.watching && !r.stale && r.reconnects > 0)).toBe(true);
      expect(log.lines.some((l) => l.level === 'warn' && l.msg === 'facts watch failed; reconnecting')).toBe(true);
      expect(log.lines.some((l) => l.level === 'info' && l.msg === 'facts watch reconnected')).toBe(true);
    },
    T,
  );

  test.each([
    ['an ERROR 410 event', false],
    ['an HTTP 410 on reconnect', true],
  ])(
    '410 Gone (%s) after a burst: relist without duplicate or lost entries',
    async (_label, httpGone) => {
      const f = make();
      await f.start();
      // A burst of events...
      for (let i = 0; i < 120; i++) server.apply('serviceaccounts', k8s.sa('team-a', `burst-${i}`));
      for (let i = 0; i < 120; i += 4) server.delete('serviceaccounts', `burst-${i}`, 'team-a');
      for (let i = 0; i < 60; i++)
        server.apply('rolebindings', k8s.rb('team-a', `rb-${i}`, [k8s.saSubject(`burst-${i}`)]));
      for (let i = 0; i < 60; i += 3)
        server.apply(
          'rolebindings',
          k8s.rb('team-a', `rb-${i}`, [k8s.saSubject(`burst-${i + 1}`), k8s.group('system:serviceaccounts:team-b')]),
        );
      for (let i = 0; i < 60; i += 5) server.delete('rolebindings', `rb-${i}`, 'team-a');
      await waitFor('burst applied', () => f.status().objects.rolebindings === 2 + 60 - 12);
      // ...then events the client never sees (lost in a gap) and a compaction: only a relist can recover.
      for (let i = 120; i < 150; i++) server.apply('serviceaccounts', k8s.sa('team-a', `burst-${i}`), { silent: true });
      for (let i = 1; i < 120; i += 4) server.delete('serviceaccounts', `burst-${i}`, 'team-a', { silent: true });
      server.apply('rolebindings', k8s.rb('team-a', 'rb-1', [k8s.user('system:serviceaccount:team-b:by-user')]), {
        silent: true,
      });
      server.delete('clusterrolebindings', 'grp-view', undefined, { silent: true });
      server.delete('namespaces', 'grp', undefined, { silent: true });
      server.goneAsHttpStatus = httpGone;
      server.expire();
      const relistedAfterGone = () =>
        new Set(
          log.lines
            .filter((l) => l.msg === 'facts relisted' && String(l.obj.reason).includes('410'))
            .map((l) => l.obj.resource),
        );
      await waitFor('every informer relisted after 410 Gone', () => relistedAfterGone().size === 4);
      expect(Object.values(f.status().resources).every((r) => r.relists >= 1 && r.watching)).toBe(true);
      await waitFor('converged', () => JSON.stringify(f.snapshot()) === JSON.stringify(expected(server)));
      expect(f.snapshot()).toEqual(expected(server));
      expect(f.status().objects).toEqual({
        serviceaccounts: server.objects('serviceaccounts').length,
        namespaces: server.objects('namespaces').length,
        rolebindings: server.objects('rolebindings').length,
        clusterrolebindings: server.objects('clusterrolebindings').length,
      });
      expect(f.status().reconnects).toEqual({
        serviceaccounts: 0,
        namespaces: 0,
        rolebindings: 0,
        clusterrolebindings: 0,
      });
    },
    T,
  );

  test(
    'a server that answers every watch with 410 Gone meets the backoff, not a relist loop',
    async () => {
      // Every backoff is held until released: what the informers do before one is all they do.
      const backoffs: (() => void)[] = [];
      const sleep = (_ms: number, signal: AbortSignal) =>
        new Promise<void>((resolve, reject) => {
          backoffs.push(resolve);
          signal.addEventListener('abort', () => reject(signal.reason), { once: true });
        });
      const f = make({ sleep });
      await f.start();
      const lists = listRequests(server, 'serviceaccounts');
      const watches = watchRequests(server, 'serviceaccounts').length;
      server.goneAlways = true;
      server.endWatches();
      // Each informer: its watch reopened and refused, one relist, the watch from it refused again, then the backoff.
      await waitFor('every informer in backoff', () => backoffs.length === 4);
      expect(listRequests(server, 'serviceaccounts')).toBe(lists + 1);
      expect(watchRequests(server, 'serviceaccounts').length).toBe(watches + 2);
      expect(f.status().reconnects.serviceaccounts).toBe(1);
      server.goneAlways = false;
      for (const release of backoffs.splice(0)) release();
      await waitFor('watching again', () => Object.values(f.status().resources).every((r) => r.watching));
    },
    T,
  );

  test(
    'staleness by age (injected clock): bindings unknown until an event or bookmark arrives',
    async () => {
      let clock = 1_700_000_000_000;
      const f = make({ now: () => clock, staleAfterMs: 60_000 });
      await f.start();
      expect(f.status()).toMatchObject({ stale: false, lastEventAgeSeconds: { serviceaccounts: 0, rolebindings: 0 } });
      clock += 60_001;
      expect(f.status()).toMatchObject({
        stale: true,
        lastEventAgeSeconds: { serviceaccounts: 60.001, clusterrolebindings: 60.001 },
      });
      expect(
        (f.lookup({ namespace: 'team-a', serviceAccount: 'bound' }) as ClusterFacts).serviceAccount?.bound,
      ).toBeUndefined();
      server.bookmark();
      await waitFor('fresh after bookmark', () => !f.status().stale);
      expect(f.status().lastEventAgeSeconds).toEqual({
        serviceaccounts: 0,
        namespaces: 0,
        rolebindings: 0,
        clusterrolebindings: 0,
      });
      expect((f.lookup({ namespace: 'team-a', serviceAccount: 'bound' }) as ClusterFacts).serviceAccount?.bound).toBe(
        true,
      );
    },
    T,
  );

  test(
    'a watch that stays open but silent is noticed and reopened',
    async () => {
      const f = make({ watchTimeoutSeconds: 2 });
      await f.start();
      server.hangWatches = true;
      server.endWatches();
      await waitFor(
        'stall detected',
        () => log.lines.some((l) => l.level === 'warn' && String(l.obj.error).includes('stalled')),
        15_000,
      );
      server.hangWatches = false;
      await waitFor(
        'watching again',
        () => !f.status().stale && Object.values(f.status().resources).every((r) => r.watching),
      );
      server.apply('serviceaccounts', k8s.sa('team-a', 'after-stall'));
      await waitFor('events flow again', () => f.status().objects.serviceaccounts === 6);
    },
    T,
  );

  test(
    'periodic resync relists and heals what the watch missed',
    async () => {
      const f = make({ resyncPeriodMs: 200 });
      await f.start();
      server.apply('serviceaccounts', k8s.sa('team-a', 'never-announced'), { silent: true });
      server.delete('rolebindings', 'bound-reader', 'team-a', { silent: true });
      await waitFor('healed', () => JSON.stringify(f.snapshot()) === JSON.stringify(expected(server)));
      const healed = (resource: string) =>
        log.lines.some(
          (l) =>
            l.level === 'warn' &&
            l.msg.startsWith('facts relisted: the periodic resync found') &&
            l.obj.resource === resource &&
            l.obj.changes === 1,
        );
      await waitFor('the missed changes are reported', () => healed('serviceaccounts') && healed('rolebindings'));
      // relists that find nothing new stay quiet
      expect(
        log.lines.some((l) => l.level !== 'debug' && l.msg.includes('relisted') && l.obj.resource === 'namespaces'),
      ).toBe(false);
      expect(f.status().resources.serviceaccounts.relists).toBeGreaterThanOrEqual(1);
    },
    T,
  );

  test(
    'starting while the API server is unreachable: retries with backoff, ready only after the first full sync',
    async () => {
      await server.down();
      const f = make();
      const started = f.start();
      await waitFor('retrying', () => f.status().reconnects.namespaces >= 2);
      expect(f.ready()).toBe(false);
      expect(f.status()).toMatchObject({ synced: false, stale: true });
      // A lookup before the sync: never throws, facts unknown.
      await expect(lookup({ namespace: 'team-a', serviceAccount: 'bound' })).resolves.toEqual({});
      await server.up();
      await started;
      expect(f.ready()).toBe(true);
      expect(f.lookup({ namespace: 'team-a', serviceAccount: 'bound' })).toMatchObject({
        serviceAccount: { bound: true },
      });
    },
    T,
  );

  test(
    'reconnect delays come from the injected sleep and random: exponential, capped',
    async () => {
      await server.down();
      const delays: number[] = [];
      const f = make({
        random: () => 0.5,
        sleep: (ms, signal) => {
          delays.push(ms);
          return new Promise<void>((resolve) => {
            const t = setTimeout(resolve, 5);
            signal.addEventListener(
              'abort',
              () => {
                clearTimeout(t);
                resolve();
              },
              { once: true },
            );
          });
        },
      });
      const started = f.start();
      await waitFor('many attempts', () => f.status().reconnects.serviceaccounts >= 8);
      // backoffInitialMs 20, backoffMaxMs 200, random 0.5: 3/4 of min(200, 20 * 2^n)
      expect(new Set(delays)).toEqual(new Set([15, 30, 60, 120, 150]));
      await server.up();
      await started;
    },
    T,
  );

  test(
    'a server that ends every watch at once gets backoff, not a hot loop',
    async () => {
      const f = make();
      await f.start();
      const watches = () =>
        server.requests.filter((r) => r.startsWith('GET /api/v1/serviceaccounts?') && r.includes('watch=true')).length;
      const before = watches();
      server.endWatchesAtOnce = true;
      server.endWatches();
      await waitFor('backing off', () => f.status().reconnects.serviceaccounts >= 4);
      // at most two immediate reopens per failure
      expect(watches() - before).toBeLessThanOrEqual(2 * f.status().reconnects.serviceaccounts + 2);
      server.endWatchesAtOnce = false;
      await waitFor('watching again', () => f.status().resources.serviceaccounts.watching);
    },
    T,
  );

  test(
    'stop() before the first sync rejects start(); after stop, lookups still answer and never throw',
    async () => {
      await server.down();
      const f = make();
      const started = f.start();
      await waitFor('retrying', () => f.status().reconnects.serviceaccounts >= 1);
      await f.stop();
      await expect(started).rejects.toThrow('stopped before the first full sync');
      expect(f.ready()).toBe(false);
      await expect(lookup({ namespace: 'team-a', serviceAccount: 'x' })).resolves.toEqual({});
      await expect(f.start()).rejects.toThrow('stopped');
    },
    T,
  );
});

describe('readClusterFacts: one read-only listing for `tokenguard test --kubeconfig`', () => {
  test('lists the four kinds (paged) and answers like static facts with complete bindings', async () => {
    const server = new FakeApiServer();
    await server.up();
    try {
      seed(server);
      const facts = await readClusterFacts(server.kubeConfig(), { pageSize: 2 });
      expect(server.requests.every((r) => r.startsWith('GET ') && !r.includes('watch=true'))).toBe(true);
      expect(server.requests.filter((r) => r.includes('continue=')).length).toBeGreaterThan(0); // paged
      expect(facts.serviceAccounts.size).toBe(5);
      expect(facts.lookup({ namespace: 'team-a', serviceAccount: 'bound' })).toEqual(BOUND_IN_TEAM_A);
      expect(facts.lookup({ namespace: 'team-a', serviceAccount: 'unbound' })).toMatchObject({
        serviceAccount: { bound: false, automountServiceAccountToken: false },
      });
      expect(facts.lookup({ namespace: 'grp', serviceAccount: 'any' })).toMatchObject({
        serviceAccount: { bound: true },
      });
      // The same objects, to merge with a set of manifests.
      const objects = await listClusterObjects(server.kubeConfig());
      expect(objects.map((o) => o.kind).sort()).toEqual([
        ...Array(3).fill('ClusterRoleBinding'),
        ...Array(3).fill('Namespace'),
        ...Array(2).fill('RoleBinding'),
        ...Array(5).fill('ServiceAccount'),
      ]);
    } finally {
      await server.close();
    }
  });

  test('rejects when the API server cannot be reached', async () => {
    const server = new FakeApiServer();
    await server.up();
    const kc = server.kubeConfig();
    await server.close();
    await expect(readClusterFacts(kc, { requestTimeoutMs: 2_000 })).rejects.toThrow();
  });
});

/** What the index must hold for the server's current objects, computed independently of src/facts. */
function expected(server: FakeApiServer) {
  const sorted = <T>(entries: [string, T][]) => Object.fromEntries(entries.sort(([a], [b]) => (a < b ? -1 : 1)));
  const serviceAccounts = sorted(
    server.objects('serviceaccounts').map((o) => {
      const md = o.metadata as { name: string; namespace: string; annotations?: Record<string, string> };
      const automount = o.automountServiceAccountToken;
      return [
        `${md.namespace}/${md.name}`,
        {
          namespace: md.namespace,
          name: md.name,
          annotations: md.annotations ?? {},
          ...(typeof automount === 'boolean' ? { automountServiceAccountToken: automount } : {}),
        },
      ];
    }),
  );
  const namespaces = sorted(
    server
      .objects('namespaces')
      .map((o) => [
        o.metadata.name,
        { name: o.metadata.name, labels: (o.metadata as { labels?: Record<string, string> }).labels ?? {} },
      ]),
  );
  const bindings: Record<string, string[]> = {};
  for (const kind of ['rolebindings', 'clusterrolebindings'] as const) {
    for (const o of server.objects(kind)) {
      const ns = o.metadata.namespace ?? '';
      const id =
        kind === 'rolebindings' ? `RoleBinding ${ns}/${o.metadata.name}` : `ClusterRoleBinding ${o.metadata.name}`;
      const roleRef = o.roleRef as { kind: string; name: string };
      if (roleRef.kind === 'ClusterRole' && roleRef.name === 'system:service-account-issuer-discovery') continue; // grants nothing
      for (const s of (o.subjects as { kind: string; name: string; namespace?: string }[]) ?? []) {
        let key: string | undefined;
        if (s.kind === 'ServiceAccount') key = `${s.namespace || ns}/${s.name}`;
        else if (s.kind === 'User' && s.name.startsWith('system:serviceaccount:'))
          key = s.name.slice('system:serviceaccount:'.length).replace(':', '/');
        else if (s.kind === 'Group' && s.name.startsWith('system:serviceaccounts')) key = `group:${s.name}`;
        if (!key) continue;
        bindings[key] = [...new Set([...(bindings[key] ?? []), id])].sort();
      }
    }
  }
  return { serviceAccounts, namespaces, bindings: sorted(Object.entries(bindings)) };
}
