/**
 * The certificate controller (src/server/cert-manager.ts) and its Lease election
 * (src/kube/lease.ts) against the real API server of the suite, in this test process with the
 * admin kubeconfig: real Secret, Lease and webhook configuration objects, real resourceVersion
 * conflicts, real JSON patches. Short Lease timings (options of the manager; the defaults are
 * client-go's). Scenario 26 runs two real `tokenguard serve --manage-certificates` processes
 * through a rotation.
 *
 * The webhook configurations made here point at a closed port and match only namespaces with a
 * label no namespace has, with failurePolicy Ignore: the API server never calls them, and the
 * scenarios sharing this control plane are not affected.
 */
import { X509Certificate } from 'node:crypto';
import { lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RotationConfig } from '../../src/certs/controller.js';
import { generateCertificates } from '../../src/certs/generate.js';
import type { JsonObject } from '../../src/json.js';
import { KubeApiError, KubeClient } from '../../src/kube/client.js';
import { loadKubeConfig } from '../../src/kube/config.js';
import type { LeaseTiming } from '../../src/kube/lease.js';
import { createLogger } from '../../src/log.js';
import {
  type CertManager,
  MANAGED_BY_LABEL,
  SECRET_KEYS,
  secretData,
  splitPem,
  startCertManager,
} from '../../src/server/cert-manager.js';
import { loadState, sleep, waitFor } from './env.js';
import { apply, ensureNamespace, kubectlOk } from './kube.js';

const NS = 'e2e-certmgr';
const SECRET = 'certmgr-certificates';
const LEASE = 'certmgr-lease';
const CONFIG = 'e2e-certmgr';
const OTHER = 'e2e-certmgr-other';
const SECRET_PATH = `/api/v1/namespaces/${NS}/secrets/${SECRET}`;
const LEASE_PATH = `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/${LEASE}`;
const configPath = (kind: 'validating' | 'mutating', name: string) =>
  `/apis/admissionregistration.k8s.io/v1/${kind}webhookconfigurations/${name}`;

/** Long validities: nothing is renewed during this file except what a test breaks on purpose. */
const ROTATION: RotationConfig = {
  caValidityMs: 30 * 86_400_000,
  caRenewBeforeMs: 7 * 86_400_000,
  certValidityMs: 10 * 86_400_000,
  certRenewBeforeMs: 86_400_000,
  propagationMs: 1_000,
};
const TIMING: LeaseTiming = { leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 300 };

let client: KubeClient;
const work = mkdtempSync(join(tmpdir(), 'tokenguard-e2e-certmgr-'));
/** Every log line of every manager of this file. */
const logLines: string[] = [];
/** Every private key the Secret held during this file (PEM), to look for in the log. */
const keysSeen = new Set<string>();
const managers: CertManager[] = [];

interface Started {
  readonly manager: CertManager;
  readonly identity: string;
  readonly dir: string;
  /** This manager's log lines, parsed. */
  lines(): Record<string, unknown>[];
}

