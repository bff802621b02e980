/**
 * Streams audit log files into records: plain or gzip (told by the content, not the name),
 * rotated files, folders, standard input. The only I/O of `tokenguard usage` besides the
 * command itself. Lines are split on bytes as they arrive; memory holds one read buffer and
 * the line being split, never a file.
 */
import { closeSync, createReadStream, openSync, readdirSync, readSync, realpathSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { UsageAggregator, type UsageOptions, type UsageSummary } from './aggregate.js';
import { type AuditRecord, decodeLine } from './decode.js';

/** A line longer than this is skipped and reported (a RequestResponse event of a huge list, or a file that is not a log). */
export const MAX_LINE_BYTES = 32 * 1024 * 1024;

/** One line that held no readable event (or part of one that did not). */
export interface LineProblem {
  readonly file: string;
  readonly line: number;
  readonly reason: string;
}

export interface ReadStats {
  readonly files: number;
  readonly lines: number;
  readonly bytes: number;
}

export interface ReadOptions {
  readonly onRecord: (r: AuditRecord) => void;
  readonly onProblem: (p: LineProblem) => void;
  /** Standard input, for `-`. */
  readonly stdin?: Readable;
  /** How a path is shown in problems (default: as given). */
  readonly display?: (path: string) => string;
  readonly maxLineBytes?: number;
  /** Read buffer size; default 1 MiB. */
  readonly chunkBytes?: number;
}

/** An input that could not be read at all (missing, unreadable, not gzip inside a .gz). */
export class AuditLogError extends Error {}

/**
 * The files to read for the arguments, in reading order: each argument in turn; a folder's
 * files (recursively, names starting with `.` skipped) in name order, which for the API
 * server's rotated logs (`audit-<time>.log[.gz]`, then `audit.log`) is oldest first. A file
 * named twice is read once.
 */
export function expandPaths(paths: readonly string[], cwd: string): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  const add = (p: string) => {
    let real: string;
    try {
      real = realpathSync(p);
    } catch {
      real = p;
    }
    if (seen.has(real)) return;
    seen.add(real);
    out.push(p);
  };
  const walk = (dir: string, visited: Set<string>) => {
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
        const real = realpathSync(full);
        if (visited.has(real)) continue;
        visited.add(real);
        walk(full, visited);
      } else if (st.isFile()) add(full);
    }
  };
  for (const arg of paths) {
    if (arg === '-') {
      add('-');
      continue;
    }
    const p = resolve(cwd, arg);
    let st: ReturnType<typeof statSync> | undefined;
    try {
      st = statSync(p);
    } catch {
      st = undefined;
    }
    if (st?.isDirectory()) walk(p, new Set([realpathSync(p)]));
    else add(p); // missing files fail when read, with their name
  }
  return out;
}

/**
 * Reads the files in order, calling `onRecord` for every event and `onProblem` for every line
 * that is not one. A file that cannot be opened rejects with an {@link AuditLogError}; a bad
 * line never does.
 */
export async function readAuditLogs(files: readonly string[], options: ReadOptions): Promise<ReadStats> {
  let lines = 0;
  let bytes = 0;
  for (const file of files) {
    const shown = file === '-' ? 'stdin' : (options.display?.(file) ?? file);
    const stream =
      file === '-' ? await stdinStream(options.stdin ?? process.stdin) : fileStream(file, shown, options.chunkBytes);
    const r = await readLines(stream, shown, options);
    lines += r.lines;
    bytes += r.bytes;
  }
  return { files: files.length, lines, bytes };
}

const GZIP_MAGIC = [0x1f, 0x8b] as const;

