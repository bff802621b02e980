/**
 * A small Kubernetes API client over node:https: JSON GETs, paged lists and watch streams, with
 * the credentials of a {@link KubeConfig} (`credentials.ts`). It is what the cluster facts
 * need and nothing more; `@kubernetes/client-node` loads every generated model for the same
 * calls, which multiplies the server's resident memory.
 *
 * - One keep-alive agent per client; TLS settings go with each request (Node pools connections
 *   by them, so a rotated exec client certificate gets new connections).
 * - Every call takes an AbortSignal; GETs and list pages also take a deadline that ends the
 *   request (and its body) for real.
 * - Failures carry the HTTP status as `statusCode`, and a message made of the Status object's
 *   `reason` and `message` only: never headers, never a body that is not a Status.
 * - A 401 asks the credentials for new ones (token file re-read, exec plugin re-run) and
 *   retries once if they changed.
 * - `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` are honoured as kubectl honours them (`proxy.ts`):
 *   an `https://` API server through a CONNECT tunnel (`tunnel.ts`).
 */
import {
  type Agent as HttpAgent,
  type ClientRequest,
  type IncomingMessage,
  request as httpRequest,
  Agent as PlainAgent,
  STATUS_CODES,
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { StringDecoder } from 'node:string_decoder';
import type { KubeConfig } from './config.js';
import {
  type CredentialOptions,
  type CredentialSource,
  credentialSource,
  type RequestCredentials,
} from './credentials.js';
import { isObject, type JsonObject } from '../json.js';
import { isSupportedProxy, proxyFromEnvironment, shownProxy } from './proxy.js';
import { proxyAuthorization, TunnelingAgent } from './tunnel.js';

/** An error answer of the API server. */
export class KubeApiError extends Error {
  override readonly name = 'KubeApiError';
  /** The HTTP status. */
  readonly statusCode: number;
  /** The Status object's `reason` (`NotFound`, `Forbidden`, `Expired`...), when there was one. */
  readonly reason: string | undefined;

  constructor(statusCode: number, reason: string | undefined, message: string) {
    super(message);
    this.statusCode = statusCode;
    this.reason = reason;
  }
}

/** A request that did not end within its `timeoutMs` ({@link RequestOptions}); it was aborted. */
export class KubeDeadlineError extends Error {
  override readonly name = 'KubeDeadlineError';
  readonly code = 'ETIMEDOUT';
}

/** True when a request failed because its own deadline passed (not the caller's signal, not the network). */
export function isDeadlineError(err: unknown): err is KubeDeadlineError {
  return err instanceof KubeDeadlineError;
}

/** One event of a watch stream. `object` is a Status for `ERROR`. */
export interface WatchEvent {
  readonly type: string;
  readonly object: JsonObject;
}

/** Options of {@link KubeClient.getJson}. */
export interface RequestOptions {
  readonly signal?: AbortSignal;
  /** The whole exchange, body included, must end within this; else it is aborted. */
  readonly timeoutMs?: number;
  /**
   * The `Accept` header; default `application/json`. For example
   * `application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1` lists objects as metadata
   * only: the API server then never sends their content (a Secret's data).
   */
  readonly accept?: string;
}

/** Options of {@link KubeClient.sendJson}. */
export interface SendOptions extends RequestOptions {
  readonly query?: Record<string, string | number | boolean | undefined>;
  /** `Content-Type` of the body, e.g. `application/apply-patch+yaml` for server-side apply. */
  readonly contentType: string;
}

/** Options of {@link KubeClient.listAll}. */
export interface ListOptions {
  /** Items per page (`limit`); 0: no paging. */
  readonly pageSize: number;
  /** Deadline of each page. */
  readonly pageTimeoutMs: number;
  readonly signal?: AbortSignal;
  /** Further query parameters of every page, e.g. a `fieldSelector`. */
  readonly query?: Readonly<Record<string, string>>;
  /** The `Accept` header ({@link RequestOptions.accept}), e.g. a metadata-only list. */
  readonly accept?: string;
}

/** Options of {@link KubeClient.watch}. */
export interface WatchOptions {
  /** Start after this resourceVersion; empty: from "any" (synthetic ADDED events for what exists). */
  readonly resourceVersion?: string;
  /** Asks the server to end the watch after this long (it jitters it). */
  readonly timeoutSeconds?: number;
  /** Default true. */
  readonly allowWatchBookmarks?: boolean;
  readonly signal?: AbortSignal;
  /** Called once the server answered 200, before the first event. */
  readonly onOpen?: () => void;
  /** Called for each event; if it throws, the watch ends with that error. */
  readonly onEvent: (event: WatchEvent) => void;
  /** Further query parameters, e.g. a `fieldSelector`. */
  readonly query?: Readonly<Record<string, string>>;
  /**
   * The `Accept` header; default `application/json`. A metadata-only watch asks for
   * `application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1`: each event's object is then metadata only.
   */
  readonly accept?: string;
}

/** Options of {@link KubeClient}. */
export interface KubeClientOptions extends CredentialOptions {
  /** Largest JSON body accepted (a list page). Default 64 MiB. */
  readonly maxBodyBytes?: number;
  /** Longest watch line accepted (one object). Default 16 MiB. */
  readonly maxLineBytes?: number;
}

/** A complete list: every item (as `map` made it) and the resourceVersion to watch from. */
export interface ListResult<T> {
  readonly resourceVersion: string;
  readonly items: T[];
}

const MAX_ERROR_BODY = 64 << 10;
const USER_AGENT = 'tokenguard';

/** Talks to one API server with one set of credentials. Constructing it does no I/O. */
export class KubeClient {
  readonly #config: KubeConfig;
  readonly #url: URL;
  readonly #credentials: CredentialSource;
  readonly #maxBodyBytes: number;
  readonly #maxLineBytes: number;
  /** The proxy the API server is reached through (from `options.env`), if any. */
  readonly proxy: URL | undefined;
  #agent: HttpAgent | undefined;

  constructor(config: KubeConfig, options: KubeClientOptions = {}) {
    this.#config = config;
    this.#url = new URL(config.server);
    if (this.#url.protocol !== 'https:' && this.#url.protocol !== 'http:')
      throw new Error(`${config.source}: server must be an https:// URL`);
    this.proxy = proxyFromEnvironment(options.env ?? process.env).proxyFor(this.#url);
    this.#credentials = credentialSource(config, options);
    this.#maxBodyBytes = options.maxBodyBytes ?? 64 << 20;
    this.#maxLineBytes = options.maxLineBytes ?? 16 << 20;
  }

  /**
   * GETs `path` (with `query`) and parses the JSON object it answers.
   *
   * @throws KubeApiError for a non-2xx answer; an Error for a network failure, an abort or the deadline
   */
  async getJson(
    path: string,
    query: Record<string, string | number | boolean | undefined> = {},
    options: RequestOptions = {},
  ): Promise<JsonObject> {
    return this.#exchange(
      { method: 'GET', path, pathAndQuery: withQuery(path, query), accept: options.accept },
      options,
    );
  }

  /**
   * Sends `body` with `method` (PATCH, PUT, POST) to `path` and parses the JSON object it
   * answers: what `--apply` of `tokenguard scan` writes its reports with (server-side apply).
   *
   * @throws KubeApiError for a non-2xx answer; an Error for a network failure, an abort or the deadline
   */
  async sendJson(
    method: 'PATCH' | 'PUT' | 'POST',
    path: string,
    body: string,
    options: SendOptions,
  ): Promise<JsonObject> {
    return this.#exchange(
      {
        method,
        path,
        pathAndQuery: withQuery(path, options.query ?? {}),
        accept: options.accept,
        body,
        contentType: options.contentType,
      },
      options,
    );
  }

  async #exchange(
    req: Omit<OutgoingRequest, 'accept'> & { readonly accept: string | undefined; readonly path: string },
    options: RequestOptions,
  ): Promise<JsonObject> {
    const what = `${req.method} ${req.path}`;
    const { signal, done } = deadline(what, options);
    try {
      const res = await this.#open({ ...req, accept: req.accept ?? 'application/json' }, signal);
      const body = await readBody(res, this.#maxBodyBytes, signal, what);
      let parsed: unknown;
      try {
        parsed = JSON.parse(body);
      } catch {
        throw new Error(`${what}: the answer is not JSON`);
      }
      if (!isObject(parsed)) throw new Error(`${what}: the answer is not a JSON object`);
      return parsed as JsonObject;
    } finally {
      done();
    }
  }

  /**
   * Lists every object at `path`, `pageSize` at a time (`limit`/`continue`: the API server
   * serves every page from one snapshot), each item passed through `map` as its page arrives.
   * When a continue token has expired (410), lists again in one piece, as client-go's pager does.
   */
  async listAll<T>(path: string, options: ListOptions, map: (item: JsonObject) => T): Promise<ListResult<T>> {
    let items: T[] = [];
    let resourceVersion = '';
    let cont: string | undefined;
    let limit = options.pageSize;
    let whole = false;
    for (;;) {
      let page: JsonObject;
      try {
        page = await this.getJson(
          path,
          { ...options.query, limit: limit > 0 ? limit : undefined, continue: cont },
          {
            timeoutMs: options.pageTimeoutMs,
            ...(options.signal ? { signal: options.signal } : {}),
            ...(options.accept ? { accept: options.accept } : {}),
          },
        );
      } catch (e) {
        if (cont && !whole && e instanceof KubeApiError && e.statusCode === 410) {
          items = [];
          resourceVersion = '';
          cont = undefined;
          limit = 0;
          whole = true;
          continue;
        }
        throw e;
      }
      const list = page.items;
      if (!Array.isArray(list) && list !== null && list !== undefined)
        throw new Error(`GET ${path}: the answer is not a list`);
      for (const item of list ?? []) if (isObject(item)) items.push(map(item));
      const md = isObject(page.metadata) ? page.metadata : {};
      if (!resourceVersion && typeof md.resourceVersion === 'string') resourceVersion = md.resourceVersion;
      cont = typeof md.continue === 'string' && md.continue !== '' ? md.continue : undefined;
      if (!cont) return { resourceVersion, items };
    }
  }

  /**
   * Watches `path`: resolves when the server ends the stream cleanly (its `timeoutSeconds`),
   * rejects on any failure: a non-2xx answer ({@link KubeApiError}, e.g. 410 for a
   * resourceVersion too old), a broken connection, an unparseable line, an abort, or a throwing
   * `onEvent`. The body is split into lines across chunk boundaries, one JSON event per line.
   */
  async watch(path: string, options: WatchOptions): Promise<void> {
    const signal = options.signal ?? new AbortController().signal;
    const query = {
      ...options.query,
      watch: 'true',
      resourceVersion: options.resourceVersion || undefined,
      allowWatchBookmarks: options.allowWatchBookmarks === false ? undefined : 'true',
      timeoutSeconds: options.timeoutSeconds,
    };
    const res = await this.#open(
      { method: 'GET', pathAndQuery: withQuery(path, query), accept: options.accept ?? 'application/json' },
      signal,
    );
    await new Promise<void>((resolve, reject) => {
      const lines = new LineSplitter(this.#maxLineBytes);
      let settled = false;
      const fail = (e: unknown) => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        res.destroy();
        reject(e);
      };
      const onAbort = () => fail(abortError(signal));
      const handle = (line: string) => {
        if (line.trim() === '') return;
        let event: unknown;
        try {
          event = JSON.parse(line);
        } catch {
          throw new Error(`watch ${path}: the server sent a line that is not JSON`);
        }
        if (!isObject(event) || typeof event.type !== 'string' || !isObject(event.object)) {
          throw new Error(`watch ${path}: the server sent a line that is not a watch event`);
        }
        options.onEvent({ type: event.type, object: event.object as JsonObject });
      };
      if (signal.aborted) return fail(abortError(signal));
      signal.addEventListener('abort', onAbort, { once: true });
      try {
        options.onOpen?.();
      } catch (e) {
        return fail(e);
      }
      res.on('data', (chunk: Buffer) => {
        if (settled) return;
        try {
          for (const line of lines.push(chunk)) {
            handle(line);
            if (settled) return;
          }
        } catch (e) {
          fail(e);
        }
      });
      res.on('end', () => {
        if (settled) return;
        try {
          for (const line of lines.end()) handle(line);
        } catch (e) {
          return fail(e);
        }
        settled = true;
        signal.removeEventListener('abort', onAbort);
        resolve();
      });
      const broken = (e?: NodeJS.ErrnoException) => {
        const why = e ? ` (${e.code ?? e.message})` : '';
        fail(
          signal.aborted
            ? abortError(signal)
            : new Error(`watch ${path}: the connection broke in the middle of the stream${why}`),
        );
      };
      res.on('error', broken);
      res.on('close', () => broken());
    });
  }

  /**
   * Closes every pooled connection and kills a running exec credential plugin. Requests in
   * flight fail, those waiting for the plugin at once. The client stays usable: a later request
   * connects (and runs the plugin) again.
   */
  close(): void {
    this.#agent?.destroy();
    this.#agent = undefined;
    this.#credentials.stop();
  }

  /** Sends a request and resolves with a 2xx response whose body is unread; retries once after a 401 that gave new credentials. */
  async #open(req: OutgoingRequest, signal: AbortSignal, retried = false): Promise<IncomingMessage> {
    if (signal.aborted) throw abortError(signal);
    const creds = await raceAbort(this.#credentials.get(), signal);
    const res = await this.#send(req, creds, signal);
    const status = res.statusCode ?? 0;
    if (status >= 200 && status < 300) return res;
    const path = req.pathAndQuery.split('?')[0]!;
    const body = await readBody(res, MAX_ERROR_BODY, signal, `${req.method} ${path}`).catch(() => '');
    if (signal.aborted) throw abortError(signal);
    if (status === 401 && !retried && (await raceAbort(this.#credentials.refused(creds), signal)))
      return this.#open(req, signal, true);
    throw apiError(status, body);
  }

  /** The agent, made on first use: plain, tunnelling through the proxy, or towards an `http://` proxy. */
  #agentFor(tls: boolean): HttpAgent {
    if (this.#agent) return this.#agent;
    const keepAlive = { keepAlive: true, keepAliveMsecs: 30_000 };
    const proxy = this.proxy;
    if (!proxy) this.#agent = tls ? new HttpsAgent(keepAlive) : new PlainAgent(keepAlive);
    else if (tls) {
      // An https:// proxy's certificate is checked as client-go checks it: with the cluster's CA settings.
      const proxyTls = {
        rejectUnauthorized: this.#config.insecureSkipTlsVerify !== true,
        ...(this.#config.certificateAuthority ? { ca: this.#config.certificateAuthority } : {}),
      };
      this.#agent = new TunnelingAgent(proxy, proxyTls, USER_AGENT, keepAlive);
    } else this.#agent = proxy.protocol === 'https:' ? new HttpsAgent(keepAlive) : new PlainAgent(keepAlive);
    return this.#agent;
  }

  #send(out: OutgoingRequest, creds: RequestCredentials, signal: AbortSignal): Promise<IncomingMessage> {
    const { pathAndQuery, body } = out;
    const url = this.#url;
    const tls = url.protocol === 'https:';
    const headers: Record<string, string> = { accept: out.accept, 'user-agent': USER_AGENT };
    if (body !== undefined) {
      headers['content-type'] = out.contentType ?? 'application/json';
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    if (creds.authorization) headers.authorization = creds.authorization;
    if (this.proxy && !isSupportedProxy(this.proxy)) {
      return Promise.reject(
        new Error(`proxy ${shownProxy(this.proxy)}: only http:// and https:// proxies are supported`),
      );
    }
    const agent = this.#agentFor(tls);
    const path = `${url.pathname.replace(/\/+$/, '')}${pathAndQuery}`;
    // An http:// API server behind a proxy: the request goes to the proxy, with the absolute URL.
    const viaProxy = !tls && this.proxy ? this.proxy : undefined;
    if (viaProxy) {
      const auth = proxyAuthorization(viaProxy);
      if (auth) headers['proxy-authorization'] = auth;
      headers.host = url.host;
    }
    const options = {
      protocol: viaProxy ? viaProxy.protocol : url.protocol,
      hostname: (viaProxy ?? url).hostname.replace(/^\[(.*)\]$/, '$1'),
      port: viaProxy ? viaProxy.port || (viaProxy.protocol === 'https:' ? 443 : 80) : url.port || (tls ? 443 : 80),
      path: viaProxy ? `${url.origin}${path}` : path,
      method: out.method,
      headers,
      agent,
      ...(tls
        ? {
            minVersion: 'TLSv1.2' as const,
            rejectUnauthorized: this.#config.insecureSkipTlsVerify !== true,
            ...(this.#config.certificateAuthority ? { ca: this.#config.certificateAuthority } : {}),
            ...(this.#config.tlsServerName ? { servername: this.#config.tlsServerName } : {}),
            ...(creds.clientCertificate && creds.clientKey
              ? { cert: creds.clientCertificate, key: creds.clientKey }
              : {}),
          }
        : {}),
    };
    return new Promise<IncomingMessage>((resolve, reject) => {
      let req: ClientRequest;
      const onAbort = () => req.destroy(abortError(signal));
      try {
        req = (tls || viaProxy?.protocol === 'https:' ? httpsRequest : httpRequest)(options);
      } catch (e) {
        reject(e);
        return;
      }
      signal.addEventListener('abort', onAbort, { once: true });
      req.on('socket', (socket) => socket.setKeepAlive(true, 30_000));
      req.on('response', (res) => {
        res.on('close', () => signal.removeEventListener('abort', onAbort));
        resolve(res);
      });
      req.on('error', (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(signal.aborted ? abortError(signal) : e);
      });
      req.end(body);
    });
  }
}

/** One request as {@link KubeClient} sends it. */
interface OutgoingRequest {
  readonly method: 'GET' | 'PATCH' | 'PUT' | 'POST';
  readonly pathAndQuery: string;
  readonly accept: string;
  readonly body?: string;
  readonly contentType?: string;
}

/**
 * Splits a byte stream into lines, whatever the chunk boundaries (a line, or a UTF-8
 * character, may span chunks). Lines longer than `maxBytes` are an error.
 */
export class LineSplitter {
  readonly #decoder = new StringDecoder('utf8');
  readonly #max: number;
  #pending: string[] = [];
  #pendingLength = 0;

  constructor(maxBytes = 16 << 20) {
    this.#max = maxBytes;
  }

  /** The lines this chunk completes (without their `\n`). */
  push(chunk: Buffer): string[] {
    const text = this.#decoder.write(chunk);
    const out: string[] = [];
    let start = 0;
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
      const piece = text.slice(start, nl);
      if (this.#pending.length > 0) {
        this.#pending.push(piece);
        out.push(this.#pending.join(''));
        this.#pending = [];
        this.#pendingLength = 0;
      } else out.push(piece);
      start = nl + 1;
    }
    if (start < text.length) {
      const tail = text.slice(start);
      this.#pending.push(tail);
      this.#pendingLength += tail.length;
      if (this.#pendingLength > this.#max) throw new Error(`a watch line is longer than ${this.#max} bytes`);
    }
    return out;
  }

  /** What is left at the end of the stream: a last line without `\n`, if any. */
  end(): string[] {
    const last = this.#pending.join('') + this.#decoder.end();
    this.#pending = [];
    this.#pendingLength = 0;
    return last === '' ? [] : [last];
  }
}

/** The error for a non-2xx answer: status, and the Status object's reason and message if the body is one. */
export function apiError(status: number, body: string): KubeApiError {
  let reason: string | undefined;
  let message: string | undefined;
  try {
    const s = JSON.parse(body) as { kind?: unknown; reason?: unknown; message?: unknown };
    if (s && s.kind === 'Status') {
      if (typeof s.reason === 'string' && s.reason !== '') reason = s.reason;
      if (typeof s.message === 'string' && s.message !== '')
        message = s.message.replace(/\s+/g, ' ').trim().slice(0, 300);
    }
  } catch {
    // not a Status: the status line says enough, and the body is never echoed
  }
  const head = `HTTP ${status} ${reason ?? STATUS_CODES[status] ?? ''}`.trim();
  return new KubeApiError(status, reason, message ? `${head}: ${message}` : head);
}

function withQuery(path: string, query: Record<string, string | number | boolean | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) q.set(k, String(v));
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

/** A signal that fires on the caller's abort or after `timeoutMs`, and its cleanup. */
function deadline(what: string, options: RequestOptions): { signal: AbortSignal; done: () => void } {
  if (options.timeoutMs === undefined)
    return { signal: options.signal ?? new AbortController().signal, done: () => {} };
  const controller = new AbortController();
  const outer = options.signal;
  const onOuter = () => controller.abort(outer?.reason);
  if (outer?.aborted) controller.abort(outer.reason);
  else outer?.addEventListener('abort', onOuter, { once: true });
  const timer = setTimeout(
    () => controller.abort(new KubeDeadlineError(`${what}: no answer within ${options.timeoutMs} ms`)),
    options.timeoutMs,
  );
  return {
    signal: controller.signal,
    done: () => {
      clearTimeout(timer);
      outer?.removeEventListener('abort', onOuter);
    },
  };
}

function abortError(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  if (r instanceof Error) return r;
  return Object.assign(new Error('request aborted'), { name: 'AbortError' });
}

function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** Reads a whole body as text, at most `max` bytes; rejects on abort or a broken connection. */
function readBody(res: IncomingMessage, max: number, signal: AbortSignal, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (e: Error | undefined) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      if (e) {
        res.destroy();
        reject(e);
      } else resolve(Buffer.concat(chunks).toString('utf8'));
    };
    const onAbort = () => finish(abortError(signal));
    if (signal.aborted) return finish(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    res.on('data', (b: Buffer) => {
      size += b.length;
      if (size > max) finish(new Error(`${what}: the answer is larger than ${max} bytes`));
      else chunks.push(b);
    });
    res.on('end', () => finish(undefined));
    res.on('error', (e) => finish(signal.aborted ? abortError(signal) : e));
    res.on('close', () =>
      finish(signal.aborted ? abortError(signal) : new Error(`${what}: the connection closed before the answer ended`)),
    );
  });
}
