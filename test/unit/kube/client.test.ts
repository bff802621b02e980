import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { join } from 'node:path';
import type { CertificateSet } from '../../../src/certs/generate.js';
import { apiError, KubeApiError, KubeClient, LineSplitter, type WatchEvent } from '../../../src/kube/client.js';
import type { KubeConfig, UserConfig } from '../../../src/kube/config.js';
import { waitFor } from '../facts/fake-apiserver.js';
import {
  hangingPlugin,
  httpsServer,
  isRunning,
  json,
  serverCertificates,
  status,
  type TestServer,
  writeFiles,
  writePlugin,
} from './helpers.js';

let certs: CertificateSet; // the API server's, for 127.0.0.1
let client: CertificateSet; // another CA's leaf, presented as a client certificate
let servers: TestServer[] = [];
let clients: KubeClient[] = [];

beforeAll(async () => {
  [certs, client] = await Promise.all([serverCertificates(), serverCertificates()]);
});

afterEach(async () => {
  for (const c of clients) c.close();
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
  clients = [];
});

async function serve(handler: Parameters<typeof httpsServer>[1], tls: CertificateSet = certs): Promise<TestServer> {
  const s = await httpsServer(tls, handler);
  servers.push(s);
  return s;
}

function connect(server: TestServer, user: UserConfig = {}, extra: Partial<KubeConfig> = {}): KubeClient {
  const c = new KubeClient({ source: 'test', server: server.url, certificateAuthority: certs.caCert, user, ...extra });
  clients.push(c);
  return c;
}

const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;
const ok = (res: ServerResponse) => json(res, 200, { kind: 'Namespace', metadata: { name: 'a' } });
const rejection = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e as Error & { statusCode?: number },
  );

describe('Accept and bodies', () => {
  test('getJson sends the Accept header asked for (metadata-only lists), application/json otherwise', async () => {
    const accepts: string[] = [];
    const s = await serve((req, res) => {
      accepts.push(String(req.headers.accept));
      ok(res);
    });
    const c = connect(s);
    await c.getJson(
      '/api/v1/secrets',
      { limit: 1 },
      { accept: 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1' },
    );
    await c.getJson('/api/v1/pods');
    expect(accepts).toEqual(['application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1', 'application/json']);
  });

  test('sendJson sends method, query, content type and body, and parses the answer; a failure names the method', async () => {
    const seen: { method?: string; url?: string; type?: string; body: string }[] = [];
    const s = await serve((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c));
      req.on('end', () => {
        seen.push({ method: req.method, url: req.url, type: req.headers['content-type'], body });
        if (req.url?.startsWith('/denied')) json(res, 403, status(403, 'Forbidden', 'no'));
        else json(res, 200, { kind: 'PolicyReport', echoed: JSON.parse(body) });
      });
    });
    const c = connect(s, { token: 't' });
    const answer = await c.sendJson('PATCH', '/apis/x/v1/r/n', '{"a":1}', {
      query: { fieldManager: 'tokenguard', force: 'true' },
      contentType: 'application/apply-patch+yaml',
    });
    expect(answer).toEqual({ kind: 'PolicyReport', echoed: { a: 1 } });
    expect(seen[0]).toEqual({
      method: 'PATCH',
      url: '/apis/x/v1/r/n?fieldManager=tokenguard&force=true',
      type: 'application/apply-patch+yaml',
      body: '{"a":1}',
    });
    const err = await rejection(c.sendJson('PATCH', '/denied', '{}', { contentType: 'application/json' }));
    expect(err).toMatchObject({ statusCode: 403, message: 'HTTP 403 Forbidden: no' });
  });
});

