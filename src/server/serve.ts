/**
 * The composition root of `tokenguard serve`. {@link runServe} goes from the checked flags
 * (src/cli/commands/serve.ts parses them) to a running webhook and back: it builds the logger,
 * the development certificates when none are given, the metrics, the cluster facts and the API
 * audiences, hands them to {@link startServer}, and shuts down on SIGTERM or SIGINT.
 * {@link startServer} wires policies, certificate, metrics, logger and routes into one HTTPS
 * server with hot reload and graceful shutdown; the HTTP tests call it directly (port 0, host
 * 127.0.0.1).
 */
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RotationConfig } from '../certs/controller.js';
import { ensureDevCertificates } from '../certs/dev.js';
import type { ClusterFactsProvider } from '../facts/informers.js';
import { type FactsProvider, noFacts, withApiAudiences } from '../facts/types.js';
import { withObservedUse } from '../facts/usage.js';
import { type KubeConfig, loadKubeConfig } from '../kube/config.js';
import { proxyFromEnvironment, shownProxy } from '../kube/proxy.js';
import { childLogger, createLogger, type Logger, turnBatched } from '../log.js';
import type { CertManager } from './cert-manager.js';
import { type App, createApp, DEFAULT_CLIENT_SUBJECT, type Readiness } from './app.js';
import { type AdmissionLimits, FIRST_REQUEST_TIMEOUT_MS, HANDSHAKE_TIMEOUT_MS, MAX_CONNECTIONS } from './limits.js';
import { createMetrics, type Metrics } from './metrics.js';
import { loadPolicyStore, type PolicyStore } from './policies.js';
import { loadUsageStore, type UsageStore } from './usage.js';
import {
  type CertFiles,
  CertificateError,
  type CertWatcher,
  certFingerprint,
  loadServingCert,
  secureContextOptions,
  watchServingCert,
} from './tls.js';

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

