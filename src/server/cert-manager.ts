/**
 * `tokenguard serve --manage-certificates`: the certificate controller's I/O
 * (docs/certificates.md). Every replica polls the Secret and, when it holds a valid serving
 * certificate and key, writes them to a local folder the way the kubelet updates a Secret
 * volume (a timestamped folder and one rename of the `..data` symlink), so the server's
 * certificate watcher (tls.ts) swaps the secure context without dropping a connection. One
 * replica, elected through a Lease (src/kube/lease.ts), also keeps the Secret and the caBundle
 * of tokenguard's own webhook configurations right, as src/certs/controller.ts decides.
 *
 * It never creates a webhook configuration (an uninstall deletes them first, and a controller
 * that recreated one would bring back a webhook nothing serves: kyverno/kyverno#5355), never
 * logs key material, and never throws into the server: every failure is logged and retried.
 */
import { randomBytes, type X509Certificate } from 'node:crypto';
import { mkdir, readdir, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { isIP } from 'node:net';
import { join } from 'node:path';
import {
  type CertInfo,
  caBundlePatch,
  decide,
  type Plan,
  RENEW_ANNOTATION,
  type RotationConfig,
  renewRequest,
  type ServingInfo,
  type StoredCertificates,
  servingNotAfter,
} from '../certs/controller.js';
import { generateCertificates, serviceDnsNames, toCaBundle } from '../certs/generate.js';
import { parseCertificate, parsePrivateKey, privateKeyFor } from '../certs/keys.js';
import { isObject, type JsonObject } from '../json.js';
import { KubeApiError, type KubeClient } from '../kube/client.js';
import { type Elector, type LeaseRecord, type LeaseTiming, startElector } from '../kube/lease.js';
import type { Logger } from '../log.js';

/** The Secret's keys. */
export const SECRET_KEYS = { caCert: 'ca.crt', caKey: 'ca.key', cert: 'tls.crt', key: 'tls.key' } as const;

/** Marks the Secret as the controller's (it may replace what it holds). */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
const MANAGED_BY = 'tokenguard';

/** Deadline of each API call. */
const REQUEST_TIMEOUT_MS = 10_000;
const JSON_WRITE = { contentType: 'application/json', timeoutMs: REQUEST_TIMEOUT_MS } as const;

export interface CertManagerOptions {
  readonly client: KubeClient;
  readonly namespace: string;
  readonly secretName: string;
  readonly leaseName: string;
  /** Default: the host name (the pod name) and a random suffix, as client-go's examples. */
  readonly identity?: string;
  /** The Service the API server calls: the certificate carries its DNS names. */
  readonly service: string;
  readonly extraDnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
  /** The webhook configurations whose caBundle is kept; undefined: none of that kind. */
  readonly validatingWebhookConfiguration: string | undefined;
  readonly mutatingWebhookConfiguration: string | undefined;
  readonly rotation: RotationConfig;
  /** How often every replica reads the Secret, and the leader checks the webhook configurations. */
  readonly pollIntervalMs: number;
  /** Where the serving certificate is written: `<dir>/tls.crt`, `<dir>/tls.key`. */
  readonly dir: string;
  readonly logger: Logger;
  readonly leaseTiming?: LeaseTiming;
  readonly now?: () => number;
}

export interface CertManager {
  /** The files, once the Secret held a usable serving certificate; rejects if closed first. */
  readonly ready: Promise<{ readonly certFile: string; readonly keyFile: string }>;
  isLeader(): boolean;
  close(): Promise<void>;
}

/** Starts the poll (every replica) and the election (the leader reconciles). */
export function startCertManager(options: CertManagerOptions): CertManager {
  const { client, namespace, secretName, logger, rotation, pollIntervalMs } = options;
  const now = options.now ?? Date.now;
  const identity = options.identity ?? `${hostname()}_${randomBytes(6).toString('hex')}`;
  const secretPath = `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets/${encodeURIComponent(secretName)}`;
  const leasePath = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases/${encodeURIComponent(options.leaseName)}`;
  const dnsNames = [
    ...serviceDnsNames(options.service, namespace),
    ...options.extraDnsNames.map((n) => n.toLowerCase()),
  ];
  const names = { dnsNames, ipAddresses: [...options.ipAddresses] };
  const files = { certFile: join(options.dir, SECRET_KEYS.cert), keyFile: join(options.dir, SECRET_KEYS.key) };
  const log = (level: 'info' | 'warn' | 'error' | 'debug', fields: Record<string, unknown>, message: string) =>
    logger[level]({ event: 'certificates', secret: `${namespace}/${secretName}`, ...fields }, message);

  let closed = false;
  let resolveReady: (f: typeof files) => void = () => {};
  let rejectReady: (e: Error) => void = () => {};
  const ready = new Promise<typeof files>((resolve, reject) => {
    resolveReady = resolve;
    rejectReady = reject;
  });
  ready.catch(() => {});

  // ------------------------------------------------------------ every replica: Secret → files
  let written = '';
  let lastProblem = '';
  const report = (problem: string, fields: Record<string, unknown> = {}) => {
    if (problem === lastProblem) return;
    lastProblem = problem;
    log('warn', fields, problem);
  };
  const syncOnce = async () => {
    let secret: JsonObject | undefined;
    try {
      secret = await getOrUndefined(client, secretPath);
    } catch (e) {
      report(`cannot read the certificate Secret: ${describe(e)}`);
      return;
    }
    if (secret === undefined) {
      report('the certificate Secret does not exist yet; waiting for the leader to create it');
      return;
    }
    const data = secretData(secret);
    const pair = usablePair(data[SECRET_KEYS.cert], data[SECRET_KEYS.key], now());
    if (typeof pair === 'string') {
      report(`the certificate Secret holds no usable serving certificate (${pair}); keeping the one in use`);
      return;
    }
    lastProblem = '';
    if (pair.fingerprint256 === written) return;
    try {
      await writeVolume(options.dir, { [SECRET_KEYS.cert]: pair.cert, [SECRET_KEYS.key]: pair.key });
    } catch (e) {
      log(
        'error',
        { dir: options.dir },
        `cannot write the serving certificate to ${options.dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      );
      return;
    }
    written = pair.fingerprint256;
    log(
      'info',
      { serialNumber: pair.serialNumber, notAfter: new Date(pair.notAfter).toISOString(), issuer: pair.issuer },
      'serving certificate taken from the Secret',
    );
    resolveReady(files);
  };
  // One sync at a time: the poll and the leader (right after it changed the Secret) both ask for
  // one, and two writes of the folder at once would each remove the other's new `..data` target.
  // A sync asked for while one runs runs once more after it.
  let syncRunning: Promise<void> | undefined;
  let syncAgain = false;
  const sync = (): Promise<void> => {
    if (syncRunning !== undefined) {
      syncAgain = true;
      return syncRunning;
    }
    syncRunning = (async () => {
      do {
        syncAgain = false;
        await syncOnce();
      } while (syncAgain && !closed);
    })().finally(() => {
      syncRunning = undefined;
    });
    return syncRunning;
  };

  // ------------------------------------------------------------ the leader: Secret and caBundles
  /** When each bundle (its CA fingerprints in order) was first seen in every webhook configuration. */
  const published = new Map<string, number>();
  const missingConfigurations = new Set<string>();
  let leaderWake: (() => void) | undefined;
  /** The invalid value of the renew annotation last warned about. */
  let badRenewValue: unknown;

  const reconcile = async (): Promise<number> => {
    const secret = await getOrUndefined(client, secretPath);
    const data = secret === undefined ? {} : secretData(secret);
    const annotations =
      isObject(secret?.metadata) && isObject(secret.metadata.annotations) ? secret.metadata.annotations : {};
    const asked = annotations[RENEW_ANNOTATION];
    const renew = renewRequest(asked);
    if (asked !== undefined && renew === undefined && asked !== badRenewValue) {
      log(
        'warn',
        { annotation: RENEW_ANNOTATION },
        `the Secret's ${RENEW_ANNOTATION} annotation must be "ca" or "certificate", got ${JSON.stringify(String(asked).slice(0, 64))}; ignored`,
      );
    }
    badRenewValue = renew === undefined ? asked : undefined;
    const parsed =
      secret === undefined
        ? ({ usable: false, problem: 'the Secret does not exist' } as const)
        : parseStored(data, names);
    const stored: StoredCertificates = parsed.usable && renew !== undefined ? { ...parsed, renew } : parsed;
    const bundleKey = stored.usable ? stored.cas.map((c) => c.fingerprint256).join(',') : '';
    const decision = decide(stored, now(), rotation, published.get(bundleKey), Math.max(pollIntervalMs, 1000));
    let bundlePem = stored.usable ? (data[SECRET_KEYS.caCert] ?? '') : '';
    if (decision.plan.action !== 'none') {
      bundlePem = await apply(decision.plan, secret, data, stored);
    } else if (decision.plan.wait !== undefined) log('debug', {}, `waiting for ${decision.plan.wait}`);
    await publish(bundlePem, bundleKey, decision.plan.action === 'none');
    return decision.plan.action === 'none' ? decision.nextCheck : now();
  };

  /** Carries out a plan; returns the bundle the Secret now holds. */
  const apply = async (
    plan: Exclude<Plan, { action: 'none' }>,
    secret: JsonObject | undefined,
    data: Record<string, string>,
    stored: StoredCertificates,
  ): Promise<string> => {
    const t = now();
    const bundleCerts = splitPem(data[SECRET_KEYS.caCert] ?? '');
    const kept = (keep: readonly string[]) =>
      bundleCerts.filter((p) => keep.includes(parseCertificate(p)?.fingerprint256 ?? '')).join('');
    let next: Record<string, string>;
    if (plan.action === 'create') {
      const caNotAfter = t + rotation.caValidityMs;
      const set = await generateCertificates({
        service: options.service,
        namespace,
        dnsNames: options.extraDnsNames,
        ipAddresses: options.ipAddresses,
        now: new Date(t),
        notAfter: new Date(secondsFloor(servingNotAfter(t, rotation, caNotAfter))),
        caNotAfter: new Date(secondsFloor(caNotAfter)),
      });
      next = {
        [SECRET_KEYS.caCert]: set.caCert,
        [SECRET_KEYS.caKey]: set.caKey,
        [SECRET_KEYS.cert]: set.cert,
        [SECRET_KEYS.key]: set.key,
      };
    } else if (plan.action === 'stage-ca') {
      const caNotAfter = secondsFloor(t + rotation.caValidityMs);
      const set = await generateCertificates({
        service: options.service,
        namespace,
        now: new Date(t),
        notAfter: new Date(caNotAfter),
        caNotAfter: new Date(caNotAfter),
      });
      next = { ...data, [SECRET_KEYS.caCert]: kept(plan.keep) + set.caCert, [SECRET_KEYS.caKey]: set.caKey };
    } else if (plan.action === 'issue') {
      const newest = bundleCerts[bundleCerts.length - 1] ?? '';
      const caNotAfter = new Date(parseCertificate(newest)?.validTo ?? 0).getTime();
      const set = await generateCertificates({
        service: options.service,
        namespace,
        dnsNames: options.extraDnsNames,
        ipAddresses: options.ipAddresses,
        now: new Date(t),
        notAfter: new Date(servingNotAfter(t, rotation, caNotAfter)),
        ca: { cert: newest, key: data[SECRET_KEYS.caKey] ?? '' },
      });
      next = {
        ...data,
        [SECRET_KEYS.caCert]: kept(plan.keep),
        [SECRET_KEYS.cert]: set.cert,
        [SECRET_KEYS.key]: set.key,
      };
    } else {
      next = { ...data, [SECRET_KEYS.caCert]: kept(plan.keep) };
    }
    // The write that answers a renewal request removes it.
    const renew = stored.usable ? stored.renew : undefined;
    const answered =
      plan.action === 'create' ||
      (renew === 'ca' && plan.action === 'stage-ca') ||
      (renew === 'certificate' && plan.action === 'issue');
    await writeSecret(secret, next, answered);
    const serving = parseCertificate(next[SECRET_KEYS.cert] ?? '');
    log(
      'info',
      {
        action: plan.action,
        reason: plan.reason,
        cas: splitPem(next[SECRET_KEYS.caCert] ?? '').length,
        serialNumber: serving?.serialNumber,
        notAfter: serving ? new Date(serving.validTo).toISOString() : undefined,
      },
      `certificate Secret updated: ${plan.action} (${plan.reason})`,
    );
    return next[SECRET_KEYS.caCert] ?? '';
  };

  const writeSecret = async (secret: JsonObject | undefined, data: Record<string, string>, clearRenew: boolean) => {
    const encoded = Object.fromEntries(
      Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'utf8').toString('base64')]),
    );
    if (secret === undefined) {
      await client.sendJson(
        'POST',
        `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets`,
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: secretName, namespace, labels: { [MANAGED_BY_LABEL]: MANAGED_BY } },
          type: 'kubernetes.io/tls',
          data: encoded,
        }),
        JSON_WRITE,
      );
      return;
    }
    const read = isObject(secret.metadata) ? secret.metadata : {};
    let metadata: JsonObject = read;
    if (clearRenew && isObject(read.annotations) && RENEW_ANNOTATION in read.annotations) {
      const { [RENEW_ANNOTATION]: _answered, ...annotations } = read.annotations;
      metadata = { ...read, annotations };
    }
    // PUT with the resourceVersion read: a write by anyone since then fails with 409 (retried next round).
    // The Secret's type cannot change, so a kubernetes.io/tls Secret is kept as one and any other type stays as it is.
    await client.sendJson(
      'PUT',
      secretPath,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: {
          ...metadata,
          labels: { ...(isObject(metadata.labels) ? metadata.labels : {}), [MANAGED_BY_LABEL]: MANAGED_BY },
        },
        type: secret.type,
        data: encoded,
      }),
      JSON_WRITE,
    );
  };

  /** Makes every named webhook configuration hold `bundlePem`; records when all do. */
  const publish = async (bundlePem: string, bundleKey: string, unchanged: boolean) => {
    if (bundlePem === '') return;
    const wanted = toCaBundle(bundlePem);
    let all = true;
    for (const [kind, name] of [
      ['validatingwebhookconfigurations', options.validatingWebhookConfiguration],
      ['mutatingwebhookconfigurations', options.mutatingWebhookConfiguration],
    ] as const) {
      if (name === undefined) continue;
      const path = `/apis/admissionregistration.k8s.io/v1/${kind}/${encodeURIComponent(name)}`;
      try {
        const config = await getOrUndefined(client, path);
        if (config === undefined) {
          // Never created here: the chart or the kustomize base owns the configurations.
          if (!missingConfigurations.has(path))
            log(
              'warn',
              { configuration: `${kind}/${name}` },
              `${kind}/${name} does not exist; its caBundle is not managed until it does`,
            );
          missingConfigurations.add(path);
          continue;
        }
        missingConfigurations.delete(path);
        const ops = caBundlePatch(config, wanted);
        if (ops.length === 0) continue;
        await client.sendJson('PATCH', path, JSON.stringify(ops), {
          contentType: 'application/json-patch+json',
          timeoutMs: REQUEST_TIMEOUT_MS,
        });
        log(
          'info',
          { configuration: `${kind}/${name}`, webhooks: ops.length / 2, cas: splitPem(bundlePem).length },
          `caBundle of ${kind}/${name} updated`,
        );
      } catch (e) {
        all = false;
        log(
          'error',
          { configuration: `${kind}/${name}` },
          `cannot update the caBundle of ${kind}/${name}: ${describe(e)}`,
        );
      }
    }
    if (all && bundleKey !== '' && unchanged && !published.has(bundleKey)) published.set(bundleKey, now());
    if (all && !unchanged) leaderWake?.();
  };

  // ------------------------------------------------------------ loops
  let syncTimer: NodeJS.Timeout | undefined;
  let syncing: Promise<void> = Promise.resolve();
  const syncLoop = () => {
    if (closed) return;
    syncing = sync().finally(() => {
      if (!closed) syncTimer = setTimeout(syncLoop, pollIntervalMs);
    });
  };
  syncLoop();

  let leading: Promise<void> = Promise.resolve();
  const lead = async (signal: AbortSignal) => {
    log('info', { identity }, 'leading: this replica manages the certificates');
    while (!signal.aborted && !closed) {
      let nextCheck = now() + pollIntervalMs;
      try {
        nextCheck = await reconcile();
      } catch (e) {
        log('error', {}, `certificate reconcile failed: ${describe(e)}`);
      }
      // Right after a change the Secret is synced to this replica's files at once.
      void sync();
      const wait = Math.max(0, Math.min(nextCheck - now(), pollIntervalMs));
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, wait);
        function done() {
          clearTimeout(timer);
          signal.removeEventListener('abort', done);
          leaderWake = undefined;
          resolve();
        }
        leaderWake = done;
        signal.addEventListener('abort', done, { once: true });
      });
    }
  };

  const elector: Elector = startElector({
    identity,
    ...(options.leaseTiming ? { timing: options.leaseTiming } : {}),
    ...(options.now ? { now: options.now } : {}),
    api: {
      get: () => getOrUndefined(client, leasePath),
      create: (spec: LeaseRecord) =>
        client.sendJson(
          'POST',
          `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases`,
          JSON.stringify({
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name: options.leaseName, namespace },
            spec,
          }),
          JSON_WRITE,
        ),
      update: (lease: JsonObject, spec: LeaseRecord) =>
        client.sendJson(
          'PUT',
          leasePath,
          JSON.stringify({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: lease.metadata, spec }),
          JSON_WRITE,
        ),
    },
    events: {
      onStartedLeading: (signal) => {
        leading = lead(signal);
      },
      onStoppedLeading: (reason) => log('info', { identity, reason }, `no longer leading: ${reason}`),
      onNewLeader: (holder) => log('info', { leader: holder }, `the certificates are managed by ${holder}`),
      onError: (message) => log('warn', {}, message),
    },
  });

  return {
    ready,
    isLeader: () => elector.isLeader(),
    close: async () => {
      closed = true;
      clearTimeout(syncTimer);
      rejectReady(new Error('the certificate manager was closed before the Secret held a usable certificate'));
      await elector.close();
      await leading;
      await syncing;
      await syncRunning;
    },
  };
}

