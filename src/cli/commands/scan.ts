import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { KubeClient } from '../../kube/client.js';
import { type KubeConfig, loadKubeConfig } from '../../kube/config.js';
import { loadPolicies } from '../../policy/load.js';
import { analyze } from '../../scan/analyze.js';
import { applyReports } from '../../scan/apply.js';
import { auditEvidence } from '../../scan/audit.js';
import { collect, type Progress, ScanError } from '../../scan/collect.js';
import { DEFAULT_CLEAN_UP_PERIOD_DAYS, DEFAULT_MIN_UNUSED_DAYS, DEFAULT_PAGE_SIZE } from '../../scan/constants.js';
import { formatPolicyReports, policyReports } from '../../scan/format-policyreport.js';
import { formatScanText } from '../../scan/format-text.js';
import { PLAN_FOLDERS, PLAN_MARKER, planFiles } from '../../scan/plan-files.js';
import type { ScanReport } from '../../scan/report.js';
import { type CommandSpec, parseCommand } from '../command.js';
import { type AggregatedLogs, AuditLogError, aggregateAuditLogs, expandPaths } from '../../usage/read.js';
import { type CliIo, EXIT_DENIED, EXIT_OK, EXIT_USAGE } from '../io.js';

const USAGE = `usage: tokenguard scan [--kubeconfig FILE] [--context NAME] [--namespace NS] [--policies PATH]...
                       [--output text|json|policyreport] [--fail-on fail|warn|never]
                       [--plan DIR] [--apply] [--clean-up-period 365d] [--min-unused-days 30]
                       [--api-audience A]... [--page-size 500] [--request-timeout 30s]
                       [--audit-log PATH...]

Reads the cluster (list requests only; Secrets as metadata only, never their data) and reports:
legacy token Secrets (who uses them, when they were last used, what the API server's cleaner
will do and when), ServiceAccounts whose .secrets name them, and every running pod judged by the
policies as if it were created now, grouped by workload. Credentials are found as for serve:
--kubeconfig, else KUBECONFIG, else ~/.kube/config, else in-cluster. RBAC: deploy/scan.

--plan DIR     writes the migration: each workload using a legacy token with a projected token
               in its place (patched manifests, JSON Patches, kustomize patches) and the
               kubectl delete lines for the Secrets nothing uses (docs/scan.md).
--apply        also writes the PolicyReports to the cluster (needs the wgpolicyk8s.io CRDs).
--fail-on      exit 1 when a result is fail (default), fail or warn, or never.
--clean-up-period  kube-controller-manager's --legacy-service-account-token-clean-up-period
               (default 365d; 8760h and 8760h0m0s are read too).
--min-unused-days  a Secret nothing uses but used less than this many days ago is not called
               safe to delete (default 30).
--audit-log PATH   the API server's audit log (files, folders of rotated logs, gzip, - for
               standard input; as tokenguard usage reads it): marks each legacy token Secret
               used (when, how often, from which addresses and clients) or unused, beside its
               last-used label. "Unused" only from a log covering --min-unused-days.

Exit 0: nothing at or above --fail-on; 1: findings; 2: bad arguments, invalid policy, no
credentials, an unreachable cluster or a forbidden list.
`;

const FORMATS = ['text', 'json', 'policyreport'] as const;
type Format = (typeof FORMATS)[number];
const FAIL_ON = ['fail', 'warn', 'never'] as const;
type FailOn = (typeof FAIL_ON)[number];

/** `tokenguard scan`: its flags. */
export const SCAN_COMMAND: CommandSpec = {
  name: 'scan',
  usage: USAGE,
  flags: {
    kubeconfig: { type: 'string' },
    context: { type: 'string' },
    namespace: { type: 'string', short: 'n' },
    policies: { type: 'string', multiple: true },
    output: { type: 'string', short: 'o', default: 'text' },
    'fail-on': { type: 'string', default: 'fail' },
    plan: { type: 'string' },
    apply: { type: 'boolean', default: false },
    'clean-up-period': { type: 'string', default: `${DEFAULT_CLEAN_UP_PERIOD_DAYS}d` },
    'min-unused-days': { type: 'string', default: String(DEFAULT_MIN_UNUSED_DAYS) },
    'api-audience': { type: 'string', multiple: true },
    'page-size': { type: 'string', default: String(DEFAULT_PAGE_SIZE) },
    'request-timeout': { type: 'string', default: '30s' },
    'audit-log': { type: 'string', multiple: true },
  },
  choices: { output: FORMATS, 'fail-on': FAIL_ON },
};

