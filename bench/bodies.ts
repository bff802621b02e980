/**
 * AdmissionReview bodies for the HTTP benchmark, shaped as kube-apiserver sends them: a pod
 * created by the ReplicaSet controller after the built-in admission plugins ran (ServiceAccount
 * plugin volume and mounts, default tolerations, managedFields, ownerReferences), and a legacy
 * token Secret for /validate. The same bodies go to tokenguard and to baseline A. Each carries
 * the answer tokenguard gives it (shipped policies, no cluster facts): bench/http.ts sends every
 * body once to every server before measuring and stops when an answer differs.
 */
import type { JsonObject } from '../src/json.js';
import { apiTokenVolume, review } from '../test/helpers/pods.js';

/** The decision tokenguard's AdmissionReview response carries for a body. */
export interface ExpectedAnswer {
  /** `response.allowed`. */
  readonly allowed: boolean;
  /** A JSONPatch in the response (`patchType: JSONPatch` and a non-empty `patch`). */
  readonly patched: boolean;
}

export interface BenchBody {
  /** Short id used in result keys. */
  readonly id: string;
  readonly label: string;
  /** `/mutate` or `/validate`, as the shipped webhook configurations route it. */
  readonly path: string;
  /** `request.uid`, which the answer must echo. */
  readonly uid: string;
  readonly body: string;
  /** tokenguard's answer (baseline A answers `allowed` whatever the body). */
  readonly expect: ExpectedAnswer;
}

const SA_MOUNT = {
  name: 'kube-api-access-x7k2p',
  readOnly: true,
  mountPath: '/var/run/secrets/kubernetes.io/serviceaccount',
};

function env(n: number, valueLength: number): JsonObject[] {
  const out: JsonObject[] = [
    { name: 'POD_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } },
    { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } } },
    { name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: 'web-db', key: 'password' } } },
  ];
  for (let i = out.length; i < n; i++)
    out.push({ name: `APP_SETTING_${i}`, value: `value-${i}-`.padEnd(valueLength, 'x') });
  return out;
}

function container(
  name: string,
  image: string,
  envCount: number,
  envLength: number,
  extraMounts: JsonObject[] = [],
): JsonObject {
  return {
    name,
    image,
    args: ['--config=/etc/app/config.yaml', '--log-format=json'],
    ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
    env: env(envCount, envLength),
    resources: { limits: { cpu: '1', memory: '512Mi' }, requests: { cpu: '250m', memory: '256Mi' } },
    volumeMounts: [{ name: 'config', readOnly: true, mountPath: '/etc/app' }, ...extraMounts, { ...SA_MOUNT }],
    livenessProbe: {
      httpGet: { path: '/healthz', port: 'http', scheme: 'HTTP' },
      initialDelaySeconds: 10,
      timeoutSeconds: 1,
      periodSeconds: 10,
      successThreshold: 1,
      failureThreshold: 3,
    },
    terminationMessagePath: '/dev/termination-log',
    terminationMessagePolicy: 'File',
    imagePullPolicy: 'IfNotPresent',
    securityContext: {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
    },
  };
}

/**
 * A Deployment's pod on CREATE. It mounts a projected token for Vault asking for two days, which
 * the shipped `token-bounds` policy clamps to one (a served patch), and the API token at 3607 s,
 * which the shipped Audit policy would rewrite (an audit patch): the whole mutate path runs.
 */
