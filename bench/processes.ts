/**
 * `tokenguard serve` as a process for the benchmarks: src/ (the working tree's, or a commit's)
 * compiled with tsc into a temporary folder, as `npm run build` compiles it for the image, and
 * started as the image and the Deployment start it (test/helpers/image-start.ts). Standard output
 * is a pipe read line by line, as a container runtime reads it. Linux only (/proc).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { generateCertificates } from '../src/certs/generate.js';
import { imageStart } from '../test/helpers/image-start.js';

export const REPO = join(import.meta.dirname, '..');
export const shipped = imageStart(REPO);

/** A temporary folder with `dist/` built from src/ of `ref` (default the working tree) and `certs/` for 127.0.0.1. */
export async function build(ref?: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'tokenguard-bench-'));
  let root = REPO;
  if (ref !== undefined) {
    root = join(dir, 'src-of-ref');
    mkdirSync(root);
    execFileSync('sh', [
      '-c',
      'git -C "$1" archive "$2" package.json src tsconfig.json tsconfig.build.json | tar -x -C "$0"',
      root,
      REPO,
      ref,
    ]);
    symlinkSync(join(REPO, 'node_modules'), join(root, 'node_modules'));
  }
  execFileSync(
    process.execPath,
    [
      join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'),
      '-p',
      join(root, 'tsconfig.build.json'),
      '--outDir',
      join(dir, 'dist'),
    ],
    { stdio: 'inherit' },
  );
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
  symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'));
  const certs = await generateCertificates({
    service: 'tokenguard',
    namespace: 'tokenguard-system',
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1'],
    keyType: 'ecdsa-p256',
  });
  mkdirSync(join(dir, 'certs'));
  writeFileSync(join(dir, 'certs', 'tls.crt'), certs.cert);
  writeFileSync(join(dir, 'certs', 'tls.key'), certs.key, { mode: 0o600 });
  writeFileSync(join(dir, 'certs', 'ca.crt'), certs.caCert);
  return dir;
}

/** `node` and its arguments that run `tokenguard serve` from `build()`'s folder as the image runs it, on an ephemeral port. */
export function serveCommand(
  dir: string,
  nodeFlags: readonly string[] = [],
): { argv: string[]; env: Record<string, string> } {
  const certs = join(dir, 'certs');
  return {
    argv: [
      ...shipped.nodeFlags,
      ...nodeFlags,
      join(dir, 'dist', 'cli', 'main.js'),
      'serve',
      '--port',
      '0',
      '--host',
      '127.0.0.1',
      '--tls-cert',
      join(certs, 'tls.crt'),
      '--tls-key',
      join(certs, 'tls.key'),
    ].concat(['--policies', join(REPO, 'policies'), '--no-cluster', '--shutdown-delay', '0s']),
    env: { NODE_OPTIONS: shipped.nodeOptions },
  };
}

export interface Proc {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly port: number;
  /** When it was started, on this process's `performance.now()` clock. */
  readonly startedAt: number;
  exited: { code: number | null; signal: string | null } | undefined;
  /** The last 2,000 characters of its standard error. */
  stderr(): string;
  /** SIGTERM, then SIGKILL after 10 s; resolves once it has exited. */
  stop(): Promise<void>;
}

/**
 * Starts `node argv...` (under `taskset -c cpu` when given) and resolves once it logs a JSON line
 * with `"event":"listening"` and its port; every line of its standard output goes to `onLine` as
 * it is written (`stdbuf -oL`: what V8 prints, `--trace-gc` lines, is line-buffered too).
 */
export function startProcess(
  argv: readonly string[],
  options: { env?: Record<string, string>; cpu?: number; onLine?: (line: string) => void } = {},
): Promise<Proc> {
  const node = ['stdbuf', '-oL', process.execPath, ...argv];
  const command = options.cpu === undefined ? node : ['taskset', '-c', String(options.cpu), ...node];
  const child = spawn(command[0] as string, command.slice(1), {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...options.env },
  });
  const startedAt = performance.now();
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-2000);
  });
  return new Promise((resolve, reject) => {
    const proc: Proc = {
      child,
      pid: child.pid as number,
      port: 0,
      startedAt,
      exited: undefined,
      stderr: () => stderr,
      stop: async () => {
        if (proc.exited) return;
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await gone;
        clearTimeout(timer);
      },
    };
    child.on('exit', (code, signal) => {
      proc.exited = { code, signal };
      reject(new Error(`${argv.join(' ')} exited at start (${code ?? signal}): ${stderr}`));
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      options.onLine?.(line);
      if (proc.port === 0 && line.includes('"event":"listening"')) {
        Object.assign(proc, { port: (JSON.parse(line) as { port: number }).port });
        resolve(proc);
      }
    });
  });
}

/** A memory field of /proc/PID/status (`VmRSS`, `VmHWM`), in bytes; NaN once the process is gone. */
export function procStatus(pid: number, field: string): number {
  try {
    return (
      Number(
        new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? Number.NaN,
      ) * 1024
    );
  } catch {
    return Number.NaN;
  }
}

/** The CPU time (user + system) a process has used, in µs, from /proc/PID/stat (clock ticks of 10 ms). */
export function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}
