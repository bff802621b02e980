/**
 * Scenario 27: the chart's default certificates (certificates.selfManaged.controller), for real.
 *
 * `helm install` with the defaults renders no Secret and no caBundle. There is no kubelet, so the
 * chart's Deployment is played on this host: the `tokenguard serve` it runs, with the args and
 * POD_NAMESPACE it sets (only the port, listen address, policy folder and certificate folder moved
 * to this host), authenticated as the chart's ServiceAccount, so it has exactly the chart's RBAC.
 * The webhooks point at it (`webhooks.url`, the certificate for 127.0.0.1 through
 * `certificates.selfManaged.ipAddresses`). Then:
 *
 * - the controller creates its Secret and Lease and writes the caBundle of all seven webhooks,
 *   and the API server, trusting that bundle, gets tokenguard's answers (a legacy token Secret is
 *   denied by the shipped policy);
 * - `helm upgrade` with Helm 4 (server-side apply) and then Helm 3 (three-way merge), each
 *   changing the Deployment, leaves the caBundle the controller wrote, and admission still works;
 * - webhook configurations deleted by hand (docs/install.md, "Emergency recovery") stay deleted
 *   while the controller runs (it sees them missing and only logs so); `helm upgrade` brings
 *   them back without a caBundle, and the controller fills it again;
 * - `helm uninstall` removes them, and leaves the controller's Secret.
 *
 * The suite's own webhook configurations share the chart's names, so they are removed for the
 * scenario and registered again afterwards, as in scenario 20.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tool } from '../helpers/tools.js';
import { freePorts } from './cluster.js';
import { loadState, REPO_ROOT, readSince, waitFor } from './env.js';
import { ensureNamespace, kubectl, kubectlJson, kubectlOk } from './kube.js';
import { CLI, httpsGet, policyFiles, setPolicies } from './tokenguard.js';
import {
  deleteWebhookConfiguration,
  legacyTokenSecret,
  registerWebhooks,
  renderWebhookConfigs,
  type WebhookConfiguration,
} from './webhooks.js';

const CHART = join(REPO_ROOT, 'charts', 'tokenguard');
const RELEASE = 'tokenguard';
const NS = 'tokenguard-system';
const SMOKE_NS = 'e2e-chart-certificates';
const SECRET = 'tokenguard-certificates';

let work = '';
let port = 0;
let serve: ChildProcess | undefined;
let serveLog = '';

interface DeploymentSpec {
  spec: {
    template: {
      spec: {
        serviceAccountName: string;
        containers: {
          args: string[];
          env: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
        }[];
      };
    };
  };
}

function helm(name: 'helm' | 'helm3', args: readonly string[]): string {
  try {
    return execFileSync(tool(name), [...args, '--kubeconfig', loadState().kubeconfig], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 180_000,
    });
  } catch (e) {
    const err = e as { stderr?: string; stdout?: string };
    throw new Error(`e2e: ${name} ${args.join(' ')} failed: ${err.stderr ?? ''}${err.stdout ?? ''}`);
  }
}

const chartArgs = () => [
  '--namespace',
  NS,
  '--set',
  `webhooks.url=https://127.0.0.1:${port}`,
  '--set',
  'certificates.selfManaged.ipAddresses={127.0.0.1}',
  '--set',
  'preDeleteHook.enabled=false',
];

async function caBundles(): Promise<string[]> {
  const out: string[] = [];
  for (const kind of ['mutatingwebhookconfiguration', 'validatingwebhookconfiguration']) {
    const c = await kubectlJson<WebhookConfiguration>(['get', kind, RELEASE]);
    for (const w of c.webhooks) out.push(w.clientConfig.caBundle ?? '');
  }
  return out;
}

/** metadata.generation of both configurations: it moves with every change of their webhooks. */
async function configGenerations(): Promise<number[]> {
  const out: number[] = [];
  for (const kind of ['mutatingwebhookconfiguration', 'validatingwebhookconfiguration'])
    out.push((await kubectlJson<{ metadata: { generation: number } }>(['get', kind, RELEASE])).metadata.generation);
  return out;
}

async function secretData(): Promise<Record<string, string> | undefined> {
  const r = await kubectl(['get', 'secret', SECRET, '-n', NS, '-o', 'json']);
  if (r.code !== 0) return undefined;
  const data = (JSON.parse(r.stdout) as { data?: Record<string, string> }).data ?? {};
  return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
}

/** The API server calls the chart's webhooks and trusts what answers: the shipped policy denies a legacy token Secret. */
async function enforced(): Promise<void> {
  await waitFor('the chart webhooks to deny a legacy token Secret', 60_000, async () => {
    const r = await kubectl(['create', '-f', '-', '--dry-run=server'], {
      input: JSON.stringify(legacyTokenSecret(SMOKE_NS, 'chart-certificates')),
    });
    return /admission webhook "validate-secrets\.tokenguard\.dev" denied the request/.test(r.stderr) ? true : undefined;
  });
}

