/**
 * The few API calls the facts make, over `@kubernetes/client-node`'s typed clients: paged
 * lists of the four resources, and single reads of a ServiceAccount or a Namespace. Every call
 * carries an abort signal, so a deadline really ends the request (client-node 1.4 has no
 * per-call timeout; its fetch takes a signal set by a middleware).
 */
import {
  ApiException,
  type ConfigurationOptions,
  CoreV1Api,
  type KubeConfig,
  Observable,
  RbacAuthorizationV1Api,
  type RequestContext,
  type ResponseContext,
} from '@kubernetes/client-node';
import type { JsonObject } from '../engine/json.js';
import type { FactsResource } from './store.js';

/** One page of a list, as the typed clients return it. */
interface ListPage {
  readonly metadata?: { readonly resourceVersion?: string; readonly _continue?: string };
  readonly items: readonly unknown[];
}

/** A complete list: every item and the resourceVersion to watch from. */
export interface FullList {
  readonly resourceVersion: string;
  readonly items: readonly JsonObject[];
}

/** The watch path of each resource, across all namespaces. */
export const WATCH_PATHS: Readonly<Record<FactsResource, string>> = {
  serviceaccounts: '/api/v1/serviceaccounts',
  namespaces: '/api/v1/namespaces',
  rolebindings: '/apis/rbac.authorization.k8s.io/v1/rolebindings',
  clusterrolebindings: '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings',
};

/** Request options that make a typed client call abortable through `signal`. */
export function withSignal(signal: AbortSignal): ConfigurationOptions {
  return {
    middleware: [
      {
        pre: (ctx: RequestContext) => {
          ctx.setSignal(signal);
          return new Observable(Promise.resolve(ctx));
        },
        post: (rsp: ResponseContext) => new Observable(Promise.resolve(rsp)),
      },
    ],
    middlewareMergeStrategy: 'append',
  };
}

/** The HTTP status of a failed call, when it had one (client-node's `ApiException.code`). */
export function statusOf(err: unknown): number | undefined {
  if (err instanceof ApiException) return err.code;
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
  if (err instanceof ApiException) return `HTTP ${err.code}`;
  const message = err instanceof Error ? `${err.name === 'Error' ? '' : `${err.name}: `}${err.message}` : String(err);
  const short = message.split('\n')[0]!.slice(0, 200);
  return status !== undefined && !short.includes(String(status)) ? `HTTP ${status}: ${short}` : short;
}

/** Typed clients for the calls the facts need; constructing them does no I/O. */
export class KubeApi {
  readonly #core: CoreV1Api;
  readonly #rbac: RbacAuthorizationV1Api;

  constructor(kubeConfig: KubeConfig) {
    this.#core = kubeConfig.makeApiClient(CoreV1Api);
    this.#rbac = kubeConfig.makeApiClient(RbacAuthorizationV1Api);
  }

  /**
   * Lists every object of a resource, `pageSize` at a time (the API server serves all pages
   * from one snapshot; the list's resourceVersion is the one to watch from). Each page must
   * answer within `pageTimeoutMs`.
   */
  async listAll(resource: FactsResource, options: { pageSize: number; pageTimeoutMs: number; signal?: AbortSignal }): Promise<FullList> {
    const items: JsonObject[] = [];
    let resourceVersion = '';
    let cont: string | undefined;
    do {
      const page = await this.#withDeadline(options.pageTimeoutMs, options.signal, (cfg) =>
        this.#listPage(resource, { limit: options.pageSize, ...(cont ? { _continue: cont } : {}) }, cfg),
      );
      for (const item of page.items) if (typeof item === 'object' && item !== null) items.push(item as JsonObject);
      if (!resourceVersion) resourceVersion = page.metadata?.resourceVersion ?? '';
      cont = page.metadata?._continue || undefined;
    } while (cont);
    return { resourceVersion, items };
  }

  /** Reads one ServiceAccount; rejects with the API error (404: it does not exist). */
  readServiceAccount(namespace: string, name: string, signal: AbortSignal): Promise<JsonObject> {
    return this.#core.readNamespacedServiceAccount({ namespace, name }, withSignal(signal)) as unknown as Promise<JsonObject>;
  }

  /** Reads one Namespace; rejects with the API error (404: it does not exist). */
  readNamespace(name: string, signal: AbortSignal): Promise<JsonObject> {
    return this.#core.readNamespace({ name }, withSignal(signal)) as unknown as Promise<JsonObject>;
  }

  #listPage(resource: FactsResource, param: { limit: number; _continue?: string }, cfg: ConfigurationOptions): Promise<ListPage> {
    switch (resource) {
      case 'serviceaccounts':
        return this.#core.listServiceAccountForAllNamespaces(param, cfg);
      case 'namespaces':
        return this.#core.listNamespace(param, cfg);
      case 'rolebindings':
        return this.#rbac.listRoleBindingForAllNamespaces(param, cfg);
      case 'clusterrolebindings':
        return this.#rbac.listClusterRoleBinding(param, cfg);
    }
  }

  async #withDeadline<T>(ms: number, outer: AbortSignal | undefined, call: (cfg: ConfigurationOptions) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    const onAbort = () => controller.abort(outer?.reason);
    outer?.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(() => controller.abort(new Error(`no answer within ${ms} ms`)), ms);
    try {
      return await call(withSignal(controller.signal));
    } catch (err) {
      if (controller.signal.aborted && !(err instanceof ApiException)) throw new Error(`list aborted: ${describeError(controller.signal.reason)}`);
      throw err;
    } finally {
      clearTimeout(timer);
      outer?.removeEventListener('abort', onAbort);
    }
  }
}
