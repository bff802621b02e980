/**
 * A real, minimal Kubernetes control plane on loopback for end-to-end tests
 * (in the spirit of controller-runtime's envtest): etcd + kube-apiserver +
 * kube-controller-manager, no kubelet and no scheduler (pods stay Pending,
 * which is enough to check what the API server stores).
 *
 * Binaries come from test/e2e/get-binaries.sh (pass its last stdout line as binDir).
 * Everything else (CA, serving and client certs, ServiceAccount signing key,
 * kubeconfigs, free ports, data dirs, logs) is generated inside workDir.
 * Every server listens on 127.0.0.1 only.
 *
 * Only node: builtins are used; the `openssl` CLI signs the X.509 certificates
 * (node:crypto makes the keys but cannot issue certificates).
 */
import { spawn, execFile } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { generateKeyPair, randomBytes } from 'node:crypto';
import { appendFileSync, closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { mkdir, writeFile, readFile, access } from 'node:fs/promises';
import { constants as fsConstants } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';

export interface StartClusterOptions {
  /** Directory holding etcd, kube-apiserver and kube-controller-manager. */
  binDir: string;
  /** Scratch directory for certs, kubeconfigs, etcd data and logs (created if missing). */
  workDir: string;
  /** Passed to kube-apiserver as --admission-control-config-file. */
  admissionConfigFile?: string;
  /** Appended to the kube-apiserver command line (later flags win). */
  extraApiserverArgs?: string[];
  /** Appended to the kube-controller-manager command line. */
  extraControllerManagerArgs?: string[];
  /** Overall budget for each start-up phase (etcd, apiserver, default SA). Default 180000 ms. */
  startTimeoutMs?: number;
}

export interface Cluster {
  /** Path to an admin kubeconfig (client cert in group system:masters). */
  kubeconfig: string;
  /** https://127.0.0.1:<port> */
  apiserverUrl: string;
  /** CA that signed the apiserver serving cert and all client certs (also --client-ca-file). */
  caFile: string;
  /** CA private key, e.g. to sign a webhook's serving cert with the same CA. */
  caKeyFile: string;
  /** Admin client certificate and key (same as embedded in kubeconfig). */
  adminCertFile: string;
  adminKeyFile: string;
  /** --service-account-issuer value (the `iss` of tokens the apiserver issues). */
  serviceAccountIssuer: string;
  /** Public key that verifies ServiceAccount tokens (--service-account-key-file). */
  serviceAccountPublicKeyFile: string;
  /** Full command lines used, for debugging. */
  args: { etcd: string[]; apiserver: string[]; controllerManager: string[] };
  /** Log files (stdout+stderr) of each process. */
  logs: { etcd: string; apiserver: string; controllerManager: string };
  /** Stops every process (SIGTERM, then SIGKILL after a grace period). Idempotent. */
  stop(): Promise<void>;
  /**
   * Stops kube-apiserver alone (SIGTERM, as a rolling restart does); etcd and the
   * controller-manager keep running. For fault scenarios on a cluster of their own.
   */
  stopApiserver(): Promise<void>;
  /** Starts kube-apiserver again with the same command line (same port, certificates, etcd) and waits for /readyz. */
  startApiserver(): Promise<void>;
}

const SERVICE_CLUSTER_IP_RANGE = '10.0.0.0/24';
const SERVICE_ACCOUNT_ISSUER = 'https://kubernetes.default.svc';
const STOP_GRACE_MS = 10_000;

// ------------------------------------------------------------------ process registry
// Every child we spawn is tracked here so that nothing outlives the test process,
// even when the test forgets stop() or the process dies from an exception/signal.

const live = new Set<ChildProcess>();
let handlersInstalled = false;

function killAllNow(): void {
  for (const child of live) {
    try {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
  live.clear();
}

function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  // 'exit' also fires after an uncaught exception; only synchronous work is possible here.
  process.on('exit', killAllNow);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      killAllNow();
      process.removeListener(sig, onSignal);
      // Keep the default behaviour (terminate) unless someone else handles the signal.
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
}

// `setpriv --pdeathsig KILL` makes the kernel kill the child if this Node process dies
// without running any handler (e.g. SIGKILL by a test-runner timeout).
let setprivPath: string | null | undefined;
function findSetpriv(): string | null {
  if (setprivPath !== undefined) return setprivPath;
  setprivPath = null;
  if (process.platform !== 'linux') return null;
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':').concat(['/usr/bin', '/bin'])) {
    const p = join(dir || '.', 'setpriv');
    if (existsSync(p)) {
      setprivPath = p;
      break;
    }
  }
  return setprivPath;
}