/** A GET that answers undefined for 404. */
async function getOrUndefined(client: KubeClient, path: string): Promise<JsonObject | undefined> {
  try {
    return await client.getJson(path, {}, { timeoutMs: REQUEST_TIMEOUT_MS });
  } catch (e) {
    if (e instanceof KubeApiError && e.statusCode === 404) return undefined;
    throw e;
  }
}

/** An error for the log: the API's status and reason, or the network error; never a body. */
function describe(e: unknown): string {
  if (e instanceof KubeApiError && e.statusCode === 403)
    return `${e.message} (check the Role of tokenguard's ServiceAccount)`;
  return (e as Error).message;
}

/** The Secret's data, decoded (entries that are not strings are left out). */
export function secretData(secret: JsonObject): Record<string, string> {
  const data = isObject(secret.data) ? secret.data : {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(data))
    if (typeof v === 'string') out[k] = Buffer.from(v, 'base64').toString('utf8');
  return out;
}

/** The PEM certificates in `text`, each with its trailing newline. */
export function splitPem(text: string): string[] {
  return (text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []).map((p) => `${p}\n`);
}

function secondsFloor(ms: number): number {
  return Math.floor(ms / 1000) * 1000;
}

function info(c: X509Certificate): CertInfo {
  return {
    fingerprint256: c.fingerprint256,
    notBefore: new Date(c.validFrom).getTime(),
    notAfter: new Date(c.validTo).getTime(),
  };
}

