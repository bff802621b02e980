/**
 * The webhook under the Deployment's memory limit: `tokenguard serve` (dist/, started as the
 * image and the Deployment start it: the ENTRYPOINT's Node.js flags and the Deployment's
 * NODE_OPTIONS, bench/image-start.ts) in a memory cgroup limited to the Deployment's memory limit
 * (bench/memory-cgroup.ts), pinned to CPU 1, with `--trace-gc`. Two loads:
 *
 * - saturation (default): the typical and then the 100 KB pod (bench/bodies.ts) from
 *   `connections` keep-alive connections for `seconds` each;
 * - `--rate R`: the typical pod at R requests/s for `seconds`, from the HTTP benchmark's
 *   open-loop generator (bench/http-load.ts) pinned to CPU 0.
 *
 * Prints per load the server's CPU per answered request, its scavenges and mark-compacts (from
 * V8's trace) with their pause time, and V8's young generation as /metrics reports it; then the
 * cgroup's peak usage, its failure count and OOM kills, and whether the server survived.
 *
 *   npm run build && npx tsx bench/memory-limit.ts [node binary] [connections=50] [seconds=10] [--rate R] [-- node flags]
 *
 * Node flags after `--` come after the image's (a later V8 flag wins), e.g. `--
 * --max-semi-space-size=1`. Needs root and the cgroup v1 memory controller (it creates
 * `tokenguard-bench` and removes it at the end). Not part of `npm run bench`.
 */
import { execFileSync, spawn } from 'node:child_process';
import { request } from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';
import { benchBodies } from './bodies.js';
import type { FixedResult } from './http-load.js';
import { imageStart } from './image-start.js';
import { IpcClient } from './ipc.js';
import { canCreateMemoryCgroup, createMemoryCgroup } from './memory-cgroup.js';

const root = join(import.meta.dirname, '..');
const dashes = process.argv.indexOf('--', 2);
const extraFlags = dashes === -1 ? [] : process.argv.slice(dashes + 1);
const ours = process.argv.slice(2, dashes === -1 ? undefined : dashes);
const rateAt = ours.indexOf('--rate');
const rate = rateAt === -1 ? undefined : Number(ours[rateAt + 1]);
if (rate !== undefined && !(rate > 0)) throw new Error('--rate needs a number of requests per second');
const [bin = process.execPath, connArg = '50', secArg = '10'] = rateAt === -1 ? ours : [...ours.slice(0, rateAt), ...ours.slice(rateAt + 2)];
const connections = Number(connArg);
const seconds = Number(secArg);
if (!canCreateMemoryCgroup()) throw new Error('cannot create a cgroup v1 memory group (needs root and /sys/fs/cgroup/memory)');
const shipped = imageStart(root);
const cg = createMemoryCgroup('tokenguard-bench', shipped.memoryLimitBytes);

const port = 19700 + Math.floor(Math.random() * 200);
const argv = ['taskset', '-c', '1', bin, ...shipped.nodeFlags, ...extraFlags, '--trace-gc', 'dist/cli/main.js', 'serve', '--no-cluster', '--port', String(port), '--host', '127.0.0.1', '--log-level', 'warn'];
console.log(`NODE_OPTIONS='${shipped.nodeOptions}' ${argv.join(' ')} (in a ${shipped.memoryLimitBytes / 1048576} MiB memory cgroup)`);
const [command, commandArgs] = cg.command(argv);
// The shell execs taskset, which execs node: the child's pid is the server's.
const child = spawn(command, commandArgs, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, NODE_OPTIONS: shipped.nodeOptions } });
/** V8's --trace-gc lines so far (standard output carries nothing else at --log-level warn but warnings). */
const gcLines: string[] = [];
createInterface({ input: child.stdout }).on('line', (l) => {
  if (l.includes('Scavenge') || l.includes('Mark-Compact')) gcLines.push(l);
});
/** Count and pause time (ms, the figure before ' / ') of the GC lines of one kind. */
const gcOf = (lines: readonly string[], kind: string) => {
  const of = lines.filter((l) => l.includes(kind));
  const pause = of.reduce((sum, l) => sum + Number(/MB, ([\d.]+) \//.exec(l)?.[1] ?? 0), 0);
  return `${of.length} ${kind.toLowerCase()}s (${pause.toFixed(0)} ms)`;
};
/** User + system CPU time of the server so far, in µs (/proc/PID/stat, clock ticks of 10 ms). */
const cpuUs = () => {
  const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
};
/** A sample of the server's /metrics, by metric line prefix. */
const metric = (prefix: string): Promise<number> =>
  new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/metrics', rejectUnauthorized: false }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => {
        text += c.toString();
      });
      res.on('end', () => {
        const line = text.split('\n').find((l) => l.startsWith(prefix));
        resolve(line ? Number(line.slice(prefix.length).trim()) : Number.NaN);
      });
    });
    req.on('error', reject);
    req.end();
  });
