/**
 * Renders deploy/ with the real `kubectl kustomize` (base, every overlay) and checks what a
 * cluster would receive: webhook scoping and lockout protections, least-privilege RBAC, the
 * hardened Deployment, consistent paths and ports, certificates, and the audit-only policies.
 *
 * UPDATE_AUDIT_POLICIES=1 rewrites deploy/components/audit-only/policies/ from policies/.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMap, parse, parseAllDocuments } from 'yaml';
import { generateCertificates, writeCertificates } from '../../../src/certs/generate.js';
import { parsePolicyDocuments } from '../../../src/policy/parse.js';
import { copyInstallTree } from '../../helpers/deploy-tree.js';
import { DOCUMENTED, documentedKustomization, readmePolicy, writeUserOverlay } from '../../helpers/documented.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const NAMESPACE = 'tokenguard-system';
const SHIPPED_POLICY_FILES = ['legacy-token-secrets.yaml', 'automount.yaml', 'token-bounds.yaml'];
const AUDIT_POLICY_DIR = join(ROOT, 'deploy/components/audit-only/policies');
/** Resources a webhook rule may name: pods and secrets, plus the subresources later issues add. */
const ALLOWED_RULE_RESOURCES = new Set([
  'pods',
  'pods/ephemeralcontainers',
  'secrets',
  'serviceaccounts',
  'serviceaccounts/token',
]);
const MUST_EXCLUDE_NAMESPACES = ['kube-system', 'kube-node-lease', NAMESPACE];
const MIRROR_POD_CONDITION =
  "!has(object.metadata.annotations) || !('kubernetes.io/config.mirror' in object.metadata.annotations)";
const READ_VERBS = new Set(['get', 'list', 'watch']);

// ---- minimal shapes of what is asserted ----------------------------------------------------