/**
 * Parses the Secret's data for {@link decide}. Garbage (a block that is not a certificate, a
 * key that does not parse) makes it unusable with a problem that names the key, never its content.
 */
export function parseStored(
  data: Record<string, string>,
  names: { readonly dnsNames: readonly string[]; readonly ipAddresses: readonly string[] },
): StoredCertificates {
  const caText = data[SECRET_KEYS.caCert];
  if (caText === undefined || caText.trim() === '')
    return { usable: false, problem: `${SECRET_KEYS.caCert} is missing` };
  const blocks = splitPem(caText);
  if (blocks.length === 0) return { usable: false, problem: `${SECRET_KEYS.caCert} holds no PEM certificate` };
  const cas: X509Certificate[] = [];
  for (const [i, b] of blocks.entries()) {
    const c = parseCertificate(b);
    if (c === undefined || !c.ca)
      return {
        usable: false,
        problem: `${SECRET_KEYS.caCert}: certificate ${i + 1} is not a CA certificate that parses`,
      };
    cas.push(c);
  }
  const newest = cas[cas.length - 1] as X509Certificate;
  const caKey = data[SECRET_KEYS.caKey];
  const caKeyMatches = caKey !== undefined && typeof privateKeyFor(newest, caKey) === 'object';
  let serving: ServingInfo | undefined;
  const certText = data[SECRET_KEYS.cert];
  const keyText = data[SECRET_KEYS.key];
  const leaf = certText === undefined ? undefined : parseCertificate(certText);
  const key = keyText === undefined ? undefined : parsePrivateKey(keyText);
  if (leaf !== undefined && key !== undefined) {
    const issuer = cas.find((ca) => leaf.checkIssued(ca) && leaf.verify(ca.publicKey));
    serving = {
      ...info(leaf),
      issuer: issuer?.fingerprint256,
      keyMatches: leaf.checkPrivateKey(key),
      namesMatch: carriesNames(leaf, names),
    };
  }
  return { usable: true, cas: cas.map(info), caKeyMatches, serving };
}

