/**
 * Graceful shutdown of the server in process: readiness fails first, idle keep-alive
 * connections do not hold the shutdown up, and a request that never completes is cut after
 * the shutdown timeout. (The real process under SIGTERM is in serve-process.test.ts.)
 */
import { Agent, request as httpsRequest } from 'node:https';
import { pod, review } from '../helpers/pods.js';
import { postReview, request, startTestServer } from './helpers.js';

const TIMEOUT = 30_000;

test(
  'close(): readiness fails at once, requests are served during the drain, idle keep-alive sockets do not delay it',
  async () => {
    const s = await startTestServer({ shutdownDelayMs: 1500 });
    const agent = new Agent({ keepAlive: true, ca: s.ca });
    try {
      const before = await postReview({
        port: s.port,
        ca: s.ca,
        agent,
        endpoint: 'mutate',
        review: review(pod({ name: 'a' }), { uid: 'before' }),
      });
      expect(before.status).toBe(200);
      const closing = s.running.close();
      expect(s.running.readiness()).toEqual({ ready: false, reasons: ['shutting down'] });
      const ready = await request({ port: s.port, ca: s.ca, path: '/readyz' });
      expect(ready.status).toBe(503);
      const during = await postReview({
        port: s.port,
        ca: s.ca,
        agent,
        endpoint: 'mutate',
        review: review(pod({ name: 'b' }), { uid: 'during' }),
      });
      expect(during.status).toBe(200);
      expect(during.headers.connection).toBe('close');
      expect(await closing).toEqual({ forcedConnections: 0 });
      expect(s.running.close()).toBe(closing);
      await expect(request({ port: s.port, ca: s.ca, path: '/healthz' })).rejects.toThrow(/ECONNREFUSED/);
    } finally {
      agent.destroy();
    }
  },
  TIMEOUT,
);

test(
  'a request still incomplete after the shutdown timeout is cut, and close() completes',
  async () => {
    const s = await startTestServer({ shutdownDelayMs: 0, shutdownTimeoutMs: 200 });
    const text = JSON.stringify(review(pod({ name: 'slow' }), { uid: 'slow' }));
    const outcome = new Promise<string>((resolve) => {
      const req = httpsRequest(
        {
          host: '127.0.0.1',
          port: s.port,
          path: '/mutate',
          method: 'POST',
          ca: s.ca,
          servername: 'localhost',
          agent: false,
          headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) },
        },
        (res) => resolve(`status ${res.statusCode}`),
      );
      req.on('error', (e: NodeJS.ErrnoException) => resolve(`error ${e.code ?? e.message}`));
      req.write(text.slice(0, 10)); // and never the rest
    });
    // Wait until the server has the request (bounded).
    for (let i = 0; i < 2000 && s.running.app.inFlight() === 0; i++) await new Promise((r) => setTimeout(r, 5));
    expect(s.running.app.inFlight()).toBe(1);
    const report = await s.running.close();
    expect(report.forcedConnections).toBe(1);
    expect(await outcome).toMatch(/^error (ECONNRESET|socket hang up)/);
    expect(s.sink.lines().find((l) => l.phase === 'force')).toMatchObject({ event: 'shutdown', connections: 1 });
  },
  TIMEOUT,
);

test(
  'forceClose() during the drain period ends the shutdown at once',
  async () => {
    const s = await startTestServer({ shutdownDelayMs: 60_000 });
    const closing = s.running.close();
    s.running.forceClose();
    expect(await closing).toEqual({ forcedConnections: 0 });
  },
  TIMEOUT,
);
