/**
 * The server side of the HTTP benchmark, one process per server, started by bench/http.ts
 * (pinned to one core with taskset, compiled to plain JavaScript first so that no loader hook
 * runs in it, as in production). Two kinds:
 *
 * - `tokenguard`: the real webhook, `startServer` with the shipped policies, the production
 *   logger at `info` writing to standard output (which the parent points at /dev/null or a file,
 *   as a container runtime points it at a pipe), metrics, hot-reload watchers, and every
 *   dependency `tokenguard serve` loads with cluster access (the facts modules and src/kube;
 *   `serve --no-cluster` leaves them out, as the variant `no-cluster` does). Cluster facts
 *   themselves are not used: the benchmark has no API server.
 * - `baseline`: baseline A, the least a webhook can do: bare `node:https`, the body read and
 *   `JSON.parse`d, a canned AdmissionReview sent back. Same certificate, same keep-alive timeout.
 *
 * Instrumentation, identical in both: CPU time (`process.cpuUsage`), GC pauses by kind
 * (PerformanceObserver), event-loop delay (`monitorEventLoopDelay`), RSS sampled every 200 ms,
 * requests counted, and an optional CPU profile (inspector), reported to the parent over IPC.
 *
 * argv: kind certFile keyFile policiesDir [variant]
 *
 * `variant` (for experiments; comma-separated): tokenguard `log=<level>` (default info),
 * `no-cluster` (skip loading the facts modules), `client-node` (also load @kubernetes/client-node,
 * which serve used before src/kube), `handler=canned` (the server answering like baseline A),
 * `handler=review` / `handler=review-canned` (A's plain listener running tokenguard's review and
 * answering with it, or with A's canned answer: no log line, no metrics), `handler=review-steps`
 * (as `handler=review`, timing each step of every request by the wall clock, and the engine run
 * twice more before the review: once first, on caches the HTTP and TLS work left cold, once
 * right after, warm; the mean µs per request of each is printed to standard error at the end),
 * `metrics=off` (a metrics object that records nothing), `log-sink=noop|per-line|sonic-sync|sonic-async`
 * (where pino's lines go: nowhere, pino.destination sync, or buffered; default process.stdout);
 * baseline `pad=<bytes>` (a canned answer of about that size), `burn=<us>` (CPU spent per
 * request before answering), `express` (the same canned answer through express, express.json()
 * and res.json()); either kind `gc=heap` (mark-compacts counted from the old generation's size
 * instead of a PerformanceObserver, which adds its own; bench/old-generation.ts). The parent
 * also knows `ref=<commit or folder>` (this file then runs against src/ from there) and `node=<flag>` (a Node.js option for this process, e.g.
 * `node=--max-semi-space-size=32`; repeat for several).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer, type Server } from 'node:https';
import { Session } from 'node:inspector';
import { constants, type EntryType, monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { serveIpc } from './ipc.js';
import { OldGenerationFalls } from './old-generation.js';
import { parseProcStatusMemory, type RssParts } from './proc-status.js';

const require = createRequire(import.meta.url);
const [kind, certFile, keyFile, policiesDir, variantArg] = process.argv.slice(2);
const variant = new Map(
  (variantArg ?? '')
    .split(',')
    .filter(Boolean)
    .map((v) => (v.includes('=') ? [v.slice(0, v.indexOf('=')), v.slice(v.indexOf('=') + 1)] : [v, 'true'])),
);
if ((kind !== 'tokenguard' && kind !== 'baseline') || !certFile || !keyFile || !policiesDir) {
  process.stderr.write('usage: http-server.js tokenguard|baseline certFile keyFile policiesDir\n');
  process.exit(2);
}

// ------------------------------------------------------------------ instrumentation
const GC_KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'scavenge',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'mark-compact',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental-marking',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weak-callbacks',
};

export interface GcStats {
  count: number;
  totalMs: number;
  maxMs: number;
}

let gc: Record<string, GcStats> = {};
/**
 * Variant `gc=heap`: no observer. The observer's own entries make objects reach the old
 * generation (docs/benchmarks.md, decisions 25 and 26), so it adds mark-compacts of its own to
 * what it counts. With `gc=heap`, a mark-compact is counted when the old generation's used
 * size falls between two samples (every 200 ms; only a mark-compact frees it), its duration
 * unknown (0), and scavenges are not counted.
 */
