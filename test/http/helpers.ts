/**
 * Helpers for the HTTP tests: certificates made in the test, a log sink, an HTTPS client that
 * reports the served certificate, servers on ephemeral loopback ports, and folders laid out the
 * way the kubelet lays out ConfigMap and Secret volumes (files as symlinks through `..data`).
 */
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import type { ClientRequest } from 'node:http';
import { type Agent, createServer, request as httpsRequest, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { type CertificateSet, generateCertificates } from '../../src/certs/generate.js';
import { createLogger, type Logger } from '../../src/log.js';
import { type AppDeps, createApp } from '../../src/server/app.js';
import { createMetrics } from '../../src/server/metrics.js';
import { type RunningServer, type ServerOptions, startServer } from '../../src/server/serve.js';
import { noFacts } from '../../src/facts/types.js';

export const REPO = join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..', '..');
export const SHIPPED_POLICIES = join(REPO, 'policies');

const created: string[] = [];

/** A fresh temporary folder, removed after the test file. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `tokenguard-http-${prefix}-`));
  created.push(dir);
  return dir;
}

// Registered when a test file imports this module: its temporary folders go when it ends.
afterAll(() => {
  for (const dir of created.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A CA and a serving certificate for 127.0.0.1 and localhost. */
export async function makeCertificates(ca?: { cert: string; key: string }): Promise<CertificateSet> {
  return generateCertificates({
    service: 'tokenguard',
    namespace: 'tokenguard-system',
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1'],
    ...(ca ? { ca } : {}),
  });
}

/** Collects log lines. */
export class LogSink {
  readonly raw: string[] = [];
  write(line: string): void {
    this.raw.push(line);
  }
  text(): string {
    return this.raw.join('');
  }
  lines(): Record<string, unknown>[] {
    return this.text()
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }
  logger(level = 'debug'): Logger {
    return createLogger({ level }, this);
  }
}

export interface HttpResult {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
  /** Serial number of the certificate the server presented. */
  readonly serial: string | undefined;
  /** The client's port: equal for requests that shared a connection. */
  readonly localPort: number | undefined;
}

export interface RequestOptions {
  readonly port: number;
  readonly path: string;
  readonly method?: string;
  readonly body?: string | Buffer;
  /** Sends the body itself (in pieces, or later) instead of `req.end(body)`. */
  readonly send?: (req: ClientRequest) => void;
  readonly headers?: Record<string, string | number>;
  /** CA to trust; verification is always on. */
  readonly ca: string;
  readonly agent?: Agent | false;
  readonly cert?: string;
  readonly key?: string;
}

/** One HTTPS request with certificate verification on. Rejects on a transport error. */
export function request(o: RequestOptions): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port: o.port,
        path: o.path,
        method: o.method ?? 'GET',
        ca: o.ca,
        servername: 'localhost',
        agent: o.agent ?? false,
        headers: o.headers ?? {},
        ...(o.cert !== undefined ? { cert: o.cert } : {}),
        ...(o.key !== undefined ? { key: o.key } : {}),
      },
      (res) => {
        const serial = (res.socket as TLSSocket).getPeerCertificate?.()?.serialNumber;
        const localPort = res.socket.localPort;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
            serial,
            localPort,
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (o.send) o.send(req);
    else req.end(o.body);
  });
}

/** POSTs an AdmissionReview as the API server does (a string is sent as it is). */
export function postReview(
  o: Omit<RequestOptions, 'path' | 'method' | 'body'> & {
    endpoint: 'mutate' | 'validate';
    review: unknown;
    query?: string;
  },
) {
  return request({
    ...o,
    path: `/${o.endpoint}${o.query ?? ''}`,
    method: 'POST',
    body: typeof o.review === 'string' ? o.review : JSON.stringify(o.review),
    headers: { 'Content-Type': 'application/json', ...(o.headers ?? {}) },
  });
}

export interface TestServer {
  readonly running: RunningServer;
  readonly port: number;
  readonly ca: string;
  readonly certs: CertificateSet;
  readonly certDir: string;
  readonly sink: LogSink;
  close(): Promise<void>;
}

