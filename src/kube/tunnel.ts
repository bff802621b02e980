/**
 * Reaching an `https://` API server through an HTTP proxy: a `CONNECT host:port` tunnel, then
 * TLS with the API server inside it, as Go's `net/http` Transport does for client-go. Only a
 * `200` answer opens the tunnel (Go's rule); anything else fails with the proxy's status line.
 * The TLS session inside is end to end: the proxy sees neither the credentials nor the traffic.
 */
import type { RequestOptions } from 'node:https';
import { Agent as HttpsAgent, type AgentOptions } from 'node:https';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { shownProxy } from './proxy.js';

/** How long a proxy may take to connect and answer the CONNECT. */
const TUNNEL_TIMEOUT_MS = 30_000;
/** Longest CONNECT answer (status line and headers) accepted. */
const MAX_ANSWER_BYTES = 16 << 10;

/** How the proxy itself is reached when it is an `https://` proxy. */
export interface ProxyTls {
  readonly ca?: string;
  readonly rejectUnauthorized: boolean;
}

/** `Basic` credentials from a proxy URL's `user:password@`, or undefined. */
export function proxyAuthorization(proxy: URL): string | undefined {
  if (proxy.username === '' && proxy.password === '') return undefined;
  const user = decodeURIComponent(proxy.username);
  const password = decodeURIComponent(proxy.password);
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/** `host:port`, IPv6 in brackets: the CONNECT target and its Host header. */
function authorityOf(host: string, port: number | string): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Opens a connection to `proxy` (TLS to it for an `https://` proxy) and a tunnel through it to
 * `host:port`. Resolves with the tunnel, ready for the TLS handshake with the API server.
 */
function openTunnel(o: {
  proxy: URL;
  host: string;
  port: number | string;
  proxyTls: ProxyTls;
  userAgent: string;
  timeoutMs?: number;
  /** Told of the connection to the proxy as soon as it exists (to destroy it on close). */
  onSocket?: (socket: Socket) => void;
}): Promise<Duplex> {
  const { proxy } = o;
  const shown = shownProxy(proxy);
  const authority = authorityOf(o.host, o.port);
  const proxyHost = proxy.hostname.replace(/^\[(.*)\]$/, '$1');
  const secure = proxy.protocol === 'https:';
  const proxyPort = Number(proxy.port || (secure ? 443 : 80));
  return new Promise<Duplex>((resolve, reject) => {
    const socket: Socket = secure
      ? tlsConnect({
          host: proxyHost,
          port: proxyPort,
          ...(isIP(proxyHost) ? {} : { servername: proxyHost }),
          ...(o.proxyTls.ca ? { ca: o.proxyTls.ca } : {}),
          rejectUnauthorized: o.proxyTls.rejectUnauthorized,
          ALPNProtocols: ['http/1.1'],
          minVersion: 'TLSv1.2',
        })
      : netConnect({ host: proxyHost, port: proxyPort });
    o.onSocket?.(socket);
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const fail = (message: string) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      reject(new Error(`proxy ${shown}: ${message}`));
    };
    const onError = (e: NodeJS.ErrnoException) => fail(`cannot open a tunnel to ${authority} (${e.code ?? e.message})`);
    const onClose = () => fail(`closed the connection before answering CONNECT ${authority}`);
    const onReadable = () => {
      for (
        let chunk = socket.read() as Buffer | null;
        chunk !== null && !settled;
        chunk = socket.read() as Buffer | null
      ) {
        chunks.push(chunk);
        size += chunk.length;
        const all = Buffer.concat(chunks);
        const end = all.indexOf('\r\n\r\n');
        if (end < 0) {
          if (size > MAX_ANSWER_BYTES) fail(`answered CONNECT with more than ${MAX_ANSWER_BYTES} bytes of headers`);
          continue;
        }
        const statusLine = all.subarray(0, all.indexOf('\r\n')).toString('latin1');
        const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(statusLine);
        if (!m) return fail(`did not answer CONNECT ${authority} with HTTP`);
        if (m[1] !== '200') {
          const reason = (m[2] ?? '').replace(/[^\x20-\x7e]/g, '').slice(0, 100);
          return fail(`refused the tunnel to ${authority}: HTTP ${m[1]}${reason ? ` ${reason}` : ''}`);
        }
        settled = true;
        socket.removeListener('readable', onReadable);
        socket.removeListener('error', onError);
        socket.removeListener('close', onClose);
        socket.setTimeout(0);
        const rest = all.subarray(end + 4);
        if (rest.length > 0) socket.unshift(rest);
        resolve(socket);
        return;
      }
    };
    socket.setTimeout(o.timeoutMs ?? TUNNEL_TIMEOUT_MS, () =>
      fail(`no answer to CONNECT ${authority} within ${o.timeoutMs ?? TUNNEL_TIMEOUT_MS} ms`),
    );
    socket.on('error', onError);
    socket.on('close', onClose);
    socket.once(secure ? 'secureConnect' : 'connect', () => {
      const auth = proxyAuthorization(proxy);
      socket.write(
        `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\nUser-Agent: ${o.userAgent}\r\n${auth ? `Proxy-Authorization: ${auth}\r\n` : ''}\r\n`,
      );
      socket.on('readable', onReadable);
    });
  });
}

