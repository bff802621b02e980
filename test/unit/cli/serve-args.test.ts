/** `tokenguard serve`'s flags are checked before anything runs, into the options the server starts with. */
import { parseServeArgs } from '../../../src/cli/commands/serve.js';

test('defaults', () => {
  expect(parseServeArgs([])).toEqual({
    ok: true,
    options: {
      port: 8443,
      host: '0.0.0.0',
      policies: ['policies'],
      allowEmptyPolicyFiles: false,
      noCluster: false,
      logLevel: 'info',
      shutdownDelayMs: 5000,
      shutdownTimeoutMs: 10000,
      gcMetrics: false,
    },
  });
});

test('every flag lands in its option', () => {
  const r = parseServeArgs([
    '--port=9443',
    '--host',
    '127.0.0.1',
    '--tls-cert',
    'c.crt',
    '--tls-key',
    'c.key',
    '--client-ca',
    'ca.crt',
    '--client-subject',
    'kube-apiserver',
    '--policies',
    'a',
    '--policies',
    'b',
    '--no-cluster',
    '--log-level',
    'debug',
    '--shutdown-delay',
    '500ms',
    '--shutdown-timeout',
    '1m',
    '--gc-metrics',
    '--api-audience',
    'https://issuer',
    '--allow-empty-policy-files',
  ]);
  expect(r).toEqual({
    ok: true,
    options: {
      port: 9443,
      host: '127.0.0.1',
      tlsCert: 'c.crt',
      tlsKey: 'c.key',
      clientCa: 'ca.crt',
      clientSubjects: ['kube-apiserver'],
      policies: ['a', 'b'],
      allowEmptyPolicyFiles: true,
      noCluster: true,
      logLevel: 'debug',
      shutdownDelayMs: 500,
      shutdownTimeoutMs: 60000,
      gcMetrics: true,
      apiAudiences: ['https://issuer'],
    },
  });
});

test.each([
  [['--port', '70000'], '--port must be a port number (0-65535), got "70000"'],
  [['--log-level', 'loud'], '--log-level must be one of'],
  [['--shutdown-delay', 'soon'], '--shutdown-delay must be a duration'],
  [['--shutdown-timeout', 'x1s'], '--shutdown-timeout must be a duration'],
  [['--tls-cert', 'c.crt'], '--tls-cert and --tls-key go together'],
  [['--no-cluster', '--kubeconfig', 'k'], '--no-cluster and --kubeconfig exclude each other'],
  [['--client-subject', 'x'], '--client-subject needs --client-ca'],
  [['--api-audience', ' '], '--api-audience must not be empty'],
  [['--bogus'], "Unknown option '--bogus'"],
])('%j is refused: %s', (argv, message) => {
  const r = parseServeArgs(argv);
  expect(r.ok).toBe(false);
  expect(!r.ok && !r.help ? r.error : '').toContain(message);
});

test('--help asks for the usage text', () => {
  expect(parseServeArgs(['--help'])).toEqual({ ok: false, help: true });
});
