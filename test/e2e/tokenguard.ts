/**
 * tokenguard under test: `node dist/cli/main.js serve` as a child process on a loopback port,
 * its certificates (from `tokenguard certs generate`), the client CA the API server's webhook
 * client certificate is checked against (`--client-ca`), and the policy folder it hot-reloads.
 *
 * The policy folder is laid out like a mounted ConfigMap: the visible files are symlinks through
 * `..data`, which points at a timestamped folder and is swapped with one rename. A new policy set
 * therefore appears at once (never half-written), exactly as a `kubectl apply` of the ConfigMap
 * reaches a running pod, and the test waits until tokenguard logs that it loaded that set.
 */
import { execFile, spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { request } from 'node:https';
import { basename, join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import {
  type E2EState,
  fileSize,
  loadState,
  PROBE_NAMESPACE,
  REPO_ROOT,
  readSince,
  type ServeState,
  saveState,
  sleep,
  tailFile,
  waitFor,
} from './env.js';

export const CLI = join(REPO_ROOT, 'dist', 'cli', 'main.js');

function run(cmd: string, args: readonly string[], timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, [...args], { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err)
        reject(new Error(`e2e: ${basename(cmd)} ${args.join(' ')} failed: ${String(stderr || err.message).trim()}`));
      else resolve(String(stdout));
    });
  });
}

/** `tokenguard certs generate` for a loopback webhook: CA, serving cert for localhost and 127.0.0.1. */
export async function generateServingCerts(
  out: string,
  service = 'tokenguard',
  namespace = 'tokenguard-system',
): Promise<{ caBundle: string }> {
  const stdout = await run(process.execPath, [
    CLI,
    'certs',
    'generate',
    '--service',
    service,
    '--namespace',
    namespace,
    '--dns',
    'localhost',
    '--ip',
    '127.0.0.1',
    '--out',
    out,
  ]);
  const caBundle = stdout.trim();
  const fromFile = readFileSync(join(out, 'caBundle'), 'utf8').trim();
  if (caBundle !== fromFile)
    throw new Error(`e2e: certs generate printed a caBundle that differs from ${join(out, 'caBundle')}`);
  if (Buffer.from(caBundle, 'base64').toString('utf8') !== readFileSync(join(out, 'ca.crt'), 'utf8')) {
    throw new Error(`e2e: ${join(out, 'caBundle')} is not the base64 of ca.crt`);
  }
  return { caBundle };
}

const CLIENT_EXT = `basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
`;

/** The subject of the API server's client certificate for webhook calls; tokenguard's `--client-subject`. */
export const WEBHOOK_CLIENT_CN = 'kube-apiserver-webhook-client';

/**
 * A CA and a client certificate for the API server's calls to webhooks, plus the
 * AdmissionConfiguration that makes kube-apiserver present it (its `kubeConfigFile` user `*`).
 * tokenguard gets the CA as `--client-ca` and the subject as `--client-subject`, so every
 * admission call is authenticated.
 */
export async function makeWebhookClientAuth(dir: string): Promise<{ caFile: string; admissionConfigFile: string }> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const p = (f: string) => join(dir, f);
  writeFileSync(p('client.ext'), CLIENT_EXT);
  await run('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', p('ca.key')]);
  await run('openssl', [
    'req',
    '-x509',
    '-new',
    '-key',
    p('ca.key'),
    '-subj',
    '/CN=tokenguard-e2e-webhook-client-ca',
    '-days',
    '30',
    '-sha256',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
    '-out',
    p('ca.crt'),
  ]);
  await run('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', p('client.key')]);
  await run('openssl', [
    'req',
    '-new',
    '-key',
    p('client.key'),
    '-subj',
    `/CN=${WEBHOOK_CLIENT_CN}`,
    '-out',
    p('client.csr'),
  ]);
  await run('openssl', [
    'x509',
    '-req',
    '-in',
    p('client.csr'),
    '-CA',
    p('ca.crt'),
    '-CAkey',
    p('ca.key'),
    '-CAcreateserial',
    '-days',
    '30',
    '-sha256',
    '-extfile',
    p('client.ext'),
    '-out',
    p('client.crt'),
  ]);
  const kubeconfig = p('webhook-client.kubeconfig');
  writeFileSync(
    kubeconfig,
    [
      'apiVersion: v1',
      'kind: Config',
      'users:',
      '- name: "*"',
      '  user:',
      `    client-certificate: ${p('client.crt')}`,
      `    client-key: ${p('client.key')}`,
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  const admissionConfigFile = p('admission-config.yaml');
  const plugin = (name: string) => [
    `- name: ${name}`,
    '  configuration:',
    '    apiVersion: apiserver.config.k8s.io/v1',
    '    kind: WebhookAdmissionConfiguration',
    `    kubeConfigFile: ${kubeconfig}`,
  ];
  writeFileSync(
    admissionConfigFile,
    [
      'apiVersion: apiserver.config.k8s.io/v1',
      'kind: AdmissionConfiguration',
      'plugins:',
      ...plugin('ValidatingAdmissionWebhook'),
      ...plugin('MutatingAdmissionWebhook'),
      '',
    ].join('\n'),
  );
  return { caFile: p('ca.crt'), admissionConfigFile };
}

// ------------------------------------------------------------------ the serve process

export function serveArgs(
  s: Pick<ServeState, 'port' | 'certDir' | 'clientCaFile' | 'policyDir' | 'kubeconfig'>,
): string[] {
  return [
    CLI,
    'serve',
    '--port',
    String(s.port),
    '--host',
    '127.0.0.1',
    '--tls-cert',
    join(s.certDir, 'tls.crt'),
    '--tls-key',
    join(s.certDir, 'tls.key'),
    '--client-ca',
    s.clientCaFile,
    // The API server's client certificate for webhook calls (makeWebhookClientAuth).
    '--client-subject',
    WEBHOOK_CLIENT_CN,
    '--policies',
    s.policyDir,
    ...(s.kubeconfig ? ['--kubeconfig', s.kubeconfig] : ['--no-cluster']),
    '--log-level',
    'info',
    '--shutdown-delay',
    '0s',
  ];
}

let setprivPath: string | null | undefined;
function setpriv(): string | null {
  if (setprivPath === undefined) setprivPath = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p)) ?? null;
  return setprivPath;
}

