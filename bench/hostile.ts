/**
 * Hostile clients against one `tokenguard serve` process started as the image and the
 * Deployment start it (bench/processes.ts), while a legitimate pod review is sent every
 * 100 ms over a kept-alive connection, as the API server would (from a worker thread, so that
 * the hostile clients' own work does not delay it). Each scenario gets a fresh process:
 *
 * - `flood`, `flood-at-limit`, `env-list`, `labels`: 8 connections at a time POST, 2 rounds: a
 *   7 MiB body of `[{},{},…]`; the same cut to the server's byte limit (`MAX_BODY_BYTES` of the
 *   build) less one byte; a valid pod review with an env list, and one with as many distinct
 *   labels, of about as many JSON values as the build accepts (`MAX_JSON_VALUES`; 131,072 where
 *   the build has none).
 * - `held`: 36 connections each declare a body of exactly the server's limit (`MAX_BODY_BYTES`
 *   of the build) and send all of it but the last byte; held 5 s.
 * - `idle`: 2,000 connections complete the TLS handshake and send nothing, 200 more never
 *   start it; after 15 s, how many the server has closed.
 *
 * Reported for each: whether the process survived, what the hostile requests got, the
 * legitimate reviews (answered with a correct AdmissionReview / sent; latency p50 and max), the
 * peak RSS (the kernel's VmHWM, or the largest VmRSS sampled every 20 ms if the process died),
 * and the event loop's largest delay as the server measures it (`nodejs_eventloop_lag_max_seconds`).
 *
 *   npx tsx bench/hostile.ts [--ref <commit>] [flood] [held] [idle]
 *
 * `--ref` builds the server from that commit's src/ (the figures before a change); by default
 * the working tree's. Linux only (/proc). docs/reliability.md quotes the figures.
 */
import { readFileSync, rmSync } from 'node:fs';
import { type Agent, request } from 'node:https';
import { connect as netConnect, type Socket } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { Worker } from 'node:worker_threads';
import { pod, review } from '../test/helpers/pods.js';
import { build, type Proc, procStatus, serveCommand, shipped, startProcess } from './processes.js';

const MiB = 1024 * 1024;
const args = process.argv.slice(2);
const refAt = args.indexOf('--ref');
const ref = refAt === -1 ? undefined : args.splice(refAt, 2)[1];
const scenarios = args.length > 0 ? args : ['flood', 'flood-at-limit', 'env-list', 'labels', 'held', 'idle'];

/** The server, with its peak RSS: the kernel's VmHWM, or the largest VmRSS sampled every 20 ms once it died. */
async function startServer(dir: string): Promise<Proc & { peakRss(): number }> {
  const { argv, env } = serveCommand(dir);
  const proc = await startProcess(argv, { env });
  let sampled = 0;
  const sampler = setInterval(() => {
    sampled = Math.max(sampled, procStatus(proc.pid, 'VmRSS') || 0);
  }, 20);
  proc.child.once('exit', () => clearInterval(sampler));
  return Object.assign(proc, { peakRss: () => Math.max(sampled, procStatus(proc.pid, 'VmHWM') || 0) });
}