// ------------------------------------------------------------------ small helpers

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function run(cmd: string, args: string[], cwd?: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    execFile(cmd, args, { cwd, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) {
        const detail = (stderr || stdout || err.message).toString().trim().split('\n').slice(-5).join('\n');
        reject(new Error(`e2e: ${cmd} ${args.join(' ')} failed: ${detail}`));
      } else {
        resolvePromise(stdout.toString());
      }
    });
  });
}

/** Reserves `n` distinct free TCP ports on 127.0.0.1 (all held open at once, then released). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<ReturnType<typeof createServer>>((res, rej) => {
          const s = createServer();
          s.unref();
          s.once('error', rej);
          s.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => res(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  return ports;
}

function tail(file: string, lines = 25): string {
  try {
    const text = readFileSync(file, 'utf8');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

interface HttpResult {
  status: number;
  body: string;
}

interface TlsClient {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

function httpGet(url: string, tls?: TlsClient, timeoutMs = 5000): Promise<HttpResult> {
  return new Promise((res, rej) => {
    const u = new URL(url);
    const opts = {
      method: 'GET',
      hostname: u.hostname,
      port: u.port,
      path: u.pathname + u.search,
      timeout: timeoutMs,
      ...(tls ? { ca: tls.ca, cert: tls.cert, key: tls.key, agent: false as const } : { agent: false as const }),
    };
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(opts, (resp) => {
      const chunks: Buffer[] = [];
      resp.on('data', (c: Buffer) => chunks.push(c));
      resp.on('end', () => res({ status: resp.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      resp.on('error', rej);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs}ms`)));
    req.on('error', rej);
    req.end();
  });
}

// ------------------------------------------------------------------ PKI

async function writeKey(path: string, type: 'rsa' | 'ec'): Promise<{ privatePem: string; publicPem: string }> {
  const { privateKey, publicKey } = await new Promise<{ privateKey: string; publicKey: string }>((res, rej) => {
    const cb = (err: Error | null, publicKey: string, privateKey: string): void =>
      err ? rej(err) : res({ privateKey, publicKey });
    const enc = {
      publicKeyEncoding: { type: 'spki' as const, format: 'pem' as const },
      privateKeyEncoding: { type: 'pkcs8' as const, format: 'pem' as const },
    };
    if (type === 'rsa') generateKeyPair('rsa', { modulusLength: 2048, ...enc }, cb);
    else generateKeyPair('ec', { namedCurve: 'prime256v1', ...enc }, cb);
  });
  await writeFile(path, privateKey, { mode: 0o600 });
  return { privatePem: privateKey, publicPem: publicKey };
}

const OPENSSL_CNF = `# generated by tokenguard test/e2e/cluster.ts
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = unused
[ v3_ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign, digitalSignature
subjectKeyIdentifier = hash
[ server ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = @server_sans
[ client ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ server_sans ]
IP.1 = 127.0.0.1
IP.2 = 10.0.0.1
IP.3 = 0:0:0:0:0:0:0:1
DNS.1 = localhost
DNS.2 = kubernetes
DNS.3 = kubernetes.default
DNS.4 = kubernetes.default.svc
DNS.5 = kubernetes.default.svc.cluster.local
`;

interface Pki {
  caCrt: string;
  caKey: string;
  servingCrt: string;
  servingKey: string;
  adminCrt: string;
  adminKey: string;
  kcmCrt: string;
  kcmKey: string;
  saKey: string;
  saPub: string;
  /** Separate CA + client cert for the aggregation layer (--requestheader-*, --proxy-client-*). */
  frontProxyCaCrt: string;
  frontProxyCaKey: string;
  frontProxyClientCrt: string;
  frontProxyClientKey: string;
}

