/**
 * AdmissionReview bodies for the HTTP benchmark, shaped as kube-apiserver sends them: a pod
 * created by the ReplicaSet controller after the built-in admission plugins ran (ServiceAccount
 * plugin volume and mounts, default tolerations, managedFields, ownerReferences), and the other
 * request kinds the webhook configurations route to tokenguard. The same bodies are sent to
 * tokenguard and to baseline A. Each body carries the answer tokenguard gives it (shipped
 * policies, no cluster facts), as docs/benchmarks.md describes it: bench/http.ts sends every body
 * once to every server before measuring and stops when an answer differs.
 */
import type { JsonObject } from '../src/engine/json.js';
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
  /** tokenguard's answer (baseline A and the canned variants answer `allowed` whatever the body). */
  readonly expect: ExpectedAnswer;
}

const SA_MOUNT = { name: 'kube-api-access-x7k2p', readOnly: true, mountPath: '/var/run/secrets/kubernetes.io/serviceaccount' };

function env(n: number, valueLength: number): JsonObject[] {
  const out: JsonObject[] = [
    { name: 'POD_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } },
    { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } } },
    { name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: 'web-db', key: 'password' } } },
  ];
  for (let i = out.length; i < n; i++) out.push({ name: `APP_SETTING_${i}`, value: `value-${i}-`.padEnd(valueLength, 'x') });
  return out;
}

function container(name: string, image: string, envCount: number, envLength: number, extraMounts: JsonObject[] = []): JsonObject {
  return {
    name,
    image,
    args: ['--config=/etc/app/config.yaml', '--log-format=json'],
    ports: [
      { name: 'http', containerPort: 8080, protocol: 'TCP' },
    ],
    env: env(envCount, envLength),
    resources: { limits: { cpu: '1', memory: '512Mi' }, requests: { cpu: '250m', memory: '256Mi' } },
    volumeMounts: [{ name: 'config', readOnly: true, mountPath: '/etc/app' }, ...extraMounts, { ...SA_MOUNT }],
    livenessProbe: { httpGet: { path: '/healthz', port: 'http', scheme: 'HTTP' }, initialDelaySeconds: 10, timeoutSeconds: 1, periodSeconds: 10, successThreshold: 1, failureThreshold: 3 },
    terminationMessagePath: '/dev/termination-log',
    terminationMessagePolicy: 'File',
    imagePullPolicy: 'IfNotPresent',
    securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] } },
  };
}

interface PodShape {
  readonly containers: number;
  readonly envCount: number;
  readonly envLength: number;
  readonly managedFieldsContainers?: number;
}

/**
 * A Deployment's pod on CREATE. It mounts a projected token for Vault asking for two days, which
 * the shipped `token-bounds` policy clamps to one (a served patch), and the API token at 3607 s,
 * which the shipped Audit policy would rewrite (an audit patch): the whole mutate path runs.
 */
