import type { JsonObject } from '../../src/json.js';

/** The volume the ServiceAccount admission plugin adds (docs/tokens.md "The plugin's volume"). */
export function apiTokenVolume(suffix = 'x7k2p'): JsonObject {
  return {
    name: `kube-api-access-${suffix}`,
    projected: {
      defaultMode: 420,
      sources: [
        { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
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

export interface PodOptions {
  readonly name?: string;
  readonly generateName?: string;
  readonly namespace?: string | null;
  readonly serviceAccount?: string;
  readonly annotations?: Record<string, string>;
  readonly labels?: Record<string, string>;
  readonly containers?: string[];
  readonly initContainers?: string[];
  /** Simulate the ServiceAccount plugin (default true). */
  readonly plugin?: boolean;
  readonly extraVolumes?: JsonObject[];
  readonly automount?: boolean;
}

/** A pod as the API server hands it to a webhook on CREATE: SA defaulted, token volume mounted. */
export function pod(o: PodOptions = {}): JsonObject {
  const plugin = o.plugin ?? true;
  const vol = apiTokenVolume();
  const mount = {
    name: vol.name as string,
    readOnly: true,
    mountPath: '/var/run/secrets/kubernetes.io/serviceaccount',
  };
  const container = (name: string): JsonObject => ({
    name,
    image: 'registry.example/app:1.0',
    resources: {},
    terminationMessagePath: '/dev/termination-log',
    terminationMessagePolicy: 'File',
    imagePullPolicy: 'IfNotPresent',
    volumeMounts: plugin ? [{ ...mount }] : [],
  });
  const metadata: JsonObject = {};
  if (o.name !== undefined) metadata.name = o.name;
  if (o.generateName !== undefined) metadata.generateName = o.generateName;
  if (o.namespace !== null) metadata.namespace = o.namespace ?? 'team-a';
  if (o.labels) metadata.labels = o.labels;
  if (o.annotations) metadata.annotations = o.annotations;
  const spec: JsonObject = {
    volumes: [...(o.extraVolumes ?? []), ...(plugin ? [vol] : [])],
    containers: (o.containers ?? ['app']).map(container),
    restartPolicy: 'Always',
    terminationGracePeriodSeconds: 30,
    dnsPolicy: 'ClusterFirst',
    serviceAccountName: o.serviceAccount ?? 'default',
    serviceAccount: o.serviceAccount ?? 'default',
    securityContext: {},
    schedulerName: 'default-scheduler',
    enableServiceLinks: true,
    preemptionPolicy: 'PreemptLowerPriority',
    priority: 0,
  };
  if (o.initContainers) spec.initContainers = o.initContainers.map(container);
  if (o.automount !== undefined) spec.automountServiceAccountToken = o.automount;
  return { kind: 'Pod', apiVersion: 'v1', metadata, spec };
}

/** An AdmissionReview request as kube-apiserver sends it. */
export function review(
  object: JsonObject | null,
  o: {
    uid?: string;
    kind?: string;
    operation?: string;
    namespace?: string;
    name?: string;
    subResource?: string;
    oldObject?: JsonObject | null;
    dryRun?: boolean;
    user?: { username: string; groups: string[] };
  } = {},
): JsonObject {
  const kind = o.kind ?? (object?.kind as string) ?? 'Pod';
  const tokenRequest = kind === 'TokenRequest';
  const group = tokenRequest ? 'authentication.k8s.io' : '';
  const resource = kind === 'Secret' ? 'secrets' : tokenRequest ? 'serviceaccounts' : 'pods';
  const request: JsonObject = {
    uid: o.uid ?? '705ab4f5-6393-11e8-b7cc-42010a800002',
    kind: { group, version: 'v1', kind },
    resource: { group: '', version: 'v1', resource },
    requestKind: { group, version: 'v1', kind },
    requestResource: { group: '', version: 'v1', resource },
    name: o.name ?? '',
    namespace: o.namespace ?? 'team-a',
    operation: o.operation ?? 'CREATE',
    userInfo: o.user
      ? { ...o.user, uid: 'u-2' }
      : {
          username: 'system:serviceaccount:kube-system:replicaset-controller',
          uid: 'u-1',
          groups: ['system:serviceaccounts', 'system:authenticated'],
        },
    object,
    oldObject: o.oldObject ?? null,
    dryRun: o.dryRun ?? false,
    options: { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1' },
  };
  if (o.subResource) request.subResource = o.subResource;
  return { kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1', request };
}

/** The AdmissionReview kube-apiserver would send for a CREATE of `object` (a manifest's pod or Secret). */
export function toAdmissionReview(
  object: JsonObject,
  o: { readonly kind: 'Pod' | 'Secret'; readonly namespace: string; readonly username?: string; readonly uid?: string },
): JsonObject {
  const resource = o.kind === 'Pod' ? 'pods' : 'secrets';
  const md = object.metadata as JsonObject | undefined;
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: o.uid ?? '00000000-0000-0000-0000-000000000000',
      kind: { group: '', version: 'v1', kind: o.kind },
      resource: { group: '', version: 'v1', resource },
      requestKind: { group: '', version: 'v1', kind: o.kind },
      requestResource: { group: '', version: 'v1', resource },
      name: typeof md?.name === 'string' ? md.name : '',
      namespace: o.namespace,
      operation: 'CREATE',
      userInfo: { username: o.username ?? 'tokenguard-test', groups: ['system:authenticated'] },
      object,
      oldObject: null,
      dryRun: false,
      options: { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1' },
    },
  };
}