/** True while `pid` is a running (not zombie) tokenguard of this run. */
export function serveAlive(state: E2EState): boolean {
  const { pid } = state.serve;
  if (!pid) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const status = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (status === 'Z' || status === 'X') return false;
    // pid reuse guard: it must be our serve (its command line names our cert folder)
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(state.serve.certDir);
  } catch {
    return false;
  }
}

/**
 * Starts `tokenguard serve` (killed by the kernel if this process dies: setpriv --pdeathsig),
 * records its pid in the state file and waits until `/readyz` answers 200.
 */
export async function startServe(state: E2EState = loadState()): Promise<E2EState> {
  if (serveAlive(state)) throw new Error(`e2e: tokenguard is already running (pid ${state.serve.pid})`);
  const fd = openSync(state.serve.log, 'a');
  const offset = fileSize(state.serve.log);
  writeFileSync(
    fd,
    `\n# e2e: starting tokenguard at ${new Date().toISOString()}: node ${state.serve.args.join(' ')}\n`,
  );
  const sp = setpriv();
  const [cmd, argv] = sp
    ? [sp, ['--pdeathsig', 'KILL', '--', process.execPath, ...state.serve.args]]
    : [process.execPath, [...state.serve.args]];
  let pid: number | undefined;
  try {
    const child = spawn(cmd, argv, {
      cwd: state.workDir,
      stdio: ['ignore', fd, fd],
      env: { ...process.env, NODE_ENV: 'production' },
    });
    child.unref();
    pid = child.pid;
  } finally {
    closeSync(fd);
  }
  if (!pid) throw new Error(`e2e: cannot start tokenguard serve; ${tailFile(state.serve.log, 10)}`);
  const next: E2EState = { ...state, serve: { ...state.serve, pid } };
  saveState(next);
  try {
    await waitFor('tokenguard /readyz', 30_000, async () => {
      if (!serveAlive(next)) throw new Error('the process exited');
      const r = await httpsGet(`https://127.0.0.1:${state.serve.port}/readyz`, join(state.serve.certDir, 'ca.crt'));
      return r.status === 200 ? true : undefined;
    });
  } catch (e) {
    throw new Error(
      `${(e as Error).message}\n--- tokenguard log:\n${readSince(state.serve.log, offset).trimEnd().split('\n').slice(-30).join('\n')}`,
    );
  }
  return next;
}

/** Stops tokenguard (SIGTERM, SIGKILL after 15 s) if it runs, and records that in the state file. */
export async function stopServe(state: E2EState = loadState()): Promise<E2EState> {
  const { pid } = state.serve;
  if (pid && serveAlive(state)) {
    process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + 15_000;
    while (serveAlive(state) && Date.now() < deadline) await sleep(50);
    if (serveAlive(state)) {
      process.kill(pid, 'SIGKILL');
      while (serveAlive(state)) await sleep(50);
    }
  }
  const next: E2EState = { ...state, serve: { ...state.serve, pid: 0 } };
  saveState(next);
  return next;
}

export function httpsGet(url: string, caFile: string): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        method: 'GET',
        hostname: u.hostname,
        port: u.port,
        path: u.pathname,
        ca: readFileSync(caFile),
        agent: false,
        timeout: 5000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

// ------------------------------------------------------------------ policies

/**
 * Present in every policy set: the readiness probe's own policy, scoped to its namespace, so the
 * probe works whatever set a scenario installs.
 */
export const PROBE_POLICY_FILE = '00-e2e-probe.yaml';
const PROBE_POLICY = `# Written by test/e2e/tokenguard.ts: lets the e2e probe see that the webhooks are effective.
apiVersion: tokenguard.dev/v1alpha1
kind: TokenPolicy
metadata:
  name: e2e-probe
spec:
  mode: Enforce
  match:
    namespaces: ["${PROBE_NAMESPACE}"]
  legacyTokenSecrets:
    action: Deny
  automount:
    action: DisableUnlessNeeded
    needed:
      annotation: tokenguard.dev/api-access
      rbacBound: true
      whenUnknown: NotNeeded
  projectedTokens:
    bounds:
      maxExpirationSeconds: 7200
      onViolation: Deny
`;

