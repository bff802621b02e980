import {
  accessSync,
  closeSync,
  constants,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  realpathSync,
  statSync,
  writeSync,
} from 'node:fs';
import { dirname, isAbsolute, join, normalize, relative, resolve, sep } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { type DocumentChunk, DocumentSplitter } from '../../dryrun/documents.js';
import { type ManifestError, parseDocumentChunk } from '../../dryrun/manifests.js';
import { exitCode, type ObjectReport, type Report } from '../../dryrun/report.js';
import { createDryRun, manifestFact } from '../../dryrun/run.js';
import { type ObjectEdits, rewriteChunk } from '../../dryrun/write-back.js';
import type { JsonObject } from '../../json.js';
import { loadPolicies } from '../../policy/load.js';
import type { PolicyError } from '../../policy/types.js';
import { type CommandSpec, parseCommand } from '../command.js';
import { type CliIo, EXIT_USAGE, packageVersion, readFacts, readInput } from '../io.js';
import { isReportFormat, REPORT_FORMATS } from '../report/formats.js';

const USAGE = `usage: tokenguard test [--output ${Object.keys(REPORT_FORMATS).join('|')}] [--mutated DIR] [--policies PATH]...
                       [--facts FILE]... [--namespace NS] [--bindings-complete] [--fail-on deny|warn]
                       [--api-audience A]... [--engine webhook|vap] PATH...

Dry-runs the policies on manifests (files, folders searched for *.yaml, *.yml and *.json, or - for
standard input) exactly as the cluster would admit them. Exit 0: nothing denied; 1: something
denied (or warned, with --fail-on warn); 2: unreadable input or invalid policy.

--api-audience: the cluster's API audiences (kube-apiserver --api-audiences, or its issuer;
globs; repeatable). Tokens for them are API tokens. Default https://kubernetes.default.svc and
https://kubernetes.default.svc.* (docs/tokens.md).

--engine vap: judge with the policies exported as ValidatingAdmissionPolicies and
MutatingAdmissionPolicies (tokenguard export), evaluated as the API server would, instead of the
webhook; what CEL cannot express is then not judged (docs/vap.md).
`;

/** `tokenguard test`: its flags. */
export const TEST_COMMAND: CommandSpec = {
  name: 'test',
  usage: USAGE,
  flags: {
    output: { type: 'string', short: 'o', default: 'text' },
    mutated: { type: 'string' },
    policies: { type: 'string', multiple: true },
    facts: { type: 'string', multiple: true },
    namespace: { type: 'string', short: 'n' },
    'fail-on': { type: 'string', default: 'deny' },
    'bindings-complete': { type: 'boolean', default: false },
    'api-audience': { type: 'string', multiple: true },
    engine: { type: 'string', default: 'webhook' },
  },
  choices: { output: Object.keys(REPORT_FORMATS), 'fail-on': ['deny', 'warn'], engine: ['webhook', 'vap'] },
};

/** Inputs with more documents than this get a progress bar (on a terminal). */
const PROGRESS_THRESHOLD = 200;

export interface TestCommandOptions {
  /** The version written into json, junit and sarif reports (default: package.json's). */
  readonly version?: string;
  /** Environment (default `process.env`), read for NO_COLOR. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Working directory: relative paths are read from it, and file names shown relative to it (default `process.cwd()`). */
  readonly cwd?: string;
  /** The clock observed use is measured against (default `Date.now`). */
  readonly now?: () => number;
}

interface InputFile {
  /** The name shown in reports. */
  readonly display: string;
  /** Where the mutated copy goes, relative to `--mutated DIR`. */
  readonly outName: string;
  /** The file to read, piece by piece; or, for standard input, its whole text. */
  readonly source: { readonly path: string } | { readonly text: string };
}

/**
 * `tokenguard test`: reads manifests, policies and facts, runs {@link runDryRun}, prints the
 * report and writes `--mutated` copies. The only part of `test` that touches the file system.
 */