/** One HTTPS request; resolves with `status N` or `error CODE`, and the milliseconds it took. */
function send(
  port: number,
  ca: string,
  o: { path: string; body?: Buffer; agent?: Agent; headers?: Record<string, string | number> },
) {
  const started = performance.now();
  return new Promise<{ outcome: string; body: string; ms: number }>((resolve) => {
    const done = (outcome: string, body = '') => resolve({ outcome, body, ms: performance.now() - started });
    const req = request({
      host: '127.0.0.1',
      port,
      path: o.path,
      method: o.body ? 'POST' : 'GET',
      ca,
      servername: 'localhost',
      agent: o.agent ?? false,
      timeout: 10_000,
      headers: o.headers,
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => done(`status ${res.statusCode}`, Buffer.concat(chunks).toString()));
      res.on('error', () => done(`status ${res.statusCode}, then reset`));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.on('error', (e: NodeJS.ErrnoException) => done(`error ${e.code ?? e.message}`));
    req.end(o.body);
  });
}

/**
 * Sends a legitimate review every 100 ms from a worker thread until stopped; counts the answers
 * that are a correct AdmissionReview (status 200, the request's uid, `allowed` a boolean).
 */
function legitimateTraffic(port: number, ca: string) {
  const worker = new Worker(
    `const { request, Agent } = require('node:https');
    const { port, ca, body } = require('node:worker_threads').workerData;
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const latencies = []; let sent = 0, correct = 0, stopped = false;
    require('node:worker_threads').parentPort.on('message', () => { stopped = true; });
    const once = (uid) => new Promise((resolve) => {
      const started = performance.now();
      const req = request({ host: '127.0.0.1', port, path: '/validate?timeout=5s', method: 'POST', ca, servername: 'localhost', agent, timeout: 10000, headers: { 'Content-Type': 'application/json' } });
      const done = (ok) => { latencies.push(performance.now() - started); if (ok) correct++; resolve(); };
      req.on('response', (res) => { const c = []; res.on('data', (d) => c.push(d)); res.on('end', () => {
        try { const r = JSON.parse(Buffer.concat(c)).response; done(res.statusCode === 200 && r.uid === uid && typeof r.allowed === 'boolean'); } catch { done(false); } }); });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', () => done(false));
      req.end(body.replaceAll('LEGIT-UID', uid));
    });
    (async () => {
      while (!stopped) { await once('legit-' + sent++); await new Promise((r) => setTimeout(r, 100)); }
      agent.destroy();
      require('node:worker_threads').parentPort.postMessage({ latencies, sent, correct });
    })();`,
    {
      eval: true,
      workerData: { port, ca, body: JSON.stringify(review(pod({ name: 'legit' }), { uid: 'LEGIT-UID' })) },
    },
  );
  return async () => {
    const result = new Promise<{ latencies: number[]; sent: number; correct: number }>((resolve) =>
      worker.once('message', resolve),
    );
    worker.postMessage('stop');
    const { latencies, sent, correct } = await result;
    await worker.terminate();
    latencies.sort((a, b) => a - b);
    const ms = (v: number | undefined) => Math.round(v ?? 0);
    return `${correct}/${sent} answered correctly, p50 ${ms(latencies[Math.floor(latencies.length / 2)])} ms, max ${ms(latencies.at(-1))} ms`;
  };
}

/** The server's own largest event-loop delay since the previous scrape, in ms. */
async function eventLoopMax(port: number, ca: string): Promise<string> {
  const r = await send(port, ca, { path: '/metrics' });
  const m = /^nodejs_eventloop_lag_max_seconds (\S+)$/m.exec(r.body);
  return m ? `${Math.round(Number(m[1]) * 1000)} ms` : `n/a (${r.outcome})`;
}

const tally = (outcomes: string[]) => {
  const counts = new Map<string, number>();
  for (const o of outcomes) counts.set(o, (counts.get(o) ?? 0) + 1);
  return [...counts].map(([o, n]) => `${n}× ${o}`).join(', ');
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `[{},{},…]` of exactly `size` bytes. */
const emptyObjects = (size: number) => Buffer.from(`[${'{},'.repeat(Math.floor((size - 4) / 3))}{}]`.padEnd(size, ' '));

/** A valid pod review holding `values` JSON values (counted as the server counts them), most in one env list. */
function manyValues(values: number): Buffer {
  const base = review(pod({ name: 'big' }), { uid: 'big' });
  const count = (t: string) => (t.replace(/"(?:[^"\\]|\\.)*"/g, '').match(/[{[,]/g) ?? []).length;
  const entries = Math.floor((values - count(JSON.stringify(base)) - 1) / 3);
  const container = (base.request as { object: { spec: { containers: Record<string, unknown>[] } } }).object.spec
    .containers[0] as Record<string, unknown>;
  container.env = Array.from({ length: entries }, (_, i) => ({ name: `V${i}`, value: 'x' }));
  return Buffer.from(JSON.stringify(base));
}

/** A valid pod review of `labels` distinct labels. */
function manyLabels(labels: number): Buffer {
  const base = review(pod({ name: 'labels' }), { uid: 'labels' });
  (base.request as { object: { metadata: Record<string, unknown> } }).object.metadata.labels = Object.fromEntries(
    Array.from({ length: labels }, (_, i) => [`k${i.toString(36)}`, '']),
  );
  return Buffer.from(JSON.stringify(base));
}

/** The body each flood scenario sends. */
function floodBody(name: string, limit: number, values: number): [string, Buffer] {
  if (name === 'flood') return ['7 MiB of [{},…]', emptyObjects(7 * MiB)];
  if (name === 'flood-at-limit') return [`${limit - 1} bytes of [{},…]`, emptyObjects(limit - 1)];
  if (name === 'env-list') return [`a ${values}-value env list`, manyValues(values)];
  return [`${values - 1000} labels`, manyLabels(values - 1000)];
}

async function flood(port: number, ca: string, kind: [string, Buffer]): Promise<string> {
  const lines: string[] = [];
  for (const [name, body] of [kind]) {
    const outcomes: string[] = [];
    for (let round = 0; round < 2; round++) {
      const rs = await Promise.all(
        Array.from({ length: 8 }, () =>
          send(port, ca, { path: '/validate', body, headers: { 'Content-Type': 'application/json' } }),
        ),
      );
      outcomes.push(...rs.map((r) => r.outcome));
    }
    lines.push(`${name} (${(body.length / MiB).toFixed(2)} MiB): ${tally(outcomes)}`);
  }
  return lines.join('; ');
}

async function held(port: number, ca: string, limit: number): Promise<string> {
  const chunk = Buffer.alloc(MiB, ' ');
  const outcomes: string[] = [];
  const reqs = Array.from({ length: 36 }, () => {
    const req = request({
      host: '127.0.0.1',
      port,
      path: '/validate',
      method: 'POST',
      ca,
      servername: 'localhost',
      agent: false,
      headers: { 'Content-Type': 'application/json', 'Content-Length': limit },
    });
    const settled = new Promise<void>((resolve) => {
      req.on('response', (res) => {
        outcomes.push(`status ${res.statusCode}`);
        res.resume();
        resolve();
      });
      req.on('error', (e: NodeJS.ErrnoException) => {
        outcomes.push(`error ${e.code ?? e.message}`);
        resolve();
      });
    });
    const written = (async () => {
      for (let left = limit - 1; left > 0 && !req.destroyed; left -= chunk.length) {
        if (!req.write(left >= chunk.length ? chunk : chunk.subarray(0, left)))
          await new Promise((r) => req.once('drain', r).once('close', r));
      }
    })();
    return { req, settled: Promise.race([settled, written.then(() => sleep(1000))]) };
  });
  await Promise.all(reqs.map((r) => r.settled));
  await sleep(5000);
  const answered = outcomes.length;
  for (const r of reqs) r.req.destroy();
  return `${tally(outcomes) || 'no answers'}; ${36 - answered} held to the end`;
}

async function idle(port: number, ca: string): Promise<string> {
  const sockets: { socket: Socket; tls: boolean; closed: boolean; established: boolean }[] = [];
  const open = (tls: boolean) =>
    new Promise<void>((resolve) => {
      const socket = tls
        ? tlsConnect({ host: '127.0.0.1', port, ca, servername: 'localhost' })
        : netConnect({ host: '127.0.0.1', port });
      const entry = { socket, tls, closed: false, established: false };
      sockets.push(entry);
      socket.once(tls ? 'secureConnect' : 'connect', () => {
        entry.established = true;
        setTimeout(resolve, tls ? 0 : 20); // a connection the server drops on accept closes at once
      });
      socket.on('error', () => resolve());
      socket.once('close', () => {
        entry.closed = true;
        resolve();
      });
    });
  for (let i = 0; i < 2000; i += 100) await Promise.all(Array.from({ length: 100 }, () => open(true)));
  await Promise.all(Array.from({ length: 200 }, () => open(false)));
  const at = (tls: boolean, f: (s: (typeof sockets)[number]) => boolean) =>
    sockets.filter((s) => s.tls === tls && f(s)).length;
  const openAtStart = { tls: at(true, (s) => s.established && !s.closed), tcp: at(false, (s) => !s.closed) };
  await sleep(15_000);
  const stillOpen = { tls: at(true, (s) => !s.closed), tcp: at(false, (s) => !s.closed) };
  for (const s of sockets) s.socket.destroy();
  return `handshaken and kept ${openAtStart.tls}/2000, TCP-only kept ${openAtStart.tcp}/200 (the rest closed on accept); still open after 15 s: ${stillOpen.tls} + ${stillOpen.tcp}`;
}

const dir = await build(ref);
const limit = ((await import(join(dir, 'dist', 'server', 'app.js'))) as { MAX_BODY_BYTES: number }).MAX_BODY_BYTES;
const values =
  ((await import(join(dir, 'dist', 'server', 'limits.js')).catch(() => ({}))) as { MAX_JSON_VALUES?: number })
    .MAX_JSON_VALUES ?? 131_072;
const ca = readFileSync(join(dir, 'certs', 'ca.crt'), 'utf8');
console.log(
  `tokenguard from ${ref ?? 'the working tree'}, body limit ${limit} bytes, started as ${shipped.nodeOptions}; Node ${process.version}`,
);
try {
  for (const name of scenarios) {
    const server = await startServer(dir);
    await eventLoopMax(server.port, ca); // resets the server's histogram
    const stopLegit = legitimateTraffic(server.port, ca);
    let hostile: string;
    if (['flood', 'flood-at-limit', 'env-list', 'labels'].includes(name))
      hostile = await flood(server.port, ca, floodBody(name, limit, values));
    else if (name === 'held') hostile = await held(server.port, ca, limit);
    else if (name === 'idle') hostile = await idle(server.port, ca);
    else throw new Error(`unknown scenario ${name}`);
    await sleep(500);
    const legit = await stopLegit();
    const eld = server.exited ? 'n/a' : await eventLoopMax(server.port, ca);
    const alive = server.exited
      ? `died (${server.exited.signal ?? `exit ${server.exited.code}`}: ${/(FATAL ERROR[^\n]*|JavaScript heap out of memory)/.exec(server.stderr())?.[0] ?? server.stderr().slice(-200)})`
      : 'alive';
    console.log(
      `\n${name}: process ${alive}\n  hostile: ${hostile}\n  legitimate: ${legit}\n  peak RSS ${(server.peakRss() / MiB).toFixed(0)} MiB, event loop max delay ${eld}`,
    );
    await server.stop();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
