/**
 * `tokenguard serve`: the flags, parsed and checked into {@link ServeOptions} before anything
 * runs; src/server/serve.ts composes and runs the server from them.
 */
import { parseArgs } from 'node:util';
import { LOG_LEVELS } from '../../log.js';
import { DEFAULT_SHUTDOWN_DELAY_MS, DEFAULT_SHUTDOWN_TIMEOUT_MS, runServe, type ServeHooks, type ServeOptions, StartupError } from '../../server/serve.js';
import { type CommandSpec, flagsWithHelp } from '../command.js';
import { type CliIo, EXIT_OK, EXIT_USAGE } from '../io.js';

const USAGE = `usage: tokenguard serve [--port 8443] [--host 0.0.0.0] [--tls-cert FILE --tls-key FILE]
                        [--client-ca FILE [--client-subject NAME]...] [--policies PATH]...
                        [--no-cluster | --kubeconfig FILE]
                        [--log-level info] [--shutdown-delay 5s] [--shutdown-timeout 10s]
                        [--gc-metrics] [--api-audience A]... [--allow-empty-policy-files]
                        [--usage FILE]...

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

--usage FILE: a TokenUsage document (tokenguard usage --output facts; a mounted ConfigMap),
what automount.needed.observedWithin reads; it reloads as policies do (docs/usage.md).

Policy files reload when they change, once they have been unchanged for half a second. A set
with an error is not used (the last good one stays). Nor is a file that held policies and now
holds none (empty, or only comments): delete a file to remove its policies, or pass
--allow-empty-policy-files to let an emptied file drop them.

Without --tls-cert/--tls-key, serves certs/tls.crt and certs/tls.key, creating development
certificates there (for localhost, 127.0.0.1 and the tokenguard Service) when they are missing.
`;

/** `tokenguard serve`: its flags. */
export const SERVE_COMMAND: CommandSpec = {
  name: 'serve',
  usage: USAGE,
  positionals: false,
  flags: {
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
    usage: { type: 'string', multiple: true },
  },
  choices: { 'log-level': LOG_LEVELS },
};

/** What the flags say: options to serve with, the help text, or what is wrong with them. */
export type ServeArgs = { readonly ok: true; readonly options: ServeOptions } | { readonly ok: false; readonly help: true } | { readonly ok: false; readonly help?: false; readonly error: string };

/** Parses and checks `tokenguard serve`'s flags. Pure: reads no file, opens no socket. */
export function parseServeArgs(argv: readonly string[]): ServeArgs {
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
    usage?: string[];
    help?: boolean;
  };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      allowPositionals: false,
      options: flagsWithHelp(SERVE_COMMAND),
    }) as { values: typeof values });
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
  if (values.help) return { ok: false, help: true };
  const error = (message: string): ServeArgs => ({ ok: false, error: message });
  const port = Number(values.port);
  if (!/^\d+$/.test(values.port ?? '') || port > 65535) return error(`--port must be a port number (0-65535), got "${values.port}"`);
  const logLevel = values['log-level'] ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) return error(`--log-level must be one of ${LOG_LEVELS.join(', ')}`);
  const shutdownDelayMs = parseDuration(values['shutdown-delay'] ?? '');
  if (shutdownDelayMs === undefined) return error(`--shutdown-delay must be a duration such as 5s or 500ms, got "${values['shutdown-delay']}"`);
  const shutdownTimeoutMs = parseDuration(values['shutdown-timeout'] ?? '');
  if (shutdownTimeoutMs === undefined) return error(`--shutdown-timeout must be a duration such as 10s, got "${values['shutdown-timeout']}"`);
  if ((values['tls-cert'] === undefined) !== (values['tls-key'] === undefined)) return error('--tls-cert and --tls-key go together');
  if (values['no-cluster'] && values.kubeconfig) return error('--no-cluster and --kubeconfig exclude each other');
  if (values['client-subject'] && !values['client-ca']) return error('--client-subject needs --client-ca');
  if (values['api-audience']?.some((a) => a.trim() === '')) return error('--api-audience must not be empty');
  return {
    ok: true,
    options: {
      port,
      host: values.host ?? '0.0.0.0',
      ...(values['tls-cert'] !== undefined ? { tlsCert: values['tls-cert'] } : {}),
      ...(values['tls-key'] !== undefined ? { tlsKey: values['tls-key'] } : {}),
      ...(values['client-ca'] !== undefined ? { clientCa: values['client-ca'] } : {}),
      ...(values['client-subject'] !== undefined ? { clientSubjects: values['client-subject'] } : {}),
      policies: values.policies ?? ['policies'],
      allowEmptyPolicyFiles: values['allow-empty-policy-files'] === true,
      noCluster: values['no-cluster'] === true,
      ...(values.kubeconfig !== undefined ? { kubeconfig: values.kubeconfig } : {}),
      logLevel,
      shutdownDelayMs,
      shutdownTimeoutMs,
      gcMetrics: values['gc-metrics'] === true,
      ...(values['api-audience'] !== undefined ? { apiAudiences: values['api-audience'] } : {}),
      ...(values.usage !== undefined ? { usage: values.usage } : {}),
    },
  };
}

/**
 * `tokenguard serve`: runs the HTTPS admission webhook until SIGTERM or SIGINT, then shuts down
 * gracefully and returns 0. Returns 2 at once for bad arguments, an invalid policy set or an
 * unusable certificate, after printing every problem.
 */
export async function runServeCommand(argv: readonly string[], io: CliIo, hooks: ServeHooks = {}): Promise<number> {
  const usage = (message: string) => {
    io.stderr.write(`${message}\n${USAGE}`);
    return EXIT_USAGE;
  };
  const args = parseServeArgs(argv);
  if (!args.ok && args.help) {
    io.stdout.write(USAGE);
    return EXIT_OK;
  }
  if (!args.ok) return usage(args.error);
  try {
    await runServe(args.options, io.stdout, hooks);
    return EXIT_OK;
  } catch (e) {
    if (!(e instanceof StartupError)) throw e;
    if (e.usage) return usage(`tokenguard serve: ${e.message}`);
    io.stderr.write(`tokenguard serve: ${e.message}${e.details.length > 0 ? ':' : ''}\n`);
    for (const d of e.details) io.stderr.write(`  ${d}\n`);
    return EXIT_USAGE;
  }
}

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