/** One load: its answered requests and a line of what it counted. */
async function measure(label: string, load: () => Promise<{ answered: number; text: string }>): Promise<void> {
  const cpu0 = cpuUs();
  const gc0 = gcLines.length;
  const { answered, text } = await load();
  const perRequest = (cpuUs() - cpu0) / Math.max(1, answered);
  const gc = gcLines.slice(gc0);
  const young = await metric('nodejs_heap_space_size_total_bytes{space="new"} ');
  console.log(
    `${label}: ${text}; server CPU ${perRequest.toFixed(0)} µs per answered request; ${gcOf(gc, 'Scavenge')}, ${gcOf(gc, 'Mark-Compact')}; young generation ${(young / 1048576).toFixed(1)} MiB`,
  );
}
let exited: string | undefined;
child.on('exit', (code, signal) => {
  exited = signal ? `killed by ${signal}` : `exited ${code}`;
});
try {
  await new Promise((r) => setTimeout(r, 3000));
  if (rate !== undefined) {
    const body = benchBodies().find((b) => b.id === 'typical');
    if (!body) throw new Error('no typical body');
    // The HTTP benchmark's open-loop generator, pinned to the other core, driven over IPC.
    const gen = spawn('taskset', ['-c', '0', process.execPath, '--import', 'tsx', join(root, 'bench', 'http-load.ts')], { cwd: root, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    try {
      await new Promise<void>((resolve, reject) => {
        gen.once('message', () => resolve());
        gen.once('exit', (code) => reject(new Error(`load generator exited (${code})`)));
      });
      const client = new IpcClient('load', gen);
      await measure(`typical at ${rate}/s for ${seconds} s`, async () => {
        const r = await client.call<FixedResult>('fixed', { port, path: body.path, body: body.body, rate, seconds }, (seconds + 60) * 1000);
        return { answered: r.ok, text: `${r.ok} answered, ${r.failed} failed; p50 ${r.latency.p50.toFixed(2)} p99 ${r.latency.p99.toFixed(2)} ms` };
      });
    } finally {
      gen.kill();
    }
  } else {
    for (const id of ['typical', 'large']) {
      const body = benchBodies().find((b) => b.id === id);
      if (!body) throw new Error(`no body ${id}`);
      await measure(id, async () => {
        const r = await autocannon({
          url: `https://127.0.0.1:${port}${body.path}`,
          method: 'POST',
          body: body.body,
          headers: { 'content-type': 'application/json' },
          connections,
          duration: seconds,
          timeout: 10,
        });
        return { answered: r['2xx'], text: `${r.requests.total} answered (2xx ${r['2xx']}), non-2xx ${r.non2xx}, errors ${r.errors - r.timeouts}, timeouts ${r.timeouts}` };
      });
    }
  }
  const oom = Object.fromEntries(cg.read('memory.oom_control').split('\n').map((l) => l.split(' ') as [string, string]));
  console.log(
    `${execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim()}, ${rate === undefined ? `${connections} connections` : `${rate}/s`}: peak ${(Number(cg.read('memory.max_usage_in_bytes')) / 1048576).toFixed(0)} MiB of ${shipped.memoryLimitBytes / 1048576} MiB, ` +
      `limit hit ${cg.read('memory.failcnt')} times, OOM kills ${oom.oom_kill ?? '?'}, server ${exited ?? 'alive'}`,
  );
} finally {
  // The cgroup can only be removed once its last process is gone: wait for the exit, not a guess.
  if (exited === undefined) {
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
  }
  try {
    cg.remove();
  } catch {
    // still in use for a moment; the next run reuses it
  }
}
