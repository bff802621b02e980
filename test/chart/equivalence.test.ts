/**
 * The chart and deploy/ install the same objects. For every kustomize overlay, and for the user
 * overlays deploy/README.md documents, `helm template` with the equivalent values is compared
 * field by field with `kubectl kustomize`. The intended differences are the list below and
 * nothing else (charts/tokenguard/README.md, "The chart and deploy/", says the same).
 *
 * Every folder of deploy/overlays, deploy/components and deploy/transformers must be covered by a
 * case here: a new one (a NetworkPolicy component, say) fails `covers every overlay, component
 * and transformer` until its chart values are added. A change to deploy/base's webhooks fails
 * test/chart/chart.test.ts until `npm run chart:sync` copies it into the chart; one elsewhere in
 * deploy/base fails here, with the paths that differ.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateCertificates, writeCertificates } from '../../src/certs/generate.js';
import { copyInstallTree } from '../helpers/deploy-tree.js';
import { DOCUMENTED, documentedKustomization, readmePolicy, writeUserOverlay } from '../helpers/documented.js';
import { type ChartRender, helmTemplate, type K8sObject, kustomize, REPO_ROOT } from '../helpers/render.js';
import { tool } from '../helpers/tools.js';

/** Intended difference 1: Helm's own labels, on every object and in the selectors. */
const HELM_LABELS = new Set([
  'app.kubernetes.io/instance',
  'app.kubernetes.io/version',
  'app.kubernetes.io/managed-by',
  'helm.sh/chart',
]);
/** Intended difference 2: Helm installs into --namespace; it creates no Namespace object. */
const KUSTOMIZE_ONLY_KINDS = new Set(['Namespace']);
/** Intended difference 3: what only the chart renders (hooks and tests are left out with --no-hooks --skip-tests). */
const CHART_ONLY = (o: K8sObject) => o.kind === 'Secret' && o.metadata.name === 'tokenguard-ca';

let work = '';
let certDir = '';

/** A user overlay as deploy/README.md shows it, in `work/my-tokenguard`, beside `work/tokenguard`. */
interface UserOverlay {
  /** Picks the documented kustomization from deploy/README.md's yaml blocks. */
  pick: (block: string) => boolean;
  files?: Record<string, string>;
}

interface Case {
  /** A folder of deploy/, or a documented user overlay. */
  kustomize: string | UserOverlay;
  chart: ChartRender;
  /** deploy/components and deploy/transformers this case exercises. */
  covers?: string[];
}

const selfManagedFiles = () => ({
  'certificates.selfManaged.caCert': join(certDir, 'ca.crt'),
  'certificates.selfManaged.cert': join(certDir, 'tls.crt'),
  'certificates.selfManaged.key': join(certDir, 'tls.key'),
});
const certManager = { certificates: { source: 'certManager' } };
const chartSecrets = { certificates: { selfManaged: { controller: false } } };
const VAULT_POLICY = readmePolicy();
/** What `base64 -w0 ca.crt` writes for a CA (any base64 text does for the comparison). */
const EXISTING_CA_BUNDLE = Buffer.from('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n').toString(
  'base64',
);

