import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fromFiles, inClusterConfig, loadKubeConfig, NO_CREDENTIALS } from '../../../src/kube/config.js';
import { tempDir, writeFiles } from './helpers.js';

const CA = '-----BEGIN CERTIFICATE-----\nY2E=\n-----END CERTIFICATE-----\n';
const CERT = '-----BEGIN CERTIFICATE-----\nY2VydA==\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN PRIVATE KEY-----\na2V5\n-----END PRIVATE KEY-----\n';
const b64 = (s: string) => Buffer.from(s).toString('base64');

/** A kubeconfig with one context `name` (cluster and user of the same name), current unless `current` says otherwise. */
function kubeconfig(
  parts: { name: string; cluster?: Record<string, unknown>; user?: Record<string, unknown>; current?: string | null }[],
): string {
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: parts.map((p) => ({ name: p.name, cluster: p.cluster ?? { server: `https://${p.name}.example:6443` } })),
    users: parts.map((p) => ({ name: p.name, user: p.user ?? {} })),
    contexts: parts.map((p) => ({ name: p.name, context: { cluster: p.name, user: p.name } })),
    ...(parts[0]?.current !== null ? { 'current-context': parts[0]?.current ?? parts[0]?.name } : {}),
  };
  return JSON.stringify(doc); // JSON is YAML
}