interface Meta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: Meta;
}
interface Rule {
  apiGroups?: string[];
  apiVersions?: string[];
  operations?: string[];
  resources?: string[];
  scope?: string;
}
interface Webhook {
  name: string;
  admissionReviewVersions?: string[];
  sideEffects?: string;
  failurePolicy?: string;
  matchPolicy?: string;
  reinvocationPolicy?: string;
  timeoutSeconds?: number;
  clientConfig: {
    caBundle?: string;
    url?: string;
    service?: { name: string; namespace: string; path?: string; port?: number };
  };
  rules?: Rule[];
  namespaceSelector?: {
    matchLabels?: Record<string, string>;
    matchExpressions?: { key: string; operator: string; values?: string[] }[];
  };
  objectSelector?: unknown;
  matchConditions?: { name: string; expression: string }[];
}
interface WebhookConfiguration extends K8sObject {
  webhooks: Webhook[];
}
interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
  verbs: string[];
}
interface Probe {
  httpGet?: { scheme?: string; path?: string; port?: string | number };
}
interface SecurityContext {
  runAsNonRoot?: boolean;
  runAsUser?: number;
  readOnlyRootFilesystem?: boolean;
  allowPrivilegeEscalation?: boolean;
  privileged?: boolean;
  capabilities?: { drop?: string[]; add?: string[] };
  seccompProfile?: { type: string };
}
interface Container {
  name: string;
  image: string;
  args?: string[];
  command?: string[];
  ports?: { name?: string; containerPort: number }[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  lifecycle?: { preStop?: { sleep?: { seconds: number }; exec?: unknown } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: SecurityContext;
  volumeMounts?: { name: string; mountPath: string; subPath?: string; subPathExpr?: string; readOnly?: boolean }[];
}
interface PodSpec {
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  priorityClassName?: string;
  terminationGracePeriodSeconds?: number;
  hostNetwork?: boolean;
  hostPID?: boolean;
  hostIPC?: boolean;
  securityContext?: SecurityContext & { fsGroup?: number };
  nodeSelector?: Record<string, string>;
  topologySpreadConstraints?: {
    topologyKey: string;
    whenUnsatisfiable: string;
    maxSkew: number;
    labelSelector?: { matchLabels?: Record<string, string> };
  }[];
  containers: Container[];
  initContainers?: Container[];
  volumes?: { name: string; secret?: { secretName: string }; configMap?: { name: string }; hostPath?: unknown }[];
}
interface Deployment extends K8sObject {
  spec: {
    replicas?: number;
    selector: { matchLabels: Record<string, string> };
    template: { metadata: Meta; spec: PodSpec };
  };
}
interface Service extends K8sObject {
  spec: { selector: Record<string, string>; ports: { name?: string; port: number; targetPort?: string | number }[] };
}

// ---- rendering ------------------------------------------------------------------------------

function findKubectl(): string | undefined {
  const candidates = ['/usr/bin/kubectl', ...(process.env.PATH ?? '').split(delimiter).map((d) => join(d, 'kubectl'))];
  return candidates.find((p) => p && existsSync(p));
}

const KUBECTL = findKubectl();
let work: string;
const rendered = new Map<string, K8sObject[]>();
let selfManagedCa: string;
let selfManagedCert: string;

function kustomize(dir: string): K8sObject[] {
  if (!KUBECTL) throw new Error('kubectl not found: install kubectl (kustomize is built into it) to test deploy/');
  const out = execFileSync(KUBECTL, ['kustomize', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return parseAllDocuments(out).map((d) => {
    if (d.errors.length > 0) throw new Error(`kustomize output does not parse: ${d.errors[0]?.message}`);
    return d.toJS() as K8sObject;
  });
}

/** Installations whose output is checked, with the failurePolicies each must have. */
const INSTALLATIONS = {
  base: { mutating: 'Ignore', validating: 'Fail', audit: false },
  'overlays/cert-manager': { mutating: 'Ignore', validating: 'Fail', audit: false },
  'overlays/self-managed': { mutating: 'Ignore', validating: 'Fail', audit: false },
  'overlays/audit-only': { mutating: 'Ignore', validating: 'Ignore', audit: true },
  'overlays/self-managed-audit-only': { mutating: 'Ignore', validating: 'Ignore', audit: true },
  'overlays/fail-closed-mutating': { mutating: 'Fail', validating: 'Fail', audit: false },
} as const;
type Installation = keyof typeof INSTALLATIONS;
const NAMES = Object.keys(INSTALLATIONS) as Installation[];
/** The real installations (base has no certificate and is not meant to be applied alone). */
const APPLICABLE = NAMES.filter((n) => n !== 'base');

function objects(name: Installation): K8sObject[] {
  const objs = rendered.get(name);
  if (!objs) throw new Error(`${name} was not rendered`);
  return objs;
}
function ofKind<T extends K8sObject>(name: Installation, kind: string): T[] {
  return objects(name).filter((o) => o.kind === kind) as T[];
}
function one<T extends K8sObject>(name: Installation, kind: string, objName?: string): T {
  const found = ofKind<T>(name, kind).filter((o) => objName === undefined || o.metadata.name === objName);
  expect(found).toHaveLength(1);
  return found[0] as T;
}
function webhooks(name: Installation): { kind: string; webhook: Webhook }[] {
  return ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration'].flatMap((kind) =>
    ofKind<WebhookConfiguration>(name, kind).flatMap((c) => c.webhooks.map((webhook) => ({ kind, webhook }))),
  );
}
function podSpec(name: Installation): PodSpec {
  return one<Deployment>(name, 'Deployment', 'tokenguard').spec.template.spec;
}
function container(name: Installation): Container {
  const c = podSpec(name).containers[0];
  if (!c) throw new Error('no container');
  return c;
}

beforeAll(async () => {
  // Render from a copy (without certificates a user generated into deploy/overlays/self-managed),
  // so the self-managed overlay can hold freshly generated ones.
  work = mkdtempSync(join(tmpdir(), 'tokenguard-deploy-'));
  copyInstallTree(ROOT, work);
  const certs = await generateCertificates({ service: 'tokenguard', namespace: NAMESPACE, days: 30 });
  await writeCertificates(join(work, 'deploy/overlays/self-managed'), certs);
  selfManagedCa = certs.caCert;
  selfManagedCert = certs.cert;
  if (process.env.UPDATE_AUDIT_POLICIES === '1') writeAuditPolicies();
  for (const name of NAMES) rendered.set(name, kustomize(join(work, 'deploy', name)));
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

// ---- tests ----------------------------------------------------------------------------------

describe.each(NAMES)('%s: webhook configurations', (name) => {
  it('has one mutating and one validating configuration with the expected webhooks', () => {
    const mutating = one<WebhookConfiguration>(name, 'MutatingWebhookConfiguration', 'tokenguard');
    const validating = one<WebhookConfiguration>(name, 'ValidatingWebhookConfiguration', 'tokenguard');
    expect(mutating.webhooks.map((w) => w.name)).toEqual([
      'mutate.tokenguard.dev',
      'mutate-token-requests.tokenguard.dev',
    ]);
    expect(validating.webhooks.map((w) => w.name)).toEqual([
      'validate-pods.tokenguard.dev',
      'validate-ephemeral-containers.tokenguard.dev',
      'validate-secrets.tokenguard.dev',
      'scan-secrets.tokenguard.dev',
      'validate-token-requests.tokenguard.dev',
    ]);
  });

  it("takes every webhook's excluded namespaces from the one list in base/excluded-namespaces.yaml, which is not applied", () => {
    const list = (
      parse(readFileSync(join(ROOT, 'deploy/base/excluded-namespaces.yaml'), 'utf8')) as { namespaces: string[] }
    ).namespaces;
    expect(list).toEqual(expect.arrayContaining(MUST_EXCLUDE_NAMESPACES));
    for (const { webhook } of webhooks(name)) {
      const e = webhook.namespaceSelector?.matchExpressions?.find(
        (x) => x.key === 'kubernetes.io/metadata.name' && x.operator === 'NotIn',
      );
      expect({ webhook: webhook.name, values: e?.values }).toEqual({ webhook: webhook.name, values: list });
    }
    expect(objects(name).filter((o) => o.kind === 'ExcludedNamespaces')).toEqual([]);
  });

  it('excludes its own namespace, kube-system and kube-node-lease by the immutable name label', () => {
    for (const { webhook } of webhooks(name)) {
      const selector = webhook.namespaceSelector;
      expect(selector?.matchLabels).toBeUndefined();
      const exclusions = (selector?.matchExpressions ?? []).filter(
        (e) => e.key === 'kubernetes.io/metadata.name' && e.operator === 'NotIn',
      );
      expect(exclusions).toHaveLength(1);
      expect(exclusions[0]?.values).toEqual(expect.arrayContaining(MUST_EXCLUDE_NAMESPACES));
      expect(webhook.objectSelector).toBeUndefined();
    }
  });

  it('is side-effect free, speaks only admission v1, matches equivalent versions, and times out quickly', () => {
    for (const { webhook } of webhooks(name)) {
      expect(webhook.sideEffects).toBe('None');
      expect(webhook.admissionReviewVersions).toEqual(['v1']);
      expect(webhook.matchPolicy).toBe('Equivalent');
      expect(webhook.timeoutSeconds).toBeGreaterThanOrEqual(1);
      expect(webhook.timeoutSeconds).toBeLessThanOrEqual(10);
    }
  });

  it('matches only CREATE of pods and secrets in the core group (plus allowed token subresources)', () => {
    for (const { webhook } of webhooks(name)) {
      expect(webhook.rules?.length).toBeGreaterThan(0);
      for (const rule of webhook.rules ?? []) {
        expect(rule.apiGroups).toEqual(['']);
        expect(rule.apiVersions).toEqual(['v1']);
        expect(rule.scope).toBe('Namespaced');
        for (const r of rule.resources ?? []) expect(ALLOWED_RULE_RESOURCES).toContain(r);
        expect(rule.operations).not.toContain('*');
        expect(rule.operations).not.toContain('DELETE');
        expect(rule.operations).not.toContain('CONNECT');
      }
    }
    const resources = (w: string) =>
      webhooks(name)
        .find((x) => x.webhook.name === w)
        ?.webhook.rules?.flatMap((r) => r.resources);
    expect(resources('mutate.tokenguard.dev')).toEqual(['pods']);
    expect(resources('validate-pods.tokenguard.dev')).toEqual(['pods']);
    expect(resources('validate-ephemeral-containers.tokenguard.dev')).toEqual(['pods/ephemeralcontainers']);
    expect(resources('validate-secrets.tokenguard.dev')).toEqual(['secrets']);
    expect(resources('scan-secrets.tokenguard.dev')).toEqual(['secrets']);
    expect(resources('validate-token-requests.tokenguard.dev')).toEqual(['serviceaccounts/token']);
    expect(resources('mutate-token-requests.tokenguard.dev')).toEqual(['serviceaccounts/token']);
    // Only the embedded-token scan sees UPDATEs of Secrets (and only of Secrets that are not
    // token Secrets); pods are seen on CREATE, and on UPDATE only of pods/ephemeralcontainers.
    const ops = (w: string) =>
      webhooks(name)
        .find((x) => x.webhook.name === w)
        ?.webhook.rules?.flatMap((r) => r.operations);
    const want: Record<string, string[]> = {
      'scan-secrets.tokenguard.dev': ['CREATE', 'UPDATE'],
      'validate-ephemeral-containers.tokenguard.dev': ['UPDATE'],
    };
    for (const { webhook } of webhooks(name)) expect(ops(webhook.name)).toEqual(want[webhook.name] ?? ['CREATE']);
  });

  it('skips mirror pods on every pod webhook, and calls the secrets webhook only for token Secrets', () => {
    for (const { webhook } of webhooks(name)) {
      const expressions = (webhook.matchConditions ?? []).map((c) => c.expression);
      const onPods = webhook.rules?.some((r) => r.resources?.some((x) => x.startsWith('pods')));
      if (onPods) expect(expressions).toContain(MIRROR_POD_CONDITION);
      if (webhook.name === 'validate-secrets.tokenguard.dev') {
        expect(expressions).toEqual(["has(object.type) && object.type == 'kubernetes.io/service-account-token'"]);
      }
      if (webhook.name === 'scan-secrets.tokenguard.dev') {
        expect(expressions).toEqual(["!has(object.type) || object.type != 'kubernetes.io/service-account-token'"]);
      }
      // The kubelet's token requests (every pod's projected tokens) must never depend on tokenguard.
      if (webhook.rules?.some((r) => r.resources?.includes('serviceaccounts/token'))) {
        expect(expressions).toEqual(["!has(request.userInfo.groups) || !('system:nodes' in request.userInfo.groups)"]);
      }
    }
  });

  it('sends /mutate and /validate to the tokenguard Service on its port', () => {
    const service = one<Service>(name, 'Service', 'tokenguard');
    for (const { kind, webhook } of webhooks(name)) {
      expect(webhook.clientConfig.url).toBeUndefined();
      const svc = webhook.clientConfig.service;
      expect(svc?.name).toBe(service.metadata.name);
      expect(svc?.namespace).toBe(service.metadata.namespace);
      expect(service.spec.ports.map((p) => p.port)).toContain(svc?.port ?? 443);
      expect(svc?.path).toBe(kind === 'MutatingWebhookConfiguration' ? '/mutate' : '/validate');
    }
    const mutate = webhooks(name).find((w) => w.webhook.name === 'mutate.tokenguard.dev')?.webhook;
    expect(mutate?.reinvocationPolicy).toBe('IfNeeded');
    const mutateTokens = webhooks(name).find((w) => w.webhook.name === 'mutate-token-requests.tokenguard.dev')?.webhook;
    expect(mutateTokens?.reinvocationPolicy).toBe('Never');
  });

  it('has the documented failurePolicy choice', () => {
    const expected = INSTALLATIONS[name];
    // The detective webhooks (embedded-token scan, token requests) always fail open.
    const detective = [
      'scan-secrets.tokenguard.dev',
      'validate-token-requests.tokenguard.dev',
      'mutate-token-requests.tokenguard.dev',
    ];
    for (const { kind, webhook } of webhooks(name)) {
      const want = detective.includes(webhook.name)
        ? 'Ignore'
        : kind === 'MutatingWebhookConfiguration'
          ? expected.mutating
          : expected.validating;
      expect({ name: webhook.name, failurePolicy: webhook.failurePolicy }).toEqual({
        name: webhook.name,
        failurePolicy: want,
      });
    }
  });
});

describe.each(NAMES)('%s: RBAC', (name) => {
  it('grants nothing on secrets and no write verb, only reads of the objects tokenguard looks up', () => {
    const roles = objects(name).filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role') as (K8sObject & {
      rules?: PolicyRule[];
    })[];
    expect(roles.map((r) => `${r.kind}/${r.metadata.name}`)).toEqual(['ClusterRole/tokenguard']);
    const granted: string[] = [];
    for (const role of roles) {
      for (const rule of role.rules ?? []) {
        expect(rule.nonResourceURLs).toBeUndefined();
        expect(rule.resources).not.toContain('secrets');
        expect(rule.resources).not.toContain('*');
        expect(rule.apiGroups).not.toContain('*');
        for (const verb of rule.verbs) expect(READ_VERBS).toContain(verb);
        for (const g of rule.apiGroups ?? []) for (const r of rule.resources ?? []) granted.push(`${g}/${r}`);
      }
    }
    expect(granted.sort()).toEqual(
      [
        '/namespaces',
        '/serviceaccounts',
        'rbac.authorization.k8s.io/clusterrolebindings',
        'rbac.authorization.k8s.io/rolebindings',
      ].sort(),
    );
    expect(ofKind(name, 'Role')).toHaveLength(0);
    expect(ofKind(name, 'RoleBinding')).toHaveLength(0);
  });

  it('binds the ClusterRole to the tokenguard ServiceAccount only', () => {
    const binding = one<
      K8sObject & {
        roleRef: { kind: string; name: string };
        subjects: { kind: string; name: string; namespace?: string }[];
      }
    >(name, 'ClusterRoleBinding', 'tokenguard');
    expect(binding.roleRef).toMatchObject({ kind: 'ClusterRole', name: 'tokenguard' });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'tokenguard', namespace: NAMESPACE }]);
    expect(podSpec(name).serviceAccountName).toBe('tokenguard');
    one(name, 'ServiceAccount', 'tokenguard');
  });
});

