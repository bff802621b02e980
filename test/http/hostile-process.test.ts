/**
 * One replica under the attacks a red team ran against `tokenguard serve`: the built CLI as a
 * process, started with the image's Node flags and the Deployment's NODE_OPTIONS
 * (test/helpers/image-start.ts), shipped policies. Each attack must leave the process alive, keep
 * answering a legitimate review sent meanwhile with a correct AdmissionReview, refuse what it
 * must with its status and close those connections, and keep the peak resident set (the
 * kernel's VmHWM for the process) below 7/8 of the Deployment's memory limit. Where this
 * machine lets the test make memory cgroups, each process also runs inside one with the
 * Deployment's limit, as in a container: an OOM kill there fails the test as a death.
 * docs/reliability.md describes the limits; bench/hostile.ts measures the same attacks.
 */
import { rmSync } from 'node:fs';
import { Agent } from 'node:https';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { imageStart } from '../helpers/image-start.js';
import { canCreateMemoryCgroup, createMemoryCgroup } from '../helpers/memory-cgroup.js';
import type { JsonObject } from '../../src/json.js';
import { MAX_CONNECTIONS } from '../../src/server/limits.js';
import { pod, review } from '../helpers/pods.js';
import { postHead, postReview, REPO, rawExchange, request, SHIPPED_POLICIES } from './helpers.js';
import { type BuiltCli, buildCli, folderWithCertificates, type Proc, peakRss } from './process.js';

const TIMEOUT = 240_000;
const MiB = 1024 * 1024;
const shipped = imageStart(REPO);
const RSS_BOUND = 0.875 * shipped.memoryLimitBytes;
let replicas = 0;

let build: BuiltCli;
beforeAll(() => {
  build = buildCli();
}, TIMEOUT);
afterAll(() => build.remove());

interface Replica {
  readonly p: Proc;
  readonly port: number;
  readonly ca: string;
  stop(): Promise<void>;
}

async function startReplica(): Promise<Replica> {
  const { dir, certs } = await folderWithCertificates('tokenguard-http-hostile-');
  const cgroup = canCreateMemoryCgroup()
    ? createMemoryCgroup(`tokenguard-hostile-${process.pid}-${replicas++}`, shipped.memoryLimitBytes)
    : undefined;
  const p = build.start(
    [
      '--port',
      '0',
      '--host',
      '127.0.0.1',
      '--tls-cert',
      'tls.crt',
      '--tls-key',
      'tls.key',
      '--policies',
      SHIPPED_POLICIES,
      '--no-cluster',
      '--shutdown-delay',
      '0s',
    ],
    dir,
    { nodeFlags: shipped.nodeFlags, env: { NODE_OPTIONS: shipped.nodeOptions }, ...(cgroup ? { cgroup } : {}) },
  );
  const port = (await p.waitForLog((l) => l.event === 'listening')).port as number;
  return {
    p,
    port,
    ca: certs.caCert,
    stop: async () => {
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
      await p.exited;
      rmSync(dir, { recursive: true, force: true });
      cgroup?.remove();
    },
  };
}

/**
 * Sends legitimate pod reviews one after another over a kept-alive connection (opened before
 * the attack, as the API server's are) until `stop()`; resolves with the answers that were not a
 * correct AdmissionReview, and how many were sent.
 */
function legitimateReviews(r: Replica) {
  const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: r.ca });
  let stopped = false;
  let sent = 0;
  const wrong: string[] = [];
  const one = async () => {
    const uid = `legit-${sent++}`;
    try {
      const a = await postReview({
        port: r.port,
        ca: r.ca,
        agent,
        endpoint: 'validate',
        review: review(pod({ name: uid }), { uid }),
        query: '?timeout=5s',
      });
      const response = (JSON.parse(a.body) as { response?: { uid?: string; allowed?: unknown } }).response;
      if (a.status !== 200 || response?.uid !== uid || typeof response.allowed !== 'boolean')
        wrong.push(`${uid}: ${a.status} ${a.body.slice(0, 200)}`);
    } catch (e) {
      wrong.push(`${uid}: ${(e as Error).message}`);
    }
  };
  const ready = one(); // the connection exists before the attack starts
  const loop = ready.then(async () => {
    while (!stopped) await one();
  });
  return {
    ready,
    stop: async () => {
      stopped = true;
      await loop;
      agent.destroy();
      return { sent, wrong };
    },
  };
}