/** The certificate carries every DNS name and IP address. */
function carriesNames(
  cert: X509Certificate,
  names: { readonly dnsNames: readonly string[]; readonly ipAddresses: readonly string[] },
): boolean {
  const san = new Set((cert.subjectAltName ?? '').split(', ').map((s) => s.trim()));
  return (
    names.dnsNames.every((n) => san.has(`DNS:${n}`)) &&
    names.ipAddresses.every(
      (ip) => san.has(`IP Address:${isIP(ip) === 6 ? ip.toUpperCase() : ip}`) || san.has(`IP Address:${ip}`),
    )
  );
}

/** A serving pair that can be served now, or why not (naming the key, never quoting it). */
function usablePair(
  cert: string | undefined,
  key: string | undefined,
  now: number,
):
  | { cert: string; key: string; fingerprint256: string; serialNumber: string; notAfter: number; issuer: string }
  | string {
  if (cert === undefined || key === undefined) return `${SECRET_KEYS.cert} or ${SECRET_KEYS.key} is missing`;
  const x = parseCertificate(cert);
  if (x === undefined) return `${SECRET_KEYS.cert} is not a PEM certificate`;
  const k = privateKeyFor(x, key);
  if (k === 'unreadable') return `${SECRET_KEYS.key} is not an unencrypted PEM private key`;
  if (k === 'mismatch') return `${SECRET_KEYS.key} is not the key of ${SECRET_KEYS.cert}`;
  const notBefore = new Date(x.validFrom).getTime();
  const notAfter = new Date(x.validTo).getTime();
  if (!(notBefore <= now && now < notAfter))
    return `${SECRET_KEYS.cert} is not valid now (valid ${x.validFrom} to ${x.validTo})`;
  return {
    cert,
    key,
    fingerprint256: x.fingerprint256,
    serialNumber: x.serialNumber,
    notAfter,
    issuer: x.issuer.replace(/\n/g, ', '),
  };
}

