/**
 * The webhook under the Deployment's memory limit: `tokenguard serve` (dist/, as the image runs
 * it, with the Deployment's NODE_OPTIONS `--max-old-space-size=160`) in a memory cgroup limited to
 * 256 MiB (deploy/base/deployment.yaml), pinned to CPU 1, saturated with the typical and then the
 * 100 KB pod (bench/bodies.ts) from `connections` keep-alive connections. Prints the cgroup's
 * peak usage, its failure count and OOM kills, and whether the server survived.
 *
 *   npm run build && npx tsx bench/memory-limit.ts [node binary] [connections=50] [seconds=10]
 *
 * Needs root and the cgroup v1 memory controller at /sys/fs/cgroup/memory (it creates
 * `tokenguard-bench` there and removes it at the end). Not part of `npm run bench`.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import autocannon from 'autocannon';
import { benchBodies } from './bodies.js';

const LIMIT_BYTES = 256 * 1024 * 1024;
const [bin = process.execPath, connArg = '50', secArg = '10'] = process.argv.slice(2);
const connections = Number(connArg);
const seconds = Number(secArg);
const cg = '/sys/fs/cgroup/memory/tokenguard-bench';
if (!existsSync('/sys/fs/cgroup/memory')) throw new Error('no cgroup v1 memory controller at /sys/fs/cgroup/memory');
mkdirSync(cg, { recursive: true });
writeFileSync(`${cg}/memory.limit_in_bytes`, String(LIMIT_BYTES));
writeFileSync(`${cg}/memory.max_usage_in_bytes`, '0');
writeFileSync(`${cg}/memory.failcnt`, '0');
const read = (f: string) => readFileSync(`${cg}/${f}`, 'utf8').trim();

const port = 19700 + Math.floor(Math.random() * 200);
const serve = `exec taskset -c 1 ${bin} --max-old-space-size=160 dist/cli/main.js serve --no-cluster --port ${port} --host 127.0.0.1 --log-level warn`;
const child = spawn('sh', ['-c', `echo $$ > ${cg}/cgroup.procs; ${serve}`], { stdio: ['ignore', 'ignore', 'inherit'] });
let exited: string | undefined;
child.on('exit', (code, signal) => {
  exited = signal ? `killed by ${signal}` : `exited ${code}`;
});
try {
  await new Promise((r) => setTimeout(r, 3000));
  for (const id of ['typical', 'large']) {
    const body = benchBodies().find((b) => b.id === id);
    if (!body) throw new Error(`no body ${id}`);
    const r = await autocannon({
      url: `https://127.0.0.1:${port}${body.path}`,
      method: 'POST',
      body: body.body,
      headers: { 'content-type': 'application/json' },
      connections,
      duration: seconds,
      timeout: 10,
    });
    console.log(`${id}: ${r.requests.total} answered (2xx ${r['2xx']}), non-2xx ${r.non2xx}, errors ${r.errors - r.timeouts}, timeouts ${r.timeouts}`);
  }
  const oom = Object.fromEntries(read('memory.oom_control').split('\n').map((l) => l.split(' ') as [string, string]));
  console.log(
    `${execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim()}, ${connections} connections: peak ${(Number(read('memory.max_usage_in_bytes')) / 1048576).toFixed(0)} MiB of ${LIMIT_BYTES / 1048576} MiB, ` +
      `limit hit ${read('memory.failcnt')} times, OOM kills ${oom.oom_kill ?? '?'}, server ${exited ?? 'alive'}`,
  );
} finally {
  // The cgroup can only be removed once its last process is gone: wait for the exit, not a guess.
  if (exited === undefined) {
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
  }
  try {
    rmdirSync(cg);
  } catch {
    // still in use for a moment; the next run reuses it
  }
}
