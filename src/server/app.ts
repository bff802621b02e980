/**
 * HTTP routing of the webhook: the two admission endpoints and the operational ones.
 *
 * Design choice (performance, measured by the benchmark issue): `POST /mutate` and
 * `POST /validate` are answered by a plain Node request handler that runs *before* express. It
 * checks the media type, reads the body within the limits of limits.ts, `JSON.parse`s it and
 * hands it to {@link handleReview}, the same adapter `tokenguard review` uses. Express (router,
 * req/res prototype swap, body-parser's content negotiation) would add work to every admission
 * call and buys nothing there; it serves everything else: `/healthz`, `/readyz`, `/metrics`,
 * 404, 405, and an error middleware as the last net.
 *
 * HTTP edge rules (controller-runtime's http.go; docs/reliability.md "The HTTP edge"), each pinned by an
 * exact-output test in test/http/edges.test.ts. Without a uid there is nothing to put in an
 * AdmissionReview, so these are plain HTTP errors with a `{"error": "..."}` body, and the API
 * server applies the webhook's failurePolicy:
 *
 * | request                                              | answer |
 * |------------------------------------------------------|--------|
 * | `--client-ca` set, no client certificate              | 403    |
 * | `--client-ca` set, subject not allowed                | 403    |
 * | media type other than application/json               | 415    |
 * | Content-Encoding other than identity                 | 415    |
 * | body over `maxBodyBytes` (declared or as it arrives)  | 413    |
 * | body with over `maxJsonValues` JSON values            | 413    |
 * | {@link AdmissionLimits} in flight reached              | 429 + `Retry-After: 1` |
 * | empty body, not JSON, no `request.uid`                | 400    |
 * | anything with a uid                                   | 200 + AdmissionReview echoing the uid |
 *
 * The 403, 415, 413 and 429 are sent as soon as they are known, without reading the rest of the
 * body, and the connection is then closed in stages ({@link refuse}); the 429 makes the API
 * server's client try again a second later (docs/reliability.md).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { subjectAltDnsNames } from '../certs/san.js';
import { decodeAdmissionReview } from '../admission/decode.js';
import { type Endpoint, errored, handleReview, type ReviewOutcome } from '../admission/review.js';
import type { FactsProvider } from '../facts/types.js';
import type { Logger } from '../log.js';
import type { TokenPolicy } from '../policy/types.js';
import {
  ADMISSION_LIMITS,
  type AdmissionBudget,
  type AdmissionLimits,
  type BudgetTicket,
  CHARGE_PER_BYTE,
  CHARGE_PER_VALUE,
  createAdmissionBudget,
  JsonValueCounter,
} from './limits.js';
import type { Metrics } from './metrics.js';

export { MAX_BODY_BYTES } from './limits.js';

/**
 * After a refusal, at most this much more of the body is read (and discarded) while waiting for
 * the client to close; then reading stops, and the rest waits in the socket buffers until
 * {@link LINGER_MS} is up.
 */
export const LINGER_BYTES = 256 * 1024;

/**
 * How long a refused request's connection stays open after the answer was sent, at most: the
 * client has read the answer by then (RFC 9112 section 9.6 on closing a connection whose request
 * was not read to the end: an early close would reset it and lose the answer).
 */
export const LINGER_MS = 2_000;

/** The `Retry-After` of a 429, in seconds. */
export const RETRY_AFTER_SECONDS = 1;

/**
 * The subject required of a client certificate by default, as Gatekeeper does
 * (`--client-cn-name`, default `kube-apiserver`).
 */
export const DEFAULT_CLIENT_SUBJECT = 'kube-apiserver';

/** The subject CN(s) and DNS subject alternative names of a peer certificate. */
function certificateNames(
  cert: { subject?: { CN?: string | string[] }; subjectaltname?: string } | undefined,
): string[] {
  const names: string[] = [];
  const cn = cert?.subject?.CN;
  if (typeof cn === 'string') names.push(cn);
  else if (Array.isArray(cn)) names.push(...cn);
  names.push(...subjectAltDnsNames(cert?.subjectaltname));
  return names;
}

/** The paths of the endpoints, shared with deploy/ and the tests. */
export const ROUTES = {
  mutate: '/mutate',
  validate: '/validate',
  healthz: '/healthz',
  readyz: '/readyz',
  metrics: '/metrics',
} as const;

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
   * them call the webhook (docs/reliability.md "Who may call the webhook").
   */
  readonly clientSubjects?: readonly string[];
  /** What is accepted at once; default {@link ADMISSION_LIMITS} (tests shrink some). */
  readonly limits?: Partial<AdmissionLimits>;
}

