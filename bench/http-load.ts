/**
 * The load generator of the HTTP benchmark, one process pinned to the other core, driven by
 * bench/http.ts over IPC. Two kinds of load:
 *
 * - `saturate`: closed loop, N keep-alive connections each sending its next request as soon as
 *   the previous answer arrived (autocannon's programmatic API). Gives throughput.
 * - `fixed`: open loop at a fixed rate. Request i is due at t0 + i/rate whatever happened to
 *   the earlier ones, and its latency is measured from that *intended* time, not from when it
 *   was actually sent: a server stall then shows as the latency of every request it delayed,
 *   instead of silently lowering the rate (coordinated omission; `autocannon -R` bursts and
 *   measures from the actual send). node:https with a keep-alive Agent, as the API server
 *   keeps its connections. The scheduler spins on setImmediate for sub-millisecond precision
 *   (this core belongs to the generator); how late sends leave is reported as `sendLag`.
 *   Requests that got no 2xx answer are counted by kind (`non2xx`, `errors`, `timedOut`); with
 *   `histogram: true` the latencies also come back as a histogram (bench/histogram.ts), which the
 *   parent merges over the slices of a soak into whole-run percentiles.
 */
import { Agent, request } from 'node:https';
import autocannon from 'autocannon';
import { histogramOf, type LatencyHistogram } from './histogram.js';
import { serveIpc } from './ipc.js';
import { type Percentiles, percentiles } from './percentiles.js';

export type { Percentiles } from './percentiles.js';

export interface SaturateResult {
  readonly ok: number;
  readonly non2xx: number;
  /** Connection errors, timeouts not included (results recorded before this may include them). */
  readonly errors: number;
  readonly timeouts: number;
  readonly seconds: number;
  readonly rps: number;
  readonly latencyMs: { readonly mean: number; readonly p50: number; readonly p99: number; readonly max: number };
  /** Share of its core the generator used: near 1 means the generator, not the server, was the limit. */
  readonly loadCpuShare: number;
}

async function saturate(args: Record<string, unknown>): Promise<SaturateResult> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const r = await autocannon({
    url: `https://127.0.0.1:${Number(args.port)}${String(args.path)}`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: String(args.body),
    connections: Number(args.connections),
    duration: Number(args.seconds),
    pipelining: 1,
    timeout: 10,
  });
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const seconds = r.duration;
  return {
    ok: r['2xx'],
    non2xx: r.non2xx,
    // autocannon counts a timeout in `errors` too ("connection errors (including timeouts)").
    errors: r.errors - r.timeouts,
    timeouts: r.timeouts,
    seconds,
    rps: r['2xx'] / seconds,
    latencyMs: { mean: r.latency.average, p50: r.latency.p50, p99: r.latency.p99, max: r.latency.max },
    loadCpuShare: (cpu.user + cpu.system) / 1000 / wall,
  };
}

export interface FixedResult {
  readonly rate: number;
  readonly seconds: number;
  readonly sent: number;
  /** Answered with a 2xx status. */
  readonly ok: number;
  /** Not `ok` by the deadline of the call: non2xx + errors + the timed out ones among those that finished. */
  readonly failed: number;
  /** Timed out: no answer within the request timeout (10 s), or none yet when the call's deadline came. */
  readonly timedOut: number;
  /** Answered with a status outside 2xx. Missing in results recorded before it was counted. */
  readonly non2xx?: number;
  /** Connection or request errors (not timeouts). Missing in results recorded before it was counted. */
  readonly errors?: number;
  /** Response time from the intended send time, ms (failures count as their time to fail). */
  readonly latency: Percentiles;
  /** How late requests left the generator compared with their intended time, ms. */
  readonly sendLag: Percentiles;
  readonly loadCpuShare: number;
  /** The latencies as a histogram, when the call asked for it (`histogram: true`). */
  readonly histogram?: LatencyHistogram;
}

const agents = new Map<number, Agent>();
/** One keep-alive agent per port, kept across calls, so a warm-up call leaves warm connections. */
function agentFor(port: number, maxSockets: number): Agent {
  let a = agents.get(port);
  if (!a) {
    a = new Agent({ keepAlive: true, maxSockets, rejectUnauthorized: false, scheduling: 'lifo' });
    agents.set(port, a);
  }
  return a;
}

const REQUEST_TIMEOUT_MS = 10_000;
type Outcome = 'ok' | 'non2xx' | 'error' | 'timeout';

