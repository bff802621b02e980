import { once } from 'node:events';
import { type AddressInfo, createServer as createNetServer, type Socket } from 'node:net';
import { type CertificateSet, generateCertificates } from '../../../src/certs/generate.js';
import { KubeClient } from '../../../src/kube/client.js';
import { proxyFromEnvironment } from '../../../src/kube/proxy.js';
import { FakeApiServer, waitFor } from '../facts/fake-apiserver.js';
import { httpsServer, json, startProxy, type TestProxy, type TestServer } from './helpers.js';

/** The API server's name: not loopback, so it is proxied; only the test proxy knows where it is. */
const HOST = 'kube.example.test';

describe('which proxy, as Go’s httpproxy decides (golang.org/x/net/http/httpproxy proxy_test.go)', () => {
  const proxyFor = (env: Record<string, string>, target = 'http://example.com') =>
    proxyFromEnvironment(env).proxyFor(new URL(target))?.href;

  test.each([
    [{ HTTP_PROXY: '127.0.0.1:8080' }, 'http://example.com', 'http://127.0.0.1:8080/'],
    [{ HTTP_PROXY: 'cache.corp.example.com:1234' }, 'http://example.com', 'http://cache.corp.example.com:1234/'],
    [{ HTTP_PROXY: 'cache.corp.example.com' }, 'http://example.com', 'http://cache.corp.example.com/'],
    [{ HTTP_PROXY: 'localhost' }, 'http://example.com', 'http://localhost/'],
    [{ HTTP_PROXY: 'https://cache.corp.example.com' }, 'http://example.com', 'https://cache.corp.example.com/'],
    [
      { HTTP_PROXY: 'http.proxy.tld', HTTPS_PROXY: 'secure.proxy.tld' },
      'http://insecure.tld/',
      'http://http.proxy.tld/',
    ],
    [
      { HTTP_PROXY: 'http.proxy.tld', HTTPS_PROXY: 'secure.proxy.tld' },
      'https://secure.tld/',
      'http://secure.proxy.tld/',
    ],
    [
      { HTTP_PROXY: 'http.proxy.tld', HTTPS_PROXY: 'https://secure.proxy.tld' },
      'https://secure.tld/',
      'https://secure.proxy.tld/',
    ],
    [{ HTTP_PROXY: 'http.proxy.tld' }, 'https://secure.tld/', undefined],
    [{ HTTP_PROXY: 'http://10.1.2.3:8080', REQUEST_METHOD: 'GET' }, 'http://example.com', undefined], // CGI
    [
      { HTTPS_PROXY: 'https://secure.proxy.tld', REQUEST_METHOD: 'GET' },
      'https://secure.tld/',
      'https://secure.proxy.tld/',
    ],
    [{}, 'http://example.com', undefined],
    [{ NO_PROXY: 'example.com', HTTP_PROXY: 'proxy' }, 'http://example.com/', undefined],
    [{ NO_PROXY: '.example.com', HTTP_PROXY: 'proxy' }, 'http://example.com/', 'http://proxy/'],
    [{ NO_PROXY: 'ample.com', HTTP_PROXY: 'proxy' }, 'http://example.com/', 'http://proxy/'],
    [{ NO_PROXY: 'example.com', HTTP_PROXY: 'proxy' }, 'http://foo.example.com/', undefined],
    [{ NO_PROXY: '.foo.com', HTTP_PROXY: 'proxy' }, 'http://example.com/', 'http://proxy/'],
    [{ NO_PROXY: '.示例.com', HTTP_PROXY: 'proxy' }, 'http://www.示例.com', undefined],
    [{ NO_PROXY: 'xn--fsq092h.com', HTTP_PROXY: 'proxy' }, 'http://www.示例.com', undefined],
    [{ NO_PROXY: '示例.com', HTTP_PROXY: 'proxy' }, 'http://www.xn--fsq092h.com', undefined],
    // Upper case wins; lower case alone works; the empty string counts as unset.
    [{ HTTPS_PROXY: 'upper:1', https_proxy: 'lower:2' }, 'https://x.example', 'http://upper:1/'],
    [{ https_proxy: 'lower:2' }, 'https://x.example', 'http://lower:2/'],
    [{ HTTPS_PROXY: '', https_proxy: 'lower:2' }, 'https://x.example', 'http://lower:2/'],
    [{ HTTPS_PROXY: 'p:3', NO_PROXY: '', no_proxy: 'x.example' }, 'https://x.example', undefined],
  ])('%j for %s: %s', (env, target, want) => {
    expect(proxyFor(env, target)).toBe(want);
  });

  const NO_PROXY =
    'foobar.com, .barbaz.net, *.wildcard.io, 192.168.1.1, 192.168.1.2:81, 192.168.1.3:80, 10.0.0.0/30, 2001:db8::52:0:1, [2001:db8::52:0:2]:443, [2001:db8::52:0:3]:80, 2002:db8:a::45/64';
  test.each([
    ['localhost', false],
    ['127.0.0.1', false],
    ['127.0.0.2', false],
    ['[::1]', false],
    ['[::2]', true],
    ['192.168.1.1', false],
    ['192.168.1.2', true],
    ['192.168.1.3', false],
    ['192.168.1.4', true],
    ['10.0.0.2', false],
    ['[2001:db8::52:0:1]', false],
    ['[2001:db8::52:0:2]', true],
    ['[2001:db8::52:0:3]', false],
    ['[2002:db8:a::123]', false],
    ['[fe80::424b:c8be:1643:a1b6]', true],
    ['barbaz.net', true],
    ['www.barbaz.net', false],
    ['foobar.com', false],
    ['www.foobar.com', false],
    ['foofoobar.com', true],
    ['baz.com', true],
    ['localhost.net', true],
    ['local.localhost', true],
    ['barbarbaz.net', true],
    ['wildcard.io', true],
    ['nested.wildcard.io', false],
    ['awildcard.io', true],
    ['WWW.FooBar.COM', false],
  ])('NO_PROXY: %s:80 is proxied: %s', (host, proxied) => {
    const env = { HTTP_PROXY: 'http://proxy.example:3128', NO_PROXY };
    expect(proxyFor(env, `http://${host}:80/`) !== undefined).toBe(proxied);
    // `*` means no proxy at all; an entry that is only a port is skipped.
    expect(proxyFor({ ...env, NO_PROXY: '*' }, `http://${host}:80/`)).toBeUndefined();
  });

  test('a malformed NO_PROXY entry is skipped; an unusable proxy is reported', () => {
    expect(proxyFor({ HTTP_PROXY: 'proxy', NO_PROXY: ':1' }, 'http://example.com/')).toBe('http://proxy/');
    const socks = proxyFromEnvironment({ HTTPS_PROXY: 'socks5://127.0.0.1:1080' });
    expect(socks.proxyFor(new URL('https://x.example'))?.protocol).toBe('socks5:');
    expect(socks.warnings).toEqual([
      'HTTPS_PROXY is a socks5 proxy; tokenguard supports http and https proxies only, so requests through it fail',
    ]);
    expect(proxyFromEnvironment({ HTTPS_PROXY: 'http://proxy example' }).warnings).toEqual([
      'HTTPS_PROXY is not a URL; it is not used',
    ]);
  });
});