describe.each(NAMES)('%s: Deployment, Service, PDB', (name) => {
  it('puts every namespaced object into tokenguard-system, and creates that namespace', () => {
    const clusterScoped = new Set([
      'Namespace',
      'ClusterRole',
      'ClusterRoleBinding',
      'MutatingWebhookConfiguration',
      'ValidatingWebhookConfiguration',
    ]);
    for (const o of objects(name)) {
      if (clusterScoped.has(o.kind)) expect(o.metadata.namespace).toBeUndefined();
      else
        expect(`${o.kind}/${o.metadata.name} in ${o.metadata.namespace}`).toBe(
          `${o.kind}/${o.metadata.name} in ${NAMESPACE}`,
        );
    }
    one(name, 'Namespace', NAMESPACE);
  });

  it('runs 2 replicas spread across nodes and zones, protected by a PDB and a critical priority', () => {
    const deployment = one<Deployment>(name, 'Deployment', 'tokenguard');
    expect(deployment.spec.replicas).toBe(2);
    const spec = podSpec(name);
    expect(spec.priorityClassName).toBe('system-cluster-critical');
    const spread = spec.topologySpreadConstraints ?? [];
    expect(spread.find((c) => c.topologyKey === 'kubernetes.io/hostname')).toBeDefined();
    expect(spread.find((c) => c.topologyKey === 'topology.kubernetes.io/zone')?.whenUnsatisfiable).toBe(
      'ScheduleAnyway',
    );
    for (const c of spread) expect(c.labelSelector?.matchLabels).toEqual(deployment.spec.selector.matchLabels);
    const pdb = one<K8sObject & { spec: { minAvailable?: number; selector: { matchLabels: Record<string, string> } } }>(
      name,
      'PodDisruptionBudget',
      'tokenguard',
    );
    expect(pdb.spec.minAvailable).toBe(1);
    expect(pdb.spec.selector.matchLabels).toEqual(deployment.spec.selector.matchLabels);
    expect(deployment.spec.template.metadata.labels).toMatchObject(deployment.spec.selector.matchLabels);
  });

  it('is hardened: non-root 65532, read-only root, no privilege escalation, no capabilities, RuntimeDefault seccomp', () => {
    const spec = podSpec(name);
    expect(spec.hostNetwork ?? false).toBe(false);
    expect(spec.hostPID ?? false).toBe(false);
    expect(spec.hostIPC ?? false).toBe(false);
    expect(spec.initContainers ?? []).toHaveLength(0);
    expect(spec.containers).toHaveLength(1);
    const pod = spec.securityContext ?? {};
    const c = container(name).securityContext ?? {};
    expect(c.runAsNonRoot ?? pod.runAsNonRoot).toBe(true);
    expect(c.runAsUser ?? pod.runAsUser).toBe(65532);
    expect(c.readOnlyRootFilesystem).toBe(true);
    expect(c.allowPrivilegeEscalation).toBe(false);
    expect(c.privileged ?? false).toBe(false);
    expect(c.capabilities?.drop).toEqual(['ALL']);
    expect(c.capabilities?.add).toBeUndefined();
    expect((c.seccompProfile ?? pod.seccompProfile)?.type).toBe('RuntimeDefault');
    expect(spec.automountServiceAccountToken).toBe(true);
    for (const v of spec.volumes ?? []) expect(v.hostPath).toBeUndefined();
  });

  it('runs on Linux nodes, labels its pods part-of tokenguard, and names the published image', () => {
    const deployment = one<Deployment>(name, 'Deployment', 'tokenguard');
    expect(podSpec(name).nodeSelector).toEqual({ 'kubernetes.io/os': 'linux' });
    expect(deployment.spec.template.metadata.labels).toMatchObject({
      'app.kubernetes.io/name': 'tokenguard',
      'app.kubernetes.io/part-of': 'tokenguard',
    });
    const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    expect(container(name).image).toBe(`ghcr.io/tokenguard/tokenguard:${version}`);
  });

  it('serves HTTPS on 8443 named https, probed on /readyz and /healthz, with the documented arguments', () => {
    const c = container(name);
    expect(c.command).toBeUndefined(); // the image's ENTRYPOINT runs the CLI
    expect(c.ports).toEqual([{ name: 'https', containerPort: 8443, protocol: 'TCP' }]);
    expect(c.args).toEqual([
      'serve',
      '--port',
      '8443',
      '--tls-cert',
      '/etc/tokenguard/tls/tls.crt',
      '--tls-key',
      '/etc/tokenguard/tls/tls.key',
      '--policies',
      '/etc/tokenguard/policies',
    ]);
    expect(c.readinessProbe?.httpGet).toEqual({ scheme: 'HTTPS', path: '/readyz', port: 'https' });
    expect(c.livenessProbe?.httpGet).toEqual({ scheme: 'HTTPS', path: '/healthz', port: 'https' });
    expect(c.resources).toEqual({ requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } });
  });

  it('waits for endpoint propagation before stopping, within the grace period', () => {
    const spec = podSpec(name);
    const sleep = container(name).lifecycle?.preStop?.sleep?.seconds ?? 0;
    expect(sleep).toBeGreaterThanOrEqual(5);
    expect(spec.terminationGracePeriodSeconds).toBe(30);
    expect(sleep).toBeLessThan((spec.terminationGracePeriodSeconds ?? 30) - 10);
  });

  it('mounts the TLS Secret and the policies ConfigMap as directories (never subPath) where the args point', () => {
    const spec = podSpec(name);
    const mounts = container(name).volumeMounts ?? [];
    for (const m of mounts) {
      expect(m.subPath).toBeUndefined();
      expect(m.subPathExpr).toBeUndefined();
    }
    const volume = (n: string) => spec.volumes?.find((v) => v.name === n);
    const tls = mounts.find((m) => m.mountPath === '/etc/tokenguard/tls');
    const policies = mounts.find((m) => m.mountPath === '/etc/tokenguard/policies');
    expect(tls?.readOnly).toBe(true);
    expect(policies?.readOnly).toBe(true);
    expect(volume(tls?.name ?? '')?.secret?.secretName).toBe('tokenguard-tls');
    expect(volume(policies?.name ?? '')?.configMap?.name).toBe('tokenguard-policies');
  });

  it('exposes port 443 on the Service, targeting the container port by name', () => {
    const service = one<Service>(name, 'Service', 'tokenguard');
    expect(service.spec.ports).toEqual([{ name: 'https', port: 443, targetPort: 'https', protocol: 'TCP' }]);
    const deployment = one<Deployment>(name, 'Deployment', 'tokenguard');
    expect(deployment.spec.template.metadata.labels).toMatchObject(service.spec.selector);
    expect(container(name).ports?.map((p) => p.name)).toContain(service.spec.ports[0]?.targetPort);
  });

  it('ships the three policy files as valid TokenPolicy documents in the ConfigMap', () => {
    const cm = one<K8sObject & { data: Record<string, string> }>(name, 'ConfigMap', 'tokenguard-policies');
    expect(Object.keys(cm.data).sort()).toEqual([...SHIPPED_POLICY_FILES].sort());
    for (const [file, text] of Object.entries(cm.data)) {
      const parsed = parsePolicyDocuments(text, file);
      expect(parsed.errors).toEqual([]);
      expect(parsed.policies.length).toBeGreaterThan(0);
      const modes = parsed.policies.map((p) => p.spec.mode);
      if (INSTALLATIONS[name].audit) expect(modes.every((m) => m === 'Audit')).toBe(true);
    }
    if (!INSTALLATIONS[name].audit) {
      for (const file of SHIPPED_POLICY_FILES)
        expect(cm.data[file]).toBe(readFileSync(join(ROOT, 'policies', file), 'utf8'));
    }
  });
});

