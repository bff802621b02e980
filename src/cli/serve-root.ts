/**
 * The composition root of `tokenguard serve`: from parsed options (commands/serve.ts) to a
 * running server, then the shutdown on SIGTERM or SIGINT. It builds the logger, the development
 * certificates when none are given, the metrics, the cluster facts and the API audiences, and
 * hands them to `startServer` (src/server/serve.ts).
 */
import { ensureDevCertificates } from '../certs/dev.js';
import type { ClusterFactsProvider } from '../facts/informers.js';
import { noFacts, withApiAudiences } from '../facts/types.js';
import { withObservedUse } from '../facts/usage.js';
import { type KubeConfig, loadKubeConfig } from '../kube/config.js';
import { proxyFromEnvironment, shownProxy } from '../kube/proxy.js';
import { createLogger, type Logger, turnBatched } from '../log.js';
import { createMetrics } from '../server/metrics.js';
import { type RunningServer, StartupError, startServer } from '../server/serve.js';
import { loadUsageStore, type UsageStore } from '../server/usage.js';
import { type CliIo, EXIT_OK, EXIT_USAGE } from './io.js';

/** Folder of the development certificates, relative to the working directory. */
const DEV_CERT_DIR = 'certs';

/** What `tokenguard serve` runs with: its flags, checked and defaulted. */
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
  /** `--usage`: TokenUsage documents, observed use for `automount.needed.observedWithin`. */
  readonly usage?: readonly string[];
}

/** Where the command listens for shutdown signals; tests pass their own emitter. */
export interface ServeHooks {
  readonly signals?: Pick<NodeJS.EventEmitter, 'on' | 'removeListener'>;
  /** Called once the server listens. */
  readonly onListening?: (server: RunningServer) => void;
  /** Log lines go here instead of standard output. */
  readonly logDestination?: { write(line: string): unknown };
}

export interface RunServeArgs {
  readonly options: ServeOptions;
  readonly io: CliIo;
  readonly hooks: ServeHooks;
  /** Prints a usage error (with the usage text) and returns its exit code. */
  readonly usage: (message: string) => number;
}

/**
 * Runs the webhook until SIGTERM or SIGINT, then shuts down gracefully and returns 0. Returns 2
 * at once for an invalid policy set, an unusable certificate or kubeconfig, after printing every
 * problem.
 */
export async function runServe({ options, io, hooks, usage }: RunServeArgs): Promise<number> {
  // Standard output is a pipe in a container: the lines of one event-loop turn go out in one
  // write (log.ts, turnBatched), and whatever is pending when the process exits is written then.
  const destination = hooks.logDestination ?? turnBatched((chunk) => io.stdout.write(chunk), { flushOnExit: true });
  const logger: Logger = createLogger({ level: options.logLevel }, destination);

  let tlsCert = options.tlsCert;
  let tlsKey = options.tlsKey;
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
  const metrics = createMetrics(undefined, { gcMetrics: options.gcMetrics });
  let facts: ClusterFactsProvider | undefined;
  if (!options.noCluster) {
    // Loaded only with cluster access (one after the other: jest's ESM loader fails on parallel imports sharing a module).
    const { createClusterFacts } = await import('../facts/informers.js');
    const { registerFactsMetrics } = await import('../facts/metrics.js');
    let kubeConfig: KubeConfig;
    try {
      kubeConfig = loadKubeConfig(options.kubeconfig, process.env);
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
      io.stderr.write(`tokenguard serve: --usage ${options.usage.join(', ')} is invalid:\n`);
      for (const e of loaded.errors) io.stderr.write(`  ${e}\n`);
      return EXIT_USAGE;
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
    usageStore?.close();
    if (e instanceof StartupError) {
      io.stderr.write(`tokenguard serve: ${e.message}${e.details.length > 0 ? ':' : ''}\n`);
      for (const d of e.details) io.stderr.write(`  ${d}\n`);
      return EXIT_USAGE;
    }
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
  usageStore?.close();
  signals.removeListener('SIGTERM', onTerm);
  signals.removeListener('SIGINT', onInt);
  process.removeListener('unhandledRejection', onUnhandled);
  return EXIT_OK;
}
