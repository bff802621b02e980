/**
 * HTTP routing of the webhook: the two admission endpoints and the operational ones.
 *
 * Design choice (performance, measured by the benchmark issue): `POST /mutate` and
 * `POST /validate` are answered by a plain Node request handler that runs *before* express. It
 * checks the media type, reads the body with a size cap, `JSON.parse`s it and hands it to
 * {@link handleReview}, the same adapter `tokenguard review` uses. Express (router, req/res
 * prototype swap, body-parser's content negotiation) would add work to every admission call
 * and buys nothing there; it serves everything else: `/healthz`, `/readyz`, `/metrics`, 404,
 * 405, and an error middleware as the last net.
 *
 * HTTP edge rules (controller-runtime's http.go, RELIABILITY-NOTES.md 3.4), each pinned by an
 * exact-output test in test/http/edges.test.ts. Without a uid there is nothing to put in an
 * AdmissionReview, so these are plain HTTP errors with a `{"error": "..."}` body, and the API
 * server applies the webhook's failurePolicy:
 *
 * | request                                   | answer |
 * |-------------------------------------------|--------|
 * | media type other than application/json    | 415    |
 * | Content-Encoding other than identity      | 415    |
 * | body over {@link MAX_BODY_BYTES}           | 413    |
 * | empty body, not JSON, no `request.uid`     | 400    |
 * | `--client-ca` set, no client certificate   | 403    |
 * | `--client-ca` set, subject not allowed     | 403    |
 * | anything with a uid                        | 200 + AdmissionReview echoing the uid |
 *
 * A 403 or 415 reads at most 64 KiB more of the body before answering, a 413 up to 64 MiB; past
 * that the connection is dropped unanswered.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { subjectAltDnsNames } from '../certs/san.js';
import { decodeAdmissionReview, type Endpoint, errored, handleReview, type ReviewOutcome } from '../admission/review.js';
import type { FactsProvider } from '../facts/types.js';
import { flatInfoWriter, type Logger } from '../log.js';
import type { TokenPolicy } from '../policy/types.js';
import type { Metrics } from './metrics.js';

/**
 * Largest request body accepted: 7 MiB, controller-runtime's `maxRequestSize`. The API server
 * refuses request bodies over 3 MiB, but an UPDATE review carries `object` and `oldObject`, and
 * client-side apply's last-applied annotation can double an object.
 */
export const MAX_BODY_BYTES = 7 * 1024 * 1024;

/**
 * After a rejected body, at most this much more is read and discarded so the client gets the
 * error response instead of a reset; past it the connection is dropped.
 */
const MAX_DISCARD_BYTES = 64 * 1024 * 1024;

/**
 * What is read and discarded before refusing a caller that is not allowed to send a body at all
 * (403) or sent one of the wrong type (415): enough for an ordinary request to get its answer,
 * not enough for an unauthenticated client to make the server read megabytes.
 */
const SMALL_DISCARD_BYTES = 64 * 1024;

/**
 * The subject required of a client certificate by default, as Gatekeeper does
 * (`--client-cn-name`, default `kube-apiserver`).
 */
export const DEFAULT_CLIENT_SUBJECT = 'kube-apiserver';

/** The subject CN(s) and DNS subject alternative names of a peer certificate. */
function certificateNames(cert: { subject?: { CN?: string | string[] }; subjectaltname?: string } | undefined): string[] {
  const names: string[] = [];
  const cn = cert?.subject?.CN;
  if (typeof cn === 'string') names.push(cn);
  else if (Array.isArray(cn)) names.push(...cn);
  names.push(...subjectAltDnsNames(cert?.subjectaltname));
  return names;
}

/** The paths of the endpoints, shared with deploy/ and the tests. */
export const ROUTES = { mutate: '/mutate', validate: '/validate', healthz: '/healthz', readyz: '/readyz', metrics: '/metrics' } as const;

/** Whether the server can take traffic, and if not, why. */
export interface Readiness {
  readonly ready: boolean;
  readonly reasons: readonly string[];
}

