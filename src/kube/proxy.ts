/**
 * HTTP proxies from the environment, chosen the way kubectl chooses them (client-go uses Go's
 * `net/http.ProxyFromEnvironment`, that is `golang.org/x/net/http/httpproxy`; docs/cluster-access.md):
 *
 * | variable                    | what                                                               |
 * |-----------------------------|--------------------------------------------------------------------|
 * | `HTTPS_PROXY`, `https_proxy` | the proxy for `https://` API servers (the upper-case one wins when both are set) |
 * | `HTTP_PROXY`, `http_proxy`  | the proxy for `http://` API servers; ignored when `REQUEST_METHOD` is set (CGI) |
 * | `NO_PROXY`, `no_proxy`      | comma-separated hosts that are reached directly (below)            |
 *
 * A proxy is a URL (`http://`, `https://`; `user:password@` becomes `Proxy-Authorization:
 * Basic`) or `host[:port]` (taken as `http://`). `localhost` and loopback addresses are never
 * proxied. A `NO_PROXY` entry is `*` (nothing is proxied), an IP address, a CIDR block
 * (`10.0.0.0/8`, `fd00::/8`), or a domain, each optionally with `:port`: `example.com` matches
 * it and its subdomains, `.example.com` and `*.example.com` only subdomains. Names compare
 * case-insensitively, after IDNA (punycode) conversion. Errors in an entry skip the entry.
 *
 * An `https://` API server is reached through a `CONNECT host:port` tunnel (TLS to the API
 * server inside it, end to end); an `http://` one by sending the request, with its absolute
 * URL, to the proxy. A proxy of another scheme (`socks5://`, which Go also supports) is kept,
 * with a warning, and every request through it fails (`KubeClient`): never a silent direct
 * connection where a proxy was asked for. A value that is not a URL at all is ignored, as Go
 * ignores it, with a warning.
 */
import { BlockList, isIP } from 'node:net';
import { domainToASCII } from 'node:url';

/** The proxy settings of an environment, parsed once. */
export interface ProxySettings {
  /** The proxy to use for `target`, or undefined to connect directly. */
  proxyFor(target: URL): URL | undefined;
  /** Problems with the variables (an unparseable proxy, a socks5 one): that proxy is not used. */
  readonly warnings: readonly string[];
}

interface DomainRule {
  /** With a leading dot. */
  readonly suffix: string;
  /** The entry had no leading dot: the domain itself matches too. */
  readonly matchHost: boolean;
  readonly port: string;
}

interface IpRule {
  readonly ip: string;
  readonly family: 'ipv4' | 'ipv6';
  readonly port: string;
}

const DEFAULT_PORTS: Readonly<Record<string, string>> = { 'http:': '80', 'https:': '443' };

/** The first of `names` set to a non-empty value (Go's `getEnvAny`). */
function envAny(env: NodeJS.ProcessEnv, ...names: string[]): string {
  for (const n of names) {
    const v = env[n];
    if (v !== undefined && v !== '') return v;
  }
  return '';
}

/** Reads the proxy variables of `env` (default: this process's), as kubectl would. */
export function proxyFromEnvironment(env: NodeJS.ProcessEnv = process.env): ProxySettings {
  const warnings: string[] = [];
  const httpProxy = parseProxy(envAny(env, 'HTTP_PROXY', 'http_proxy'), 'HTTP_PROXY', warnings);
  const httpsProxy = parseProxy(envAny(env, 'HTTPS_PROXY', 'https_proxy'), 'HTTPS_PROXY', warnings);
  const cgi = (env.REQUEST_METHOD ?? '') !== '';
  const noProxy = parseNoProxy(envAny(env, 'NO_PROXY', 'no_proxy'));
  return {
    warnings,
    proxyFor(target: URL): URL | undefined {
      let proxy: URL | undefined;
      if (target.protocol === 'https:') proxy = httpsProxy;
      else if (target.protocol === 'http:') {
        proxy = httpProxy;
        // Go refuses HTTP_PROXY in a CGI process: a client could set it through a request header.
        if (proxy && cgi) return undefined;
      }
      if (!proxy) return undefined;
      return noProxy.bypass(target) ? undefined : proxy;
    },
  };
}

/**
 * A proxy variable's value as a URL: a complete `http(s)://` URL, or else `host[:port]` with
 * `http://` assumed (Go's `parseProxy`). Undefined, with a warning, when it is neither.
 */
