/**
 * Which manifest objects `tokenguard test` evaluates, and as what: pods and Secrets as
 * themselves, workload pod templates as the pods their controllers will create, a few kinds as
 * facts, everything else skipped. Pure.
 */
import { createHash } from 'node:crypto';
import { SERVICE_ACCOUNT_NAME_ANNOTATION, SERVICE_ACCOUNT_TOKEN_SECRET_TYPE } from '../constants.js';
import { isObject, type JsonObject, objectAt, stringAt, stringIn, stringMapAt } from '../json.js';
import { NAME_SUFFIX_ALPHABET } from './plugin.js';

/** Workload kinds whose pod template is evaluated as the pod it will create. */
export const WORKLOAD_KINDS = [
  'Deployment',
  'StatefulSet',
  'DaemonSet',
  'ReplicaSet',
  'ReplicationController',
  'Job',
  'CronJob',
] as const;
export type WorkloadKind = (typeof WORKLOAD_KINDS)[number];

/** Kinds read as facts (ServiceAccount automount and annotations, namespace labels, bindings). */
const FACT_KINDS = ['ServiceAccount', 'Namespace', 'RoleBinding', 'ClusterRoleBinding'] as const;

/** The API groups each known kind may come from; another group means a look-alike custom resource. */
const GROUPS: Readonly<Record<string, readonly string[]>> = {
  Pod: [''],
  Secret: [''],
  ReplicationController: [''],
  ServiceAccount: [''],
  Namespace: [''],
  Deployment: ['apps', 'extensions'],
  StatefulSet: ['apps'],
  DaemonSet: ['apps', 'extensions'],
  ReplicaSet: ['apps', 'extensions'],
  Job: ['batch'],
  CronJob: ['batch'],
  RoleBinding: ['rbac.authorization.k8s.io'],
  ClusterRoleBinding: ['rbac.authorization.k8s.io'],
};

/** Where, inside a workload, its pod template sits. */
export const TEMPLATE_PATHS: Readonly<Record<WorkloadKind, readonly string[]>> = {
  Deployment: ['spec', 'template'],
  StatefulSet: ['spec', 'template'],
  DaemonSet: ['spec', 'template'],
  ReplicaSet: ['spec', 'template'],
  ReplicationController: ['spec', 'template'],
  Job: ['spec', 'template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template'],
};

/** How the CLI treats one manifest object. */
export type Classified =
  | {
      readonly role: 'pod';
      /** The pod the API server will be asked to create (before any admission plugin). */
      readonly pod: JsonObject;
      readonly namespace: string;
      /** Path of the pod spec inside the manifest object, e.g. `['spec', 'template', 'spec']`. */
      readonly specPath: readonly string[];
      /** The controller that creates the pod, for the AdmissionReview's userInfo. */
      readonly controller: string | undefined;
    }
  | { readonly role: 'secret'; readonly secret: JsonObject; readonly namespace: string }
  | { readonly role: 'fact' }
  | { readonly role: 'skip'; readonly reason: string }
  | { readonly role: 'error'; readonly reason: string };

/** The API group of an `apiVersion` (`apps/v1` → `apps`, `v1` → ``), or undefined when absent. */
export function apiGroup(apiVersion: string | undefined): string | undefined {
  if (apiVersion === undefined) return undefined;
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? '' : apiVersion.slice(0, slash);
}

/** True for the kinds read as facts (ServiceAccount, Namespace, RoleBinding, ClusterRoleBinding). */
export function isFactKind(object: JsonObject): boolean {
  const kind = builtinKind(object);
  return kind !== undefined && (FACT_KINDS as readonly string[]).includes(kind);
}

/**
 * A legacy token Secret (type exactly `kubernetes.io/service-account-token`) reduced to what the
 * facts read: kind, name, namespace, type and the ServiceAccount annotation. Never its data.
 * Undefined for any other object. It is also evaluated as the Secret it is.
 */
