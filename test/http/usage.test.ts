/**
 * `serve --usage FILE`: a TokenUsage document in a ConfigMap-like volume decides, through
 * `automount.needed.observedWithin`, whether a pod keeps its API token; the file reloads as
 * policies do (a broken one keeps the last good facts). Real HTTPS on loopback, in process.
 * Phases advance on the server's own log lines; every wait is bounded.
 */
import { EventEmitter } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runServeCommand } from '../../src/cli/commands/serve.js';
import type { RunningServer } from '../../src/server/serve.js';
import { pod, review } from '../helpers/pods.js';
import { EVENT_WAIT_LIMIT_MS, LogSink, makeCertificates, postReview, tempDir, VolumeDir } from './helpers.js';

const TIMEOUT = 60_000;

const POLICY = `apiVersion: tokenguard.dev/v1alpha1
kind: TokenPolicy
metadata:
  name: observed
spec:
  mode: Enforce
  automount:
    action: DisableUnlessNeeded
    needed:
      observedWithin: 1h
`;

const iso = (t: number) => new Date(t).toISOString();
function usage(lastSeen: number | undefined): string {
  const now = Date.now();
  return `apiVersion: tokenguard.dev/v1alpha1
kind: TokenUsage
metadata: {name: token-usage}
spec:
  window: {from: "${iso(now - 2 * 3600_000)}", to: "${iso(now)}"}
  serviceAccounts:
    - {namespace: team-a, name: ${lastSeen === undefined ? 'someone-else' : 'default'}, lastSeen: "${iso(lastSeen ?? now)}", requests: 4}
`;
}

const io = () => {
  let err = '';
  return { stdout: { write: () => undefined }, stderr: { write: (t: string) => (err += t) }, err: () => err };
};

async function until(what: string, f: () => boolean): Promise<void> {
  const deadline = Date.now() + EVENT_WAIT_LIMIT_MS;
  while (!f()) {
    if (Date.now() > deadline) throw new Error(`no ${what} within ${EVENT_WAIT_LIMIT_MS} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test(
  'the token stays while the log shows it used, goes once a reloaded log does not; a broken file keeps the last good facts',
  async () => {
    const dir = tempDir('usage');
    const certs = await makeCertificates();
    writeFileSync(join(dir, 'tls.crt'), certs.cert);
    writeFileSync(join(dir, 'tls.key'), certs.key);
    new VolumeDir(join(dir, 'policies'), { 'observed.yaml': POLICY });
    const volume = new VolumeDir(join(dir, 'usage'), { 'usage.yaml': usage(Date.now() - 10 * 60_000) });
    const sink = new LogSink();
    const signals = new EventEmitter();
    let done: Promise<number> | undefined;
    const server = await new Promise<RunningServer>((resolve) => {
      done = runServeCommand(
        [
          ...[
            '--port',
            '0',
            '--host',
            '127.0.0.1',
            '--tls-cert',
            join(dir, 'tls.crt'),
            '--tls-key',
            join(dir, 'tls.key'),
          ],
          ...[
            '--policies',
            join(dir, 'policies'),
            '--no-cluster',
            '--shutdown-delay',
            '0',
            '--usage',
            join(dir, 'usage', 'usage.yaml'),
          ],
        ],
        io(),
        { signals, logDestination: sink, onListening: resolve },
      );
    });
    const mutate = async () => {
      const r = await postReview({ port: server.port, ca: certs.caCert, endpoint: 'mutate', review: review(pod()) });
      expect(r.status).toBe(200);
      return JSON.parse(r.body).response as { patch?: string; warnings?: string[] };
    };
    const loads = (result: string) => sink.lines().filter((l) => l.event === 'usage' && l.result === result).length;

    // Seen 10 minutes ago, within 1h: no patch.
    expect(loads('success')).toBe(1);
    expect((await mutate()).patch).toBeUndefined();

    // The next log no longer has it: the reloaded facts remove the token.
    volume.swap({ 'usage.yaml': usage(undefined) });
    await until('reload', () => loads('success') === 2);
    const removed = await mutate();
    expect(Buffer.from(removed.patch ?? '', 'base64').toString()).toContain('/spec/automountServiceAccountToken');

    // A broken file: refused, logged with its field, the last good facts stay in force.
    volume.swap({ 'usage.yaml': usage(undefined).replace('requests: 4', 'requests: -4') });
    await until('failed reload', () => loads('failure') === 1);
    expect(
      sink
        .lines()
        .some(
          (l) =>
            l.event === 'usage-error' &&
            String(l.error).includes('spec.serviceAccounts[0].requests: must be a whole number'),
        ),
    ).toBe(true);
    expect((await mutate()).patch).toBeDefined();

    signals.emit('SIGTERM');
    expect(await done).toBe(0);
  },
  TIMEOUT,
);

test('an invalid --usage file fails start-up with exit 2 and every error named', async () => {
  const dir = tempDir('usage-bad');
  const certs = await makeCertificates();
  writeFileSync(join(dir, 'tls.crt'), certs.cert);
  writeFileSync(join(dir, 'tls.key'), certs.key);
  writeFileSync(
    join(dir, 'usage.yaml'),
    'apiVersion: tokenguard.dev/v1alpha1\nkind: TokenUsage\nspec:\n  window: {from: yesterday}\n',
  );
  const o = io();
  const args = [
    '--port',
    '0',
    '--host',
    '127.0.0.1',
    '--tls-cert',
    join(dir, 'tls.crt'),
    '--tls-key',
    join(dir, 'tls.key'),
    '--no-cluster',
    '--usage',
    join(dir, 'usage.yaml'),
  ];
  const code = await runServeCommand(args, o, { logDestination: new LogSink() });
  expect(code).toBe(2);
  expect(o.err()).toBe(
    `tokenguard serve: --usage ${join(dir, 'usage.yaml')} is invalid:\n  ${join(dir, 'usage.yaml')}:1: spec.window.from: must be an RFC 3339 time such as 2026-01-31T12:00:00Z\n`,
  );
});