/**
 * Writes files as the kubelet updates a Secret volume: into a new timestamped folder, then one
 * rename of the `..data` symlink to it; `<dir>/<name>` are symlinks through `..data`. A reader
 * sees the old pair or the new one, never half of each. Older folders are removed.
 */
export async function writeVolume(dir: string, files: Record<string, string>): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const stamp = `..${new Date().toISOString().replace(/[:.]/g, '_')}.${randomBytes(4).toString('hex')}`;
  const target = join(dir, stamp);
  await mkdir(target, { mode: 0o700 });
  for (const [name, content] of Object.entries(files))
    await writeFile(join(target, name), content, { mode: 0o600, flag: 'wx' });
  const tmpLink = join(dir, `..data_tmp.${randomBytes(4).toString('hex')}`);
  await symlink(stamp, tmpLink);
  await rename(tmpLink, join(dir, '..data'));
  for (const name of Object.keys(files)) {
    const link = join(dir, name);
    await symlink(join('..data', name), `${link}.tmp`).catch(() => {});
    await rename(`${link}.tmp`, link).catch(() => {});
  }
  // Never the folder `..data` points at now, whoever wrote it.
  const current = await readlink(join(dir, '..data')).catch(() => stamp);
  for (const entry of await readdir(dir)) {
    if (entry.startsWith('..') && entry !== stamp && entry !== current && !entry.startsWith('..data'))
      await rm(join(dir, entry), { recursive: true, force: true });
  }
}
