/**
 * The Helm chart on its own: its copies of deploy/, policies/ and docs/ are current, its values
 * match values.schema.json, `helm lint --strict` passes and `helm template` renders what each
 * value promises, on Helm 4 and Helm 3, for a matrix of values. (test/chart/equivalence.test.ts
 * compares it with deploy/; the e2e suite applies every rendering to a real API server.)
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { generateCertificates, writeCertificates } from '../../src/certs/generate.js';
import { parsePolicyDocuments } from '../../src/policy/parse.js';
import { CHART_DIR, type ChartRender, helmTemplate, helmTemplateText, type K8sObject } from '../helpers/render.js';
import { tool } from '../helpers/tools.js';
import { CHART_MATRIX, type Certs } from './matrix.js';
import { prometheusRulesFromDocs, staleChartFiles } from './sync.js';

interface Webhook {
  name: string;
  failurePolicy: string;
  clientConfig: {
    url?: string;
    caBundle?: string;
    service?: { name: string; namespace: string; path: string; port: number };
  };
  namespaceSelector: { matchExpressions: { key: string; operator: string; values: string[] }[] };
}
type WebhookConfiguration = K8sObject & { webhooks: Webhook[] };
interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: unknown }[];
}
interface PodSpec {
  containers: Container[];
  volumes?: { name: string; secret?: { secretName: string }; configMap?: { name: string } }[];
  nodeSelector?: Record<string, string>;
  tolerations?: unknown[];
  affinity?: unknown;
  priorityClassName?: string;
  topologySpreadConstraints?: unknown[];
  serviceAccountName?: string;
}
type Deployment = K8sObject & {
  spec: {
    replicas: number;
    template: { metadata: { labels: Record<string, string>; annotations?: Record<string, string> }; spec: PodSpec };
  };
};

/** certificates.source=selfManaged with the chart's own Secrets instead of the certificate controller. */
const CHART_GENERATED = { certificates: { selfManaged: { controller: false } } };

