/**
 * What the API server does with a ServiceAccount token request, as far as policies care: whose
 * audience is the API server's own, when a token is extended to a year, and which projected
 * volume is the ServiceAccount admission plugin's. Each rule is docs/tokens.md, with its
 * upstream source.
 */
import {
  API_TOKEN_DEFAULT_EXPIRATION_SECONDS,
  API_TOKEN_VOLUME_PREFIX,
  EXTENDED_EXPIRATION_SECONDS,
  PROJECTED_DEFAULT_MODE,
  ROOT_CA_CONFIGMAP,
} from '../constants.js';
import { anyGlob } from '../glob.js';
import { isObject, type JsonObject, type JsonValue } from '../json.js';

/**
 * True when a token for `audience` is a token for the API server: the empty audience (the API
 * server fills in its own) or one matching the API audiences (`--api-audiences`, globs).
 */
export function isApiAudience(audience: string, apiAudiences: readonly string[]): boolean {
  return audience === '' || anyGlob(apiAudiences, audience);
}

/**
 * True when the API server issues this pod-bound request for a year instead of the requested
 * time: exactly 3607 s and every audience its own (an empty list is filled with its own). Only
 * pod-bound requests are extended: every projected volume's token is, a TokenRequest only with
 * `boundObjectRef.kind: Pod`. Assumes `--service-account-extend-token-expiration` is on (the
 * default) and `--service-account-max-token-expiration`, when set, is not below 3607 s: when
 * those differ the token lives at most the requested time, so counting a year is stricter than
 * needed, never looser. docs/tokens.md "Extension to a year".
 */
function isExtended(expirationSeconds: number, audiences: readonly string[], apiAudiences: readonly string[]): boolean {
  return (
    expirationSeconds === API_TOKEN_DEFAULT_EXPIRATION_SECONDS && audiences.every((a) => isApiAudience(a, apiAudiences))
  );
}

/** What the issued token's `exp - iat` is for a pod-bound request: a year when extended, else the request. */
export function podBoundLifetime(
  expirationSeconds: number,
  audiences: readonly string[],
  apiAudiences: readonly string[],
): number {
  return isExtended(expirationSeconds, audiences, apiAudiences) ? EXTENDED_EXPIRATION_SECONDS : expirationSeconds;
}

/**
 * The expiration to write so that a pod-bound token lives within `[min, max]`: the request
 * clamped into the bounds, and where that is the extended 3607 s, 3606 (or 3608 when the minimum
 * is above 3606), which lives exactly that long. Undefined when no such value exists (bounds of
 * exactly 3607 s for an extended token).
 */
export function boundedExpiration(
  requested: number,
  min: number,
  max: number,
  extendable: boolean,
): number | undefined {
  const t = Math.min(Math.max(requested, min), max);
  if (!extendable || t !== API_TOKEN_DEFAULT_EXPIRATION_SECONDS) return t;
  if (API_TOKEN_DEFAULT_EXPIRATION_SECONDS - 1 >= min) return API_TOKEN_DEFAULT_EXPIRATION_SECONDS - 1;
  if (API_TOKEN_DEFAULT_EXPIRATION_SECONDS + 1 <= max) return API_TOKEN_DEFAULT_EXPIRATION_SECONDS + 1;
  return undefined;
}

/**
 * `expirationSeconds 3600`, for messages; when the request alone is within `max` but the API
 * server extends it, says so: `expirationSeconds 3607 (extended to 31536000 s)`.
 */
export function describeLifetime(expirationSeconds: number, lifetime: number, max: number): string {
  return lifetime === expirationSeconds || expirationSeconds > max
    ? `expirationSeconds ${expirationSeconds}`
    : `expirationSeconds ${expirationSeconds} (extended to ${lifetime} s)`;
}