export function deploymentPod(shape: PodShape): JsonObject {
  const containerNames = ['app', 'sidecar', ...Array.from({ length: Math.max(0, shape.containers - 2) }, (_, i) => `worker-${i}`)].slice(0, shape.containers);
  const vaultMount = { name: 'vault-token', readOnly: true, mountPath: '/var/run/secrets/tokens/vault' };
  const fieldsContainer = (name: string) => ({
    [`k:{"name":"${name}"}`]: {
      '.': {},
      'f:args': {},
      'f:env': { '.': {}, 'k:{"name":"POD_NAME"}': { '.': {}, 'f:name': {}, 'f:valueFrom': { '.': {}, 'f:fieldRef': {} } } },
      'f:image': {},
      'f:imagePullPolicy': {},
      'f:name': {},
      'f:ports': { '.': {}, 'k:{"containerPort":8080,"protocol":"TCP"}': { '.': {}, 'f:containerPort': {}, 'f:name': {}, 'f:protocol': {} } },
      'f:resources': { '.': {}, 'f:limits': { '.': {}, 'f:cpu': {}, 'f:memory': {} }, 'f:requests': { '.': {}, 'f:cpu': {}, 'f:memory': {} } },
      'f:volumeMounts': { '.': {}, 'k:{"mountPath":"/etc/app"}': { '.': {}, 'f:mountPath': {}, 'f:name': {}, 'f:readOnly': {} } },
    },
  });
  const managed = containerNames.slice(0, shape.managedFieldsContainers ?? containerNames.length);
  return {
    kind: 'Pod',
    apiVersion: 'v1',
    metadata: {
      generateName: 'web-7d4b9c8f5-',
      namespace: 'team-a',
      creationTimestamp: null,
      labels: { app: 'web', 'app.kubernetes.io/name': 'web', 'app.kubernetes.io/part-of': 'shop', 'pod-template-hash': '7d4b9c8f5', version: '2.14.1' },
      annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9090' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7d4b9c8f5', uid: '3f0a1c52-8d2e-4b7a-9c1e-5a6b7c8d9e0f', controller: true, blockOwnerDeletion: true }],
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
              'f:containers': Object.assign({}, ...managed.map(fieldsContainer)),
              'f:initContainers': fieldsContainer('migrate'),
              'f:serviceAccountName': {},
              'f:volumes': { '.': {}, 'k:{"name":"config"}': { '.': {}, 'f:configMap': {}, 'f:name': {} }, 'k:{"name":"vault-token"}': { '.': {}, 'f:name': {}, 'f:projected': {} } },
            },
          },
        },
      ],
    },
    spec: {
      volumes: [
        { name: 'config', configMap: { name: 'web-config', defaultMode: 420 } },
        { name: 'vault-token', projected: { defaultMode: 420, sources: [{ serviceAccountToken: { audience: 'vault', expirationSeconds: 172800, path: 'token' } }] } },
        apiTokenVolume(),
      ],
      initContainers: [{ ...container('migrate', 'registry.example/web-migrate:2.14.1', 3, 24), ports: undefined, livenessProbe: undefined }],
      containers: containerNames.map((n, i) => container(n, `registry.example/${n}:2.14.1`, shape.envCount, shape.envLength, i === 0 ? [vaultMount] : [])),
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

const CONTROLLER = { username: 'system:serviceaccount:kube-system:replicaset-controller', groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'] };

/** The typical pod: 2 containers and an init container, ~6 KB as a review. */
export function typicalPod(): JsonObject {
  return plain(deploymentPod({ containers: 2, envCount: 4, envLength: 24, managedFieldsContainers: 1 }));
}

/** The large pod: 12 containers with many long environment variables, ~100 KB as a review. */
export function largePod(): JsonObject {
  return plain(deploymentPod({ containers: 12, envCount: 50, envLength: 100, managedFieldsContainers: 12 }));
}

/** Every benchmark body. `uid` differs per kind only; the server never looks it up. */
export function benchBodies(): BenchBody[] {
  const typical = typicalPod();
  const running: JsonObject = plain({ ...typical, metadata: { ...(typical.metadata as JsonObject), name: 'web-7d4b9c8f5-x2xkq', uid: '9a8b7c6d-1111-2222-3333-444455556666', resourceVersion: '81723', creationTimestamp: '2024-05-01T10:00:01Z' } });
  const updated: JsonObject = plain({ ...running, metadata: { ...(running.metadata as JsonObject), labels: { ...((running.metadata as JsonObject).labels as JsonObject), canary: 'true' } } });
  const secret: JsonObject = {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/service-account-token',
    metadata: {
      name: 'ci-deployer-token',
      namespace: 'team-a',
      creationTimestamp: null,
      annotations: { 'kubernetes.io/service-account.name': 'ci-deployer' },
      managedFields: [{ manager: 'kubectl-create', operation: 'Update', apiVersion: 'v1', time: '2024-05-01T10:00:00Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:metadata': { 'f:annotations': { '.': {}, 'f:kubernetes.io/service-account.name': {} } }, 'f:type': {} } }],
    },
  };
  const user = { username: 'alice@example.com', groups: ['developers', 'system:authenticated'] };
  // Pod CREATEs (dry run too): allowed with a patch (token-bounds clamps the Vault token to a
  // day). The UPDATE: allowed, nothing to change. The legacy token Secret on /validate: denied.
  const patch: ExpectedAnswer = { allowed: true, patched: true };
  const bodies: [string, string, string, JsonObject, ExpectedAnswer][] = [
    ['typical', 'typical pod CREATE (Deployment pod, 2 containers + init)', '/mutate', review(typical, { uid: '11111111-2222-4333-8444-555555555555', user: CONTROLLER }), patch],
    ['large', 'large pod CREATE (12 containers, long env)', '/mutate', review(largePod(), { uid: '21111111-2222-4333-8444-555555555555', user: CONTROLLER }), patch],
    [
      'update',
      'pod UPDATE with oldObject',
      '/mutate',
      review(updated, { uid: '31111111-2222-4333-8444-555555555555', operation: 'UPDATE', name: 'web-7d4b9c8f5-x2xkq', oldObject: running, user }),
      { allowed: true, patched: false },
    ],
    ['secret', 'legacy token Secret CREATE (/validate, denied)', '/validate', review(secret, { uid: '41111111-2222-4333-8444-555555555555', name: 'ci-deployer-token', user }), { allowed: false, patched: false }],
    ['dryrun', 'typical pod CREATE, dry run', '/mutate', review(typical, { uid: '51111111-2222-4333-8444-555555555555', dryRun: true, user: CONTROLLER }), patch],
  ];
  return bodies.map(([id, label, path, r, expect]) => {
    const request = r.request as JsonObject;
    if (request.operation === 'UPDATE') request.options = { kind: 'UpdateOptions', apiVersion: 'meta.k8s.io/v1' };
    if (request.dryRun === true) request.options = { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1', dryRun: ['All'] };
    return { id, label, path, uid: String(request.uid), body: JSON.stringify(r), expect };
  });
}