export interface AppDeps {
  /** The policy set in force (hot reload swaps what this returns). */
  readonly policies: () => readonly TokenPolicy[];
  readonly facts: FactsProvider;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly readiness: () => Readiness;
  /** True while shutting down: responses then carry `Connection: close`. */
  readonly draining: () => boolean;
  /**
   * Admission endpoints require a client certificate that verified against `--client-ca`.
   * Probes and metrics stay open: the kubelet and Prometheus present no client certificate.
   */
  readonly requireClientCert: boolean;
  /**
   * With {@link requireClientCert}: the names the client certificate must carry, as its
   * subject CN or a DNS subject alternative name (`--client-subject`; `*` accepts any certificate
   * from the CA). A CA that also signs other clients' certificates would otherwise let any of
   * them call the webhook (RELIABILITY-NOTES.md 3.3).
   */
  readonly clientSubjects?: readonly string[];
  /** Default {@link MAX_BODY_BYTES}. */
  readonly maxBodyBytes?: number;
}

export interface App {
  /** The `request` listener for `https.createServer`. */
  readonly listener: (req: IncomingMessage, res: ServerResponse) => void;
  /** The express part (everything but the admission endpoints). */
  readonly express: Express;
  /** Admission requests being answered right now. */
  inFlight(): number;
}

