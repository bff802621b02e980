/**
 * `tokenguard serve` as a process, for the tests that need the real thing: the built CLI,
 * compiled into a private folder (so it never races another suite's build of dist/), started
 * with the flags and environment a test gives it (the image's and the Deployment's, with
 * test/helpers/image-start.ts), its JSON log lines collected.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { MemoryCgroup } from '../helpers/memory-cgroup.js';
import type { CertificateSet } from '../../src/certs/generate.js';
import { EVENT_WAIT_LIMIT_MS, makeCertificates, REPO } from './helpers.js';

export interface Proc {
  readonly child: ChildProcess;
  readonly logs: Record<string, unknown>[];
  stderr(): string;
  waitForLog(predicate: (l: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface BuiltCli {
  /** `node [nodeFlags] dist/cli/main.js serve [args]` in `cwd`, with `env` added; in `cgroup` when given. */
  start(
    args: string[],
    cwd: string,
    options?: { nodeFlags?: readonly string[]; env?: Record<string, string>; cgroup?: MemoryCgroup },
  ): Proc;
  remove(): void;
}

/** Compiles src/ into a temporary folder (ES modules, the repository's node_modules). */
export function buildCli(): BuiltCli {
  const buildDir = mkdtempSync(join(tmpdir(), 'tokenguard-http-build-'));
  execFileSync(
    process.execPath,
    [
      join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'),
      '-p',
      join(REPO, 'tsconfig.build.json'),
      '--outDir',
      join(buildDir, 'dist'),
    ],
    {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  // dist/*.js are ES modules because of "type": "module"; dependencies come from the repository.
  writeFileSync(join(buildDir, 'package.json'), '{"type":"module"}\n');
  symlinkSync(join(REPO, 'node_modules'), join(buildDir, 'node_modules'));
  const cli = join(buildDir, 'dist', 'cli', 'main.js');
  return {
    start: (args, cwd, options = {}) => startCli(cli, args, cwd, options),
    remove: () => rmSync(buildDir, { recursive: true, force: true }),
  };
}

function startCli(
  cli: string,
  args: string[],
  cwd: string,
  options: { nodeFlags?: readonly string[]; env?: Record<string, string>; cgroup?: MemoryCgroup },
): Proc {
  const argv = [...(options.nodeFlags ?? []), cli, 'serve', ...args];
  const [command, commandArgs] = options.cgroup
    ? options.cgroup.command([process.execPath, ...argv])
    : [process.execPath, argv];
  const child = spawn(command, commandArgs, {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...options.env },
  });
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  const waiters: {
    predicate: (l: Record<string, unknown>) => boolean;
    resolve: (l: Record<string, unknown>) => void;
  }[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(line) as Record<string, unknown>;
    } catch {
      parsed = { unparsed: line };
    }
    logs.push(parsed);
    for (const w of [...waiters]) {
      if (w.predicate(parsed)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(parsed);
      }
    }
  });
  child.stderr!.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const waitForLog = (predicate: (l: Record<string, unknown>) => boolean) => {
    const found = logs.find(predicate);
    if (found) return Promise.resolve(found);
    return new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`log line not seen within ${EVENT_WAIT_LIMIT_MS} ms; stderr: ${stderr}`)),
        EVENT_WAIT_LIMIT_MS,
      );
      waiters.push({
        predicate,
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
      });
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`process exited before the log line; stderr: ${stderr}`));
      });
    });
  };
  return { child, logs, stderr: () => stderr, waitForLog, exited };
}

/** A new temporary folder holding `tls.crt` and `tls.key` for 127.0.0.1, and the certificates. */
export async function folderWithCertificates(prefix: string): Promise<{ dir: string; certs: CertificateSet }> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const certs = await makeCertificates();
  writeFileSync(join(dir, 'tls.crt'), certs.cert);
  writeFileSync(join(dir, 'tls.key'), certs.key);
  return { dir, certs };
}

/** The largest resident set a process has had so far (Linux `VmHWM`), in bytes; undefined without /proc. */
export function peakRss(pid: number): number | undefined {
  try {
    const kb = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}