async function makePki(dir: string): Promise<Pki> {
  await mkdir(dir, { recursive: true });
  const cnf = join(dir, 'openssl.cnf');
  await writeFile(cnf, OPENSSL_CNF);
  const p = (f: string): string => join(dir, f);
  const pki: Pki = {
    caCrt: p('ca.crt'),
    caKey: p('ca.key'),
    servingCrt: p('apiserver.crt'),
    servingKey: p('apiserver.key'),
    adminCrt: p('admin.crt'),
    adminKey: p('admin.key'),
    kcmCrt: p('kube-controller-manager.crt'),
    kcmKey: p('kube-controller-manager.key'),
    saKey: p('sa.key'),
    saPub: p('sa.pub'),
    frontProxyCaCrt: p('front-proxy-ca.crt'),
    frontProxyCaKey: p('front-proxy-ca.key'),
    frontProxyClientCrt: p('front-proxy-client.crt'),
    frontProxyClientKey: p('front-proxy-client.key'),
  };

  const [sa] = await Promise.all([
    writeKey(pki.saKey, 'rsa'),
    writeKey(pki.caKey, 'rsa'),
    writeKey(pki.servingKey, 'rsa'),
    writeKey(pki.adminKey, 'rsa'),
    writeKey(pki.kcmKey, 'rsa'),
    writeKey(pki.frontProxyCaKey, 'rsa'),
    writeKey(pki.frontProxyClientKey, 'rsa'),
  ]);
  await writeFile(pki.saPub, sa.publicPem);

  const makeCa = (key: string, crt: string, cn: string): Promise<string> =>
    run('openssl', [
      'req',
      '-x509',
      '-new',
      '-config',
      cnf,
      '-extensions',
      'v3_ca',
      '-key',
      key,
      '-subj',
      `/CN=${cn}`,
      '-days',
      '3650',
      '-sha256',
      '-out',
      crt,
    ]);
  await Promise.all([
    makeCa(pki.caKey, pki.caCrt, 'tokenguard-e2e-ca'),
    makeCa(pki.frontProxyCaKey, pki.frontProxyCaCrt, 'tokenguard-e2e-front-proxy-ca'),
  ]);

  const issue = async (
    key: string,
    crt: string,
    subj: string,
    ext: 'server' | 'client',
    ca: { crt: string; key: string } = { crt: pki.caCrt, key: pki.caKey },
  ): Promise<void> => {
    const csr = `${crt}.csr`;
    await run('openssl', ['req', '-new', '-config', cnf, '-key', key, '-subj', subj, '-out', csr]);
    await run('openssl', [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      ca.crt,
      '-CAkey',
      ca.key,
      '-set_serial',
      `0x${randomBytes(12).toString('hex')}`,
      '-days',
      '365',
      '-sha256',
      '-extfile',
      cnf,
      '-extensions',
      ext,
      '-out',
      crt,
    ]);
  };
  await Promise.all([
    issue(pki.servingKey, pki.servingCrt, '/CN=kube-apiserver', 'server'),
    issue(pki.adminKey, pki.adminCrt, '/O=system:masters/CN=tokenguard-e2e-admin', 'client'),
    issue(pki.kcmKey, pki.kcmCrt, '/CN=system:kube-controller-manager', 'client'),
    issue(pki.frontProxyClientKey, pki.frontProxyClientCrt, '/CN=front-proxy-client', 'client', {
      crt: pki.frontProxyCaCrt,
      key: pki.frontProxyCaKey,
    }),
  ]);
  return pki;
}

async function writeKubeconfig(
  path: string,
  server: string,
  caFile: string,
  certFile: string,
  keyFile: string,
  user: string,
): Promise<void> {
  const b64 = async (f: string): Promise<string> => (await readFile(f)).toString('base64');
  const [ca, cert, key] = await Promise.all([b64(caFile), b64(certFile), b64(keyFile)]);
  const yaml = `apiVersion: v1
kind: Config
clusters:
- name: tokenguard-e2e
  cluster:
    server: ${server}
    certificate-authority-data: ${ca}
users:
- name: ${user}
  user:
    client-certificate-data: ${cert}
    client-key-data: ${key}
contexts:
- name: tokenguard-e2e
  context:
    cluster: tokenguard-e2e
    user: ${user}
    namespace: default
current-context: tokenguard-e2e
preferences: {}
`;
  await writeFile(path, yaml, { mode: 0o600 });
}

// ------------------------------------------------------------------ processes