describe.each(APPLICABLE)('%s: serving certificate', (name) => {
  it('provides the Secret tokenguard-tls the Deployment mounts, and a CA for every webhook', () => {
    const viaCertManager = ofKind(name, 'Certificate').length > 0;
    const viaSecret = ofKind(name, 'Secret').length > 0;
    expect(viaCertManager !== viaSecret).toBe(true);
    for (const c of ofKind<WebhookConfiguration>(name, 'MutatingWebhookConfiguration').concat(
      ofKind<WebhookConfiguration>(name, 'ValidatingWebhookConfiguration'),
    )) {
      const injected = c.metadata.annotations?.['cert-manager.io/inject-ca-from'];
      if (viaCertManager) expect(injected).toBe(`${NAMESPACE}/tokenguard-tls`);
      else for (const w of c.webhooks) expect(w.clientConfig.caBundle).toBeTruthy();
    }
  });
});

describe('base', () => {
  it('leaves the certificate to an overlay: no Secret, no caBundle, no injection', () => {
    expect(ofKind('base', 'Secret')).toHaveLength(0);
    for (const { webhook } of webhooks('base')) expect(webhook.clientConfig.caBundle).toBeUndefined();
  });

  it('renders straight from the repository with kubectl kustomize', () => {
    expect(kustomize(join(ROOT, 'deploy/base'))).toEqual(objects('base'));
  });
});