export async function runTestCommand(
  argv: readonly string[],
  io: CliIo,
  options: TestCommandOptions = {},
): Promise<number> {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const parsed = parseCommand(TEST_COMMAND, argv, io);
  if (typeof parsed === 'number') return parsed;
  const values = parsed.values as {
    output?: string;
    mutated?: string;
    policies?: string[];
    facts?: string[];
    namespace?: string;
    'fail-on'?: string;
    'bindings-complete'?: boolean;
    'api-audience'?: string[];
    engine?: string;
  };
  const positionals = parsed.positionals;
  const format = values.output ?? 'text';
  if (!isReportFormat(format)) {
    io.stderr.write(`--output must be one of ${Object.keys(REPORT_FORMATS).join(', ')}\n${USAGE}`);
    return EXIT_USAGE;
  }
  const failOn = values['fail-on'];
  if (failOn !== 'deny' && failOn !== 'warn') {
    io.stderr.write(`--fail-on must be deny or warn\n${USAGE}`);
    return EXIT_USAGE;
  }
  const engine = values.engine ?? 'webhook';
  if (engine !== 'webhook' && engine !== 'vap') {
    io.stderr.write(`--engine must be webhook or vap\n${USAGE}`);
    return EXIT_USAGE;
  }
  if (positionals.length === 0) {
    io.stderr.write(`no manifests given\n${USAGE}`);
    return EXIT_USAGE;
  }

  const loaded = loadPolicies((values.policies ?? ['policies']).map((p) => resolve(cwd, p)));
  if (loaded.errors.length > 0) {
    for (const e of loaded.errors) io.stderr.write(`${policyErrorLine(e, cwd)}\n`);
    io.stderr.write(`tokenguard test: ${loaded.errors.length} policy error(s); nothing was evaluated\n`);
    return EXIT_USAGE;
  }

  const factFiles = readFacts(values.facts ?? [], io, cwd, (f) => display(resolve(cwd, f), cwd));
  if (!factFiles) return EXIT_USAGE;

  const { files, errors } = readInputs(positionals, io, cwd);
  // Pass 1: the facts among the manifests (a pod may come before its ServiceAccount), keeping
  // only fact objects; pass 2 evaluates one document at a time. Memory follows the largest
  // document and the facts, not the input.
  const manifestFacts: JsonObject[] = [];
  let documents = 0;
  for (const f of files) {
    try {
      for (const chunk of documentsOf(f)) {
        if (chunk.document > 0) documents++;
        if (!mayHoldFacts(chunk.text)) continue;
        for (const o of parseDocumentChunk(chunk, f.display).objects) manifestFacts.push(...manifestFact(o.object));
      }
    } catch (e) {
      errors.push({
        file: f.display,
        line: 0,
        message: `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      });
    }
  }
  let webhook: Parameters<typeof createDryRun>[0]['webhook'];
  if (engine === 'vap') {
    const [{ exportPolicies }, { admissionPolicyWebhookFor }] = await Promise.all([
      import('../../export/export.js'),
      import('../../dryrun/admission-policies.js'),
    ]);
    const exported = exportPolicies(loaded.policies, {
      ...(values['api-audience'] ? { apiAudiences: values['api-audience'] } : {}),
    });
    for (const p of exported.policies)
      for (const n of p.notExported) io.stderr.write(`tokenguard test: --engine vap: ${p.policy}: not judged: ${n}\n`);
    const objectsOf = {
      validating: exported.policies.flatMap((p) => p.validating),
      mutating: exported.policies.flatMap((p) => p.mutating),
    };
    webhook = (ctx, request) => admissionPolicyWebhookFor(objectsOf, ctx, request);
  }
  const dryRun = createDryRun({
    policies: loaded.policies,
    manifestFacts,
    facts: factFiles.objects,
    // Observed use (a TokenUsage document among --facts) is measured against the clock now.
    ...(factFiles.usage ? { usage: factFiles.usage, now: (options.now ?? Date.now)() } : {}),
    ...(values.namespace ? { namespace: values.namespace } : {}),
    bindingsComplete: values['bindings-complete'] === true,
    ...(values['api-audience'] ? { apiAudiences: values['api-audience'] } : {}),
    keepAdmission: false,
    ...(webhook ? { webhook } : {}),
  });
  const progress = progressBar(io, documents);
  const mutatedDir = values.mutated ? resolve(cwd, values.mutated) : undefined;
  const objectReports: ObjectReport[] = [];
  let done = 0;
  let changedFiles = 0;
  let writeError: string | undefined;
  for (const f of files) {
    const out =
      mutatedDir && writeError === undefined ? openMutated(mutatedDir, f, (e) => (writeError = e)) : undefined;
    let changed = false;
    try {
      for (const chunk of documentsOf(f)) {
        const parsed = parseDocumentChunk(chunk, f.display);
        errors.push(...parsed.problems);
        const edits: ObjectEdits[] = [];
        for (const m of parsed.objects) {
          const r = dryRun.evaluate(m);
          objectReports.push(r);
          if (r.manifestEdits.length > 0)
            edits.push({
              document: r.document,
              ...(r.item !== undefined ? { item: r.item } : {}),
              edits: r.manifestEdits,
            });
        }
        if (out) {
          const text = edits.length > 0 ? rewriteChunk(chunk, edits) : chunk.text;
          if (text !== chunk.text) changed = true;
          out.write(text);
        }
        if (chunk.document > 0) progress?.(++done, documents);
      }
    } catch (e) {
      errors.push({
        file: f.display,
        line: 0,
        message: `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      });
    }
    if (out) {
      out.close();
      if (changed) changedFiles++;
    }
  }
  const report = dryRun.report(objectReports, errors);

  for (const e of report.errors) io.stderr.write(`${e.line > 0 ? `${e.file}:${e.line}` : e.file}: ${e.message}\n`);
  for (const o of report.objects)
    if (o.outcome === 'error') io.stderr.write(`${o.file}:${o.line}: ${o.kind} ${o.name}: ${o.reason}\n`);

  const failOnWarn = failOn === 'warn';
  const version = options.version ?? versionOrUnknown();
  const color = format === 'text' && (io.stdout as { isTTY?: boolean }).isTTY === true && !env.NO_COLOR;
  const shown: Report = { ...report, policies: report.policies.map((p) => ({ ...p, file: display(p.file, cwd) })) };
  io.stdout.write(REPORT_FORMATS[format](shown, { version, failOnWarn, color }));

  if (values.mutated) {
    if (writeError !== undefined) {
      io.stderr.write(`${values.mutated}: cannot write mutated manifests: ${writeError}\n`);
      return EXIT_USAGE;
    }
    io.stderr.write(`tokenguard test: wrote ${files.length} file(s) to ${values.mutated} (${changedFiles} changed)\n`);
  }
  return exitCode(report, { failOnWarn });
}

