/**
 * The JSON types of the fields the engine reads, checked before it reads them. The engine reads
 * defensively (a wrong type reads as absent), which is right for a crash but wrong for a
 * verdict: `spec.volumes: "x"` read as "no volumes" would pass a pod that no API server would
 * ever send. So a Pod or TokenRequest with a field of the wrong type is refused as malformed,
 * naming the field. `null` counts as absent, as Kubernetes decodes it.
 *
 * Runs on every judged request: paths and messages are built only on the failure path, so a
 * well-formed object allocates nothing here.
 */
import { isObject, type JsonObject, type JsonValue } from '../json.js';
import { CONTAINER_FIELDS } from './pod.js';
import type { EngineInput } from './types.js';

/** Where the two objects of an input sit, for the paths in messages (`request.object.`). */
export interface ShapeRoots {
  readonly object: string;
  readonly oldObject: string;
}

/**
 * Why an object the engine would judge has a field of the wrong JSON type, or undefined: a Pod
 * CREATE, a `pods/ephemeralcontainers` UPDATE (both objects), a TokenRequest CREATE. Other
 * inputs are not read field by field and are never malformed here.
 */
export function inputShapeProblem(input: EngineInput, roots: ShapeRoots): string | undefined {
  const { kind, operation, subResource, object, oldObject } = input;
  if (!object) return undefined;
  if (kind === 'Pod' && operation === 'CREATE' && subResource === '') return podShapeProblem(object, roots.object);
  if (kind === 'Pod' && operation === 'UPDATE' && subResource === 'ephemeralcontainers') {
    return (
      podShapeProblem(object, roots.object) ?? (oldObject ? podShapeProblem(oldObject, roots.oldObject) : undefined)
    );
  }
  if (kind === 'TokenRequest' && operation === 'CREATE') return tokenRequestShapeProblem(object, roots.object);
  return undefined;
}

type Kind = 'object' | 'array' | 'string' | 'boolean' | 'integer';

/** True when `v` is present (not undefined or null) and not of `kind`. */
function wrong(v: JsonValue | undefined, kind: Kind): boolean {
  if (v === undefined || v === null) return false;
  switch (kind) {
    case 'object':
      return !isObject(v);
    case 'array':
      return !Array.isArray(v);
    case 'integer':
      return typeof v !== 'number' || !Number.isSafeInteger(v);
    default:
      return typeof v !== kind;
  }
}

/** `<path> must be an array, not a string`. */
function problem(path: string, kind: Kind, v: JsonValue | undefined): string {
  const want = kind === 'object' || kind === 'array' || kind === 'integer' ? `an ${kind}` : `a ${kind}`;
  return `${path} must be ${want}, not ${typeName(v)}`;
}

function typeName(v: JsonValue | undefined): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'number') return Number.isInteger(v) ? 'a number out of range' : 'a fractional number';
  return `a ${typeof v}`;
}

/** The first element of an array that is not an object (null included), or -1. */
function firstNonObject(list: readonly JsonValue[]): number {
  for (let i = 0; i < list.length; i++) if (!isObject(list[i])) return i;
  return -1;
}

/** The first key of a string map whose value is not a string, or undefined. */
function firstNonString(map: JsonObject): string | undefined {
  for (const k in map) if (Object.hasOwn(map, k) && typeof map[k] !== 'string') return k;
  return undefined;
}

/**
 * Why a Pod's fields that the engine reads have the wrong JSON type, or undefined. `root` is
 * put before each path, e.g. `request.object.`.
 */
function podShapeProblem(pod: JsonObject, root = ''): string | undefined {
  const md = pod.metadata;
  if (wrong(md, 'object')) return problem(`${root}metadata`, 'object', md);
  if (isObject(md)) {
    if (wrong(md.namespace, 'string')) return problem(`${root}metadata.namespace`, 'string', md.namespace);
    for (const key of ['labels', 'annotations'] as const) {
      const map = md[key];
      if (wrong(map, 'object')) return problem(`${root}metadata.${key}`, 'object', map);
      const bad = isObject(map) ? firstNonString(map) : undefined;
      if (bad !== undefined)
        return problem(
          `${root}metadata.${key}[${JSON.stringify(bad).slice(0, 80)}]`,
          'string',
          (map as JsonObject)[bad],
        );
    }
  }
  const spec = pod.spec;
  if (spec === undefined || spec === null) return `${root}spec is missing`;
  if (!isObject(spec)) return problem(`${root}spec`, 'object', spec);
  for (const [key, kind] of SPEC_SCALARS)
    if (wrong(spec[key], kind)) return problem(`${root}spec.${key}`, kind, spec[key]);
  const volumes = spec.volumes;
  if (wrong(volumes, 'array')) return problem(`${root}spec.volumes`, 'array', volumes);
  if (Array.isArray(volumes)) {
    const i = firstNonObject(volumes);
    if (i !== -1) return problem(`${root}spec.volumes[${i}]`, 'object', volumes[i]);
    for (let v = 0; v < volumes.length; v++) {
      const found = volumeProblem(volumes[v] as JsonObject);
      if (found) return `${root}spec.volumes[${v}]${found}`;
    }
  }
  for (const field of CONTAINER_FIELDS) {
    const list = spec[field];
    if (wrong(list, 'array')) return problem(`${root}spec.${field}`, 'array', list);
    if (!Array.isArray(list)) continue;
    const i = firstNonObject(list);
    if (i !== -1) return problem(`${root}spec.${field}[${i}]`, 'object', list[i]);
    for (let c = 0; c < list.length; c++) {
      const found = containerProblem(list[c] as JsonObject);
      if (found) return `${root}spec.${field}[${c}]${found}`;
    }
  }
  return undefined;
}