describe('authentication against a real HTTPS server on loopback', () => {
  test('bearer token, basic auth and client certificate reach the server as such', async () => {
    const s = await serve((_req, res) => ok(res));
    await connect(s, { token: 'bearer-1' }).getJson('/api/v1/namespaces/a');
    await connect(s, { username: 'admin', password: 'pw' }).getJson('/api/v1/namespaces/a');
    await connect(s, { clientCertificate: client.cert, clientKey: client.key }).getJson('/api/v1/namespaces/a');
    await connect(s).getJson('/api/v1/namespaces/a');
    expect(s.seen.map((r) => [r.authorization, r.clientCert])).toEqual([
      ['Bearer bearer-1', undefined],
      [`Basic ${Buffer.from('admin:pw').toString('base64')}`, undefined],
      [undefined, fingerprint(client.cert)],
      [undefined, undefined],
    ]);
  });

  test('the server certificate is verified: against the CA, the system roots without one, or tls-server-name', async () => {
    const s = await serve((_req, res) => ok(res));
    await expect(connect(s, {}, { certificateAuthority: undefined }).getJson('/x')).rejects.toThrow(
      /self[- ]signed|unable to verify|local issuer/i,
    );
    await expect(connect(s, {}, { certificateAuthority: client.caCert }).getJson('/x')).rejects.toThrow();
    await expect(
      connect(s, {}, { certificateAuthority: undefined, insecureSkipTlsVerify: true }).getJson('/x'),
    ).resolves.toMatchObject({ kind: 'Namespace' });
    // a certificate without 127.0.0.1, only Service names: valid with tls-server-name, refused without
    const named = await serverCertificates({ ip: false });
    const n = await serve((_req, res) => ok(res), named);
    const c = (tlsServerName?: string) => {
      const k = new KubeClient({
        source: 'test',
        server: n.url,
        certificateAuthority: named.caCert,
        user: {},
        ...(tlsServerName ? { tlsServerName } : {}),
      });
      clients.push(k);
      return k;
    };
    await expect(c().getJson('/x')).rejects.toThrow(/IP: 127\.0\.0\.1 is not in the cert's list|altname/i);
    await expect(c('tokenguard.tokenguard-system.svc').getJson('/x')).resolves.toMatchObject({ kind: 'Namespace' });
  });

  test('a 401 re-runs the exec plugin and retries once with the new token', async () => {
    const plugin = writePlugin();
    const s = await serve((req, res) =>
      req.headers.authorization === 'Bearer tok-2'
        ? ok(res)
        : json(res, 401, status(401, 'Unauthorized', 'Unauthorized')),
    );
    const exec = {
      apiVersion: 'client.authentication.k8s.io/v1',
      command: process.execPath,
      args: [plugin.script],
      env: [{ name: 'PLUGIN_LOG', value: plugin.log }],
      interactiveMode: 'Never',
    };
    const c = connect(s, { exec });
    await expect(c.getJson('/api/v1/namespaces/a')).resolves.toMatchObject({ kind: 'Namespace' });
    await expect(c.getJson('/api/v1/namespaces/a')).resolves.toMatchObject({ kind: 'Namespace' }); // cached, no new run
    expect(s.seen.map((r) => r.authorization)).toEqual(['Bearer tok-1', 'Bearer tok-2', 'Bearer tok-2']);
  });

  test('close() kills a running exec plugin and the child it started, and the request waiting on it fails at once', async () => {
    const plugin = hangingPlugin();
    const s = await serve((_req, res) => ok(res));
    // The default timeout (60 s) is far beyond this test's: only close() can end the run in time.
    const c = connect(s, { exec: plugin.exec });
    let outcome: string | undefined;
    const request = c.getJson('/api/v1/namespaces/a').then(
      () => {
        outcome = 'resolved';
      },
      (e: Error) => {
        outcome = e.message;
      },
    );
    try {
      const [pluginPid, childPid] = await plugin.pids();
      expect([isRunning(pluginPid), isRunning(childPid)]).toEqual([true, true]);
      expect(outcome).toBeUndefined();
      c.close();
      await new Promise((r) => setImmediate(r)); // no timer, no I/O: settled by close() itself
      expect(outcome).toBe(`exec plugin "${process.execPath}" was stopped: the client was closed`);
      await request;
      await waitFor('plugin and child are gone', () => !isRunning(pluginPid) && !isRunning(childPid));
      expect(s.seen).toEqual([]); // nothing was sent without a credential
    } finally {
      plugin.kill();
    }
  }, 20_000);

  test('a 401 re-reads the token file and retries once if it changed; still refused: a 401 error', async () => {
    const dir = writeFiles({ token: 'one' });
    let accepted = 'one';
    const s = await serve((req, res) =>
      req.headers.authorization === `Bearer ${accepted}`
        ? ok(res)
        : json(res, 401, status(401, 'Unauthorized', 'Unauthorized')),
    );
    const c = connect(s, { tokenFile: join(dir, 'token') });
    await c.getJson('/a');
    accepted = 'two'; // the API server no longer takes the old token, and the file has not rotated yet
    const err = await rejection(c.getJson('/a'));
    expect(err).toBeInstanceOf(KubeApiError);
    expect(err).toMatchObject({ statusCode: 401, message: 'HTTP 401 Unauthorized: Unauthorized' });
    writeFileSync(join(dir, 'token'), 'two\n'); // the kubelet rotated it, less than a minute after the last read
    await expect(c.getJson('/a')).resolves.toMatchObject({ kind: 'Namespace' });
    expect(s.seen.map((r) => r.authorization)).toEqual(['Bearer one', 'Bearer one', 'Bearer one', 'Bearer two']);
  });
});

describe('errors', () => {
  test('a Status body gives statusCode, reason and a short message; nothing else of the answer or the request', async () => {
    const long = `serviceaccounts "x" is forbidden: User "system:serviceaccount:tokenguard-system:tokenguard" cannot get resource ${'y'.repeat(400)}`;
    const s = await serve((req, res) => {
      res.setHeader('x-echo', String(req.headers.authorization));
      if (req.url?.startsWith('/forbidden')) json(res, 403, status(403, 'Forbidden', long));
      else if (req.url?.startsWith('/gone')) json(res, 410, status(410, 'Expired', 'too old resource version: 1 (5)'));
      else {
        res.writeHead(502, { 'content-type': 'text/html' });
        res.end(`<html>proxy error for ${req.headers.authorization}</html>`);
      }
    });
    const c = connect(s, { token: 'secret-bearer' });
    const forbidden = await rejection(c.getJson('/forbidden'));
    expect(forbidden).toBeInstanceOf(KubeApiError);
    expect(forbidden).toMatchObject({ statusCode: 403, reason: 'Forbidden' });
    expect(
      forbidden?.message.startsWith(
        'HTTP 403 Forbidden: serviceaccounts "x" is forbidden: User "system:serviceaccount:tokenguard-system:tokenguard"',
      ),
    ).toBe(true);
    expect(forbidden?.message.length).toBeLessThan(330);
    expect(await rejection(c.getJson('/gone'))).toMatchObject({
      statusCode: 410,
      reason: 'Expired',
      message: 'HTTP 410 Expired: too old resource version: 1 (5)',
    });
    const proxy = await rejection(c.getJson('/proxy'));
    expect(proxy).toMatchObject({ statusCode: 502, message: 'HTTP 502 Bad Gateway' });
    for (const e of [forbidden, proxy])
      expect(`${e?.message} ${e?.stack} ${JSON.stringify(e)}`).not.toContain('secret-bearer');
  });

  test('apiError never echoes a body that is not a Status', () => {
    expect(apiError(500, 'Authorization: Bearer abc').message).toBe('HTTP 500 Internal Server Error');
    expect(apiError(404, JSON.stringify(status(404, 'NotFound', 'namespaces "x" not found'))).message).toBe(
      'HTTP 404 NotFound: namespaces "x" not found',
    );
  });

  test('the deadline really ends a request that never answers; so does the caller’s signal', async () => {
    const s = await serve(() => {}); // accepts, never answers
    const c = connect(s, { token: 't' });
    const late = await rejection(c.getJson('/api/v1/namespaces/slow', {}, { timeoutMs: 200 }));
    expect(late?.message).toBe('GET /api/v1/namespaces/slow: no answer within 200 ms');
    const controller = new AbortController();
    const pending = rejection(c.getJson('/api/v1/namespaces/slow', {}, { signal: controller.signal }));
    setTimeout(() => controller.abort(new Error('stopping')), 50);
    expect((await pending)?.message).toBe('stopping');
    // a body that starts but never ends is cut by the deadline too
    const t = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"kind":');
    });
    await expect(connect(t).getJson('/half', {}, { timeoutMs: 200 })).rejects.toThrow(
      'GET /half: no answer within 200 ms',
    );
  });
});