const CASES: Record<string, () => Case> = {
  'overlays/cert-manager': () => ({ kustomize: 'deploy/overlays/cert-manager', chart: { values: certManager } }),
  'overlays/self-managed-controller': () => ({ kustomize: 'deploy/overlays/self-managed-controller', chart: {} }),
  'overlays/self-managed-controller-audit-only': () => ({
    kustomize: 'deploy/overlays/self-managed-controller-audit-only',
    chart: { values: { auditOnly: true } },
    covers: ['components/audit-only'],
  }),
  'overlays/self-managed': () => ({
    kustomize: 'deploy/overlays/self-managed',
    chart: { values: chartSecrets, setFile: selfManagedFiles() },
  }),
  'overlays/audit-only': () => ({
    kustomize: 'deploy/overlays/audit-only',
    chart: { values: { ...certManager, auditOnly: true } },
    covers: ['components/audit-only'],
  }),
  'overlays/self-managed-audit-only': () => ({
    kustomize: 'deploy/overlays/self-managed-audit-only',
    chart: { values: { ...chartSecrets, auditOnly: true }, setFile: selfManagedFiles() },
    covers: ['components/audit-only'],
  }),
  'overlays/fail-closed-mutating': () => ({
    kustomize: 'deploy/overlays/fail-closed-mutating',
    chart: { values: { ...certManager, webhooks: { failurePolicy: { mutating: 'Fail' } } } },
    covers: ['components/fail-closed-mutating'],
  }),
  'your own policies (deploy/README.md)': () => ({
    kustomize: { pick: DOCUMENTED.ownPolicies, files: { 'policies/vault.yaml': VAULT_POLICY } },
    chart: { values: { ...certManager, policies: { extra: { 'vault.yaml': VAULT_POLICY } } } },
  }),
  'excluded namespaces (deploy/README.md)': () => ({
    kustomize: { pick: DOCUMENTED.excludedNamespaces },
    chart: {
      values: { ...certManager, webhooks: { excludedNamespaces: ['kube-system', 'kube-node-lease', 'cert-manager'] } },
    },
    covers: ['transformers/excluded-namespaces'],
  }),
  'the image (deploy/README.md)': () => ({
    kustomize: { pick: DOCUMENTED.image },
    chart: {
      values: { ...certManager, image: { repository: 'registry.example/platform/tokenguard', tag: '0.1.0-patched' } },
    },
  }),
  'the API server only, by NetworkPolicy (deploy/README.md)': () => ({
    kustomize: { pick: DOCUMENTED.networkPolicy },
    chart: {
      values: { ...certManager, networkPolicy: { enabled: true, ingressFrom: [{ ipBlock: { cidr: '10.0.0.0/24' } }] } },
    },
    covers: ['components/network-policy'],
  }),
  'a Secret you manage (deploy/README.md)': () => ({
    kustomize: { pick: DOCUMENTED.existingSecret, files: { caBundle: EXISTING_CA_BUNDLE } },
    chart: {
      values: {
        certificates: {
          source: 'existingSecret',
          existingSecret: { name: 'tokenguard-tls', caBundle: EXISTING_CA_BUNDLE },
        },
      },
    },
  }),
  'the API server only, by client certificate (deploy/README.md)': () => ({
    kustomize: { pick: DOCUMENTED.clientAuth },
    chart: { values: { ...certManager, clientAuth: { enabled: true } } },
    covers: ['components/client-auth'],
  }),
};

beforeAll(async () => {
  tool('helm');
  work = mkdtempSync(join(tmpdir(), 'tokenguard-equivalence-'));
  copyInstallTree(REPO_ROOT, join(work, 'tokenguard'));
  certDir = join(work, 'tokenguard/deploy/overlays/self-managed');
  await writeCertificates(
    certDir,
    await generateCertificates({ service: 'tokenguard', namespace: 'tokenguard-system', days: 30 }),
  );
}, 30 * 60_000);
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

function renderKustomize(k: Case['kustomize'], name: string): K8sObject[] {
  if (typeof k === 'string') return kustomize(join(work, 'tokenguard', k));
  return kustomize(
    writeUserOverlay(join(work, name.replace(/[^a-z]+/g, '-')), documentedKustomization(k.pick, name), k.files),
  );
}

function stripHelmLabels(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripHelmLabels);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (!HELM_LABELS.has(k)) out[k] = stripHelmLabels(v);
    return out;
  }
  return value;
}

/**
 * Representations that mean the same, made the same: base64 of Secret data without line breaks
 * (kustomize wraps it), and the values of a namespaceSelector expression as the set they are.
 */
function normalize(o: K8sObject): K8sObject {
  const out = structuredClone(o) as K8sObject & {
    data?: Record<string, string>;
    webhooks?: { namespaceSelector?: { matchExpressions?: { values?: string[] }[] } }[];
  };
  if (out.kind === 'Secret' && out.data)
    for (const k of Object.keys(out.data)) out.data[k] = String(out.data[k]).replace(/\s+/g, '');
  for (const w of out.webhooks ?? []) for (const e of w.namespaceSelector?.matchExpressions ?? []) e.values?.sort();
  return out;
}

const key = (o: K8sObject) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;

/** Every path where `a` and `b` differ, as `path: kustomize <a> chart <b>`. */
function differences(a: unknown, b: unknown, path = ''): string[] {
  if (JSON.stringify(a) === JSON.stringify(b)) return [];
  const isObj = (v: unknown) => v !== null && typeof v === 'object';
  if (Array.isArray(a) && Array.isArray(b)) {
    const out: string[] = [];
    for (let i = 0; i < Math.max(a.length, b.length); i++) out.push(...differences(a[i], b[i], `${path}[${i}]`));
    return out;
  }
  if (isObj(a) && isObj(b) && !Array.isArray(a) && !Array.isArray(b)) {
    const ka = Object.keys(a as object);
    const kb = Object.keys(b as object);
    return [...new Set([...ka, ...kb])]
      .sort()
      .flatMap((k) =>
        differences((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], path ? `${path}.${k}` : k),
      );
  }
  const show = (v: unknown) => (v === undefined ? '(absent)' : JSON.stringify(v).slice(0, 200));
  return [`${path}: kustomize ${show(a)} chart ${show(b)}`];
}

