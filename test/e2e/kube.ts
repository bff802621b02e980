/**
 * Talking to the e2e API server: kubectl (the real client, so warnings, dry-run and error text
 * are what users see) and a small HTTPS client with the admin certificate for what kubectl does
 * not show (metrics). Every kubectl call is appended to the transcript (arguments, exit code,
 * stderr with JWTs blanked; never stdout, which can hold tokens) so scenario 8 can check all
 * responses at once.
 */
import { execFile } from 'node:child_process';
import { appendFileSync, readFileSync } from 'node:fs';
import { type Agent, request } from 'node:https';
import { type E2EState, loadState, waitFor } from './env.js';

/** A JWT (three base64url parts, the first a JSON header): kept out of the transcript. */
const JWT = /eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g;

/** The kubectl binary; KUBECTL overrides it. */
export const KUBECTL = process.env.KUBECTL ?? 'kubectl';

export interface KubectlResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface KubectlOptions {
  /** Sent on stdin (a manifest for `-f -`). */
  readonly input?: string;
  /** Default 60 s. */
  readonly timeoutMs?: number;
}

/** Runs kubectl against the e2e cluster and returns its exit code and output; never throws on a non-zero exit. */
export function kubectl(
  args: readonly string[],
  options: KubectlOptions = {},
  state: E2EState = loadState(),
): Promise<KubectlResult> {
  const argv = ['--kubeconfig', state.kubeconfig, ...args];
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = execFile(
      KUBECTL,
      argv,
      { timeout: options.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err
          ? typeof (err as { code?: unknown }).code === 'number'
            ? ((err as { code: number }).code as number)
            : -1
          : 0;
        if (err && code === -1 && !stderr) {
          reject(new Error(`e2e: kubectl ${args.join(' ')}: ${err.message}`));
          return;
        }
        const result = { code, stdout: String(stdout), stderr: String(stderr) };
        try {
          const stderr = result.stderr.replace(JWT, '<JWT redacted>');
          appendFileSync(
            state.logs.transcript,
            `${JSON.stringify({ at: new Date(started).toISOString(), args, code, stderr })}\n`,
          );
        } catch {
          // the transcript is a diagnostic; a failed write must not fail the call
        }
        resolve(result);
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
    else child.stdin?.end();
  });
}

/** Runs kubectl and fails with its stderr when it exits non-zero. */
export async function kubectlOk(args: readonly string[], options: KubectlOptions = {}): Promise<KubectlResult> {
  const r = await kubectl(args, options);
  if (r.code !== 0) throw new Error(`e2e: kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  return r;
}

/** Runs kubectl with `-o json` and parses the output. */
export async function kubectlJson<T = K8sObject>(args: readonly string[], options: KubectlOptions = {}): Promise<T> {
  const r = await kubectlOk([...args, '-o', 'json'], options);
  return JSON.parse(r.stdout) as T;
}

/** `kubectl apply -f -` of one or more objects (a List). */
export async function apply(...objects: K8sObject[]): Promise<KubectlResult> {
  const doc = objects.length === 1 ? objects[0] : { apiVersion: 'v1', kind: 'List', items: objects };
  return kubectlOk(['apply', '-f', '-'], { input: JSON.stringify(doc) });
}

/** `kubectl create -f - -o json`: the object as the API server stored it (or would, with dryRun). */
export async function create(
  object: K8sObject,
  options: { dryRun?: boolean; extraArgs?: string[] } = {},
): Promise<{ stored: K8sObject; result: KubectlResult }> {
  const args = [
    'create',
    '-f',
    '-',
    '-o',
    'json',
    ...(options.dryRun ? ['--dry-run=server'] : []),
    ...(options.extraArgs ?? []),
  ];
  const result = await kubectl(args, { input: JSON.stringify(object) });
  if (result.code !== 0)
    throw new Error(`e2e: kubectl create ${describe(object)} exited ${result.code}: ${result.stderr.trim()}`);
  return { stored: JSON.parse(result.stdout) as K8sObject, result };
}

/** `kubectl create -f -` expected to fail: returns the result (stderr holds the API server's answer). */
export async function createRefused(object: K8sObject, extraArgs: string[] = []): Promise<KubectlResult> {
  const result = await kubectl(['create', '-f', '-', ...extraArgs], { input: JSON.stringify(object) });
  if (result.code === 0)
    throw new Error(
      `e2e: kubectl create ${describe(object)} succeeded, but the API server should have refused it: ${result.stdout.trim()}`,
    );
  return result;
}

/** `kubectl get` of one object, or undefined when it does not exist. */
export async function getObject(kind: string, name: string, namespace?: string): Promise<K8sObject | undefined> {
  const r = await kubectl(['get', kind, name, ...(namespace ? ['-n', namespace] : []), '-o', 'json']);
  if (r.code === 0) return JSON.parse(r.stdout) as K8sObject;
  if (/NotFound|not found/.test(r.stderr)) return undefined;
  throw new Error(`e2e: kubectl get ${kind} ${name}: ${r.stderr.trim()}`);
}

function describe(o: K8sObject): string {
  return `${o.kind ?? '?'} ${o.metadata?.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata?.name ?? o.metadata?.generateName ?? '?'}`;
}

/** Creates (or keeps) a namespace and waits until its `default` ServiceAccount exists. */
export async function ensureNamespace(name: string, labels: Record<string, string> = {}): Promise<void> {
  await apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
  await waitFor(
    `ServiceAccount ${name}/default`,
    60_000,
    async () => ((await getObject('serviceaccount', 'default', name)) ? true : undefined),
    200,
  );
}

/** GET on the API server with the admin client certificate (e.g. `/metrics`). */
export function apiGet(path: string, state: E2EState = loadState()): Promise<{ status: number; body: string }> {
  return apiRequest('GET', path, undefined, state);
}

/**
 * A request to the API server with the admin client certificate; `body` is sent as JSON. A
 * keep-alive `agent` reuses connections (many requests in a row); without one, each request has
 * its own.
 */
export function apiRequest(
  method: string,
  path: string,
  body: unknown,
  state: E2EState = loadState(),
  agent?: Agent,
): Promise<{ status: number; body: string }> {
  const u = new URL(path, state.apiserverUrl);
  const text = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        method,
        hostname: u.hostname,
        port: u.port,
        path: u.pathname + u.search,
        ca: readFileSync(state.caFile),
        cert: readFileSync(state.adminCertFile),
        key: readFileSync(state.adminKeyFile),
        agent: agent ?? false,
        timeout: 15_000,
        ...(text !== undefined
          ? { headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } }
          : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timeout`)));
    req.on('error', reject);
    req.end(text);
  });
}