describe('no installation ships a NetworkPolicy or client authentication by itself', () => {
  it.each(NAMES)('%s', (name) => {
    expect(ofKind(name, 'NetworkPolicy')).toHaveLength(0);
    expect(container(name).args).not.toContain('--client-ca');
  });
});

interface NetworkPolicy extends K8sObject {
  spec: {
    podSelector: { matchLabels?: Record<string, string> };
    policyTypes: string[];
    ingress?: {
      from?: { ipBlock?: { cidr: string; except?: string[] }; namespaceSelector?: unknown; podSelector?: unknown }[];
      ports?: { protocol?: string; port: string | number }[];
    }[];
    egress?: unknown;
  };
}

/** Renders a kustomization of `body` (YAML) written into a new folder of the working copy. */
function renderCustom(folder: string, body: string): K8sObject[] {
  const dir = join(work, 'custom', folder);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'kustomization.yaml'), body);
  return kustomize(dir);
}

/** A valid IPv4 or IPv6 CIDR, as the API server's validation requires. */
function isCidr(cidr: string): boolean {
  const [address, bits, ...rest] = cidr.split('/');
  if (rest.length > 0 || address === undefined || bits === undefined || !/^\d{1,3}$/.test(bits)) return false;
  const kind = isIP(address);
  return kind !== 0 && Number(bits) <= (kind === 4 ? 32 : 128);
}