function compare(name: string): string[] {
  const c = (CASES[name] as () => Case)();
  const fromKustomize = renderKustomize(c.kustomize, name)
    .filter((o) => !KUSTOMIZE_ONLY_KINDS.has(o.kind))
    .map(normalize);
  const fromChart = helmTemplate({ ...c.chart, args: ['--no-hooks', '--skip-tests', ...(c.chart.args ?? [])] })
    .filter((o) => !CHART_ONLY(o))
    .map((o) => normalize(stripHelmLabels(o) as K8sObject));
  const k = new Map(fromKustomize.map((o) => [key(o), o]));
  const h = new Map(fromChart.map((o) => [key(o), o]));
  const out: string[] = [];
  for (const id of [...new Set([...k.keys(), ...h.keys()])].sort()) {
    if (!k.has(id)) out.push(`${id}: only the chart renders it`);
    else if (!h.has(id)) out.push(`${id}: only kustomize renders it`);
    else out.push(...differences(k.get(id), h.get(id)).map((d) => `${id} ${d}`));
  }
  return out;
}

describe('helm template equals kubectl kustomize, field by field, but for the intended differences', () => {
  test.each(Object.keys(CASES))('%s', (name) => {
    expect(compare(name)).toEqual([]);
  });

  test('covers every overlay, component and transformer of deploy/', () => {
    const covered = new Set<string>();
    for (const make of Object.values(CASES)) {
      const c = make();
      if (typeof c.kustomize === 'string') covered.add(c.kustomize.replace(/^deploy\//, ''));
      for (const x of c.covers ?? []) covered.add(x);
    }
    const folders = ['overlays', 'components', 'transformers'].flatMap((d) =>
      readdirSync(join(REPO_ROOT, 'deploy', d)).map((f) => `${d}/${f}`),
    );
    // The exported admission policies (docs/vap.md#install-overlays) are kustomize-only: the chart does not install them.
    const notInChart = new Set([
      'overlays/admission-policies',
      'overlays/admission-policies-only',
      'components/admission-policies',
    ]);
    const missing = folders.filter((f) => !covered.has(f) && !notInChart.has(f));
    expect({ 'deploy/ folders without chart values in test/chart/equivalence.test.ts': missing }).toEqual({
      'deploy/ folders without chart values in test/chart/equivalence.test.ts': [],
    });
  });

  test('the comparison sees a difference: a kustomize overlay that changes one field fails', () => {
    const dir = join(work, 'tampered');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, 'kustomization.yaml'),
      [
        'apiVersion: kustomize.config.k8s.io/v1beta1',
        'kind: Kustomization',
        'resources: [../tokenguard/deploy/overlays/cert-manager]',
        'patches:',
        '  - target: {kind: ValidatingWebhookConfiguration}',
        '    patch: |-',
        '      - op: add',
        '        path: /webhooks/0/rules/0/operations/-',
        '        value: UPDATE',
        '',
      ].join('\n'),
    );
    const tampered = kustomize(dir).filter((o) => o.kind === 'ValidatingWebhookConfiguration');
    const chart = helmTemplate({ values: certManager, args: ['--no-hooks'] })
      .filter((o) => o.kind === 'ValidatingWebhookConfiguration')
      .map((o) => stripHelmLabels(o));
    expect(differences(tampered[0], chart[0])).toEqual([
      'webhooks[0].rules[0].operations[1]: kustomize "UPDATE" chart (absent)',
    ]);
  });
});

describe('the documented image change', () => {
  test('kustomize edit set image, for the name deploy/base uses, changes the image of every overlay', () => {
    const name = /^\s+image: (\S+):\S+$/m.exec(
      readFileSync(join(REPO_ROOT, 'deploy/base/deployment.yaml'), 'utf8'),
    )?.[1];
    expect(name).toBe('ghcr.io/tokenguard/tokenguard');
    for (const overlay of ['cert-manager', 'self-managed', 'self-managed-controller', 'audit-only']) {
      const dir = join(work, `edit-image-${overlay}`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(
        join(dir, 'kustomization.yaml'),
        `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../tokenguard/deploy/overlays/${overlay}\n`,
      );
      execFileSync(tool('kustomize'), ['edit', 'set', 'image', `${name}=registry.example/platform/tokenguard:9.9.9`], {
        cwd: dir,
        stdio: 'pipe',
      });
      const images = kustomize(dir)
        .filter((o) => o.kind === 'Deployment')
        .map((d) =>
          (
            d as unknown as { spec: { template: { spec: { containers: { image: string }[] } } } }
          ).spec.template.spec.containers.map((c) => c.image),
        );
      expect({ overlay, images }).toEqual({ overlay, images: [['registry.example/platform/tokenguard:9.9.9']] });
    }
  });
});