export interface App {
  /** The `request` listener for `https.createServer`. */
  readonly listener: (req: IncomingMessage, res: ServerResponse) => void;
  /** The express part (everything but the admission endpoints). */
  readonly express: Express;
  /** Admission requests being answered right now. */
  inFlight(): number;
  /** The admission requests' claim on memory (limits.ts). */
  readonly budget: AdmissionBudget;
}

/** Creates the request listener. No I/O happens here. */
export function createApp(deps: AppDeps): App {
  const limits: AdmissionLimits = { ...ADMISSION_LIMITS, ...deps.limits };
  const budget = createAdmissionBudget(limits);
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
      if (!ok)
        deps.logger.warn(
          { event: 'tls', remoteAddress: socket.remoteAddress, subjects: names.slice(0, 8) },
          'client certificate subject not allowed',
        );
    }
    return ok;
  };
  const app = createExpressApp(deps);
  let inFlight = 0;
  const reviewDeps = { policies: deps.policies, facts: deps.facts };

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
    const reject = (status: number, error: string) => {
      deps.metrics.observeHttpError(endpoint, status);
      deps.logger.warn(
        {
          event: 'http-error',
          endpoint,
          status,
          error,
          remoteAddress: req.socket.remoteAddress,
          durationMs: seconds() * 1000,
        },
        'request rejected',
      );
    };
    /** A plain HTTP error once the whole body has been read: the connection stays usable. */
    const fail = (status: number, error: string) => {
      reject(status, error);
      sendError(res, status, error);
    };
    /** A plain HTTP error sent before the body was read to the end ({@link refuse}). */
    const refuseWith = (status: number, error: string) => {
      reject(status, error);
      refuse(req, res, status, error);
    };
    let body: unknown;
    let ticket: BudgetTicket | undefined;
    try {
      if (deps.requireClientCert) {
        const socket = req.socket as TLSSocket;
        if (socket.authorized !== true)
          return refuseWith(403, 'a client certificate issued by the configured client CA is required');
        if (!subjectAllowed(socket))
          return refuseWith(403, 'the client certificate names none of the allowed subjects (--client-subject)');
      }
      if (!isJsonMediaType(req.headers['content-type']))
        return refuseWith(415, 'Content-Type must be application/json');
      const encoding = req.headers['content-encoding'];
      if (encoding !== undefined && encoding.toLowerCase() !== 'identity')
        return refuseWith(415, 'Content-Encoding is not supported');
      const declared = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']);
      if (declared !== undefined && declared > limits.maxBodyBytes)
        return refuseWith(413, `request body exceeds ${limits.maxBodyBytes} bytes`);
      ticket = budget.admit();
      if (ticket === undefined)
        return refuseWith(429, `${limits.maxReviewsInFlight} admission requests are in flight; try again`);
      if (declared !== undefined && !ticket.grow(CHARGE_PER_BYTE * declared)) return refuseWith(429, OVER_BUDGET);
      const read = await readBody(req, limits, ticket, declared === undefined);
      if (read === 'aborted') {
        // The client went away; nobody to answer. Counted and logged (identifiers only, never
        // the partial body). No remoteAddress: the socket is closed by now, and reading it up
        // front would cost every request a getpeername call.
        deps.metrics.observeAborted(endpoint);
        deps.logger.warn(
          { event: 'aborted', endpoint, durationMs: seconds() * 1000 },
          'client closed the connection before the request body arrived',
        );
        return;
      }
      if (!Buffer.isBuffer(read)) return refuseWith(read.status, read.error);
      if (read.length === 0) return fail(400, 'request body is empty');
      try {
        body = JSON.parse(read.toString('utf8'));
      } catch {
        // The parser's message quotes the input, which may be Secret data: never echo it.
        return fail(400, 'request body is not valid JSON');
      }
      const result = await handleReview(endpoint, body, reviewDeps);
      if (!result.ok) return fail(result.status, result.message);
      answer(endpoint, res, result.outcome, seconds());
    } catch (err) {
      // A bug in this module (handleReview itself never rejects). With a uid, still answer with
      // an AdmissionReview; without one, a plain 500. Nothing may escape: the promise of this
      // function is not awaited, and an unhandled rejection would end the process.
      try {
        deps.logger.error(
          { event: 'internal-error', endpoint, err },
          'unexpected error while answering an admission request',
        );
        const decoded = body === undefined ? undefined : decodeAdmissionReview(body);
        if (res.headersSent) {
          if (!res.writableEnded) res.destroy();
        } else if (decoded?.ok) {
          answer(endpoint, res, errored(endpoint, decoded.review, err), seconds());
        } else if (req.complete) {
          fail(500, 'internal error');
        } else {
          refuseWith(500, 'internal error');
        }
      } catch {
        res.destroy();
      }
    } finally {
      ticket?.release();
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
    // Identifiers only, never the object (docs/reliability.md "No Secret data in logs").
    deps.logger.info(
      {
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
      },
      'review',
    );
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

  return { listener, express: app, inFlight: () => inFlight, budget };
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

const OVER_BUDGET = 'tokenguard is at its memory budget for admission requests in flight; try again';

/** Why a body was not read to the end. */
interface BodyRefusal {
  readonly status: number;
  readonly error: string;
}

/**
 * Reads the whole body within `limits`: at most `maxBodyBytes` and `maxJsonValues`, each chunk
 * charged to `ticket` as it arrives (its bytes too when `chargeBytes`, i.e. when no
 * Content-Length paid for them up front). Stops at the first limit reached, with the refusal
 * to send; 'aborted' when the client goes away first.
 */
function readBody(
  req: IncomingMessage,
  limits: AdmissionLimits,
  ticket: BudgetTicket,
  chargeBytes: boolean,
): Promise<Buffer | BodyRefusal | 'aborted'> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const values = new JsonValueCounter();
    let size = 0;
    let done = false;
    const finish = (v: Buffer | BodyRefusal | 'aborted') => {
      if (done) return;
      done = true;
      req.removeListener('data', onData);
      chunks.length = 0;
      resolve(v);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limits.maxBodyBytes)
        return finish({ status: 413, error: `request body exceeds ${limits.maxBodyBytes} bytes` });
      if (chargeBytes && !ticket.grow(CHARGE_PER_BYTE * chunk.length))
        return finish({ status: 429, error: OVER_BUDGET });
      const before = values.count();
      const after = values.add(chunk);
      if (after > limits.maxJsonValues)
        return finish({ status: 413, error: `request body holds over ${limits.maxJsonValues} JSON values` });
      if (after > before && !ticket.grow(CHARGE_PER_VALUE * (after - before)))
        return finish({ status: 429, error: OVER_BUDGET });
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.on('end', () => {
      if (done) return;
      const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size);
      finish(body);
    });
    req.on('error', () => finish('aborted'));
    req.on('close', () => {
      if (!req.complete) finish('aborted');
    });
  });
}