describe('loadKubeConfig: where credentials come from', () => {
  test('--kubeconfig wins over KUBECONFIG, ~/.kube/config and in-cluster', () => {
    const dir = writeFiles({ explicit: kubeconfig([{ name: 'explicit' }]), env: kubeconfig([{ name: 'env' }]) });
    mkdirSync(join(dir, '.kube'));
    writeFileSync(join(dir, '.kube', 'config'), kubeconfig([{ name: 'home' }]));
    const env = {
      KUBECONFIG: join(dir, 'env'),
      HOME: dir,
      KUBERNETES_SERVICE_HOST: '10.0.0.1',
      KUBERNETES_SERVICE_PORT: '443',
    };
    expect(loadKubeConfig(join(dir, 'explicit'), env).server).toBe('https://explicit.example:6443');
    expect(loadKubeConfig(undefined, env).server).toBe('https://env.example:6443');
    expect(
      loadKubeConfig(undefined, { HOME: dir, KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443' })
        .server,
    ).toBe('https://home.example:6443');
    expect(loadKubeConfig(join(dir, 'explicit'), env).source).toBe(join(dir, 'explicit'));
  });

  test('no credentials at all: the same error as always, never http://localhost:8080', () => {
    expect(() => loadKubeConfig(undefined, { HOME: tempDir() })).toThrow(NO_CREDENTIALS);
    expect(NO_CREDENTIALS).toBe(
      'no cluster credentials (in-cluster, KUBECONFIG or ~/.kube/config): pass --kubeconfig FILE, or --no-cluster',
    );
    // half of the in-cluster variables is not in-cluster (client-go ErrNotInCluster)
    expect(() => loadKubeConfig(undefined, { KUBERNETES_SERVICE_HOST: '10.0.0.1' })).toThrow(NO_CREDENTIALS);
  });

  test('an explicit file must exist; KUBECONFIG files that do not are skipped with a warning', () => {
    const dir = writeFiles({ b: kubeconfig([{ name: 'b' }]) });
    expect(() => loadKubeConfig(join(dir, 'missing'), {})).toThrow(
      `cannot read kubeconfig ${join(dir, 'missing')} (ENOENT)`,
    );
    const kc = loadKubeConfig(undefined, { KUBECONFIG: `${join(dir, 'a')}:${join(dir, 'b')}` });
    expect(kc.server).toBe('https://b.example:6443');
    expect(kc.warnings).toEqual([`KUBECONFIG names ${join(dir, 'a')}, which does not exist`]);
    // none of them exists: in-cluster if possible, else the usual error (KUBECONFIG replaces ~/.kube/config)
    mkdirSync(join(dir, '.kube'));
    writeFileSync(join(dir, '.kube', 'config'), kubeconfig([{ name: 'home' }]));
    expect(() => loadKubeConfig(undefined, { KUBECONFIG: join(dir, 'a'), HOME: dir })).toThrow(NO_CREDENTIALS);
  });

  test('KUBECONFIG files merge like clientcmd: the first to name an entry, and the first current-context, win', () => {
    const dir = writeFiles({
      first: JSON.stringify({
        clusters: [{ name: 'shared', cluster: { server: 'https://first.example' } }],
        users: [{ name: 'u', user: { token: 'from-first' } }],
        contexts: [{ name: 'ctx', context: { cluster: 'shared', user: 'u' } }],
      }),
      second: JSON.stringify({
        clusters: [
          { name: 'shared', cluster: { server: 'https://second.example' } },
          { name: 'only-second', cluster: { server: 'https://only-second.example' } },
        ],
        users: [{ name: 'u', user: { token: 'from-second' } }],
        contexts: [{ name: 'other', context: { cluster: 'only-second', user: 'u' } }],
        'current-context': 'ctx',
      }),
      third: JSON.stringify({ 'current-context': 'other' }),
    });
    const files = ['first', 'second', 'third'].map((f) => join(dir, f));
    const kc = loadKubeConfig(undefined, { KUBECONFIG: files.join(':') });
    expect(kc).toMatchObject({ server: 'https://first.example', user: { token: 'from-first' } });
    expect(kc.source).toBe(`KUBECONFIG (${files.join(':')})`);
    // the third file's current-context counts only when no earlier file set one
    const later = loadKubeConfig(undefined, { KUBECONFIG: [files[0], files[2], files[1]].join(':') });
    expect(later).toMatchObject({ server: 'https://only-second.example', user: { token: 'from-first' } });
  });

  test('a kubeconfig whose current context names no cluster: "<file> names no current cluster"', () => {
    const dir = writeFiles({
      none: kubeconfig([{ name: 'a', current: null }]),
      dangling: kubeconfig([{ name: 'a', current: 'nope' }]),
      empty: '',
      noServer: kubeconfig([{ name: 'a', cluster: { 'insecure-skip-tls-verify': true } }]),
    });
    for (const f of ['none', 'dangling', 'empty'])
      expect(() => loadKubeConfig(join(dir, f), {})).toThrow(`${join(dir, f)} names no current cluster`);
    expect(() => loadKubeConfig(join(dir, 'noServer'), {})).toThrow(
      `${join(dir, 'noServer')}, cluster "a" has no server`,
    );
  });
});

describe('--context (kubectl): another context than current-context', () => {
  test('from --kubeconfig, KUBECONFIG or ~/.kube/config; a context that does not exist, or no file at all, is an error', () => {
    const dir = writeFiles({ two: kubeconfig([{ name: 'first' }, { name: 'second' }]) });
    const file = join(dir, 'two');
    expect(loadKubeConfig(file, {}).server).toBe('https://first.example:6443');
    expect(loadKubeConfig(file, {}, { context: 'second' }).server).toBe('https://second.example:6443');
    expect(loadKubeConfig(undefined, { KUBECONFIG: file }, { context: 'second' }).server).toBe(
      'https://second.example:6443',
    );
    mkdirSync(join(dir, '.kube'));
    writeFileSync(join(dir, '.kube', 'config'), kubeconfig([{ name: 'first' }, { name: 'second' }]));
    expect(loadKubeConfig(undefined, { HOME: dir }, { context: 'second' }).server).toBe('https://second.example:6443');
    expect(() => loadKubeConfig(file, {}, { context: 'third' })).toThrow(`${file}: context "third" does not exist`);
    const inCluster = { KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443' };
    expect(() => loadKubeConfig(undefined, inCluster, { context: 'second' })).toThrow(
      'context "second" does not exist: no kubeconfig file (KUBECONFIG or ~/.kube/config) to take it from',
    );
  });
});

describe('a context: cluster and user fields', () => {
  test('relative paths resolve against the directory of the file that defines the entry', () => {
    const base = tempDir();
    mkdirSync(join(base, 'clusters'));
    mkdirSync(join(base, 'users', 'pki'), { recursive: true });
    writeFileSync(join(base, 'clusters', 'ca.crt'), CA);
    writeFileSync(join(base, 'users', 'pki', 'me.crt'), CERT);
    writeFileSync(join(base, 'users', 'pki', 'me.key'), KEY);
    writeFileSync(join(base, 'users', 'token'), 'file-token\n');
    writeFileSync(
      join(base, 'clusters', 'config'),
      JSON.stringify({
        clusters: [{ name: 'c', cluster: { server: 'https://c.example', 'certificate-authority': 'ca.crt' } }],
        contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
        'current-context': 'x',
      }),
    );
    writeFileSync(
      join(base, 'users', 'config'),
      JSON.stringify({
        users: [
          {
            name: 'u',
            user: {
              'client-certificate': 'pki/me.crt',
              'client-key': './pki/me.key',
              tokenFile: 'token',
              exec: undefined,
            },
          },
        ],
      }),
    );
    const kc = loadKubeConfig(undefined, {
      KUBECONFIG: `${join(base, 'clusters', 'config')}:${join(base, 'users', 'config')}`,
    });
    expect(kc.certificateAuthority).toBe(CA);
    expect(kc.user).toEqual({
      clientCertificate: CERT,
      clientKey: KEY,
      token: 'file-token',
      tokenFile: join(base, 'users', 'token'),
    });
  });

  test('*-data fields (base64 PEM) win over files, with a warning', () => {
    const dir = writeFiles({
      config: kubeconfig([
        {
          name: 'a',
          cluster: {
            server: 'https://a.example',
            'certificate-authority-data': b64(CA),
            'certificate-authority': 'missing.crt',
          },
          user: { 'client-certificate-data': b64(CERT), 'client-key-data': b64(KEY) },
        },
      ]),
    });
    const kc = loadKubeConfig(join(dir, 'config'), {});
    expect(kc).toMatchObject({ certificateAuthority: CA, user: { clientCertificate: CERT, clientKey: KEY } });
    expect(kc.warnings).toEqual([
      `${join(dir, 'config')}, cluster "a": certificate-authority-data and certificate-authority are both set; certificate-authority-data wins`,
    ]);
  });

  test('server, tls-server-name, insecure-skip-tls-verify, basic auth; a server without scheme gets https://', () => {
    const dir = writeFiles({
      config: kubeconfig([
        {
          name: 'a',
          cluster: {
            server: '10.1.2.3:6443/',
            'tls-server-name': 'kubernetes.default.svc',
            'insecure-skip-tls-verify': true,
          },
          user: { username: 'admin', password: 'pw' },
        },
      ]),
    });
    expect(loadKubeConfig(join(dir, 'config'), {})).toEqual({
      source: join(dir, 'config'),
      server: 'https://10.1.2.3:6443',
      insecureSkipTlsVerify: true,
      tlsServerName: 'kubernetes.default.svc',
      user: { username: 'admin', password: 'pw' },
      warnings: [],
    });
  });

  test.each([
    [
      'proxy-url',
      { cluster: { server: 'https://a.example', 'proxy-url': 'http://proxy:3128' } },
      'cluster "a": proxy-url is not supported',
    ],
    [
      'insecure with a CA',
      {
        cluster: {
          server: 'https://a.example',
          'insecure-skip-tls-verify': true,
          'certificate-authority-data': b64(CA),
        },
      },
      'certificate-authority and insecure-skip-tls-verify exclude each other',
    ],
    [
      'auth-provider',
      { user: { 'auth-provider': { name: 'gcp', config: { 'access-token': 'secret-access-token' } } } },
      'user "a": auth-provider "gcp" is not supported; use its exec credential plugin',
    ],
    ['impersonation', { user: { token: 't', as: 'someone' } }, 'user "a": impersonation (as) is not supported'],
    [
      'token and basic',
      { user: { token: 't', username: 'u', password: 'p' } },
      'username/password or a bearer token may be set, but not both',
    ],
    [
      'a certificate without its key',
      { user: { 'client-certificate-data': b64(CERT) } },
      'a client certificate needs its key',
    ],
    [
      'a missing CA file',
      { cluster: { server: 'https://a.example', 'certificate-authority': 'nope.crt' } },
      'certificate-authority: cannot read',
    ],
    ['a missing tokenFile', { user: { tokenFile: 'nope' } }, 'tokenFile: cannot read'],
    [
      'data that is not PEM',
      { user: { 'client-certificate-data': b64('hello'), 'client-key-data': b64(KEY) } },
      'client-certificate-data is not base64-encoded PEM',
    ],
    [
      'exec v1alpha1',
      { user: { exec: { apiVersion: 'client.authentication.k8s.io/v1alpha1', command: 'x' } } },
      'exec plugin apiVersion "client.authentication.k8s.io/v1alpha1" is not supported',
    ],
    [
      'exec v1 without interactiveMode',
      { user: { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'x' } } },
      'exec.interactiveMode must be set for client.authentication.k8s.io/v1',
    ],
    [
      'exec with a bad interactiveMode',
      { user: { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'x', interactiveMode: 'Sometimes' } } },
      'exec.interactiveMode "Sometimes"',
    ],
  ])('refused with a clear error: %s', (_label, part, message) => {
    const dir = writeFiles({ config: kubeconfig([{ name: 'a', ...part }]) });
    let error: Error | undefined;
    try {
      loadKubeConfig(join(dir, 'config'), {});
    } catch (e) {
      error = e as Error;
    }
    expect(error?.message).toContain(message);
    expect(error?.message).not.toContain('secret-access-token');
  });

  test('exec: command with a / resolves against the kubeconfig directory, a bare name is left to PATH; args, env, cluster info', () => {
    const dir = writeFiles({
      rel: kubeconfig([
        {
          name: 'a',
          cluster: {
            server: 'https://a.example',
            'certificate-authority-data': b64(CA),
            extensions: [{ name: 'client.authentication.k8s.io/exec', extension: { audience: 'tokenguard' } }],
          },
          user: {
            exec: {
              apiVersion: 'client.authentication.k8s.io/v1beta1',
              command: './bin/plugin',
              args: ['get-token'],
              env: [{ name: 'A', value: '1' }],
              provideClusterInfo: true,
            },
          },
        },
      ]),
      bare: kubeconfig([
        {
          name: 'a',
          user: { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'aws', interactiveMode: 'Never' } },
        },
      ]),
    });
    expect(loadKubeConfig(join(dir, 'rel'), {}).user.exec).toEqual({
      apiVersion: 'client.authentication.k8s.io/v1beta1',
      command: join(dir, 'bin', 'plugin'),
      args: ['get-token'],
      env: [{ name: 'A', value: '1' }],
      interactiveMode: 'IfAvailable', // the v1beta1 default
      cluster: {
        server: 'https://a.example',
        'certificate-authority-data': b64(CA),
        config: { audience: 'tokenguard' },
      },
    });
    expect(loadKubeConfig(join(dir, 'bare'), {}).user.exec).toMatchObject({
      command: 'aws',
      args: [],
      env: [],
      interactiveMode: 'Never',
    });
  });

  test('fromFiles reads YAML too', () => {
    const dir = writeFiles({
      config:
        'apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://[::1]:6443\ncontexts:\n- name: x\n  context: {cluster: c}\ncurrent-context: x\n',
    });
    expect(fromFiles([join(dir, 'config')], 'cfg')).toEqual({
      source: 'cfg',
      server: 'https://[::1]:6443',
      user: {},
      warnings: [],
    });
  });
});