/** A policy error as `file:line: field: message (document N)`, the form CI log parsers pick up. */
function policyErrorLine(e: PolicyError, cwd: string): string {
  const where = e.line !== undefined ? `${display(e.file, cwd)}:${e.line}` : display(e.file, cwd);
  const field = e.path ? `${e.path}: ` : '';
  const doc = e.document > 0 ? ` (document ${e.document})` : '';
  return `${where}: ${field}${e.message}${doc}`;
}

/** Reads every input: `-` once from standard input, folders recursively, files as named. */
function readInputs(paths: readonly string[], io: CliIo, cwd: string): { files: InputFile[]; errors: ManifestError[] } {
  const files: InputFile[] = [];
  const errors: ManifestError[] = [];
  const seen = new Set<string>();
  const add = (file: string, root: string) => {
    const real = safeRealpath(file);
    if (seen.has(real)) return;
    seen.add(real);
    const shown = display(file, cwd);
    try {
      accessSync(file, constants.R_OK);
      files.push({ display: shown, outName: outName(shown, file, root), source: { path: file } });
    } catch (e) {
      errors.push({
        file: shown,
        line: 0,
        message: `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      });
    }
  };
  let stdinRead = false;
  for (const arg of paths) {
    if (arg === '-') {
      if (stdinRead) continue;
      stdinRead = true;
      try {
        const text = readInput('-', io);
        files.push({
          display: 'stdin',
          outName: /^\s*[{[]/.test(text) ? 'stdin.json' : 'stdin.yaml',
          source: { text },
        });
      } catch (e) {
        errors.push({ file: 'stdin', line: 0, message: `cannot read: ${(e as Error).message}` });
      }
      continue;
    }
    const p = resolve(cwd, arg);
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(p);
    } catch (e) {
      errors.push({
        file: display(p, cwd),
        line: 0,
        message: `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      });
      continue;
    }
    if (!st.isDirectory()) {
      add(p, p);
      continue;
    }
    const found = manifestFilesIn(p, new Set([safeRealpath(p)]));
    if (found.length === 0)
      errors.push({ file: display(p, cwd), line: 0, message: 'no manifests (*.yaml, *.yml, *.json) found' });
    for (const f of found) add(f, p);
  }
  return { files, errors };
}

