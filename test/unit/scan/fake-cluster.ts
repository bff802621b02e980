/**
 * A fake Kubernetes API server on 127.0.0.1 (node:http, ephemeral port) for the scan: paged
 * lists (`limit`/`continue`) of every resource the scan reads, across all namespaces or one, with
 * `fieldSelector` on `metadata.name` and `type`, and the metadata-only representation for an
 * `Accept: ...;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1` header, as the real one answers.
 * Without that header a Secret list carries the data, so a scan that forgot it would show.
 * Also `/version`, single ConfigMap reads, and the `wgpolicyk8s.io/v1alpha2` discovery and
 * server-side apply of reports. Every request is recorded (method, path, query, headers).
 *
 * Faults on demand: `forbidden` paths (403), `expireContinueOnce` (410 on the first continued
 * page of a path), no PolicyReport CRDs.
 */
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type Obj = Record<string, unknown> & {
  metadata: Record<string, unknown> & { name: string; namespace?: string };
};

export interface SeenRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Record<string, string>;
  readonly accept: string;
  readonly contentType: string | undefined;
}

/** Resource name → [kind, apiVersion, namespaced]. */
const RESOURCES: Record<string, [string, string, boolean]> = {
  namespaces: ['Namespace', 'v1', false],
  serviceaccounts: ['ServiceAccount', 'v1', true],
  secrets: ['Secret', 'v1', true],
  pods: ['Pod', 'v1', true],
  configmaps: ['ConfigMap', 'v1', true],
  replicationcontrollers: ['ReplicationController', 'v1', true],
  deployments: ['Deployment', 'apps/v1', true],
  statefulsets: ['StatefulSet', 'apps/v1', true],
  daemonsets: ['DaemonSet', 'apps/v1', true],
  replicasets: ['ReplicaSet', 'apps/v1', true],
  jobs: ['Job', 'batch/v1', true],
  cronjobs: ['CronJob', 'batch/v1', true],
  rolebindings: ['RoleBinding', 'rbac.authorization.k8s.io/v1', true],
  clusterrolebindings: ['ClusterRoleBinding', 'rbac.authorization.k8s.io/v1', false],
  policyreports: ['PolicyReport', 'wgpolicyk8s.io/v1alpha2', true],
  clusterpolicyreports: ['ClusterPolicyReport', 'wgpolicyk8s.io/v1alpha2', false],
};

export class FakeCluster {
  readonly requests: SeenRequest[] = [];
  /** Paths (without query) answered 403. */
  readonly forbidden = new Set<string>();
  /** Paths whose first continued page is answered 410 Expired. */
  readonly expireContinueOnce = new Set<string>();
  /** Serve the wgpolicyk8s.io/v1alpha2 group (the PolicyReport CRDs are installed). */
  reportCrds = true;
  version = 'v1.34.4';
  readonly #objects = new Map<string, Map<string, Obj>>();
  #server: Server | undefined;
  #port = 0;

  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  async start(): Promise<void> {
    this.#server = createServer((req, res) => this.#handle(req, res));
    this.#server.listen(0, '127.0.0.1');
    await once(this.#server, 'listening');
    this.#port = (this.#server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    const s = this.#server;
    if (!s) return;
    this.#server = undefined;
    const closed = new Promise<void>((r) => s.close(() => r()));
    s.closeAllConnections();
    await closed;
  }

  /** A kubeconfig file for this server (plain http on loopback, a bearer token). */
  kubeconfigFile(): string {
    const dir = mkdtempSync(join(tmpdir(), 'tg-scan-'));
    const file = join(dir, 'kubeconfig');
    writeFileSync(
      file,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters: [{name: fake, cluster: {server: "' + this.url + '"}}]',
        'users: [{name: u, user: {token: not-a-real-token}}]',
        'contexts: [{name: fake, context: {cluster: fake, user: u}}, {name: other, context: {cluster: fake, user: u}}]',
        'current-context: fake',
        '',
      ].join('\n'),
    );
    return file;
  }

  /** Stores objects (kind and apiVersion from the resource). */
  add(resource: string, ...objects: Obj[]): void {
    const meta = RESOURCES[resource];
    if (!meta) throw new Error(`fake cluster: unknown resource ${resource}`);
    const map = this.#objects.get(resource) ?? new Map<string, Obj>();
    for (const o of objects) {
      const stored = structuredClone({ apiVersion: meta[1], kind: meta[0], ...o });
      stored.metadata.uid ??= `uid-${resource}-${o.metadata.namespace ?? ''}-${o.metadata.name}`;
      stored.metadata.creationTimestamp ??= '2026-01-01T00:00:00Z';
      map.set(`${o.metadata.namespace ?? ''}/${o.metadata.name}`, stored);
    }
    this.#objects.set(resource, map);
  }

