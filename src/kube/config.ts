/**
 * Finds and reads cluster credentials the way kubectl (client-go `tools/clientcmd` and
 * `rest.InClusterConfig`) does, for the one context in use, without `@kubernetes/client-node`:
 *
 * | source (first that applies)      | how                                                                  |
 * |----------------------------------|----------------------------------------------------------------------|
 * | `--kubeconfig FILE`              | that file only; it must exist                                        |
 * | `KUBECONFIG=a:b:c`               | the files that exist, merged: the first file to name a cluster, user or context wins, and so does the first `current-context` |
 * | `~/.kube/config`                 | when it exists                                                       |
 * | in-cluster                       | `KUBERNETES_SERVICE_HOST` and `_PORT`, the ServiceAccount token and CA |
 * | none of them                     | an error: never `http://localhost:8080`, as client-node's `loadFromDefault` would |
 *
 * Relative paths (certificate-authority, client-certificate, client-key, tokenFile, and an exec
 * command with a `/`) resolve against the directory of the file that defines the entry, as
 * clientcmd's `ResolveLocalPaths` does. `*-data` fields win over their file fields. Files are
 * read here, once; only token files are read again later (bound tokens rotate, see
 * `credentials.ts`). Not supported, each with an error that says so: `proxy-url`,
 * `auth-provider` (use its exec plugin instead) and impersonation (`as`, `as-groups`...).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parse } from 'yaml';
import { isObject } from '../json.js';

/** An exec credential plugin, as configured in a kubeconfig user (`users[].user.exec`). */
export interface ExecConfig {
  /** `client.authentication.k8s.io/v1` or `client.authentication.k8s.io/v1beta1`. */
  readonly apiVersion: string;
  /** The command, resolved against the kubeconfig's directory when it holds a `/`. */
  readonly command: string;
  readonly args: readonly string[];
  /** Added to this process's environment. */
  readonly env: readonly { readonly name: string; readonly value: string }[];
  /** `Never`, `IfAvailable` or `Always` (v1beta1 default `IfAvailable`); never interactive here. */
  readonly interactiveMode: string;
  /** Shown when the command is not found. */
  readonly installHint?: string;
  /** The cluster passed in `KUBERNETES_EXEC_INFO` (`spec.cluster`) when `provideClusterInfo` is set. */
  readonly cluster?: Readonly<Record<string, unknown>>;
}

/** How requests authenticate. Client certificates may come with any of them. */
export interface UserConfig {
  /** PEM. */
  readonly clientCertificate?: string;
  /** PEM. */
  readonly clientKey?: string;
  readonly token?: string;
  /** Re-read when older than a minute; wins over `token` (which is then the fallback), as in client-go. */
  readonly tokenFile?: string;
  readonly username?: string;
  readonly password?: string;
  /** Used only when there is no token, basic auth or client certificate (client-go's rule). */
  readonly exec?: ExecConfig;
}

/** The connection settings of the context in use: where the API server is and how to authenticate. */
export interface KubeConfig {
  /** Where they came from, for messages: a file, the KUBECONFIG list, or `in-cluster`. */
  readonly source: string;
  /** `https://host:port`, possibly with a path prefix; `http://` is allowed when a kubeconfig says so. */
  readonly server: string;
  /** PEM bundle to verify the server with; the system roots when absent. */
  readonly certificateAuthority?: string;
  readonly insecureSkipTlsVerify?: boolean;
  /** Name to verify the server certificate against (and send as SNI) instead of the URL's host. */
  readonly tlsServerName?: string;
  readonly user: UserConfig;
  /** Things worth a log line that did not stop the load (a missing KUBECONFIG file, no in-cluster CA...). */
  readonly warnings?: readonly string[];
}

/** Where the in-cluster credentials are (injectable for tests). */
export interface InClusterPaths {
  readonly tokenFile: string;
  readonly caFile: string;
}

/** The paths every pod gets from the ServiceAccount admission plugin (or a projected volume at the same place). */
const IN_CLUSTER_PATHS: InClusterPaths = {
  tokenFile: '/var/run/secrets/kubernetes.io/serviceaccount/token',
  caFile: '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt',
};

/** Options of {@link loadKubeConfig}. */
export interface LoadKubeConfigOptions {
  readonly inCluster?: InClusterPaths;
  /** Use this context instead of `current-context` (kubectl `--context`); it must exist in a kubeconfig file. */
  readonly context?: string;
}