describe('components/network-policy', () => {
  const withComponent = (patch: string) => `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../deploy/overlays/cert-manager
components:
  - ../../deploy/components/network-policy
${patch}`;

  it("as shipped, holds a placeholder that is no CIDR, so the API server refuses it until the API server's range is set", () => {
    const policy = renderCustom('np-unset', withComponent('')).filter(
      (o) => o.kind === 'NetworkPolicy',
    ) as NetworkPolicy[];
    expect(policy).toHaveLength(1);
    const cidr = policy[0]?.spec.ingress?.[0]?.from?.[0]?.ipBlock?.cidr ?? '';
    expect(cidr).toBe('SET-THE-API-SERVER-CIDR');
    expect(isCidr(cidr)).toBe(false);
    expect(isCidr('10.0.0.0/24')).toBe(true); // the check itself
  });

  it('with the range patched in as its comment shows: ingress to the webhook pods only, only from there, only to the webhook port; egress left alone', () => {
    const objs = renderCustom(
      'np-set',
      withComponent(`patches:
  - target: { kind: NetworkPolicy, name: tokenguard }
    patch: |-
      - op: replace
        path: /spec/ingress/0/from
        value:
          - ipBlock: { cidr: 10.0.0.0/24 }
`),
    );
    const policy = objs.find((o) => o.kind === 'NetworkPolicy') as NetworkPolicy;
    expect(policy.metadata.namespace).toBe(NAMESPACE);
    const deployment = objs.find((o) => o.kind === 'Deployment') as Deployment;
    expect(deployment.spec.template.metadata.labels).toMatchObject(
      policy.spec.podSelector.matchLabels ?? { missing: 'selector' },
    );
    expect(Object.keys(policy.spec.podSelector.matchLabels ?? {}).length).toBeGreaterThan(0);
    expect(policy.spec.policyTypes).toEqual(['Ingress']);
    expect(policy.spec.egress).toBeUndefined();
    expect(policy.spec.ingress).toEqual([
      { from: [{ ipBlock: { cidr: '10.0.0.0/24' } }], ports: [{ protocol: 'TCP', port: 'https' }] },
    ]);
    const port = deployment.spec.template.spec.containers[0]?.ports?.find((p) => p.name === 'https');
    expect(port?.containerPort).toBe(8443);
    // The rest of the installation is untouched.
    expect(objs.filter((o) => o.kind !== 'NetworkPolicy')).toEqual(objects('overlays/cert-manager'));
  });
});

describe('components/client-auth', () => {
  it("makes the webhooks require the API server's client certificate, from a mounted ConfigMap, and changes nothing else", () => {
    const objs = renderCustom(
      'client-auth',
      `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../deploy/overlays/cert-manager
components:
  - ../../deploy/components/client-auth
`,
    );
    const deployment = objs.find((o) => o.kind === 'Deployment') as Deployment;
    const c = deployment.spec.template.spec.containers[0] as Container;
    const base = container('overlays/cert-manager');
    expect(c.args).toEqual([
      ...(base.args ?? []),
      '--client-ca',
      '/etc/tokenguard/client-ca/ca.crt',
      '--client-subject',
      'kube-apiserver',
    ]);
    const mount = c.volumeMounts?.find((m) => m.mountPath === '/etc/tokenguard/client-ca');
    expect(mount).toMatchObject({ readOnly: true });
    expect(mount?.subPath).toBeUndefined();
    const volume = deployment.spec.template.spec.volumes?.find((v) => v.name === mount?.name);
    expect(volume?.configMap?.name).toBe('tokenguard-client-ca');
    expect(objs.filter((o) => o.kind !== 'Deployment')).toEqual(
      objects('overlays/cert-manager').filter((o) => o.kind !== 'Deployment'),
    );
  });
});

describe('overlays/cert-manager', () => {
  it('issues tokenguard-tls from a private CA for every service name, and injects that CA', () => {
    const certificate = one<K8sObject & { spec: Record<string, unknown> }>(
      'overlays/cert-manager',
      'Certificate',
      'tokenguard-tls',
    );
    expect(certificate.spec.secretName).toBe('tokenguard-tls');
    expect(certificate.spec.dnsNames).toEqual([
      'tokenguard',
      'tokenguard.tokenguard-system',
      'tokenguard.tokenguard-system.svc',
      'tokenguard.tokenguard-system.svc.cluster.local',
    ]);
    expect(certificate.spec.usages).toContain('server auth');
    expect(certificate.spec.issuerRef).toEqual({ kind: 'Issuer', name: 'tokenguard-ca' });
    const ca = one<K8sObject & { spec: Record<string, unknown> }>(
      'overlays/cert-manager',
      'Certificate',
      'tokenguard-ca',
    );
    expect(ca.spec.isCA).toBe(true);
    expect(ca.spec.issuerRef).toEqual({ kind: 'Issuer', name: 'tokenguard-selfsigned' });
    const caIssuer = one<K8sObject & { spec: { ca?: { secretName: string } } }>(
      'overlays/cert-manager',
      'Issuer',
      'tokenguard-ca',
    );
    expect(caIssuer.spec.ca?.secretName).toBe(ca.spec.secretName);
    one('overlays/cert-manager', 'Issuer', 'tokenguard-selfsigned');
    for (const { webhook } of webhooks('overlays/cert-manager')) expect(webhook.clientConfig.caBundle).toBeUndefined();
  });
});

describe.each(['overlays/self-managed', 'overlays/self-managed-audit-only'] as const)('%s', (name) => {
  it('patches the generated CA into every webhook as base64 PEM, and it verifies the served certificate', () => {
    const all = webhooks(name);
    expect(all).toHaveLength(7);
    for (const { webhook } of all) {
      const bundle = webhook.clientConfig.caBundle ?? '';
      expect(bundle).toMatch(/^[A-Za-z0-9+/]+={0,2}$/);
      const pem = Buffer.from(bundle, 'base64').toString('utf8');
      expect(pem).toBe(selfManagedCa);
      const ca = new X509Certificate(pem);
      expect(ca.ca).toBe(true);
    }
    const secret = one<K8sObject & { type: string; data: Record<string, string> }>(name, 'Secret', 'tokenguard-tls');
    expect(secret.type).toBe('kubernetes.io/tls');
    expect(Object.keys(secret.data).sort()).toEqual(['ca.crt', 'tls.crt', 'tls.key']);
    // ca.crt (for a ServiceMonitor's tlsConfig) is the CA itself, never its key.
    expect(Buffer.from(secret.data['ca.crt'] ?? '', 'base64').toString('utf8')).toBe(selfManagedCa);
    const served = new X509Certificate(Buffer.from(secret.data['tls.crt'] ?? '', 'base64'));
    expect(served.toString()).toBe(new X509Certificate(selfManagedCert).toString());
    expect(served.verify(new X509Certificate(selfManagedCa).publicKey)).toBe(true);
    expect(served.checkHost('tokenguard.tokenguard-system.svc')).toBeDefined();
  });

  it('keeps the caBundle carrier ConfigMap out of the output', () => {
    expect(ofKind(name, 'ConfigMap').map((c) => c.metadata.name)).toEqual(['tokenguard-policies']);
  });
});

