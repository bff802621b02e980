import { parseArgs } from 'node:util';
import { ensureDevCertificates } from '../certs/dev.js';
import type { ClusterFactsProvider } from '../facts/informers.js';
import { noFacts, withApiAudiences } from '../facts/types.js';
import { type KubeConfig, loadKubeConfig } from '../kube/config.js';
import { proxyFromEnvironment, shownProxy } from '../kube/proxy.js';
import { createLogger, LOG_LEVELS, type Logger, turnBatched } from '../log.js';
import { createMetrics } from '../server/metrics.js';
import { DEFAULT_SHUTDOWN_DELAY_MS, DEFAULT_SHUTDOWN_TIMEOUT_MS, type RunningServer, StartupError, startServer } from '../server/serve.js';
import { type CliIo, EXIT_OK, EXIT_USAGE } from './io.js';

const USAGE = `usage: tokenguard serve [--port 8443] [--host 0.0.0.0] [--tls-cert FILE --tls-key FILE]
                        [--client-ca FILE [--client-subject NAME]...] [--policies PATH]...
                        [--no-cluster | --kubeconfig FILE]
                        [--log-level info] [--shutdown-delay 5s] [--shutdown-timeout 10s]
                        [--gc-metrics] [--api-audience A]... [--allow-empty-policy-files]

With cluster access (the default: in-cluster credentials, KUBECONFIG or ~/.kube/config, or
--kubeconfig), ServiceAccounts, Namespaces and RBAC bindings are watched read-only and /readyz
waits for the first full sync. --no-cluster serves without them: bindings are unknown.

--client-ca: /mutate and /validate answer only callers with a client certificate from that CA
whose subject CN or a DNS subject alternative name is one of --client-subject (default
kube-apiserver; '*' accepts any certificate from the CA). Probes and /metrics stay open.

--api-audience: the cluster's API audiences (kube-apiserver --api-audiences, which default to its
--service-account-issuer; globs; repeatable). A token for one of them is an API token in every
rule, and a TokenRequest the API server filled in with them is one with no audience. Default
https://kubernetes.default.svc and https://kubernetes.default.svc.*; managed clusters (EKS, GKE,
AKS) use their own issuer: \`kubectl create token default | tokenguard token inspect -\` shows it.

--gc-metrics: /metrics also has nodejs_gc_duration_seconds. Off by default: timing every GC
from JavaScript makes short-lived objects reach the old generation (docs/metrics.md).

Policy files reload when they change, once they have been unchanged for half a second. A set
with an error is not used (the last good one stays). Nor is a file that held policies and now
holds none (empty, or only comments): delete a file to remove its policies, or pass
--allow-empty-policy-files to let an emptied file drop them.

Without --tls-cert/--tls-key, serves certs/tls.crt and certs/tls.key, creating development
certificates there (for localhost, 127.0.0.1 and the tokenguard Service) when they are missing.
`;

/** Folder of the development certificates, relative to the working directory. */
export const DEV_CERT_DIR = 'certs';

/** Where the command listens for shutdown signals; tests pass their own emitter. */
export interface ServeHooks {
  readonly signals?: Pick<NodeJS.EventEmitter, 'on' | 'removeListener'>;
  /** Called once the server listens. */
  readonly onListening?: (server: RunningServer) => void;
  /** Log lines go here instead of standard output. */
  readonly logDestination?: { write(line: string): unknown };
}

/**
 * `tokenguard serve`: runs the HTTPS admission webhook until SIGTERM or SIGINT, then shuts down
 * gracefully and returns 0. Returns 2 at once for bad arguments, an invalid policy set or an
 * unusable certificate, after printing every problem.
 */
