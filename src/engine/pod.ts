import { isApiAudience, isPluginTokenVolume, podBoundLifetime } from './api-token.js';
import { DEFAULT_PROJECTED_EXPIRATION_SECONDS, DEFAULT_SERVICE_ACCOUNT, MIRROR_POD_ANNOTATION } from '../constants.js';
import { isObject, type JsonObject, objectAt, objectsAt, stringAt } from '../json.js';

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

/** The ServiceAccount a pod runs as: `serviceAccountName`, its deprecated alias, else `default` (docs/kubernetes.md "The ServiceAccount admission plugin"). */
export function podServiceAccount(pod: JsonObject): string {
  const spec = objectAt(pod, 'spec');
  return stringAt(spec, 'serviceAccountName') || stringAt(spec, 'serviceAccount') || DEFAULT_SERVICE_ACCOUNT;
}

/** True for kubelet mirror pods, which webhooks must leave alone (docs/kubernetes.md "Mirror pods"). */
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
  /**
   * What the issued token lives: a year when the API server extends it (3607 s for its own
   * audience; every projected token is pod-bound), else `expirationSeconds` (docs/tokens.md).
   */
  readonly lifetimeSeconds: number;
  /** True when the token is for the API server: no audience, or one of the API audiences. */
  readonly isApiToken: boolean;
  /** True when the volume is the ServiceAccount plugin's own, by its whole shape (docs/tokens.md). */
  readonly isPluginVolume: boolean;
}

/**
 * Every projected ServiceAccount token source in the pod's volumes, mounted or not: a volume no
 * container mounts today can be mounted by an ephemeral container tomorrow. `apiAudiences` are
 * the API server's own audiences (globs).
 */
export function tokenSources(spec: JsonObject, apiAudiences: readonly string[]): TokenSource[] {
  const out: TokenSource[] = [];
  const volumes = spec.volumes;
  if (!Array.isArray(volumes)) return out;
  volumes.forEach((volume, volumeIndex) => {
    if (!isObject(volume)) return;
    const sources = objectAt(volume, 'projected')?.sources;
    if (!Array.isArray(sources)) return;
    let plugin: boolean | undefined;
    sources.forEach((source, sourceIndex) => {
      const token = isObject(source) ? objectAt(source, 'serviceAccountToken') : undefined;
      if (!token) return;
      plugin ??= isPluginTokenVolume(volume);
      const audience = stringAt(token, 'audience') ?? '';
      const exp = token.expirationSeconds;
      const expirationSeconds = typeof exp === 'number' ? exp : DEFAULT_PROJECTED_EXPIRATION_SECONDS;
      out.push({
        volumeIndex,
        volumeName: stringAt(volume, 'name') ?? '',
        sourceIndex,
        token,
        audience,
        expirationSeconds,
        lifetimeSeconds: podBoundLifetime(expirationSeconds, [audience], apiAudiences),
        isApiToken: isApiAudience(audience, apiAudiences),
        isPluginVolume: plugin,
      });
    });
  });
  return out;
}

/**
 * Names of the volumes the ServiceAccount admission plugin added for the API token, recognised
 * by their whole shape (`isPluginTokenVolume`), not by the `kube-api-access-` prefix alone: a
 * user's volume under that name (an emptyDir, or a token of its own making) is the author's.
 */
export function pluginTokenVolumeNames(spec: JsonObject): Set<string> {
  const names = new Set<string>();
  for (const v of objectsAt(spec, 'volumes')) {
    if (isPluginTokenVolume(v)) names.add(stringAt(v, 'name') ?? '');
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

/**
 * A copy of `pod` for `mutatePod` (pod-rules.ts) to edit, copy-on-write: the pod, its spec and
 * the spec's volume and container arrays are new (shallow copies); everything else, every volume
 * and every container included, is shared with `pod` until a rule writes to it through
 * {@link writableToken} or {@link writableContainer}, which copy the path to what they return.
 *
 * Why not a deep copy: the sharing is what makes the copy and the JSON Patch cheap.
 * fast-json-patch's `compare` (diff.ts) returns at once on identical references, so comparing
 * the edited copy with the original visits only what a rule changed. With deep copies the engine
 * copied and compared the whole pod twice (served and audit patches), which was most of its
 * time on a typical pod. The patch is the same either way: identical subtrees yield no
 * operation.
 *
 * Contract: `mutatePod` writes only to the spec itself, to the copied arrays, and to objects
 * returned by the two helpers. test/unit/engine/edit-copy.test.ts runs every pod rule on a deeply
 * frozen pod to catch a write anywhere else, and the property tests check that the input never
 * changes.
 */
export function podEditCopy(pod: JsonObject): JsonObject {
  const spec = pod.spec;
  if (!isObject(spec)) return { ...pod };
  const copy: JsonObject = { ...spec };
  if (Array.isArray(spec.volumes)) copy.volumes = [...spec.volumes];
  for (const field of CONTAINER_FIELDS) {
    const list = spec[field];
    if (Array.isArray(list)) copy[field] = [...list];
  }
  return { ...pod, spec: copy };
}

/**
 * The `serviceAccountToken` object of `source`, made writable in a spec copied by
 * {@link podEditCopy}: the volume, its projection, the sources array, the source and the token
 * are copied and put in place of the shared ones. Calling it again for the same token copies the
 * path again, from the current state: correct, if not free.
 */
export function writableToken(spec: JsonObject, source: TokenSource): JsonObject {
  const volumes = spec.volumes as JsonObject[]; // the edit's own array (tokenSources found the token there)
  const volume: JsonObject = { ...(volumes[source.volumeIndex] as JsonObject) };
  const projected: JsonObject = { ...(volume.projected as JsonObject) };
  const sources = [...(projected.sources as JsonObject[])];
  const entry: JsonObject = { ...(sources[source.sourceIndex] as JsonObject) };
  const token: JsonObject = { ...(entry.serviceAccountToken as JsonObject) };
  entry.serviceAccountToken = token;
  sources[source.sourceIndex] = entry;
  projected.sources = sources;
  volume.projected = projected;
  volumes[source.volumeIndex] = volume;
  return token;
}

/**
 * The container of `ref`, made writable in a spec copied by {@link podEditCopy}: the container
 * and its `volumeMounts` array are copied and put in place of the shared ones. `ref` must come
 * from `allContainers` on this spec, after any earlier write to the same container.
 */
export function writableContainer(spec: JsonObject, ref: ContainerRef): JsonObject {
  const list = spec[ref.field] as unknown[]; // the edit's own array
  const index = list.indexOf(ref.container);
  if (index === -1) throw new Error(`engine: stale reference to ${ref.field} ${ref.name}`);
  const container: JsonObject = { ...ref.container };
  if (Array.isArray(container.volumeMounts)) container.volumeMounts = [...container.volumeMounts];
  list[index] = container;
  return container;
}