const gcFromHeap = variant.get('gc') === 'heap';
if (!gcFromHeap) {
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const detail = (entry as { detail?: { kind?: number } }).detail;
      const name = GC_KINDS[detail?.kind ?? -1] ?? `kind-${detail?.kind}`;
      const s = gc[name] ?? { count: 0, totalMs: 0, maxMs: 0 };
      gc[name] = s;
      s.count += 1;
      s.totalMs += entry.duration;
      if (entry.duration > s.maxMs) s.maxMs = entry.duration;
    }
  }).observe({ entryTypes: ['gc' as EntryType] });
}
const oldGeneration = gcFromHeap ? new OldGenerationFalls() : undefined;
const sampleOldGeneration = (): void => {
  if (oldGeneration?.sample()) {
    const s = gc['mark-compact'] ?? { count: 0, totalMs: 0, maxMs: 0 };
    gc['mark-compact'] = s;
    s.count += 1;
  }
};

const eld = monitorEventLoopDelay({ resolution: 10 });
eld.enable();

/** The RSS split of bench/proc-status.ts for this process; empty where /proc is missing. */
function rssParts(): Partial<RssParts> {
  try {
    const { rssAnon, rssFile } = parseProcStatusMemory(readFileSync('/proc/self/status', 'utf8'));
    return { rssAnon, rssFile };
  } catch {
    return {};
  }
}

let rssMax = 0;
/** What the largest RSS sample was made of: V8's heap, and memory outside it (ArrayBuffers, Buffers). */
let rssMaxParts: RssMaxParts = { heapTotal: 0, external: 0, arrayBuffers: 0 };
const sampleRss = (mem: NodeJS.MemoryUsage = process.memoryUsage()) => {
  if (mem.rss > rssMax) {
    rssMax = mem.rss;
    rssMaxParts = { heapTotal: mem.heapTotal, external: mem.external, arrayBuffers: mem.arrayBuffers };
  }
};
setInterval(() => {
  sampleRss();
  sampleOldGeneration();
}, 200).unref();

let requests = 0;
/** `handler=review-steps`: per endpoint, milliseconds summed per step and the requests timed. */
const steps = {
  byEndpoint: new Map<string, { totals: Record<string, number>; requests: number }>(),
  add(endpoint: string, times: Record<string, number>): void {
    let e = this.byEndpoint.get(endpoint);
    if (!e) {
      e = { totals: {}, requests: 0 };
      this.byEndpoint.set(endpoint, e);
    }
    if ('parse' in times) e.requests += 1;
    for (const [k, v] of Object.entries(times)) e.totals[k] = (e.totals[k] ?? 0) + v;
  },
};
let window = { cpu: process.cpuUsage(), start: performance.now(), rss: process.memoryUsage.rss() };

export interface RssMaxParts {
  readonly heapTotal: number;
  /** Memory of C++ objects bound to JavaScript ones, ArrayBuffers and Buffers included. */
  readonly external: number;
  readonly arrayBuffers: number;
}

export interface WindowStats {
  readonly wallMs: number;
  readonly cpuUs: number;
  readonly cpuUserUs: number;
  readonly cpuSystemUs: number;
  readonly requests: number;
  readonly rssStart: number;
  readonly rssEnd: number;
  readonly rssMax: number;
  readonly rssMaxParts: RssMaxParts;
  readonly heapUsed: number;
  readonly gc: Record<string, GcStats>;
  /**
   * Where `gc` comes from: a PerformanceObserver (every kind, with durations), or, with
   * `gc=heap`, falls of the old generation's size (mark-compacts only, no durations). Absent in
   * results written before it existed, which are the observer's.
   */
  readonly gcSource?: 'observer' | 'old-generation';
  /** Event-loop delay, ms (resolution 10 ms: the sampler's own period is subtracted by Node). */
  readonly eld: { readonly mean: number; readonly p50: number; readonly p99: number; readonly max: number };
}