export interface ScanCommandOptions {
  /** Environment (default `process.env`): KUBECONFIG, HOME, proxies. */
  readonly env?: NodeJS.ProcessEnv;
  /** Working directory (default `process.cwd()`). */
  readonly cwd?: string;
  /** Wall clock in milliseconds (default `Date.now`). */
  readonly now?: () => number;
  /** Standard input, for `--audit-log -` (default `process.stdin`). */
  readonly stdin?: Readable;
}

/** `tokenguard scan` (see USAGE). */
export async function runScanCommand(
  argv: readonly string[],
  io: CliIo,
  options: ScanCommandOptions = {},
): Promise<number> {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const parsed = parseCommand(SCAN_COMMAND, argv, io);
  if (typeof parsed === 'number') return parsed;
  const values = parsed.values as {
    kubeconfig?: string;
    context?: string;
    namespace?: string;
    policies?: string[];
    output?: string;
    'fail-on'?: string;
    plan?: string;
    apply?: boolean;
    'clean-up-period'?: string;
    'min-unused-days'?: string;
    'api-audience'?: string[];
    'page-size'?: string;
    'request-timeout'?: string;
    'audit-log'?: string[];
  };
  const positionals = parsed.positionals;
  const usage = (message: string) => {
    io.stderr.write(`tokenguard scan: ${message}\n${USAGE}`);
    return EXIT_USAGE;
  };
  const format = values.output as Format;
  if (!FORMATS.includes(format)) return usage(`--output must be one of ${FORMATS.join(', ')}`);
  const failOn = values['fail-on'] as FailOn;
  if (!FAIL_ON.includes(failOn)) return usage(`--fail-on must be one of ${FAIL_ON.join(', ')}`);
  const periodDays = parsePeriodDays(values['clean-up-period'] ?? '');
  if (periodDays === undefined)
    return usage(
      `--clean-up-period must be a positive duration such as 365d or 8760h, got "${values['clean-up-period']}"`,
    );
  const minUnusedDays = Number(values['min-unused-days']);
  if (!/^\d+$/.test(values['min-unused-days'] ?? ''))
    return usage(`--min-unused-days must be a whole number of days, got "${values['min-unused-days']}"`);
  const pageSize = Number(values['page-size']);
  if (!/^\d+$/.test(values['page-size'] ?? '') || pageSize < 1 || pageSize > 10_000)
    return usage(`--page-size must be between 1 and 10000, got "${values['page-size']}"`);
  const timeoutMs = parseSeconds(values['request-timeout'] ?? '');
  if (timeoutMs === undefined)
    return usage(`--request-timeout must be a duration such as 30s or 2m, got "${values['request-timeout']}"`);
  if (values['api-audience']?.some((a) => a.trim() === '')) return usage('--api-audience must not be empty');
  // `--audit-log a b c`: what a shell glob after the flag expands to.
  if (positionals.length > 0 && !values['audit-log']) return usage(`unexpected argument "${positionals[0]}"`);
  const auditLogs = values['audit-log'] ? [...values['audit-log'], ...positionals] : undefined;
  if (values.namespace !== undefined && !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(values.namespace))
    return usage(`--namespace must be a namespace name, got "${values.namespace}"`);

  const policyPaths = values.policies ?? ['policies'];
  const loaded = loadPolicies(policyPaths.map((p) => resolve(cwd, p)));
  if (loaded.errors.length > 0) {
    for (const e of loaded.errors)
      io.stderr.write(
        `${shownPath(e.file, cwd)}${e.line !== undefined ? `:${e.line}` : ''}: ${e.path ? `${e.path}: ` : ''}${e.message}${e.document > 0 ? ` (document ${e.document})` : ''}\n`,
      );
    io.stderr.write(`tokenguard scan: ${loaded.errors.length} policy error(s); nothing was scanned\n`);
    return EXIT_USAGE;
  }

  const planDir = values.plan !== undefined ? resolve(cwd, values.plan) : undefined;
  if (planDir) {
    const problem = planDirProblem(planDir);
    if (problem) return usage(`--plan ${values.plan}: ${problem}`);
  }

  // The audit log first: an input that cannot be read fails before the cluster is asked anything.
  let logged: AggregatedLogs | undefined;
  if (auditLogs) {
    const files = expandPaths(auditLogs, cwd);
    if (files.length === 0) return usage(`--audit-log: no files found in ${auditLogs.join(', ')}`);
    try {
      logged = await aggregateAuditLogs(files, {
        display: (f) => shownPath(f, cwd),
        ...(options.stdin ? { stdin: options.stdin } : {}),
      });
    } catch (e) {
      if (!(e instanceof AuditLogError)) throw e;
      io.stderr.write(`tokenguard scan: --audit-log: ${e.message}\n`);
      return EXIT_USAGE;
    }
    const first = logged.problems[0];
    if (first)
      io.stderr.write(
        `tokenguard scan: --audit-log: ${logged.problemCount} line(s) held no readable audit event; the first: ${first.file}:${first.line}: ${first.reason} (tokenguard usage lists them)\n`,
      );
  }

  let kubeConfig: KubeConfig;
  try {
    kubeConfig = loadKubeConfig(
      values.kubeconfig,
      env,
      values.context !== undefined ? { context: values.context } : {},
    );
  } catch (e) {
    io.stderr.write(`tokenguard scan: ${(e as Error).message}\n`);
    return EXIT_USAGE;
  }
  for (const w of kubeConfig.warnings ?? []) io.stderr.write(`tokenguard scan: ${w}\n`);
  const client = new KubeClient(kubeConfig, { env });
  const progress = progressLine(io);
  const now = (options.now ?? Date.now)();
  const apiAudiences = values['api-audience'];
  let report: ScanReport;
  let written = 0;
  try {
    const collected = await collect({
      client,
      ...(values.namespace ? { namespace: values.namespace } : {}),
      pageSize,
      requestTimeoutMs: timeoutMs,
      policies: loaded.policies,
      ...(apiAudiences ? { apiAudiences } : {}),
      ...(progress ? { onProgress: progress.update } : {}),
    });
    progress?.done();
    const notes = [...collected.notes];
    const minor = /^v?1\.(\d+)\./.exec(collected.version ?? '');
    if (minor && Number(minor[1]) < 29)
      notes.push(
        `Kubernetes ${collected.version}: the legacy-token cleaner is off by default before 1.29, so the dates it would act on may never come`,
      );
    const analysis = analyze({
      now,
      server: new URL(kubeConfig.server).host,
      version: collected.version,
      namespace: values.namespace,
      policies: loaded.policies,
      policyFile: (p) => shownPath(p.source.file, cwd),
      periodDays,
      minUnusedDays,
      tracking:
        minor && Number(minor[1]) < 29 && collected.tracking.state === 'since'
          ? {
              state: 'off',
              reason: `the cleaner is off by default before Kubernetes 1.29 (tracking since ${collected.tracking.since})`,
            }
          : collected.tracking,
      secrets: collected.secrets,
      facts: collected.facts,
      workloads: collected.table.entries(),
      namespaces: collected.namespaces,
      notes,
      ...(apiAudiences ? { apiAudiences } : {}),
      ...(logged
        ? {
            audit: {
              evidence: auditEvidence(logged.summary, collected.secrets, now, minUnusedDays),
              files: logged.read.files,
              events: logged.summary.events,
              linesNotRead: logged.problemCount,
            },
          }
        : {}),
    });
    report = analysis.report;
    if (planDir) {
      const files = planFiles({ report, plans: analysis.plans, facts: collected.facts, policyArgs: policyPaths });
      writePlan(planDir, files);
      io.stderr.write(
        `tokenguard scan: wrote the plan to ${values.plan} (${analysis.plans.filter((p) => p.patched).length} workload(s) patched, ${files.size} file(s))\n`,
      );
    }
    if (values.apply) {
      written = await applyReports(policyReports(report), { client, requestTimeoutMs: timeoutMs });
      io.stderr.write(`tokenguard scan: applied ${written} report(s) (wgpolicyk8s.io/v1alpha2)\n`);
    }
  } catch (e) {
    progress?.done();
    if (e instanceof ScanError) {
      io.stderr.write(`tokenguard scan: ${e.message}\n`);
      return EXIT_USAGE;
    }
    if (e instanceof PlanWriteError) {
      io.stderr.write(`tokenguard scan: --plan ${values.plan}: ${e.message}\n`);
      return EXIT_USAGE;
    }
    throw e;
  } finally {
    client.close();
  }

  io.stdout.write(
    format === 'json'
      ? `${JSON.stringify(report, null, 2)}\n`
      : format === 'policyreport'
        ? formatPolicyReports(report)
        : formatScanText(report, { failOn }),
  );
  const r = report.summary.results;
  if (r.error > 0) return EXIT_USAGE;
  if (failOn === 'never') return EXIT_OK;
  return r.fail > 0 || (failOn === 'warn' && r.warn > 0) ? EXIT_DENIED : EXIT_OK;
}