/** Starts the real server on 127.0.0.1, an ephemeral port, with fresh certificates. */
export async function startTestServer(
  options: Partial<ServerOptions> & { certs?: CertificateSet; certDir?: string; logLevel?: string } = {},
): Promise<TestServer> {
  const certs = options.certs ?? (await makeCertificates());
  const certDir = options.certDir ?? tempDir('certs');
  if (!existsSync(join(certDir, 'tls.crt'))) {
    writeFileSync(join(certDir, 'tls.crt'), certs.cert);
    writeFileSync(join(certDir, 'tls.key'), certs.key);
  }
  const sink = new LogSink();
  const running = await startServer({
    port: 0,
    host: '127.0.0.1',
    tlsCert: join(certDir, 'tls.crt'),
    tlsKey: join(certDir, 'tls.key'),
    policies: [SHIPPED_POLICIES],
    logger: sink.logger(options.logLevel ?? 'debug'),
    shutdownDelayMs: 0,
    shutdownTimeoutMs: 5000,
    pollIntervalMs: 200,
    ...options,
  });
  return {
    running,
    port: running.port,
    ca: certs.caCert,
    certs,
    certDir,
    sink,
    close: async () => {
      await running.close();
    },
  };
}

/** Serves `createApp(deps)` over HTTPS on 127.0.0.1, for tests that need to control its parts. */
export async function serveApp(
  deps: Partial<AppDeps> & Pick<AppDeps, 'policies'>,
): Promise<{ port: number; ca: string; sink: LogSink; server: Server; close(): Promise<void> }> {
  const certs = await makeCertificates();
  const sink = new LogSink();
  const app = createApp({
    facts: noFacts,
    logger: sink.logger(),
    metrics: createMetrics(),
    readiness: () => ({ ready: true, reasons: [] }),
    draining: () => false,
    requireClientCert: false,
    ...deps,
  });
  const server = createServer({ cert: certs.cert, key: certs.key, minVersion: 'TLSv1.2' }, app.listener);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    ca: certs.caCert,
    sink,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * A folder laid out like a ConfigMap or Secret volume: `..<timestamp>/` holds the files,
 * `..data` points at it, and each visible file is a symlink `name -> ..data/name`. `swap`
 * replaces the content atomically, as the kubelet's AtomicWriter does.
 */
export class VolumeDir {
  private version = 0;
  constructor(
    readonly dir: string,
    files: Record<string, string>,
  ) {
    mkdirSync(dir, { recursive: true });
    this.swap(files);
  }

  swap(files: Record<string, string>): void {
    this.version += 1;
    const versionDir = `..v${this.version}`;
    mkdirSync(join(this.dir, versionDir));
    for (const [name, content] of Object.entries(files)) writeFileSync(join(this.dir, versionDir, name), content);
    const tmp = join(this.dir, '..data_tmp');
    symlinkSync(versionDir, tmp);
    renameSync(tmp, join(this.dir, '..data'));
    for (const name of Object.keys(files)) {
      if (!existsSync(join(this.dir, name))) symlinkSync(join('..data', name), join(this.dir, name));
    }
    for (const entry of readdirSync(this.dir)) {
      if (entry.startsWith('..v') && entry !== versionDir)
        rmSync(join(this.dir, entry), { recursive: true, force: true });
      else if (!entry.startsWith('.') && !(entry in files)) rmSync(join(this.dir, entry), { force: true });
    }
  }
}

/** Longest wait for an event before a test gives up (a guard against hanging, not a timing assertion). */
export const EVENT_WAIT_LIMIT_MS = 20_000;

/**
 * Resolves when `emitter` emits `reload` with a payload that satisfies `predicate`; rejects
 * after {@link EVENT_WAIT_LIMIT_MS} so a broken reload fails the test instead of hanging it.
 */
export function nextEvent<T>(
  emitter: { on(e: 'reload', l: (v: T) => void): unknown; off(e: 'reload', l: (v: T) => void): unknown },
  predicate: (v: T) => boolean = () => true,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off('reload', l);
      reject(new Error(`no matching reload event within ${EVENT_WAIT_LIMIT_MS} ms`));
    }, EVENT_WAIT_LIMIT_MS);
    const l = (v: T) => {
      if (!predicate(v)) return;
      clearTimeout(timer);
      emitter.off('reload', l);
      resolve(v);
    };
    emitter.on('reload', l);
  });
}

/** Path of openssl, when installed (client certificates for the mTLS tests). */
export const OPENSSL = ['/usr/bin/openssl', '/usr/local/bin/openssl'].find((p) => existsSync(p));

/**
 * A client certificate (extendedKeyUsage clientAuth) signed by the given CA, made with openssl:
 * the project's generator only issues serving certificates.
 */