function start(identity: string): Started {
  const dir = join(work, identity);
  const mine: string[] = [];
  const logger = createLogger(
    { level: 'debug' },
    {
      write: (line: string) => {
        logLines.push(line);
        mine.push(line);
      },
    },
  );
  const manager = startCertManager({
    client,
    namespace: NS,
    secretName: SECRET,
    leaseName: LEASE,
    identity,
    service: 'tokenguard',
    extraDnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1'],
    validatingWebhookConfiguration: CONFIG,
    mutatingWebhookConfiguration: CONFIG,
    rotation: ROTATION,
    pollIntervalMs: 300,
    dir,
    logger,
    leaseTiming: TIMING,
  });
  managers.push(manager);
  return { manager, identity, dir, lines: () => mine.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

async function getOrUndefined(path: string): Promise<JsonObject | undefined> {
  try {
    return await client.getJson(path);
  } catch (e) {
    if (e instanceof KubeApiError && e.statusCode === 404) return undefined;
    throw e;
  }
}

async function secret(): Promise<Record<string, string>> {
  const s = await client.getJson(SECRET_PATH);
  const data = secretData(s);
  for (const k of [SECRET_KEYS.caKey, SECRET_KEYS.key]) if (data[k]) keysSeen.add(data[k] as string);
  return data;
}

async function leaseHolder(): Promise<{ holder: string; transitions: number }> {
  const lease = await client.getJson(LEASE_PATH);
  const spec = lease.spec as { holderIdentity?: string; leaseTransitions?: number };
  return { holder: spec.holderIdentity ?? '', transitions: spec.leaseTransitions ?? 0 };
}

/** The caBundle of every webhook of a configuration (undefined where there is none). */
async function bundles(kind: 'validating' | 'mutating', name: string): Promise<(string | undefined)[]> {
  const c = await client.getJson(configPath(kind, name));
  return (c.webhooks as { clientConfig?: { caBundle?: string } }[]).map((w) => w.clientConfig?.caBundle);
}

const files = (dir: string) => ({
  cert: readFileSync(join(dir, SECRET_KEYS.cert), 'utf8'),
  key: readFileSync(join(dir, SECRET_KEYS.key), 'utf8'),
});

/** Puts `data` (decoded) into the Secret, replacing what it holds. */
async function putSecret(data: Record<string, string>): Promise<void> {
  const s = await client.getJson(SECRET_PATH);
  const encoded = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
  await client.sendJson('PUT', SECRET_PATH, JSON.stringify({ ...s, data: encoded }), {
    contentType: 'application/json',
  });
}

function hook(name: string, caBundle?: string): object {
  return {
    name,
    admissionReviewVersions: ['v1'],
    sideEffects: 'None',
    failurePolicy: 'Ignore',
    timeoutSeconds: 1,
    clientConfig: { url: 'https://127.0.0.1:1/never', ...(caBundle !== undefined ? { caBundle } : {}) },
    namespaceSelector: { matchLabels: { 'e2e-certmgr-never': 'true' } },
    rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['configmaps'] }],
  };
}

const A_BUNDLE = Buffer.from('not a CA bundle of the manager\n').toString('base64');

beforeAll(async () => {
  client = new KubeClient(loadKubeConfig(loadState().kubeconfig, {}));
  await ensureNamespace(NS);
  await kubectlOk(['delete', 'validatingwebhookconfiguration', CONFIG, OTHER, '--ignore-not-found']);
  await kubectlOk(['delete', 'mutatingwebhookconfiguration', CONFIG, '--ignore-not-found']);
  await apply(
    // One webhook without a caBundle, one with a wrong one: both are fixed.
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingWebhookConfiguration',
      metadata: { name: CONFIG },
      webhooks: [hook('a.certmgr.e2e.tokenguard.dev'), hook('b.certmgr.e2e.tokenguard.dev', A_BUNDLE)],
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: CONFIG },
      webhooks: [hook('m.certmgr.e2e.tokenguard.dev')],
    },
    // Not named to the manager: never touched.
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingWebhookConfiguration',
      metadata: { name: OTHER },
      webhooks: [hook('other.certmgr.e2e.tokenguard.dev', A_BUNDLE), hook('other2.certmgr.e2e.tokenguard.dev')],
    },
  );
});

afterAll(async () => {
  await Promise.all(managers.map((m) => m.close()));
  client?.close();
  await kubectlOk(['delete', 'validatingwebhookconfiguration', CONFIG, OTHER, '--ignore-not-found']);
  await kubectlOk(['delete', 'mutatingwebhookconfiguration', CONFIG, '--ignore-not-found']);
  await kubectlOk(['delete', 'namespace', NS, '--wait=false', '--ignore-not-found']);
  rmSync(work, { recursive: true, force: true });
});

let a: Started;
let b: Started;