/** Sends `{"error": message}` for a request whose body was read to the end. */
function sendError(res: ServerResponse, status: number, message: string): void {
  if (res.headersSent || res.destroyed) return;
  const payload = JSON.stringify({ error: message });
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) });
  res.end(payload);
}

/**
 * Sends `{"error": message}` for a request whose body has not been read to the end, without
 * reading it, and closes the connection in stages (RFC 9112 section 9.6): the whole answer goes
 * out with `Connection: close` (and `Retry-After` on a 429), then at most {@link LINGER_BYTES}
 * more of the body are read and dropped while the client, which has its answer, closes. The
 * response is ended, and the socket with it, when the body ends, the client goes away, or
 * {@link LINGER_MS} have passed. Closing at once would make the kernel reset a connection with
 * unread data, and a client still sending its body could lose the answer to that reset.
 */
function refuse(req: IncomingMessage, res: ServerResponse, status: number, message: string): void {
  if (res.headersSent || res.destroyed) {
    if (!res.writableEnded) res.destroy();
    return;
  }
  const payload = JSON.stringify({ error: message });
  const headers: Record<string, string | number> = {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(payload),
    Connection: 'close',
  };
  if (status === 429) headers['Retry-After'] = RETRY_AFTER_SECONDS;
  res.writeHead(status, headers);
  if (req.complete || req.readableEnded) {
    res.end(payload);
    return;
  }
  res.write(payload);
  let discarded = 0;
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    clearTimeout(timer);
    req.removeListener('data', onData);
    res.end();
  };
  const onData = (chunk: Buffer) => {
    discarded += chunk.length;
    if (discarded > LINGER_BYTES) req.pause();
  };
  const timer = setTimeout(end, LINGER_MS);
  timer.unref();
  req.on('data', onData);
  req.once('end', end);
  req.socket.once('close', end);
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
    deps.logger[internal ? 'error' : 'warn'](
      { event: 'http-error', path: req.path, status, err },
      internal ? 'unexpected error' : 'request rejected',
    );
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
    const s =
      (err as { status?: unknown; statusCode?: unknown }).status ?? (err as { statusCode?: unknown }).statusCode;
    if (typeof s === 'number' && s >= 400 && s < 500) return s;
  }
  return 500;
}