export function tokenSecretFact(object: JsonObject): JsonObject | undefined {
  if (builtinKind(object) !== 'Secret' || stringAt(object, 'type') !== SERVICE_ACCOUNT_TOKEN_SECRET_TYPE)
    return undefined;
  const md = objectAt(object, 'metadata');
  const name = stringAt(md, 'name');
  if (!name) return undefined;
  const namespace = stringAt(md, 'namespace');
  const sa = stringIn(objectAt(md, 'annotations'), SERVICE_ACCOUNT_NAME_ANNOTATION);
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: SERVICE_ACCOUNT_TOKEN_SECRET_TYPE,
    metadata: {
      name,
      ...(namespace ? { namespace } : {}),
      ...(sa ? { annotations: { [SERVICE_ACCOUNT_NAME_ANNOTATION]: sa } } : {}),
    },
  };
}

/** The kind when it is one of Kubernetes' own (right API group, or no apiVersion at all), else undefined. */
function builtinKind(object: JsonObject): string | undefined {
  const kind = stringAt(object, 'kind');
  if (!kind) return undefined;
  const groups = GROUPS[kind];
  if (!groups) return undefined;
  const group = apiGroup(stringAt(object, 'apiVersion'));
  return group === undefined || groups.includes(group) ? kind : undefined;
}

/**
 * Decides how one manifest object is evaluated.
 *
 * @param object            the manifest object
 * @param defaultNamespace  namespace for objects that name none (`--namespace`)
 */
export function classify(object: JsonObject, defaultNamespace: string): Classified {
  const kind = stringAt(object, 'kind');
  if (!kind) return { role: 'error', reason: 'object has no kind' };
  const builtin = builtinKind(object);
  if (!builtin) {
    const why = GROUPS[kind]
      ? `${kind} of ${stringAt(object, 'apiVersion')} is not Kubernetes' own`
      : `kind ${kind} is not evaluated`;
    return { role: 'skip', reason: why };
  }
  if ((FACT_KINDS as readonly string[]).includes(builtin)) return { role: 'fact' };
  const namespace = stringAt(objectAt(object, 'metadata'), 'namespace') || defaultNamespace;
  if (builtin === 'Pod') {
    if (!isObject(object.spec)) return { role: 'error', reason: 'Pod has no spec' };
    const pod = structuredClone(object);
    pod.metadata = { ...(objectAt(pod, 'metadata') ?? {}), namespace };
    return { role: 'pod', pod, namespace, specPath: ['spec'], controller: undefined };
  }
  if (builtin === 'Secret') {
    const secret = structuredClone(object);
    secret.metadata = { ...(objectAt(secret, 'metadata') ?? {}), namespace };
    return { role: 'secret', secret, namespace };
  }
  const workload = builtin as WorkloadKind;
  const templatePath = TEMPLATE_PATHS[workload];
  let template: JsonObject | undefined = object;
  for (const key of templatePath) template = objectAt(template, key);
  if (!template || !isObject(template.spec))
    return { role: 'error', reason: `${kind} has no ${[...templatePath, 'spec'].join('.')}` };
  return {
    role: 'pod',
    pod: podFromTemplate(workload, object, template, namespace),
    namespace,
    specPath: [...templatePath, 'spec'],
    controller: CONTROLLERS[workload],
  };
}

/** The kube-controller-manager controller that creates each workload's pods. */
const CONTROLLERS: Readonly<Record<WorkloadKind, string>> = {
  Deployment: 'replicaset-controller',
  ReplicaSet: 'replicaset-controller',
  StatefulSet: 'statefulset-controller',
  DaemonSet: 'daemon-set-controller',
  ReplicationController: 'replication-controller',
  Job: 'job-controller',
  CronJob: 'job-controller',
};