/** Manifest files under a folder, sorted, recursively; entries starting with `.` are skipped, symlink loops too. */
function manifestFilesIn(dir: string, visited: Set<string>): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)
    .filter((n) => !n.startsWith('.'))
    .sort()) {
    const full = join(dir, name);
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(full);
    } catch {
      continue; // a dangling symlink
    }
    if (st.isDirectory()) {
      const real = safeRealpath(full);
      if (visited.has(real)) continue;
      visited.add(real);
      out.push(...manifestFilesIn(full, visited));
    } else if (/\.(ya?ml|json)$/i.test(name)) out.push(full);
  }
  return out;
}

function safeRealpath(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return resolve(p);
  }
}

/** A file name as reports show it: relative to the working directory when inside it, `/`-separated. */
function display(file: string, cwd: string): string {
  const abs = resolve(cwd, file);
  const rel = relative(cwd, abs);
  const shown = rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : normalize(file);
  return shown.split(sep).join('/');
}

/** Where a file's mutated copy goes under `--mutated DIR`: its shown name, or, outside the working directory, its path from the argument's parent. */
function outName(shown: string, file: string, root: string): string {
  if (!isAbsolute(shown) && !shown.startsWith('..')) return shown;
  return relative(dirname(resolve(root)), resolve(file))
    .split(sep)
    .join('/');
}

/** Bytes read from a manifest file at a time. */
const READ_PIECE = 4 * 1024 * 1024;

/** The documents of an input, read from disk piece by piece (standard input: from its text). */
function* documentsOf(f: InputFile): Generator<DocumentChunk> {
  const splitter = new DocumentSplitter();
  if ('text' in f.source) {
    yield* splitter.push(f.source.text);
    yield* splitter.end();
    return;
  }
  const fd = openSync(f.source.path, 'r');
  try {
    const buffer = Buffer.allocUnsafe(READ_PIECE);
    const decoder = new StringDecoder('utf8');
    for (;;) {
      const n = readSync(fd, buffer, 0, READ_PIECE, null);
      if (n === 0) break;
      yield* splitter.push(decoder.write(buffer.subarray(0, n)));
    }
    yield* splitter.push(decoder.end());
    yield* splitter.end();
  } finally {
    closeSync(fd);
  }
}

/**
 * Whether a document may hold a fact object (ServiceAccount, Namespace, a binding) or a List of
 * them: documents that cannot are not parsed in the first pass. Anchors, merge keys and escapes
 * could hide a kind, so documents with them are parsed too; so are those naming the token
 * Secret type (a token Secret is a fact for the pods that mount it).
 */
function mayHoldFacts(text: string): boolean {
  return /kind["']?\s*:\s*["']?(?:ServiceAccount|Namespace|RoleBinding|ClusterRoleBinding|\w*List)\b|service-account-token|[&*]|<<|\\u/.test(
    text,
  );
}

/** The mutated copy of one input under `--mutated DIR`, written as it is evaluated. */
function openMutated(
  dir: string,
  f: InputFile,
  fail: (message: string) => void,
): { write(text: string): void; close(): void } | undefined {
  try {
    const target = join(dir, f.outName);
    mkdirSync(dirname(target), { recursive: true });
    const fd = openSync(target, 'w');
    let broken = false;
    return {
      write(text) {
        if (broken) return;
        try {
          writeSync(fd, text);
        } catch (e) {
          broken = true;
          fail((e as Error).message);
        }
      },
      close() {
        closeSync(fd);
      },
    };
  } catch (e) {
    fail((e as Error).message);
    return undefined;
  }
}

/** A one-line progress bar on standard error, for large inputs on a terminal only. */
function progressBar(io: CliIo, total: number): ((done: number, total: number) => void) | undefined {
  if (total <= PROGRESS_THRESHOLD || (io.stderr as { isTTY?: boolean }).isTTY !== true) return undefined;
  const width = 30;
  let last = -1;
  return (done, all) => {
    const pct = Math.floor((done / all) * 100);
    if (pct === last && done !== all) return;
    last = pct;
    const filled = Math.round((done / all) * width);
    io.stderr.write(`\r[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${all} documents`);
    if (done === all) io.stderr.write('\r\u001b[K');
  };
}

/** The package version, or `unknown`: a report is still worth writing without it. */
function versionOrUnknown(): string {
  try {
    return packageVersion();
  } catch {
    return 'unknown';
  }
}