/** After an attack: the process is alive and healthy, and its peak RSS is below the bound. */
async function expectUnharmed(r: Replica) {
  expect({ exitCode: r.p.child.exitCode, signal: r.p.child.signalCode, stderr: r.p.stderr() }).toEqual({
    exitCode: null,
    signal: null,
    stderr: '',
  });
  expect((await request({ port: r.port, ca: r.ca, path: '/healthz' })).status).toBe(200);
  const peak = peakRss(r.p.child.pid as number);
  if (peak !== undefined) expect(peak).toBeLessThan(RSS_BOUND);
}

const post = (r: Replica, body: Buffer, declared = body.length) =>
  rawExchange({
    port: r.port,
    ca: r.ca,
    head: postHead('/validate', { 'Content-Type': 'application/json', 'Content-Length': declared }),
    body,
  });

/** `[{},{},…]`, exactly `size` bytes. */
const emptyObjects = (size: number) => Buffer.from(`[${'{},'.repeat(Math.floor((size - 4) / 3))}{}]`.padEnd(size, ' '));

/** Resolves when `s` closes, whatever error came first (events.once would reject on 'error'). */
const closing = (s: Socket) => new Promise<void>((resolve) => s.once('close', () => resolve()));

const tally = (statuses: number[]) => {
  const t: Record<number, number> = {};
  for (const s of statuses) t[s] = (t[s] ?? 0) + 1;
  return t;
};

test(
  'eight concurrent 7 MiB bodies of [{},{},…], twice: each is 413 at once and its connection closed by the server',
  async () => {
    const r = await startReplica();
    try {
      const legit = legitimateReviews(r);
      await legit.ready;
      const body = emptyObjects(7 * MiB);
      for (let round = 0; round < 2; round++) {
        const answers = await Promise.all(Array.from({ length: 8 }, () => post(r, body)));
        expect(answers.map((a) => [a.status, a.headers.connection, a.body])).toEqual(
          Array(8).fill([413, 'close', '{"error":"request body exceeds 3145728 bytes"}']),
        );
      }
      const { sent, wrong } = await legit.stop();
      expect(wrong).toEqual([]);
      expect(sent).toBeGreaterThan(1);
      await expectUnharmed(r);
    } finally {
      await r.stop();
    }
  },
  TIMEOUT,
);

test(
  'bodies at the limits, 8 at a time: [{},{},…] one byte under the byte limit is 413 before it is parsed; reviews of nearly 131,072 values (an env list, and an object of as many distinct keys) are answered or 429',
  async () => {
    const r = await startReplica();
    try {
      const legit = legitimateReviews(r);
      await legit.ready;
      const under = emptyObjects(3 * MiB - 1);
      const envList = review(pod({ name: 'env' }), { uid: 'env-list' });
      ((envList.request as JsonObject).object as { spec: { containers: JsonObject[] } }).spec.containers[0]!.env =
        Array.from({ length: 65_000 }, (_, i) => ({ name: `V${i}` }));
      const keys = review(pod({ name: 'keys' }), { uid: 'many-keys' });
      ((keys.request as JsonObject).object as { metadata: JsonObject }).metadata.labels = Object.fromEntries(
        Array.from({ length: 130_000 }, (_, i) => [`k${i.toString(36)}`, '']),
      );
      const reviews = [envList, keys].map((v) => Buffer.from(JSON.stringify(v)));
      for (const b of reviews) expect(b.length).toBeLessThan(3 * MiB);

      const refused = await Promise.all(Array.from({ length: 8 }, () => post(r, under)));
      expect(tally(refused.map((a) => a.status))[413] ?? 0).toBeGreaterThan(0);
      for (const a of refused) {
        expect([413, 429]).toContain(a.status);
        expect(a.headers.connection).toBe('close');
      }
      for (const b of reviews) {
        const answers = await Promise.all(Array.from({ length: 8 }, () => post(r, b)));
        const statuses = answers.map((a) => a.status);
        expect(statuses.filter((s) => s !== 200 && s !== 429)).toEqual([]);
        expect(statuses).toContain(200);
        for (const a of answers.filter((x) => x.status === 200))
          expect(JSON.parse(a.body).response.uid).toBe(JSON.parse(b.toString()).request.uid);
        for (const a of answers.filter((x) => x.status === 429)) expect(a.headers['retry-after']).toBe('1');
      }
      const { wrong } = await legit.stop();
      expect(wrong).toEqual([]);
      await expectUnharmed(r);
    } finally {
      await r.stop();
    }
  },
  TIMEOUT,
);

