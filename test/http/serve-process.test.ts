/**
 * The built CLI as a process: `node dist/cli/main.js serve`, compiled here into a private
 * folder (so it never races another suite's build of dist/). SIGTERM under load drops no
 * in-flight request and the process exits 0; without --tls-cert/--tls-key it creates
 * development certificates, as `npm start` does on a fresh clone.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchBodies } from '../../bench/bodies.js';
import { imageStart } from '../helpers/image-start.js';
import { canCreateMemoryCgroup, createMemoryCgroup, type MemoryCgroup } from '../helpers/memory-cgroup.js';
import { pod, review } from '../helpers/pods.js';
import { postReview, REPO, request, SHIPPED_POLICIES } from './helpers.js';
import { type BuiltCli, buildCli, folderWithCertificates } from './process.js';

const TIMEOUT = 120_000;
let build: BuiltCli;
const startCli = (...args: Parameters<BuiltCli['start']>) => build.start(...args);

beforeAll(() => {
  build = buildCli();
}, TIMEOUT);
afterAll(() => build.remove());

/** A request whose body is sent in two halves: in flight until `finish()` is called. */
function heldRequest(port: number, ca: string, uid: string) {
  const text = JSON.stringify(review(pod({ name: uid }), { uid }));
  const half = Math.floor(text.length / 2);
  let finish = () => {};
  const response = request({
    port,
    ca,
    path: '/mutate?timeout=10s',
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) },
    send: (req) => {
      req.write(text.slice(0, half));
      finish = () => req.end(text.slice(half));
    },
  });
  return { response, finish: () => finish() };
}

test(
  'SIGTERM under load: readiness fails first, every request sent gets its answer, in-flight ones included, and the process exits 0',
  async () => {
    const { dir, certs } = await folderWithCertificates('tokenguard-http-sigterm-');
    const p = startCli(
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
        '2s',
      ],
      dir,
    );
    const agent = new Agent({ keepAlive: true, ca: certs.caCert });
    try {
      const listening = await p.waitForLog((l) => l.event === 'listening');
      const port = listening.port as number;
      const ca = certs.caCert;

      // In flight across the whole shutdown: headers and half a body sent before SIGTERM.
      const held = Array.from({ length: 4 }, (_, i) => heldRequest(port, ca, `held-${i}`));

      // Load: 4 loops over kept-alive connections until the server says it is draining (the
      // load balancer's cue to stop sending); at most 2000 requests.
      let draining = false;
      void p
        .waitForLog((l) => l.event === 'shutdown' && l.phase === 'drain')
        .then(
          () => {
            draining = true;
          },
          () => {},
        );
      const results: { uid: string; status: number | string; answeredUid?: string }[] = [];
      let sent = 0;
      let signalled = false;
      const worker = async () => {
        while (!draining && sent < 2000) {
          const uid = `load-${sent++}`;
          try {
            const r = await postReview({
              port,
              ca,
              agent,
              endpoint: 'validate',
              review: review(pod({ name: uid }), { uid }),
              query: '?timeout=10s',
            });
            results.push({ uid, status: r.status, answeredUid: JSON.parse(r.body).response?.uid });
          } catch (e) {
            results.push({ uid, status: String(e) });
          }
          if (!signalled && results.length >= 100) {
            signalled = true;
            p.child.kill('SIGTERM');
          }
        }
      };
      await Promise.all([worker(), worker(), worker(), worker()]);
      expect(signalled).toBe(true);

      // During the drain period readiness fails but requests are still answered.
      const ready = await request({ port, ca, path: '/readyz' });
      expect(ready.status).toBe(503);
      expect(JSON.parse(ready.body)).toEqual({ status: 'not ready', reasons: ['shutting down'] });
      const during = await postReview({
        port,
        ca,
        endpoint: 'mutate',
        review: review(pod({ name: 'late' }), { uid: 'during-drain' }),
      });
      expect(during.status).toBe(200);
      expect(during.headers.connection).toBe('close');

      // The server stops accepting; the held requests are still in flight. Finish them now.
      const closing = await p.waitForLog((l) => l.event === 'shutdown' && l.phase === 'close');
      expect(closing.inFlight).toBeGreaterThanOrEqual(4);
      for (const h of held) h.finish();
      const heldAnswers = await Promise.all(held.map((h) => h.response));
      heldAnswers.forEach((a, i) => {
        expect(a.status).toBe(200);
        expect(JSON.parse(a.body).response.uid).toBe(`held-${i}`);
      });

      expect(results.length).toBeGreaterThanOrEqual(100);
      expect(results.filter((r) => r.status !== 200 || r.answeredUid !== r.uid)).toEqual([]);
      expect(await p.exited).toEqual({ code: 0, signal: null });
      expect(p.logs.find((l) => l.phase === 'done')).toMatchObject({ event: 'shutdown', forcedConnections: 0 });
      expect(p.stderr()).toBe('');
    } finally {
      agent.destroy();
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  },
  TIMEOUT,
);

test(
  'without --tls-cert/--tls-key, development certificates are created under certs/ and served',
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tokenguard-http-devcerts-'));
    const p = startCli(
      ['--port', '0', '--host', '127.0.0.1', '--policies', SHIPPED_POLICIES, '--no-cluster', '--shutdown-delay', '0s'],
      dir,
    );
    try {
      const listening = await p.waitForLog((l) => l.event === 'listening');
      expect(existsSync(join(dir, 'certs', 'tls.crt'))).toBe(true);
      expect(p.logs.find((l) => l.event === 'dev-certificates')).toMatchObject({ generated: true });
      const ca = readFileSync(join(dir, 'certs', 'ca.crt'), 'utf8');
      const r = await postReview({
        port: listening.port as number,
        ca,
        endpoint: 'validate',
        review: review(pod({ name: 'dev' }), { uid: 'dev-uid' }),
      });
      expect(r.status).toBe(200);
      p.child.kill('SIGINT');
      expect(await p.exited).toEqual({ code: 0, signal: null });
    } finally {
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  },
  TIMEOUT,
);