/** Plays the chart's Deployment on this host: its serve args and env, as its ServiceAccount. */
async function startChartServe(): Promise<void> {
  const state = loadState();
  const d = await kubectlJson<DeploymentSpec>(['get', 'deployment', RELEASE, '-n', NS]);
  const pod = d.spec.template.spec;
  const container = pod.containers[0];
  if (!container) throw new Error('the Deployment has no container');
  // The policies ConfigMap, as the kubelet would mount it.
  const cm = await kubectlJson<{ data: Record<string, string> }>(['get', 'configmap', 'tokenguard-policies', '-n', NS]);
  const policyDir = join(work, 'policies');
  mkdirSync(policyDir, { recursive: true });
  for (const [f, text] of Object.entries(cm.data)) writeFileSync(join(policyDir, f), text);
  // Credentials of the chart's ServiceAccount (the token stays in this folder, mode 0600).
  const token = (
    await kubectlOk(['create', 'token', pod.serviceAccountName, '-n', NS, '--duration', '1h'])
  ).stdout.trim();
  const kubeconfig = join(work, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'e2e', cluster: { server: state.apiserverUrl, 'certificate-authority': state.caFile } }],
      users: [{ name: 'chart', user: { token } }],
      contexts: [{ name: 'chart', context: { cluster: 'e2e', user: 'chart' } }],
      'current-context': 'chart',
    }),
    { mode: 0o600 },
  );
  const env: Record<string, string> = {};
  for (const e of container.env) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace') env[e.name] = NS;
    else throw new Error(`e2e: cannot play env ${e.name} of the Deployment`);
  }
  const args = container.args.map((a) =>
    a === '8443' ? String(port) : a === '/etc/tokenguard/policies' ? policyDir : a,
  );
  if (args[0] !== 'serve' || !args.includes('--manage-certificates'))
    throw new Error(`e2e: the chart's Deployment does not run the certificate controller: ${args.join(' ')}`);
  // On this host: loopback only, a folder of its own for the certificate, a quick poll.
  args.push(
    '--host',
    '127.0.0.1',
    '--certificate-dir',
    join(work, 'certificates'),
    '--certificate-poll-interval',
    '1s',
    '--kubeconfig',
    kubeconfig,
    '--shutdown-delay',
    '0s',
  );
  // In the run's work dir, which is kept when a test fails.
  serveLog = join(state.workDir, 'chart-certificates-serve.log');
  const fd = openSync(serveLog, 'a');
  try {
    serve = spawn(process.execPath, [CLI, ...args], {
      cwd: work,
      stdio: ['ignore', fd, fd],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
    });
  } finally {
    closeSync(fd);
  }
}

const log = () => readSince(serveLog, 0);

let lastRenew = '';
/** True once the Lease's renewTime moved since the last call: the leader went round again. */
async function leaseRenewed(): Promise<boolean> {
  const lease = await kubectlJson<{ spec: { renewTime?: string } }>(['get', 'lease', SECRET, '-n', NS]);
  const now = lease.spec.renewTime ?? '';
  const moved = lastRenew !== '' && now !== lastRenew;
  lastRenew = now;
  return moved;
}

beforeAll(async () => {
  work = mkdtempSync(join(loadState().workDir, 'chart-certificates-'));
  [port] = (await freePorts(1)) as [number];
  await ensureNamespace(NS);
  await ensureNamespace(SMOKE_NS);
  await deleteWebhookConfiguration('validatingwebhookconfiguration');
  await deleteWebhookConfiguration('mutatingwebhookconfiguration');
}, 600_000);