describe('in-cluster', () => {
  test('host and port from the environment (IPv6 in brackets), token and CA from injectable paths', () => {
    const dir = writeFiles({ token: 'sa-token\n', 'ca.crt': CA });
    const paths = { tokenFile: join(dir, 'token'), caFile: join(dir, 'ca.crt') };
    expect(inClusterConfig({ KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }, paths)).toEqual({
      source: 'in-cluster',
      server: 'https://10.96.0.1:443',
      certificateAuthority: CA,
      user: { token: 'sa-token', tokenFile: paths.tokenFile },
      warnings: [],
    });
    expect(
      inClusterConfig({ KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '6443' }, paths)?.server,
    ).toBe('https://[fd00::1]:6443');
    expect(
      loadKubeConfig(
        undefined,
        { HOME: tempDir(), KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '6443' },
        { inCluster: paths },
      ).server,
    ).toBe('https://[fd00::1]:6443');
    expect(inClusterConfig({ KUBERNETES_SERVICE_PORT: '443' }, paths)).toBeUndefined();
  });

  test('an empty kubeconfig (no cluster, user or context) is no config: in-cluster next, as clientcmd does', () => {
    const dir = writeFiles({
      token: 'sa-token',
      'ca.crt': CA,
      empty: '',
      bare: 'apiVersion: v1\nkind: Config\nclusters: []\n',
    });
    const paths = { tokenFile: join(dir, 'token'), caFile: join(dir, 'ca.crt') };
    const env = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };
    for (const kubeconfig of [join(dir, 'empty'), `${join(dir, 'empty')}:${join(dir, 'bare')}`]) {
      expect(loadKubeConfig(undefined, { ...env, KUBECONFIG: kubeconfig }, { inCluster: paths }).source).toBe(
        'in-cluster',
      );
    }
    mkdirSync(join(dir, '.kube'));
    writeFileSync(join(dir, '.kube', 'config'), '');
    expect(loadKubeConfig(undefined, { ...env, HOME: dir }, { inCluster: paths }).source).toBe('in-cluster');
    // Without in-cluster credentials an empty file is the usual "no credentials".
    expect(() => loadKubeConfig(undefined, { HOME: dir })).toThrow(NO_CREDENTIALS);
    // A config that names a context it lacks is an error, not an empty config.
    writeFileSync(join(dir, '.kube', 'config'), 'current-context: gone\n');
    expect(() => loadKubeConfig(undefined, { ...env, HOME: dir }, { inCluster: paths })).toThrow(
      'names no current cluster',
    );
    // --kubeconfig never falls back.
    expect(() => loadKubeConfig(join(dir, 'empty'), env, { inCluster: paths })).toThrow('names no current cluster');
  });

  test('no token: an error naming the file; no CA: the system roots, with a warning', () => {
    const dir = writeFiles({ token: 'sa-token' });
    const env = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };
    expect(() => inClusterConfig(env, { tokenFile: join(dir, 'nope'), caFile: join(dir, 'ca.crt') })).toThrow(
      `the in-cluster ServiceAccount token: cannot read ${join(dir, 'nope')} (ENOENT)`,
    );
    const kc = inClusterConfig(env, { tokenFile: join(dir, 'token'), caFile: join(dir, 'ca.crt') });
    expect(kc?.certificateAuthority).toBeUndefined();
    expect(kc?.warnings).toEqual([
      `cannot read the in-cluster CA ${join(dir, 'ca.crt')} (ENOENT): verifying the API server with the system roots`,
    ]);
  });
});