interface Proc {
  name: string;
  child: ChildProcess;
  log: string;
  exited: Promise<void>;
  exitInfo: { code: number | null; signal: NodeJS.Signals | null } | null;
}

function startProcess(name: string, bin: string, args: string[], log: string, cwd: string): Proc {
  const fd = openSync(log, 'a');
  const setpriv = findSetpriv();
  const [cmd, argv] = setpriv ? [setpriv, ['--pdeathsig', 'KILL', '--', bin, ...args]] : [bin, args];
  let child: ChildProcess;
  try {
    child = spawn(cmd, argv, { cwd, stdio: ['ignore', fd, fd], env: { ...process.env } });
  } finally {
    closeSync(fd); // the child keeps its own copy
  }
  live.add(child);
  const proc: Proc = { name, child, log, exitInfo: null, exited: Promise.resolve() };
  proc.exited = new Promise<void>((res) => {
    child.once('exit', (code, signal) => {
      proc.exitInfo = { code, signal };
      live.delete(child);
      res();
    });
    child.once('error', (err) => {
      proc.exitInfo = { code: -1, signal: null };
      live.delete(child);
      try {
        appendFileSync(log, `\n[cluster.ts] spawn error: ${err.message}\n`);
      } catch {
        /* ignore */
      }
      res();
    });
  });
  return proc;
}

async function stopProcess(p: Proc, graceMs = STOP_GRACE_MS): Promise<void> {
  if (p.exitInfo) return;
  try {
    p.child.kill('SIGTERM');
  } catch {
    /* gone */
  }
  const timer = new Promise<'timeout'>((r) => {
    const t = setTimeout(() => r('timeout'), graceMs);
    t.unref();
  });
  if ((await Promise.race([p.exited.then(() => 'exited' as const), timer])) === 'timeout') {
    try {
      p.child.kill('SIGKILL');
    } catch {
      /* gone */
    }
    await p.exited;
  }
}

function describeExit(p: Proc): string {
  const e = p.exitInfo;
  return e ? (e.signal ? `killed by ${e.signal}` : `exited with code ${e.code}`) : 'running';
}

/** Polls `check` until it returns true; fails early when one of `procs` exits. */
async function waitFor(what: string, timeoutMs: number, procs: Proc[], check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastErr = '';
  for (let delay = 100; ; delay = Math.min(delay * 2, 1000)) {
    for (const p of procs) {
      if (p.exitInfo) {
        throw new Error(
          `e2e: ${p.name} ${describeExit(p)} while waiting for ${what}; last lines of ${p.log}:\n${tail(p.log)}`,
        );
      }
    }
    try {
      if (await check()) return;
      lastErr = '';
    } catch (e) {
      lastErr = (e as Error).message;
    }
    if (Date.now() > deadline) {
      const logs = procs.map((p) => `--- ${p.name} (${p.log}):\n${tail(p.log, 15)}`).join('\n');
      throw new Error(
        `e2e: timed out after ${timeoutMs}ms waiting for ${what}${lastErr ? ` (${lastErr})` : ''}\n${logs}`,
      );
    }
    await sleep(delay);
  }
}

// ------------------------------------------------------------------ public API