function fileStream(file: string, shown: string, chunkBytes = 1024 * 1024): Readable {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    throw new AuditLogError(`${shown}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const head = Buffer.alloc(2);
  let n = 0;
  try {
    if (statSync(file).isDirectory()) throw new AuditLogError(`${shown}: is a folder`);
    n = readSync(fd, head, 0, 2, 0);
  } finally {
    closeSync(fd);
  }
  const raw = createReadStream(file, { highWaterMark: chunkBytes });
  return n === 2 && head[0] === GZIP_MAGIC[0] && head[1] === GZIP_MAGIC[1] ? gunzipped(raw) : raw;
}

function gunzipped(raw: Readable): Readable {
  const gz = createGunzip({ chunkSize: 256 * 1024 });
  raw.on('error', (e) => gz.destroy(e));
  gz.on('error', () => undefined); // surfaces through iteration, where readLines names the file
  return raw.pipe(gz);
}

/** Standard input, gunzipped if it starts like gzip (peeks at the first chunk). */
async function stdinStream(stdin: Readable): Promise<Readable> {
  const iterator = stdin[Symbol.asyncIterator]();
  const first = await iterator.next();
  const { PassThrough } = await import('node:stream');
  const pass = new PassThrough();
  const head = first.done ? Buffer.alloc(0) : Buffer.from(first.value as Buffer);
  (async () => {
    try {
      if (head.length > 0) pass.write(head);
      for (let r = await iterator.next(); !r.done; r = await iterator.next()) {
        if (!pass.write(r.value)) await new Promise((ok) => pass.once('drain', ok));
      }
      pass.end();
    } catch (e) {
      pass.destroy(e as Error);
    }
  })();
  return head[0] === GZIP_MAGIC[0] && head[1] === GZIP_MAGIC[1] ? gunzipped(pass) : pass;
}

/** Splits a byte stream into lines and decodes each. */
async function readLines(
  stream: Readable,
  file: string,
  options: ReadOptions,
): Promise<{ lines: number; bytes: number }> {
  const max = options.maxLineBytes ?? MAX_LINE_BYTES;
  let line = 0;
  let bytes = 0;
  /** The start of a line split across chunks. */
  let parts: Buffer[] = [];
  let partLength = 0;
  /** Skipping the rest of a line that is too long. */
  let skipping = false;
  const take = (text: string) => {
    line++;
    const decoded = decodeLine(text);
    for (const r of decoded.records) options.onRecord(r);
    for (const reason of decoded.problems) options.onProblem({ file, line, reason });
  };
  const tooLong = () => {
    line++;
    options.onProblem({ file, line, reason: `line longer than ${max} bytes, not read` });
  };
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      let start = 0;
      for (let nl = chunk.indexOf(10, start); nl >= 0; nl = chunk.indexOf(10, start)) {
        if (skipping) {
          skipping = false;
        } else if (partLength + (nl - start) > max) {
          tooLong();
        } else if (partLength > 0) {
          parts.push(chunk.subarray(start, nl));
          take(stripCr(Buffer.concat(parts).toString('utf8')));
        } else {
          take(stripCr(chunk.toString('utf8', start, nl)));
        }
        parts = [];
        partLength = 0;
        start = nl + 1;
      }
      if (start < chunk.length && !skipping) {
        if (partLength + (chunk.length - start) > max) {
          tooLong();
          skipping = true;
          parts = [];
          partLength = 0;
        } else {
          // Copy: the stream may reuse its buffer.
          parts.push(Buffer.from(chunk.subarray(start)));
          partLength += chunk.length - start;
        }
      }
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'Z_DATA_ERROR' || code === 'Z_BUF_ERROR'
        ? 'gzip data is corrupt or cut short'
        : (code ?? (e as Error).message);
    // What was read stays counted; the rest of the file is reported as one problem.
    options.onProblem({ file, line: line + 1, reason: `reading stopped: ${why}` });
    return { lines: line, bytes };
  }
  if (partLength > 0 && !skipping) take(stripCr(Buffer.concat(parts).toString('utf8')));
  return { lines: line, bytes };
}

function stripCr(s: string): string {
  return s.charCodeAt(s.length - 1) === 13 ? s.slice(0, -1) : s;
}

/** What {@link aggregateAuditLogs} read: the summary, and the lines that held no event. */
export interface AggregatedLogs {
  readonly summary: UsageSummary;
  readonly read: ReadStats;
  /** The first lines that held no readable event, in reading order (up to `listedProblems`). */
  readonly problems: readonly LineProblem[];
  /** All such lines. */
  readonly problemCount: number;
  /** Problem count per reason (the reason without positions and envelope item numbers). */
  readonly problemReasons: Readonly<Record<string, number>>;
}

/**
 * Reads the files into one {@link UsageSummary}: what `tokenguard usage` reports and what
 * `tokenguard scan --audit-log` marks legacy tokens with. Rejects only as
 * {@link readAuditLogs} does (an input that cannot be opened).
 */
export async function aggregateAuditLogs(
  files: readonly string[],
  options: Omit<ReadOptions, 'onRecord' | 'onProblem'> & {
    readonly usage?: UsageOptions;
    readonly listedProblems?: number;
  },
): Promise<AggregatedLogs> {
  const aggregator = new UsageAggregator(options.usage ?? {});
  const listed = options.listedProblems ?? 1000;
  const problems: LineProblem[] = [];
  const reasons = new Map<string, number>();
  let problemCount = 0;
  const read = await readAuditLogs(files, {
    ...options,
    onRecord: (r) => aggregator.add(r),
    onProblem: (p) => {
      problemCount++;
      if (problems.length < listed) problems.push(p);
      const reason = reasonKind(p.reason);
      reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
    },
  });
  const problemReasons = Object.fromEntries([...reasons.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return { summary: aggregator.summary(), read, problems, problemCount, problemReasons };
}

/** A problem's reason without positions and envelope item numbers, for counting alike ones together. */
function reasonKind(reason: string): string {
  return reason.replace(/^(?:(?:event|record) \d+: )+/, '').replace(/ at character \d+/, '');
}
