import {
  API_TOKEN_VOLUME_PREFIX,
  DEFAULT_PROJECTED_EXPIRATION_SECONDS,
  DEFAULT_SERVICE_ACCOUNT,
  MIRROR_POD_ANNOTATION,
} from './constants.js';
import { isObject, type JsonObject, objectAt, objectsAt, stringAt } from './json.js';

/** The three container lists of a pod spec, in the order the API server walks them. */
export const CONTAINER_FIELDS = ['initContainers', 'containers', 'ephemeralContainers'] as const;
export type ContainerField = (typeof CONTAINER_FIELDS)[number];

export interface ContainerRef {
  readonly field: ContainerField;
  readonly index: number;
  readonly container: JsonObject;
  readonly name: string;
}

/** Every container of a pod spec (init, regular, ephemeral), with where it sits. */
export function allContainers(spec: JsonObject): ContainerRef[] {
  const out: ContainerRef[] = [];
  for (const field of CONTAINER_FIELDS) {
    objectsAt(spec, field).forEach((container, index) => {
      out.push({ field, index, container, name: stringAt(container, 'name') ?? '' });
    });
  }
  return out;
}

/** The ServiceAccount a pod runs as: `serviceAccountName`, its deprecated alias, else `default` (facts 1.9, 1.16). */
export function podServiceAccount(pod: JsonObject): string {
  const spec = objectAt(pod, 'spec');
  return stringAt(spec, 'serviceAccountName') || stringAt(spec, 'serviceAccount') || DEFAULT_SERVICE_ACCOUNT;
}

/** True for kubelet mirror pods, which webhooks must leave alone (fact 1.12). */
export function isMirrorPod(pod: JsonObject): boolean {
  const annotations = objectAt(objectAt(pod, 'metadata'), 'annotations');
  return annotations !== undefined && Object.hasOwn(annotations, MIRROR_POD_ANNOTATION);
}

/** A `serviceAccountToken` projection found in a pod's volumes. */
export interface TokenSource {
  readonly volumeIndex: number;
  readonly volumeName: string;
  readonly sourceIndex: number;
  /** The `serviceAccountToken` object itself (live reference into the pod). */
  readonly token: JsonObject;
  readonly audience: string;
  /** `expirationSeconds`, or 3600 when omitted (Kubernetes' default). */
  readonly expirationSeconds: number;
  /** True when the token is the API server's own (no audience), as in kube-api-access. */
  readonly isApiToken: boolean;
}

/** Every projected ServiceAccount token source in the pod's volumes. */
export function tokenSources(spec: JsonObject): TokenSource[] {
  const out: TokenSource[] = [];
  const volumes = spec.volumes;
  if (!Array.isArray(volumes)) return out;
  volumes.forEach((volume, volumeIndex) => {
    if (!isObject(volume)) return;
    const sources = objectAt(volume, 'projected')?.sources;
    if (!Array.isArray(sources)) return;
    sources.forEach((source, sourceIndex) => {
      const token = isObject(source) ? objectAt(source, 'serviceAccountToken') : undefined;
      if (!token) return;
      const audience = stringAt(token, 'audience') ?? '';
      const exp = token.expirationSeconds;
      out.push({
        volumeIndex,
        volumeName: stringAt(volume, 'name') ?? '',
        sourceIndex,
        token,
        audience,
        expirationSeconds: typeof exp === 'number' ? exp : DEFAULT_PROJECTED_EXPIRATION_SECONDS,
        isApiToken: audience === '',
      });
    });
  });
  return out;
}

/**
 * Names of the volumes the ServiceAccount admission plugin added for the API token: a
 * `kube-api-access-` prefix and a projected API-audience token inside. A volume that merely
 * carries the prefix (say, a user's emptyDir) is not one of them and is never removed.
 */
export function apiTokenVolumeNames(spec: JsonObject): Set<string> {
  const names = new Set<string>();
  for (const s of tokenSources(spec)) {
    if (s.isApiToken && s.volumeName.startsWith(API_TOKEN_VOLUME_PREFIX)) names.add(s.volumeName);
  }
  return names;
}

/** Names of every volume some container (init, regular or ephemeral) mounts. */
export function mountedVolumeNames(spec: JsonObject): Set<string> {
  const names = new Set<string>();
  for (const c of allContainers(spec)) {
    for (const m of objectsAt(c.container, 'volumeMounts')) {
      const n = stringAt(m, 'name');
      if (n) names.add(n);
    }
  }
  return names;
}

/** Ensures `obj[key]` is an array and returns it. */
export function arrayField(obj: JsonObject, key: string): unknown[] {
  const v = obj[key];
  if (Array.isArray(v)) return v;
  const arr: unknown[] = [];
  obj[key] = arr as JsonObject[];
  return arr;
}
