/**
 * Scenario 20: the Helm chart (charts/tokenguard) against the real API server, with helm v4
 * (test/tools/get-tool.sh).
 *
 * 1. Every rendering of the chart's values matrix (test/chart/matrix.ts), hooks and tests
 *    included, passes a server-side dry run. The cert-manager and Prometheus Operator kinds are
 *    judged by minimal CRDs written for this (test/fixtures/crds).
 * 2. `helm install` for real. There is no kubelet, so the Deployment never runs: the webhooks
 *    are pointed at this suite's tokenguard (`webhooks.url`), which is given the policies
 *    ConfigMap the chart created, as a kubelet would mount it. The CA of the suite's certificates
 *    is put in place as the chart's CA Secret first, so the chart signs its serving certificate
 *    with it (as it keeps its own CA across upgrades) and its caBundle verifies the suite's
 *    tokenguard. The installed webhooks and RBAC then enforce; `helm upgrade` keeps the CA and
 *    issues a new serving certificate; `helm test` runs its pod (played on this host by
 *    kubelet.ts) and passes, and the same check fails where no webhook is called; `helm uninstall`
 *    runs the pre-delete hook first, which removes both webhook configurations while everything
 *    else still exists.
 *
 * The suite's own webhook configurations share the chart's names, so they are removed for the
 * scenario and registered again afterwards, with the suite's policies.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CHART_MATRIX, type Certs } from '../chart/matrix.js';
import { tool } from '../helpers/tools.js';
import { loadState, REPO_ROOT, waitFor } from './env.js';
import { apply, ensureNamespace, type K8sObject, kubectl, kubectlJson, kubectlOk } from './kube.js';
import { runNodeAs, runPodOnHost, waitForPod } from './kubelet.js';
import { policyFiles, setPolicies } from './tokenguard.js';
import {
  deleteWebhookConfiguration,
  legacyTokenSecret,
  registerWebhooks,
  renderWebhookConfigs,
  type WebhookConfiguration,
  waitForWebhooks,
} from './webhooks.js';

const CHART = join(REPO_ROOT, 'charts', 'tokenguard');
const RELEASE = 'tokenguard';
const NS = 'tokenguard-system';
const SMOKE_NS = 'e2e-chart-smoke';
let helm = '';
let work = '';

beforeAll(async () => {
  helm = tool('helm');
  work = mkdtempSync(join(loadState().workDir, 'chart-'));
  await kubectlOk(['apply', '-f', join(REPO_ROOT, 'test/fixtures/crds/crds.yaml')]);
  await kubectlOk([
    'wait',
    '--for=condition=Established',
    '--timeout=60s',
    '-f',
    join(REPO_ROOT, 'test/fixtures/crds/crds.yaml'),
  ]);
  await ensureNamespace(NS);
  await ensureNamespace(SMOKE_NS);
}, 600_000);

afterAll(async () => {
  // The suite's own webhooks and policies again, whatever happened above.
  const state = loadState();
  await kubectl([
    'delete',
    'validatingwebhookconfiguration,mutatingwebhookconfiguration',
    RELEASE,
    '--ignore-not-found',
  ]);
  await setPolicies(policyFiles('test/fixtures/policies/strict'));
  await registerWebhooks(await renderWebhookConfigs(state.webhookBaseUrl, state.caBundle));
  if (work) rmSync(work, { recursive: true, force: true });
});

function suiteCerts(): Certs & { caKey: string } {
  const dir = loadState().serve.certDir;
  const read = (f: string) => readFileSync(join(dir, f), 'utf8');
  return { caCert: read('ca.crt'), caKey: read('ca.key'), cert: read('tls.crt'), key: read('tls.key') };
}

/** helm against the suite's API server; resolves with its exit code and output. */
function runHelm(args: readonly string[]): { child: ChildProcess; done: Promise<{ code: number; output: string }> } {
  const child = spawn(helm, [...args, '--kubeconfig', loadState().kubeconfig], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const done = new Promise<{ code: number; output: string }>((resolve) =>
    child.on('close', (code) => resolve({ code: code ?? -1, output })),
  );
  return { child, done };
}

async function helmOk(args: readonly string[]): Promise<string> {
  const r = await runHelm(args).done;
  if (r.code !== 0) throw new Error(`e2e: helm ${args.join(' ')} exited ${r.code}: ${r.output.trim()}`);
  return r.output;
}

const exists = async (kind: string, name: string, namespace?: string) =>
  (await kubectl(['get', kind, name, ...(namespace ? ['-n', namespace] : []), '-o', 'name'])).code === 0;

describe('scenario 20a: every chart rendering passes the API server validation (server-side dry run)', () => {
  // The test pod's ServiceAccount exists when helm test creates the pod (a hook of lower weight);
  // a dry run creates nothing, and the API server checks a pod's ServiceAccount exists.
  beforeAll(async () => {
    await kubectlOk(['create', 'serviceaccount', 'tokenguard-test', '-n', NS, '--save-config']);
  });
  afterAll(async () => {
    await kubectl(['delete', 'serviceaccount', 'tokenguard-test', '-n', NS, '--ignore-not-found']);
  });

  test.each(Object.keys(CHART_MATRIX))('%s', async (name) => {
    const values = (CHART_MATRIX[name] as (c: Certs) => Record<string, unknown>)(suiteCerts());
    const file = join(work, `${name.replace(/[^a-z0-9]+/gi, '-')}.json`);
    writeFileSync(file, JSON.stringify(values));
    const text = execFileSync(helm, ['template', RELEASE, CHART, '--namespace', NS, '-f', file], {
      encoding: 'utf8',
      maxBuffer: 32 * 1024 * 1024,
    });
    const r = await kubectl(['apply', '--dry-run=server', '-f', '-'], { input: text });
    expect({ name, code: r.code, stderr: r.stderr.trim() }).toEqual({ name, code: 0, stderr: '' });
    const kinds = new Set((r.stdout.match(/^[a-z0-9.]+\/[^ ]+/gm) ?? []).map((l) => l.split('/')[0]));
    for (const k of [
      'deployment.apps',
      'validatingwebhookconfiguration.admissionregistration.k8s.io',
      'mutatingwebhookconfiguration.admissionregistration.k8s.io',
      'clusterrole.rbac.authorization.k8s.io',
    ]) {
      expect(kinds).toContain(k);
    }
  });
});

test('scenario 20a: the dry run refuses a field the CRDs do not have (a typo in a ServiceMonitor)', async () => {
  const text = execFileSync(
    helm,
    [
      'template',
      RELEASE,
      CHART,
      '--namespace',
      NS,
      '--set',
      'serviceMonitor.enabled=true',
      '--show-only',
      'templates/servicemonitor.yaml',
    ],
    { encoding: 'utf8' },
  );
  const r = await kubectl(['apply', '--dry-run=server', '-f', '-'], {
    input: text.replace('serverName:', 'servername:'),
  });
  expect(r.code).not.toBe(0);
  expect(r.stderr).toMatch(/unknown field "spec\.endpoints\[0\]\.tlsConfig\.servername"/);
});

describe('scenario 20b: helm install, upgrade, test and uninstall against the API server', () => {
  // The chart's own Secrets (certificates.selfManaged.controller=false); scenario 20c runs the controller.
  const installArgs = () => [
    '--namespace',
    NS,
    '--set',
    `webhooks.url=${loadState().webhookBaseUrl}`,
    '--set',
    'certificates.selfManaged.controller=false',
    '--timeout',
    '120s',
  ];
  let caBundle = '';
  let servingSerial = '';

  test('install: the chart signs with the CA it finds, and its webhooks and RBAC enforce the shipped policies', async () => {
    await deleteWebhookConfiguration('validatingwebhookconfiguration');
    await deleteWebhookConfiguration('mutatingwebhookconfiguration');
    const certs = suiteCerts();
    // The chart's CA Secret, as a previous release would have left it (Helm adopts it).
    await apply({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: 'tokenguard-ca',
        namespace: NS,
        labels: { 'app.kubernetes.io/managed-by': 'Helm' },
        annotations: { 'meta.helm.sh/release-name': RELEASE, 'meta.helm.sh/release-namespace': NS },
      },
      type: 'Opaque',
      data: {
        'ca.crt': Buffer.from(certs.caCert).toString('base64'),
        'ca.key': Buffer.from(certs.caKey).toString('base64'),
      },
    } as K8sObject);
    await helmOk(['install', RELEASE, CHART, ...installArgs()]);

    // What the chart installed: RBAC, the Deployment (never scheduled here) and both configurations.
    for (const [kind, name, ns] of [
      ['clusterrole', RELEASE],
      ['clusterrolebinding', RELEASE],
      ['serviceaccount', RELEASE, NS],
      ['deployment', RELEASE, NS],
      ['service', RELEASE, NS],
      ['poddisruptionbudget', RELEASE, NS],
      ['configmap', 'tokenguard-policies', NS],
    ] as const) {
      expect({ kind, name, exists: await exists(kind, name, ns) }).toEqual({ kind, name, exists: true });
    }
    const validating = await kubectlJson<WebhookConfiguration>(['get', 'validatingwebhookconfiguration', RELEASE]);
    const mutating = await kubectlJson<WebhookConfiguration>(['get', 'mutatingwebhookconfiguration', RELEASE]);
    const hooks = [...mutating.webhooks, ...validating.webhooks];
    expect(hooks).toHaveLength(7);
    caBundle = hooks[0]?.clientConfig.caBundle ?? '';
    expect(Buffer.from(caBundle, 'base64').toString('utf8')).toBe(certs.caCert);
    for (const w of hooks)
      expect(w.clientConfig).toEqual({
        url: `${loadState().webhookBaseUrl}${w.name.startsWith('mutate') ? '/mutate' : '/validate'}`,
        caBundle,
      });
    const tls = await kubectlJson<{ data: Record<string, string> }>(['get', 'secret', 'tokenguard-tls', '-n', NS]);
    const serving = new X509Certificate(Buffer.from(tls.data['tls.crt'] ?? '', 'base64'));
    expect(serving.verify(new X509Certificate(certs.caCert).publicKey)).toBe(true);
    expect(serving.checkHost('tokenguard.tokenguard-system.svc')).toBe('tokenguard.tokenguard-system.svc');
    servingSerial = serving.serialNumber;

    // tokenguard serves what the chart's ConfigMap holds, as the pods would mount it.
    const cm = await kubectlJson<{ data: Record<string, string> }>([
      'get',
      'configmap',
      'tokenguard-policies',
      '-n',
      NS,
    ]);
    expect(Object.keys(cm.data).sort()).toEqual(['automount.yaml', 'legacy-token-secrets.yaml', 'token-bounds.yaml']);
    await setPolicies(cm.data);
    await waitForWebhooks({ mutating: true, validating: true });

    const denied = await kubectl(['create', '-f', '-', '--dry-run=server'], {
      input: JSON.stringify(legacyTokenSecret(SMOKE_NS, 'chart-legacy')),
    });
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toMatch(
      /admission webhook "validate-secrets\.tokenguard\.dev" denied the request: .*legacy token Secret for ServiceAccount e2e-chart-smoke\/default/,
    );
  });

  test('upgrade: the CA and caBundle stay, the serving certificate is new', async () => {
    await helmOk(['upgrade', RELEASE, CHART, ...installArgs(), '--reuse-values']);
    const validating = await kubectlJson<WebhookConfiguration>(['get', 'validatingwebhookconfiguration', RELEASE]);
    for (const w of validating.webhooks) expect(w.clientConfig.caBundle).toBe(caBundle);
    const tls = await kubectlJson<{ data: Record<string, string> }>(['get', 'secret', 'tokenguard-tls', '-n', NS]);
    const serving = new X509Certificate(Buffer.from(tls.data['tls.crt'] ?? '', 'base64'));
    expect(serving.verify(new X509Certificate(suiteCerts().caCert).publicKey)).toBe(true);
    expect(serving.serialNumber).not.toBe(servingSerial);
  });

  test('helm test: its pod sends a dry-run pod through the API server and sees tokenguard answer', async () => {
    const run = runHelm(['test', RELEASE, '--namespace', NS, '--timeout', '120s']);
    try {
      const pod = await waitForPod(NS, { name: 'tokenguard-test' });
      const r = await runPodOnHost(NS, pod);
      expect({ code: r.code, output: r.output.trim() }).toEqual({
        code: 0,
        output:
          'ok: a dry-run pod in default asked for a 172800 s token and the API server returned 86400 s (mutated by tokenguard)',
      });
      const result = await run.done;
      expect({ code: result.code, phase: /Phase:\s+Succeeded/.test(result.output) }).toEqual({ code: 0, phase: true });
    } finally {
      run.child.kill();
    }
    // hook-succeeded: the test's pod and its RBAC are gone again.
    await waitFor('the test objects to be deleted', 30_000, async () =>
      (await exists('role', 'tokenguard-test', 'default')) || (await exists('pod', 'tokenguard-test', NS))
        ? undefined
        : true,
    );
  });

  test("helm test's check fails where no tokenguard webhook is called (an excluded namespace)", async () => {
    // A ServiceAccount that may create pods in the release namespace, which every webhook skips.
    await kubectlOk(['create', 'serviceaccount', 'check-admission', '-n', NS]);
    await kubectlOk(['create', 'role', 'check-admission', '-n', NS, '--verb=create', '--resource=pods']);
    await kubectlOk([
      'create',
      'rolebinding',
      'check-admission',
      '-n',
      NS,
      '--role=check-admission',
      `--serviceaccount=${NS}:check-admission`,
    ]);
    const dir = mkdtempSync(join(work, 'check-'));
    try {
      const r = await runNodeAs(dir, NS, 'check-admission', [join(CHART, 'files/hook.mjs'), 'check-admission'], {
        TEST_NAMESPACE: NS,
        TEST_IMAGE: 'ghcr.io/tokenguard/tokenguard:0.1.0',
      });
      expect(r.code).toBe(1);
      expect(r.output).toMatch(
        /^FAIL: a dry-run pod in tokenguard-system was admitted unchanged \(token 172800 s\) and without a warning from tokenguard/,
      );
    } finally {
      await kubectl(['delete', 'rolebinding,role,serviceaccount', 'check-admission', '-n', NS, '--ignore-not-found']);
    }
  });

  test('uninstall: the pre-delete hook removes both webhook configurations before anything else goes', async () => {
    const run = runHelm(['uninstall', RELEASE, '--namespace', NS, '--timeout', '120s']);
    try {
      const pod = await waitForPod(NS, { label: 'batch.kubernetes.io/job-name=tokenguard-pre-delete' });
      // Nothing of the release is deleted while the hook has not finished.
      for (const [kind, ns] of [
        ['validatingwebhookconfiguration', undefined],
        ['mutatingwebhookconfiguration', undefined],
        ['deployment', NS],
        ['service', NS],
        ['clusterrole', undefined],
      ] as const) {
        expect({ kind, before: await exists(kind, RELEASE, ns) }).toEqual({ kind, before: true });
      }
      const r = await runPodOnHost(NS, pod);
      expect({ code: r.code, output: r.output.trim().split('\n') }).toEqual({
        code: 0,
        output: [
          `validatingwebhookconfigurations/${RELEASE}: deleted`,
          `mutatingwebhookconfigurations/${RELEASE}: deleted`,
        ],
      });
      // The configurations are gone; the Service they called is still there.
      expect(await exists('validatingwebhookconfiguration', RELEASE)).toBe(false);
      expect(await exists('mutatingwebhookconfiguration', RELEASE)).toBe(false);
      expect(await exists('service', RELEASE, NS)).toBe(true);
      const result = await run.done;
      expect({ code: result.code, output: result.output.trim() }).toEqual({
        code: 0,
        output: `release "${RELEASE}" uninstalled`,
      });
    } finally {
      run.child.kill();
    }
    for (const [kind, name, ns] of [
      ['deployment', RELEASE, NS],
      ['service', RELEASE, NS],
      ['clusterrole', RELEASE],
      ['clusterrolebinding', RELEASE],
      ['secret', 'tokenguard-tls', NS],
      ['secret', 'tokenguard-ca', NS],
      ['configmap', 'tokenguard-policies', NS],
      ['job', 'tokenguard-pre-delete', NS],
      ['clusterrole', 'tokenguard-pre-delete'],
    ] as const) {
      await waitFor(`${kind} ${name} to be deleted`, 30_000, async () =>
        (await exists(kind, name, ns)) ? undefined : true,
      );
    }
  });
});
