/**
 * What the API server does to a Pod CREATE before any webhook sees it, for the offline CLI:
 * the `ServiceAccount` admission plugin (docs/kubernetes.md "The ServiceAccount admission
 * plugin"), plus the few defaults that decoding applies to token volumes ("Projected token
 * fields"). Pure: every random choice comes from an
 * injected generator, so reports are reproducible.
 *
 * Upstream: kubernetes/kubernetes plugin/pkg/admission/serviceaccount/admission.go
 * (`Admit`, `shouldAutomount`, `mountServiceAccountToken`, `TokenVolumeSource`).
 */
import { createHash } from 'node:crypto';
import {
  API_TOKEN_DEFAULT_EXPIRATION_SECONDS,
  API_TOKEN_MOUNT_PATH,
  API_TOKEN_VOLUME_PREFIX,
  DEFAULT_PROJECTED_EXPIRATION_SECONDS,
  DEFAULT_SERVICE_ACCOUNT,
  PROJECTED_DEFAULT_MODE,
} from '../constants.js';
import { isObject, type JsonObject, objectAt, objectsAt, stringAt } from '../json.js';
import { isMirrorPod } from '../engine/pod.js';

/** Characters `utilrand.String` draws from: no vowels, no 0, 1 or 3. */
export const NAME_SUFFIX_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/** Length of the random part `names.SimpleNameGenerator` appends. */
const NAME_SUFFIX_LENGTH = 5;

/**
 * A deterministic stand-in for `utilrand.String(5)`: five characters of
 * {@link NAME_SUFFIX_ALPHABET} derived from a SHA-256 of `seed` (for example `file#document`),
 * so the same input always gets the same `kube-api-access-xxxxx` name.
 *
 * @example seededSuffix('app.yaml#1') // e.g. 'x7k2p'
 */
export function seededSuffix(seed: string): string {
  const bytes = createHash('sha256').update(seed).digest();
  let out = '';
  for (let i = 0; i < NAME_SUFFIX_LENGTH; i++) out += NAME_SUFFIX_ALPHABET[bytes[i]! % NAME_SUFFIX_ALPHABET.length];
  return out;
}

/** What the plugin reads of a ServiceAccount. */
export interface PluginServiceAccount {
  readonly automountServiceAccountToken?: boolean;
  /** Names from the ServiceAccount's `imagePullSecrets`. */
  readonly imagePullSecrets?: readonly string[];
}

export interface SimulateArgs {
  /** The pod as submitted (never modified). */
  readonly pod: JsonObject;
  /** The ServiceAccount named `name` in the pod's namespace, or undefined when not known. */
  readonly serviceAccount: (name: string) => PluginServiceAccount | undefined;
  /** Returns the 5 characters `generateName` would append (see {@link seededSuffix}). */
  readonly suffix: () => string;
}

/** Where the effective automount value came from. */
export type AutomountSource = 'pod' | 'serviceAccount' | 'default';

/** What the plugin did to one pod, and why. */
export interface PluginSimulation {
  /** The pod as the plugin leaves it (a copy). */
  readonly pod: JsonObject;
  /** True for mirror pods, which the plugin never changes (docs/kubernetes.md "Mirror pods"). */
  readonly mirror: boolean;
  readonly serviceAccountName: string;
  /** False when the ServiceAccount was in neither the manifests nor the facts. */
  readonly serviceAccountKnown: boolean;
  readonly automount: boolean;
  readonly automountFrom: AutomountSource;
  /** The `kube-api-access-*` volume the containers mount, when automount is on. */
  readonly tokenVolume: string | undefined;
  /** True when the plugin added that volume (false when it reused one). */
  readonly volumeAdded: boolean;
  /** `field/name` of every container that got the mount (init containers first). */
  readonly mountedInto: readonly string[];
  readonly imagePullSecretsCopied: readonly string[];
  /** One line per change, for reports. */
  readonly changes: readonly string[];
}

/**
 * Runs the ServiceAccount admission plugin's `Admit` on a Pod CREATE, exactly as upstream:
 *
 * | step | what                                                                                     |
 * |------|------------------------------------------------------------------------------------------|
 * | 0    | mirror pods (`kubernetes.io/config.mirror`) are left alone (1.12)                        |
 * | 1    | empty `serviceAccountName` becomes the deprecated `serviceAccount` alias, else `default`; both fields carry it (1.9, 1.16) |
 * | 2    | automount = pod field if set, else the ServiceAccount's if set, else true (1.8)           |
 * | 3    | if automount: reuse the first volume named `kube-api-access-*`, else name a new one (1.2, 1.3) |
 * | 4    | append `{name, readOnly: true, mountPath}` to every init, then regular, container without a mount at exactly that path; never ephemeral ones (1.5-1.7) |
 * | 5    | append the projected volume (1.4) only if some container needed it and none was reused |
 * | 6    | with no `imagePullSecrets` on the pod, copy the ServiceAccount's (1.9)                   |
 *
 * A ServiceAccount that is not known is taken to exist with automount unset: in a cluster,
 * `default` always exists, and others are usually created outside the manifests under test.
 */