function startWindow(): void {
  gc = {};
  oldGeneration?.reset();
  eld.reset();
  requests = 0;
  rssMax = 0;
  sampleRss();
  window = { cpu: process.cpuUsage(), start: performance.now(), rss: rssMax };
}

function endWindow(): WindowStats {
  sampleOldGeneration();
  const cpu = process.cpuUsage(window.cpu);
  const mem = process.memoryUsage();
  sampleRss(mem);
  const ms = (ns: number) => (Number.isFinite(ns) ? ns / 1e6 : 0);
  return {
    wallMs: performance.now() - window.start,
    cpuUs: cpu.user + cpu.system,
    cpuUserUs: cpu.user,
    cpuSystemUs: cpu.system,
    requests,
    rssStart: window.rss,
    rssEnd: mem.rss,
    rssMax,
    rssMaxParts,
    heapUsed: mem.heapUsed,
    gc,
    gcSource: gcFromHeap ? 'old-generation' : 'observer',
    eld: { mean: ms(eld.mean), p50: ms(eld.percentile(50)), p99: ms(eld.percentile(99)), max: ms(eld.max) },
  };
}

// ------------------------------------------------------------------ profiling
const session = new Session();
let profiling = false;
function post<T>(method: string, params?: object): Promise<T> {
  return new Promise((resolve, reject) => {
    session.post(method, params ?? {}, (err, result) => (err ? reject(err) : resolve(result as T)));
  });
}

// ------------------------------------------------------------------ servers
/** Experiment `metrics=off`: a metrics object that records nothing (the registry stays empty). */
function noMetrics() {
  const { Registry } = require('prom-client') as typeof import('prom-client');
  const nothing = () => {};
  return {
    registry: new Registry(),
    observeReview: nothing,
    observeHttpError: nothing,
    observeAborted: nothing,
    observePolicyReload: nothing,
    setPoliciesLoaded: nothing,
    observeCertificateReload: nothing,
    setCertificateExpiry: nothing,
    observeConnectionClosed: nothing,
    setLoadSources: nothing,
  };
}
const cert = readFileSync(certFile, 'utf8');
const key = readFileSync(keyFile, 'utf8');
let server: Server;
let stop: () => Promise<void>;