test(
  '36 connections each holding a body one byte short: declared 7 MiB, each is 413 at once; declared at the limit, each is held or 429 and closed',
  async () => {
    const r = await startReplica();
    const holders: Socket[] = [];
    try {
      const legit = legitimateReviews(r);
      await legit.ready;
      const sevenMiB = await Promise.all(
        Array.from({ length: 36 }, () => post(r, Buffer.alloc(7 * MiB - 1, ' '), 7 * MiB)),
      );
      expect(tally(sevenMiB.map((a) => a.status))).toEqual({ 413: 36 });

      // At the limit: sockets that send all but the last byte and then wait, never closing.
      const limit = 3 * MiB;
      const sockets = Array.from({ length: 36 }, () => {
        const s = tlsConnect({ host: '127.0.0.1', port: r.port, ca: r.ca, servername: 'localhost' });
        holders.push(s);
        const entry = { answer: '', closed: closing(s) };
        s.on('data', (c: Buffer) => {
          entry.answer += c.toString();
        });
        s.on('error', () => {});
        s.once('secureConnect', () => {
          s.write(postHead('/validate', { 'Content-Type': 'application/json', 'Content-Length': limit }));
          s.write(Buffer.alloc(limit - 1, ' '));
        });
        return entry;
      });
      // Each is either refused (429) or held: charged 4 bytes per declared byte (spaces hold no
      // JSON value). Wait until the server has accounted for all 36.
      const accounted = async () => {
        const m = (await request({ port: r.port, ca: r.ca, path: '/metrics' })).body;
        const refused = Number(
          /^tokenguard_http_errors_total\{endpoint="validate",code="429"\} (\d+)$/m.exec(m)?.[1] ?? 0,
        );
        const charged = Number(/^tokenguard_admission_charged_bytes (\d+)$/m.exec(m)?.[1]);
        return { refused, held: charged / (4 * limit) };
      };
      let seen = await accounted();
      while (seen.refused + seen.held < 36) seen = await accounted();
      expect(seen.refused + seen.held).toBe(36);
      expect(seen.held).toBeGreaterThan(0);
      expect(seen.refused).toBeGreaterThan(0);
      while (sockets.filter((e) => e.answer !== '').length < seen.refused)
        await new Promise((resolve) => setTimeout(resolve, 20));
      const answered = sockets.filter((e) => e.answer !== '');
      await Promise.all(answered.map((e) => e.closed)); // closed by the server after its answer
      for (const e of answered)
        expect(e.answer).toMatch(/^HTTP\/1\.1 429 Too Many Requests\r\n[\s\S]*Retry-After: 1\r\n/i);
      const { wrong } = await legit.stop(); // answered while the held bodies sit in the server
      expect(wrong).toEqual([]);
      await expectUnharmed(r);
    } finally {
      for (const s of holders) s.destroy();
      await r.stop();
    }
  },
  TIMEOUT,
);

test(
  `${MAX_CONNECTIONS + 200} connections that never send a request and 100 that never start TLS: those over the cap are closed on accept, every other one by the server within its timeout`,
  async () => {
    const r = await startReplica();
    const sockets: Socket[] = [];
    try {
      const legit = legitimateReviews(r);
      await legit.ready;
      const closed: Promise<void>[] = [];
      const open = (tls: boolean) =>
        new Promise<void>((resolve) => {
          const s = tls
            ? tlsConnect({ host: '127.0.0.1', port: r.port, ca: r.ca, servername: 'localhost' })
            : netConnect({ host: '127.0.0.1', port: r.port });
          sockets.push(s);
          s.on('error', () => {});
          closed.push(closing(s));
          s.once(tls ? 'secureConnect' : 'connect', () => resolve());
          s.once('close', () => resolve());
        });
      for (let i = 0; i < MAX_CONNECTIONS + 200; i += 100)
        await Promise.all(Array.from({ length: 100 }, () => open(true)));
      await Promise.all(Array.from({ length: 100 }, () => open(false)));
      // The legitimate connection was there first, and keeps its place.
      await Promise.all(closed); // the server closes every one: the test's timeout is the guard
      const { sent, wrong } = await legit.stop();
      expect(wrong).toEqual([]);
      expect(sent).toBeGreaterThan(1);
      const metrics = (await request({ port: r.port, ca: r.ca, path: '/metrics' })).body;
      const count = (reason: string) =>
        Number(
          new RegExp(`^tokenguard_connections_closed_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(metrics)?.[1],
        );
      expect(count('limit')).toBeGreaterThan(0);
      expect(count('idle')).toBeGreaterThan(0);
      expect(count('limit') + count('idle') + count('handshake-timeout')).toBe(MAX_CONNECTIONS + 300);
      await expectUnharmed(r);
    } finally {
      for (const s of sockets) s.destroy();
      await r.stop();
    }
  },
  TIMEOUT,
);
