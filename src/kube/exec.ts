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
 * closing). Errors name the command and say what went wrong, never quoting stdout (it holds the
 * credential). A plugin's stderr is where it explains a failure ("login required", "refresh
 * token expired"): client-go passes it through to the terminal (docs/cluster-access.md), and a server has none, so the
 * last {@link STDERR_LINES} lines are added to the error, with anything that looks like a token
 * or a password replaced by `[redacted]` ({@link redactSecrets}).
 */
import { spawn } from 'node:child_process';
import type { ExecConfig } from './config.js';
import { isObject } from '../json.js';

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
/** Lines of a failed plugin's stderr shown in the error, at most, and characters per line. */
const STDERR_LINES = 5;
const STDERR_LINE_CHARS = 200;
/** Only the end of stderr is kept while the plugin runs. */
const STDERR_TAIL_BYTES = 8 << 10;
/** How long stderr may stay open after the plugin exited and closed its stdout. */
const STDERR_GRACE_MS = 500;

/**
 * `line` with what may be a secret replaced by `[redacted]`: JWTs, `Bearer` values, the value
 * of a `token=`/`password: `/`secret`/`credential`/`authorization`/`cookie`/`assertion`-style
 * assignment, and runs of 20 or more base64/hex-like characters that mix letters and digits
 * (access keys, opaque tokens, UUIDs); in a path (a run starting with `/`, `./` or `~/`) each
 * part separately, so that paths stay readable.
 */