afterAll(async () => {
  const state = loadState();
  if (serve && serve.exitCode === null) {
    serve.kill('SIGTERM');
    await new Promise((resolve) => serve?.once('exit', resolve));
  }
  await kubectl([
    'delete',
    'validatingwebhookconfiguration,mutatingwebhookconfiguration',
    RELEASE,
    '--ignore-not-found',
  ]);
  await kubectl(['delete', 'secret', SECRET, '-n', NS, '--ignore-not-found']);
  await kubectl(['delete', 'lease', SECRET, '-n', NS, '--ignore-not-found']);
  await setPolicies(policyFiles('test/fixtures/policies/strict'));
  await registerWebhooks(await renderWebhookConfigs(state.webhookBaseUrl, state.caBundle));
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('scenario 27: the chart default, certificates that renew themselves', () => {
  test('install: no Secret and no caBundle rendered; the controller, with only the chart RBAC, creates its Secret and Lease and fills every caBundle', async () => {
    helm('helm', ['install', RELEASE, CHART, ...chartArgs()]);
    expect(await secretData()).toBeUndefined();
    expect(new Set(await caBundles())).toEqual(new Set(['']));

    await startChartServe();
    const data = await waitFor('the controller to create its Secret', 60_000, async () =>
      (await secretData())?.['tls.crt'] ? await secretData() : undefined,
    );
    expect(Object.keys(data ?? {}).sort()).toEqual(['ca.crt', 'ca.key', 'tls.crt', 'tls.key']);
    const caPem = data?.['ca.crt'] ?? '';
    const bundle = Buffer.from(caPem).toString('base64');
    await waitFor('every caBundle to hold the controller CA', 60_000, async () =>
      (await caBundles()).every((b) => b === bundle) ? true : undefined,
    );
    expect(await caBundles()).toHaveLength(7);
    const lease = await kubectlJson<{ spec: { holderIdentity?: string } }>(['get', 'lease', SECRET, '-n', NS]);
    expect(lease.spec.holderIdentity).toBeTruthy();

    // It serves the Secret's certificate, for 127.0.0.1, signed by the CA in the bundle.
    writeFileSync(join(work, 'ca.crt'), caPem);
    await waitFor('tokenguard /readyz', 60_000, async () =>
      (await httpsGet(`https://127.0.0.1:${port}/readyz`, join(work, 'ca.crt'))).status === 200 ? true : undefined,
    );
    const serving = new X509Certificate(data?.['tls.crt'] ?? '');
    expect(serving.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(serving.checkHost('tokenguard.tokenguard-system.svc')).toBe('tokenguard.tokenguard-system.svc');
    await enforced();
    expect(log()).not.toMatch(/forbidden/i);
  });

  test.each([
    ['helm', 'Helm 4, server-side apply'],
    ['helm3', 'Helm 3, three-way merge'],
  ] as const)(
    '%s upgrade (%s) that changes the Deployment leaves the caBundle the controller wrote',
    async (name, _how) => {
      const before = await caBundles();
      expect(before[0]).not.toBe('');
      const generations = await configGenerations();
      helm(name, ['upgrade', RELEASE, CHART, ...chartArgs(), '--set', `podAnnotations.upgraded-by=${name}`]);
      // Not written at all (a write of the caBundle, even one the controller then repairs, would show).
      expect(await configGenerations()).toEqual(generations);
      const d = await kubectlJson<{ spec: { template: { metadata: { annotations?: Record<string, string> } } } }>([
        'get',
        'deployment',
        RELEASE,
        '-n',
        NS,
      ]);
      expect(d.spec.template.metadata.annotations?.['upgraded-by']).toBe(name);
      expect(await caBundles()).toEqual(before);
      await enforced();
    },
  );

  test('webhook configurations deleted by hand (the emergency recovery) stay deleted; helm upgrade brings them back and the controller fills their caBundle', async () => {
    const before = await caBundles();
    await kubectlOk(['delete', 'validatingwebhookconfiguration,mutatingwebhookconfiguration', RELEASE]);
    // The controller notices at its next check, and only logs it: it never creates a configuration.
    await waitFor('the controller to see the configurations missing', 60_000, async () =>
      /validatingwebhookconfigurations\/tokenguard does not exist/.test(log()) &&
      /mutatingwebhookconfigurations\/tokenguard does not exist/.test(log())
        ? true
        : undefined,
    );
    const checks = (log().match(/"event":"certificates"/g) ?? []).length;
    await waitFor('another round of the controller', 60_000, async () =>
      (log().match(/"event":"certificates"/g) ?? []).length > checks || (await leaseRenewed()) ? true : undefined,
    );
    expect((await kubectl(['get', 'validatingwebhookconfiguration', RELEASE])).code).not.toBe(0);
    expect((await kubectl(['get', 'mutatingwebhookconfiguration', RELEASE])).code).not.toBe(0);

    helm('helm', ['upgrade', RELEASE, CHART, ...chartArgs(), '--set', 'podAnnotations.upgraded-by=recovery']);
    await waitFor('the controller to fill the new configurations', 60_000, async () =>
      (await caBundles()).every((b) => b === before[0]) ? true : undefined,
    );
    expect(await caBundles()).toEqual(before);
    await enforced();
  });

  test("uninstall removes the webhook configurations; the Secret, being the controller's, stays for a reinstall", async () => {
    helm('helm', ['uninstall', RELEASE, '--namespace', NS]);
    for (const kind of ['validatingwebhookconfiguration', 'mutatingwebhookconfiguration']) {
      await waitFor(`${kind} ${RELEASE} to be deleted`, 30_000, async () =>
        (await kubectl(['get', kind, RELEASE])).code !== 0 ? true : undefined,
      );
    }
    expect(await secretData()).toBeDefined();
    expect(log()).not.toMatch(/BEGIN [A-Z ]*PRIVATE KEY/);
  });
});