/** The message when nothing gives credentials (kept word for word: scripts and docs quote it). */
export const NO_CREDENTIALS =
  'no cluster credentials (in-cluster, KUBECONFIG or ~/.kube/config): pass --kubeconfig FILE, or --no-cluster';

/**
 * Finds cluster credentials the way kubectl does: `--kubeconfig`, else `KUBECONFIG`, else
 * `~/.kube/config`, else the in-cluster ServiceAccount (see the table above). Reads every file
 * the chosen context needs, so that a wrong path fails here, at start-up.
 *
 * @param file `--kubeconfig`, if given
 * @param env the process environment (`KUBECONFIG`, `HOME`, `KUBERNETES_SERVICE_HOST`/`_PORT`)
 * @throws Error with a message fit for the command line
 */
export function loadKubeConfig(
  file: string | undefined,
  env: NodeJS.ProcessEnv,
  options: LoadKubeConfigOptions = {},
): KubeConfig {
  const context = options.context;
  if (file) return resolveContext(mergeFiles([file], true), file, context);
  const warnings: string[] = [];
  if (env.KUBECONFIG) {
    const files = [...new Set(env.KUBECONFIG.split(':').filter((f) => f !== ''))];
    const present = files.filter((f) => existsSync(f));
    for (const f of files) if (!present.includes(f)) warnings.push(`KUBECONFIG names ${f}, which does not exist`);
    // clientcmd: KUBECONFIG replaces ~/.kube/config; an empty result falls back to in-cluster.
    if (present.length > 0) {
      const merged = mergeFiles(present, false);
      // clientcmd: an empty merged config is no config, and in-cluster credentials are next.
      if (!isEmpty(merged)) {
        const kc = resolveContext(
          merged,
          present.length === 1 ? present[0]! : `KUBECONFIG (${present.join(':')})`,
          context,
        );
        return { ...kc, warnings: [...warnings, ...(kc.warnings ?? [])] };
      }
    }
  } else {
    const home = env.HOME ? join(env.HOME, '.kube', 'config') : undefined;
    if (home && existsSync(home)) {
      const merged = mergeFiles([home], false);
      if (!isEmpty(merged)) return resolveContext(merged, home, context);
    }
  }
  // kubectl: a context can only come from a kubeconfig file, never from in-cluster credentials.
  if (context !== undefined)
    throw new Error(
      `context "${context}" does not exist: no kubeconfig file (KUBECONFIG or ~/.kube/config) to take it from`,
    );
  const inCluster = inClusterConfig(env, options.inCluster ?? IN_CLUSTER_PATHS);
  if (inCluster) return { ...inCluster, warnings: [...warnings, ...(inCluster.warnings ?? [])] };
  throw new Error(NO_CREDENTIALS);
}

/**
 * The in-cluster configuration (client-go `rest.InClusterConfig`): `https://` plus
 * `KUBERNETES_SERVICE_HOST:KUBERNETES_SERVICE_PORT` (an IPv6 host in brackets), the
 * ServiceAccount token file (re-read as it rotates) and its CA. Undefined when either variable
 * is unset; throws when the token cannot be read. A missing CA leaves the system roots, with a
 * warning, as client-go does.
 */
export function inClusterConfig(
  env: NodeJS.ProcessEnv,
  paths: InClusterPaths = IN_CLUSTER_PATHS,
): KubeConfig | undefined {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) return undefined;
  const token = readText(paths.tokenFile, 'the in-cluster ServiceAccount token').trim();
  if (!token) throw new Error(`the in-cluster ServiceAccount token ${paths.tokenFile} is empty`);
  const warnings: string[] = [];
  let certificateAuthority: string | undefined;
  try {
    certificateAuthority = readFileSync(paths.caFile, 'utf8');
  } catch (e) {
    warnings.push(
      `cannot read the in-cluster CA ${paths.caFile} (${(e as NodeJS.ErrnoException).code ?? 'error'}): verifying the API server with the system roots`,
    );
  }
  return {
    source: 'in-cluster',
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    ...(certificateAuthority ? { certificateAuthority } : {}),
    user: { token, tokenFile: paths.tokenFile },
    warnings,
  };
}

/** A named entry of a kubeconfig, with the directory its relative paths resolve against. */
interface Entry {
  readonly value: Record<string, unknown>;
  readonly dir: string;
}