/**
 * An HTTPS agent whose connections are tunnels through `proxy`: pooling, keep-alive and the
 * TLS options of each request (CA, client certificate, server name) work as with a plain agent.
 */
export class TunnelingAgent extends HttpsAgent {
  readonly #proxy: URL;
  readonly #proxyTls: ProxyTls;
  readonly #userAgent: string;
  /** Tunnels still being opened, closed by {@link destroy}. */
  readonly #opening = new Set<Duplex>();
  #destroyed = false;

  constructor(proxy: URL, proxyTls: ProxyTls, userAgent: string, options: AgentOptions) {
    super(options);
    this.#proxy = proxy;
    this.#proxyTls = proxyTls;
    this.#userAgent = userAgent;
  }

  override createConnection(
    options: RequestOptions,
    callback?: (err: Error | null, stream: Duplex) => void,
  ): Duplex | null | undefined {
    const done = callback ?? (() => {});
    const host = String(options.host ?? options.hostname ?? 'localhost').replace(/^\[(.*)\]$/, '$1');
    const port = options.port ?? 443;
    let raw: Socket | undefined;
    const onSocket = (s: Socket) => {
      raw = s;
      this.#opening.add(s);
    };
    openTunnel({ proxy: this.#proxy, host, port, proxyTls: this.#proxyTls, userAgent: this.#userAgent, onSocket }).then(
      (tunnel) => {
        if (raw) this.#opening.delete(raw);
        if (this.#destroyed) {
          tunnel.destroy();
          done(new Error('the client was closed'), tunnel);
          return;
        }
        const tls: ConnectionOptions = {
          socket: tunnel,
          host,
          // SNI and the name checked: the request's servername (tls-server-name), else the host.
          ...(options.servername ? { servername: options.servername } : {}),
          ...(options.ca ? { ca: options.ca } : {}),
          ...(options.cert ? { cert: options.cert } : {}),
          ...(options.key ? { key: options.key } : {}),
          ...(options.minVersion ? { minVersion: options.minVersion } : {}),
          rejectUnauthorized: options.rejectUnauthorized !== false,
          ALPNProtocols: ['http/1.1'],
        };
        const secure = tlsConnect(tls);
        this.#opening.add(secure);
        const settle = () => this.#opening.delete(secure);
        secure.once('secureConnect', settle);
        secure.once('close', settle);
        done(null, secure);
      },
      (e: Error) => {
        if (raw) this.#opening.delete(raw);
        done(e, undefined as unknown as Duplex);
      },
    );
    return undefined;
  }

  override destroy(): void {
    this.#destroyed = true;
    for (const s of this.#opening) s.destroy();
    this.#opening.clear();
    super.destroy();
  }
}
