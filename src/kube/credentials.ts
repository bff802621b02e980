/**
 * What each request authenticates with, from a {@link KubeConfig} user, by client-go's rules:
 *
 * | user has                          | each request sends                                                   |
 * |-----------------------------------|----------------------------------------------------------------------|
 * | `tokenFile` (in-cluster included) | `Bearer <file content>`, re-read once older than a minute (bound tokens rotate; client-go `NewCachedFileTokenSource`); `token` if the file cannot be read |
 * | `token`                           | `Bearer <token>`                                                     |
 * | `username`/`password`             | `Basic base64(username:password)`                                    |
 * | `exec`, and none of the above nor a client certificate | the plugin's token and/or client certificate (`exec.ts`) |
 * | client certificate                | it, in the TLS handshake (alongside any of the above)               |
 *
 * On a 401 the file token is read again and the exec plugin run again; the request is retried
 * once when that gave something new.
 */
import { readFile } from 'node:fs/promises';
import type { KubeConfig } from './config.js';
import { type ExecCredential, ExecCredentialPlugin } from './exec.js';

/** How long a token read from a file is used before the file is read again. */
export const TOKEN_FILE_MAX_AGE_MS = 60_000;

/** The credentials of one request. */
export interface RequestCredentials {
  /** The `Authorization` header. */
  readonly authorization?: string;
  /** PEM, for the TLS handshake. */
  readonly clientCertificate?: string;
  readonly clientKey?: string;
  /** Where they came from, for {@link CredentialSource.refused}. */
  readonly origin?: ExecCredential | string;
}

/** Gives each request its credentials; see the table above. */
export interface CredentialSource {
  get(): Promise<RequestCredentials>;
  /** The API server answered 401 to `used`: true when there are new credentials to retry with. */
  refused(used: RequestCredentials): Promise<boolean>;
  /** Ends work in progress (a running exec plugin is killed; its callers reject at once). */
  stop(): void;
}

const nothingToStop = (): void => {};

/** Options of {@link credentialSource}. */
export interface CredentialOptions {
  /** Wall clock in milliseconds (token file age, exec credential expiry). Default `Date.now`. */
  readonly now?: () => number;
  /** Limit on one exec plugin run. Default 60 s. */
  readonly execTimeoutMs?: number;
  /** Environment for exec plugins. Default `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
}

/** A token file read again once its content is older than `maxAgeMs`. */
export class TokenFile {
  readonly path: string;
  readonly #fallback: string | undefined;
  readonly #now: () => number;
  readonly #maxAgeMs: number;
  #token: string | undefined;
  #readAt = Number.NEGATIVE_INFINITY;
  #reading: Promise<string> | undefined;
  /** Reads so far (for tests and diagnostics). */
  reads = 0;

  /**
   * @param fallback used while the file cannot be read and nothing was read before (a kubeconfig `token`)
   */
  constructor(path: string, fallback: string | undefined, options: { now?: () => number; maxAgeMs?: number } = {}) {
    this.path = path;
    this.#fallback = fallback;
    this.#now = options.now ?? Date.now;
    this.#maxAgeMs = options.maxAgeMs ?? TOKEN_FILE_MAX_AGE_MS;
  }

  /** The token: the last one read while it is fresh, else the file's content now. */
  token(): Promise<string> {
    if (this.#token !== undefined && this.#now() - this.#readAt < this.#maxAgeMs) return Promise.resolve(this.#token);
    return this.reread();
  }

  /**
   * Reads the file now (concurrent callers share the read). If that fails, keeps the previous
   * token, or the fallback, as client-go does ("Unable to rotate token"); rejects when there is neither.
   */
  reread(): Promise<string> {
    this.#reading ??= this.#read().finally(() => {
      this.#reading = undefined;
    });
    return this.#reading;
  }

  async #read(): Promise<string> {
    this.reads++;
    let problem: string;
    try {
      const text = (await readFile(this.path, 'utf8')).trim();
      if (text) {
        this.#token = text;
        this.#readAt = this.#now();
        return text;
      }
      problem = 'it is empty';
    } catch (e) {
      problem = (e as NodeJS.ErrnoException).code ?? 'unreadable';
    }
    const previous = this.#token ?? this.#fallback;
    if (previous === undefined) throw new Error(`cannot read the token file ${this.path} (${problem})`);
    return previous;
  }
}

/** The credential source for a kubeconfig's user (see the table above). Does no I/O until asked. */
export function credentialSource(config: KubeConfig, options: CredentialOptions = {}): CredentialSource {
  const u = config.user;
  const cert =
    u.clientCertificate && u.clientKey ? { clientCertificate: u.clientCertificate, clientKey: u.clientKey } : {};
  if (u.tokenFile) {
    const file = new TokenFile(u.tokenFile, u.token, options.now ? { now: options.now } : {});
    return {
      get: async () => {
        const token = await file.token();
        return { authorization: `Bearer ${token}`, ...cert, origin: token };
      },
      refused: async (used) => (await file.reread()) !== used.origin,
      stop: nothingToStop,
    };
  }
  if (u.token) {
    const creds: RequestCredentials = { authorization: `Bearer ${u.token}`, ...cert };
    return { get: () => Promise.resolve(creds), refused: () => Promise.resolve(false), stop: nothingToStop };
  }
  if (u.username !== undefined || u.password !== undefined) {
    const basic = Buffer.from(`${u.username ?? ''}:${u.password ?? ''}`).toString('base64');
    const creds: RequestCredentials = { authorization: `Basic ${basic}`, ...cert };
    return { get: () => Promise.resolve(creds), refused: () => Promise.resolve(false), stop: nothingToStop };
  }
  if (u.exec && !u.clientCertificate) {
    const plugin = new ExecCredentialPlugin(u.exec, {
      ...(options.now ? { now: options.now } : {}),
      ...(options.execTimeoutMs !== undefined ? { timeoutMs: options.execTimeoutMs } : {}),
      ...(options.env ? { env: options.env } : {}),
    });
    return {
      get: async () => {
        const c = await plugin.get();
        return {
          ...(c.token ? { authorization: `Bearer ${c.token}` } : {}),
          ...(c.clientCertificate && c.clientKey
            ? { clientCertificate: c.clientCertificate, clientKey: c.clientKey }
            : {}),
          origin: c,
        };
      },
      refused: (used) => (typeof used.origin === 'object' ? plugin.refused(used.origin) : Promise.resolve(false)),
      stop: () => plugin.stop(),
    };
  }
  const creds: RequestCredentials = cert;
  return { get: () => Promise.resolve(creds), refused: () => Promise.resolve(false), stop: nothingToStop };
}
