/**
 * `tokenguard serve`: the flags, parsed and checked into {@link ServeOptions} before anything
 * runs; src/server/serve.ts composes and runs the server from them.
 */
import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import { checkRotationConfig, type RotationConfig } from '../../certs/controller.js';
import { LOG_LEVELS } from '../../log.js';
import {
  DEFAULT_SHUTDOWN_DELAY_MS,
  DEFAULT_SHUTDOWN_TIMEOUT_MS,
  type ManageCertificatesOptions,
  runServe,
  type ServeHooks,
  type ServeOptions,
  StartupError,
} from '../../server/serve.js';
import { type CommandSpec, flagsWithHelp } from '../command.js';
import { type CliIo, EXIT_OK, EXIT_USAGE } from '../io.js';

const USAGE = `usage: tokenguard serve [--port 8443] [--host 0.0.0.0] [--tls-cert FILE --tls-key FILE]
                        [--client-ca FILE [--client-subject NAME]...] [--policies PATH]...
                        [--no-cluster | --kubeconfig FILE]
                        [--log-level info] [--shutdown-delay 5s] [--shutdown-timeout 10s]
                        [--gc-metrics] [--api-audience A]... [--allow-empty-policy-files]
                        [--manage-certificates [--certificate-secret tokenguard-certificates]
                         [--certificate-namespace $POD_NAMESPACE] [--certificate-service tokenguard]
                         [--certificate-dns-name NAME]... [--certificate-ip IP]...
                         [--validating-webhook-configuration tokenguard]
                         [--mutating-webhook-configuration tokenguard]
                         [--leader-election-lease tokenguard-certificates]
                         [--ca-validity 365d] [--ca-renew-before 30d] [--certificate-validity 90d]
                         [--certificate-renew-before 30d] [--ca-propagation 1m]
                         [--certificate-poll-interval 10s] [--certificate-dir DIR]]
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

--manage-certificates: the certificate controller (docs/certificates.md). The replica holding the
Lease keeps a CA and a serving certificate for the Service's DNS names in the Secret, renews the
certificate before it expires, rotates the CA with an overlap (the new CA goes into the caBundle of
the two named webhook configurations first, and is used only --ca-propagation later), and removes
expired CAs from the bundle. It patches those configurations, never creates them; an empty name
leaves that kind alone. Every replica serves the certificate the Secret holds, reloaded without
dropping connections. Annotate the Secret tokenguard.dev/renew=certificate (or =ca) to renew now.
Excludes --tls-cert/--tls-key and --no-cluster. Durations: 500ms, 10s, 5m, 12h, 90d.

Without --tls-cert/--tls-key, serves certs/tls.crt and certs/tls.key, creating development
certificates there (for localhost, 127.0.0.1 and the tokenguard Service) when they are missing.
`;

/**
 * The defaults of the certificate controller's flags; docs/decisions.md says why these
 * durations ("Certificates that renew themselves").
 */
export const CERTIFICATE_DEFAULTS = {
  secret: 'tokenguard-certificates',
  service: 'tokenguard',
  webhookConfiguration: 'tokenguard',
  lease: 'tokenguard-certificates',
  caValidity: '365d',
  caRenewBefore: '30d',
  certValidity: '90d',
  certRenewBefore: '30d',
  propagation: '1m',
  pollInterval: '10s',
} as const;

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
    'manage-certificates': { type: 'boolean', default: false },
    'certificate-secret': { type: 'string', default: CERTIFICATE_DEFAULTS.secret },
    'certificate-namespace': { type: 'string' },
    'certificate-service': { type: 'string', default: CERTIFICATE_DEFAULTS.service },
    'certificate-dns-name': { type: 'string', multiple: true },
    'certificate-ip': { type: 'string', multiple: true },
    'validating-webhook-configuration': { type: 'string', default: CERTIFICATE_DEFAULTS.webhookConfiguration },
    'mutating-webhook-configuration': { type: 'string', default: CERTIFICATE_DEFAULTS.webhookConfiguration },
    'leader-election-lease': { type: 'string', default: CERTIFICATE_DEFAULTS.lease },
    'ca-validity': { type: 'string', default: CERTIFICATE_DEFAULTS.caValidity },
    'ca-renew-before': { type: 'string', default: CERTIFICATE_DEFAULTS.caRenewBefore },
    'certificate-validity': { type: 'string', default: CERTIFICATE_DEFAULTS.certValidity },
    'certificate-renew-before': { type: 'string', default: CERTIFICATE_DEFAULTS.certRenewBefore },
    'ca-propagation': { type: 'string', default: CERTIFICATE_DEFAULTS.propagation },
    'certificate-poll-interval': { type: 'string', default: CERTIFICATE_DEFAULTS.pollInterval },
    'certificate-dir': { type: 'string' },
    usage: { type: 'string', multiple: true },
  },
  choices: { 'log-level': LOG_LEVELS },
};

