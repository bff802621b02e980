/**
 * A small cluster with every case the scan tells apart, for the fake API server: legacy token
 * Secrets used by a Deployment's volume, a StatefulSet's env, a CronJob's template and a bare
 * pod's imagePullSecrets, unused, recently used, invalidated and orphaned ones; a ServiceAccount
 * whose `.secrets` names one; pods with API tokens they do not need; a projected token of 2 days.
 * Every Secret's data (and its last-applied annotation, as `kubectl apply` leaves it) holds
 * {@link CANARY}, which must appear in no output.
 */
import type { FakeCluster, Obj } from './fake-cluster.js';

export const CANARY = 'CANARY-7f3a9c1e-do-not-print';
/** The scan's clock in the tests. */
export const NOW = Date.parse('2026-12-10T12:00:00Z');

const ALPHABET_SUFFIXES = ['bcdfg', 'hjklm', 'npqrs', 'tvwxz', '24567', 'zz2b4', 'k9m2p'];
let nextSuffix = 0;

/** The volume the ServiceAccount plugin adds, under a fresh 5-character name. */
function apiVolume(): { name: string; projected: Record<string, unknown> } {
  const name = `kube-api-access-${ALPHABET_SUFFIXES[nextSuffix++ % ALPHABET_SUFFIXES.length]}`;
  return {
    name,
    projected: {
      defaultMode: 420,
      sources: [
        { serviceAccountToken: { path: 'token', expirationSeconds: 3607 } },
        { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
        {
          downwardAPI: {
            items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }],
          },
        },
      ],
    },
  };
}

function tokenSecret(
  namespace: string,
  name: string,
  serviceAccount: string,
  labels: Record<string, string> = {},
  created = '2026-01-01T00:00:00Z',
): Obj {
  const data = {
    token: Buffer.from(`${CANARY}-token`).toString('base64'),
    'ca.crt': Buffer.from('ca').toString('base64'),
    namespace: Buffer.from(namespace).toString('base64'),
    canary: Buffer.from(CANARY).toString('base64'),
  };
  const applied = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace, annotations: { 'kubernetes.io/service-account.name': serviceAccount } },
    type: 'kubernetes.io/service-account-token',
    stringData: { canary: CANARY },
  };
  return {
    metadata: {
      name,
      namespace,
      creationTimestamp: created,
      labels,
      annotations: {
        'kubernetes.io/service-account.name': serviceAccount,
        'kubernetes.io/service-account.uid': `uid-serviceaccounts-${namespace}-${serviceAccount}`,
        'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify(applied),
      },
      managedFields: [
        { manager: 'kubectl', operation: 'Update', fieldsV1: { 'f:data': { 'f:canary': {}, 'f:token': {} } } },
      ],
    },
    type: 'kubernetes.io/service-account-token',
    data,
  };
}

function pod(
  namespace: string,
  name: string,
  spec: Record<string, unknown>,
  owner?: { kind: string; name: string; apiVersion: string },
  annotations?: Record<string, string>,
): Obj {
  const api = spec.automountServiceAccountToken === false ? undefined : apiVolume();
  const containers = (spec.containers as Record<string, unknown>[]).map((c) => ({
    ...c,
    volumeMounts: [
      ...((c.volumeMounts as unknown[]) ?? []),
      ...(api ? [{ name: api.name, mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true }] : []),
    ],
  }));
  return {
    metadata: {
      name,
      namespace,
      labels: { app: name.split('-')[0] ?? name, 'pod-template-hash': 'abc' },
      ...(annotations ? { annotations } : {}),
      ...(owner
        ? { ownerReferences: [{ ...owner, uid: `uid-${owner.name}`, controller: true, blockOwnerDeletion: true }] }
        : {}),
    },
    spec: {
      serviceAccountName: 'default',
      ...spec,
      nodeName: `node-${name}`,
      containers,
      volumes: [...((spec.volumes as unknown[]) ?? []), ...(api ? [api] : [])],
    },
    status: { phase: 'Pending' },
  };
}

const IMAGE = 'registry.invalid/app:1';