export async function runServeCommand(argv: readonly string[], io: CliIo, hooks: ServeHooks = {}): Promise<number> {
  let values: {
    port?: string;
    host?: string;
    'tls-cert'?: string;
    'tls-key'?: string;
    'client-ca'?: string;
    'client-subject'?: string[];
    policies?: string[];
    'no-cluster'?: boolean;
    kubeconfig?: string;
    'log-level'?: string;
    'shutdown-delay'?: string;
    'shutdown-timeout'?: string;
    'gc-metrics'?: boolean;
    'api-audience'?: string[];
    'allow-empty-policy-files'?: boolean;
    help?: boolean;
  };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      allowPositionals: false,
      options: {
        port: { type: 'string', default: '8443' },
        host: { type: 'string', default: '0.0.0.0' },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        'client-ca': { type: 'string' },
        'client-subject': { type: 'string', multiple: true },
        policies: { type: 'string', multiple: true },
        'no-cluster': { type: 'boolean', default: false },
        kubeconfig: { type: 'string' },
        'log-level': { type: 'string', default: 'info' },
        'shutdown-delay': { type: 'string', default: `${DEFAULT_SHUTDOWN_DELAY_MS / 1000}s` },
        'shutdown-timeout': { type: 'string', default: `${DEFAULT_SHUTDOWN_TIMEOUT_MS / 1000}s` },
        'gc-metrics': { type: 'boolean', default: false },
        'api-audience': { type: 'string', multiple: true },
        'allow-empty-policy-files': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (e) {
    io.stderr.write(`${(e as Error).message}\n${USAGE}`);
    return EXIT_USAGE;
  }
  if (values.help) {
    io.stdout.write(USAGE);
    return EXIT_OK;
  }
  const usage = (message: string) => {
    io.stderr.write(`${message}\n${USAGE}`);
    return EXIT_USAGE;
  };
  const port = Number(values.port);
  if (!/^\d+$/.test(values.port ?? '') || port > 65535) return usage(`--port must be a port number (0-65535), got "${values.port}"`);
  const level = values['log-level'] ?? 'info';
  if (!LOG_LEVELS.includes(level)) return usage(`--log-level must be one of ${LOG_LEVELS.join(', ')}`);
  const shutdownDelayMs = parseDuration(values['shutdown-delay'] ?? '');
  if (shutdownDelayMs === undefined) return usage(`--shutdown-delay must be a duration such as 5s or 500ms, got "${values['shutdown-delay']}"`);
  const shutdownTimeoutMs = parseDuration(values['shutdown-timeout'] ?? '');
  if (shutdownTimeoutMs === undefined) return usage(`--shutdown-timeout must be a duration such as 10s, got "${values['shutdown-timeout']}"`);
  if ((values['tls-cert'] === undefined) !== (values['tls-key'] === undefined)) return usage('--tls-cert and --tls-key go together');

  // Standard output is a pipe in a container: the lines of one event-loop turn go out in one
  // write (log.ts, turnBatched), and whatever is pending when the process exits is written then.
  const destination = hooks.logDestination ?? turnBatched((chunk) => io.stdout.write(chunk), { flushOnExit: true });
  const logger: Logger = createLogger({ level }, destination);

  let tlsCert = values['tls-cert'];
  let tlsKey = values['tls-key'];
  if (tlsCert === undefined || tlsKey === undefined) {
    try {
      const dev = await ensureDevCertificates(DEV_CERT_DIR);
      tlsCert = dev.cert;
      tlsKey = dev.key;
      logger.info(
        { event: 'dev-certificates', generated: dev.generated, reason: dev.reason, caCert: dev.caCert },
        dev.generated ? `development certificates written to ${DEV_CERT_DIR}/ (trust ${dev.caCert})` : `using development certificates in ${DEV_CERT_DIR}/`,
      );
    } catch (e) {
      io.stderr.write(`tokenguard serve: cannot create development certificates in ${DEV_CERT_DIR}/: ${(e as Error).message}\n`);
      return EXIT_USAGE;
    }
  }
  if (values['no-cluster'] && values.kubeconfig) return usage('--no-cluster and --kubeconfig exclude each other');
  if (values['client-subject'] && !values['client-ca']) return usage('--client-subject needs --client-ca');
  if (values['api-audience']?.some((a) => a.trim() === '')) return usage('--api-audience must not be empty');
  const metrics = createMetrics(undefined, { gcMetrics: values['gc-metrics'] === true });
  let facts: ClusterFactsProvider | undefined;
  if (!values['no-cluster']) {
    // Loaded only with cluster access (one after the other: jest's ESM loader fails on parallel imports sharing a module).
    const { createClusterFacts } = await import('../facts/informers.js');
    const { registerFactsMetrics } = await import('../facts/metrics.js');
    let kubeConfig: KubeConfig;
    try {
      kubeConfig = loadKubeConfig(values.kubeconfig, process.env);
    } catch (e) {
      return usage(`tokenguard serve: ${(e as Error).message}`);
    }
    for (const warning of kubeConfig.warnings ?? []) logger.warn({ event: 'kubeconfig' }, warning);
    // HTTPS_PROXY/NO_PROXY, as kubectl reads them (the client reads the same variables).
    const proxies = proxyFromEnvironment(process.env);
    for (const warning of proxies.warnings) logger.warn({ event: 'proxy' }, warning);
    const proxy = proxies.proxyFor(new URL(kubeConfig.server));
    logger.info(
      { event: 'facts', cluster: true, source: kubeConfig.source, server: new URL(kubeConfig.server).host, ...(proxy ? { proxy: shownProxy(proxy) } : {}) },
      'watching cluster facts',
    );
    facts = createClusterFacts({ kubeConfig, logger: logger.child({ component: 'facts' }) });
    registerFactsMetrics(metrics.registry, facts);
    // Rejects only when stopped before the first sync; readiness follows facts.ready().
    facts.start().catch(() => {});
  } else logger.info({ event: 'facts', cluster: false }, 'serving without cluster facts (--no-cluster): RBAC bindings are unknown');
  const clusterFacts = facts;
  const apiAudiences = values['api-audience'];
  if (apiAudiences) logger.info({ event: 'api-audiences', apiAudiences }, 'API audiences from --api-audience');
  // Without --api-audience the engine's defaults apply and the facts provider is used as it is.
  const served = apiAudiences ? withApiAudiences(clusterFacts ?? noFacts, apiAudiences) : clusterFacts;

  let running: RunningServer;
  try {
    running = await startServer({
      port,
      host: values.host ?? '0.0.0.0',
      tlsCert,
      tlsKey,
      clientCa: values['client-ca'],
      clientSubjects: values['client-subject'],
      policies: values.policies ?? ['policies'],
      allowEmptyPolicyFiles: values['allow-empty-policy-files'] === true,
      logger,
      shutdownDelayMs,
      shutdownTimeoutMs,
      metrics,
      ...(served ? { facts: served } : {}),
      ...(clusterFacts ? { factsReady: () => clusterFacts.ready() } : {}),
    });
  } catch (e) {
    await clusterFacts?.stop();
    if (e instanceof StartupError) {
      io.stderr.write(`tokenguard serve: ${e.message}${e.details.length > 0 ? ':' : ''}\n`);
      for (const d of e.details) io.stderr.write(`  ${d}\n`);
      return EXIT_USAGE;
    }
    throw e;
  }
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
  signals.removeListener('SIGTERM', onTerm);
  signals.removeListener('SIGINT', onInt);
  process.removeListener('unhandledRejection', onUnhandled);
  return EXIT_OK;
}

/** Finds cluster credentials the way kubectl does; see `src/kube/config.ts`. */
export { loadKubeConfig };

/**
 * Parses `500ms`, `5s`, `1m` or a bare number of seconds into milliseconds; undefined when
 * invalid or negative.
 */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  const ms = unit === 'ms' ? n : unit === 's' ? n * 1000 : n * 60_000;
  return Number.isFinite(ms) ? Math.round(ms) : undefined;
}