// ------------------------------------------------------------------ object shapes and builders

export interface K8sObject {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    generateName?: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: { kind: string; name: string }[];
    [k: string]: unknown;
  };
  [k: string]: unknown;
}

export interface VolumeMount {
  name: string;
  mountPath: string;
  readOnly?: boolean;
}

export interface Container {
  name: string;
  image?: string;
  volumeMounts?: VolumeMount[];
  [k: string]: unknown;
}

export interface TokenProjection {
  audience?: string;
  expirationSeconds?: number;
  path: string;
}

export interface Volume {
  name: string;
  projected?: { sources: { serviceAccountToken?: TokenProjection; [k: string]: unknown }[]; defaultMode?: number };
  [k: string]: unknown;
}

export interface Pod extends K8sObject {
  spec: {
    serviceAccountName?: string;
    automountServiceAccountToken?: boolean;
    initContainers?: Container[];
    containers: Container[];
    volumes?: Volume[];
    [k: string]: unknown;
  };
}

/** The API server's default token mount path (docs/kubernetes.md "The ServiceAccount admission plugin"). */
export const API_TOKEN_PATH = '/var/run/secrets/kubernetes.io/serviceaccount';
/** `kube-api-access-` + 5 characters of the API server's name generator (docs/kubernetes.md "The ServiceAccount admission plugin"). */
export const KUBE_API_ACCESS = /^kube-api-access-[bcdfghjklmnpqrstvwxz2456789]{5}$/;
/** An image that is never pulled: there is no kubelet in the e2e cluster. */
export const IMAGE = 'registry.invalid/tokenguard-e2e/app:1';

export interface PodOptions {
  readonly annotations?: Record<string, string>;
  readonly labels?: Record<string, string>;
  readonly initContainers?: readonly string[];
  readonly containers?: readonly string[];
  readonly serviceAccountName?: string;
  readonly volumes?: Volume[];
  readonly mounts?: Record<string, VolumeMount[]>;
}

export function podManifest(namespace: string, name: string, options: PodOptions = {}): Pod {
  const container = (n: string): Container => ({
    name: n,
    image: IMAGE,
    ...(options.mounts?.[n] ? { volumeMounts: options.mounts[n] } : {}),
  });
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace,
      ...(options.labels ? { labels: { ...options.labels } } : {}),
      ...(options.annotations ? { annotations: { ...options.annotations } } : {}),
    },
    spec: {
      ...(options.serviceAccountName ? { serviceAccountName: options.serviceAccountName } : {}),
      ...(options.initContainers ? { initContainers: options.initContainers.map(container) } : {}),
      containers: (options.containers ?? ['app']).map(container),
      ...(options.volumes ? { volumes: options.volumes } : {}),
    },
  };
}

export function allContainers(pod: Pod): Container[] {
  return [...(pod.spec.initContainers ?? []), ...pod.spec.containers];
}

/** The pod's `kube-api-access-*` volumes (the API server's default token). */
export function apiAccessVolumes(pod: Pod): Volume[] {
  return (pod.spec.volumes ?? []).filter((v) => v.name.startsWith('kube-api-access-'));
}

/** Every serviceAccountToken projection of a volume. */
export function tokenSources(volume: Volume | undefined): TokenProjection[] {
  return (volume?.projected?.sources ?? []).flatMap((s) => (s.serviceAccountToken ? [s.serviceAccountToken] : []));
}

/** The `exp - iat` of a JWT (seconds), read without verifying it. */
export function tokenLifetime(jwt: string): { lifetime: number; claims: Record<string, unknown> } {
  const claims = JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;
  return { lifetime: Number(claims.exp) - Number(claims.iat), claims };
}

/** `Warning:` lines kubectl printed on stderr (one per API server warning header). */
export function warningLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('Warning:'));
}