const SPEC_SCALARS: readonly (readonly [string, Kind])[] = [
  ['serviceAccountName', 'string'],
  ['serviceAccount', 'string'],
  ['automountServiceAccountToken', 'boolean'],
];

const TOKEN_FIELDS: readonly (readonly [string, Kind])[] = [
  ['audience', 'string'],
  ['expirationSeconds', 'integer'],
  ['path', 'string'],
];

/** The problem of one volume, as a path below it (`.projected.sources ...`), or undefined. */
function volumeProblem(v: JsonObject): string | undefined {
  if (wrong(v.name, 'string')) return problem('.name', 'string', v.name);
  const projected = v.projected;
  if (wrong(projected, 'object')) return problem('.projected', 'object', projected);
  if (!isObject(projected)) return undefined;
  const sources = projected.sources;
  if (wrong(sources, 'array')) return problem('.projected.sources', 'array', sources);
  if (!Array.isArray(sources)) return undefined;
  const i = firstNonObject(sources);
  if (i !== -1) return problem(`.projected.sources[${i}]`, 'object', sources[i]);
  for (let s = 0; s < sources.length; s++) {
    const token = (sources[s] as JsonObject).serviceAccountToken;
    if (token === undefined || token === null) continue;
    if (!isObject(token)) return problem(`.projected.sources[${s}].serviceAccountToken`, 'object', token);
    for (const [key, kind] of TOKEN_FIELDS) {
      if (wrong(token[key], kind))
        return problem(`.projected.sources[${s}].serviceAccountToken.${key}`, kind, token[key]);
    }
  }
  return undefined;
}

/** The problem of one container, as a path below it, or undefined. */
function containerProblem(c: JsonObject): string | undefined {
  if (wrong(c.name, 'string')) return problem('.name', 'string', c.name);
  const mounts = c.volumeMounts;
  if (wrong(mounts, 'array')) return problem('.volumeMounts', 'array', mounts);
  if (!Array.isArray(mounts)) return undefined;
  const i = firstNonObject(mounts);
  if (i !== -1) return problem(`.volumeMounts[${i}]`, 'object', mounts[i]);
  for (let m = 0; m < mounts.length; m++) {
    const mount = mounts[m] as JsonObject;
    if (wrong(mount.name, 'string')) return problem(`.volumeMounts[${m}].name`, 'string', mount.name);
    if (wrong(mount.mountPath, 'string')) return problem(`.volumeMounts[${m}].mountPath`, 'string', mount.mountPath);
  }
  return undefined;
}

/** Why a TokenRequest's fields that the engine reads have the wrong JSON type, or undefined. */
function tokenRequestShapeProblem(request: JsonObject, root = ''): string | undefined {
  const md = request.metadata;
  if (wrong(md, 'object')) return problem(`${root}metadata`, 'object', md);
  if (isObject(md) && wrong(md.namespace, 'string'))
    return problem(`${root}metadata.namespace`, 'string', md.namespace);
  const spec = request.spec;
  if (spec === undefined || spec === null) return `${root}spec is missing`;
  if (!isObject(spec)) return problem(`${root}spec`, 'object', spec);
  if (wrong(spec.expirationSeconds, 'integer'))
    return problem(`${root}spec.expirationSeconds`, 'integer', spec.expirationSeconds);
  const audiences = spec.audiences;
  if (wrong(audiences, 'array')) return problem(`${root}spec.audiences`, 'array', audiences);
  if (Array.isArray(audiences)) {
    for (let i = 0; i < audiences.length; i++) {
      if (typeof audiences[i] !== 'string') return problem(`${root}spec.audiences[${i}]`, 'string', audiences[i]);
    }
  }
  const ref = spec.boundObjectRef;
  if (wrong(ref, 'object')) return problem(`${root}spec.boundObjectRef`, 'object', ref);
  if (isObject(ref)) {
    for (const key of ['kind', 'apiVersion', 'name'] as const) {
      if (wrong(ref[key], 'string')) return problem(`${root}spec.boundObjectRef.${key}`, 'string', ref[key]);
    }
  }
  return undefined;
}