export function simulateServiceAccountAdmission({
  pod: input,
  serviceAccount,
  suffix,
}: SimulateArgs): PluginSimulation {
  const pod = structuredClone(input);
  const specIn = objectAt(pod, 'spec');
  const mirror = isMirrorPod(pod);
  const changes: string[] = [];
  const nameIn = stringAt(specIn, 'serviceAccountName') || stringAt(specIn, 'serviceAccount') || '';
  if (mirror || !specIn) {
    return {
      pod,
      mirror,
      serviceAccountName: nameIn,
      serviceAccountKnown: false,
      automount: false,
      automountFrom: 'default',
      tokenVolume: undefined,
      volumeAdded: false,
      mountedInto: [],
      imagePullSecretsCopied: [],
      changes: [],
    };
  }
  const spec = specIn;

  // 1. The ServiceAccount name, and its deprecated alias (conversion copies it back).
  const name = nameIn || DEFAULT_SERVICE_ACCOUNT;
  if (!nameIn) changes.push(`serviceAccountName defaulted to "${DEFAULT_SERVICE_ACCOUNT}"`);
  spec.serviceAccountName = name;
  spec.serviceAccount = name;
  const sa = serviceAccount(name);

  // 2. Effective automount: the pod's preference wins, then the ServiceAccount's, then true.
  let automount = true;
  let automountFrom: AutomountSource = 'default';
  if (typeof spec.automountServiceAccountToken === 'boolean') {
    automount = spec.automountServiceAccountToken;
    automountFrom = 'pod';
  } else if (typeof sa?.automountServiceAccountToken === 'boolean') {
    automount = sa.automountServiceAccountToken;
    automountFrom = 'serviceAccount';
  }

  let tokenVolume: string | undefined;
  let volumeAdded = false;
  const mountedInto: string[] = [];
  if (automount) {
    // 3. Reuse the first kube-api-access-* volume, whatever it holds.
    const existing = objectsAt(spec, 'volumes').find((v) =>
      (stringAt(v, 'name') ?? '').startsWith(API_TOKEN_VOLUME_PREFIX),
    );
    tokenVolume = existing ? (stringAt(existing, 'name') as string) : `${API_TOKEN_VOLUME_PREFIX}${suffix()}`;
    // 4. Mount it in every init and regular container with nothing at the path.
    for (const field of ['initContainers', 'containers'] as const) {
      const list = spec[field];
      if (!Array.isArray(list)) continue;
      for (const c of list) {
        if (!isObject(c)) continue;
        if (objectsAt(c, 'volumeMounts').some((m) => stringAt(m, 'mountPath') === API_TOKEN_MOUNT_PATH)) continue;
        const mounts = Array.isArray(c.volumeMounts) ? c.volumeMounts : [];
        mounts.push({ name: tokenVolume, readOnly: true, mountPath: API_TOKEN_MOUNT_PATH });
        c.volumeMounts = mounts;
        mountedInto.push(`${field}/${stringAt(c, 'name') ?? ''}`);
      }
    }
    // 5. Add the volume only when some container needed it and none was reused.
    if (!existing && mountedInto.length > 0) {
      const volumes = Array.isArray(spec.volumes) ? spec.volumes : [];
      volumes.push({ name: tokenVolume, projected: apiTokenVolumeSource() });
      spec.volumes = volumes;
      volumeAdded = true;
    }
    if (volumeAdded) changes.push(`added volume ${tokenVolume} (API token, ${API_TOKEN_DEFAULT_EXPIRATION_SECONDS} s)`);
    if (mountedInto.length > 0)
      changes.push(`mounted ${existing ? 'existing volume ' : ''}${tokenVolume} in ${mountedInto.join(', ')}`);
    if (mountedInto.length === 0) tokenVolume = existing ? tokenVolume : undefined;
  }

  // 6. imagePullSecrets from the ServiceAccount, when the pod has none.
  const copied: string[] = [];
  const podSecrets = spec.imagePullSecrets;
  if (
    (!Array.isArray(podSecrets) || podSecrets.length === 0) &&
    sa?.imagePullSecrets &&
    sa.imagePullSecrets.length > 0
  ) {
    spec.imagePullSecrets = sa.imagePullSecrets.map((n) => ({ name: n }));
    copied.push(...sa.imagePullSecrets);
    changes.push(`imagePullSecrets copied from ServiceAccount ${name}: ${copied.join(', ')}`);
  }

  return {
    pod,
    mirror,
    serviceAccountName: name,
    serviceAccountKnown: sa !== undefined,
    automount,
    automountFrom,
    tokenVolume,
    volumeAdded,
    mountedInto,
    imagePullSecretsCopied: copied,
    changes,
  };
}

/**
 * The projected volume source the plugin adds (`TokenVolumeSource`, docs/tokens.md "The plugin's volume"): defaultMode 420
 * and exactly three sources, in this order. Keys follow the Go field order, as the API server
 * serialises them.
 */
export function apiTokenVolumeSource(): JsonObject {
  return {
    sources: [
      { serviceAccountToken: { expirationSeconds: API_TOKEN_DEFAULT_EXPIRATION_SECONDS, path: 'token' } },
      { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
      {
        downwardAPI: {
          items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }],
        },
      },
    ],
    defaultMode: PROJECTED_DEFAULT_MODE,
  };
}

/**
 * Applies the API server's defaults that token rules read (docs/kubernetes.md "Projected token fields"): a projected volume
 * without `defaultMode` gets 420, and a `serviceAccountToken` without `expirationSeconds` gets
 * 3600. Done on decode, so webhooks see them. Returns a copy; the input is not changed.
 */
export function applyTokenDefaults(pod: JsonObject): JsonObject {
  const out = structuredClone(pod);
  for (const v of objectsAt(objectAt(out, 'spec'), 'volumes')) {
    const projected = objectAt(v, 'projected');
    if (!projected) continue;
    if (projected.defaultMode === undefined || projected.defaultMode === null)
      projected.defaultMode = PROJECTED_DEFAULT_MODE;
    for (const s of objectsAt(projected, 'sources')) {
      const token = objectAt(s, 'serviceAccountToken');
      if (token && (token.expirationSeconds === undefined || token.expirationSeconds === null)) {
        token.expirationSeconds = DEFAULT_PROJECTED_EXPIRATION_SECONDS;
      }
    }
  }
  return out;
}
