/**
 * Loopback servers and temp files for the src/kube tests: a real HTTPS server and a real HTTP proxy on 127.0.0.1
 * (certificates from src/certs), and a tiny exec credential plugin written in JavaScript.
 */
import { once } from 'node:events';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import {
  createServer as createHttpServer,
  request as httpRequest,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { createServer, type Server } from 'node:https';
import { type AddressInfo, connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { type CertificateSet, generateCertificates } from '../../../src/certs/generate.js';
import type { ExecConfig } from '../../../src/kube/config.js';

/** A fresh temporary directory. */
export function tempDir(prefix = 'tg-kube-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Writes `files` (name to content) into a fresh temporary directory and returns it. */
export function writeFiles(files: Record<string, string>): string {
  const dir = tempDir();
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  return dir;
}

/** A server certificate for 127.0.0.1 and localhost, or (with `ip: false`) only for the Service names. */
export function serverCertificates(options: { ip?: boolean } = {}): Promise<CertificateSet> {
  return generateCertificates({
    service: 'tokenguard',
    namespace: 'tokenguard-system',
    ...(options.ip === false ? {} : { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] }),
  });
}

/** What the test server saw of one request. */
export interface SeenRequest {
  readonly url: string;
  readonly authorization: string | undefined;
  /** SHA-256 fingerprint of the client certificate, if one was presented. */
  readonly clientCert: string | undefined;
}

export interface TestServer {
  readonly url: string;
  readonly port: number;
  readonly seen: SeenRequest[];
  close(): Promise<void>;
}

/** An HTTPS server on 127.0.0.1 that asks for (but does not verify) client certificates. */
export async function httpsServer(
  certs: CertificateSet,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<TestServer> {
  const seen: SeenRequest[] = [];
  const server: Server = createServer(
    { cert: certs.cert, key: certs.key, requestCert: true, rejectUnauthorized: false },
    (req, res) => {
      const peer = (req.socket as TLSSocket).getPeerCertificate();
      seen.push({
        url: req.url ?? '',
        authorization: req.headers.authorization,
        clientCert: peer && 'fingerprint256' in peer && peer.fingerprint256 ? peer.fingerprint256 : undefined,
      });
      handler(req, res);
    },
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    url: `https://127.0.0.1:${port}`,
    port,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Answers JSON. */
export function json(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** A Kubernetes Status object. */
export function status(code: number, reason: string, message: string) {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

/**
 * An exec credential plugin (run as `node plugin.mjs ...`). It appends what it was given (args,
 * KUBERNETES_EXEC_INFO, the EXTRA variable) to `$PLUGIN_LOG`, one JSON line per run, and prints
 * an ExecCredential whose token is `tok-<run number>`. `$PLUGIN_MODE`: `fail` (prints a token
 * on stdout anyway, says "login required" on stderr, exits 3), `fail-verbose` (200 lines of
 * stderr ending in secrets a login tool might print: a refresh token, a Bearer value, an access
 * key, a password, then "login required"; exits 1), `garbage` (prints a token that is not JSON,
 * and a reason on stderr), `cert` (a client certificate from `$PLUGIN_CERT`/`$PLUGIN_KEY` files instead),
 * `hang` (starts a child that holds the plugin's stdout open, writes `<plugin pid> <child pid>`
 * to `$PLUGIN_PIDS`, then neither prints nor exits: both would live for a minute).
 * `$PLUGIN_EXPIRES` sets `expirationTimestamp`; `$PLUGIN_API` the apiVersion answered.
 * It writes with `writeSync`: on Node 24 a socket stdio's pending writes are lost at `process.exit`.
 */
export const PLUGIN_SOURCE = `
import { appendFileSync, readFileSync, writeSync } from 'node:fs';
const log = process.env.PLUGIN_LOG;
appendFileSync(log, JSON.stringify({ args: process.argv.slice(2), info: JSON.parse(process.env.KUBERNETES_EXEC_INFO ?? 'null'), extra: process.env.EXTRA ?? null }) + '\\n');
const run = readFileSync(log, 'utf8').trim().split('\\n').length;
const mode = process.env.PLUGIN_MODE ?? '';
if (mode === 'fail') {
  writeSync(1, JSON.stringify({ status: { token: 'leaked-secret-' + run } }));
  writeSync(2, 'some progress\\nlogin required\\n');
  process.exit(3);
}
if (mode === 'hang') {
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: ['ignore', 'inherit', 'ignore'] });
  appendFileSync(process.env.PLUGIN_PIDS, process.pid + ' ' + child.pid + '\\n');
  setTimeout(() => {}, 60000);
  await new Promise(() => {});
}
if (mode === 'fail-verbose') {
  for (let i = 0; i < 200; i++) writeSync(2, 'progress line ' + i + '\\n');
  writeSync(2, 'using cache /home/user/.kube/cache/oidc-login/4f2a9c\\n');
  writeSync(2, 'error: refresh token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJsZWFrZWQtc2VjcmV0In0.c2lnbmF0dXJl expired\\r\\n');
  writeSync(2, 'retrying with Authorization: Bearer leaked-secret-bearer-0123\\n');
  writeSync(2, 'fallback key AKIAleakedsecret0123456789 password=leaked-secret-pw\\n');
  writeSync(2, 'login required: open https://login.example.com/device and enter the code ABCD-EFGH\\n');
  process.exit(1);
}
if (mode === 'garbage') {
  writeSync(2, 'warning: printing a plain token, not an ExecCredential\\n');
  writeSync(1, 'token=leaked-secret-' + run + '\\n');
  process.exit(0);
}
const status = mode === 'cert'
  ? { clientCertificateData: readFileSync(process.env.PLUGIN_CERT, 'utf8'), clientKeyData: readFileSync(process.env.PLUGIN_KEY, 'utf8') }
  : { token: 'tok-' + run };
if (process.env.PLUGIN_EXPIRES) status.expirationTimestamp = process.env.PLUGIN_EXPIRES;
writeSync(1, JSON.stringify({ apiVersion: process.env.PLUGIN_API ?? JSON.parse(process.env.KUBERNETES_EXEC_INFO).apiVersion, kind: 'ExecCredential', status }));
`;

/**
 * True while process `pid` runs. A zombie (dead, not yet reaped by its parent: a plugin's child
 * is re-parented to PID 1, which in a container may never reap it) counts as gone.
 */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // /proc/<pid>/stat: "pid (comm) state ..."; comm may hold spaces and parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc: signal 0 said it exists
  }
}

/** Waits (at most 10 s) for a plugin in `hang` mode to write its pids to `file`: the plugin's, then its child's. */
async function hungPluginPids(file: string): Promise<[number, number]> {
  const end = Date.now() + 10_000;
  for (;;) {
    try {
      const m = /^(\d+) (\d+)\n/.exec(readFileSync(file, 'utf8'));
      if (m) return [Number(m[1]), Number(m[2])];
    } catch {
      // not written yet
    }
    if (Date.now() > end) throw new Error(`the plugin wrote no pids to ${file}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * The plugin in `hang` mode, as a kubeconfig's exec entry. `pids()` waits for the pids it
 * writes (the plugin's, then its child's); `kill()` SIGKILLs those still running (cleanup).
 */
export function hangingPlugin(): { exec: ExecConfig; pids(): Promise<[number, number]>; kill(): void } {
  const plugin = writePlugin();
  const pidFile = join(plugin.dir, 'pids');
  let known: readonly number[] = [];
  return {
    exec: {
      apiVersion: 'client.authentication.k8s.io/v1',
      command: process.execPath,
      args: [plugin.script],
      env: [
        { name: 'PLUGIN_LOG', value: plugin.log },
        { name: 'PLUGIN_MODE', value: 'hang' },
        { name: 'PLUGIN_PIDS', value: pidFile },
      ],
      interactiveMode: 'Never',
    },
    async pids() {
      const pids = await hungPluginPids(pidFile);
      known = pids;
      return pids;
    },
    kill() {
      for (const pid of known) if (isRunning(pid)) process.kill(pid, 'SIGKILL');
    },
  };
}

/** Writes the plugin into a fresh directory; returns its path and the log it appends to. */
export function writePlugin(): { dir: string; script: string; log: string } {
  const dir = tempDir('tg-plugin-');
  const script = join(dir, 'plugin.mjs');
  writeFileSync(script, PLUGIN_SOURCE);
  return { dir, script, log: join(dir, 'runs.log') };
}

/** What a {@link TestProxy} saw. */
export interface TestProxy {
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** Every CONNECT target, as sent (`host:port`). */
  readonly connects: string[];
  /** Every plain request forwarded, as `METHOD absolute-url`. */
  readonly requests: string[];
  /** The Proxy-Authorization header of each CONNECT or request ('' when absent). */
  readonly authorizations: string[];
  /** Every byte that went through a tunnel, both ways. */
  tunnelled(): Buffer;
  /** Tunnels open now. */
  openTunnels(): number;
  close(): Promise<void>;
}

/**
 * A real HTTP proxy on 127.0.0.1 (node:http): CONNECT tunnels and absolute-URL requests, as
 * Squid or a corporate proxy would serve them. Host names are resolved from `hosts` only
 * (name to a port on 127.0.0.1, 0 for the port asked for), so nothing leaves the loopback;
 * others get 502. With `auth`,
 * a request without that exact `Proxy-Authorization` value gets 407.
 */
export async function startProxy(options: { hosts: Record<string, number>; auth?: string }): Promise<TestProxy> {
  const connects: string[] = [];
  const requests: string[] = [];
  const authorizations: string[] = [];
  const bytes: Buffer[] = [];
  const tunnels = new Set<Socket>();
  const target = (authority: string): number | undefined => {
    const m = /^(.*):(\d+)$/.exec(authority);
    if (!m || options.hosts[m[1] as string] === undefined) return undefined;
    return options.hosts[m[1] as string] === 0 ? Number(m[2]) : options.hosts[m[1] as string];
  };
  const allowed = (header: string | undefined) => options.auth === undefined || header === options.auth;
  const server = createHttpServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    authorizations.push(req.headers['proxy-authorization'] ?? '');
    if (!allowed(req.headers['proxy-authorization'])) {
      res.writeHead(407, { 'proxy-authenticate': 'Basic realm="test"' }).end();
      return;
    }
    const url = new URL(req.url ?? '/');
    const port = target(url.host);
    if (port === undefined) {
      res.writeHead(502).end();
      return;
    }
    const headers = { ...req.headers };
    delete headers['proxy-authorization'];
    const upstream = httpRequest(
      { host: '127.0.0.1', port, path: `${url.pathname}${url.search}`, method: req.method, headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  server.on('connect', (req, client, head) => {
    const authority = req.url ?? '';
    connects.push(authority);
    authorizations.push(req.headers['proxy-authorization'] ?? '');
    if (!allowed(req.headers['proxy-authorization'])) {
      client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="test"\r\n\r\n');
      return;
    }
    const port = target(authority);
    if (port === undefined) {
      client.end('HTTP/1.1 502 Bad Gateway\r\n\r\n');
      return;
    }
    const upstream = netConnect({ host: '127.0.0.1', port }, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      client.on('data', (b: Buffer) => bytes.push(b));
      upstream.on('data', (b: Buffer) => bytes.push(b));
      client.pipe(upstream);
      upstream.pipe(client);
    });
    tunnels.add(client as Socket);
    client.on('close', () => {
      tunnels.delete(client as Socket);
      upstream.destroy();
    });
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    connects,
    requests,
    authorizations,
    tunnelled: () => Buffer.concat(bytes),
    openTunnels: () => tunnels.size,
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of tunnels) t.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
