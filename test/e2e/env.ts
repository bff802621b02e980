/**
 * State shared by the e2e global setup, the scenario files and the global teardown.
 *
 * Jest runs the global setup in the main process and every test file in its own module
 * registry, so module-level singletons are not shared. The setup therefore writes everything a
 * scenario needs (kubeconfig, tokenguard's port and folders, log paths, pids) to a JSON file
 * whose path is in TOKENGUARD_E2E_STATE; scenarios read it with {@link loadState} and update it
 * when they restart tokenguard ({@link saveState}).
 */
import { readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root (test/e2e/../..). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The environment variable naming the state file. */
export const STATE_ENV = 'TOKENGUARD_E2E_STATE';

/** Names of the webhooks and configurations as deploy/base defines them. */
export const WEBHOOKS = {
  configuration: 'tokenguard',
  mutate: 'mutate.tokenguard.dev',
  validatePods: 'validate-pods.tokenguard.dev',
  validateSecrets: 'validate-secrets.tokenguard.dev',
} as const;

/** The namespace the readiness probe uses; its own policy (see policies.ts) always applies there. */
export const PROBE_NAMESPACE = 'e2e-probe';

export interface ServeState {
  /** Loopback port tokenguard listens on; kept across restarts (the webhook URLs name it). */
  readonly port: number;
  /** Pid of the running `tokenguard serve` (through setpriv), 0 when stopped. */
  pid: number;
  /** Output of `tokenguard certs generate`: ca.crt, tls.crt, tls.key, caBundle. */
  readonly certDir: string;
  /** CA that the API server's client certificate (for webhook calls) is issued by: `--client-ca`. */
  readonly clientCaFile: string;
  /** The ConfigMap-like folder `--policies` points at (see policies.ts). */
  readonly policyDir: string;
  /** Kubeconfig tokenguard watches the cluster with (`--kubeconfig`); none means `--no-cluster`. */
  readonly kubeconfig?: string;
  /** `node dist/cli/main.js serve ...` arguments (after `node`). */
  readonly args: readonly string[];
  /** stdout + stderr of every tokenguard process of the run, appended. */
  readonly log: string;
}

export interface E2EState {
  readonly workDir: string;
  readonly binDir: string;
  readonly kubeconfig: string;
  readonly apiserverUrl: string;
  readonly caFile: string;
  readonly adminCertFile: string;
  readonly adminKeyFile: string;
  readonly logs: {
    readonly etcd: string;
    readonly apiserver: string;
    readonly controllerManager: string;
    /** One JSON line per kubectl call (arguments, exit code, stderr): scenario 8 reads it. */
    readonly transcript: string;
  };
  readonly serve: ServeState;
  /** `https://127.0.0.1:<port>`: the base of the webhook URLs. */
  readonly webhookBaseUrl: string;
  /** Base64 of tokenguard's ca.crt, the caBundle of both configurations. */
  readonly caBundle: string;
  /** Set by the reporter when a test failed, so the teardown keeps the work dir. */
  failed?: boolean;
}

export function statePath(): string {
  const p = process.env[STATE_ENV];
  if (!p) throw new Error(`e2e: ${STATE_ENV} is not set; run the suite with test/e2e/run.sh (npm run test:e2e)`);
  return p;
}

export function loadState(path: string = statePath()): E2EState {
  return JSON.parse(readFileSync(path, 'utf8')) as E2EState;
}

/** Writes the state atomically (write, then rename). */
export function saveState(state: E2EState, path: string = statePath()): void {
  const tmp = join(dirname(path), `.state.${process.pid}.tmp`);
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(tmp, path);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Polls `f` until it returns a value other than undefined, at most `timeoutMs`. The error names
 * `what` and the last exception `f` threw, if any.
 */
export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  f: () => Promise<T | undefined>,
  intervalMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      const v = await f();
      if (v !== undefined) return v;
      last = '';
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() > deadline)
      throw new Error(`e2e: timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last}` : ''}`);
    await sleep(intervalMs);
  }
}

/** The last `lines` lines of a file, or a note that it cannot be read. */
export function tailFile(file: string, lines = 40): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch (e) {
    return `(cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
  }
}

/** Size of a file in bytes (0 when missing): an offset to read what is appended later. */
export function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

/** What was appended to a file since `offset`. */
export function readSince(file: string, offset: number): string {
  try {
    return readFileSync(file).subarray(offset).toString('utf8');
  } catch {
    return '';
  }
}