function deploymentPod(): JsonObject {
  const containerNames = ['app', 'sidecar'];
  const vaultMount = { name: 'vault-token', readOnly: true, mountPath: '/var/run/secrets/tokens/vault' };
  const fieldsContainer = (name: string) => ({
    [`k:{"name":"${name}"}`]: {
      '.': {},
      'f:args': {},
      'f:env': {
        '.': {},
        'k:{"name":"POD_NAME"}': { '.': {}, 'f:name': {}, 'f:valueFrom': { '.': {}, 'f:fieldRef': {} } },
      },
      'f:image': {},
      'f:imagePullPolicy': {},
      'f:name': {},
      'f:ports': {
        '.': {},
        'k:{"containerPort":8080,"protocol":"TCP"}': { '.': {}, 'f:containerPort': {}, 'f:name': {}, 'f:protocol': {} },
      },
      'f:resources': {
        '.': {},
        'f:limits': { '.': {}, 'f:cpu': {}, 'f:memory': {} },
        'f:requests': { '.': {}, 'f:cpu': {}, 'f:memory': {} },
      },
      'f:volumeMounts': {
        '.': {},
        'k:{"mountPath":"/etc/app"}': { '.': {}, 'f:mountPath': {}, 'f:name': {}, 'f:readOnly': {} },
      },
    },
  });
  return {
    kind: 'Pod',
    apiVersion: 'v1',
    metadata: {
      generateName: 'web-7d4b9c8f5-',
      namespace: 'team-a',
      creationTimestamp: null,
      labels: {
        app: 'web',
        'app.kubernetes.io/name': 'web',
        'app.kubernetes.io/part-of': 'shop',
        'pod-template-hash': '7d4b9c8f5',
        version: '2.14.1',
      },
      annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9090' },
      ownerReferences: [
        {
          apiVersion: 'apps/v1',
          kind: 'ReplicaSet',
          name: 'web-7d4b9c8f5',
          uid: '3f0a1c52-8d2e-4b7a-9c1e-5a6b7c8d9e0f',
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
      managedFields: [
        {
          manager: 'kube-controller-manager',
          operation: 'Update',
          apiVersion: 'v1',
          time: '2024-05-01T10:00:00Z',
          fieldsType: 'FieldsV1',
          fieldsV1: {
            'f:metadata': {
              'f:annotations': { '.': {}, 'f:prometheus.io/port': {}, 'f:prometheus.io/scrape': {} },
              'f:generateName': {},
              'f:labels': { '.': {}, 'f:app': {}, 'f:pod-template-hash': {}, 'f:version': {} },
              'f:ownerReferences': { '.': {}, 'k:{"uid":"3f0a1c52-8d2e-4b7a-9c1e-5a6b7c8d9e0f"}': {} },
            },
            'f:spec': {
              'f:containers': fieldsContainer('app'),
              'f:initContainers': fieldsContainer('migrate'),
              'f:serviceAccountName': {},
              'f:volumes': {
                '.': {},
                'k:{"name":"config"}': { '.': {}, 'f:configMap': {}, 'f:name': {} },
                'k:{"name":"vault-token"}': { '.': {}, 'f:name': {}, 'f:projected': {} },
              },
            },
          },
        },
      ],
    },
    spec: {
      volumes: [
        { name: 'config', configMap: { name: 'web-config', defaultMode: 420 } },
        {
          name: 'vault-token',
          projected: {
            defaultMode: 420,
            sources: [{ serviceAccountToken: { audience: 'vault', expirationSeconds: 172800, path: 'token' } }],
          },
        },
        apiTokenVolume(),
      ],
      initContainers: [
        {
          ...container('migrate', 'registry.example/web-migrate:2.14.1', 3, 24),
          ports: undefined,
          livenessProbe: undefined,
        },
      ],
      containers: containerNames.map((n, i) =>
        container(n, `registry.example/${n}:2.14.1`, 4, 24, i === 0 ? [vaultMount] : []),
      ),
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 30,
      dnsPolicy: 'ClusterFirst',
      serviceAccountName: 'web',
      serviceAccount: 'web',
      securityContext: { runAsUser: 10001, fsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } },
      schedulerName: 'default-scheduler',
      tolerations: [
        { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
        { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
      ],
      priority: 0,
      enableServiceLinks: true,
      preemptionPolicy: 'PreemptLowerPriority',
    },
    status: {},
  };
}

/** JSON.stringify drops the `undefined` fields the init container leaves out; a round trip makes the object match its body. */
function plain(o: JsonObject): JsonObject {
  return JSON.parse(JSON.stringify(o)) as JsonObject;
}

const CONTROLLER = {
  username: 'system:serviceaccount:kube-system:replicaset-controller',
  groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'],
};

/** Every benchmark body. `uid` differs per body; the server never looks it up. */
export function benchBodies(): BenchBody[] {
  // The typical pod, ~7.7 KB as a review: allowed with a patch (token-bounds clamps the Vault token to a day).
  const typical = plain(deploymentPod());
  const secret: JsonObject = {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/service-account-token',
    metadata: {
      name: 'ci-deployer-token',
      namespace: 'team-a',
      creationTimestamp: null,
      annotations: { 'kubernetes.io/service-account.name': 'ci-deployer' },
      managedFields: [
        {
          manager: 'kubectl-create',
          operation: 'Update',
          apiVersion: 'v1',
          time: '2024-05-01T10:00:00Z',
          fieldsType: 'FieldsV1',
          fieldsV1: {
            'f:metadata': { 'f:annotations': { '.': {}, 'f:kubernetes.io/service-account.name': {} } },
            'f:type': {},
          },
        },
      ],
    },
  };
  const user = { username: 'alice@example.com', groups: ['developers', 'system:authenticated'] };
  const bodies: [string, string, string, JsonObject, ExpectedAnswer][] = [
    [
      'typical',
      'typical pod CREATE (Deployment pod, 2 containers + init) → /mutate',
      '/mutate',
      review(typical, { uid: '11111111-2222-4333-8444-555555555555', user: CONTROLLER }),
      { allowed: true, patched: true },
    ],
    [
      'secret',
      'legacy token Secret CREATE → /validate (denied)',
      '/validate',
      review(secret, { uid: '41111111-2222-4333-8444-555555555555', name: 'ci-deployer-token', user }),
      { allowed: false, patched: false },
    ],
  ];
  return bodies.map(([id, label, path, r, expect]) => ({
    id,
    label,
    path,
    uid: String((r.request as JsonObject).uid),
    body: JSON.stringify(r),
    expect,
  }));
}
