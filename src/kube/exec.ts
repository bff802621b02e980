/**
 * Exec credential plugins (client.authentication.k8s.io v1 and v1beta1), the way client-go's
 * `plugin/pkg/client/auth/exec` runs them: the command with its args, this process's
 * environment plus the configured `env`, and `KUBERNETES_EXEC_INFO` holding an ExecCredential
 * whose `spec.interactive` is false (a server has no terminal: `interactiveMode: Always` is an
 * error, `IfAvailable` runs non-interactively). Its stdout must be an ExecCredential of the
 * same apiVersion with `status.token`, or `status.clientCertificateData` and
 * `status.clientKeyData`, and optionally `status.expirationTimestamp`.
 *
 * The credential is cached until that timestamp (forever without one) or until the API server
 * answers 401 to it; concurrent callers share one run. A run is killed, with everything it
 * started, when it outlives its timeout or on {@link ExecCredentialPlugin.stop} (the client
 * closing). Errors name the command and say what went wrong; neither stdout (it holds the
 * credential) nor stderr (login prompts, device codes) is ever quoted, and stderr is not read
 * at all.
 */
import { spawn } from 'node:child_process';
import type { ExecConfig } from './config.js';
import { isObject } from './json.js';

/** What a plugin gave: a bearer token, a client certificate, or both. */
export interface ExecCredential {
  readonly token?: string;
  /** PEM. */
  readonly clientCertificate?: string;
  /** PEM. */
  readonly clientKey?: string;
  /** Milliseconds since the epoch; undefined: valid until refused. */
  readonly expiresAt?: number;
}

/** Options of {@link ExecCredentialPlugin}. */
export interface ExecPluginOptions {
  /** Wall clock in milliseconds (expiry). Default `Date.now`. */
  readonly now?: () => number;
  /** A run that takes longer is killed and fails. Default 60 s (client-go has no limit; a hung plugin must not hang the informers). */
  readonly timeoutMs?: number;
  /** Base environment. Default `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
}

/** Bound on what a plugin may print: an ExecCredential is a few KB. */
const MAX_STDOUT = 1 << 20;

/** Runs an exec plugin when a credential is needed, and caches what it returns. */
export class ExecCredentialPlugin {
  readonly #config: ExecConfig;
  readonly #now: () => number;
  readonly #timeoutMs: number;
  readonly #env: NodeJS.ProcessEnv;
  #cached: ExecCredential | undefined;
  #running: Promise<ExecCredential> | undefined;
  /** Aborted by {@link stop}; replaced then, so that a later `get()` runs the plugin again. */
  #stopper = new AbortController();
  /** Runs so far (for tests and diagnostics). */
  runs = 0;

  constructor(config: ExecConfig, options: ExecPluginOptions = {}) {
    this.#config = config;
    this.#now = options.now ?? Date.now;
    this.#timeoutMs = options.timeoutMs ?? 60_000;
    this.#env = options.env ?? process.env;
  }