describe('lists', () => {
  test('pages with limit/continue, keeps the first resourceVersion, maps items as they arrive', async () => {
    const items = Array.from({ length: 5 }, (_, i) => ({
      metadata: { name: `sa-${i}`, resourceVersion: String(10 + i) },
    }));
    const s = await serve((req, res) => {
      const u = new URL(req.url ?? '/', 'https://x');
      const from = Number(u.searchParams.get('continue') ?? '0');
      const limit = Number(u.searchParams.get('limit'));
      const next = from + limit < items.length ? String(from + limit) : undefined;
      json(res, 200, {
        kind: 'ServiceAccountList',
        metadata: { resourceVersion: '42', ...(next ? { continue: next } : {}) },
        items: items.slice(from, from + limit),
      });
    });
    const list = await connect(s).listAll(
      '/api/v1/serviceaccounts',
      { pageSize: 2, pageTimeoutMs: 5_000 },
      (o) => (o.metadata as { name: string }).name,
    );
    expect(list).toEqual({ resourceVersion: '42', items: ['sa-0', 'sa-1', 'sa-2', 'sa-3', 'sa-4'] });
    expect(s.seen.map((r) => r.url)).toEqual([
      '/api/v1/serviceaccounts?limit=2',
      '/api/v1/serviceaccounts?limit=2&continue=2',
      '/api/v1/serviceaccounts?limit=2&continue=4',
    ]);
  });

  test('an expired continue token (410): one whole list instead, as client-go’s pager does', async () => {
    const s = await serve((req, res) => {
      const u = new URL(req.url ?? '/', 'https://x');
      if (u.searchParams.get('continue')) json(res, 410, status(410, 'Expired', 'continue token expired'));
      else if (u.searchParams.get('limit'))
        json(res, 200, { metadata: { resourceVersion: '1', continue: 'c' }, items: [{ metadata: { name: 'a' } }] });
      else
        json(res, 200, {
          metadata: { resourceVersion: '7' },
          items: [{ metadata: { name: 'a' } }, { metadata: { name: 'b' } }],
        });
    });
    const list = await connect(s).listAll(
      '/api/v1/namespaces',
      { pageSize: 1, pageTimeoutMs: 5_000 },
      (o) => (o.metadata as { name: string }).name,
    );
    expect(list).toEqual({ resourceVersion: '7', items: ['a', 'b'] });
    expect(s.seen.map((r) => r.url)).toEqual([
      '/api/v1/namespaces?limit=1',
      '/api/v1/namespaces?limit=1&continue=c',
      '/api/v1/namespaces',
    ]);
  });
});