/**
 * The pod a controller creates from a workload's template, as its CREATE reaches admission:
 * labels and annotations from the template, the workload's namespace, and the name the
 * controller gives it.
 *
 * | kind                  | name                                    | labels added                         |
 * |-----------------------|-----------------------------------------|--------------------------------------|
 * | Deployment            | generateName `<name>-<template hash>-`  | `pod-template-hash`                  |
 * | ReplicaSet, RC, DaemonSet | generateName `<name>-`              |                                      |
 * | StatefulSet           | name `<name>-0`                          | `statefulset.kubernetes.io/pod-name`, `apps.kubernetes.io/pod-index` |
 * | Job                   | generateName `<name>-`                   | `job-name`, `batch.kubernetes.io/job-name` |
 * | CronJob               | generateName `<name>-<minutes>-`         | as Job, for the Job `<name>-<minutes>` |
 *
 * The template hash and the CronJob's schedule minute are stand-ins derived from the template,
 * stable from run to run; the real ones depend on the cluster. StatefulSet volume claim
 * templates become the `persistentVolumeClaim` volumes the controller adds.
 */
function podFromTemplate(
  kind: WorkloadKind,
  workload: JsonObject,
  template: JsonObject,
  namespace: string,
): JsonObject {
  const name = stringAt(objectAt(workload, 'metadata'), 'name') ?? '';
  const tmd = objectAt(template, 'metadata');
  const labels = stringMapAt(tmd, 'labels');
  const annotations = stringMapAt(tmd, 'annotations');
  const spec = structuredClone(template.spec as JsonObject);
  const metadata: JsonObject = {};
  const hash = templateHash(template);
  switch (kind) {
    case 'Deployment':
      metadata.generateName = `${name}-${hash}-`;
      labels['pod-template-hash'] = hash;
      break;
    case 'StatefulSet': {
      const podName = `${name}-0`;
      metadata.name = podName;
      labels['statefulset.kubernetes.io/pod-name'] = podName;
      labels['apps.kubernetes.io/pod-index'] = '0';
      addClaimVolumes(spec, objectAt(workload, 'spec'), podName, name);
      break;
    }
    case 'Job':
      metadata.generateName = `${name}-`;
      labels['job-name'] = name;
      labels['batch.kubernetes.io/job-name'] = name;
      break;
    case 'CronJob': {
      const job = `${name}-${scheduleMinute(template)}`;
      metadata.generateName = `${job}-`;
      labels['job-name'] = job;
      labels['batch.kubernetes.io/job-name'] = job;
      break;
    }
    default:
      metadata.generateName = `${name}-`;
  }
  metadata.namespace = namespace;
  if (Object.keys(labels).length > 0) metadata.labels = labels;
  if (Object.keys(annotations).length > 0) metadata.annotations = annotations;
  return { apiVersion: 'v1', kind: 'Pod', metadata, spec };
}

/** StatefulSet pods get one volume per claim template, named after it (replacing a same-name volume). */
function addClaimVolumes(spec: JsonObject, stsSpec: JsonObject | undefined, podName: string, stsName: string): void {
  const claims = stsSpec?.volumeClaimTemplates;
  if (!Array.isArray(claims)) return;
  for (const c of claims) {
    const claim = stringAt(objectAt(isObject(c) ? c : undefined, 'metadata'), 'name');
    if (!claim) continue;
    const volumes = Array.isArray(spec.volumes) ? spec.volumes.filter((v) => !(isObject(v) && v.name === claim)) : [];
    volumes.push({
      name: claim,
      persistentVolumeClaim: { claimName: `${claim}-${stsName}-${podName.slice(stsName.length + 1)}` },
    });
    spec.volumes = volumes;
  }
}

/**
 * A stand-in for the pod-template-hash (upstream: FNV-32a of the template, as a decimal string
 * mapped by `rand.SafeEncodeString`): a 32-bit hash of the template, encoded the same way.
 */
function templateHash(template: JsonObject): string {
  const h = createHash('sha256').update(JSON.stringify(template)).digest().readUInt32BE(0);
  return [...String(h)].map((c) => NAME_SUFFIX_ALPHABET[c.charCodeAt(0) % NAME_SUFFIX_ALPHABET.length]).join('');
}

/** A stand-in for a CronJob Job's scheduled minute (minutes since the epoch), stable per template. */
function scheduleMinute(template: JsonObject): number {
  const n = createHash('sha256').update(JSON.stringify(template)).digest().readUInt32BE(0);
  return 29_000_000 + (n % 1_000_000);
}
