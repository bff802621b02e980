/**
 * The connection limits of limits.ts, on the real server with shortened timeouts: a connection
 * silent after its handshake, or one that never starts it, is closed by the server and counted;
 * past the connection cap new connections are closed as they are accepted; connections that
 * are used are left alone. test/http/hostile-process.test.ts checks the shipped values.
 */
import { once } from 'node:events';
import { Agent } from 'node:https';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { FIRST_REQUEST_TIMEOUT_MS, HANDSHAKE_TIMEOUT_MS, MAX_CONNECTIONS } from '../../src/server/limits.js';
import { pod, review } from '../helpers/pods.js';
import { postReview, request, startTestServer, type TestServer } from './helpers.js';

const TIMEOUT = 60_000;
const SHORT_MS = 300;

let s: TestServer;
beforeAll(async () => {
  s = await startTestServer({ handshakeTimeoutMs: SHORT_MS, firstRequestTimeoutMs: SHORT_MS, maxConnections: 8 });
}, TIMEOUT);
afterAll(() => s.close());

const closedCount = async (reason: string): Promise<number> => {
  const m = await request({ port: s.port, ca: s.ca, path: '/metrics' });
  const hit = new RegExp(`^tokenguard_connections_closed_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(m.body);
  if (!hit) throw new Error(`tokenguard_connections_closed_total{reason="${reason}"} not exposed`);
  return Number(hit[1]);
};

/** Resolves when the server closes `socket` (the client never does). */
const closedByServer = (socket: Socket) => new Promise<void>((resolve) => socket.once('close', () => resolve()));

test('the shipped values', () => {
  expect({ MAX_CONNECTIONS, HANDSHAKE_TIMEOUT_MS, FIRST_REQUEST_TIMEOUT_MS }).toEqual({
    MAX_CONNECTIONS: 1000,
    HANDSHAKE_TIMEOUT_MS: 10_000,
    FIRST_REQUEST_TIMEOUT_MS: 10_000,
  });
});

test(
  'a connection that completes the handshake and sends nothing is closed by the server, and counted as idle',
  async () => {
    const before = await closedCount('idle');
    const socket = tlsConnect({ host: '127.0.0.1', port: s.port, ca: s.ca, servername: 'localhost' });
    socket.on('error', () => {});
    await once(socket, 'secureConnect');
    await closedByServer(socket);
    expect(await closedCount('idle')).toBe(before + 1);
  },
  TIMEOUT,
);

test(
  'a TCP connection that never starts the TLS handshake is closed by the server, and counted',
  async () => {
    const before = await closedCount('handshake-timeout');
    const socket = netConnect({ host: '127.0.0.1', port: s.port });
    socket.on('error', () => {});
    await once(socket, 'connect');
    await closedByServer(socket);
    expect(await closedCount('handshake-timeout')).toBe(before + 1);
  },
  TIMEOUT,
);

test(
  'a kept-alive connection that has served a request outlives the first-request timeout and serves the next',
  async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: s.ca });
    try {
      const body = review(pod({ name: 'kept' }), { uid: 'kept' });
      const first = await postReview({ port: s.port, ca: s.ca, agent, endpoint: 'validate', review: body });
      await new Promise((r) => setTimeout(r, 3 * SHORT_MS));
      const second = await postReview({ port: s.port, ca: s.ca, agent, endpoint: 'validate', review: body });
      expect([first.status, second.status]).toEqual([200, 200]);
      expect(second.localPort).toBe(first.localPort);
    } finally {
      agent.destroy();
    }
  },
  TIMEOUT,
);

test(
  'past the connection cap a new connection is closed on accept and counted; once one closes, a new one is served',
  async () => {
    const before = await closedCount('limit');
    // Hold every place with a request whose body is on its way (so that no idle timeout
    // closes it meanwhile; requestTimeout is 30 s).
    const holders: Socket[] = [];
    for (let i = 0; i < 8; i++) {
      const h = tlsConnect({ host: '127.0.0.1', port: s.port, ca: s.ca, servername: 'localhost' });
      h.on('error', () => {});
      await once(h, 'secureConnect');
      const arrived = once(s.running.server, 'request');
      h.write(
        'POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{',
      );
      await arrived;
      holders.push(h);
    }
    const refused = tlsConnect({ host: '127.0.0.1', port: s.port, ca: s.ca, servername: 'localhost' });
    const outcome = await new Promise<string>((resolve) => {
      refused.once('secureConnect', () => resolve('served'));
      refused.once('error', (e: NodeJS.ErrnoException) => resolve(`closed (${e.code})`));
      refused.once('close', () => resolve('closed'));
    });
    expect(outcome).toMatch(/^closed/);
    expect(s.running.server.maxConnections).toBe(8);
    // The metrics scrape needs a connection of its own: free one place first.
    const freed = holders.pop() as Socket;
    freed.destroy();
    await once(freed, 'close');
    let count = await closedCount('limit').catch(() => -1);
    while (count === -1) count = await closedCount('limit').catch(() => -1); // until the server has seen the close
    expect(count).toBe(before + 1);
    for (const h of holders) h.destroy();
  },
  TIMEOUT,
);