const SCHEMA = JSON.parse(readFileSync(join(CHART_DIR, 'values.schema.json'), 'utf8')) as SchemaNode;
const VALUES = parse(readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8')) as Record<string, unknown>;

interface SchemaNode {
  type?: string | string[];
  default?: unknown;
  properties?: Record<string, SchemaNode>;
}

let work = '';
let certDir = '';
let certs: Certs;

beforeAll(async () => {
  tool('helm');
  tool('helm3');
  work = mkdtempSync(join(tmpdir(), 'tokenguard-chart-'));
  certDir = join(work, 'certs');
  const generated = await generateCertificates({ service: 'tokenguard', namespace: 'tokenguard-system', days: 30 });
  await writeCertificates(certDir, generated);
  certs = { caCert: generated.caCert, cert: generated.cert, key: generated.key };
}, 40 * 60_000);
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

const all = (objs: K8sObject[], kind: string) => objs.filter((o) => o.kind === kind);
function one<T extends K8sObject>(objs: K8sObject[], kind: string, name?: string): T {
  const found = all(objs, kind).filter((o) => name === undefined || o.metadata.name === name);
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}`);
  return found[0] as T;
}
const webhooks = (objs: K8sObject[]) =>
  [...all(objs, 'MutatingWebhookConfiguration'), ...all(objs, 'ValidatingWebhookConfiguration')].flatMap(
    (c) => (c as WebhookConfiguration).webhooks,
  );
const policyOf = (objs: K8sObject[]) =>
  one<K8sObject & { data: Record<string, string> }>(objs, 'ConfigMap', 'tokenguard-policies').data;
const deployment = (objs: K8sObject[]) => one<Deployment>(objs, 'Deployment');
const secretData = (objs: K8sObject[], name: string) =>
  Object.fromEntries(
    Object.entries(one<K8sObject & { data: Record<string, string> }>(objs, 'Secret', name).data).map(([k, v]) => [
      k,
      Buffer.from(v, 'base64').toString('utf8'),
    ]),
  );

function helmFails(r: ChartRender): string {
  try {
    helmTemplateText(r);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('helm template succeeded, expected it to refuse');
}

describe('chart files', () => {
  it('are current: the copies of deploy/base webhooks, policies/, audit policies, docs/metrics.md alerts and the README values table (npm run chart:sync)', () => {
    expect({ stale: staleChartFiles() }).toEqual({ stale: [] });
  });

  it('values.yaml holds exactly the defaults values.schema.json documents', () => {
    const mismatches: string[] = [];
    const walk = (schema: SchemaNode, values: Record<string, unknown>, path: string) => {
      for (const k of Object.keys(values))
        if (!schema.properties?.[k]) mismatches.push(`${path}${k}: in values.yaml, not in the schema`);
      for (const [k, child] of Object.entries(schema.properties ?? {})) {
        if (k === 'global' && !path) continue;
        const v = values[k];
        if (child.properties && child.default === undefined) {
          if (!v || typeof v !== 'object') mismatches.push(`${path}${k}: not an object in values.yaml`);
          else walk(child, v as Record<string, unknown>, `${path}${k}.`);
        } else if (JSON.stringify(child.default) !== JSON.stringify(v ?? null)) {
          mismatches.push(
            `${path}${k}: schema default ${JSON.stringify(child.default)}, values.yaml ${JSON.stringify(v)}`,
          );
        }
      }
    };
    walk(SCHEMA, VALUES, '');
    expect(mismatches).toEqual([]);
  });

  it('appVersion and version follow package.json', () => {
    const chart = parse(readFileSync(join(CHART_DIR, 'Chart.yaml'), 'utf8')) as { version: string; appVersion: string };
    const pkg = JSON.parse(readFileSync(join(CHART_DIR, '../../package.json'), 'utf8')) as { version: string };
    expect({ version: chart.version, appVersion: chart.appVersion }).toEqual({
      version: pkg.version,
      appVersion: pkg.version,
    });
  });
});

describe.each(['helm', 'helm3'] as const)('%s lint --strict and template', (helm) => {
  test.each(Object.keys(CHART_MATRIX))('%s', (name) => {
    const values = (CHART_MATRIX[name] as (c: Certs) => Record<string, unknown>)(certs);
    const file = join(work, `${helm}-${name.replace(/[^a-z0-9]+/gi, '-')}.json`);
    writeFileSync(file, JSON.stringify(values));
    execFileSync(tool(helm), ['lint', CHART_DIR, '--strict', '--namespace', 'tokenguard-system', '-f', file], {
      stdio: 'pipe',
    });
    const text = execFileSync(
      tool(helm),
      ['template', 'tokenguard', CHART_DIR, '--namespace', 'tokenguard-system', '-f', file],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );
    expect(text).toContain('kind: ValidatingWebhookConfiguration');
  });
});

describe('helm template', () => {
  it('default: the certificate controller, with the Secret, Lease, Service and both webhook configurations named in its args', () => {
    const objs = helmTemplate({ release: 'guard', namespace: 'security' });
    expect(all(objs, 'Secret').filter((o) => !o.metadata.annotations?.['helm.sh/hook'])).toEqual([]);
    for (const w of webhooks(objs))
      expect({ w: w.name, caBundle: w.clientConfig.caBundle }).toEqual({ w: w.name, caBundle: undefined });
    expect(webhooks(objs)).toHaveLength(7);
    const c = deployment(objs).spec.template.spec.containers[0];
    expect(c?.args).toEqual([
      'serve',
      '--port',
      '8443',
      '--manage-certificates',
      '--certificate-secret',
      'guard-tokenguard-certificates',
      '--leader-election-lease',
      'guard-tokenguard-certificates',
      '--certificate-service',
      'guard-tokenguard',
      '--validating-webhook-configuration',
      'guard-tokenguard',
      '--mutating-webhook-configuration',
      'guard-tokenguard',
      '--certificate-dir',
      '/tmp/certificates',
      '--policies',
      '/etc/tokenguard/policies',
    ]);
    // The args name what the chart renders: the Service and the two configurations.
    expect(one(objs, 'Service').metadata.name).toBe('guard-tokenguard');
    expect(
      [...all(objs, 'MutatingWebhookConfiguration'), ...all(objs, 'ValidatingWebhookConfiguration')].map(
        (o) => o.metadata.name,
      ),
    ).toEqual(['guard-tokenguard', 'guard-tokenguard']);
    expect(c?.env).toContainEqual({
      name: 'POD_NAMESPACE',
      valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } },
    });
    const spec = deployment(objs).spec.template.spec;
    expect(spec.volumes?.map((v) => v.name)).toEqual(['policies', 'tmp']);
    expect(
      (c as Container & { volumeMounts: { name: string; mountPath: string }[] }).volumeMounts.map(
        (m) => `${m.name}:${m.mountPath}`,
      ),
    ).toEqual(['policies:/etc/tokenguard/policies', 'tmp:/tmp']);
  });

  it("the certificate controller's RBAC: its Secret and Lease by name, create (which RBAC cannot scope by name), the two configurations by name", () => {
    const objs = helmTemplate({ release: 'guard', namespace: 'security' }).filter(
      (o) => !o.metadata.annotations?.['helm.sh/hook'],
    );
    type Rule = { apiGroups: string[]; resources: string[]; resourceNames?: string[]; verbs: string[] };
    type Role = K8sObject & { rules: Rule[] };
    type Binding = K8sObject & { roleRef: unknown; subjects: unknown[] };
    const roles = [...all(objs, 'Role'), ...all(objs, 'ClusterRole')].map(
      (r) => `${r.kind}/${r.metadata.namespace ?? ''}/${r.metadata.name}`,
    );
    expect(roles.sort()).toEqual([
      'ClusterRole//guard-tokenguard',
      'ClusterRole//guard-tokenguard-certificates',
      'Role/security/guard-tokenguard-certificates',
    ]);
    expect(one<Role>(objs, 'Role').rules).toEqual([
      {
        apiGroups: [''],
        resources: ['secrets'],
        resourceNames: ['guard-tokenguard-certificates'],
        verbs: ['get', 'update', 'patch'],
      },
      {
        apiGroups: ['coordination.k8s.io'],
        resources: ['leases'],
        resourceNames: ['guard-tokenguard-certificates'],
        verbs: ['get', 'update', 'patch'],
      },
      { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
    ]);
    expect(one<Role>(objs, 'ClusterRole', 'guard-tokenguard-certificates').rules).toEqual([
      {
        apiGroups: ['admissionregistration.k8s.io'],
        resources: ['validatingwebhookconfigurations', 'mutatingwebhookconfigurations'],
        resourceNames: ['guard-tokenguard'],
        verbs: ['get', 'patch'],
      },
    ]);
    // The webhook's own read-only ClusterRole is unchanged: nothing on Secrets, no write verb.
    for (const rule of one<Role>(objs, 'ClusterRole', 'guard-tokenguard').rules) {
      expect(rule.resources).not.toContain('secrets');
      expect(rule.verbs.filter((v) => !['get', 'list', 'watch'].includes(v))).toEqual([]);
    }
    const subject = [{ kind: 'ServiceAccount', name: 'guard-tokenguard', namespace: 'security' }];
    const rb = one<Binding>(objs, 'RoleBinding');
    expect({ ns: rb.metadata.namespace, roleRef: rb.roleRef, subjects: rb.subjects }).toEqual({
      ns: 'security',
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'guard-tokenguard-certificates' },
      subjects: subject,
    });
    const crb = one<Binding>(objs, 'ClusterRoleBinding', 'guard-tokenguard-certificates');
    expect({ roleRef: crb.roleRef, subjects: crb.subjects }).toEqual({
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'guard-tokenguard-certificates' },
      subjects: subject,
    });
    // None of it without the controller.
    for (const values of [
      { certificates: { selfManaged: { controller: false } } },
      { certificates: { source: 'certManager' } },
      { certificates: { source: 'existingSecret', existingSecret: { name: 'x', caBundle: 'Q0E=' } } },
    ]) {
      const other = helmTemplate({ values }).filter((o) => !o.metadata.annotations?.['helm.sh/hook']);
      expect([...all(other, 'Role'), ...all(other, 'ClusterRole')].map((r) => r.metadata.name)).toEqual(['tokenguard']);
      const args = deployment(other).spec.template.spec.containers[0]?.args ?? [];
      expect(args.filter((a) => a.startsWith('--manage') || a.startsWith('--certificate-'))).toEqual([]);
      expect(deployment(other).spec.template.spec.containers[0]?.env?.map((e) => e.name)).not.toContain(
        'POD_NAMESPACE',
      );
    }
  });

  it('the certificate controller: dnsNames and ipAddresses reach its args; the files of controller=false are refused with it', () => {
    const objs = helmTemplate({
      values: {
        certificates: { selfManaged: { dnsNames: ['tokenguard.example.com'], ipAddresses: ['127.0.0.1', '::1'] } },
      },
    });
    const args = deployment(objs).spec.template.spec.containers[0]?.args ?? [];
    const service = args.indexOf('--certificate-service');
    expect(args.slice(service, service + 8)).toEqual([
      '--certificate-service',
      'tokenguard',
      '--certificate-dns-name',
      'tokenguard.example.com',
      '--certificate-ip',
      '127.0.0.1',
      '--certificate-ip',
      '::1',
    ]);
    expect(
      helmFails({
        setFile: {
          'certificates.selfManaged.caCert': join(certDir, 'ca.crt'),
          'certificates.selfManaged.cert': join(certDir, 'tls.crt'),
          'certificates.selfManaged.key': join(certDir, 'tls.key'),
        },
      }),
    ).toMatch(/caCert, cert and key are for controller=false/);
    expect(helmFails({ values: { certificates: { selfManaged: { dnsNames: ['not a name'] } } } })).toMatch(/dnsNames/);
    expect(helmFails({ values: { certificates: { selfManaged: { ipAddresses: ['localhost'] } } } })).toMatch(
      /ipAddresses/,
    );
  });

  it('selfManaged, controller=false: generated certificates, the CA in every webhook, the serving certificate for the Service names', () => {
    const objs = helmTemplate({ values: CHART_GENERATED });
    const ca = secretData(objs, 'tokenguard-ca');
    const tls = secretData(objs, 'tokenguard-tls');
    expect(Object.keys(tls).sort()).toEqual(['ca.crt', 'tls.crt', 'tls.key']);
    expect(tls['ca.crt']).toBe(ca['ca.crt']);
    const caCert = new X509Certificate(ca['ca.crt'] ?? '');
    const leaf = new X509Certificate(tls['tls.crt'] ?? '');
    expect(caCert.ca).toBe(true);
    expect(leaf.verify(caCert.publicKey)).toBe(true);
    for (const host of [
      'tokenguard',
      'tokenguard.tokenguard-system',
      'tokenguard.tokenguard-system.svc',
      'tokenguard.tokenguard-system.svc.cluster.local',
    ]) {
      expect({ host, ok: leaf.checkHost(host) }).toEqual({ host, ok: host });
    }
    const days = (c: X509Certificate) => Math.round((Date.parse(c.validTo) - Date.parse(c.validFrom)) / 86_400_000);
    expect(days(caCert)).toBe(3650);
    expect(days(leaf)).toBe(365);
    const hooks = webhooks(objs);
    expect(hooks).toHaveLength(7);
    for (const w of hooks)
      expect(Buffer.from(w.clientConfig.caBundle ?? '', 'base64').toString('utf8')).toBe(ca['ca.crt']);
    const volumes = deployment(objs).spec.template.spec.volumes ?? [];
    expect(volumes.find((v) => v.name === 'tls')?.secret?.secretName).toBe('tokenguard-tls');
  });

  it('selfManaged from the files of tokenguard certs generate: those in the Secret and caBundle, no CA Secret', () => {
    const objs = helmTemplate({
      values: CHART_GENERATED,
      setFile: {
        'certificates.selfManaged.caCert': join(certDir, 'ca.crt'),
        'certificates.selfManaged.cert': join(certDir, 'tls.crt'),
        'certificates.selfManaged.key': join(certDir, 'tls.key'),
      },
    });
    expect(all(objs, 'Secret').map((s) => s.metadata.name)).toEqual(['tokenguard-tls']);
    const tls = secretData(objs, 'tokenguard-tls');
    expect(tls['tls.crt']).toBe(readFileSync(join(certDir, 'tls.crt'), 'utf8'));
    for (const w of webhooks(objs))
      expect(w.clientConfig.caBundle).toBe(readFileSync(join(certDir, 'caBundle'), 'utf8').trim());
    expect(
      helmFails({ values: CHART_GENERATED, setFile: { 'certificates.selfManaged.cert': join(certDir, 'tls.crt') } }),
    ).toMatch(/set caCert, cert and key together/);
  });

  it('certManager: the Certificate chain, cainjector annotations, no caBundle; or an issuer of yours', () => {
    const objs = helmTemplate({ values: { certificates: { source: 'certManager' } } });
    expect(all(objs, 'Secret')).toEqual([]);
    for (const kind of ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']) {
      expect(one(objs, kind).metadata.annotations).toEqual({
        'cert-manager.io/inject-ca-from': 'tokenguard-system/tokenguard-tls',
      });
    }
    for (const w of webhooks(objs)) expect(w.clientConfig.caBundle).toBeUndefined();
    expect(
      all(objs, 'Certificate')
        .map((c) => c.metadata.name)
        .sort(),
    ).toEqual(['tokenguard-ca', 'tokenguard-tls']);
    const own = helmTemplate({
      values: {
        certificates: { source: 'certManager', certManager: { issuerRef: { kind: 'ClusterIssuer', name: 'corp-ca' } } },
      },
    });
    expect(all(own, 'Issuer')).toEqual([]);
    expect(
      one<K8sObject & { spec: { issuerRef: unknown } }>(own, 'Certificate', 'tokenguard-tls').spec.issuerRef,
    ).toEqual({ kind: 'ClusterIssuer', name: 'corp-ca' });
  });

  it('existingSecret: mounted, its caBundle in every webhook, refused without one', () => {
    const objs = helmTemplate({
      values: { certificates: { source: 'existingSecret', existingSecret: { name: 'corp-tls', caBundle: 'Q0E=' } } },
    });
    expect(all(objs, 'Secret')).toEqual([]);
    expect(deployment(objs).spec.template.spec.volumes?.find((v) => v.name === 'tls')?.secret?.secretName).toBe(
      'corp-tls',
    );
    for (const w of webhooks(objs)) expect(w.clientConfig.caBundle).toBe('Q0E=');
    expect(
      helmFails({ values: { certificates: { source: 'existingSecret', existingSecret: { name: 'corp-tls' } } } }),
    ).toMatch(/existingSecret.caBundle is required/);
    expect(
      helmFails({ values: { certificates: { source: 'existingSecret', existingSecret: { caBundle: 'Q0E=' } } } }),
    ).toMatch(/existingSecret.name is required/);
  });

  it('failurePolicy per group, and auditOnly makes every webhook Ignore and serves the audit copies', () => {
    const fp = (objs: K8sObject[]) => Object.fromEntries(webhooks(objs).map((w) => [w.name, w.failurePolicy]));
    expect(fp(helmTemplate())).toEqual({
      'mutate.tokenguard.dev': 'Ignore',
      'mutate-token-requests.tokenguard.dev': 'Ignore',
      'validate-pods.tokenguard.dev': 'Fail',
      'validate-ephemeral-containers.tokenguard.dev': 'Fail',
      'validate-secrets.tokenguard.dev': 'Fail',
      'scan-secrets.tokenguard.dev': 'Ignore',
      'validate-token-requests.tokenguard.dev': 'Ignore',
    });
    expect(
      fp(
        helmTemplate({
          values: { webhooks: { failurePolicy: { mutating: 'Fail', validating: 'Ignore', bestEffort: 'Fail' } } },
        }),
      ),
    ).toEqual({
      'mutate.tokenguard.dev': 'Fail',
      'mutate-token-requests.tokenguard.dev': 'Fail',
      'validate-pods.tokenguard.dev': 'Ignore',
      'validate-ephemeral-containers.tokenguard.dev': 'Ignore',
      'validate-secrets.tokenguard.dev': 'Ignore',
      'scan-secrets.tokenguard.dev': 'Fail',
      'validate-token-requests.tokenguard.dev': 'Fail',
    });
    const audit = helmTemplate({
      values: { auditOnly: true, webhooks: { failurePolicy: { validating: 'Fail', bestEffort: 'Fail' } } },
    });
    expect(new Set(Object.values(fp(audit)))).toEqual(new Set(['Ignore']));
    for (const [file, text] of Object.entries(policyOf(audit))) {
      const parsed = parsePolicyDocuments(text, file);
      expect(parsed.errors).toEqual([]);
      expect(parsed.policies.map((p) => p.spec.mode)).toEqual(parsed.policies.map(() => 'Audit'));
    }
  });

  it('excludedNamespaces: one list for all seven webhooks, and the release namespace always in it', () => {
    const objs = helmTemplate({
      namespace: 'security',
      values: { webhooks: { excludedNamespaces: ['kube-system', 'kube-node-lease', 'cert-manager', 'security'] } },
    });
    for (const w of webhooks(objs)) {
      const e = w.namespaceSelector.matchExpressions.filter((x) => x.key === 'kubernetes.io/metadata.name');
      expect({ w: w.name, e }).toEqual({
        w: w.name,
        e: [
          {
            key: 'kubernetes.io/metadata.name',
            operator: 'NotIn',
            values: ['kube-system', 'kube-node-lease', 'cert-manager', 'security'],
          },
        ],
      });
      expect(w.clientConfig.service?.namespace).toBe('security');
    }
    const none = helmTemplate({ namespace: 'security', values: { webhooks: { excludedNamespaces: [] } } });
    for (const w of webhooks(none)) expect(w.namespaceSelector.matchExpressions[0]?.values).toEqual(['security']);
  });

  it('policies: shipped, extra (a shipped name replaces that file), off, or an existing ConfigMap', () => {
    const shipped = policyOf(helmTemplate());
    for (const f of ['automount.yaml', 'legacy-token-secrets.yaml', 'token-bounds.yaml'])
      expect(shipped[f]).toBe(readFileSync(join(CHART_DIR, '../../policies', f), 'utf8'));
    const mine =
      'apiVersion: tokenguard.dev/v1alpha1\nkind: TokenPolicy\nmetadata:\n  name: mine\nspec:\n  mode: Audit\n';
    const extra = policyOf(
      helmTemplate({ values: { policies: { extra: { 'vault.yaml': mine, 'automount.yaml': mine } } } }),
    );
    expect(Object.keys(extra).sort()).toEqual([
      'automount.yaml',
      'legacy-token-secrets.yaml',
      'token-bounds.yaml',
      'vault.yaml',
    ]);
    expect(extra['automount.yaml']).toBe(mine);
    expect(
      Object.keys(policyOf(helmTemplate({ values: { policies: { shipped: false, extra: { 'vault.yaml': mine } } } }))),
    ).toEqual(['vault.yaml']);
    expect(helmFails({ values: { policies: { shipped: false } } })).toMatch(/tokenguard would have no policy/);
    const existing = helmTemplate({ values: { policies: { existingConfigMap: 'corp-policies' } } });
    expect(all(existing, 'ConfigMap').filter((c) => !c.metadata.annotations?.['helm.sh/hook'])).toEqual([]);
    expect(deployment(existing).spec.template.spec.volumes?.find((v) => v.name === 'policies')?.configMap?.name).toBe(
      'corp-policies',
    );
  });

  it('image, replicas, resources, scheduling and priority reach the webhook pods; the hook and test pods run the same image', () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    const objs = helmTemplate({
      values: {
        image: { repository: 'registry.example/tokenguard', digest },
        replicas: 3,
        resources: { requests: { cpu: '200m', memory: '192Mi' }, limits: { memory: '384Mi' } },
        nodeSelector: { 'kubernetes.io/os': 'linux', pool: 'system' },
        tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'system', effect: 'NoSchedule' }],
        affinity: {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: {
              nodeSelectorTerms: [{ matchExpressions: [{ key: 'pool', operator: 'In', values: ['system'] }] }],
            },
          },
        },
        priorityClassName: 'corp-critical',
        topologySpreadConstraints: [],
        extraArgs: ['--log-level', 'debug'],
        podAnnotations: { 'example.com/a': 'b' },
      },
    });
    const d = deployment(objs);
    const spec = d.spec.template.spec;
    expect(d.spec.replicas).toBe(3);
    expect(spec.containers[0]?.image).toBe(`registry.example/tokenguard@${digest}`);
    expect(spec.containers[0]?.args?.slice(-2)).toEqual(['--log-level', 'debug']);
    expect(spec.nodeSelector).toEqual({ 'kubernetes.io/os': 'linux', pool: 'system' });
    expect(spec.tolerations).toHaveLength(1);
    expect(spec.affinity).toBeDefined();
    expect(spec.priorityClassName).toBe('corp-critical');
    expect(spec.topologySpreadConstraints).toBeUndefined();
    expect(d.spec.template.metadata.annotations).toEqual({ 'example.com/a': 'b' });
    const job = one<K8sObject & { spec: { template: { spec: PodSpec } } }>(objs, 'Job');
    const test = one<K8sObject & { spec: PodSpec }>(objs, 'Pod');
    for (const pod of [job.spec.template.spec, test.spec]) {
      expect(pod.containers[0]?.image).toBe(`registry.example/tokenguard@${digest}`);
      expect(pod.nodeSelector).toEqual({ 'kubernetes.io/os': 'linux', pool: 'system' });
    }
    const byTag = deployment(helmTemplate({ values: { image: { tag: '0.2.0' } } }));
    expect(byTag.spec.template.spec.containers[0]?.image).toBe('ghcr.io/tokenguard/tokenguard:0.2.0');
    expect(deployment(helmTemplate()).spec.template.spec.containers[0]?.image).toBe(
      'ghcr.io/tokenguard/tokenguard:0.1.0',
    );
  });

  it('webhooks.url points every webhook at that base URL instead of the Service', () => {
    for (const w of webhooks(helmTemplate({ values: { webhooks: { url: 'https://127.0.0.1:9443/' } } }))) {
      expect(w.clientConfig.service).toBeUndefined();
      expect(w.clientConfig.url).toMatch(/^https:\/\/127\.0\.0\.1:9443\/(mutate|validate)$/);
    }
  });

  it('the pre-delete hook may delete the two webhook configurations only, and names them', () => {
    const objs = helmTemplate({ release: 'guard', namespace: 'security' });
    const hooked = objs.filter((o) => o.metadata.annotations?.['helm.sh/hook'] === 'pre-delete');
    expect(hooked.map((o) => o.kind).sort()).toEqual([
      'ClusterRole',
      'ClusterRoleBinding',
      'ConfigMap',
      'Job',
      'ServiceAccount',
    ]);
    const configs = [...all(objs, 'MutatingWebhookConfiguration'), ...all(objs, 'ValidatingWebhookConfiguration')].map(
      (c) => c.metadata.name,
    );
    expect(configs).toEqual(['guard-tokenguard', 'guard-tokenguard']);
    const role = one<K8sObject & { rules: { resources: string[]; resourceNames: string[]; verbs: string[] }[] }>(
      hooked,
      'ClusterRole',
    );
    expect(role.rules).toEqual([
      {
        apiGroups: ['admissionregistration.k8s.io'],
        resources: ['mutatingwebhookconfigurations', 'validatingwebhookconfigurations'],
        resourceNames: ['guard-tokenguard'],
        verbs: ['delete'],
      },
    ]);
    const job = one<K8sObject & { spec: { template: { spec: PodSpec } } }>(hooked, 'Job');
    const c = job.spec.template.spec.containers[0];
    expect(c?.command).toEqual(['node', '/scripts/hook.mjs', 'delete-webhooks']);
    expect(c?.env).toEqual([
      { name: 'MUTATING_WEBHOOK_CONFIGURATION', value: 'guard-tokenguard' },
      { name: 'VALIDATING_WEBHOOK_CONFIGURATION', value: 'guard-tokenguard' },
    ]);
    expect(job.metadata.namespace).toBe('security');
    expect(one<K8sObject & { data: Record<string, string> }>(hooked, 'ConfigMap').data['hook.mjs']).toBe(
      readFileSync(join(CHART_DIR, 'files/hook.mjs'), 'utf8'),
    );
    expect(
      helmTemplate({ values: { preDeleteHook: { enabled: false } } }).filter(
        (o) => o.metadata.annotations?.['helm.sh/hook'] === 'pre-delete',
      ),
    ).toEqual([]);
  });

  it('the test pod creates pods in tests.namespace only', () => {
    const objs = helmTemplate({ values: { tests: { namespace: 'smoke' } } }).filter(
      (o) => o.metadata.annotations?.['helm.sh/hook'] === 'test',
    );
    expect(objs.map((o) => o.kind).sort()).toEqual(['ConfigMap', 'Pod', 'Role', 'RoleBinding', 'ServiceAccount']);
    const role = one<K8sObject & { rules: unknown[] }>(objs, 'Role');
    expect(role.metadata.namespace).toBe('smoke');
    expect(role.rules).toEqual([{ apiGroups: [''], resources: ['pods'], verbs: ['create'] }]);
    expect(one<K8sObject & { spec: PodSpec }>(objs, 'Pod').spec.containers[0]?.env).toContainEqual({
      name: 'TEST_NAMESPACE',
      value: 'smoke',
    });
  });

  it('ServiceMonitor and PrometheusRule: the Service name and CA for TLS, and the alerts of docs/metrics.md', () => {
    const objs = helmTemplate({
      values: {
        serviceMonitor: { enabled: true, labels: { release: 'prom' }, interval: '30s' },
        prometheusRule: { enabled: true },
      },
    });
    const sm = one<K8sObject & { spec: { endpoints: unknown[]; selector: unknown } }>(objs, 'ServiceMonitor');
    expect(sm.metadata.labels?.release).toBe('prom');
    expect(sm.spec.endpoints).toEqual([
      {
        port: 'https',
        scheme: 'https',
        path: '/metrics',
        interval: '30s',
        tlsConfig: {
          serverName: 'tokenguard.tokenguard-system.svc',
          ca: { secret: { name: 'tokenguard-certificates', key: 'ca.crt' } },
        },
      },
    ]);
    const service = one(objs, 'Service');
    for (const [k, v] of Object.entries((sm.spec.selector as { matchLabels: Record<string, string> }).matchLabels))
      expect(service.metadata.labels?.[k]).toBe(v);
    const rule = one<K8sObject & { spec: { groups: { name: string }[] } }>(objs, 'PrometheusRule');
    expect(rule.spec).toEqual(parse(prometheusRulesFromDocs()));
    expect(JSON.stringify(rule.spec)).toContain('{{ $labels.instance }}');
    const noApiServer = one<K8sObject & { spec: { groups: { name: string }[] } }>(
      helmTemplate({ values: { prometheusRule: { enabled: true, apiServerAlerts: false } } }),
      'PrometheusRule',
    );
    expect(noApiServer.spec.groups.map((g) => g.name)).toEqual(['tokenguard']);
    expect(all(helmTemplate(), 'ServiceMonitor')).toEqual([]);
  });

  it('networkPolicy: ingress on the https port from the given peers; egress to the API server when asked', () => {
    const np = one<K8sObject & { spec: Record<string, unknown> }>(
      helmTemplate({
        values: {
          networkPolicy: {
            enabled: true,
            ingressFrom: [{ ipBlock: { cidr: '10.0.0.0/8' } }],
            egress: { enabled: true, apiServer: [{ ipBlock: { cidr: '192.0.2.10/32' } }], apiServerPorts: [6443] },
          },
        },
      }),
      'NetworkPolicy',
    );
    expect(np.spec).toEqual({
      podSelector: {
        matchLabels: {
          'app.kubernetes.io/name': 'tokenguard',
          'app.kubernetes.io/instance': 'tokenguard',
          'app.kubernetes.io/component': 'webhook',
        },
      },
      policyTypes: ['Ingress', 'Egress'],
      ingress: [{ ports: [{ port: 'https', protocol: 'TCP' }], from: [{ ipBlock: { cidr: '10.0.0.0/8' } }] }],
      egress: [{ ports: [{ port: 6443, protocol: 'TCP' }], to: [{ ipBlock: { cidr: '192.0.2.10/32' } }] }],
    });
  });

  it('values.schema.json refuses unknown keys and wrong values, naming them', () => {
    expect(helmFails({ values: { replica: 2 } })).toMatch(/additional properties 'replica' not allowed/);
    expect(helmFails({ values: { webhooks: { failurePolicy: { validating: 'Sometimes' } } } })).toMatch(/validating/);
    expect(helmFails({ values: { certificates: { source: 'vault' } } })).toMatch(/source/);
    expect(helmFails({ values: { policies: { extra: { 'vault.json': 'x' } } } })).toMatch(/vault\.json/);
    expect(helmFails({ values: { webhooks: { excludedNamespaces: ['Not_A_Namespace'] } } })).toMatch(
      /excludedNamespaces/,
    );
  });
});
