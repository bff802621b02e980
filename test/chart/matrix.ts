/**
 * The values matrix the chart is tested with: `helm lint --strict` and `helm template` on Helm 4
 * and 3 (test/chart/chart.test.ts), and every rendering applied with a server-side dry run to the
 * e2e suite's API server (test/e2e/20-chart.e2e.test.ts). Between them the cases turn on every
 * value the chart has.
 */

/** PEM texts of a CA, a serving certificate and its key (from `tokenguard certs generate`). */
export interface Certs {
  caCert: string;
  cert: string;
  key: string;
}

export type ChartValues = Record<string, unknown>;

export const CHART_MATRIX: Record<string, (certs: Certs) => ChartValues> = {
  defaults: () => ({}),
  'certificate controller with more names': () => ({
    certificates: {
      selfManaged: { controller: true, dnsNames: ['tokenguard.example.com'], ipAddresses: ['127.0.0.1', '::1'] },
    },
  }),
  'self-managed, chart-generated': () => ({
    certificates: { selfManaged: { controller: false, caDays: 730, days: 90 } },
  }),
  'self-managed from files': (c) => ({
    certificates: { selfManaged: { controller: false, caCert: c.caCert, cert: c.cert, key: c.key } },
  }),
  'cert-manager': () => ({ certificates: { source: 'certManager' } }),
  'cert-manager with an issuer of yours': () => ({
    certificates: {
      source: 'certManager',
      certManager: {
        issuerRef: { kind: 'ClusterIssuer', name: 'corp-ca', group: 'cert-manager.io' },
        duration: '720h',
        renewBefore: '240h',
      },
    },
  }),
  'existing secret': (c) => ({
    certificates: {
      source: 'existingSecret',
      existingSecret: { name: 'corp-tls', caBundle: Buffer.from(c.caCert).toString('base64') },
    },
  }),
  'audit only': () => ({ auditOnly: true }),
  'failure policies': () => ({
    webhooks: { failurePolicy: { mutating: 'Fail', validating: 'Fail', bestEffort: 'Fail' } },
  }),
  'excluded namespaces': () => ({
    webhooks: { excludedNamespaces: ['kube-system', 'kube-node-lease', 'cert-manager', 'calico-system'] },
  }),
  'own policies only': () => ({
    policies: {
      shipped: false,
      extra: {
        'vault.yaml':
          'apiVersion: tokenguard.dev/v1alpha1\nkind: TokenPolicy\nmetadata:\n  name: vault-tokens\nspec:\n  mode: Audit\n  projectedTokens:\n    bounds:\n      maxExpirationSeconds: 7200\n      onViolation: Mutate\n',
      },
    },
  }),
  'existing policies ConfigMap': () => ({ policies: { existingConfigMap: 'corp-policies' } }),
  scheduling: () => ({
    image: {
      repository: 'registry.example/platform/tokenguard',
      digest: `sha256:${'0'.repeat(64)}`,
      pullPolicy: 'Always',
    },
    imagePullSecrets: [{ name: 'registry-credentials' }],
    replicas: 3,
    resources: { requests: { cpu: '200m', memory: '192Mi' }, limits: { memory: '384Mi' } },
    nodeOptions: '--max-old-space-size=256 --max-semi-space-size=16',
    nodeSelector: { 'kubernetes.io/os': 'linux', 'node-role.example/system': 'true' },
    tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'system', effect: 'NoSchedule' }],
    affinity: {
      nodeAffinity: {
        preferredDuringSchedulingIgnoredDuringExecution: [
          { weight: 10, preference: { matchExpressions: [{ key: 'node-role.example/system', operator: 'Exists' }] } },
        ],
      },
    },
    topologySpreadConstraints: [],
    priorityClassName: '',
    criticalPodsQuota: false,
    podDisruptionBudget: { enabled: true, minAvailable: '50%' },
    podAnnotations: { 'example.com/team': 'platform' },
    podLabels: { 'example.com/tier': 'system' },
    extraArgs: ['--log-level', 'debug'],
  }),
  monitoring: () => ({
    serviceMonitor: { enabled: true, labels: { release: 'prometheus' }, interval: '30s', scrapeTimeout: '10s' },
    prometheusRule: { enabled: true, labels: { release: 'prometheus' }, apiServerAlerts: false },
  }),
  'network policy': () => ({
    networkPolicy: {
      enabled: true,
      ingressFrom: [
        { ipBlock: { cidr: '10.0.0.0/8' } },
        { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } },
      ],
      egress: { enabled: true, apiServer: [{ ipBlock: { cidr: '192.0.2.10/32' } }], apiServerPorts: [443, 6443] },
    },
  }),
  'client auth': () => ({
    clientAuth: {
      enabled: true,
      caConfigMap: 'corp-webhook-client-ca',
      subjects: ['kube-apiserver', 'apiserver.example'],
    },
  }),
  'no hooks, other test namespace, development URL': () => ({
    preDeleteHook: { enabled: false },
    tests: { namespace: 'kube-public' },
    webhooks: { url: 'https://127.0.0.1:9443' },
  }),
};
