/**
 * Which Secrets a pod spec refers to, and how: every reference kube-controller-manager's
 * legacy-token cleaner counts as "used by a pod" (upstream `VisitPodSecretNames`, docs/scan.md),
 * with the detail a migration needs (container, mount path, keys). Pure.
 */
import { isObject, type JsonObject, objectAt, objectsAt, stringAt } from '../json.js';
import { allContainers } from './pod.js';

/**
 * How a Secret is referred to:
 * - `volume`: a `secret` volume;
 * - `projected`: a `secret` source of a projected volume;
 * - `env`: `env[].valueFrom.secretKeyRef`;
 * - `envFrom`: `envFrom[].secretRef`;
 * - `imagePullSecret`: `spec.imagePullSecrets`;
 * - `other-volume`: the secret reference of another volume type (CSI `nodePublishSecretRef`,
 *   `cephfs`, `rbd`, `azureFile`...), which the cleaner counts too.
 */
export type UseKind = 'volume' | 'projected' | 'env' | 'envFrom' | 'imagePullSecret' | 'other-volume';

/** One reference to a Secret. */
export interface SecretUse {
  readonly secret: string;
  readonly kind: UseKind;
  /** The volume (volume, projected, other-volume). */
  readonly volume?: string;
  /** `field/name` of the container (`containers/app`, `initContainers/setup`), for mounts and env. */
  readonly container?: string;
  /** Where the container mounts the volume; absent for a volume no container mounts. */
  readonly mountPath?: string;
  readonly subPath?: string;
  /** Keys taken: a volume's `items` (absent: every key), or the key of a `secretKeyRef`. */
  readonly keys?: readonly string[];
  /** The environment variable of an `env` reference, or the prefix of an `envFrom` one. */
  readonly envVar?: string;
  /** The volume type of an `other-volume` reference. */
  readonly source?: string;
}

/** Volume types with a secret reference, and where it is (upstream `VisitPodSecretNames`). */
const OTHER_VOLUME_REFS: readonly (readonly [string, readonly string[]])[] = [
  ['azureFile', ['secretName']],
  ['cephfs', ['secretRef', 'name']],
  ['cinder', ['secretRef', 'name']],
  ['flexVolume', ['secretRef', 'name']],
  ['rbd', ['secretRef', 'name']],
  ['scaleIO', ['secretRef', 'name']],
  ['iscsi', ['secretRef', 'name']],
  ['storageos', ['secretRef', 'name']],
  ['csi', ['nodePublishSecretRef', 'name']],
];

/**
 * Every reference of a pod spec to a Secret for which `wanted` is true (default: all), in spec
 * order: imagePullSecrets, then per container (init, regular, ephemeral) envFrom and env, then
 * volumes, each volume once per container that mounts it (or once, unmounted).
 *
 * @example secretUses(pod.spec, (name) => tokenSecrets.has(name))
 */
export function secretUses(spec: JsonObject, wanted: (secret: string) => boolean = () => true): SecretUse[] {
  const out: SecretUse[] = [];
  for (const ref of objectsAt(spec, 'imagePullSecrets')) {
    const name = stringAt(ref, 'name');
    if (name && wanted(name)) out.push({ secret: name, kind: 'imagePullSecret' });
  }
  const containers = allContainers(spec);
  for (const c of containers) {
    const container = `${c.field}/${c.name}`;
    for (const e of objectsAt(c.container, 'envFrom')) {
      const name = stringAt(objectAt(e, 'secretRef'), 'name');
      if (name && wanted(name))
        out.push({
          secret: name,
          kind: 'envFrom',
          container,
          ...(stringAt(e, 'prefix') ? { envVar: stringAt(e, 'prefix') } : {}),
        });
    }
    for (const e of objectsAt(c.container, 'env')) {
      const ref = objectAt(objectAt(e, 'valueFrom'), 'secretKeyRef');
      const name = stringAt(ref, 'name');
      if (name && wanted(name))
        out.push({
          secret: name,
          kind: 'env',
          container,
          envVar: stringAt(e, 'name') ?? '',
          keys: [stringAt(ref, 'key') ?? ''],
        });
    }
  }
  for (const v of objectsAt(spec, 'volumes')) {
    const volume = stringAt(v, 'name') ?? '';
    const found: { secret: string; kind: UseKind; keys?: string[]; source?: string }[] = [];
    const secret = objectAt(v, 'secret');
    if (secret) {
      const name = stringAt(secret, 'secretName');
      if (name && wanted(name)) found.push({ secret: name, kind: 'volume', ...itemKeys(secret) });
    }
    for (const s of objectsAt(objectAt(v, 'projected'), 'sources')) {
      const ps = objectAt(s, 'secret');
      const name = stringAt(ps, 'name');
      if (ps && name && wanted(name)) found.push({ secret: name, kind: 'projected', ...itemKeys(ps) });
    }
    for (const [type, path] of OTHER_VOLUME_REFS) {
      let at: unknown = v[type];
      for (const p of path) at = isObject(at) ? at[p] : undefined;
      if (typeof at === 'string' && at !== '' && wanted(at))
        found.push({ secret: at, kind: 'other-volume', source: type });
    }
    if (found.length === 0) continue;
    const mounts = containers.flatMap((c) =>
      objectsAt(c.container, 'volumeMounts')
        .filter((m) => stringAt(m, 'name') === volume)
        .map((m) => ({
          container: `${c.field}/${c.name}`,
          mountPath: stringAt(m, 'mountPath') ?? '',
          subPath: stringAt(m, 'subPath'),
        })),
    );
    for (const f of found) {
      if (mounts.length === 0) out.push({ ...f, volume });
      for (const m of mounts)
        out.push({
          ...f,
          volume,
          container: m.container,
          mountPath: m.mountPath,
          ...(m.subPath ? { subPath: m.subPath } : {}),
        });
    }
  }
  return out;
}

/** The keys a secret volume (or projected source) takes when it lists `items`. */
function itemKeys(source: JsonObject): { keys?: string[] } {
  const items = source.items;
  if (!Array.isArray(items)) return {};
  return { keys: items.filter(isObject).map((i) => stringAt(i, 'key') ?? '') };
}

/** A one-line description of a use, for reports: `volume legacy at /var/run/x in containers/app`. */
export function describeUse(u: SecretUse): string {
  const keys = u.keys ? ` (key${u.keys.length === 1 ? '' : 's'} ${u.keys.join(', ')})` : '';
  const inContainer = u.container ? ` in ${u.container}` : '';
  switch (u.kind) {
    case 'imagePullSecret':
      return 'listed in imagePullSecrets';
    case 'env':
      return `env ${u.envVar}${keys}${inContainer}`;
    case 'envFrom':
      return `envFrom${u.envVar ? ` (prefix ${u.envVar})` : ''}${inContainer}`;
    case 'other-volume':
      return `${u.source} volume ${u.volume}${u.mountPath ? ` at ${u.mountPath}` : ''}${inContainer}`;
    default: {
      const at = u.mountPath
        ? ` at ${u.mountPath}${u.subPath ? ` (subPath ${u.subPath})` : ''}${inContainer}`
        : ', not mounted';
      return `${u.kind === 'projected' ? 'projected volume' : 'volume'} ${u.volume}${keys}${at}`;
    }
  }
}

/** A stable identity of a use, to count each once per workload. */
export function useKey(u: SecretUse): string {
  return [
    u.secret,
    u.kind,
    u.volume ?? '',
    u.container ?? '',
    u.mountPath ?? '',
    u.subPath ?? '',
    (u.keys ?? []).join(','),
    u.envVar ?? '',
    u.source ?? '',
  ].join('\u0000');
}