if (kind === 'baseline') {
  const pad = Number(variant.get('pad') ?? 0);
  const burnUs = Number(variant.get('burn') ?? 0);
  const canned = JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    response: { uid: '11111111-2222-4333-8444-555555555555', allowed: true, ...(pad > 0 ? { warnings: ['x'.repeat(pad)] } : {}) },
  });
  const cannedLength = String(Buffer.byteLength(canned));
  server = createServer({ cert, key }, (req, res) => {
    if (req.method !== 'POST') {
      res.writeHead(404).end();
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (burnUs > 0) {
        const until = performance.now() + burnUs / 1000;
        while (performance.now() < until) {
          // busy: an experiment on how the cost of the answer's write depends on server speed
        }
      }
      let status = 200;
      try {
        JSON.parse((chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)).toString('utf8'));
      } catch {
        status = 400;
      }
      res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': cannedLength });
      res.end(canned);
    });
  });
  if (variant.has('express')) {
    // What the admission endpoints would cost behind express: express.json() and res.json().
    const { default: express } = await import('express');
    const app = express();
    app.use(express.json({ limit: '7mb' }));
    app.use((_req, res) => {
      res.json(JSON.parse(canned));
    });
    server.removeAllListeners('request');
    server.on('request', app);
  }
  server.keepAliveTimeout = 120_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  stop = () => new Promise<void>((resolve) => server.close(() => resolve()).closeAllConnections());
} else {
  // What `tokenguard serve` has loaded in a cluster: the Kubernetes client too (not its caches).
  // What `tokenguard serve` loads with cluster access: the facts modules and the own Kubernetes
  // client (`no-cluster`: as `serve --no-cluster`, without them; `client-node`: the Kubernetes
  // client serve used before src/kube, for comparison).
  if (!variant.has('no-cluster')) {
    await import('../src/facts/informers.js');
    await import('../src/facts/metrics.js');
  }
  if (variant.has('client-node')) await import('@kubernetes/client-node');
  const { startServer } = await import('../src/server/serve.js');
  const { createLogger, turnBatched } = await import('../src/log.js');
  // As serve-command.ts does: the production logger, writing to standard output.
  const { default: pino } = await import('pino');
  const sinks: Record<string, () => { write: (line: string) => void }> = {
    // serve-command.ts's destination: standard output through Node's stream, the lines of one
    // event-loop turn in one write (src/log.ts, turnBatched).
    stdout: () => turnBatched((chunk) => process.stdout.write(chunk), { flushOnExit: true }),
    // One write per line, as serve did before decision 24.
    'per-line': () => ({ write: (line: string) => process.stdout.write(line) }),
    noop: () => ({ write: (_line: string) => {} }),
    // pino's own destination on fd 1: direct writeSync per line, no Node stream in between.
    'sonic-sync': () => pino.destination({ dest: 1, sync: true }),
    // The same, buffered: one write per 4 KiB (lines are lost if the process dies before a flush).
    'sonic-async': () => pino.destination({ dest: 1, sync: false, minLength: 4096 }),
  };
  const sink = (sinks[variant.get('log-sink') ?? 'stdout'] ?? (sinks.stdout as () => { write: (line: string) => void }))();
  const logger = createLogger({ level: variant.get('log') ?? 'info' }, sink);
  const running = await startServer({
    port: 0,
    host: '127.0.0.1',
    tlsCert: certFile,
    tlsKey: keyFile,
    policies: [policiesDir],
    logger,
    shutdownDelayMs: 0,
    shutdownTimeoutMs: 2_000,
    ...(variant.get('metrics') === 'off' ? { metrics: noMetrics() } : {}),
  });
  server = running.server;
  const handler = variant.get('handler');
  if (handler === 'canned' || handler === 'review' || handler === 'review-canned' || handler === 'review-steps') {
    // Experiments, in a plain listener like A's. `canned`: tokenguard's server (options,
    // connection tracking, watchers, metrics registry) answering like A, to tell the server's own
    // cost from the review's. `review` / `review-canned`: tokenguard's review (decode, facts,
    // engine, patch) run and answered with, or A's canned answer sent; no log line, no metrics.
    const canned = JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: '11111111-2222-4333-8444-555555555555', allowed: true } });
    let answer = (_endpoint: 'mutate' | 'validate', _body: unknown): string => canned;
    if (handler !== 'canned') {
      const { handleReview } = await import('../src/admission/review.js');
      const { loadPolicies } = await import('../src/policy/load.js');
      const { noFacts } = await import('../src/facts/types.js');
      const policies = loadPolicies([policiesDir as string]).policies;
      const deps = { policies: () => policies, facts: noFacts };
      answer = (endpoint, body) => {
        const result = handleReview(endpoint, body, deps);
        if (result instanceof Promise || !result.ok) throw new Error('unexpected review result');
        return handler === 'review-canned' ? canned : JSON.stringify(result.outcome.review);
      };
      if (handler === 'review-steps') {
        const { decodeAdmissionReview } = await import('../src/admission/review.js');
        const { evaluate } = await import('../src/engine/evaluate.js');
        const review = answer;
        answer = (endpoint, body) => {
          const t0 = performance.now();
          const decoded = decodeAdmissionReview(body);
          const t1 = performance.now();
          const input = decoded.ok ? decoded.review.input : undefined;
          if (!input) throw new Error('unexpected review result');
          evaluate({ policies, input, facts: {}, phase: endpoint });
          const t2 = performance.now();
          evaluate({ policies, input, facts: {}, phase: endpoint });
          const t3 = performance.now();
          const payload = review(endpoint, body);
          steps.add(endpoint, { decode: t1 - t0, evaluateCold: t2 - t1, evaluateWarm: t3 - t2, reviewAndStringify: performance.now() - t3 });
          return payload;
        };
      }
    }
    server.removeAllListeners('request');
    const timeSteps = handler === 'review-steps';
    if (timeSteps) {
      process.once('exit', () => {
        for (const [endpoint, { totals, requests }] of steps.byEndpoint) {
          const per = (k: string) => `${k} ${((1000 * (totals[k] ?? 0)) / Math.max(1, requests)).toFixed(1)}`;
          const names = ['parse', 'decode', 'evaluateCold', 'evaluateWarm', 'reviewAndStringify'];
          process.stderr.write(`review-steps /${endpoint}, mean µs per request over ${requests} requests: ${names.map(per).join(', ')}\n`);
        }
      });
    }
    server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const endpoint = req.url?.startsWith('/validate') ? 'validate' : 'mutate';
        const t0 = timeSteps ? performance.now() : 0;
        const body: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        if (timeSteps) steps.add(endpoint, { parse: performance.now() - t0 });
        const payload = answer(endpoint, body);
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) });
        res.end(payload);
      });
    });
  }
  stop = async () => {
    running.forceClose();
    await running.close();
  };
}
server.on('request', () => {
  requests += 1;
});
const port = (server.address() as { port: number }).port;