/** `365d`, `8760h`, Go's `8760h0m0s`: a positive period in days (fractions allowed). */
export function parsePeriodDays(text: string): number | undefined {
  const t = text.trim();
  const days = /^(\d+)d$/.exec(t);
  if (days) return Number(days[1]) > 0 ? Number(days[1]) : undefined;
  const go = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(t);
  if (!go || t === '') return undefined;
  const seconds = Number(go[1] ?? 0) * 3600 + Number(go[2] ?? 0) * 60 + Number(go[3] ?? 0);
  return seconds > 0 ? seconds / 86_400 : undefined;
}

function parseSeconds(text: string): number | undefined {
  const m = /^(\d+)(s|m)?$/.exec(text.trim());
  if (!m) return undefined;
  const ms = Number(m[1]) * (m[2] === 'm' ? 60_000 : 1000);
  return ms > 0 ? ms : undefined;
}

function shownPath(file: string, cwd: string): string {
  const rel = relative(cwd, resolve(cwd, file));
  return (rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file).split(sep).join('/');
}

class PlanWriteError extends Error {}

/** Why DIR cannot take a plan: it must be missing, empty, or an earlier plan (its marker file). */
function planDirProblem(dir: string): string | undefined {
  if (!existsSync(dir)) return undefined;
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch (e) {
    return `cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
  }
  if (entries.length === 0 || entries.includes(PLAN_MARKER)) return undefined;
  return `it holds files that are not an earlier plan; give an empty or new folder`;
}

/** Writes the plan; an earlier plan's workload folders are replaced whole. */
function writePlan(dir: string, files: ReadonlyMap<string, string>): void {
  try {
    for (const f of PLAN_FOLDERS) rmSync(join(dir, f), { recursive: true, force: true });
    for (const [path, content] of files) {
      const target = join(dir, path);
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, content, path.endsWith('.sh') ? { mode: 0o755 } : {});
    }
  } catch (e) {
    throw new PlanWriteError(`cannot write: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** One line on standard error, rewritten per page, on a terminal only. */
function progressLine(io: CliIo): { update: (p: Progress) => void; done: () => void } | undefined {
  if ((io.stderr as { isTTY?: boolean }).isTTY !== true) return undefined;
  let shown = false;
  return {
    update: (p) => {
      shown = true;
      const rate = p.elapsedMs > 0 ? Math.round((p.total * 1000) / p.elapsedMs) : 0;
      io.stderr.write(
        `\r\u001b[Kscan: ${p.resource} page ${p.pages} (${p.objects.toLocaleString('en-US')}), ${p.total.toLocaleString('en-US')} objects, ${rate.toLocaleString('en-US')}/s`,
      );
    },
    done: () => {
      if (shown) io.stderr.write('\r\u001b[K');
      shown = false;
    },
  };
}
