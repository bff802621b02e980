/**
 * The few API calls the facts make, over the own client of `src/kube`: paged lists and watches
 * of the four resources (and, opted into, of legacy token Secrets' metadata), and single reads of a ServiceAccount or a Namespace. Every call
 * carries an abort signal, so a deadline really ends the request.
 */
import type { JsonObject } from '../json.js';
import {
  KubeClient,
  type KubeClientOptions,
  type ListResult,
  type RequestOptions,
  type WatchEvent,
} from '../kube/client.js';
import type { KubeConfig } from '../kube/config.js';
import { METADATA_LIST_ACCEPT, METADATA_WATCH_ACCEPT, TOKEN_SECRET_FIELD_SELECTOR } from '../constants.js';
import type { InformerResource } from './store.js';

/** The list and watch path of each resource, across all namespaces. */
export const WATCH_PATHS: Readonly<Record<InformerResource, string>> = {
  secrets: '/api/v1/secrets',
  serviceaccounts: '/api/v1/serviceaccounts',
  namespaces: '/api/v1/namespaces',
  rolebindings: '/apis/rbac.authorization.k8s.io/v1/rolebindings',
  clusterrolebindings: '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings',
};

/**
 * How Secrets are listed and watched: legacy token Secrets only (field selector `type`), as
 * metadata only (`PartialObjectMetadata[List]`), so the API server never sends their data
 * (docs/reliability.md "Least privilege").
 */
const SECRET_REQUESTS = {
  query: { fieldSelector: TOKEN_SECRET_FIELD_SELECTOR },
  listAccept: METADATA_LIST_ACCEPT,
  watchAccept: METADATA_WATCH_ACCEPT,
} as const;

/** The HTTP status of a failed call (`statusCode`), or the `code` of a Status object; undefined otherwise. */
export function statusOf(err: unknown): number | undefined {
  if (typeof err === 'object' && err !== null) {
    const e = err as { statusCode?: unknown; code?: unknown };
    if (typeof e.statusCode === 'number') return e.statusCode;
    if (typeof e.code === 'number') return e.code;
  }
  return undefined;
}

/** A short, secret-free description of an error for logs (never a response body or headers). */
export function describeError(err: unknown): string {
  const status = statusOf(err);
  const message =
    err instanceof Error
      ? `${err.name === 'Error' || err.name === 'KubeApiError' || err.name === 'KubeDeadlineError' ? '' : `${err.name}: `}${err.message}`
      : String(err);
  const short = message.split('\n')[0]!.slice(0, 300);
  return status !== undefined && !short.includes(String(status)) ? `HTTP ${status}: ${short}` : short;
}

/** Options of one watch (see {@link KubeClient.watch}). */
export interface FactsWatchOptions {
  readonly resourceVersion: string;
  readonly timeoutSeconds: number;
  readonly signal: AbortSignal;
  readonly onOpen: () => void;
  readonly onEvent: (event: WatchEvent) => void;
}

/** The calls the facts need; constructing it does no I/O. */
export class KubeApi {
  readonly #client: KubeClient;

  constructor(kubeConfig: KubeConfig, options: KubeClientOptions = {}) {
    this.#client = new KubeClient(kubeConfig, options);
  }

  /**
   * Lists every object of a resource, `pageSize` at a time (the API server serves all pages
   * from one snapshot; the list's resourceVersion is the one to watch from), each item passed
   * through `map` as its page arrives. Each page must answer within `pageTimeoutMs`.
   */
  listAll<T>(
    resource: InformerResource,
    options: { pageSize: number; pageTimeoutMs: number; signal?: AbortSignal },
    map: (item: JsonObject) => T,
  ): Promise<ListResult<T>> {
    const secrets = resource === 'secrets' ? { query: SECRET_REQUESTS.query, accept: SECRET_REQUESTS.listAccept } : {};
    return this.#client.listAll(WATCH_PATHS[resource], { ...options, ...secrets }, map);
  }

  /** Watches a resource from `resourceVersion` with bookmarks; see {@link KubeClient.watch}. */
  watch(resource: InformerResource, options: FactsWatchOptions): Promise<void> {
    const secrets = resource === 'secrets' ? { query: SECRET_REQUESTS.query, accept: SECRET_REQUESTS.watchAccept } : {};
    return this.#client.watch(WATCH_PATHS[resource], { ...options, ...secrets, allowWatchBookmarks: true });
  }

  /**
   * Reads one ServiceAccount; rejects with the API error (404: it does not exist), or with a
   * `KubeDeadlineError` (`isDeadlineError` of `src/kube/client.ts`) when `options.timeoutMs`
   * passes first: the client's deadline bounds the whole read.
   */
  readServiceAccount(namespace: string, name: string, options: RequestOptions): Promise<JsonObject> {
    return this.#client.getJson(
      `/api/v1/namespaces/${encodeURIComponent(namespace)}/serviceaccounts/${encodeURIComponent(name)}`,
      {},
      options,
    );
  }

  /** Reads one Namespace; rejects as {@link readServiceAccount} does. */
  readNamespace(name: string, options: RequestOptions): Promise<JsonObject> {
    return this.#client.getJson(`/api/v1/namespaces/${encodeURIComponent(name)}`, {}, options);
  }

  /** Closes pooled connections and kills a running exec credential plugin ({@link KubeClient.close}). */
  close(): void {
    this.#client.close();
  }
}