describe('watches', () => {
  const event = (type: string, name: string, rv: string) =>
    JSON.stringify({ type, object: { metadata: { name, resourceVersion: rv, annotations: { note: 'ü€😀' } } } });

  test('the chunked body is split into lines whatever the chunk boundaries (UTF-8 included); a clean end resolves', async () => {
    const body = Buffer.from(
      `${event('ADDED', 'a', '11')}\n${event('MODIFIED', 'b', '12')}\n\n${event('BOOKMARK', '', '13')}\n${event('DELETED', 'a', '14')}`,
    );
    const cuts = [
      3,
      40,
      41,
      97,
      98,
      99,
      body.indexOf(Buffer.from('😀')) + 1,
      body.indexOf(Buffer.from('€')) + 2,
      body.length - 1,
    ];
    const s = await serve((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      let at = 0;
      const parts = [...new Set(cuts)]
        .sort((a, b) => a - b)
        .map((cut) => {
          const p = body.subarray(at, cut);
          at = cut;
          return p;
        });
      parts.push(body.subarray(at));
      const send = () => {
        const p = parts.shift();
        if (!p) return void res.end();
        res.write(p);
        setTimeout(send, 5);
      };
      expect(req.url).toBe(
        '/api/v1/serviceaccounts?watch=true&resourceVersion=10&allowWatchBookmarks=true&timeoutSeconds=30',
      );
      send();
    });
    const events: WatchEvent[] = [];
    let opened = 0;
    await connect(s, { token: 't' }).watch('/api/v1/serviceaccounts', {
      resourceVersion: '10',
      timeoutSeconds: 30,
      onOpen: () => opened++,
      onEvent: (e) => {
        expect(opened).toBe(1);
        events.push(e);
      },
    });
    expect(events.map((e) => [e.type, (e.object.metadata as { resourceVersion: string }).resourceVersion])).toEqual([
      ['ADDED', '11'],
      ['MODIFIED', '12'],
      ['BOOKMARK', '13'],
      ['DELETED', '14'], // the last line had no newline
    ]);
    expect(
      events.every((e) => (e.object.metadata as { annotations: { note: string } }).annotations.note === 'ü€😀'),
    ).toBe(true);
  });

  test('HTTP 410 on opening, a broken connection, an unparseable line and a throwing handler all reject', async () => {
    const s = await serve((req, res) => {
      if (req.url?.startsWith('/gone')) return json(res, 410, status(410, 'Expired', 'too old resource version'));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(`${event('ADDED', 'a', '1')}\n`);
      if (req.url?.startsWith('/broken')) setTimeout(() => res.socket?.destroy(), 20);
      else if (req.url?.startsWith('/garbage')) res.end('not json at all\n');
      else res.end(`${event('ADDED', 'b', '2')}\n`);
    });
    const c = connect(s);
    const watch = (path: string, onEvent: (e: WatchEvent) => void = () => {}) => rejection(c.watch(path, { onEvent }));
    expect(await watch('/gone')).toMatchObject({
      statusCode: 410,
      message: 'HTTP 410 Expired: too old resource version',
    });
    expect((await watch('/broken'))?.message).toMatch(
      /^watch \/broken: the connection broke in the middle of the stream/,
    );
    expect((await watch('/garbage'))?.message).toBe('watch /garbage: the server sent a line that is not JSON');
    expect(
      (
        await watch('/ok', (e) => {
          if ((e.object.metadata as { name: string }).name === 'b') throw new Error('handler failed');
        })
      )?.message,
    ).toBe('handler failed');
  });

  test('aborting ends an open watch at once', async () => {
    const s = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(`${event('ADDED', 'a', '1')}\n`); // and nothing more
    });
    const controller = new AbortController();
    const events: string[] = [];
    const done = rejection(connect(s).watch('/w', { signal: controller.signal, onEvent: (e) => events.push(e.type) }));
    while (events.length === 0) await new Promise((r) => setTimeout(r, 10));
    controller.abort(new Error('stop'));
    expect((await done)?.message).toBe('stop');
  });
});

describe('LineSplitter', () => {
  test('splits across chunks, keeps a multi-byte character cut in two, returns the unterminated rest at the end', () => {
    const s = new LineSplitter();
    const euro = Buffer.from('€');
    expect(s.push(Buffer.from('ab'))).toEqual([]);
    expect(s.push(Buffer.concat([Buffer.from('c\nd'), euro.subarray(0, 1)]))).toEqual(['abc']);
    expect(s.push(Buffer.concat([euro.subarray(1), Buffer.from('\n\nx')]))).toEqual(['d€', '']);
    expect(s.end()).toEqual(['x']);
    expect(s.end()).toEqual([]);
  });

  test('a line longer than the limit is an error, not unbounded memory', () => {
    const s = new LineSplitter(8);
    expect(s.push(Buffer.from('1234\n567'))).toEqual(['1234']);
    expect(() => s.push(Buffer.from('890123'))).toThrow('a watch line is longer than 8 bytes');
  });
});