/** The engine alone on the typical pod, in this pinned process (evaluations/s). */
async function engineRate(seconds: number): Promise<Record<string, number>> {
  const { evaluate } = await import('../src/engine/evaluate.js');
  const { decodeAdmissionReview, respond } = await import('../src/admission/review.js');
  const { loadPolicies } = await import('../src/policy/load.js');
  const { benchBodies } = await import('./bodies.js');
  const policies = loadPolicies([policiesDir as string]).policies;
  const body = benchBodies().find((b) => b.id === 'typical')!.body;
  const decoded = decodeAdmissionReview(JSON.parse(body));
  if (!decoded.ok || !decoded.review.input) throw new Error('typical body does not decode');
  const { review } = decoded;
  const input = review.input!;
  const rate = (fn: () => void): number => {
    for (let i = 0; i < 2000; i++) fn();
    let n = 0;
    const start = performance.now();
    const end = start + seconds * 1000;
    let now = start;
    while (now < end) {
      for (let i = 0; i < 200; i++) fn();
      n += 200;
      now = performance.now();
    }
    return n / ((now - start) / 1000);
  };
  return {
    jsonParse: rate(() => JSON.parse(body)),
    evaluateMutate: rate(() => evaluate({ policies, input, facts: {}, phase: 'mutate' })),
    evaluateValidate: rate(() => evaluate({ policies, input, facts: {}, phase: 'validate' })),
    respondMutate: rate(() => respond('mutate', review, policies, {})),
  };
}

serveIpc({
  'window-start': () => startWindow(),
  'window-end': () => endWindow(),
  memory: () => ({ ...process.memoryUsage(), ...rssParts() }),
  'engine-rate': (args) => engineRate(Number(args.seconds ?? 1.5)),
  'profile-start': async (args) => {
    session.connect();
    profiling = true;
    await post('Profiler.enable');
    await post('Profiler.setSamplingInterval', { interval: Number(args.intervalUs ?? 250) });
    await post('Profiler.start');
  },
  'profile-stop': async (args) => {
    if (!profiling) throw new Error('not profiling');
    const { profile } = await post<{ profile: unknown }>('Profiler.stop');
    session.disconnect();
    profiling = false;
    writeFileSync(String(args.file), JSON.stringify(profile));
    return String(args.file);
  },
  stop: async () => {
    await stop();
    setImmediate(() => process.exit(0));
  },
});
process.send?.({ ready: true, port, pid: process.pid, rss: process.memoryUsage.rss(), ...rssParts() });