  objects(resource: string): Obj[] {
    return [...(this.#objects.get(resource)?.values() ?? [])];
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const query = Object.fromEntries(url.searchParams.entries());
    this.requests.push({
      method: req.method ?? '',
      path: url.pathname,
      query,
      accept: String(req.headers.accept ?? ''),
      contentType: req.headers['content-type'],
    });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        this.#answer(
          req.method ?? 'GET',
          url.pathname,
          query,
          String(req.headers.accept ?? ''),
          Buffer.concat(chunks).toString('utf8'),
          res,
        );
      } catch (e) {
        json(res, 500, status(500, 'InternalError', (e as Error).message));
      }
    });
  }

  #answer(
    method: string,
    path: string,
    query: Record<string, string>,
    accept: string,
    body: string,
    res: ServerResponse,
  ): undefined {
    if (this.forbidden.has(path)) return json(res, 403, status(403, 'Forbidden', `forbidden: cannot list ${path}`));
    if (path === '/version') return json(res, 200, { major: '1', minor: '34', gitVersion: this.version });
    if (path === '/apis/wgpolicyk8s.io/v1alpha2') {
      if (!this.reportCrds)
        return json(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
      return json(res, 200, {
        kind: 'APIResourceList',
        groupVersion: 'wgpolicyk8s.io/v1alpha2',
        resources: [
          { name: 'policyreports', namespaced: true, kind: 'PolicyReport' },
          { name: 'clusterpolicyreports', namespaced: false, kind: 'ClusterPolicyReport' },
        ],
      });
    }
    const m = /^\/(?:api\/v1|apis\/([^/]+)\/([^/]+))(?:\/namespaces\/([^/]+))?\/([^/]+)(?:\/([^/]+))?$/.exec(path);
    if (!m) return json(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
    const [, group, version, ns, resource, name] = m as unknown as [
      string,
      string | undefined,
      string | undefined,
      string | undefined,
      string,
      string | undefined,
    ];
    const meta = RESOURCES[resource];
    if (!meta || (group ? `${group}/${version}` : 'v1') !== meta[1])
      return json(res, 404, status(404, 'NotFound', 'the server could not find the requested resource'));
    const store = this.#objects.get(resource) ?? new Map<string, Obj>();
    if (name !== undefined) {
      const k = `${ns ?? ''}/${name}`;
      if (method === 'PATCH') {
        const obj = JSON.parse(body) as Obj;
        this.add(resource, obj);
        return json(res, 200, this.#objects.get(resource)?.get(k));
      }
      const o = store.get(k);
      return o ? json(res, 200, o) : json(res, 404, status(404, 'NotFound', `${resource} "${name}" not found`));
    }
    let items = [...store.values()].filter((o) => !ns || o.metadata.namespace === ns);
    for (const term of (query.fieldSelector ?? '').split(',').filter(Boolean)) {
      const [field, value] = term.split('=');
      items = items.filter((o) =>
        field === 'metadata.name' ? o.metadata.name === value : field === 'type' ? o.type === value : true,
      );
    }
    items.sort((a, b) =>
      `${a.metadata.namespace}/${a.metadata.name}` < `${b.metadata.namespace}/${b.metadata.name}` ? -1 : 1,
    );
    const limit = query.limit ? Number(query.limit) : items.length;
    const offset = query.continue ? Number(query.continue) : 0;
    if (query.continue && this.expireContinueOnce.has(path)) {
      this.expireContinueOnce.delete(path);
      return json(
        res,
        410,
        status(410, 'Expired', 'The provided continue parameter is too old to display a consistent list result.'),
      );
    }
    const page = items.slice(offset, offset + limit);
    const more = offset + limit < items.length;
    const metadataOnly = accept.includes('as=PartialObjectMetadataList');
    return json(res, 200, {
      kind: metadataOnly ? 'PartialObjectMetadataList' : `${meta[0]}List`,
      apiVersion: metadataOnly ? 'meta.k8s.io/v1' : meta[1],
      metadata: { resourceVersion: '100', ...(more ? { continue: String(offset + limit) } : {}) },
      items: metadataOnly
        ? page.map((o) => ({ kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata }))
        : page,
    });
  }
}

function json(res: ServerResponse, code: number, body: unknown): undefined {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
  return undefined;
}

function status(code: number, reason: string, message: string): Record<string, unknown> {
  return { kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason, message };
}
