/**
 * A recording reverse proxy in front of the e2e API server: plain HTTP on 127.0.0.1 towards the
 * client, HTTPS with the admin client certificate towards kube-apiserver. Every request is
 * recorded (method, path, query, Accept) with the answer's status and, for Secret requests, the
 * answer's body, so a test can check what a client asked for and what it was sent, on the real
 * API server. A kubeconfig pointing at it is written beside.
 */
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { E2EState } from './env.js';

export interface ProxiedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Record<string, string>;
  readonly accept: string;
  readonly status: number;
  /** The answer's body, kept for requests on Secrets only. */
  readonly body?: string;
}

export interface RecordingProxy {
  readonly requests: ProxiedRequest[];
  /** A kubeconfig whose server is the proxy (no credentials: the proxy adds the admin's). */
  readonly kubeconfig: string;
  close(): Promise<void>;
}

export async function startRecordingProxy(state: E2EState, dir: string): Promise<RecordingProxy> {
  const upstream = new URL(state.apiserverUrl);
  const tls = {
    ca: readFileSync(state.caFile),
    cert: readFileSync(state.adminCertFile),
    key: readFileSync(state.adminKeyFile),
  };
  const requests: ProxiedRequest[] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers = { ...req.headers, host: upstream.host };
      const out = request(
        {
          hostname: upstream.hostname,
          port: upstream.port,
          path: req.url,
          method: req.method,
          headers,
          ...tls,
          agent: false,
        },
        (up) => {
          const body: Buffer[] = [];
          up.on('data', (c: Buffer) => body.push(c));
          up.on('end', () => {
            const text = Buffer.concat(body);
            requests.push({
              method: req.method ?? '',
              path: url.pathname,
              query: Object.fromEntries(url.searchParams.entries()),
              accept: String(req.headers.accept ?? ''),
              status: up.statusCode ?? 0,
              ...(/\/secrets(\/|$)/.test(url.pathname) ? { body: text.toString('utf8') } : {}),
            });
            res.writeHead(up.statusCode ?? 502, up.headers);
            res.end(text);
          });
        },
      );
      out.on('error', (e) => {
        res.writeHead(502);
        res.end(String(e.message));
      });
      out.end(Buffer.concat(chunks));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const kubeconfig = join(dir, 'proxy.kubeconfig');
  writeFileSync(
    kubeconfig,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters: [{name: proxy, cluster: {server: "http://127.0.0.1:' + port + '"}}]',
      'users: [{name: none, user: {}}]',
      'contexts: [{name: proxy, context: {cluster: proxy, user: none}}]',
      'current-context: proxy',
      '',
    ].join('\n'),
  );
  return {
    requests,
    kubeconfig,
    close: async () => {
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections();
      await closed;
    },
  };
}