export function clientCertificate(
  ca: { cert: string; key: string },
  cn = 'kube-apiserver',
  dnsNames: readonly string[] = [],
): { cert: string; key: string } {
  if (!OPENSSL) throw new Error('openssl not installed');
  const dir = tempDir('client');
  try {
    writeFileSync(join(dir, 'ca.crt'), ca.cert);
    writeFileSync(join(dir, 'ca.key'), ca.key);
    const san = dnsNames.length > 0 ? `subjectAltName=${dnsNames.map((n) => `DNS:${n}`).join(',')}\n` : '';
    writeFileSync(
      join(dir, 'ext.cnf'),
      `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n${san}`,
    );
    const run = (args: string[]) => execFileSync(OPENSSL, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    run([
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      'client.key',
      '-out',
      'client.csr',
      '-subj',
      `/CN=${cn}`,
    ]);
    run([
      'x509',
      '-req',
      '-in',
      'client.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-set_serial',
      '4242',
      '-days',
      '1',
      '-extfile',
      'ext.cnf',
      '-out',
      'client.crt',
    ]);
    const read = (f: string) => readFileSync(join(dir, f), 'utf8');
    return { cert: read('client.crt'), key: read('client.key') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** What {@link rawExchange} saw. */
export interface RawExchange {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
  /** Bytes of the request (head and body) the client managed to hand to its socket. */
  readonly sent: number;
}

/**
 * One HTTP/1.1 request on a new TLS connection: it sends `head` and then `body` (as fast as the
 * socket takes it) and reads the answer. An answer with `Connection: close` resolves only when
 * the server has closed the connection (the client never does: a client that closed first could
 * not tell whether the server would have); any other answer resolves once it is complete, and
 * the client then closes.
 */
export function rawExchange(o: {
  port: number;
  ca: string;
  head: string;
  body?: Buffer;
  cert?: string;
  key?: string;
}): Promise<RawExchange> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({
      host: '127.0.0.1',
      port: o.port,
      ca: o.ca,
      servername: 'localhost',
      ...(o.cert ? { cert: o.cert, key: o.key } : {}),
    });
    const received: Buffer[] = [];
    let sent = 0;
    let settled = false;
    const parse = (): RawExchange | undefined => {
      const text = Buffer.concat(received).toString('utf8');
      const split = text.indexOf('\r\n\r\n');
      if (split === -1) return undefined;
      const [statusLine, ...lines] = text.slice(0, split).split('\r\n');
      const headers: Record<string, string> = {};
      for (const l of lines) headers[l.slice(0, l.indexOf(':')).toLowerCase()] = l.slice(l.indexOf(':') + 1).trim();
      return { status: Number(statusLine?.split(' ')[1]), headers, body: text.slice(split + 4), sent };
    };
    socket.on('data', (c: Buffer) => {
      received.push(c);
      const answer = parse();
      if (
        !answer ||
        answer.headers.connection === 'close' ||
        Buffer.byteLength(answer.body) < Number(answer.headers['content-length'])
      )
        return;
      settled = true;
      socket.destroy();
      resolve(answer);
    });
    socket.on('error', () => {}); // a reset after the answer is the server closing
    socket.once('secureConnect', () => {
      socket.write(o.head, () => {
        sent += Buffer.byteLength(o.head);
      });
      const body = o.body ?? Buffer.alloc(0);
      const pump = (at: number) => {
        while (at < body.length && !socket.destroyed) {
          const piece = body.subarray(at, at + 65536);
          at += piece.length;
          const more = socket.write(piece, (err) => {
            if (!err) sent += piece.length;
          });
          if (!more) return void socket.once('drain', () => pump(at));
        }
      };
      pump(0);
    });
    socket.once('close', () => {
      if (settled) return;
      const answer = parse();
      if (answer) resolve(answer);
      else
        reject(
          new Error(`the server closed the connection without an answer (${Buffer.concat(received).length} bytes)`),
        );
    });
  });
}

/** The head of a POST as the API server sends it. */
export function postHead(path: string, headers: Record<string, string | number>): string {
  return `POST ${path} HTTP/1.1\r\nHost: localhost\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n`;
}

/** The next TLS connection `server` accepts; `bytesRead` once it has closed: what the server read of it. */
export function nextConnection(server: Server): Promise<{ closed: Promise<number> }> {
  return new Promise((resolve) => {
    server.once('secureConnection', (socket: TLSSocket) => {
      resolve({ closed: new Promise((done) => socket.once('close', () => done(socket.bytesRead))) });
    });
  });
}
