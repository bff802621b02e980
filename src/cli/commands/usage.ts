/**
 * `tokenguard usage`: the command's edge (arguments, files, the clock, the cluster, output).
 * Reading the log is src/usage/read.ts; counting, facts and recommendations are pure (src/usage).
 */
import { isAbsolute, relative, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { stringify } from 'yaml';
import { type CommandSpec, parseCommand } from '../command.js';
import { type CliIo, EXIT_USAGE, packageVersion, readFactFiles } from '../io.js';
import { parseDuration } from '../../duration.js';
import type { JsonObject } from '../../json.js';
import { staticFacts } from '../../facts/static.js';
import { toTokenUsageDocument } from '../../usage/facts.js';
import { formatUsageJson, formatUsageText, type UsageReport } from '../../usage/format.js';
import { AuditLogError, aggregateAuditLogs, expandPaths } from '../../usage/read.js';
import { type Inventory, recommend } from '../../usage/recommend.js';

const USAGE = `usage: tokenguard usage --audit-log PATH... [--since DURATION] [--output text|json|facts]
                        [--facts FILE]... [--kubeconfig FILE] [--name NAME]

Reads the API server's audit log (audit.k8s.io/v1 Event lines; plain or gzip; files, folders of
rotated logs, - for standard input; the exports of EKS, GKE and AKS too) and reports, for every
ServiceAccount, who used its tokens: requests, pods, resources, legacy Secret tokens, TokenReviews.

--since DURATION   only events of the last DURATION (30d, 12h, 1h30m; units s m h d w)
--output facts     the TokenUsage document that serve --usage and test --facts read
--facts FILE       ServiceAccounts and (Cluster)RoleBindings (kubectl get sa,rolebindings,
                   clusterrolebindings -A -o yaml), to compare what is bound with what is used
--kubeconfig FILE  read them from the cluster instead (read-only lists)
--name NAME        metadata.name of the TokenUsage document (default token-usage)

Lines that are not audit events are counted and named by line, never fatal. Exit 0: read;
2: bad arguments or an input that cannot be opened. docs/usage.md has the audit policy to use.
`;

const FORMATS = ['text', 'json', 'facts'] as const;
type Format = (typeof FORMATS)[number];

/** `tokenguard usage`: its flags. */
export const USAGE_COMMAND: CommandSpec = {
  name: 'usage',
  usage: USAGE,
  flags: {
    'audit-log': { type: 'string', multiple: true },
    since: { type: 'string' },
    output: { type: 'string', short: 'o', default: 'text' },
    facts: { type: 'string', multiple: true },
    kubeconfig: { type: 'string' },
    name: { type: 'string', default: 'token-usage' },
  },
  choices: { output: FORMATS },
};

/** Lines not read that the JSON output lists by number (all are counted). */
export const LISTED_PROBLEMS = 1000;

export interface UsageCommandOptions {
  /** The clock, read once for `--since` (default `Date.now`). */
  readonly now?: () => number;
  readonly cwd?: string;
  readonly stdin?: Readable;
  readonly version?: string;
  /** Lists ServiceAccounts and bindings for `--kubeconfig` (default: the cluster's API). */
  readonly listCluster?: (kubeconfig: string) => Promise<JsonObject[]>;
}

/** `tokenguard usage`: the one place of this command that touches files, the clock and the network. */
export async function runUsageCommand(
  argv: readonly string[],
  io: CliIo,
  options: UsageCommandOptions = {},
): Promise<number> {
  const cwd = options.cwd ?? process.cwd();
  const parsed = parseCommand(USAGE_COMMAND, argv, io);
  if (typeof parsed === 'number') return parsed;
  const values = parsed.values as {
    'audit-log'?: string[];
    since?: string;
    output?: string;
    facts?: string[];
    kubeconfig?: string;
    name?: string;
  };
  const positionals = parsed.positionals;
  const format = values.output as Format;
  if (!FORMATS.includes(format)) {
    io.stderr.write(`--output must be one of ${FORMATS.join(', ')}\n${USAGE}`);
    return EXIT_USAGE;
  }
  // `--audit-log a b c`: what a shell glob after the flag expands to.
  const logs = [...(values['audit-log'] ?? []), ...positionals];
  if (logs.length === 0) {
    io.stderr.write(`no audit log given (--audit-log PATH)\n${USAGE}`);
    return EXIT_USAGE;
  }
  const now = (options.now ?? Date.now)();
  let since: number | undefined;
  if (values.since !== undefined) {
    const d = parseDuration(values.since);
    if (typeof d !== 'number') {
      io.stderr.write(`--since: ${d.error}\n`);
      return EXIT_USAGE;
    }
    since = now - d * 1000;
  }

  const inventory = await readInventory(values, io, cwd, options);
  if (inventory === null) return EXIT_USAGE;

  const files = expandPaths(logs, cwd);
  if (files.length === 0) {
    io.stderr.write(`no files found in ${logs.join(', ')}\n`);
    return EXIT_USAGE;
  }
  const shown = (f: string) => display(f, cwd);
  let logged: Awaited<ReturnType<typeof aggregateAuditLogs>>;
  try {
    logged = await aggregateAuditLogs(files, {
      ...(since !== undefined ? { usage: { since } } : {}),
      listedProblems: LISTED_PROBLEMS,
      display: shown,
      ...(options.stdin ? { stdin: options.stdin } : {}),
    });
  } catch (e) {
    if (e instanceof AuditLogError) {
      io.stderr.write(`tokenguard usage: ${e.message}\n`);
      return EXIT_USAGE;
    }
    throw e;
  }
  const { summary, read, problems, problemCount, problemReasons } = logged;
  const report: UsageReport = {
    summary,
    recommendations: recommend(summary, inventory),
    read,
    problems,
    problemCount,
    problemReasons,
  };
  if (problemCount > 0 && format !== 'text')
    io.stderr.write(
      `tokenguard usage: ${problemCount} line(s) held no readable audit event; the first: ${problems[0]?.file}:${problems[0]?.line}: ${problems[0]?.reason}\n`,
    );
  if (format === 'facts') io.stdout.write(stringify(toTokenUsageDocument(summary, values.name), { lineWidth: 0 }));
  else if (format === 'json') io.stdout.write(formatUsageJson(report, options.version ?? packageVersion()));
  else io.stdout.write(formatUsageText(report));
  return 0;
}

/** The inventory of `--facts` and `--kubeconfig`; undefined without either, null after an error (reported). */
async function readInventory(
  values: { facts?: string[]; kubeconfig?: string },
  io: CliIo,
  cwd: string,
  options: UsageCommandOptions,
): Promise<Inventory | undefined | null> {
  if (!values.facts && values.kubeconfig === undefined) return undefined;
  const objects: JsonObject[] = [];
  if (values.facts) {
    const read = readFactFiles(values.facts, io, cwd, (f) => display(resolve(cwd, f), cwd));
    if (!read) return null;
    objects.push(...read);
  }
  if (values.kubeconfig !== undefined) {
    try {
      const list = options.listCluster ?? defaultListCluster;
      objects.push(...(await list(resolve(cwd, values.kubeconfig))));
    } catch (e) {
      io.stderr.write(
        `--kubeconfig ${values.kubeconfig}: cannot list ServiceAccounts and bindings: ${(e as Error).message}\n`,
      );
      return null;
    }
  }
  const facts = staticFacts(objects, { bindingsComplete: true });
  return {
    serviceAccounts: [...facts.serviceAccounts.values()].map((s) => ({ namespace: s.namespace, name: s.name })),
    boundBy: (namespace, name) => {
      const sa = facts.lookup({ namespace, serviceAccount: name });
      return ('then' in sa ? undefined : sa.serviceAccount?.boundBy) ?? [];
    },
  };
}

async function defaultListCluster(kubeconfig: string): Promise<JsonObject[]> {
  const { loadKubeConfig } = await import('../../kube/config.js');
  const { listClusterObjects } = await import('../../facts/informers.js');
  return listClusterObjects(loadKubeConfig(kubeconfig, process.env));
}

function display(file: string, cwd: string): string {
  const rel = relative(cwd, file);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file;
}