export function redactSecrets(line: string): string {
  return line
    .replace(/eyJ[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*){1,2}/g, '[redacted]')
    .replace(/\b(bearer|basic)\s+[^\s"']+/gi, '$1 [redacted]')
    .replace(
      /\b([\w.-]*(?:token|passw(?:or)?d|pwd|secret|credential|authorization|cookie|assertion|api[_-]?key)[\w.-]*)(["']?\s*[:=]\s*)("[^"]*"|'[^']*'|[^\s,;]+)/gi,
      (_m, key: string, sep: string, value: string) =>
        value === '[redacted]' ? `${key}${sep}${value}` : `${key}${sep}[redacted]`,
    )
    .replace(/(^|[^A-Za-z0-9+/=_.~-])([A-Za-z0-9+/=_.~-]{20,})/g, (_m, before: string, run: string) =>
      // A path: only its parts are judged (a file named by a hash); anything else as a whole.
      /^(?:\/|\.\/|~\/)/.test(run)
        ? `${before}${run.split('/').map(redactRun).join('/')}`
        : `${before}${redactRun(run)}`,
    );
}

/** `[redacted]` for 20 or more characters that mix letters and digits, else the run itself. */
function redactRun(run: string): string {
  return run.length >= 20 && /[0-9]/.test(run) && /[A-Za-z]/.test(run) ? '[redacted]' : run;
}

/** `s` without control characters (terminal escapes, bells), tabs kept. */
function withoutControlCharacters(s: string): string {
  let out = '';
  for (const c of s) {
    const n = c.charCodeAt(0);
    if (n === 9 || (n >= 32 && n !== 127)) out += c;
  }
  return out;
}

/** The last lines of a plugin's stderr, redacted and shortened, for an error message; empty when it printed nothing. */
function stderrSummary(tail: string): string {
  const lines = tail
    .split(/\r?\n/)
    .map((l) => withoutControlCharacters(l).trim())
    .filter((l) => l !== '')
    .slice(-STDERR_LINES)
    .map((l) => {
      const r = redactSecrets(l);
      return r.length > STDERR_LINE_CHARS ? `${r.slice(0, STDERR_LINE_CHARS)}…` : r;
    });
  return lines.length === 0 ? '' : `; its stderr ended with: ${lines.map((l) => JSON.stringify(l)).join(' / ')}`;
}

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
    const info = {
      apiVersion: cfg.apiVersion,
      kind: 'ExecCredential',
      spec: { interactive: false, ...(cfg.cluster ? { cluster: cfg.cluster } : {}) },
    };
    const env: NodeJS.ProcessEnv = { ...this.#env };
    for (const { name: k, value } of cfg.env) env[k] = value;
    env.KUBERNETES_EXEC_INFO = JSON.stringify(info);
    this.runs++;
    const { code, signal, stdout, stderr } = await runCommand(
      cfg.command,
      cfg.args,
      env,
      { timeoutMs: this.#timeoutMs, stop: this.#stopper.signal },
      name,
      cfg.installHint,
    );
    if (code !== 0)
      throw new Error(
        `${name} failed (${signal ? `killed by ${signal}` : `exit code ${code}`})${stderrSummary(stderr)}`,
      );
    let cred: ExecCredential;
    try {
      cred = parseExecCredential(stdout, cfg.apiVersion, name);
    } catch (e) {
      throw new Error(`${(e as Error).message}${stderrSummary(stderr)}`);
    }
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
  if (d.kind !== 'ExecCredential')
    throw new Error(`${name} printed kind ${JSON.stringify(String(d.kind ?? ''))}, not ExecCredential`);
  if (d.apiVersion !== apiVersion) {
    throw new Error(
      `${name} is configured to use API version ${apiVersion}, plugin returned version ${JSON.stringify(String(d.apiVersion ?? ''))}`,
    );
  }
  if (typeof d.status !== 'object' || d.status === null) throw new Error(`${name} didn't return a status field`);
  const s = d.status as Record<string, unknown>;
  const field = (k: string) => (typeof s[k] === 'string' && s[k] !== '' ? (s[k] as string) : undefined);
  const token = field('token');
  const clientCertificate = field('clientCertificateData');
  const clientKey = field('clientKeyData');
  if (!token && !clientCertificate && !clientKey) throw new Error(`${name} didn't return a token or cert/key pair`);
  if ((clientCertificate === undefined) !== (clientKey === undefined))
    throw new Error(`${name} returned only certificate or key, not both`);
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
  /** The last {@link STDERR_TAIL_BYTES} of stderr (never logged as is). */
  readonly stderr: string;
}

/** What ends a run early: its deadline, or a stop (a signal not yet aborted when the run starts). */
interface RunLimits {
  readonly timeoutMs: number;
  readonly stop: AbortSignal;
}

function runCommand(
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  limits: RunLimits,
  name: string,
  installHint?: string,
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    // Its own process group, so that a timeout or a stop kills what the plugin started too: a
    // child left holding stdout open would otherwise keep this run (and every caller waiting on
    // it) pending. The price: a signal to tokenguard's own process group (Ctrl-C in a terminal)
    // no longer reaches the plugin; `serve` stops the client on SIGINT and SIGTERM, which kills
    // a run in progress (ExecCredentialPlugin.stop).
    const child = spawn(command, [...args], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      shell: false,
      windowsHide: true,
      detached: true,
    });
    const out: Buffer[] = [];
    let outBytes = 0;
    let errTail = Buffer.alloc(0);
    let errChunks = 0;
    let failure: Error | undefined;
    /** Resolved: nothing after this counts. */
    let settled = false;
    const onStop = () => abort(new Error(`${name} was stopped: the client was closed`));
    /** Ends the watch on the run (deadline and stop signal). */
    const release = () => {
      clearTimeout(timer);
      limits.stop.removeEventListener('abort', onStop);
    };
    /** Kills the plugin and all it started, and settles at once (not on 'close'). */
    const abort = (why: Error) => {
      if (failure || settled) return;
      failure = why;
      release();
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
      child.stdout.destroy();
      child.stderr.destroy();
      reject(new Error(`${why.message}${stderrSummary(errTail.toString('utf8'))}`));
    };
    const timer = setTimeout(
      () => abort(new Error(`${name} did not finish within ${limits.timeoutMs} ms`)),
      limits.timeoutMs,
    );
    limits.stop.addEventListener('abort', onStop, { once: true });
    child.stdout.on('data', (b: Buffer) => {
      outBytes += b.length;
      if (outBytes > MAX_STDOUT) abort(new Error(`${name} printed more than ${MAX_STDOUT} bytes`));
      else out.push(b);
    });
    child.stderr.on('data', (b: Buffer) => {
      errChunks++;
      const all =
        errTail.length + b.length > STDERR_TAIL_BYTES
          ? Buffer.concat([errTail, b]).subarray(-STDERR_TAIL_BYTES)
          : Buffer.concat([errTail, b]);
      errTail = Buffer.from(all);
    });
    child.on('error', (e: NodeJS.ErrnoException) => {
      release();
      if (e.code === 'ENOENT') reject(new Error(`${name} not found${installHint ? `\n\n${installHint}` : ''}`));
      else reject(new Error(`${name} could not run: ${e.code ?? e.message}`));
    });
    // Done once the plugin has exited and its stdout is closed. Its stderr gets a moment more to
    // deliver its last lines; something it started may hold stderr open, and that must not
    // hold up a credential the plugin already printed.
    let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let outClosed = false;
    let errClosed = false;
    let grace: NodeJS.Timeout | undefined;
    const startGrace = () => {
      const seen = errChunks;
      grace = setTimeout(() => {
        // On a busy loop the timer can run before the poll phase has read what is already in the
        // pipe: give stderr one more turn of the loop, and while it is still delivering, wait on.
        setImmediate(() => {
          if (errChunks !== seen) return startGrace();
          errClosed = true;
          finish();
        });
      }, STDERR_GRACE_MS);
      grace.unref();
    };
    const finish = () => {
      if (failure || settled || !exited || !outClosed) return;
      if (!errClosed && grace === undefined) {
        startGrace();
        return;
      }
      if (!errClosed) return;
      clearTimeout(grace);
      release();
      child.stderr.destroy();
      settled = true;
      resolve({ ...exited, stdout: Buffer.concat(out).toString('utf8'), stderr: errTail.toString('utf8') });
    };
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      finish();
    });
    child.stdout.on('close', () => {
      outClosed = true;
      finish();
    });
    child.stderr.on('close', () => {
      errClosed = true;
      finish();
    });
  });
}