export async function startCluster(opts: StartClusterOptions): Promise<Cluster> {
  installExitHandlers();
  const binDir = resolve(opts.binDir);
  const workDir = resolve(opts.workDir);
  const timeoutMs = opts.startTimeoutMs ?? 180_000;

  const bins = {
    etcd: join(binDir, 'etcd'),
    apiserver: join(binDir, 'kube-apiserver'),
    controllerManager: join(binDir, 'kube-controller-manager'),
  };
  for (const b of Object.values(bins)) {
    try {
      await access(b, fsConstants.X_OK);
    } catch {
      throw new Error(`e2e: ${b} is missing or not executable; run test/e2e/get-binaries.sh first`);
    }
  }
  if (opts.admissionConfigFile) {
    try {
      await access(opts.admissionConfigFile, fsConstants.R_OK);
    } catch {
      throw new Error(`e2e: admissionConfigFile ${opts.admissionConfigFile} is not readable`);
    }
  }

  const dirs = {
    pki: join(workDir, 'pki'),
    etcdData: join(workDir, 'etcd-data'),
    logs: join(workDir, 'logs'),
    kcmCerts: join(workDir, 'kube-controller-manager'),
  };
  await Promise.all(Object.values(dirs).map((d) => mkdir(d, { recursive: true, mode: 0o700 })));
  const logs = {
    etcd: join(dirs.logs, 'etcd.log'),
    apiserver: join(dirs.logs, 'kube-apiserver.log'),
    controllerManager: join(dirs.logs, 'kube-controller-manager.log'),
  };

  const [pki, [etcdClientPort, etcdPeerPort, apiserverPort, kcmPort]] = await Promise.all([
    makePki(dirs.pki),
    freePorts(4),
  ]);
  const apiserverUrl = `https://127.0.0.1:${apiserverPort}`;
  const kubeconfig = join(workDir, 'admin.kubeconfig');
  const kcmKubeconfig = join(workDir, 'kube-controller-manager.kubeconfig');
  await Promise.all([
    writeKubeconfig(kubeconfig, apiserverUrl, pki.caCrt, pki.adminCrt, pki.adminKey, 'admin'),
    writeKubeconfig(kcmKubeconfig, apiserverUrl, pki.caCrt, pki.kcmCrt, pki.kcmKey, 'system:kube-controller-manager'),
  ]);
  const tls: TlsClient = {
    ca: await readFile(pki.caCrt),
    cert: await readFile(pki.adminCrt),
    key: await readFile(pki.adminKey),
  };

  const etcdUrl = `http://127.0.0.1:${etcdClientPort}`;
  const etcdPeerUrl = `http://127.0.0.1:${etcdPeerPort}`;
  const etcdArgs = [
    '--name=tokenguard-e2e',
    `--data-dir=${dirs.etcdData}`,
    `--listen-client-urls=${etcdUrl}`,
    `--advertise-client-urls=${etcdUrl}`,
    `--listen-peer-urls=${etcdPeerUrl}`,
    `--initial-advertise-peer-urls=${etcdPeerUrl}`,
    `--initial-cluster=tokenguard-e2e=${etcdPeerUrl}`,
    '--initial-cluster-state=new',
    '--unsafe-no-fsync=true', // throw-away data: skip fsync, much faster on CI disks
    '--log-level=warn',
  ];

  const apiserverArgs = [
    `--etcd-servers=${etcdUrl}`,
    `--bind-address=127.0.0.1`,
    `--advertise-address=127.0.0.1`,
    `--secure-port=${apiserverPort}`,
    `--cert-dir=${join(workDir, 'kube-apiserver')}`,
    `--tls-cert-file=${pki.servingCrt}`,
    `--tls-private-key-file=${pki.servingKey}`,
    `--client-ca-file=${pki.caCrt}`,
    '--authorization-mode=Node,RBAC',
    // Defaults already include these; listed to make the dependency explicit.
    '--enable-admission-plugins=NamespaceLifecycle,ServiceAccount,MutatingAdmissionWebhook,ValidatingAdmissionWebhook',
    `--service-cluster-ip-range=${SERVICE_CLUSTER_IP_RANGE}`,
    `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
    `--service-account-key-file=${pki.saPub}`,
    `--service-account-signing-key-file=${pki.saKey}`,
    // The Endpoints of Service `kubernetes` may not hold a loopback IP: skip reconciling them.
    '--endpoint-reconciler-type=none',
    // Aggregation layer / front proxy, as kubeadm sets it up (also silences
    // "missing requestheader-client-ca-file" errors in the controller-manager).
    `--requestheader-client-ca-file=${pki.frontProxyCaCrt}`,
    '--requestheader-allowed-names=front-proxy-client',
    '--requestheader-username-headers=X-Remote-User',
    '--requestheader-group-headers=X-Remote-Group',
    '--requestheader-extra-headers-prefix=X-Remote-Extra-',
    `--proxy-client-cert-file=${pki.frontProxyClientCrt}`,
    `--proxy-client-key-file=${pki.frontProxyClientKey}`,
    '--allow-privileged=true',
    '--profiling=false',
    '--v=1',
  ];
  if (opts.admissionConfigFile)
    apiserverArgs.push(`--admission-control-config-file=${resolve(opts.admissionConfigFile)}`);
  apiserverArgs.push(...(opts.extraApiserverArgs ?? []));

  const kcmArgs = [
    `--kubeconfig=${kcmKubeconfig}`,
    `--authentication-kubeconfig=${kcmKubeconfig}`,
    `--authorization-kubeconfig=${kcmKubeconfig}`,
    '--bind-address=127.0.0.1',
    `--secure-port=${kcmPort}`,
    `--cert-dir=${dirs.kcmCerts}`,
    `--service-account-private-key-file=${pki.saKey}`,
    `--root-ca-file=${pki.caCrt}`,
    `--cluster-signing-cert-file=${pki.caCrt}`,
    `--cluster-signing-key-file=${pki.caKey}`,
    '--use-service-account-credentials=true',
    '--controllers=*',
    '--leader-elect=false',
    '--profiling=false',
    '--v=1',
    ...(opts.extraControllerManagerArgs ?? []),
  ];

  const procs: Proc[] = [];
  let stopped: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    if (!stopped) {
      stopped = (async () => {
        // Reverse start order: controller-manager and apiserver first, etcd last.
        // The latest process of each name: the API server may have been restarted.
        const byName = (n: string): Proc | undefined => procs.filter((p) => p.name === n).at(-1);
        const front = [byName('kube-controller-manager'), byName('kube-apiserver')].filter(
          (p): p is Proc => p !== undefined,
        );
        await Promise.all(front.map((p) => stopProcess(p)));
        const etcd = byName('etcd');
        if (etcd) await stopProcess(etcd);
      })();
    }
    return stopped;
  };

  try {
    const etcd = startProcess('etcd', bins.etcd, etcdArgs, logs.etcd, workDir);
    procs.push(etcd);
    await waitFor('etcd /health', timeoutMs, [etcd], async () => {
      const r = await httpGet(`${etcdUrl}/health`);
      return r.status === 200 && /"health"\s*:\s*"true"/.test(r.body);
    });

    const apiserver = startProcess('kube-apiserver', bins.apiserver, apiserverArgs, logs.apiserver, workDir);
    procs.push(apiserver);
    await waitFor('kube-apiserver /readyz', timeoutMs, [etcd, apiserver], async () => {
      const r = await httpGet(`${apiserverUrl}/readyz`, tls);
      return r.status === 200;
    });

    const kcm = startProcess(
      'kube-controller-manager',
      bins.controllerManager,
      kcmArgs,
      logs.controllerManager,
      workDir,
    );
    procs.push(kcm);
    await waitFor('ServiceAccount default/default', timeoutMs, [etcd, apiserver, kcm], async () => {
      const r = await httpGet(`${apiserverUrl}/api/v1/namespaces/default/serviceaccounts/default`, tls);
      return r.status === 200;
    });
  } catch (err) {
    await stop();
    throw err;
  }

  const apiserverProc = (): Proc | undefined => procs.filter((p) => p.name === 'kube-apiserver').at(-1);
  const stopApiserver = async (): Promise<void> => {
    const p = apiserverProc();
    if (p) await stopProcess(p);
  };
  const startApiserver = async (): Promise<void> => {
    if (stopped) throw new Error('e2e: the cluster was stopped');
    if (apiserverProc()?.exitInfo === null) throw new Error('e2e: kube-apiserver is already running');
    appendFileSync(logs.apiserver, `\n[cluster.ts] starting kube-apiserver again\n`);
    const apiserver = startProcess('kube-apiserver', bins.apiserver, apiserverArgs, logs.apiserver, workDir);
    procs.push(apiserver);
    const etcd = procs.find((p) => p.name === 'etcd') as Proc;
    await waitFor('kube-apiserver /readyz after a restart', timeoutMs, [etcd, apiserver], async () => {
      const r = await httpGet(`${apiserverUrl}/readyz`, tls);
      return r.status === 200;
    });
  };

  return {
    kubeconfig,
    apiserverUrl,
    caFile: pki.caCrt,
    caKeyFile: pki.caKey,
    adminCertFile: pki.adminCrt,
    adminKeyFile: pki.adminKey,
    serviceAccountIssuer: SERVICE_ACCOUNT_ISSUER,
    serviceAccountPublicKeyFile: pki.saPub,
    args: { etcd: etcdArgs, apiserver: apiserverArgs, controllerManager: kcmArgs },
    logs,
    stop,
    stopApiserver,
    startApiserver,
  };
}