/** Creates the request listener. No I/O happens here. */
export function createApp(deps: AppDeps): App {
  const maxBodyBytes = deps.maxBodyBytes ?? MAX_BODY_BYTES;
  const allowedSubjects = new Set(deps.clientSubjects ?? [DEFAULT_CLIENT_SUBJECT]);
  // One verdict per connection: the certificate cannot change on a TLS connection.
  const verdicts = new WeakMap<TLSSocket, boolean>();
  const subjectAllowed = (socket: TLSSocket): boolean => {
    if (allowedSubjects.has('*')) return true;
    let ok = verdicts.get(socket);
    if (ok === undefined) {
      const names = certificateNames(socket.getPeerCertificate());
      ok = names.some((n) => allowedSubjects.has(n));
      verdicts.set(socket, ok);
      if (!ok) deps.logger.warn({ event: 'tls', remoteAddress: socket.remoteAddress, subjects: names.slice(0, 8) }, 'client certificate subject not allowed');
    }
    return ok;
  };
  const app = createExpressApp(deps);
  let inFlight = 0;
  const reviewDeps = { policies: deps.policies, facts: deps.facts };
  // The one line per review, written as pino writes it without pino's per-value walk (log.ts).
  const reviewLine = flatInfoWriter(deps.logger, 'review');

  const admission = async (endpoint: Endpoint, req: IncomingMessage, res: ServerResponse): Promise<void> => {
    inFlight += 1;
    try {
      await admit(endpoint, req, res);
    } finally {
      // admit() always settles: a client that goes away ends the body read ('aborted').
      inFlight -= 1;
    }
  };

  const admit = async (endpoint: Endpoint, req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    /** `drain`: how much of an unread body to read and discard before answering (0: none). */
    const fail = (status: number, error: string, drain: number) => {
      deps.metrics.observeHttpError(endpoint, status);
      deps.logger.warn({ event: 'http-error', endpoint, status, error, remoteAddress: req.socket.remoteAddress, durationMs: seconds() * 1000 }, 'request rejected');
      sendError(req, res, status, error, drain);
    };
    let body: unknown;
    try {
      if (deps.requireClientCert) {
        const socket = req.socket as TLSSocket;
        if (socket.authorized !== true) return fail(403, 'a client certificate issued by the configured client CA is required', SMALL_DISCARD_BYTES);
        if (!subjectAllowed(socket)) return fail(403, 'the client certificate names none of the allowed subjects (--client-subject)', SMALL_DISCARD_BYTES);
      }
      if (!isJsonMediaType(req.headers['content-type'])) return fail(415, 'Content-Type must be application/json', SMALL_DISCARD_BYTES);
      const encoding = req.headers['content-encoding'];
      if (encoding !== undefined && encoding.toLowerCase() !== 'identity') return fail(415, 'Content-Encoding is not supported', SMALL_DISCARD_BYTES);
      const declared = req.headers['content-length'];
      if (declared !== undefined && Number(declared) > maxBodyBytes) return fail(413, `request body exceeds ${maxBodyBytes} bytes`, MAX_DISCARD_BYTES);
      const read = await readBody(req, maxBodyBytes);
      if (read === 'aborted') {
        // The client went away; nobody to answer. Counted and logged (identifiers only, never
        // the partial body). No remoteAddress: the socket is closed by now, and reading it up
        // front would cost every request a getpeername call.
        deps.metrics.observeAborted(endpoint);
        deps.logger.warn({ event: 'aborted', endpoint, durationMs: seconds() * 1000 }, 'client closed the connection before the request body arrived');
        return;
      }
      if (read === 'too-large') return fail(413, `request body exceeds ${maxBodyBytes} bytes`, MAX_DISCARD_BYTES);
      if (read.length === 0) return fail(400, 'request body is empty', 0);
      try {
        body = JSON.parse(read.toString('utf8'));
      } catch {
        // The parser's message quotes the input, which may be Secret data: never echo it.
        return fail(400, 'request body is not valid JSON', 0);
      }
      const pending = handleReview(endpoint, body, reviewDeps);
      const result = pending instanceof Promise ? await pending : pending;
      if (!result.ok) return fail(result.status, result.message, 0);
      answer(endpoint, res, result.outcome, seconds());
    } catch (err) {
      // A bug in this module (handleReview itself never throws). With a uid, still answer with
      // an AdmissionReview; without one, a plain 500. Nothing may escape: the promise of this
      // function is not awaited, and an unhandled rejection would end the process.
      try {
        deps.logger.error({ event: 'internal-error', endpoint, err }, 'unexpected error while answering an admission request');
        const decoded = body === undefined ? undefined : decodeAdmissionReview(body);
        if (res.headersSent) {
          if (!res.writableEnded) res.destroy();
        } else if (decoded?.ok) {
          answer(endpoint, res, errored(endpoint, decoded.review, err), seconds());
        } else {
          fail(500, 'internal error', MAX_DISCARD_BYTES);
        }
      } catch {
        res.destroy();
      }
    }
  };

  const answer = (endpoint: Endpoint, res: ServerResponse, outcome: ReviewOutcome, seconds: number) => {
    const payload = JSON.stringify(outcome.review);
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) });
    res.end(payload);
    try {
      observe(endpoint, outcome, seconds);
    } catch {
      // Metrics and logs must never turn an answered review into an error.
    }
  };

  const observe = (endpoint: Endpoint, outcome: ReviewOutcome, seconds: number) => {
    const s = outcome.summary;
    deps.metrics.observeReview(endpoint, s.kind, s.operation, outcome.decision, seconds);
    // Identifiers only, never the object (RELIABILITY-NOTES.md 3.1).
    reviewLine({
      event: 'review',
      uid: s.uid,
      kind: s.kind,
      namespace: s.namespace,
      name: s.name,
      operation: s.operation,
      subResource: s.subResource,
      user: s.user,
      dryRun: s.dryRun,
      endpoint,
      decision: outcome.decision,
      policies: outcome.policies,
      patchOps: outcome.patchOps,
      durationMs: Math.round(seconds * 1e6) / 1e3,
      error: outcome.error, // undefined fields are left out
    });
  };

  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    if (deps.draining()) res.setHeader('Connection', 'close');
    const endpoint = admissionEndpoint(req);
    if (endpoint === undefined) {
      app(req, res);
      return;
    }
    void admission(endpoint, req, res);
  };

  return { listener, express: app, inFlight: () => inFlight };
}

/** `POST /mutate` or `POST /validate`, with or without a query string (the API server adds `?timeout=10s`). */
function admissionEndpoint(req: IncomingMessage): Endpoint | undefined {
  if (req.method !== 'POST') return undefined;
  const url = req.url ?? '';
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  if (path === ROUTES.mutate || path === `${ROUTES.mutate}/`) return 'mutate';
  if (path === ROUTES.validate || path === `${ROUTES.validate}/`) return 'validate';
  return undefined;
}