test('first start: creates the Secret, patches every webhook of both named configurations, no other, and serves from ..data files', async () => {
  const other = await client.getJson(configPath('validating', OTHER));
  const otherVersion = (other.metadata as { resourceVersion: string }).resourceVersion;
  expect(await getOrUndefined(SECRET_PATH)).toBeUndefined();

  a = start('replica-a');
  const ready = await a.manager.ready;
  expect(ready).toEqual({ certFile: join(a.dir, 'tls.crt'), keyFile: join(a.dir, 'tls.key') });
  expect(a.manager.isLeader()).toBe(true);
  expect(await leaseHolder()).toEqual({ holder: 'replica-a', transitions: 0 });

  const stored = await client.getJson(SECRET_PATH);
  expect(stored.type).toBe('kubernetes.io/tls');
  expect((stored.metadata as { labels: Record<string, string> }).labels[MANAGED_BY_LABEL]).toBe('tokenguard');
  const data = await secret();
  expect(Object.keys(data).sort()).toEqual(['ca.crt', 'ca.key', 'tls.crt', 'tls.key']);
  const cas = splitPem(data['ca.crt'] as string).map((p) => new X509Certificate(p));
  expect(cas).toHaveLength(1);
  const leaf = new X509Certificate(data['tls.crt'] as string);
  expect(leaf.checkIssued(cas[0] as X509Certificate) && leaf.verify((cas[0] as X509Certificate).publicKey)).toBe(true);
  expect(leaf.subjectAltName).toContain('DNS:tokenguard.e2e-certmgr.svc');
  expect(leaf.subjectAltName).toContain('IP Address:127.0.0.1');

  // The caBundle of every webhook of both named configurations is ca.crt, once the leader got there.
  const wanted = Buffer.from(data['ca.crt'] as string).toString('base64');
  await waitFor(
    'both named configurations to hold the bundle',
    20_000,
    async () => {
      const all = [...(await bundles('validating', CONFIG)), ...(await bundles('mutating', CONFIG))];
      return all.every((x) => x === wanted) ? true : undefined;
    },
    100,
  );
  // The third configuration: the same object as before (no write at all).
  const otherAfter = await client.getJson(configPath('validating', OTHER));
  expect((otherAfter.metadata as { resourceVersion: string }).resourceVersion).toBe(otherVersion);
  expect(await bundles('validating', OTHER)).toEqual([A_BUNDLE, undefined]);

  // The kubelet's Secret volume layout: tls.crt -> ..data/tls.crt, ..data -> a timestamped folder.
  expect(files(a.dir)).toEqual({ cert: data['tls.crt'], key: data['tls.key'] });
  expect(lstatSync(join(a.dir, 'tls.crt')).isSymbolicLink()).toBe(true);
  expect(readlinkSync(join(a.dir, 'tls.crt'))).toBe(join('..data', 'tls.crt'));
  expect(readlinkSync(join(a.dir, '..data'))).toMatch(/^\.\.\d{4}-/);
  expect(statSync(join(a.dir, 'tls.key')).mode & 0o077).toBe(0);
});

test("a second replica does not lead while the first holds the Lease, serves the Secret's certificate, and takes over when the first stops", async () => {
  const before = await secret();
  b = start('replica-b');
  await b.manager.ready;
  // A non-leader writes the files from the Secret.
  expect(files(b.dir)).toEqual({ cert: before['tls.crt'], key: before['tls.key'] });
  // Several Lease durations of rounds: the first renews, the second never takes over.
  for (let i = 0; i < 20; i++) {
    expect(b.manager.isLeader()).toBe(false);
    expect(a.manager.isLeader()).toBe(true);
    expect((await leaseHolder()).holder).toBe('replica-a');
    await sleep(TIMING.leaseDurationMs / 5);
  }
  expect(b.lines().some((l) => l.leader === 'replica-a')).toBe(true);
  // Nothing was rewritten by either: the Secret is the one the first created.
  expect(await secret()).toEqual(before);

  await a.manager.close();
  expect(a.manager.isLeader()).toBe(false);
  await waitFor('replica-b to lead', 20_000, async () => (b.manager.isLeader() ? true : undefined), 100);
  expect(await leaseHolder()).toEqual({ holder: 'replica-b', transitions: 1 });
  // The new leader finds everything right: no new certificate.
  await sleep(1_000);
  expect(await secret()).toEqual(before);
});

