/**
 * A fake Kubernetes API server on 127.0.0.1 (node:http, ephemeral port) serving exactly what
 * the facts informers use: lists (with `limit`/`continue` and a resourceVersion) and
 * `?watch=true` streams of JSON lines (ADDED, MODIFIED, DELETED, BOOKMARK, ERROR 410) for
 * ServiceAccounts, Namespaces, RoleBindings and ClusterRoleBindings, plus single reads of a
 * ServiceAccount or a Namespace. Watches replay history after their resourceVersion, as the
 * real one does, and get 410 Gone once that history is compacted away.
 *
 * Faults on demand: `down()`/`up()` (listener closed, every socket destroyed, same port
 * after), `expire()` (compaction + 410), `hangReads`, `hangWatches`, `silent` changes (stored,
 * never sent to watchers: "created a moment ago").
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { KubeConfig } from '../../../src/kube/config.js';

export type Resource = 'serviceaccounts' | 'namespaces' | 'rolebindings' | 'clusterrolebindings';
type Obj = Record<string, unknown> & { metadata: Record<string, unknown> & { name: string; namespace?: string } };
type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

const KIND: Record<Resource, { kind: string; apiVersion: string; path: string; namespaced: boolean }> = {
  serviceaccounts: { kind: 'ServiceAccount', apiVersion: 'v1', path: '/api/v1/serviceaccounts', namespaced: true },
  namespaces: { kind: 'Namespace', apiVersion: 'v1', path: '/api/v1/namespaces', namespaced: false },
  rolebindings: {
    kind: 'RoleBinding',
    apiVersion: 'rbac.authorization.k8s.io/v1',
    path: '/apis/rbac.authorization.k8s.io/v1/rolebindings',
    namespaced: true,
  },
  clusterrolebindings: {
    kind: 'ClusterRoleBinding',
    apiVersion: 'rbac.authorization.k8s.io/v1',
    path: '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings',
    namespaced: false,
  },
};

interface Watcher {
  readonly resource: Resource;
  readonly res: ServerResponse;
  timer?: NodeJS.Timeout;
}

const keyOf = (o: { metadata: { name: string; namespace?: string } }) =>
  o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;

export class FakeApiServer {
  /** Every request received, as `METHOD path?query`. */
  readonly requests: string[] = [];
  /** Direct reads never answer (until the server goes down or closes). */
  hangReads = false;
  /** Watches are accepted but never get a byte nor end (a half-dead connection). */
  hangWatches = false;
  /** Watches are answered 200 and ended at once, without a byte (a misbehaving proxy). */
  endWatchesAtOnce = false;
  /** Watches from a compacted resourceVersion get an HTTP 410 instead of a 410 ERROR event. */
  goneAsHttpStatus = false;
  /** Every watch, from any resourceVersion, is answered with a 410 ERROR event and ended (a broken server). */
  goneAlways = false;

  #server: Server | undefined;
  #port = 0;
  #rv = 100;
  #compactedBelow = 0;
  readonly #objects: Record<Resource, Map<string, Obj>> = {
    serviceaccounts: new Map(),
    namespaces: new Map(),
    rolebindings: new Map(),
    clusterrolebindings: new Map(),
  };
  readonly #history: { rv: number; resource: Resource; type: EventType; object: Obj }[] = [];
  readonly #watchers = new Set<Watcher>();
  readonly #snapshots = new Map<string, Obj[]>();
  readonly #sockets = new Set<Socket>();

  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  get resourceVersion(): string {
    return String(this.#rv);
  }

  /** TCP connections open now, from any client (keep-alive ones included). */
  connections(): number {
    return this.#sockets.size;
  }

  /** Open watch streams per resource. */
  watchers(resource?: Resource): number {
    return [...this.#watchers].filter((w) => !resource || w.resource === resource).length;
  }

  /** Starts listening (an ephemeral port the first time, the same port after `down()`). */
  async up(): Promise<void> {
    const server = createServer((req, res) => this.#handle(req, res));
    // Idle keep-alive connections stay open until the client closes them (Node's default closes
    // them after 5 s; the API server keeps them far longer), so a client that leaks one shows.
    server.keepAliveTimeout = 0;
    server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
    server.listen(this.#port, '127.0.0.1');
    await once(server, 'listening');
    this.#port = (server.address() as AddressInfo).port;
    this.#server = server;
  }

  /** The API server goes away: listener closed, every connection (watches included) destroyed. */
  async down(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    for (const w of this.#watchers) clearTimeout(w.timer);
    this.#watchers.clear();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  /** Final shutdown. */
  close(): Promise<void> {
    return this.down();
  }

  /** Connection settings for this server (plain http on loopback, a bearer token). */
  kubeConfig(): KubeConfig {
    return { source: 'fake', server: this.url, user: { token: 'not-a-real-token' } };
  }

  /** Creates or replaces an object; watchers get ADDED or MODIFIED unless `silent`. */
  apply(resource: Resource, obj: Obj, options: { silent?: boolean } = {}): void {
    const meta = KIND[resource];
    const stored: Obj = structuredClone({ ...obj, kind: meta.kind, apiVersion: meta.apiVersion });
    const key = keyOf(stored);
    const type: EventType = this.#objects[resource].has(key) ? 'MODIFIED' : 'ADDED';
    stored.metadata.resourceVersion = String(++this.#rv);
    this.#objects[resource].set(key, stored);
    if (!options.silent) this.#emit(resource, type, stored);
  }

  /** Deletes an object; watchers get DELETED unless `silent`. */
  delete(resource: Resource, name: string, namespace?: string, options: { silent?: boolean } = {}): void {
    const key = namespace ? `${namespace}/${name}` : name;
    const old = this.#objects[resource].get(key);
    if (!old) return;
    this.#objects[resource].delete(key);
    const gone: Obj = structuredClone(old);
    gone.metadata.resourceVersion = String(++this.#rv);
    if (!options.silent) this.#emit(resource, 'DELETED', gone);
  }

  /** What the server holds now. */
  objects(resource: Resource): Obj[] {
    return [...this.#objects[resource].values()];
  }

  /** Sends a BOOKMARK at the current resourceVersion to every watcher. */
  bookmark(): void {
    for (const w of this.#watchers) {
      this.#write(w, {
        type: 'BOOKMARK',
        object: {
          kind: KIND[w.resource].kind,
          apiVersion: KIND[w.resource].apiVersion,
          metadata: { resourceVersion: this.resourceVersion },
        },
      });
    }
  }

  /**
   * Compacts history (every resourceVersion before the current one becomes too old) and ends
   * every watch: with a 410 ERROR event, or plainly when `goneAsHttpStatus` (a client that
   * missed events then gets HTTP 410 when it reconnects from its older resourceVersion).
   */
  expire(): void {
    this.#compactedBelow = this.#rv;
    this.#history.length = 0;
    for (const w of [...this.#watchers]) {
      if (!this.goneAsHttpStatus) this.#write(w, { type: 'ERROR', object: gone(this.#rv) });
      this.#end(w);
    }
  }

  /** Ends every watch cleanly (as the server-side timeout does). */
  endWatches(): void {
    for (const w of [...this.#watchers]) this.#end(w);
  }

  #emit(resource: Resource, type: EventType, object: Obj): void {
    this.#history.push({ rv: Number(object.metadata.resourceVersion), resource, type, object });
    for (const w of this.#watchers) if (w.resource === resource) this.#write(w, { type, object });
  }

  #write(w: Watcher, event: unknown): void {
    if (!w.res.writableEnded && !w.res.destroyed) w.res.write(`${JSON.stringify(event)}\n`);
  }

  #end(w: Watcher): void {
    clearTimeout(w.timer);
    this.#watchers.delete(w);
    if (!w.res.writableEnded) w.res.end();
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    this.requests.push(`${req.method} ${req.url}`);
    const url = new URL(req.url ?? '/', 'http://x');
    const resource = (Object.keys(KIND) as Resource[]).find((r) => KIND[r].path === url.pathname);
    if (req.method !== 'GET') {
      json(res, 405, status(405, 'MethodNotAllowed', 'only GET here'));
      return;
    }
    if (resource && url.searchParams.get('watch') === 'true') this.#watch(resource, url, res);
    else if (resource) this.#list(resource, url, res);
    else this.#read(url, res);
  }

  #read(url: URL, res: ServerResponse): void {
    const sa = /^\/api\/v1\/namespaces\/([^/]+)\/serviceaccounts\/([^/]+)$/.exec(url.pathname);
    const ns = /^\/api\/v1\/namespaces\/([^/]+)$/.exec(url.pathname);
    if (sa || ns) {
      if (this.hangReads) return; // never answered; destroyed by down()/close()
      const found = sa ? this.#objects.serviceaccounts.get(`${sa[1]}/${sa[2]}`) : this.#objects.namespaces.get(ns![1]!);
      if (found) json(res, 200, found);
      else json(res, 404, status(404, 'NotFound', 'not found'));
      return;
    }
    json(res, 404, status(404, 'NotFound', `no route ${url.pathname}`));
  }

  #list(resource: Resource, url: URL, res: ServerResponse): void {
    const limit = Number(url.searchParams.get('limit') ?? '0');
    const cont = url.searchParams.get('continue');
    let items: Obj[];
    let rv: string;
    let offset = 0;
    let snapId: string;
    if (cont) {
      const [id, off, snapRv] = cont.split(':');
      const snap = this.#snapshots.get(id!);
      if (!snap) {
        json(res, 410, status(410, 'Expired', 'continue token expired'));
        return;
      }
      items = snap;
      offset = Number(off);
      rv = snapRv!;
      snapId = id!;
    } else {
      items = [...this.#objects[resource].values()].sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : 1));
      rv = this.resourceVersion;
      snapId = String(this.#snapshots.size + 1);
      this.#snapshots.set(snapId, items);
    }
    const page = limit > 0 ? items.slice(offset, offset + limit) : items.slice(offset);
    const next = limit > 0 && offset + limit < items.length ? `${snapId}:${offset + limit}:${rv}` : undefined;
    json(res, 200, {
      kind: `${KIND[resource].kind}List`,
      apiVersion: KIND[resource].apiVersion,
      metadata: { resourceVersion: rv, ...(next ? { continue: next } : {}) },
      items: page,
    });
  }

  #watch(resource: Resource, url: URL, res: ServerResponse): void {
    const from = Number(url.searchParams.get('resourceVersion') || '0');
    if (from < this.#compactedBelow && this.goneAsHttpStatus) {
      json(res, 410, gone(this.#rv));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
    const w: Watcher = { resource, res };
    if (this.hangWatches) return; // open and silent until down()/close() destroys the socket
    if (this.endWatchesAtOnce) {
      res.end();
      return;
    }
    if (from < this.#compactedBelow || this.goneAlways) {
      this.#write(w, { type: 'ERROR', object: gone(this.#rv) });
      res.end();
      return;
    }
    this.#watchers.add(w);
    res.on('close', () => this.#end(w));
    for (const e of this.#history)
      if (e.resource === resource && e.rv > from) this.#write(w, { type: e.type, object: e.object });
    const timeout = Number(url.searchParams.get('timeoutSeconds') ?? '0');
    if (timeout > 0) {
      w.timer = setTimeout(() => this.#end(w), timeout * 1000);
      w.timer.unref();
    }
  }
}

function status(code: number, reason: string, message: string) {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

function gone(rv: number) {
  return status(410, 'Expired', `too old resource version (current ${rv})`);
}

function json(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Polls `cond` every 20 ms until it holds, for at most `timeoutMs` (no timing assertion). */
export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Object builders. */
export const k8s = {
  sa: (
    namespace: string,
    name: string,
    extra: { annotations?: Record<string, string>; automount?: boolean } = {},
  ): Obj => ({
    metadata: {
      name,
      namespace,
      uid: `uid-${namespace}-${name}`,
      creationTimestamp: '2024-01-01T00:00:00Z',
      ...(extra.annotations ? { annotations: extra.annotations } : {}),
      managedFields: [{ manager: 'kubectl', operation: 'Apply' }],
    },
    secrets: [{ name: `${name}-token` }],
    ...(extra.automount !== undefined ? { automountServiceAccountToken: extra.automount } : {}),
  }),
  ns: (name: string, labels: Record<string, string> = {}): Obj => ({
    metadata: { name, labels: { 'kubernetes.io/metadata.name': name, ...labels } },
    spec: { finalizers: ['kubernetes'] },
    status: { phase: 'Active' },
  }),
  rb: (namespace: string, name: string, subjects: Record<string, unknown>[]): Obj => ({
    metadata: { name, namespace },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'reader' },
    subjects,
  }),
  crb: (name: string, subjects: Record<string, unknown>[]): Obj => ({
    metadata: { name },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
    subjects,
  }),
  saSubject: (name: string, namespace?: string) => ({
    kind: 'ServiceAccount',
    name,
    ...(namespace ? { namespace } : {}),
  }),
  group: (name: string) => ({ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name }),
  user: (name: string) => ({ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name }),
};
