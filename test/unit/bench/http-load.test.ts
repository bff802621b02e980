/**
 * The HTTP benchmark's load generator (bench/http-load.ts) as the benchmark runs it: a child
 * process driven over IPC, against a real HTTPS server on loopback. What its figures claim is
 * checked here: latency counted from each request's intended send time (a server stall shows in
 * every request it delayed, not only in the one in flight), failures counted by kind, and the
 * closed loop's counts agreeing with what the server answered.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { FixedResult, SaturateResult } from '../../../bench/http-load.js';
import { IpcClient } from '../../../bench/ipc.js';
import { generateCertificates } from '../../../src/certs/generate.js';
import { REPO } from '../../http/helpers.js';

const TIMEOUT = 60_000;

let child: ChildProcess;
let load: IpcClient;
let tls: { cert: string; key: string };

beforeAll(async () => {
  const certs = await generateCertificates({ service: 'tokenguard', namespace: 'tokenguard-system', ipAddresses: ['127.0.0.1'], keyType: 'ecdsa-p256' });
  tls = { cert: certs.cert, key: certs.key };
  child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'bench', 'http-load.ts')], { cwd: REPO, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the load generator did not start within 30 s')), 30_000);
    child.once('exit', (code, signal) => reject(new Error(`the load generator exited during start-up (${code ?? signal})`)));
    child.on('message', (m: { ready?: boolean }) => {
      if (m.ready === true) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  load = new IpcClient('load', child);
}, TIMEOUT);

afterAll(async () => {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((r) => child.once('exit', r));
    child.disconnect();
    await exited;
  }
}, TIMEOUT);

/** An HTTPS server on 127.0.0.1 whose answer to the n-th request (0-based) `handle` decides. */
async function serve(handle: (n: number, res: import('node:http').ServerResponse) => void): Promise<{ server: Server; port: number; requests: () => number }> {
  let n = 0;
  const server = createServer(tls, (req, res) => {
    const i = n++;
    req.resume();
    req.on('end', () => handle(i, res));
  });
  server.keepAliveTimeout = 120_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port, requests: () => n };
}

function close(server: Server): Promise<void> {
  return new Promise((r) => server.close(() => r()).closeAllConnections());
}

const ok = (res: import('node:http').ServerResponse) => res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');

describe('bench/http-load.ts, the load generator of npm run bench:http', () => {
  it('fixed rate: a 400-ms server stall shows in every request it delayed, timed from the intended send', async () => {
    const STALL_AT = 100;
    const { server, port } = await serve((i, res) => {
      if (i === STALL_AT) {
        const until = performance.now() + 400;
        while (performance.now() < until) {
          // the whole server stalls, as in a long GC pause
        }
      }
      ok(res);
    });
    try {
      // One connection: requests due during the stall wait in the generator for the socket. Timed
      // from when they were actually written they would look fast; from when they were due, not.
      const r = await load.call<FixedResult>('fixed', { port, path: '/mutate', body: '{}', rate: 200, seconds: 2, maxSockets: 1 }, 30_000);
      expect(r.sent).toBe(400);
      expect(r.ok).toBe(400);
      expect(r.failed).toBe(0);
      expect(r.latency.count).toBe(400);
      // ~80 requests were due in the 400 ms: their latencies run from ~400 ms down to ~0.
      expect(r.latency.max).toBeGreaterThan(350);
      expect(r.latency.p90).toBeGreaterThan(100);
      expect(r.latency.p50).toBeLessThan(50);
      // The generator itself kept its schedule: it was the server that was late.
      expect(r.sendLag.p90).toBeLessThan(20);
      expect(r.sendLag.p99).toBeLessThan(r.latency.p99 / 2);
    } finally {
      await close(server);
    }
  }, TIMEOUT);

  it('fixed rate: counts non-2xx answers and dropped connections apart, and every request once', async () => {
    let served200 = 0;
    let served503 = 0;
    let dropped = 0;
    const { server, port, requests } = await serve((i, res) => {
      if (i % 7 === 3) {
        dropped += 1;
        res.socket?.destroy();
      } else if (i % 5 === 1) {
        served503 += 1;
        res.writeHead(503).end();
      } else {
        served200 += 1;
        ok(res);
      }
    });
    try {
      const r = await load.call<FixedResult>('fixed', { port, path: '/mutate', body: '{}', rate: 200, seconds: 1, maxSockets: 1 }, 30_000);
      expect(r.sent).toBe(200);
      expect(requests()).toBe(200);
      expect(r.ok).toBe(served200);
      expect(r.non2xx).toBe(served503);
      expect(r.errors).toBe(dropped);
      expect(r.timedOut).toBe(0);
      expect(r.failed).toBe(served503 + dropped);
      expect(r.ok + (r.failed ?? 0)).toBe(r.sent);
      expect(dropped).toBeGreaterThan(20);
      expect(served503).toBeGreaterThan(20);
    } finally {
      await close(server);
    }
  }, TIMEOUT);

  it('fixed rate: a call of 0 seconds sends nothing and answers at once, not after the 12-s deadline for stragglers', async () => {
    const { server, port, requests } = await serve((_i, res) => ok(res));
    try {
      // The IPC deadline of 5 s is far below the generator's 12-s wait for unanswered requests.
      const r = await load.call<FixedResult>('fixed', { port, path: '/mutate', body: '{}', rate: 1000, seconds: 0 }, 5_000);
      expect([r.sent, r.ok, r.failed, r.timedOut, r.latency.count]).toEqual([0, 0, 0, 0, 0]);
      expect(requests()).toBe(0);
    } finally {
      await close(server);
    }
  }, TIMEOUT);

  it('saturation: the closed loop counts what the server answered, 2xx and not', async () => {
    let served200 = 0;
    let served500 = 0;
    const { server, port } = await serve((i, res) => {
      if (i % 2 === 0) {
        served200 += 1;
        ok(res);
      } else {
        served500 += 1;
        res.writeHead(500).end();
      }
    });
    try {
      const r = await load.call<SaturateResult>('saturate', { port, path: '/mutate', body: '{}', connections: 2, seconds: 1 }, 30_000);
      expect(r.ok).toBeGreaterThan(50);
      expect(r.non2xx).toBeGreaterThan(50);
      // Answers in flight when the time is up are not counted: at most one per connection.
      expect(r.ok).toBeLessThanOrEqual(served200);
      expect(served200 - r.ok).toBeLessThanOrEqual(2);
      expect(served500 - r.non2xx).toBeLessThanOrEqual(2);
      expect(r.errors).toBe(0);
      expect(r.rps).toBeCloseTo(r.ok / r.seconds, 6);
    } finally {
      await close(server);
    }
  }, TIMEOUT);
});