describe('overlays/self-managed-controller', () => {
  const name = 'deploy/overlays/self-managed-controller';
  let objs: K8sObject[] = [];
  beforeAll(() => {
    objs = kustomize(join(work, name));
  });
  const named = (kind: string, n: string) => objs.filter((o) => o.kind === kind && o.metadata.name === n);

  it('runs the certificate controller, naming the Secret, Lease, Service and webhook configurations it installs', () => {
    const d = named('Deployment', 'tokenguard')[0] as Deployment;
    const c = d.spec.template.spec.containers[0] as Container & { env?: { name: string; valueFrom?: unknown }[] };
    expect(c.args).toEqual([
      'serve',
      '--port',
      '8443',
      '--manage-certificates',
      '--certificate-secret',
      'tokenguard-certificates',
      '--leader-election-lease',
      'tokenguard-certificates',
      '--certificate-service',
      'tokenguard',
      '--validating-webhook-configuration',
      'tokenguard',
      '--mutating-webhook-configuration',
      'tokenguard',
      '--certificate-dir',
      '/tmp/certificates',
      '--policies',
      '/etc/tokenguard/policies',
    ]);
    expect(named('Service', 'tokenguard')).toHaveLength(1);
    expect(named('MutatingWebhookConfiguration', 'tokenguard')).toHaveLength(1);
    expect(named('ValidatingWebhookConfiguration', 'tokenguard')).toHaveLength(1);
    expect(c.env?.find((e) => e.name === 'POD_NAMESPACE')).toEqual({
      name: 'POD_NAMESPACE',
      valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } },
    });
    // The certificate directory is in the writable in-memory /tmp volume; no TLS Secret is mounted.
    expect(d.spec.template.spec.volumes?.map((v) => v.name)).toEqual(['policies', 'tmp']);
    expect(c.volumeMounts?.map((m) => m.mountPath)).toEqual(['/etc/tokenguard/policies', '/tmp']);
  });

  it('ships no Secret and no caBundle: the controller makes both, and re-applying the overlay leaves them', () => {
    expect(objs.filter((o) => o.kind === 'Secret')).toEqual([]);
    for (const kind of ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']) {
      for (const w of (named(kind, 'tokenguard')[0] as WebhookConfiguration).webhooks)
        expect(w.clientConfig.caBundle).toBeUndefined();
    }
  });

  it('grants the controller its Secret and Lease by name, create on both, and get/patch of the two configurations by name only', () => {
    const role = named('Role', 'tokenguard-certificates')[0] as K8sObject & { rules: PolicyRule[] };
    expect(role.metadata.namespace).toBe(NAMESPACE);
    expect(role.rules).toEqual([
      {
        apiGroups: [''],
        resources: ['secrets'],
        resourceNames: ['tokenguard-certificates'],
        verbs: ['get', 'update', 'patch'],
      },
      {
        apiGroups: ['coordination.k8s.io'],
        resources: ['leases'],
        resourceNames: ['tokenguard-certificates'],
        verbs: ['get', 'update', 'patch'],
      },
      { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
    ]);
    const clusterRole = named('ClusterRole', 'tokenguard-certificates')[0] as K8sObject & { rules: PolicyRule[] };
    expect(clusterRole.rules).toEqual([
      {
        apiGroups: ['admissionregistration.k8s.io'],
        resources: ['validatingwebhookconfigurations', 'mutatingwebhookconfigurations'],
        resourceNames: ['tokenguard'],
        verbs: ['get', 'patch'],
      },
    ]);
    const subjects = [{ kind: 'ServiceAccount', name: 'tokenguard', namespace: NAMESPACE }];
    expect((named('RoleBinding', 'tokenguard-certificates')[0] as K8sObject & { subjects: unknown }).subjects).toEqual(
      subjects,
    );
    expect(
      (named('ClusterRoleBinding', 'tokenguard-certificates')[0] as K8sObject & { subjects: unknown }).subjects,
    ).toEqual(subjects);
  });

  it('changes nothing else of the base', () => {
    const controllerOnly = new Set([
      'Role/tokenguard-certificates',
      'RoleBinding/tokenguard-certificates',
      'ClusterRole/tokenguard-certificates',
      'ClusterRoleBinding/tokenguard-certificates',
      'Deployment/tokenguard',
    ]);
    expect(objs.filter((o) => !controllerOnly.has(`${o.kind}/${o.metadata.name}`))).toEqual(
      objects('base').filter((o) => o.kind !== 'Deployment'),
    );
  });
});