/** A policy set: file name -> YAML text. */
export type PolicySet = Record<string, string>;

/** The YAML files of a folder of the repository (e.g. `policies`, `test/fixtures/policies/strict`). */
export function policyFiles(relativeDir: string): PolicySet {
  const dir = join(REPO_ROOT, relativeDir);
  const prefix = relativeDir.replace(/[^A-Za-z0-9]+/g, '-');
  const out: PolicySet = {};
  for (const f of readdirSync(dir).sort()) {
    if (/\.ya?ml$/.test(f) && !f.startsWith('.')) out[`${prefix}--${f}`] = readFileSync(join(dir, f), 'utf8');
  }
  if (Object.keys(out).length === 0) throw new Error(`e2e: no policy files in ${dir}`);
  return out;
}

/** metadata.name of every TokenPolicy in a set (sorted). */
export function policyNames(set: PolicySet): string[] {
  const names: string[] = [];
  for (const text of Object.values(set)) {
    for (const doc of parseAllDocuments(text)) {
      const o = doc.toJS() as { kind?: string; metadata?: { name?: string } } | null;
      if (o?.kind === 'TokenPolicy' && o.metadata?.name) names.push(o.metadata.name);
    }
  }
  return names.sort();
}

function withProbe(set: PolicySet): PolicySet {
  return { [PROBE_POLICY_FILE]: PROBE_POLICY, ...set };
}

/** Creates the policy folder holding `set` (plus the probe policy), before tokenguard starts. */
export function initPolicyDir(dir: string, set: PolicySet): void {
  mkdirSync(dir, { recursive: true });
  swapPolicyFiles(dir, withProbe(set));
}

let generationCounter = 0;

/** The kubelet's AtomicWriter, in short: new timestamped folder, new visible links, `..data` swap, cleanup. */
function swapPolicyFiles(dir: string, files: PolicySet): void {
  generationCounter += 1;
  const ts = `..${new Date().toISOString().replace(/[:.]/g, '_')}.${process.pid}.${generationCounter}`;
  mkdirSync(join(dir, ts));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, ts, name), text);
  const visible = readdirSync(dir).filter((n) => !n.startsWith('.'));
  for (const name of Object.keys(files))
    if (!visible.includes(name)) symlinkSync(join('..data', name), join(dir, name));
  const old = existsSync(join(dir, '..data'))
    ? readdirSync(dir).filter((n) => n.startsWith('..') && n !== '..data' && n !== ts)
    : [];
  symlinkSync(ts, join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  for (const name of visible) if (!(name in files)) unlinkSync(join(dir, name));
  for (const o of old) rmSync(join(dir, o), { recursive: true, force: true });
}

function currentPolicyFiles(dir: string): PolicySet {
  const out: PolicySet = {};
  const data = join(dir, '..data');
  if (!existsSync(data)) return out;
  for (const f of readdirSync(data)) out[f] = readFileSync(join(data, f), 'utf8');
  return out;
}

interface LogLine {
  event?: string;
  result?: string;
  policies?: string[];
  generation?: number;
  error?: string;
  msg?: string;
}

function logLines(text: string): LogLine[] {
  const out: LogLine[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as LogLine);
    } catch {
      // a partial last line
    }
  }
  return out;
}

/**
 * Installs `set` (plus the probe policy) as tokenguard's policies and waits until tokenguard
 * logs a successful reload with exactly those policy names. Fails at once with tokenguard's own
 * errors when it rejects the set.
 */
export async function setPolicies(set: PolicySet, state: E2EState = loadState()): Promise<void> {
  const files = withProbe(set);
  const current = currentPolicyFiles(state.serve.policyDir);
  if (JSON.stringify(Object.entries(current).sort()) === JSON.stringify(Object.entries(files).sort())) return;
  const expected = policyNames(files);
  const offset = fileSize(state.serve.log);
  swapPolicyFiles(state.serve.policyDir, files);
  if (!serveAlive(state)) return; // loaded at the next start
  const outcome = await waitFor(`tokenguard to load policies [${expected.join(', ')}]`, 20_000, async () => {
    const lines = logLines(readSince(state.serve.log, offset));
    for (const l of lines) {
      if (
        l.event === 'policy-reload' &&
        l.result === 'success' &&
        JSON.stringify([...(l.policies ?? [])].sort()) === JSON.stringify(expected)
      )
        return { errors: [] };
    }
    if (lines.filter((l) => l.event === 'policy-reload').pop()?.result === 'failure') {
      return { errors: lines.filter((l) => l.event === 'policy-error').map((l) => String(l.error)) };
    }
    return undefined;
  });
  if (outcome.errors.length > 0)
    throw new Error(`e2e: tokenguard refused the policy set: ${outcome.errors.join('; ')}`);
}
