import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseManifests } from '../dryrun/manifests.js';
import type { JsonObject } from '../json.js';
import { isTokenUsage, type SourcedDocument, type UsageFacts, usageFactsFrom } from '../usage/facts.js';

/** Where a command writes; tests pass buffers. */
export interface CliIo {
  readonly stdout: { write(s: string): unknown };
  readonly stderr: { write(s: string): unknown };
  /** Reads standard input whole (for `-`). */
  readonly readStdin?: () => string;
}

/** Reads a file, or standard input for `-`. */
export function readInput(path: string, io: CliIo): string {
  if (path === '-') return io.readStdin ? io.readStdin() : readFileSync(0, 'utf8');
  return readFileSync(path, 'utf8');
}

/** The version in the package.json beside dist/ (and src/): the one npm installed. Throws when it cannot be read. */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
  return pkg.version ?? 'unknown';
}

/** Exit codes shared by every command: 0 fine, 1 something denied or failed a check, 2 bad input or usage. */
export const EXIT_OK = 0;
export const EXIT_DENIED = 1;
export const EXIT_USAGE = 2;

/** The objects of `--facts` files, with where each was read; undefined (errors written to stderr) on any problem. */
function readFactObjects(paths: readonly string[], io: CliIo, cwd: string, label: (file: string) => string) {
  const objects: ReturnType<typeof parseManifests>['objects'][number][] = [];
  for (const f of paths) {
    let text: string;
    try {
      text = readFileSync(resolve(cwd, f), 'utf8');
    } catch (e) {
      io.stderr.write(`${label(f)}: cannot read facts: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}\n`);
      return undefined;
    }
    const parsed = parseManifests(text, label(f));
    if (parsed.errors.length > 0) {
      for (const e of parsed.errors) io.stderr.write(`${e}\n`);
      return undefined;
    }
    objects.push(...parsed.objects);
  }
  return objects;
}

/**
 * Reads `--facts` files (ServiceAccounts, Namespaces, bindings; YAML or JSON), relative to
 * `cwd`. On any problem writes every error to stderr and returns undefined.
 *
 * @param label  how a file is named in messages
 */
export function readFactFiles(
  paths: readonly string[],
  io: CliIo,
  cwd: string,
  label: (file: string) => string = (f) => f,
): JsonObject[] | undefined {
  return readFactObjects(paths, io, cwd, label)?.map((o) => o.object);
}

/** `--facts` files: the cluster objects, and the observed use of their TokenUsage documents (if any). */
export interface FactFiles {
  readonly objects: JsonObject[];
  /** From the TokenUsage documents among the files; undefined when there is none. */
  readonly usage?: UsageFacts;
}

/**
 * Reads `--facts` files like {@link readFactFiles}, and takes TokenUsage documents
 * (`tokenguard usage --output facts`) apart, checked, as observed use. On any problem writes
 * every error (`file:line: field: message`) to stderr and returns undefined.
 */
export function readFacts(
  paths: readonly string[],
  io: CliIo,
  cwd: string,
  label: (file: string) => string = (f) => f,
): FactFiles | undefined {
  const read = readFactObjects(paths, io, cwd, label);
  if (!read) return undefined;
  const objects: JsonObject[] = [];
  const usageDocs: SourcedDocument[] = [];
  for (const o of read) {
    if (isTokenUsage(o.object)) usageDocs.push({ object: o.object, where: `${o.file}:${o.line}` });
    else objects.push(o.object);
  }
  if (usageDocs.length === 0) return { objects };
  const usage = usageFactsFrom(usageDocs);
  if (!usage.facts) {
    for (const e of usage.errors) io.stderr.write(`${e}\n`);
    return undefined;
  }
  return { objects, usage: usage.facts };
}