describe('overlays/self-managed without certificates', () => {
  it('refuses to render, naming the missing file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tokenguard-deploy-nocerts-'));
    try {
      copyInstallTree(ROOT, dir);
      for (const f of ['tls.crt', 'tls.key', 'ca.crt', 'ca.key', 'caBundle']) {
        rmSync(join(dir, 'deploy/overlays/self-managed', f), { force: true });
      }
      expect(() => kustomize(join(dir, 'deploy/overlays/self-managed'))).toThrow(/tls\.crt|caBundle/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the kustomizations deploy/README.md shows users', () => {
  const overlay = (n: string, text: string, files?: Record<string, string>) =>
    kustomize(writeUserOverlay(join(work, 'user', n), text.replaceAll('../tokenguard/', '../../'), files));

  it('your own policies: a configMapGenerator merge adds policies/vault.yaml to the shipped ones in the served ConfigMap', () => {
    const vault = readmePolicy();
    const objs = overlay('own-policies', documentedKustomization(DOCUMENTED.ownPolicies, 'own policies'), {
      'policies/vault.yaml': vault,
    });
    const cms = objs.filter((o) => o.kind === 'ConfigMap') as (K8sObject & { data: Record<string, string> })[];
    expect(cms.map((c) => `${c.metadata.namespace}/${c.metadata.name}`)).toEqual([`${NAMESPACE}/tokenguard-policies`]);
    expect(Object.keys(cms[0]?.data ?? {}).sort()).toEqual([...SHIPPED_POLICY_FILES, 'vault.yaml'].sort());
    expect(cms[0]?.data['vault.yaml']).toBe(vault);
    expect(parsePolicyDocuments(vault, 'vault.yaml').errors).toEqual([]);
    const deployment = objs.find((o) => o.kind === 'Deployment') as Deployment;
    expect(deployment.spec.template.spec.volumes?.find((v) => v.name === 'policies')?.configMap?.name).toBe(
      'tokenguard-policies',
    );
  });

  it('excluded namespaces: one patch of the list adds the namespace to all seven webhooks and keeps the defaults', () => {
    const objs = overlay('excluded', documentedKustomization(DOCUMENTED.excludedNamespaces, 'excluded namespaces'));
    const hooks = objs
      .filter((o) => o.kind.endsWith('WebhookConfiguration'))
      .flatMap((c) => (c as WebhookConfiguration).webhooks);
    expect(hooks).toHaveLength(7);
    for (const w of hooks) {
      const e = w.namespaceSelector?.matchExpressions?.find((x) => x.key === 'kubernetes.io/metadata.name');
      expect({ webhook: w.name, values: e?.values }).toEqual({
        webhook: w.name,
        values: [...MUST_EXCLUDE_NAMESPACES, 'cert-manager'],
      });
    }
    expect(objs.filter((o) => o.kind === 'ExcludedNamespaces')).toEqual([]);
  });

  it("the image: an images: entry for the published name changes the Deployment's image", () => {
    const objs = overlay('image', documentedKustomization(DOCUMENTED.image, 'the image'));
    const d = objs.find((o) => o.kind === 'Deployment') as Deployment;
    expect(d.spec.template.spec.containers.map((c) => c.image)).toEqual([
      'registry.example/platform/tokenguard:0.1.0-patched',
    ]);
  });
});

describe('audit-only policies', () => {
  it('are the shipped policies with every spec.mode set to Audit (regenerate with UPDATE_AUDIT_POLICIES=1)', () => {
    expect(readdirSync(AUDIT_POLICY_DIR).sort()).toEqual([...SHIPPED_POLICY_FILES].sort());
    for (const file of SHIPPED_POLICY_FILES) {
      const original = parseAllDocuments(readFileSync(join(ROOT, 'policies', file), 'utf8')).map(
        (d) => d.toJS() as { spec: { mode: string } },
      );
      const audit = parseAllDocuments(readFileSync(join(AUDIT_POLICY_DIR, file), 'utf8')).map(
        (d) => d.toJS() as { spec: { mode: string } },
      );
      expect(audit.map((d) => d.spec.mode)).toEqual(original.map(() => 'Audit'));
      expect(audit).toEqual(original.map((d) => ({ ...d, spec: { ...d.spec, mode: 'Audit' } })));
    }
  });
});

/** Rewrites the audit-only copies from policies/, keeping comments. */
function writeAuditPolicies(): void {
  for (const file of SHIPPED_POLICY_FILES) {
    // Each document keeps its own comments and `---` marker.
    const docs = parseAllDocuments(readFileSync(join(ROOT, 'policies', file), 'utf8'));
    const out = docs.map((doc) => {
      if (isMap(doc.contents)) doc.setIn(['spec', 'mode'], 'Audit');
      return doc.toString({ flowCollectionPadding: false });
    });
    const header = `# GENERATED from policies/${file} with spec.mode: Audit; do not edit.\n# Regenerate: UPDATE_AUDIT_POLICIES=1 npm run test:unit -- test/unit/deploy\n`;
    writeFileSync(join(AUDIT_POLICY_DIR, file), header + out.join(''));
    cpSync(join(AUDIT_POLICY_DIR, file), join(work, 'deploy/components/audit-only/policies', file));
  }
}

describe('Dockerfile', () => {
  const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const stages = dockerfile.split(/^FROM /m).slice(1);
  const runtime = stages[stages.length - 1] ?? '';

  it('runs the CLI as uid 65532, matching the Deployment, with serve as the default command', () => {
    expect(runtime).toMatch(/^USER 65532:65532$/m);
    // Node.js flags between node and the script: the initial old generation (docs/decisions.md "Performance").
    expect(runtime).toMatch(/^ENTRYPOINT \["node", "--initial-old-space-size=48", "dist\/cli\/main\.js"\]$/m);
    expect(runtime).toMatch(/^CMD \["serve"\]$/m);
    expect(container('base').securityContext?.runAsUser).toBe(65532);
    expect(container('base').args?.[0]).toBe('serve');
  });

  it('builds with npm ci and ships production dependencies, dist/, policies/ and package.json only', () => {
    expect(stages.some((s) => /RUN npm ci\b/.test(s) && /RUN npm run build/.test(s))).toBe(true);
    const deps = stages.find((s) => / AS deps/.test(s.split('\n')[0] ?? '')) ?? '';
    expect(deps).toMatch(/npm ci --omit=dev/);
    const copies = runtime.split('\n').filter((l) => l.startsWith('COPY'));
    expect(copies.map((l) => l.split(' ').pop())).toEqual(['./package.json', './node_modules', './dist', './policies']);
    expect(runtime).toMatch(/COPY --from=deps .*\/app\/node_modules/);
    expect(runtime).toMatch(/COPY --from=build .*\/app\/dist/);
  });

  it('keeps keys, certificates and local state out of the build context', () => {
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n');
    for (const entry of [
      'node_modules',
      'dist',
      '.git',
      'certs',
      'deploy',
      'test',
      '**/*.key',
      '**/*.crt',
      '**/caBundle',
    ]) {
      expect(ignored).toContain(entry);
    }
  });
});