test('a Secret whose serving certificate is not PEM: a non-leader says which key is wrong and keeps its files; the leader issues a new one from the same CA', async () => {
  await b.manager.close();
  // Someone else holds the Lease for an hour: the next replica only reads.
  const lease = await client.getJson(LEASE_PATH);
  await client.sendJson(
    'PUT',
    LEASE_PATH,
    JSON.stringify({
      ...lease,
      spec: {
        ...(lease.spec as object),
        holderIdentity: 'e2e-holder',
        leaseDurationSeconds: 3600,
        renewTime: new Date().toISOString().replace('Z', '000Z'),
      },
    }),
    { contentType: 'application/json' },
  );
  const good = await secret();
  const c = start('replica-c');
  await c.manager.ready;
  const served = files(c.dir);
  expect(served).toEqual({ cert: good['tls.crt'], key: good['tls.key'] });

  await putSecret({
    ...good,
    'tls.crt': '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n',
  });
  const warning = await waitFor(
    'replica-c to report the broken Secret',
    20_000,
    async () => c.lines().find((l) => String(l.msg).includes('holds no usable serving certificate')),
    100,
  );
  expect(warning).toMatchObject({ level: 'warn', secret: `${NS}/${SECRET}` });
  expect(warning.msg).toBe(
    'the certificate Secret holds no usable serving certificate (tls.crt is not a PEM certificate); keeping the one in use',
  );
  // A key that is not a key, with the certificate back: also named, also kept.
  await putSecret({ ...good, 'tls.key': '-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n' });
  await waitFor(
    'replica-c to report the broken key',
    20_000,
    async () => c.lines().find((l) => String(l.msg).includes('(tls.key is not an unencrypted PEM private key)')),
    100,
  );
  // Well past several polls: the files are the last good ones.
  await sleep(1_500);
  expect(files(c.dir)).toEqual(served);
  expect(c.manager.isLeader()).toBe(false);

  // The Lease is free again: replica-c leads and repairs the Secret with the CA it holds.
  await client.sendJson(
    'PUT',
    LEASE_PATH,
    JSON.stringify({
      ...(await client.getJson(LEASE_PATH)),
      spec: { holderIdentity: '', leaseDurationSeconds: 1, leaseTransitions: 2 },
    }),
    { contentType: 'application/json' },
  );
  await waitFor('replica-c to lead', 20_000, async () => (c.manager.isLeader() ? true : undefined), 100);
  const repaired = await waitFor(
    'a new serving certificate in the Secret',
    20_000,
    async () => {
      const d = await secret();
      return d['tls.key']?.includes('PRIVATE KEY') && !d['tls.key'].includes('bm90IGEga2V5') ? d : undefined;
    },
    100,
  );
  expect(repaired['ca.crt']).toBe(good['ca.crt']);
  expect(repaired['ca.key']).toBe(good['ca.key']);
  const leaf = new X509Certificate(repaired['tls.crt'] as string);
  expect(leaf.verify(new X509Certificate(good['ca.crt'] as string).publicKey)).toBe(true);
  expect(c.lines().find((l) => l.action === 'issue')?.msg).toBe(
    'certificate Secret updated: issue (tls.crt or tls.key is missing or does not parse)',
  );
  await waitFor(
    'replica-c to serve the repaired certificate',
    20_000,
    async () => (files(c.dir).cert === repaired['tls.crt'] ? true : undefined),
    100,
  );
  await c.manager.close();
});

test('a Secret the leader did not write and cannot read the CA of: replaced, and said so', async () => {
  // Serving pair of another CA, ca.crt garbage: nothing in it can be kept.
  const other = await generateCertificates({ service: 'tokenguard', namespace: NS, days: 1 });
  await putSecret({ 'ca.crt': 'garbage\n', 'tls.crt': other.cert, 'tls.key': other.key });
  keysSeen.add(other.key);
  const d = start('replica-d');
  const created = await waitFor(
    'replica-d to replace the Secret',
    20_000,
    async () => d.lines().find((l) => l.action === 'create'),
    100,
  );
  expect(created?.msg).toBe('certificate Secret updated: create (ca.crt holds no PEM certificate)');
  const data = await secret();
  expect(data['tls.crt']).not.toBe(other.cert);
  await d.manager.close();
});