/** What {@link startServer} serves with. */
export interface ServerOptions {
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

/**
 * A problem that prevents start-up; each line of `details` is one error, printed as is.
 * `usage`: the flags named something unusable, so the command prints its usage text too.
 */
export class StartupError extends Error {
  override readonly name = 'StartupError';
  constructor(
    message: string,
    readonly details: readonly string[] = [],
    readonly usage = false,
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
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const { logger } = options;
  const host = options.host ?? '0.0.0.0';
  const shutdownDelayMs = options.shutdownDelayMs ?? DEFAULT_SHUTDOWN_DELAY_MS;
  const shutdownTimeoutMs = options.shutdownTimeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS;
  const metrics = options.metrics ?? createMetrics();

  const loaded = loadPolicyStore({
    paths: options.policies,
    logger,
    metrics,
    allowEmptiedFiles: options.allowEmptyPolicyFiles === true,
  });
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
    logger.warn(
      { event: 'certificate', serialNumber: cert.serialNumber, notAfter: cert.notAfter.toISOString() },
      'the serving certificate has expired',
    );
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
        logger.warn(
          { event: 'tls', remoteAddress: socket.remoteAddress, error: String(socket.authorizationError) },
          'client certificate refused',
        );
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
    throw new StartupError(
      `cannot listen on ${host}:${options.port}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
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
      logger.info(
        { event: 'shutdown', phase: 'drain', delayMs: shutdownDelayMs },
        'shutting down: readiness fails, still serving during the drain period',
      );
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
      logger.info(
        { event: 'shutdown', phase: 'close', inFlight: app.inFlight(), connections: sockets.size },
        'stopped accepting connections; finishing in-flight requests',
      );
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
        logger.warn(
          { event: 'shutdown', phase: 'force', connections: forcedConnections },
          'shutdown timeout: closing remaining connections',
        );
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

/** Folder of the development certificates, relative to the working directory. */
const DEV_CERT_DIR = 'certs';

/** What `tokenguard serve` runs with: its flags, checked and defaulted (src/cli/commands/serve.ts). */
export interface ServeOptions {
  readonly port: number;
  readonly host: string;
  /** Both or neither; neither: development certificates in {@link DEV_CERT_DIR}. */
  readonly tlsCert?: string;
  readonly tlsKey?: string;
  readonly clientCa?: string;
  readonly clientSubjects?: readonly string[];
  readonly policies: readonly string[];
  readonly allowEmptyPolicyFiles: boolean;
  /** No cluster access: bindings are unknown. */
  readonly noCluster: boolean;
  readonly kubeconfig?: string;
  readonly logLevel: string;
  readonly shutdownDelayMs: number;
  readonly shutdownTimeoutMs: number;
  readonly gcMetrics: boolean;
  /** `--api-audience`; undefined: the engine's defaults. */
  readonly apiAudiences?: readonly string[];
  /** `--manage-certificates`: the serving certificate comes from the certificate controller. */
  readonly manageCertificates?: ManageCertificatesOptions;
  /** `--usage`: TokenUsage documents, observed use for `automount.needed.observedWithin`. */
  readonly usage?: readonly string[];
}

/** The certificate controller's settings (`--manage-certificates` and the `--certificate-*` flags). */
export interface ManageCertificatesOptions {
  /** Undefined: `POD_NAMESPACE`. */
  readonly namespace?: string;
  readonly secretName: string;
  readonly leaseName: string;
  readonly service: string;
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
  /** Empty string: none of that kind. */
  readonly validatingWebhookConfiguration: string;
  readonly mutatingWebhookConfiguration: string;
  readonly rotation: RotationConfig;
  readonly pollIntervalMs: number;
  /** Undefined: `tokenguard-certificates` in the temporary folder. */
  readonly dir?: string;
}

/** Where {@link runServe} writes and listens; tests pass their own. */
export interface ServeHooks {
  /** Where shutdown signals come from (default the process). */
  readonly signals?: Pick<NodeJS.EventEmitter, 'on' | 'removeListener'>;
  /** Called once the server listens. */
  readonly onListening?: (server: RunningServer) => void;
  /** Log lines go here instead of standard output. */
  readonly logDestination?: { write(line: string): unknown };
}

/**
 * Runs the webhook until SIGTERM or SIGINT, then shuts down gracefully. Rejects with a
 * {@link StartupError} for an invalid policy set, an unusable certificate or kubeconfig, or
 * development certificates that cannot be written, before serving anything.
 */
export async function runServe(
  options: ServeOptions,
  stdout: { write(chunk: string): unknown },
  hooks: ServeHooks = {},
): Promise<void> {
  // Standard output is a pipe in a container: the lines of one event-loop turn go out in one
  // write (log.ts, turnBatched), and whatever is pending when the process exits is written then.
  const destination = hooks.logDestination ?? turnBatched((chunk) => stdout.write(chunk), { flushOnExit: true });
  const logger: Logger = createLogger({ level: options.logLevel }, destination);

  let tlsCert = options.tlsCert;
  let tlsKey = options.tlsKey;
  let kubeConfig: KubeConfig | undefined;
  if (!options.noCluster) {
    try {
      kubeConfig = loadKubeConfig(options.kubeconfig, process.env);
    } catch (e) {
      throw new StartupError((e as Error).message, [], true);
    }
  }
  let certManager: CertManager | undefined;
  const manage = options.manageCertificates;
  if (manage !== undefined) {
    if (kubeConfig === undefined)
      throw new StartupError('--manage-certificates needs cluster access (it excludes --no-cluster)', [], true);
    const namespace = manage.namespace ?? process.env.POD_NAMESPACE;
    if (namespace === undefined || namespace === '')
      throw new StartupError(
        '--manage-certificates needs --certificate-namespace or the POD_NAMESPACE environment variable',
        [],
        true,
      );
    const { startCertManager } = await import('./cert-manager.js');
    const { KubeClient } = await import('../kube/client.js');
    const dir = manage.dir ?? join(tmpdir(), 'tokenguard-certificates');
    certManager = startCertManager({
      client: new KubeClient(kubeConfig),
      namespace,
      secretName: manage.secretName,
      leaseName: manage.leaseName,
      service: manage.service,
      extraDnsNames: manage.dnsNames,
      ipAddresses: manage.ipAddresses,
      validatingWebhookConfiguration: manage.validatingWebhookConfiguration || undefined,
      mutatingWebhookConfiguration: manage.mutatingWebhookConfiguration || undefined,
      rotation: manage.rotation,
      pollIntervalMs: manage.pollIntervalMs,
      dir,
      logger: childLogger(logger, { component: 'certificates' }),
    });
    logger.info(
      { event: 'certificates', secret: `${namespace}/${manage.secretName}`, lease: manage.leaseName, dir },
      'managing certificates: waiting for a serving certificate in the Secret',
    );
    // A signal while waiting ends the wait: the process exits instead of hanging until killed.
    const early = hooks.signals ?? process;
    const stopWaiting = () => {
      void certManager?.close();
    };
    early.on('SIGTERM', stopWaiting);
    early.on('SIGINT', stopWaiting);
    let files: { certFile: string; keyFile: string };
    try {
      files = await certManager.ready;
    } catch (e) {
      throw new StartupError((e as Error).message);
    } finally {
      early.removeListener('SIGTERM', stopWaiting);
      early.removeListener('SIGINT', stopWaiting);
    }
    tlsCert = files.certFile;
    tlsKey = files.keyFile;
  }
  if (tlsCert === undefined || tlsKey === undefined) {
    let dev: Awaited<ReturnType<typeof ensureDevCertificates>>;
    try {
      dev = await ensureDevCertificates(DEV_CERT_DIR);
    } catch (e) {
      throw new StartupError(`cannot create development certificates in ${DEV_CERT_DIR}/: ${(e as Error).message}`);
    }
    tlsCert = dev.cert;
    tlsKey = dev.key;
    logger.info(
      { event: 'dev-certificates', generated: dev.generated, reason: dev.reason, caCert: dev.caCert },
      dev.generated
        ? `development certificates written to ${DEV_CERT_DIR}/ (trust ${dev.caCert})`
        : `using development certificates in ${DEV_CERT_DIR}/`,
    );
  }
  const metrics = createMetrics(undefined, { gcMetrics: options.gcMetrics });
  let facts: ClusterFactsProvider | undefined;
  if (!options.noCluster) {
    // Loaded only with cluster access (one after the other: jest's ESM loader fails on parallel imports sharing a module).
    const { createClusterFacts } = await import('../facts/informers.js');
    const { registerFactsMetrics } = await import('../facts/metrics.js');
    if (kubeConfig === undefined) throw new StartupError('no kubeconfig', [], true);
    for (const warning of kubeConfig.warnings ?? []) logger.warn({ event: 'kubeconfig' }, warning);
    // HTTPS_PROXY/NO_PROXY, as kubectl reads them (the client reads the same variables).
    const proxies = proxyFromEnvironment(process.env);
    for (const warning of proxies.warnings) logger.warn({ event: 'proxy' }, warning);
    const proxy = proxies.proxyFor(new URL(kubeConfig.server));
    logger.info(
      {
        event: 'facts',
        cluster: true,
        source: kubeConfig.source,
        server: new URL(kubeConfig.server).host,
        ...(proxy ? { proxy: shownProxy(proxy) } : {}),
      },
      'watching cluster facts',
    );
    facts = createClusterFacts({ kubeConfig, logger: childLogger(logger, { component: 'facts' }) });
    registerFactsMetrics(metrics.registry, facts);
    // Rejects only when stopped before the first sync; readiness follows facts.ready().
    facts.start().catch(() => {});
  } else
    logger.info(
      { event: 'facts', cluster: false },
      'serving without cluster facts (--no-cluster): RBAC bindings are unknown',
    );
  const clusterFacts = facts;
  const apiAudiences = options.apiAudiences;
  if (apiAudiences) logger.info({ event: 'api-audiences', apiAudiences }, 'API audiences from --api-audience');
  // Without --api-audience the engine's defaults apply and the facts provider is used as it is.
  let served = apiAudiences ? withApiAudiences(clusterFacts ?? noFacts, apiAudiences) : clusterFacts;
  // --usage: observed use from the audit log, measured against this process's clock (docs/usage.md).
  let usageStore: UsageStore | undefined;
  if (options.usage && options.usage.length > 0) {
    const loaded = loadUsageStore({ paths: options.usage, logger });
    if (!loaded.ok) {
      await clusterFacts?.stop();
      throw new StartupError(`--usage ${options.usage.join(', ')} is invalid`, loaded.errors);
    }
    const store = loaded.store;
    usageStore = store;
    served = withObservedUse(served ?? noFacts, { usage: () => store.current(), now: Date.now });
  }

  let running: RunningServer;
  try {
    running = await startServer({
      port: options.port,
      host: options.host,
      tlsCert,
      tlsKey,
      clientCa: options.clientCa,
      clientSubjects: options.clientSubjects,
      policies: options.policies,
      allowEmptyPolicyFiles: options.allowEmptyPolicyFiles,
      logger,
      shutdownDelayMs: options.shutdownDelayMs,
      shutdownTimeoutMs: options.shutdownTimeoutMs,
      metrics,
      ...(served ? { facts: served } : {}),
      ...(clusterFacts ? { factsReady: () => clusterFacts.ready() } : {}),
    });
  } catch (e) {
    await clusterFacts?.stop();
    await certManager?.close();
    usageStore?.close();
    throw e;
  }
  usageStore?.watch();
  hooks.onListening?.(running);

  const signals = hooks.signals ?? process;
  const onUnhandled = (reason: unknown) => {
    // A safety net: every request path catches its own errors, so this is a bug; log it
    // rather than let Node end the process and every request in flight with it.
    logger.error({ event: 'unhandled-rejection', err: reason }, 'unhandled promise rejection');
  };
  process.on('unhandledRejection', onUnhandled);
  let received = 0;
  let onTerm = () => {};
  let onInt = () => {};
  await new Promise<void>((resolve) => {
    const onSignal = (signal: string) => {
      received += 1;
      if (received > 1) {
        logger.warn({ event: 'shutdown', signal }, 'second signal: closing every connection now');
        running.forceClose();
        return;
      }
      logger.info({ event: 'shutdown', signal }, `received ${signal}`);
      running.close().then(
        () => resolve(),
        () => resolve(),
      );
    };
    onTerm = () => onSignal('SIGTERM');
    onInt = () => onSignal('SIGINT');
    signals.on('SIGTERM', onTerm);
    signals.on('SIGINT', onInt);
  });
  await clusterFacts?.stop();
  await certManager?.close();
  usageStore?.close();
  signals.removeListener('SIGTERM', onTerm);
  signals.removeListener('SIGINT', onInt);
  process.removeListener('unhandledRejection', onUnhandled);
}