/** The merge of one or more kubeconfig files (clientcmd: the first file to set a key wins). */
interface Merged {
  readonly clusters: Map<string, Entry>;
  readonly users: Map<string, Entry>;
  readonly contexts: Map<string, Entry>;
  currentContext: string;
}

/**
 * Parses and merges kubeconfig files, then resolves the current context. Exported for tests;
 * {@link loadKubeConfig} is the entry point.
 *
 * @param files in precedence order
 * @param source how to name them in messages
 * @param mustExist false: unreadable files are skipped with a warning (KUBECONFIG)
 */
export function fromFiles(files: readonly string[], source: string, mustExist = true): KubeConfig {
  const merged = mergeFiles(files, mustExist);
  return resolveContext(merged, source);
}

/** A kubeconfig with no cluster, user, context nor current-context (client-go `ErrEmptyConfig`). */
function isEmpty(m: Merged): boolean {
  return m.clusters.size === 0 && m.users.size === 0 && m.contexts.size === 0 && !m.currentContext;
}

function mergeFiles(files: readonly string[], mustExist: boolean): Merged {
  const merged: Merged = { clusters: new Map(), users: new Map(), contexts: new Map(), currentContext: '' };
  for (const f of files) {
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch (e) {
      if (mustExist || (e as NodeJS.ErrnoException).code !== 'ENOENT')
        throw new Error(`cannot read kubeconfig ${f} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      continue;
    }
    mergeInto(merged, text, f);
  }
  return merged;
}

function mergeInto(merged: Merged, text: string, file: string): void {
  let doc: unknown;
  try {
    // logLevel error: the parser's warnings would go to stderr as process warnings, quoting the file.
    doc = parse(text, { logLevel: 'error' });
  } catch (e) {
    throw new Error(`kubeconfig ${file} is not valid YAML: ${yamlProblem(e)}`);
  }
  if (doc === null || doc === undefined) return; // an empty file is an empty config
  if (!isObject(doc)) throw new Error(`kubeconfig ${file} is not a mapping`);
  const dir = dirname(resolve(file));
  const section = (key: 'clusters' | 'users' | 'contexts', inner: string, into: Map<string, Entry>) => {
    const list = doc[key];
    if (list === undefined || list === null) return;
    if (!Array.isArray(list)) throw new Error(`kubeconfig ${file}: ${key} must be a list`);
    for (const item of list) {
      if (!isObject(item) || typeof item.name !== 'string' || item.name === '')
        throw new Error(`kubeconfig ${file}: every entry of ${key} needs a name`);
      const value = item[inner];
      if (!into.has(item.name)) into.set(item.name, { value: isObject(value) ? value : {}, dir });
    }
  };
  section('clusters', 'cluster', merged.clusters);
  section('users', 'user', merged.users);
  section('contexts', 'context', merged.contexts);
  const current = doc['current-context'];
  if (!merged.currentContext && typeof current === 'string') merged.currentContext = current;
}

/**
 * A YAML error without the parser's message, which may quote the file (a kubeconfig holds
 * tokens and keys): its code and line, or what kind of error it was.
 */
function yamlProblem(e: unknown): string {
  const err = e as { code?: unknown; linePos?: { line?: unknown }[]; message?: unknown; name?: unknown };
  const line = typeof err.linePos?.[0]?.line === 'number' ? ` at line ${err.linePos[0].line}` : '';
  if (typeof err.code === 'string') return `${err.code}${line}`;
  if (typeof err.message === 'string' && err.message.startsWith('Unresolved alias'))
    return 'an alias (*name) refers to no anchor set before it';
  return String(err.name ?? 'unreadable');
}

function resolveContext(merged: Merged, source: string, contextName?: string): KubeConfig {
  if (contextName !== undefined && !merged.contexts.has(contextName))
    throw new Error(`${source}: context "${contextName}" does not exist`);
  const name = contextName ?? merged.currentContext;
  const context = name ? merged.contexts.get(name) : undefined;
  const clusterName = context && typeof context.value.cluster === 'string' ? context.value.cluster : '';
  const cluster = clusterName ? merged.clusters.get(clusterName) : undefined;
  if (!cluster) throw new Error(`${source} names no current cluster`);
  const c = cluster.value;
  const where = `${source}, cluster "${clusterName}"`;
  const warnings: string[] = [];
  let server = str(c.server, `${where}: server`);
  if (!server) throw new Error(`${where} has no server`);
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(server)) server = `https://${server}`; // client-go's DefaultServerURL
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new Error(`${where}: server is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new Error(`${where}: server must be an https:// URL`);
  if (str(c['proxy-url'], `${where}: proxy-url`))
    throw new Error(`${where}: proxy-url is not supported; reach the API server directly`);
  const insecureSkipTlsVerify = c['insecure-skip-tls-verify'] === true;
  const certificateAuthority = dataOrFile(c, 'certificate-authority', cluster.dir, where, warnings);
  if (insecureSkipTlsVerify && certificateAuthority) {
    throw new Error(`${where}: certificate-authority and insecure-skip-tls-verify exclude each other`);
  }
  const tlsServerName = str(c['tls-server-name'], `${where}: tls-server-name`);

  const userName = typeof context?.value.user === 'string' ? context.value.user : '';
  const userEntry = userName ? merged.users.get(userName) : undefined;
  const user = userEntry
    ? readUser(userEntry, `${source}, user "${userName}"`, warnings, {
        server,
        certificateAuthority,
        insecureSkipTlsVerify,
        tlsServerName,
        cluster: c,
      })
    : {};
  return {
    source,
    server: server.replace(/\/+$/, ''),
    ...(certificateAuthority ? { certificateAuthority } : {}),
    ...(insecureSkipTlsVerify ? { insecureSkipTlsVerify } : {}),
    ...(tlsServerName ? { tlsServerName } : {}),
    user,
    warnings,
  };
}

const EXEC_API_VERSIONS = new Set(['client.authentication.k8s.io/v1', 'client.authentication.k8s.io/v1beta1']);
const INTERACTIVE_MODES = new Set(['Never', 'IfAvailable', 'Always']);

function readUser(
  entry: Entry,
  where: string,
  warnings: string[],
  cluster: {
    server: string;
    certificateAuthority?: string;
    insecureSkipTlsVerify: boolean;
    tlsServerName?: string;
    cluster: Record<string, unknown>;
  },
): UserConfig {
  const u = entry.value;
  const authProvider = u['auth-provider'];
  if (isObject(authProvider)) {
    const name = typeof authProvider.name === 'string' ? authProvider.name : 'unnamed';
    throw new Error(
      `${where}: auth-provider "${name}" is not supported; use its exec credential plugin (users[].user.exec) instead`,
    );
  }
  for (const key of ['as', 'as-uid', 'as-groups', 'as-user-extra']) {
    if (u[key] !== undefined && u[key] !== null && u[key] !== '')
      throw new Error(`${where}: impersonation (${key}) is not supported`);
  }
  const clientCertificate = dataOrFile(u, 'client-certificate', entry.dir, where, warnings);
  const clientKey = dataOrFile(u, 'client-key', entry.dir, where, warnings);
  if ((clientCertificate === undefined) !== (clientKey === undefined))
    throw new Error(`${where}: a client certificate needs its key, and a key its certificate`);
  const token = str(u.token, `${where}: token`);
  const tokenFileRaw = str(u.tokenFile, `${where}: tokenFile`);
  const tokenFile = tokenFileRaw ? resolvePath(tokenFileRaw, entry.dir) : undefined;
  let fileToken: string | undefined;
  if (tokenFile && !token) {
    // client-go reads it when building the config: a missing file fails at start-up.
    fileToken = readText(tokenFile, `${where}: tokenFile`).trim();
    if (!fileToken) throw new Error(`${where}: tokenFile ${tokenFile} is empty`);
  }
  const username = str(u.username, `${where}: username`);
  const password = str(u.password, `${where}: password`);
  if ((token || tokenFile) && (username || password))
    throw new Error(`${where}: username/password or a bearer token may be set, but not both`);
  const exec = isObject(u.exec) ? readExec(u.exec, entry.dir, where, cluster) : undefined;
  return {
    ...(clientCertificate ? { clientCertificate } : {}),
    ...(clientKey ? { clientKey } : {}),
    ...(token || fileToken ? { token: token || fileToken } : {}),
    ...(tokenFile ? { tokenFile } : {}),
    ...(username !== undefined ? { username } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(exec ? { exec } : {}),
  };
}

function readExec(
  e: Record<string, unknown>,
  dir: string,
  where: string,
  cluster: {
    server: string;
    certificateAuthority?: string;
    insecureSkipTlsVerify: boolean;
    tlsServerName?: string;
    cluster: Record<string, unknown>;
  },
): ExecConfig {
  const apiVersion = str(e.apiVersion, `${where}: exec.apiVersion`) ?? '';
  if (!EXEC_API_VERSIONS.has(apiVersion)) {
    throw new Error(
      `${where}: exec plugin apiVersion "${apiVersion}" is not supported (client.authentication.k8s.io/v1 or v1beta1)`,
    );
  }
  const rawCommand = str(e.command, `${where}: exec.command`);
  if (!rawCommand) throw new Error(`${where}: exec plugin has no command`);
  // clientcmd resolves the command against the kubeconfig only when it is a path, not a name looked up in PATH.
  const command = rawCommand.includes('/') ? resolvePath(rawCommand, dir) : rawCommand;
  const args = e.args === undefined || e.args === null ? [] : e.args;
  if (!Array.isArray(args) || !args.every((a) => typeof a === 'string'))
    throw new Error(`${where}: exec.args must be a list of strings`);
  const envList = e.env === undefined || e.env === null ? [] : e.env;
  if (!Array.isArray(envList)) throw new Error(`${where}: exec.env must be a list of {name, value}`);
  const env = envList.map((v) => {
    if (!isObject(v) || typeof v.name !== 'string' || typeof v.value !== 'string')
      throw new Error(`${where}: exec.env must be a list of {name, value}`);
    return { name: v.name, value: v.value };
  });
  // clientcmd defaults v1beta1 to IfAvailable and requires the field for v1.
  let interactiveMode = str(e.interactiveMode, `${where}: exec.interactiveMode`) ?? '';
  if (!interactiveMode && apiVersion.endsWith('/v1beta1')) interactiveMode = 'IfAvailable';
  if (!interactiveMode) throw new Error(`${where}: exec.interactiveMode must be set for ${apiVersion}`);
  if (!INTERACTIVE_MODES.has(interactiveMode))
    throw new Error(`${where}: exec.interactiveMode "${interactiveMode}" is not Never, IfAvailable or Always`);
  const installHint = str(e.installHint, `${where}: exec.installHint`);
  let clusterInfo: Record<string, unknown> | undefined;
  if (e.provideClusterInfo === true) {
    const extensions = Array.isArray(cluster.cluster.extensions) ? cluster.cluster.extensions : [];
    const execExtension = extensions.find((x) => isObject(x) && x.name === 'client.authentication.k8s.io/exec');
    clusterInfo = {
      server: cluster.server,
      ...(cluster.tlsServerName ? { 'tls-server-name': cluster.tlsServerName } : {}),
      ...(cluster.insecureSkipTlsVerify ? { 'insecure-skip-tls-verify': true } : {}),
      ...(cluster.certificateAuthority
        ? { 'certificate-authority-data': Buffer.from(cluster.certificateAuthority).toString('base64') }
        : {}),
      ...(isObject(execExtension) && execExtension.extension !== undefined ? { config: execExtension.extension } : {}),
    };
  }
  return {
    apiVersion,
    command,
    args,
    env,
    interactiveMode,
    ...(installHint ? { installHint } : {}),
    ...(clusterInfo ? { cluster: clusterInfo } : {}),
  };
}

/** `<key>-data` (base64) if set, else the file at `<key>` (relative to `dir`); undefined if neither. */
function dataOrFile(
  o: Record<string, unknown>,
  key: string,
  dir: string,
  where: string,
  warnings: string[],
): string | undefined {
  const data = str(o[`${key}-data`], `${where}: ${key}-data`);
  const file = str(o[key], `${where}: ${key}`);
  if (data) {
    if (file) warnings.push(`${where}: ${key}-data and ${key} are both set; ${key}-data wins`);
    const decoded = Buffer.from(data, 'base64').toString('utf8');
    if (!decoded.includes('-----BEGIN')) throw new Error(`${where}: ${key}-data is not base64-encoded PEM`);
    return decoded;
  }
  if (!file) return undefined;
  return readText(resolvePath(file, dir), `${where}: ${key}`);
}

function resolvePath(p: string, dir: string): string {
  return isAbsolute(p) ? p : resolve(dir, p);
}

/** Reads a file, or throws an error naming it and saying why (the code, never the content). */
function readText(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`${what}: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/** A string field, or undefined when absent or empty; anything else is an error. */
function str(v: unknown, what: string): string | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw new Error(`${what} must be a string`);
  return v;
}