test('the renew annotation: a new serving certificate from the same CA, then a new CA staged and, once published, signing', async () => {
  const e = start('replica-e');
  await e.manager.ready;
  await waitFor('replica-e to lead', 20_000, async () => (e.manager.isLeader() ? true : undefined), 100);
  const annotations = async () =>
    ((await client.getJson(SECRET_PATH)).metadata as { annotations?: Record<string, string> }).annotations ?? {};
  const before = await secret();
  await kubectlOk(['annotate', 'secret', SECRET, '-n', NS, 'tokenguard.dev/renew=certificate', 'e2e-keep=me']);
  const renewed = await waitFor(
    'a new serving certificate',
    20_000,
    async () => {
      const d = await secret();
      return d['tls.crt'] !== before['tls.crt'] ? d : undefined;
    },
    100,
  );
  expect(renewed['ca.crt']).toBe(before['ca.crt']);
  expect(
    new X509Certificate(renewed['tls.crt'] as string).verify(new X509Certificate(before['ca.crt'] as string).publicKey),
  ).toBe(true);
  expect(await annotations()).toEqual({ 'e2e-keep': 'me' });
  await waitFor(
    'replica-e to serve it',
    20_000,
    async () => (files(e.dir).cert === renewed['tls.crt'] ? true : undefined),
    100,
  );

  await kubectlOk(['annotate', 'secret', SECRET, '-n', NS, 'tokenguard.dev/renew=ca']);
  const staged = await waitFor(
    'a second CA in ca.crt',
    20_000,
    async () => {
      const d = await secret();
      return splitPem(d['ca.crt'] ?? '').length === 2 ? d : undefined;
    },
    100,
  );
  const [oldCa, newCa] = splitPem(staged['ca.crt'] as string).map((p) => new X509Certificate(p)) as [
    X509Certificate,
    X509Certificate,
  ];
  expect(oldCa.raw.equals(new X509Certificate(before['ca.crt'] as string).raw)).toBe(true);
  // Staged only: the serving certificate is still the old CA's, the bundle holds both.
  expect(staged['tls.crt']).toBe(renewed['tls.crt']);
  expect(await annotations()).toEqual({ 'e2e-keep': 'me' });
  const promoted = await waitFor(
    'a serving certificate of the new CA',
    20_000,
    async () => {
      const d = await secret();
      return new X509Certificate(d['tls.crt'] as string).verify(newCa.publicKey) ? d : undefined;
    },
    100,
  );
  // It was issued only once both configurations held the bundle of both CAs.
  const wanted = Buffer.from(staged['ca.crt'] as string).toString('base64');
  expect(
    [...(await bundles('validating', CONFIG)), ...(await bundles('mutating', CONFIG))].every((x) => x === wanted),
  ).toBe(true);
  expect(promoted['ca.crt']).toBe(staged['ca.crt']);
  const steps = e
    .lines()
    .filter((l) => l.action !== undefined || String(l.msg).startsWith('caBundle of'))
    .map((l) => String(l.action ?? `bundle ${String(l.configuration)}`));
  expect(steps).toEqual([
    'issue',
    'stage-ca',
    `bundle validatingwebhookconfigurations/${CONFIG}`,
    `bundle mutatingwebhookconfigurations/${CONFIG}`,
    'issue',
  ]);

  await kubectlOk(['annotate', 'secret', SECRET, '-n', NS, 'tokenguard.dev/renew=everything']);
  await waitFor(
    'a warning about the value',
    20_000,
    async () =>
      e.lines().find((l) => String(l.msg).includes('annotation must be "ca" or "certificate", got "everything"')),
    100,
  );
  await e.manager.close();
});

test('no key material in any log line of any manager', async () => {
  expect(logLines.length).toBeGreaterThan(10);
  const text = logLines.join('');
  expect(text).not.toMatch(/PRIVATE KEY/);
  expect(keysSeen.size).toBeGreaterThanOrEqual(3);
  for (const pem of keysSeen) {
    const body = pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
    const der = Buffer.from(body, 'base64');
    // Any 24 characters of the key's base64 (the PEM body, or the Secret's base64 of the PEM).
    for (const encoded of [body, Buffer.from(pem).toString('base64'), der.toString('hex')]) {
      for (let i = 0; i + 24 <= encoded.length; i += 12) expect(text.includes(encoded.slice(i, i + 24))).toBe(false);
    }
  }
});