/** What the flags say: options to serve with, the help text, or what is wrong with them. */
export type ServeArgs =
  | { readonly ok: true; readonly options: ServeOptions }
  | { readonly ok: false; readonly help: true }
  | { readonly ok: false; readonly help?: false; readonly error: string };

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
    'manage-certificates'?: boolean;
    'certificate-secret'?: string;
    'certificate-namespace'?: string;
    'certificate-service'?: string;
    'certificate-dns-name'?: string[];
    'certificate-ip'?: string[];
    'validating-webhook-configuration'?: string;
    'mutating-webhook-configuration'?: string;
    'leader-election-lease'?: string;
    'ca-validity'?: string;
    'ca-renew-before'?: string;
    'certificate-validity'?: string;
    'certificate-renew-before'?: string;
    'ca-propagation'?: string;
    'certificate-poll-interval'?: string;
    'certificate-dir'?: string;
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
  if (!/^\d+$/.test(values.port ?? '') || port > 65535)
    return error(`--port must be a port number (0-65535), got "${values.port}"`);
  const logLevel = values['log-level'] ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) return error(`--log-level must be one of ${LOG_LEVELS.join(', ')}`);
  const shutdownDelayMs = parseDuration(values['shutdown-delay'] ?? '');
  if (shutdownDelayMs === undefined)
    return error(`--shutdown-delay must be a duration such as 5s or 500ms, got "${values['shutdown-delay']}"`);
  const shutdownTimeoutMs = parseDuration(values['shutdown-timeout'] ?? '');
  if (shutdownTimeoutMs === undefined)
    return error(`--shutdown-timeout must be a duration such as 10s, got "${values['shutdown-timeout']}"`);
  if ((values['tls-cert'] === undefined) !== (values['tls-key'] === undefined))
    return error('--tls-cert and --tls-key go together');
  if (values['no-cluster'] && values.kubeconfig) return error('--no-cluster and --kubeconfig exclude each other');
  if (values['client-subject'] && !values['client-ca']) return error('--client-subject needs --client-ca');
  if (values['api-audience']?.some((a) => a.trim() === '')) return error('--api-audience must not be empty');
  let manageCertificates: ManageCertificatesOptions | undefined;
  if (values['manage-certificates']) {
    const managed = parseManageCertificates(values);
    if (typeof managed === 'string') return error(managed);
    if (values['tls-cert'] !== undefined)
      return error('--manage-certificates and --tls-cert/--tls-key exclude each other');
    if (values['no-cluster']) return error('--manage-certificates and --no-cluster exclude each other');
    manageCertificates = managed;
  } else {
    const given = Object.keys(values).filter(
      (k) => CERTIFICATE_FLAGS.includes(k) && argv.some((a) => a === `--${k}` || a.startsWith(`--${k}=`)),
    );
    if (given.length > 0) return error(`--${given[0]} needs --manage-certificates`);
  }
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
      ...(manageCertificates !== undefined ? { manageCertificates } : {}),
      ...(values.usage !== undefined ? { usage: values.usage } : {}),
    },
  };
}