function fixed(args: Record<string, unknown>): Promise<FixedResult> {
  const port = Number(args.port);
  const rate = Number(args.rate);
  const seconds = Number(args.seconds);
  const path = String(args.path);
  const body = Buffer.from(String(args.body));
  const agent = agentFor(port, Number(args.maxSockets ?? 64));
  const total = Math.round(rate * seconds);
  const periodMs = 1000 / rate;
  const latency = new Float64Array(total);
  const lag = new Float64Array(total);
  let sent = 0;
  let finished = 0;
  let ok = 0;
  let failed = 0;
  let timedOut = 0;
  let non2xx = 0;
  let errors = 0;
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  const t0 = wall0 + 5;

  return new Promise((resolve) => {
    let done = false;
    let deadline: NodeJS.Timeout | undefined;
    const finish = () => {
      if (done) return;
      done = true;
      if (deadline) clearTimeout(deadline);
      // Requests still unanswered at the deadline count as timed out, at the deadline.
      for (let i = 0; i < sent; i++) if (latency[i] === 0) latency[i] = performance.now() - (t0 + i * periodMs);
      const cpu = process.cpuUsage(cpu0);
      resolve({
        rate,
        seconds,
        sent,
        ok,
        failed,
        timedOut: timedOut + (sent - finished),
        non2xx,
        errors,
        latency: percentiles(latency.subarray(0, sent)),
        sendLag: percentiles(lag.subarray(0, sent)),
        loadCpuShare: (cpu.user + cpu.system) / 1000 / (performance.now() - wall0),
        // After loadCpuShare: building the histogram is not part of the load.
        ...(args.histogram === true ? { histogram: histogramOf(latency.subarray(0, sent)) } : {}),
      });
    };
    const record = (i: number, intended: number, outcome: Outcome) => {
      latency[i] = Math.max(performance.now() - intended, Number.MIN_VALUE);
      finished += 1;
      if (outcome === 'ok') ok += 1;
      else failed += 1;
      if (outcome === 'non2xx') non2xx += 1;
      else if (outcome === 'error') errors += 1;
      else if (outcome === 'timeout') timedOut += 1;
      if (finished === total) finish();
    };
    const send = (i: number, intended: number) => {
      lag[i] = performance.now() - intended;
      let settled = false;
      const settle = (outcome: Outcome) => {
        if (settled) return;
        settled = true;
        record(i, intended, outcome);
      };
      const req = request(
        { agent, host: '127.0.0.1', port, path, method: 'POST', headers: { 'Content-Type': 'application/json', 'Content-Length': body.length } },
        (res) => {
          res.on('data', () => {});
          res.on('end', () => settle(res.statusCode !== undefined && res.statusCode >= 200 && res.statusCode < 300 ? 'ok' : 'non2xx'));
          res.on('error', () => settle('error'));
        },
      );
      req.setTimeout(REQUEST_TIMEOUT_MS, () => {
        settle('timeout');
        req.destroy();
      });
      req.on('error', () => settle('error'));
      req.end(body);
    };
    const tick = () => {
      if (done) return;
      const now = performance.now();
      while (sent < total && t0 + sent * periodMs <= now) {
        send(sent, t0 + sent * periodMs);
        sent += 1;
      }
      if (sent < total) setImmediate(tick);
      // Every request already answered (none at all for a call of 0 seconds): done now.
      else if (finished === total) finish();
      else deadline = setTimeout(finish, REQUEST_TIMEOUT_MS + 2_000);
    };
    setImmediate(tick);
  });
}

export interface FreshResult {
  readonly ok: number;
  readonly failed: number;
  readonly seconds: number;
  /** Request latency, new TLS connection included, ms. */
  readonly latency: Percentiles;
  readonly loadCpuShare: number;
}

/**
 * Closed loop without keep-alive: every request opens a new TLS connection (full handshake, no
 * session resumption), as a client does after its idle connection was closed. `concurrency`
 * requests in flight; runs for `seconds`.
 */
function fresh(args: Record<string, unknown>): Promise<FreshResult> {
  const port = Number(args.port);
  const path = String(args.path);
  const body = Buffer.from(String(args.body));
  const concurrency = Number(args.concurrency ?? 4);
  const seconds = Number(args.seconds);
  const latencies: number[] = [];
  let ok = 0;
  let failed = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  const one = () =>
    new Promise<void>((resolve) => {
      const start = performance.now();
      const req = request(
        { agent: false, host: '127.0.0.1', port, path, method: 'POST', rejectUnauthorized: false, headers: { 'Content-Type': 'application/json', 'Content-Length': body.length, Connection: 'close' } },
        (res) => {
          res.on('data', () => {});
          res.on('end', () => {
            if (res.statusCode === 200) ok += 1;
            else failed += 1;
            latencies.push(performance.now() - start);
            resolve();
          });
        },
      );
      req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error('timeout')));
      req.on('error', () => {
        failed += 1;
        resolve();
      });
      req.end(body);
    });
  const worker = async () => {
    while (performance.now() < end) await one();
  };
  return Promise.all(Array.from({ length: concurrency }, worker)).then(() => {
    const wall = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    return { ok, failed, seconds: wall / 1000, latency: percentiles(Float64Array.from(latencies)), loadCpuShare: (cpu.user + cpu.system) / 1000 / wall };
  });
}

serveIpc({
  saturate,
  fixed,
  fresh,
  close: () => {
    for (const a of agents.values()) a.destroy();
    agents.clear();
  },
});
process.send?.({ ready: true, pid: process.pid });
