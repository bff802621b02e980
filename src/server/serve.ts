/**
 * The composition root of `tokenguard serve`: policies, certificate, metrics, logger and routes
 * wired into one HTTPS server, with hot reload and graceful shutdown. Used by the CLI and by
 * the HTTP tests (port 0, host 127.0.0.1).
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { FactsProvider } from '../facts/types.js';
import { noFacts } from '../facts/types.js';
import type { Logger } from '../log.js';
import { type App, createApp, DEFAULT_CLIENT_SUBJECT, type Readiness } from './app.js';
import { type AdmissionLimits, FIRST_REQUEST_TIMEOUT_MS, HANDSHAKE_TIMEOUT_MS, MAX_CONNECTIONS } from './limits.js';
import { createMetrics, type Metrics } from './metrics.js';
import { loadPolicyStore, type PolicyStore } from './policies.js';
import { type CertFiles, CertificateError, type CertWatcher, certFingerprint, loadServingCert, secureContextOptions, watchServingCert } from './tls.js';

/**
 * Socket timeouts. The API server gives a webhook at most 30 s (`timeoutSeconds` 1-30, default
 * 10), so a request still incomplete after 30 s, or without headers after 20 s, is a slow or
 * hostile client: Node's defaults (300 s / 60 s) would let it hold a socket far longer.
 */
export const REQUEST_TIMEOUT_MS = 30_000;
export const HEADERS_TIMEOUT_MS = 20_000;
/**
 * Idle keep-alive sockets are kept 120 s, longer than the API server's 90 s idle connection
 * timeout (Go's http.Transport IdleConnTimeout as Kubernetes sets it): the client then always
 * closes first, and never sends a request on a socket we are closing (EOF errors,
 * knative/pkg#1509). Since Node 18, `headersTimeout` runs from the first byte of a request
 * only, not across idle keep-alive time (checked on Node 20: a socket idle longer than
 * `headersTimeout` is reused fine), and Node requires `headersTimeout <= requestTimeout`; so
 * the old advice "headersTimeout above keepAliveTimeout" no longer applies.
 */
export const KEEP_ALIVE_TIMEOUT_MS = 120_000;
/** How often Node checks the two timeouts above. */
const CONNECTIONS_CHECKING_INTERVAL_MS = 2_000;
/** Default drain period after SIGTERM during which readiness fails but requests are served. */
export const DEFAULT_SHUTDOWN_DELAY_MS = 5_000;
/** Default time allowed for in-flight requests after the drain before connections are cut. */
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 10_000;

export interface ServeOptions {
  /** 0 for an ephemeral port. */
  readonly port: number;
  /** Default `0.0.0.0`. */
  readonly host?: string;
  readonly tlsCert: string;
  readonly tlsKey: string;
  /** PEM CA bundle: admission requests must present a client certificate issued by it. */
  readonly clientCa?: string | undefined;
  /** With `clientCa`: the allowed client certificate subjects (default `kube-apiserver`; `*`: any). */
  readonly clientSubjects?: readonly string[] | undefined;
  /** Policy files and folders. */
  readonly policies: readonly string[];
  /** A policy file that held policies may come back empty (`--allow-empty-policy-files`); default: an error. */
  readonly allowEmptyPolicyFiles?: boolean;
  /** How long changed policy files must stay unchanged before they are loaded. Default 500 ms. */
  readonly policySettleMs?: number;
  /** Where cluster facts come from; default: none (`--no-cluster`). */
  readonly facts?: FactsProvider;
  /** Extra readiness condition, e.g. informers synced. */
  readonly factsReady?: () => boolean;
  readonly logger: Logger;
  /** Default {@link DEFAULT_SHUTDOWN_DELAY_MS}. */
  readonly shutdownDelayMs?: number;
  /** Default {@link DEFAULT_SHUTDOWN_TIMEOUT_MS}. */
  readonly shutdownTimeoutMs?: number;
  /** How often policy and certificate files are polled, besides folder watches. Default 2000. */
  readonly pollIntervalMs?: number;
  /** Default: a new registry with every metric. */
  readonly metrics?: Metrics;
  /** Admission limits other than the defaults of limits.ts (tests shrink them). */
  readonly limits?: Partial<AdmissionLimits>;
  /** Default {@link MAX_CONNECTIONS}. */
  readonly maxConnections?: number;
  /** Default {@link HANDSHAKE_TIMEOUT_MS} (tests shorten it). */
  readonly handshakeTimeoutMs?: number;
  /** Default {@link FIRST_REQUEST_TIMEOUT_MS} (tests shorten it). */
  readonly firstRequestTimeoutMs?: number;
}

