/**
 * The webhook under the Deployment's memory limit: `tokenguard serve` (dist/, started as the
 * image and the Deployment start it: the ENTRYPOINT's Node.js flags and the Deployment's
 * NODE_OPTIONS, bench/image-start.ts) in a memory cgroup limited to 256 MiB
 * (deploy/base/deployment.yaml), pinned to CPU 1, saturated with the typical and then the 100 KB
 * pod (bench/bodies.ts) from `connections` keep-alive connections. Prints, per body, the server's
 * CPU per answered request and V8's young generation (semi-spaces) as /metrics reports it, then
 * the cgroup's peak usage, its failure count and OOM kills, and whether the server survived.
 *
 *   npm run build && npx tsx bench/memory-limit.ts [node binary] [connections=50] [seconds=10] [-- node flags]
 *
 * Node flags after `--` come after the image's (a later V8 flag wins), e.g. `--
 * --max-semi-space-size=1`. Needs root and the cgroup v1 memory controller at
 * /sys/fs/cgroup/memory (it creates `tokenguard-bench` there and removes it at the end). Not
 * part of `npm run bench`.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import autocannon from 'autocannon';
import { request } from 'node:https';
import { join } from 'node:path';
import { benchBodies } from './bodies.js';
import { imageStart } from './image-start.js';

const LIMIT_BYTES = 256 * 1024 * 1024;
const dashes = process.argv.indexOf('--', 2);
const extraFlags = dashes === -1 ? [] : process.argv.slice(dashes + 1);
const [bin = process.execPath, connArg = '50', secArg = '10'] = process.argv.slice(2, dashes === -1 ? undefined : dashes);
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
const shipped = imageStart(join(import.meta.dirname, '..'));
const nodeArgs = [...shipped.nodeFlags, ...extraFlags].join(' ');
const serve = `exec taskset -c 1 ${bin} ${nodeArgs} dist/cli/main.js serve --no-cluster --port ${port} --host 127.0.0.1 --log-level warn`;
console.log(`NODE_OPTIONS='${shipped.nodeOptions}' ${serve.replace(/^exec /, '')}`);
// The shell execs taskset, which execs node: the child's pid is the server's.
const child = spawn('sh', ['-c', `echo $$ > ${cg}/cgroup.procs; ${serve}`], {
  stdio: ['ignore', 'ignore', 'inherit'],
  env: { ...process.env, NODE_OPTIONS: shipped.nodeOptions },
});
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
let exited: string | undefined;
child.on('exit', (code, signal) => {
  exited = signal ? `killed by ${signal}` : `exited ${code}`;
});
try {
  await new Promise((r) => setTimeout(r, 3000));
  for (const id of ['typical', 'large']) {
    const body = benchBodies().find((b) => b.id === id);
    if (!body) throw new Error(`no body ${id}`);
    const cpu0 = cpuUs();
    const r = await autocannon({
      url: `https://127.0.0.1:${port}${body.path}`,
      method: 'POST',
      body: body.body,
      headers: { 'content-type': 'application/json' },
      connections,
      duration: seconds,
      timeout: 10,
    });
    const perRequest = (cpuUs() - cpu0) / Math.max(1, r['2xx']);
    const young = await metric('nodejs_heap_space_size_total_bytes{space="new"} ');
    console.log(
      `${id}: ${r.requests.total} answered (2xx ${r['2xx']}), non-2xx ${r.non2xx}, errors ${r.errors - r.timeouts}, timeouts ${r.timeouts}; ` +
        `server CPU ${perRequest.toFixed(0)} µs per answered request; young generation ${(young / 1048576).toFixed(1)} MiB`,
    );
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