const CERTIFICATE_FLAGS = [
  'certificate-secret',
  'certificate-namespace',
  'certificate-service',
  'certificate-dns-name',
  'certificate-ip',
  'validating-webhook-configuration',
  'mutating-webhook-configuration',
  'leader-election-lease',
  'ca-validity',
  'ca-renew-before',
  'certificate-validity',
  'certificate-renew-before',
  'ca-propagation',
  'certificate-poll-interval',
  'certificate-dir',
];

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** The `--manage-certificates` flags, checked; a string says what is wrong. */
function parseManageCertificates(
  values: Record<string, string | string[] | boolean | undefined>,
): ManageCertificatesOptions | string {
  const text = (k: string) => values[k] as string | undefined;
  const durations: Record<keyof RotationConfig, string> = {
    caValidityMs: '--ca-validity',
    caRenewBeforeMs: '--ca-renew-before',
    certValidityMs: '--certificate-validity',
    certRenewBeforeMs: '--certificate-renew-before',
    propagationMs: '--ca-propagation',
  };
  const rotation: Partial<Record<keyof RotationConfig, number>> = {};
  for (const [k, flag] of Object.entries(durations) as [keyof RotationConfig, string][]) {
    const ms = parseDuration(text(flag.slice(2)) ?? '');
    if (ms === undefined) return `${flag} must be a duration such as 90d, 12h or 30s, got "${text(flag.slice(2))}"`;
    rotation[k] = ms;
  }
  const problems = checkRotationConfig(rotation as RotationConfig, durations);
  if (problems.length > 0) return problems[0] as string;
  const pollIntervalMs = parseDuration(text('certificate-poll-interval') ?? '');
  if (pollIntervalMs === undefined || pollIntervalMs < 100)
    return `--certificate-poll-interval must be a duration of at least 100ms, got "${text('certificate-poll-interval')}"`;
  for (const flag of ['certificate-secret', 'leader-election-lease']) {
    const v = text(flag) ?? '';
    if (!DNS1123_SUBDOMAIN.test(v) || v.length > 253) return `--${flag} must be a Kubernetes object name, got "${v}"`;
  }
  for (const flag of ['validating-webhook-configuration', 'mutating-webhook-configuration']) {
    const v = text(flag) ?? '';
    if (v !== '' && (!DNS1123_SUBDOMAIN.test(v) || v.length > 253))
      return `--${flag} must be a Kubernetes object name (or empty for none), got "${v}"`;
  }
  const ns = text('certificate-namespace');
  if (ns !== undefined && !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(ns))
    return `--certificate-namespace must be a namespace name, got "${ns}"`;
  const service = text('certificate-service') ?? '';
  if (!/^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/.test(service))
    return `--certificate-service must be a Service name, got "${service}"`;
  const ips = (values['certificate-ip'] as string[] | undefined) ?? [];
  const badIp = ips.find((ip) => isIP(ip) === 0);
  if (badIp !== undefined) return `--certificate-ip must be an IPv4 or IPv6 address, got "${badIp}"`;
  const dnsNames = (values['certificate-dns-name'] as string[] | undefined) ?? [];
  const badName = dnsNames.find((n) => !DNS1123_SUBDOMAIN.test(n.toLowerCase()));
  if (badName !== undefined) return `--certificate-dns-name must be a DNS name, got "${badName}"`;
  const dir = text('certificate-dir');
  return {
    ...(ns !== undefined ? { namespace: ns } : {}),
    secretName: text('certificate-secret') ?? CERTIFICATE_DEFAULTS.secret,
    leaseName: text('leader-election-lease') ?? CERTIFICATE_DEFAULTS.lease,
    service,
    dnsNames,
    ipAddresses: ips,
    validatingWebhookConfiguration: text('validating-webhook-configuration') ?? '',
    mutatingWebhookConfiguration: text('mutating-webhook-configuration') ?? '',
    rotation: rotation as RotationConfig,
    pollIntervalMs,
    ...(dir !== undefined ? { dir } : {}),
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
 * Parses `500ms`, `5s`, `1m`, `12h`, `90d` or a bare number of seconds into milliseconds;
 * undefined when invalid or negative.
 */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  const ms = n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[unit as 'ms' | 's' | 'm' | 'h' | 'd'];
  return Number.isFinite(ms) ? Math.round(ms) : undefined;
}