/**
 * True when `volume` is the token volume the ServiceAccount admission plugin adds, by its whole
 * shape (`TokenVolumeSource`, docs/tokens.md "The plugin's volume"): a `kube-api-access-` name,
 * a projected volume with default mode 0644 and exactly these sources, in this order:
 * - `serviceAccountToken` with path `token`, no audience, and `expirationSeconds` at most 3607
 *   (the plugin writes 3607; `apiTokenExpirationSeconds` may have lowered it);
 * - `configMap` `kube-root-ca.crt`, item `ca.crt` -> `ca.crt`;
 * - `downwardAPI`, item `namespace` from the v1 field `metadata.namespace`;
 * - on OpenShift only, a fourth: `configMap` `openshift-service-ca.crt`, item `service-ca.crt`.
 * Anything else, even under a `kube-api-access-` name, is a volume of the pod's author.
 */
export function isPluginTokenVolume(volume: JsonObject): boolean {
  const name = volume.name;
  if (typeof name !== 'string' || !name.startsWith(API_TOKEN_VOLUME_PREFIX)) return false;
  if (!hasOnlyKeys(volume, ['name', 'projected'])) return false;
  const projected = volume.projected;
  if (!isObject(projected) || !hasOnlyKeys(projected, ['sources', 'defaultMode'])) return false;
  if (projected.defaultMode !== undefined && projected.defaultMode !== PROJECTED_DEFAULT_MODE) return false;
  const sources = projected.sources;
  if (!Array.isArray(sources) || (sources.length !== 3 && sources.length !== 4)) return false;
  const [token, ca, namespace, serviceCa] = sources;
  return (
    isPluginToken(token) &&
    isConfigMapItem(ca, ROOT_CA_CONFIGMAP, 'ca.crt') &&
    isNamespaceItem(namespace) &&
    (serviceCa === undefined || isConfigMapItem(serviceCa, OPENSHIFT_SERVICE_CA_CONFIGMAP, 'service-ca.crt'))
  );
}

/** The fourth source OpenShift's ServiceAccount plugin adds (docs/tokens.md). */
const OPENSHIFT_SERVICE_CA_CONFIGMAP = 'openshift-service-ca.crt';

function hasOnlyKeys(o: JsonObject, keys: readonly string[]): boolean {
  for (const k of Object.keys(o)) if (o[k] !== undefined && !keys.includes(k)) return false;
  return true;
}

/** The one member of a projection source, if it has exactly `key`. */
function only(source: JsonValue | undefined, key: string): JsonObject | undefined {
  if (!isObject(source) || !hasOnlyKeys(source, [key])) return undefined;
  const v = source[key];
  return isObject(v) ? v : undefined;
}

function isPluginToken(source: JsonValue | undefined): boolean {
  const t = only(source, 'serviceAccountToken');
  if (!t || !hasOnlyKeys(t, ['path', 'expirationSeconds', 'audience'])) return false;
  const exp = t.expirationSeconds;
  return (
    t.path === 'token' &&
    (t.audience === undefined || t.audience === '') &&
    typeof exp === 'number' &&
    exp <= API_TOKEN_DEFAULT_EXPIRATION_SECONDS
  );
}

function isConfigMapItem(source: JsonValue | undefined, name: string, key: string): boolean {
  const c = only(source, 'configMap');
  if (!c || !hasOnlyKeys(c, ['name', 'items']) || c.name !== name) return false;
  const items = c.items;
  if (!Array.isArray(items) || items.length !== 1) return false;
  const item = items[0];
  return isObject(item) && hasOnlyKeys(item, ['key', 'path']) && item.key === key && item.path === key;
}

function isNamespaceItem(source: JsonValue | undefined): boolean {
  const d = only(source, 'downwardAPI');
  if (!d || !hasOnlyKeys(d, ['items'])) return false;
  const items = d.items;
  if (!Array.isArray(items) || items.length !== 1) return false;
  const item = items[0];
  if (!isObject(item) || !hasOnlyKeys(item, ['path', 'fieldRef']) || item.path !== 'namespace') return false;
  const ref = item.fieldRef;
  return (
    isObject(ref) &&
    hasOnlyKeys(ref, ['apiVersion', 'fieldPath']) &&
    (ref.apiVersion ?? 'v1') === 'v1' &&
    ref.fieldPath === 'metadata.namespace'
  );
}