/** Fills the fake cluster with the mix. */
export function addMix(c: FakeCluster): void {
  nextSuffix = 0;
  c.add(
    'namespaces',
    { metadata: { name: 'team-a', labels: { 'kubernetes.io/metadata.name': 'team-a' } } },
    { metadata: { name: 'team-b', labels: { 'kubernetes.io/metadata.name': 'team-b' } } },
    { metadata: { name: 'kube-system', labels: { 'kubernetes.io/metadata.name': 'kube-system' } } },
  );
  const sa = (namespace: string, name: string, extra: Record<string, unknown> = {}): Obj => ({
    metadata: { name, namespace },
    ...extra,
  });
  c.add(
    'serviceaccounts',
    sa('team-a', 'default'),
    sa('team-a', 'legacy-user'),
    sa('team-a', 'env-user'),
    sa('team-a', 'ci-bot'),
    sa('team-a', 'listed', { secrets: [{ name: 'listed-token' }, { name: 'not-a-token' }] }),
    sa('team-b', 'default'),
    sa('team-b', 'puller'),
  );
  c.add('clusterrolebindings', {
    metadata: { name: 'system:service-account-issuer-discovery' },
    roleRef: {
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'ClusterRole',
      name: 'system:service-account-issuer-discovery',
    },
    subjects: [{ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: 'system:serviceaccounts' }],
  });
  c.add(
    'secrets',
    tokenSecret('team-a', 'legacy-user-token', 'legacy-user'),
    tokenSecret('team-a', 'env-user-token', 'env-user'),
    tokenSecret('team-a', 'listed-token', 'listed', { 'kubernetes.io/legacy-token-last-used': '2026-03-01' }),
    tokenSecret('team-a', 'stale-token', 'listed', { 'kubernetes.io/legacy-token-invalid-since': '2026-11-01' }),
    tokenSecret('team-a', 'ci-token', 'ci-bot', { 'kubernetes.io/legacy-token-last-used': '2026-12-05' }),
    tokenSecret('team-a', 'cron-token', 'ci-bot'),
    tokenSecret('team-b', 'orphan-token', 'ghost'),
    tokenSecret('team-b', 'pull-token', 'puller'),
    {
      metadata: { name: 'not-a-token', namespace: 'team-a', annotations: { note: CANARY } },
      type: 'Opaque',
      data: { password: Buffer.from(CANARY).toString('base64') },
    },
  );
  c.add('configmaps', {
    metadata: { name: 'kube-apiserver-legacy-service-account-token-tracking', namespace: 'kube-system' },
    data: { since: '2024-01-01' },
  });

  const legacyVolume = { name: 'legacy', secret: { secretName: 'legacy-user-token' } };
  const legacyMount = { name: 'legacy', mountPath: '/var/run/secrets/legacy', readOnly: true };
  const deployment = (name: string, template: Record<string, unknown>): Obj => ({
    metadata: {
      name,
      namespace: 'team-a',
      generation: 1,
      resourceVersion: '5',
      managedFields: [{ manager: 'kubectl' }],
    },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: template },
    },
    status: { replicas: 2 },
  });
  c.add(
    'deployments',
    deployment('api-client', {
      containers: [{ name: 'app', image: IMAGE, volumeMounts: [legacyMount] }],
      volumes: [legacyVolume],
    }),
    deployment('web', { containers: [{ name: 'app', image: IMAGE }] }),
    deployment('long-token', {
      containers: [
        { name: 'app', image: IMAGE, volumeMounts: [{ name: 'vault', mountPath: '/var/run/secrets/vault' }] },
      ],
      volumes: [
        {
          name: 'vault',
          projected: {
            sources: [{ serviceAccountToken: { audience: 'vault', expirationSeconds: 172800, path: 'token' } }],
          },
        },
      ],
    }),
  );
  const rs = (name: string, deploymentName: string): Obj => ({
    metadata: {
      name,
      namespace: 'team-a',
      ownerReferences: [
        {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          name: deploymentName,
          uid: `uid-deployments-team-a-${deploymentName}`,
          controller: true,
        },
      ],
    },
    spec: { template: { spec: { containers: [] } } },
  });
  c.add('replicasets', rs('api-client-abc', 'api-client'), rs('web-xyz', 'web'), rs('long-token-r', 'long-token'));
  const envSpec = {
    serviceAccountName: 'env-user',
    containers: [
      {
        name: 'app',
        image: IMAGE,
        env: [{ name: 'API_TOKEN', valueFrom: { secretKeyRef: { name: 'env-user-token', key: 'token' } } }],
      },
    ],
  };
  c.add('statefulsets', {
    metadata: { name: 'env-reader', namespace: 'team-a' },
    spec: {
      selector: { matchLabels: { app: 'env' } },
      template: { metadata: { labels: { app: 'env' } }, spec: envSpec },
    },
  });
  c.add('cronjobs', {
    metadata: { name: 'nightly', namespace: 'team-a' },
    spec: {
      schedule: '0 3 * * *',
      jobTemplate: {
        spec: {
          template: {
            spec: {
              serviceAccountName: 'ci-bot',
              restartPolicy: 'Never',
              containers: [
                { name: 'job', image: IMAGE, volumeMounts: [{ name: 'ci', mountPath: '/etc/ci', readOnly: true }] },
              ],
              volumes: [
                { name: 'ci', secret: { secretName: 'cron-token', items: [{ key: 'token', path: 'sa-token' }] } },
              ],
            },
          },
        },
      },
    },
  });
  const rsOwner = (name: string) => ({ apiVersion: 'apps/v1', kind: 'ReplicaSet', name });
  c.add(
    'pods',
    pod(
      'team-a',
      'api-client-abc-1',
      { containers: [{ name: 'app', image: IMAGE, volumeMounts: [legacyMount] }], volumes: [legacyVolume] },
      rsOwner('api-client-abc'),
    ),
    pod(
      'team-a',
      'api-client-abc-2',
      { containers: [{ name: 'app', image: IMAGE, volumeMounts: [legacyMount] }], volumes: [legacyVolume] },
      rsOwner('api-client-abc'),
    ),
    pod('team-a', 'web-xyz-1', { containers: [{ name: 'app', image: IMAGE }] }, rsOwner('web-xyz')),
    pod('team-a', 'web-xyz-2', { containers: [{ name: 'app', image: IMAGE }] }, rsOwner('web-xyz')),
    pod('team-a', 'web-xyz-3', { containers: [{ name: 'app', image: IMAGE }] }, rsOwner('web-xyz')),
    pod('team-a', 'env-reader-0', envSpec, { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'env-reader' }),
    pod(
      'team-a',
      'long-token-r-1',
      {
        containers: [
          { name: 'app', image: IMAGE, volumeMounts: [{ name: 'vault', mountPath: '/var/run/secrets/vault' }] },
        ],
        volumes: [
          {
            name: 'vault',
            projected: {
              defaultMode: 420,
              sources: [{ serviceAccountToken: { audience: 'vault', expirationSeconds: 172800, path: 'token' } }],
            },
          },
        ],
      },
      rsOwner('long-token-r'),
      { 'tokenguard.dev/api-access': 'true' },
    ),
    pod('team-b', 'debug', {
      serviceAccountName: 'puller',
      automountServiceAccountToken: false,
      imagePullSecrets: [{ name: 'pull-token' }],
      containers: [{ name: 'sh', image: IMAGE }],
    }),
  );
}