function parseProxy(value: string, name: string, warnings: string[]): URL | undefined {
  if (value === '') return undefined;
  const parse = (s: string): URL | undefined => {
    try {
      return new URL(s);
    } catch {
      return undefined;
    }
  };
  let url = parse(value);
  // `host:port` parses as a URL of scheme `host`: retry with http://, unless a scheme was written.
  if ((!url || !['http:', 'https:', 'socks5:'].includes(url.protocol) || !url.hostname) && !value.includes('://'))
    url = parse(`http://${value}`) ?? url;
  if (!url?.hostname) {
    warnings.push(`${name} is not a URL; it is not used`);
    return undefined;
  }
  if (!isSupportedProxy(url))
    warnings.push(
      `${name} is a ${url.protocol.replace(/:$/, '')} proxy; tokenguard supports http and https proxies only, so requests through it fail`,
    );
  return url;
}

/** True for the proxy schemes requests can go through: `http:` and `https:`. */
export function isSupportedProxy(proxy: URL): boolean {
  return proxy.protocol === 'http:' || proxy.protocol === 'https:';
}

/** A host as compared: lower case, IDNA (punycode) for non-ASCII names, IPv6 without brackets. */
function canonicalHost(host: string): string {
  const h = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  if (isIP(h) || /^[ -~]*$/.test(h)) return h;
  return domainToASCII(h) || h;
}

/** `::ffff:1.2.3.4` as `1.2.3.4` (Go treats them as one address), anything else unchanged. */
function unmapped(ip: string): { ip: string; family: 'ipv4' | 'ipv6' } {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (m) return { ip: m[1] as string, family: 'ipv4' };
  return { ip, family: isIP(ip) === 4 ? 'ipv4' : 'ipv6' };
}

function isLoopback(ip: string): boolean {
  const u = unmapped(ip);
  if (u.family === 'ipv4') return u.ip.startsWith('127.');
  const loop = new BlockList();
  loop.addAddress('::1', 'ipv6');
  return loop.check(u.ip, 'ipv6');
}

/** Splits `host:port` or `[v6]:port` as Go's `net.SplitHostPort` does; undefined without a port. */
function splitHostPort(s: string): { host: string; port: string } | undefined {
  const bracketed = /^\[([^\]]*)\]:(\d*)$/.exec(s);
  if (bracketed) return { host: bracketed[1] as string, port: bracketed[2] as string };
  const colon = s.lastIndexOf(':');
  if (colon < 0 || s.indexOf(':') !== colon) return undefined; // no port, or an unbracketed IPv6 address
  return { host: s.slice(0, colon), port: s.slice(colon + 1) };
}

function parseNoProxy(value: string): { bypass(target: URL): boolean } {
  const cidrs = new BlockList();
  let anyCidr = false;
  const ips: IpRule[] = [];
  const domains: DomainRule[] = [];
  let all = false;
  for (const raw of value.split(',')) {
    const p = raw.trim().toLowerCase();
    if (p === '') continue;
    if (p === '*') {
      all = true;
      break;
    }
    const slash = p.indexOf('/');
    if (slash > 0) {
      const addr = p.slice(0, slash);
      const bits = Number(p.slice(slash + 1));
      const family = isIP(addr);
      if (family !== 0 && /^\d+$/.test(p.slice(slash + 1)) && bits <= (family === 4 ? 32 : 128)) {
        cidrs.addSubnet(addr, bits, family === 4 ? 'ipv4' : 'ipv6');
        anyCidr = true;
      }
      continue;
    }
    const split = splitHostPort(p);
    let host = split ? split.host : p;
    const port = split ? split.port : '';
    if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
    if (host === '') continue;
    if (isIP(host)) {
      ips.push({ ...unmapped(host), port });
      continue;
    }
    if (host.startsWith('*.')) host = host.slice(1);
    const matchHost = !host.startsWith('.');
    domains.push({ suffix: `.${canonicalHost(host.replace(/^\./, ''))}`, matchHost, port });
  }
  return {
    bypass(target: URL): boolean {
      const host = canonicalHost(target.hostname);
      const port = target.port || DEFAULT_PORTS[target.protocol] || '';
      if (host === 'localhost') return true;
      const ip = isIP(host) ? unmapped(host) : undefined;
      if (ip && isLoopback(ip.ip)) return true;
      if (all) return true;
      if (ip) {
        if (anyCidr && cidrs.check(ip.ip, ip.family)) return true;
        if (
          ips.some((r) => r.family === ip.family && sameIp(r.ip, ip.ip, r.family) && (r.port === '' || r.port === port))
        )
          return true;
      }
      return domains.some(
        (d) =>
          (host.endsWith(d.suffix) || (d.matchHost && host === d.suffix.slice(1))) &&
          (d.port === '' || d.port === port),
      );
    },
  };
}

function sameIp(a: string, b: string, family: 'ipv4' | 'ipv6'): boolean {
  if (family === 'ipv4') return a === b;
  const list = new BlockList();
  list.addAddress(a, 'ipv6');
  return list.check(b, 'ipv6');
}

/** A proxy URL for messages: scheme, host and port, never the credentials. */
export function shownProxy(proxy: URL): string {
  return `${proxy.protocol}//${proxy.host}`;
}