test(
  'an invalid policy set fails start-up with exit code 2 and every error on stderr',
  async () => {
    const { dir } = await folderWithCertificates('tokenguard-http-badpolicy-');
    writeFileSync(
      join(dir, 'bad.yaml'),
      'apiVersion: tokenguard.dev/v1alpha1\nkind: TokenPolicy\nmetadata:\n  name: bad\nspec:\n  mode: Sometimes\n',
    );
    const p = startCli(
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
        'bad.yaml',
        '--no-cluster',
      ],
      dir,
    );
    try {
      expect(await p.exited).toEqual({ code: 2, signal: null });
      expect(p.stderr()).toMatch(/^tokenguard serve: invalid policy set:\n {2}bad\.yaml:1: spec\.mode: /);
      expect(p.logs.some((l) => l.event === 'listening')).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
  TIMEOUT,
);

/**
 * Mark-compacts and scavenges of `serve` over its start-up and `load.reviews` typical-pod
 * reviews from `load.concurrency` keep-alive connections, counted from V8's own `--trace-gc`
 * lines (they share standard output with the log lines).
 */
async function gcServing(
  start: { nodeFlags: readonly string[]; nodeOptions: string },
  load: { reviews: number; concurrency: number },
  cgroup?: MemoryCgroup,
): Promise<{ count: number; scavenges: number; reviews: number }> {
  const { dir, certs } = await folderWithCertificates('tokenguard-http-gc-');
  const p = startCli(
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
    {
      nodeFlags: [...start.nodeFlags, '--trace-gc'],
      env: start.nodeOptions ? { NODE_OPTIONS: start.nodeOptions } : {},
      cgroup,
    },
  );
  const agent = new Agent({ keepAlive: true, ca: certs.caCert });
  try {
    const port = (await p.waitForLog((l) => l.event === 'listening')).port as number;
    const typical = benchBodies().find((b) => b.id === 'typical');
    if (!typical) throw new Error('bench/bodies.ts has no typical body');
    const body = JSON.parse(typical.body) as unknown;
    let sent = 0;
    let answered = 0;
    const worker = async () => {
      while (sent < load.reviews) {
        sent += 1;
        const r = await postReview({ port, ca: certs.caCert, agent, endpoint: 'mutate', review: body });
        if (r.status === 200) answered += 1;
      }
    };
    await Promise.all(Array.from({ length: load.concurrency }, worker));
    p.child.kill('SIGINT');
    expect(await p.exited).toEqual({ code: 0, signal: null });
    const traced = p.logs.map((l) => l.unparsed).filter((u): u is string => typeof u === 'string');
    expect(traced.some((l) => l.includes('Scavenge'))).toBe(true); // the trace is there at all
    return {
      count: traced.filter((l) => l.includes('Mark-Compact')).length,
      scavenges: traced.filter((l) => l.includes('Scavenge')).length,
      reviews: answered,
    };
  } finally {
    agent.destroy();
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

test(
  "started as the image and the Deployment start it, serve runs no mark-compact GC in its start-up and first 3,000 reviews; plain node runs one, which sets V8's memory reducer off (docs/decisions.md, Performance)",
  async () => {
    const shipped = imageStart(REPO);
    expect(shipped.nodeFlags.length).toBeGreaterThan(0);
    const asShipped = await gcServing(shipped, { reviews: 3000, concurrency: 4 });
    expect(asShipped).toMatchObject({ count: 0, reviews: 3000 });
    // Without the ENTRYPOINT's flags, the same start under the Deployment's heap cap runs one
    // while loading: the reason for the flag, checked so that this test can fail.
    const plain = await gcServing(
      { nodeFlags: [], nodeOptions: shipped.nodeOptions },
      { reviews: 3000, concurrency: 4 },
    );
    expect(plain.reviews).toBe(3000);
    expect(plain.count).toBeGreaterThan(0);
  },
  TIMEOUT,
);

(canCreateMemoryCgroup() ? test : test.skip)(
  "inside the Deployment's memory limit (a cgroup v1 memory group of 256Mi), as shipped: no mark-compact over start-up and 20,000 reviews from 50 connections; without --max-semi-space-size, V8's 1 MiB semi-spaces scavenge over four times as often (docs/decisions.md, Performance)",
  async () => {
    const shipped = imageStart(REPO);
    const cgroup = createMemoryCgroup(`tokenguard-test-${process.pid}`, shipped.memoryLimitBytes);
    try {
      const asShipped = await gcServing(shipped, { reviews: 20_000, concurrency: 50 }, cgroup);
      expect(asShipped).toMatchObject({ count: 0, reviews: 20_000 });
      const withoutSemi = {
        ...shipped,
        nodeOptions: shipped.nodeOptions.replace(/--max-semi-space-size=\d+/, '').trim(),
      };
      expect(withoutSemi.nodeOptions).not.toBe(shipped.nodeOptions);
      const tiny = await gcServing(withoutSemi, { reviews: 20_000, concurrency: 50 }, cgroup);
      expect(tiny.reviews).toBe(20_000);
      // 1 MiB semi-spaces fill every ~25 ms at 1,000 reviews/s: some 8 times the scavenges.
      expect(tiny.scavenges).toBeGreaterThan(4 * asShipped.scavenges);
    } finally {
      cgroup.remove();
    }
  },
  TIMEOUT,
);
