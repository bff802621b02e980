/**
 * What the scan keeps of each object it lists: small projections made as each page arrives, so
 * that the full objects (and anything secret in them) are dropped at once. Pure.
 */
import { SERVICE_ACCOUNT_NAME_ANNOTATION } from '../constants.js';
import { isObject, type JsonObject, objectAt, objectsAt, stringAt, stringMapAt } from '../json.js';
import { INVALID_SINCE_LABEL, LAST_USED_LABEL, SERVICE_ACCOUNT_UID_ANNOTATION } from './constants.js';
import { parseTimestamp } from './dates.js';

/** A reference to one object, as reports and PolicyReports name it. */
export interface ObjectRef {
  readonly apiVersion: string;
  readonly kind: string;
  /** Empty for cluster-scoped kinds. */
  readonly namespace: string;
  readonly name: string;
  readonly uid?: string;
}

/**
 * What is known of a `kubernetes.io/service-account-token` Secret: its metadata only (listed as
 * `PartialObjectMetadata`, so no data ever arrives), and of that only what the report needs.
 * Other annotations are dropped unread: `kubectl.kubernetes.io/last-applied-configuration` holds
 * the whole Secret, data included, when it was created with `kubectl apply`.
 */
export interface TokenSecret {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  /** `creationTimestamp` in milliseconds; undefined when absent or unreadable. */
  readonly createdAt: number | undefined;
  /** `deletionTimestamp` is set: the Secret is being deleted. */
  readonly deleting: boolean;
  /** `kubernetes.io/service-account.name`. */
  readonly serviceAccountName: string | undefined;
  /** `kubernetes.io/service-account.uid`, once the token controller has filled it in. */
  readonly serviceAccountUid: string | undefined;
  /** The `kubernetes.io/legacy-token-last-used` label as written (maybe malformed). */
  readonly lastUsed: string | undefined;
  /** The `kubernetes.io/legacy-token-invalid-since` label as written (maybe malformed). */
  readonly invalidSince: string | undefined;
}

/** The projection of one item of a metadata-only Secret list; undefined without a name. */
export function toTokenSecret(item: JsonObject): TokenSecret | undefined {
  const md = objectAt(item, 'metadata');
  const name = stringAt(md, 'name');
  if (!name) return undefined;
  const labels = objectAt(md, 'labels');
  const annotations = objectAt(md, 'annotations');
  return {
    namespace: stringAt(md, 'namespace') ?? '',
    name,
    uid: stringAt(md, 'uid') ?? '',
    createdAt: parseTimestamp(stringAt(md, 'creationTimestamp')),
    deleting: typeof md?.deletionTimestamp === 'string',
    serviceAccountName: stringAt(annotations, SERVICE_ACCOUNT_NAME_ANNOTATION) || undefined,
    serviceAccountUid: stringAt(annotations, SERVICE_ACCOUNT_UID_ANNOTATION) || undefined,
    lastUsed: stringAt(labels, LAST_USED_LABEL),
    invalidSince: stringAt(labels, INVALID_SINCE_LABEL),
  };
}

/**
 * The Secret as the engine judges a CREATE of it: type, name, namespace and the ServiceAccount
 * annotation. No data (there is none to give), so only the legacy-token rule has something to say.
 */
export function secretForEngine(s: TokenSecret): JsonObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: s.name,
      namespace: s.namespace,
      ...(s.serviceAccountName ? { annotations: { [SERVICE_ACCOUNT_NAME_ANNOTATION]: s.serviceAccountName } } : {}),
    },
    type: 'kubernetes.io/service-account-token',
  };
}

/** What the scan keeps of a ServiceAccount. */
export interface ServiceAccountInfo {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  /** Names in `.secrets` (the references that mark a token Secret as auto-generated). */
  readonly secrets: readonly string[];
  /**
   * The ServiceAccount as a fact for the dry run: name, namespace, uid, annotations,
   * automountServiceAccountToken and imagePullSecrets (what the plugin and the engine read).
   */
  readonly fact: JsonObject;
}

/** The projection of a listed ServiceAccount; undefined without a name. */
export function toServiceAccount(sa: JsonObject): ServiceAccountInfo | undefined {
  const md = objectAt(sa, 'metadata');
  const name = stringAt(md, 'name');
  if (!name) return undefined;
  const namespace = stringAt(md, 'namespace') ?? '';
  const uid = stringAt(md, 'uid') ?? '';
  const secrets = objectsAt(sa, 'secrets')
    .map((s) => stringAt(s, 'name'))
    .filter((n): n is string => !!n);
  const annotations = stringMapAt(md, 'annotations');
  delete annotations['kubectl.kubernetes.io/last-applied-configuration'];
  const automount = sa.automountServiceAccountToken;
  const pulls = objectsAt(sa, 'imagePullSecrets').flatMap((s) =>
    stringAt(s, 'name') ? [{ name: stringAt(s, 'name') as string }] : [],
  );
  return {
    namespace,
    name,
    uid,
    secrets,
    fact: {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: {
        name,
        namespace,
        ...(uid ? { uid } : {}),
        ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
      },
      ...(typeof automount === 'boolean' ? { automountServiceAccountToken: automount } : {}),
      ...(pulls.length > 0 ? { imagePullSecrets: pulls } : {}),
    },
  };
}

/** A Namespace as a fact: name and labels. */
export function toNamespaceFact(ns: JsonObject): JsonObject | undefined {
  const md = objectAt(ns, 'metadata');
  const name = stringAt(md, 'name');
  if (!name) return undefined;
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: stringMapAt(md, 'labels') } };
}

/** A RoleBinding or ClusterRoleBinding as a fact: what decides "bound" (subjects, roleRef). */
export function toBindingFact(kind: 'RoleBinding' | 'ClusterRoleBinding', b: JsonObject): JsonObject | undefined {
  const md = objectAt(b, 'metadata');
  const name = stringAt(md, 'name');
  if (!name) return undefined;
  const namespace = stringAt(md, 'namespace');
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind,
    metadata: { name, ...(kind === 'RoleBinding' && namespace ? { namespace } : {}) },
    ...(isObject(b.roleRef) ? { roleRef: b.roleRef } : {}),
    subjects: objectsAt(b, 'subjects'),
  };
}

/** `ns/name`, the key of namespaced objects in every map of the scan. */
export function key(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

/** How reports name an object: `Kind ns/name` (or `Kind name` when cluster-scoped). */
export function describeRef(ref: Pick<ObjectRef, 'kind' | 'namespace' | 'name'>): string {
  return ref.namespace ? `${ref.kind} ${ref.namespace}/${ref.name}` : `${ref.kind} ${ref.name}`;
}
