/**
 * `tokenguard serve` argument handling and its life cycle, in process (signals come from an
 * emitter the test owns). The real process is tested in serve-process.test.ts.
 */
import { EventEmitter, once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import { parseDuration, runServeCommand } from '../../src/cli/commands/serve.js';
import { loadKubeConfig } from '../../src/kube/config.js';
import type { RunningServer } from '../../src/server/serve.js';
import { FakeApiServer, k8s } from '../unit/facts/fake-apiserver.js';
import { LogSink, makeCertificates, request, SHIPPED_POLICIES, tempDir } from './helpers.js';

const TIMEOUT = 30_000;

function io() {
  let stdout = '';
  let stderr = '';
  return {
    stdout: { write: (t: string) => (stdout += t) },
    stderr: { write: (t: string) => (stderr += t) },
    out: () => stdout,
    err: () => stderr,
  };
}

test.each([
  [['--port', 'abc'], '--port must be a port number (0-65535), got "abc"'],
  [['--port', '70000'], '--port must be a port number (0-65535), got "70000"'],
  [['--tls-cert', 'x.crt'], '--tls-cert and --tls-key go together'],
  [['--log-level', 'loud'], '--log-level must be one of trace, debug, info, warn, error, fatal, silent'],
  [['--shutdown-delay', 'soon'], '--shutdown-delay must be a duration such as 5s or 500ms, got "soon"'],
  [['--shutdown-timeout=-1s'], '--shutdown-timeout must be a duration such as 10s, got "-1s"'],
  [['--bogus'], "Unknown option '--bogus'"],
])('serve %j is a usage error (exit 2)', async (args, message) => {
  const o = io();
  expect(await main(['serve', ...args], o)).toBe(2);
  expect(o.err()).toContain(message);
  expect(o.err()).toContain('usage: tokenguard serve');
});

test('serve --help prints the usage and exits 0', async () => {
  const o = io();
  expect(await main(['serve', '--help'], o)).toBe(0);
  expect(o.out()).toContain('usage: tokenguard serve');
});

test('an unreadable certificate fails start-up with exit code 2 and names the file', async () => {
  const dir = tempDir('nocert');
  const o = io();
  const code = await runServeCommand(
    [
      '--port',
      '0',
      '--host',
      '127.0.0.1',
      '--tls-cert',
      join(dir, 'tls.crt'),
      '--tls-key',
      join(dir, 'tls.key'),
      '--policies',
      SHIPPED_POLICIES,
      '--no-cluster',
    ],
    o,
    {
      logDestination: new LogSink(),
    },
  );
  expect(code).toBe(2);
  expect(o.err()).toBe(
    `tokenguard serve: unusable TLS certificate:\n  ${join(dir, 'tls.crt')}: cannot read the certificate: ENOENT\n`,
  );
});

test('a key that does not match the certificate fails start-up', async () => {
  const dir = tempDir('mismatch');
  const a = await makeCertificates();
  const b = await makeCertificates();
  writeFileSync(join(dir, 'tls.crt'), a.cert);
  writeFileSync(join(dir, 'tls.key'), b.key);
  const o = io();
  const code = await runServeCommand(
    [
      '--port',
      '0',
      '--host',
      '127.0.0.1',
      '--tls-cert',
      join(dir, 'tls.crt'),
      '--tls-key',
      join(dir, 'tls.key'),
      '--policies',
      SHIPPED_POLICIES,
      '--no-cluster',
    ],
    o,
    {
      logDestination: new LogSink(),
    },
  );
  expect(code).toBe(2);
  expect(o.err()).toContain('the private key does not belong to the certificate');
  expect(o.err()).not.toContain(b.key.split('\n')[1]);
});

test(
  'runs until SIGTERM, then drains, closes and returns 0',
  async () => {
    const dir = tempDir('life');
    const certs = await makeCertificates();
    writeFileSync(join(dir, 'tls.crt'), certs.cert);
    writeFileSync(join(dir, 'tls.key'), certs.key);
    const signals = new EventEmitter();
    const sink = new LogSink();
    let running: RunningServer | undefined;
    const listening = new Promise<RunningServer>((resolve) => {
      void runServeCommand(
        [
          '--port',
          '0',
          '--host',
          '127.0.0.1',
          '--tls-cert',
          join(dir, 'tls.crt'),
          '--tls-key',
          join(dir, 'tls.key'),
          '--policies',
          SHIPPED_POLICIES,
          '--no-cluster',
          '--shutdown-delay',
          '0',
        ],
        io(),
        {
          signals,
          logDestination: sink,
          onListening: (r) => {
            running = r;
            resolve(r);
          },
        },
      ).then((code) => {
        exitCode = code;
      });
    });
    let exitCode: number | undefined;
    const r = await listening;
    expect((await request({ port: r.port, ca: certs.caCert, path: '/readyz' })).status).toBe(200);
    expect(signals.listenerCount('SIGTERM')).toBe(1);
    signals.emit('SIGTERM');
    await running?.close();
    for (let i = 0; i < 100 && exitCode === undefined; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(exitCode).toBe(0);
    expect(signals.listenerCount('SIGTERM')).toBe(0);
    const events = sink.lines().map((l) => [l.event, l.phase ?? l.signal ?? null]);
    expect(events).toEqual(
      expect.arrayContaining([
        ['facts', null],
        ['listening', null],
        ['shutdown', 'SIGTERM'],
        ['shutdown', 'drain'],
        ['shutdown', 'close'],
        ['shutdown', 'done'],
      ]),
    );
  },
  TIMEOUT,
);

test.each([
  [[], false],
  [['--gc-metrics'], true],
])(
  'serve %j: /metrics has nodejs_gc_duration_seconds only with --gc-metrics',
  async (flags, present) => {
    const dir = tempDir('gcmetrics');
    const certs = await makeCertificates();
    writeFileSync(join(dir, 'tls.crt'), certs.cert);
    writeFileSync(join(dir, 'tls.key'), certs.key);
    const signals = new EventEmitter();
    let done: Promise<number> | undefined;
    const r = await new Promise<RunningServer>((resolve) => {
      done = runServeCommand(
        [
          '--port',
          '0',
          '--host',
          '127.0.0.1',
          '--tls-cert',
          join(dir, 'tls.crt'),
          '--tls-key',
          join(dir, 'tls.key'),
          '--policies',
          SHIPPED_POLICIES,
          '--no-cluster',
          '--shutdown-delay',
          '0',
          ...flags,
        ],
        io(),
        { signals, logDestination: new LogSink(), onListening: resolve },
      );
    });
    const scrape = await request({ port: r.port, ca: certs.caCert, path: '/metrics' });
    expect(scrape.status).toBe(200);
    expect(scrape.body).toContain('nodejs_eventloop_lag_p99_seconds');
    expect(scrape.body.includes('# TYPE nodejs_gc_duration_seconds histogram')).toBe(present);
    signals.emit('SIGTERM');
    expect(await done).toBe(0);
  },
  TIMEOUT,
);

test.each([
  ['5s', 5000],
  ['500ms', 500],
  ['0', 0],
  ['2', 2000],
  ['1.5s', 1500],
  ['1m', 60000],
  ['soon', undefined],
  ['-1s', undefined],
  ['', undefined],
])('parseDuration(%j) = %j', (text, ms) => {
  expect(parseDuration(text)).toBe(ms);
});

test('a port in use fails start-up with exit code 2', async () => {
  const dir = tempDir('inuse');
  const certs = await makeCertificates();
  writeFileSync(join(dir, 'tls.crt'), certs.cert);
  writeFileSync(join(dir, 'tls.key'), certs.key);
  const blocker = createServer();
  blocker.listen(0, '127.0.0.1');
  await once(blocker, 'listening');
  try {
    const port = (blocker.address() as AddressInfo).port;
    const o = io();
    const code = await runServeCommand(
      [
        '--port',
        String(port),
        '--host',
        '127.0.0.1',
        '--tls-cert',
        join(dir, 'tls.crt'),
        '--tls-key',
        join(dir, 'tls.key'),
        '--policies',
        SHIPPED_POLICIES,
        '--no-cluster',
      ],
      o,
      { logDestination: new LogSink() },
    );
    expect(code).toBe(2);
    expect(o.err()).toBe(`tokenguard serve: cannot listen on 127.0.0.1:${port}: EADDRINUSE\n`);
  } finally {
    blocker.close();
  }
});

describe('cluster credentials', () => {
  test('without --no-cluster and without any credentials, serve refuses to start and says what to do', async () => {
    expect(() => loadKubeConfig(undefined, { HOME: '/nonexistent-home' })).toThrow(
      'no cluster credentials (in-cluster, KUBECONFIG or ~/.kube/config): pass --kubeconfig FILE, or --no-cluster',
    );
    expect(() => loadKubeConfig('/nonexistent/kubeconfig', {})).toThrow(
      'cannot read kubeconfig /nonexistent/kubeconfig (ENOENT)',
    );
  });

  test('a kubeconfig file is read, and --no-cluster excludes --kubeconfig', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tg-kc-'));
    const file = join(dir, 'config');
    writeFileSync(
      file,
      'apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:6443"}}]\nusers: [{name: u, user: {}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n',
    );
    expect(loadKubeConfig(file, {}).server).toBe('https://127.0.0.1:6443');
    let err = '';
    const code = await runServeCommand(['--no-cluster', '--kubeconfig', file], {
      stdout: { write: () => true },
      stderr: { write: (s: string) => (err += s) },
    });
    expect(code).toBe(2);
    expect(err).toContain('--no-cluster and --kubeconfig exclude each other');
  });

  test(
    'with --kubeconfig, serve watches the cluster and is ready only after the first full sync',
    async () => {
      const api = new FakeApiServer();
      await api.up();
      api.apply('namespaces', k8s.ns('team-a'));
      const dir = tempDir('cluster');
      const certs = await makeCertificates();
      writeFileSync(join(dir, 'tls.crt'), certs.cert);
      writeFileSync(join(dir, 'tls.key'), certs.key);
      const kubeconfig = join(dir, 'kubeconfig');
      writeFileSync(
        kubeconfig,
        `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "${api.url}"}}]\nusers: [{name: u, user: {token: not-a-real-token}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n`,
      );
      const signals = new EventEmitter();
      const sink = new LogSink();
      let exitCode: number | undefined;
      try {
        const r = await new Promise<RunningServer>((resolve, reject) => {
          runServeCommand(
            [
              '--port',
              '0',
              '--host',
              '127.0.0.1',
              '--tls-cert',
              join(dir, 'tls.crt'),
              '--tls-key',
              join(dir, 'tls.key'),
              '--policies',
              SHIPPED_POLICIES,
              '--kubeconfig',
              kubeconfig,
              '--shutdown-delay',
              '0',
            ],
            io(),
            { signals, logDestination: sink, onListening: resolve },
          ).then((code) => {
            exitCode = code;
            reject(new Error(`serve returned ${code} before listening`));
          }, reject);
        });
        for (
          let i = 0;
          i < 200 && (await request({ port: r.port, ca: certs.caCert, path: '/readyz' })).status !== 200;
          i++
        )
          await new Promise((res) => setTimeout(res, 25));
        expect((await request({ port: r.port, ca: certs.caCert, path: '/readyz' })).status).toBe(200);
        expect(api.requests.some((q) => q.startsWith('GET /api/v1/namespaces?') && q.includes('watch=true'))).toBe(
          true,
        );
        expect(sink.text()).not.toContain('not-a-real-token');
        signals.emit('SIGTERM');
        for (let i = 0; i < 400 && exitCode === undefined; i++) await new Promise((res) => setTimeout(res, 10));
        expect(exitCode).toBe(0);
      } finally {
        if (exitCode === undefined) signals.emit('SIGTERM');
        await api.close();
      }
    },
    TIMEOUT,
  );
});