/** `application/json`, with or without parameters such as `; charset=utf-8`. */
export function isJsonMediaType(header: string | undefined): boolean {
  if (header === undefined) return false;
  const semi = header.indexOf(';');
  const type = (semi === -1 ? header : header.slice(0, semi)).trim().toLowerCase();
  return type === 'application/json';
}

/**
 * Reads the whole body, up to `limit` bytes. Past the limit the rest is read and discarded (up
 * to {@link MAX_DISCARD_BYTES}, then the connection is dropped), so the client can receive the
 * 413: 'too-large' either way. 'aborted' when the client goes away first.
 */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | 'too-large' | 'aborted'> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    let done = false;
    const finish = (v: Buffer | 'too-large' | 'aborted') => {
      if (done) return;
      done = true;
      resolve(v);
    };
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (tooLarge) {
        if (size > limit + MAX_DISCARD_BYTES) {
          // Dropped by us, not abandoned by the client: a 413 that cannot be delivered.
          req.destroy();
          finish('too-large');
        }
        return;
      }
      if (size > limit) {
        tooLarge = true;
        chunks.length = 0;
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => finish(tooLarge ? 'too-large' : chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size)));
    req.on('error', () => finish('aborted'));
    req.on('close', () => finish(req.complete ? (tooLarge ? 'too-large' : Buffer.concat(chunks)) : 'aborted'));
  });
}

/**
 * Sends `{"error": message}`. With `drain` > 0, an unread body is read and discarded first (as
 * body-parser does), up to `drain` bytes (past that the connection is dropped), and the
 * connection is closed afterwards: its state is unknown.
 */
function sendError(req: IncomingMessage, res: ServerResponse, status: number, message: string, drain: number): void {
  const payload = JSON.stringify({ error: message });
  const send = () => {
    if (res.headersSent || res.destroyed) return;
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload), ...(drain > 0 ? { Connection: 'close' } : {}) });
    res.end(payload);
  };
  if (drain === 0 || req.complete || req.readableEnded) {
    send();
    return;
  }
  let discarded = 0;
  req.on('data', (chunk: Buffer) => {
    discarded += chunk.length;
    if (discarded > drain) req.destroy();
  });
  req.once('end', send);
  req.resume();
}

/** Everything but the admission endpoints. */
function createExpressApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.get(ROUTES.healthz, (_req, res) => {
    res.type('text/plain').send('ok');
  });
  app.get(ROUTES.readyz, (_req, res) => {
    const r = deps.readiness();
    res.status(r.ready ? 200 : 503).json({ status: r.ready ? 'ready' : 'not ready', reasons: r.reasons });
  });
  app.get(ROUTES.metrics, async (_req, res) => {
    const text = await deps.metrics.registry.metrics();
    res.type(deps.metrics.registry.contentType).send(text);
  });
  app.all([ROUTES.mutate, ROUTES.validate], (_req, res) => {
    res.status(405).set('Allow', 'POST').json({ error: 'method not allowed; use POST' });
  });
  app.use((_req: Request, res: Response) => {
    res.status(404).json({ error: 'not found' });
  });
  // The last net, for bugs and for express's own 4xx (e.g. a malformed URL). Express 5 routes
  // rejected promises here too.
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const status = httpStatusOf(err);
    const internal = status >= 500;
    deps.logger[internal ? 'error' : 'warn']({ event: 'http-error', path: req.path, status, err }, internal ? 'unexpected error' : 'request rejected');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.status(status).json({ error: internal ? 'internal error' : 'bad request' });
  });
  return app;
}

function httpStatusOf(err: unknown): number {
  if (typeof err === 'object' && err !== null) {
    const s = (err as { status?: unknown; statusCode?: unknown }).status ?? (err as { statusCode?: unknown }).statusCode;
    if (typeof s === 'number' && s >= 400 && s < 500) return s;
  }
  return 500;
}
