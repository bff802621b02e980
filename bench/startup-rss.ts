/**
 * RSS of `tokenguard serve --no-cluster` right after start-up, as `/proc/PID/status` counts it:
 * the total and its private (`RssAnon`) and file-backed (`RssFile`) parts. Each run starts the
 * built server (dist/, as the image runs it), waits until `/healthz` answers, waits one second
 * more, reads the figures and stops it; medians of the runs. Used for decision 20 of
 * docs/benchmarks.md (a bundled entry point, V8 flags, Node 20 against Node 24).
 *
 *   npm run build && npx tsx bench/startup-rss.ts [--node BIN] [--entry FILE] [--runs 3] [-- node flags]
 *
 * `--entry`: another entry point, such as a bundle of dist/cli/main.js. Environment variables
 * (MALLOC_ARENA_MAX, ...) pass through to the server. Linux only. Not part of `npm run bench`.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { parseArgs } from 'node:util';
import { parseProcStatusMemory, type ProcStatusMemory } from './proc-status.js';

const { values: opts, positionals: nodeFlags } = parseArgs({
  options: {
    node: { type: 'string', default: process.execPath },
    entry: { type: 'string', default: 'dist/cli/main.js' },
    runs: { type: 'string', default: '3' },
  },
  allowPositionals: true,
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function healthz(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/healthz', rejectUnauthorized: false, timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

async function oneRun(port: number): Promise<ProcStatusMemory> {
  const args = [...nodeFlags, opts.entry, 'serve', '--no-cluster', '--port', String(port), '--host', '127.0.0.1', '--shutdown-delay', '0s'];
  const child: ChildProcess = spawn(opts.node, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = once(child, 'exit');
  try {
    const deadline = Date.now() + 20_000;
    while (!(await healthz(port))) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the server did not answer /healthz on ${port} (${child.exitCode === null ? 'timeout' : `exit ${child.exitCode}`})`);
      await sleep(100);
    }
    await sleep(1000);
    return parseProcStatusMemory(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await exited;
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
};
const mb = (b: number) => `${(b / 1e6).toFixed(1)} MB`;

const runs: ProcStatusMemory[] = [];
for (let i = 0; i < Number(opts.runs); i++) runs.push(await oneRun(19900 + Math.floor(Math.random() * 90)));
console.log(
  `${execFileSync(opts.node, ['--version'], { encoding: 'utf8' }).trim()} ${[...nodeFlags, opts.entry].join(' ')}: VmRSS ${mb(median(runs.map((r) => r.vmRss)))}, ` +
    `private ${mb(median(runs.map((r) => r.rssAnon)))}, file-backed ${mb(median(runs.map((r) => r.rssFile)))} ` +
    `(medians of ${runs.length} starts; VmRSS each: ${runs.map((r) => (r.vmRss / 1e6).toFixed(1)).join(', ')})`,
);