describe('through a real CONNECT proxy on loopback', () => {
  let certs: CertificateSet;
  const cleanup: (() => Promise<void> | void)[] = [];
  beforeAll(async () => {
    certs = await generateCertificates({ service: 'kubernetes', namespace: 'default', dnsNames: [HOST] });
  });
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  async function apiServer(): Promise<TestServer> {
    const s = await httpsServer(certs, (req, res) =>
      json(res, 200, { kind: 'Namespace', metadata: { name: req.url?.split('/')[4] ?? '' } }),
    );
    cleanup.push(() => s.close());
    return s;
  }
  async function proxy(o: { auth?: string; hosts?: Record<string, number> } = {}): Promise<TestProxy> {
    const p = await startProxy({ hosts: { [HOST]: 0, ...o.hosts }, ...(o.auth ? { auth: o.auth } : {}) });
    cleanup.push(() => p.close());
    return p;
  }
  function client(server: string, env: Record<string, string>, token = 'bearer-secret-0123'): KubeClient {
    const c = new KubeClient({ source: 'test', server, certificateAuthority: certs.caCert, user: { token } }, { env });
    cleanup.push(() => c.close());
    return c;
  }

  test('HTTPS_PROXY: requests go through one CONNECT tunnel (kept alive), TLS end to end', async () => {
    const s = await apiServer();
    const p = await proxy();
    const c = client(`https://${HOST}:${s.port}`, { HTTPS_PROXY: p.url, HTTP_PROXY: 'http://127.0.0.1:9' });
    expect(c.proxy?.href).toBe(`${p.url}/`);
    expect(await c.getJson('/api/v1/namespaces/a')).toEqual({ kind: 'Namespace', metadata: { name: 'a' } });
    expect(await c.getJson('/api/v1/namespaces/b')).toEqual({ kind: 'Namespace', metadata: { name: 'b' } });
    expect(p.connects).toEqual([`${HOST}:${s.port}`]);
    expect(s.seen.map((r) => [r.url, r.authorization])).toEqual([
      ['/api/v1/namespaces/a', 'Bearer bearer-secret-0123'],
      ['/api/v1/namespaces/b', 'Bearer bearer-secret-0123'],
    ]);
    // The proxy carried the bytes but never saw the credentials or the paths.
    expect(p.tunnelled().length).toBeGreaterThan(0);
    expect(p.tunnelled().includes('bearer-secret-0123')).toBe(false);
    expect(p.tunnelled().includes('/api/v1/namespaces')).toBe(false);
  });

  test('proxy credentials from the URL are sent as Proxy-Authorization; a 407 fails without showing them', async () => {
    const s = await apiServer();
    const p = await proxy({ auth: `Basic ${Buffer.from('ci@corp:p@ss:w0rd').toString('base64')}` });
    const withAuth = `http://ci%40corp:p%40ss%3Aw0rd@${p.url.slice('http://'.length)}`;
    expect(
      await client(`https://${HOST}:${s.port}`, { https_proxy: withAuth }).getJson('/api/v1/namespaces/a'),
    ).toMatchObject({ kind: 'Namespace' });
    const err = await client(`https://${HOST}:${s.port}`, { HTTPS_PROXY: `http://ci:wrong-secret@${p.url.slice(7)}` })
      .getJson('/api/v1/namespaces/a')
      .catch((e: Error) => e);
    expect(String(err)).toBe(
      `Error: proxy ${p.url}: refused the tunnel to ${HOST}:${s.port}: HTTP 407 Proxy Authentication Required`,
    );
    expect(p.authorizations).toEqual([
      `Basic ${Buffer.from('ci@corp:p@ss:w0rd').toString('base64')}`,
      `Basic ${Buffer.from('ci:wrong-secret').toString('base64')}`,
    ]);
  });

  test('a proxy that refuses the target, or is not there: the error names proxy and target', async () => {
    const p = await proxy();
    const refused = await client(`https://unknown.example.test:443`, { HTTPS_PROXY: p.url })
      .getJson('/version')
      .catch((e: Error) => e.message);
    expect(refused).toBe(`proxy ${p.url}: refused the tunnel to unknown.example.test:443: HTTP 502 Bad Gateway`);
    const closed = createNetServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const down = await client(`https://${HOST}:443`, { HTTPS_PROXY: `127.0.0.1:${port}` })
      .getJson('/version')
      .catch((e: Error) => e.message);
    expect(down).toBe(`proxy http://127.0.0.1:${port}: cannot open a tunnel to ${HOST}:443 (ECONNREFUSED)`);
  });

  test('loopback API servers are never proxied; NO_PROXY * turns the proxy off', async () => {
    const s = await httpsServer(
      await generateCertificates({ service: 'k', namespace: 'd', ipAddresses: ['127.0.0.1'] }),
      (_req, res) => json(res, 200, { kind: 'Status' }),
    );
    cleanup.push(() => s.close());
    const p = await proxy();
    const c = new KubeClient(
      { source: 'test', server: s.url, insecureSkipTlsVerify: true, user: {} },
      { env: { HTTPS_PROXY: p.url } },
    );
    cleanup.push(() => c.close());
    expect(c.proxy).toBeUndefined();
    expect(await c.getJson('/version')).toEqual({ kind: 'Status' });
    expect(p.connects).toEqual([]);
    expect(client(`https://${HOST}:1`, { HTTPS_PROXY: p.url, NO_PROXY: '*' }).proxy).toBeUndefined();
  });

  test('a socks5 proxy is not silently skipped: requests fail and say why', async () => {
    const err = await client(`https://${HOST}:443`, { HTTPS_PROXY: 'socks5://127.0.0.1:1080' })
      .getJson('/version')
      .catch((e: Error) => e.message);
    expect(err).toBe('proxy socks5://127.0.0.1:1080: only http:// and https:// proxies are supported');
  });

  test('an http:// API server through HTTP_PROXY: absolute URLs to the proxy, lists and watches', async () => {
    const api = new FakeApiServer();
    await api.up();
    cleanup.push(() => api.close());
    const apiPort = Number(new URL(api.url).port);
    const p = await proxy({ hosts: { [HOST]: apiPort } });
    api.apply('namespaces', { metadata: { name: 'team-a' } });
    const c = new KubeClient(
      { source: 'fake', server: `http://${HOST}:${apiPort}`, user: { token: 'not-a-real-token' } },
      { env: { HTTP_PROXY: p.url } },
    );
    cleanup.push(() => c.close());
    const list = await c.listAll(
      '/api/v1/namespaces',
      { pageSize: 0, pageTimeoutMs: 5_000 },
      (o) => (o.metadata as { name: string }).name,
    );
    expect(list.items).toEqual(['team-a']);
    const events: string[] = [];
    const stop = new AbortController();
    const watching = c
      .watch('/api/v1/namespaces', {
        resourceVersion: list.resourceVersion,
        signal: stop.signal,
        onEvent: (e) => events.push(`${e.type} ${(e.object.metadata as { name: string }).name}`),
      })
      .catch((e: Error) => e.name);
    await waitFor('the watch to open', () => api.watchers('namespaces') === 1);
    api.apply('namespaces', { metadata: { name: 'team-b' } });
    await waitFor('the event through the proxy', () => events.length === 1);
    stop.abort();
    expect(await watching).toBe('AbortError');
    expect(events).toEqual(['ADDED team-b']);
    expect(p.requests).toEqual([
      `GET http://${HOST}:${apiPort}/api/v1/namespaces`,
      `GET http://${HOST}:${apiPort}/api/v1/namespaces?watch=true&resourceVersion=${list.resourceVersion}&allowWatchBookmarks=true`,
    ]);
    expect(p.connects).toEqual([]);
  });

  test('close() ends a tunnel still waiting for a proxy that never answers', async () => {
    const held = new Set<Socket>();
    const silent = createNetServer((socket) => {
      held.add(socket);
      socket.resume(); // reads (and drops) what comes, so that the client's close is seen
      socket.on('close', () => held.delete(socket));
    });
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    cleanup.push(() => new Promise<void>((r) => silent.close(() => r())));
    const port = (silent.address() as AddressInfo).port;
    const c = new KubeClient(
      { source: 'test', server: `https://${HOST}:443`, user: {} },
      { env: { HTTPS_PROXY: `http://127.0.0.1:${port}` } },
    );
    const pending = c.getJson('/version').catch((e: Error) => e.message);
    await waitFor('the proxy connection', () => held.size === 1);
    c.close();
    await waitFor('the proxy connection to close', () => held.size === 0);
    expect(await pending).toMatch(/closed/);
  });
});