  /** The cached credential while it has not expired, else a fresh one from the plugin. */
  get(): Promise<ExecCredential> {
    const c = this.#cached;
    if (c && (c.expiresAt === undefined || this.#now() < c.expiresAt)) return Promise.resolve(c);
    return this.#refresh();
  }

  /**
   * The API server refused `used` (401): runs the plugin again unless another caller already
   * did. Resolves true when the credential now differs from `used` (worth one retry).
   */
  async refused(used: ExecCredential): Promise<boolean> {
    const fresh = this.#cached === used ? await this.#refresh() : await this.get();
    return fresh.token !== used.token || fresh.clientCertificate !== used.clientCertificate;
  }

  /**
   * Kills a run in progress, and whatever it started (its process group), and rejects every
   * caller waiting on it at once; a plugin left running would keep the process alive until its
   * timeout. Nothing else changes: a later `get()` runs the plugin again.
   */
  stop(): void {
    const stopper = this.#stopper;
    this.#stopper = new AbortController();
    stopper.abort();
  }

  #refresh(): Promise<ExecCredential> {
    this.#running ??= this.#run().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #run(): Promise<ExecCredential> {
    const cfg = this.#config;
    const name = `exec plugin "${cfg.command}"`;
    if (cfg.interactiveMode === 'Always') {
      throw new Error(`${name} cannot run: interactiveMode is Always, and standard input is not a terminal`);
    }
    const info = { apiVersion: cfg.apiVersion, kind: 'ExecCredential', spec: { interactive: false, ...(cfg.cluster ? { cluster: cfg.cluster } : {}) } };
    const env: NodeJS.ProcessEnv = { ...this.#env };
    for (const { name: k, value } of cfg.env) env[k] = value;
    env.KUBERNETES_EXEC_INFO = JSON.stringify(info);
    this.runs++;
    const { code, signal, stdout } = await runCommand(cfg.command, cfg.args, env, { timeoutMs: this.#timeoutMs, stop: this.#stopper.signal }, name, cfg.installHint);
    if (code !== 0) throw new Error(`${name} failed (${signal ? `killed by ${signal}` : `exit code ${code}`})`);
    const cred = parseExecCredential(stdout, cfg.apiVersion, name);
    this.#cached = cred;
    return cred;
  }
}

/**
 * Parses a plugin's stdout into a credential, with client-go's checks. Error messages never
 * include the output.
 */
export function parseExecCredential(stdout: string, apiVersion: string, name: string): ExecCredential {
  let doc: unknown;
  try {
    doc = JSON.parse(stdout);
  } catch {
    throw new Error(`${name} did not print an ExecCredential (its output is not JSON)`);
  }
  if (!isObject(doc)) throw new Error(`${name} did not print an ExecCredential object`);
  const d = doc as { apiVersion?: unknown; kind?: unknown; status?: unknown };
  if (d.kind !== 'ExecCredential') throw new Error(`${name} printed kind ${JSON.stringify(String(d.kind ?? ''))}, not ExecCredential`);
  if (d.apiVersion !== apiVersion) {
    throw new Error(`${name} is configured to use API version ${apiVersion}, plugin returned version ${JSON.stringify(String(d.apiVersion ?? ''))}`);
  }
  if (typeof d.status !== 'object' || d.status === null) throw new Error(`${name} didn't return a status field`);
  const s = d.status as Record<string, unknown>;
  const field = (k: string) => (typeof s[k] === 'string' && s[k] !== '' ? (s[k] as string) : undefined);
  const token = field('token');
  const clientCertificate = field('clientCertificateData');
  const clientKey = field('clientKeyData');
  if (!token && !clientCertificate && !clientKey) throw new Error(`${name} didn't return a token or cert/key pair`);
  if ((clientCertificate === undefined) !== (clientKey === undefined)) throw new Error(`${name} returned only certificate or key, not both`);
  let expiresAt: number | undefined;
  const exp = field('expirationTimestamp');
  if (exp !== undefined) {
    expiresAt = Date.parse(exp);
    if (Number.isNaN(expiresAt)) throw new Error(`${name} returned an expirationTimestamp that is not a RFC 3339 time`);
  }
  return {
    ...(token ? { token } : {}),
    ...(clientCertificate ? { clientCertificate } : {}),
    ...(clientKey ? { clientKey } : {}),
    ...(expiresAt !== undefined ? { expiresAt } : {}),
  };
}

interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
}

/** What ends a run early: its deadline, or a stop (a signal not yet aborted when the run starts). */
interface RunLimits {
  readonly timeoutMs: number;
  readonly stop: AbortSignal;
}

function runCommand(command: string, args: readonly string[], env: NodeJS.ProcessEnv, limits: RunLimits, name: string, installHint?: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    // Its own process group, so that a timeout or a stop kills what the plugin started too: a
    // child left holding stdout open would otherwise keep this run (and every caller waiting on
    // it) pending. The price: a signal to tokenguard's own process group (Ctrl-C in a terminal)
    // no longer reaches the plugin; `serve` stops the client on SIGINT and SIGTERM, which kills
    // a run in progress (ExecCredentialPlugin.stop).
    const child = spawn(command, [...args], { env, stdio: ['ignore', 'pipe', 'ignore'], shell: false, windowsHide: true, detached: true });
    const out: Buffer[] = [];
    let outBytes = 0;
    let failure: Error | undefined;
    const onStop = () => abort(new Error(`${name} was stopped: the client was closed`));
    /** Ends the watch on the run (deadline and stop signal). */
    const release = () => {
      clearTimeout(timer);
      limits.stop.removeEventListener('abort', onStop);
    };
    /** Kills the plugin and all it started, and settles at once (not on 'close'). */
    const abort = (why: Error) => {
      if (failure) return;
      failure = why;
      release();
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
      child.stdout.destroy();
      reject(why);
    };
    const timer = setTimeout(() => abort(new Error(`${name} did not finish within ${limits.timeoutMs} ms`)), limits.timeoutMs);
    limits.stop.addEventListener('abort', onStop, { once: true });
    child.stdout.on('data', (b: Buffer) => {
      outBytes += b.length;
      if (outBytes > MAX_STDOUT) abort(new Error(`${name} printed more than ${MAX_STDOUT} bytes`));
      else out.push(b);
    });
    child.on('error', (e: NodeJS.ErrnoException) => {
      release();
      if (e.code === 'ENOENT') reject(new Error(`${name} not found${installHint ? `\n\n${installHint}` : ''}`));
      else reject(new Error(`${name} could not run: ${e.code ?? e.message}`));
    });
    child.on('close', (code, signal) => {
      release();
      if (!failure) resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8') });
    });
  });
}