/** A problem that prevents start-up; each line is one error, printed as is. */
export class StartupError extends Error {
  override readonly name = 'StartupError';
  constructor(
    message: string,
    readonly details: readonly string[] = [],
  ) {
    super(message);
  }
}

export interface RunningServer {
  readonly server: Server;
  readonly port: number;
  readonly host: string;
  readonly metrics: Metrics;
  readonly policies: PolicyStore;
  readonly certificate: CertWatcher;
  readonly app: App;
  readiness(): Readiness;
  /**
   * Graceful shutdown: readiness fails at once, requests are still served for the drain
   * period, then the server stops accepting, lets in-flight requests finish (at most the
   * shutdown timeout) and closes every connection. Idempotent: later calls get the same promise.
   */
  close(): Promise<ShutdownReport>;
  /** Cuts every connection now (a second signal); a pending `close()` then completes. */
  forceClose(): void;
}

export interface ShutdownReport {
  /** Connections that had to be cut after the shutdown timeout (0 when all finished). */
  readonly forcedConnections: number;
}

/**
 * Starts the webhook. Loads and validates policies and the certificate first and rejects with
 * a {@link StartupError} listing every problem when they are unusable, so a broken deployment
 * fails its rollout instead of serving with no policy.
 */
export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const { logger } = options;
  const host = options.host ?? '0.0.0.0';
  const shutdownDelayMs = options.shutdownDelayMs ?? DEFAULT_SHUTDOWN_DELAY_MS;
  const shutdownTimeoutMs = options.shutdownTimeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS;
  const metrics = options.metrics ?? createMetrics();

  const loaded = loadPolicyStore({ paths: options.policies, logger, metrics, allowEmptiedFiles: options.allowEmptyPolicyFiles === true });
  if (!loaded.ok) throw new StartupError('invalid policy set', loaded.errors);
  const policies = loaded.store;

  const certFiles: CertFiles = { certFile: options.tlsCert, keyFile: options.tlsKey, clientCaFile: options.clientCa };
  const certBaseline = certFingerprint(certFiles);
  let cert: ReturnType<typeof loadServingCert>;
  try {
    cert = loadServingCert(certFiles);
  } catch (e) {
    if (e instanceof CertificateError) throw new StartupError('unusable TLS certificate', [e.message]);
    throw e;
  }
  if (cert.notAfter.getTime() <= Date.now()) {
    logger.warn({ event: 'certificate', serialNumber: cert.serialNumber, notAfter: cert.notAfter.toISOString() }, 'the serving certificate has expired');
  }

  let shuttingDown = false;
  const readiness = (): Readiness => {
    const reasons: string[] = [];
    if (shuttingDown) reasons.push('shutting down');
    if (policies.current().length === 0) reasons.push('no policies loaded');
    if (options.factsReady && !options.factsReady()) reasons.push('cluster facts not synced');
    return { ready: reasons.length === 0, reasons };
  };
  const requireClientCert = cert.clientCa !== undefined;
  const clientSubjects = options.clientSubjects?.length ? options.clientSubjects : [DEFAULT_CLIENT_SUBJECT];
  const app = createApp({
    policies: () => policies.current(),
    facts: options.facts ?? noFacts,
    logger,
    metrics,
    readiness,
    draining: () => shuttingDown,
    requireClientCert,
    clientSubjects,
    ...(options.limits ? { limits: options.limits } : {}),
  });

  const server = createServer(
    {
      ...secureContextOptions(cert),
      // Ask for a client certificate when a client CA is configured, but do not fail the
      // handshake without one: kubelet probes present none. Admission endpoints then require
      // one (app.ts), and a certificate that does not verify is refused below.
      requestCert: requireClientCert,
      rejectUnauthorized: false,
      requestTimeout: REQUEST_TIMEOUT_MS,
      headersTimeout: HEADERS_TIMEOUT_MS,
      connectionsCheckingInterval: CONNECTIONS_CHECKING_INTERVAL_MS,
      handshakeTimeout: options.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS,
    },
    app.listener,
  );
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  // Past the cap, Node closes each new connection as it is accepted ('drop'). The kubelet's
  // probes then fail too, which takes an overrun replica out of the Service.
  server.maxConnections = options.maxConnections ?? MAX_CONNECTIONS;
  server.on('drop', () => metrics.observeConnectionClosed('limit'));

  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  metrics.setLoadSources({ connections: () => sockets.size, chargedBytes: () => app.budget.inUse() });
  // Node closes a connection that stays silent before its first request only at
  // requestTimeout after that request starts, i.e. never. Node's own 'timeout' handler destroys
  // a socket that no request or response claims, so an inactivity timeout from the handshake to
  // the first request is enough; it is lifted once that request's headers are in (requestTimeout
  // and headersTimeout apply from then on, keepAliveTimeout between requests).
  const served = new WeakSet<Socket>();
  const firstRequestTimeoutMs = options.firstRequestTimeoutMs ?? FIRST_REQUEST_TIMEOUT_MS;
  server.on('secureConnection', (socket: TLSSocket) => {
    socket.setTimeout(firstRequestTimeoutMs);
    socket.once('timeout', () => {
      if (!served.has(socket)) metrics.observeConnectionClosed('idle');
    });
  });
  server.on('request', (req: IncomingMessage) => {
    const socket = req.socket;
    if (served.has(socket)) return;
    served.add(socket);
    socket.setTimeout(0);
  });
  if (requireClientCert) {
    server.on('secureConnection', (socket: TLSSocket) => {
      // A presented certificate that fails verification is refused outright; no certificate
      // at all reaches the routes, where only the probes and metrics answer.
      if (!socket.authorized && Object.keys(socket.getPeerCertificate() ?? {}).length > 0) {
        logger.warn({ event: 'tls', remoteAddress: socket.remoteAddress, error: String(socket.authorizationError) }, 'client certificate refused');
        socket.destroy();
      }
    });
  }
  server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
    if (err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT') metrics.observeConnectionClosed('handshake-timeout');
    logger.debug({ event: 'tls', remoteAddress: socket.remoteAddress, error: err.message }, 'TLS handshake failed');
    socket.destroy();
  });

  try {
    server.listen(options.port, host);
    // events.once rejects when 'error' comes first, and removes both listeners either way.
    await once(server, 'listening');
  } catch (e) {
    policies.close();
    throw new StartupError(`cannot listen on ${host}:${options.port}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const port = (server.address() as AddressInfo).port;
  // After start-up, a server error (e.g. EMFILE on accept) is logged, not thrown: without a
  // listener Node would end the process and every request in flight with it.
  server.on('error', (e: NodeJS.ErrnoException) => {
    logger.error({ event: 'server-error', code: e.code, error: e.message }, 'server error');
  });

  const pollIntervalMs = options.pollIntervalMs;
  policies.watch({
    ...(pollIntervalMs !== undefined ? { pollIntervalMs } : {}),
    ...(options.policySettleMs !== undefined ? { settleMs: options.policySettleMs } : {}),
  });
  const certificate = watchServingCert({
    files: certFiles,
    initial: cert,
    baseline: certBaseline,
    server,
    logger,
    metrics,
    ...(pollIntervalMs !== undefined ? { pollIntervalMs } : {}),
  });
  logger.info(
    {
      event: 'listening',
      host,
      port,
      policies: policies.current().map((p) => p.name),
      serialNumber: cert.serialNumber,
      notAfter: cert.notAfter.toISOString(),
      clientAuth: requireClientCert,
      ...(requireClientCert ? { clientSubjects } : {}),
    },
    'tokenguard webhook listening',
  );

  let closing: Promise<ShutdownReport> | undefined;
  let cancelDrain: (() => void) | undefined;
  let forced = false;
  const forceClose = () => {
    forced = true;
    cancelDrain?.();
    for (const s of sockets) s.destroy();
  };
  const close = (): Promise<ShutdownReport> => {
    closing ??= (async () => {
      shuttingDown = true;
      logger.info({ event: 'shutdown', phase: 'drain', delayMs: shutdownDelayMs }, 'shutting down: readiness fails, still serving during the drain period');
      if (shutdownDelayMs > 0 && !forced) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, shutdownDelayMs);
          cancelDrain = () => {
            clearTimeout(t);
            resolve();
          };
        });
      }
      policies.close();
      certificate.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Node 19+ closes idle keep-alive sockets in close(); responses from now on carry
      // `Connection: close`, so busy sockets close when their request is answered.
      server.closeIdleConnections();
      logger.info({ event: 'shutdown', phase: 'close', inFlight: app.inFlight(), connections: sockets.size }, 'stopped accepting connections; finishing in-flight requests');
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        closed.then(() => false),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), shutdownTimeoutMs);
        }),
      ]);
      if (timer) clearTimeout(timer);
      let forcedConnections = 0;
      if (timedOut) {
        forcedConnections = sockets.size;
        logger.warn({ event: 'shutdown', phase: 'force', connections: forcedConnections }, 'shutdown timeout: closing remaining connections');
        for (const s of sockets) s.destroy();
        await closed;
      }
      logger.info({ event: 'shutdown', phase: 'done', forcedConnections }, 'shutdown complete');
      return { forcedConnections };
    })();
    return closing;
  };

  return { server, port, host, metrics, policies, certificate, app, readiness, close, forceClose };
}
