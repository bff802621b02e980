/**
 * The JSON types of the fields the engine reads, checked before it reads them. The engine reads
 * defensively (a wrong type reads as absent), which is right for a crash but wrong for a
 * verdict: `spec.volumes: "x"` read as "no volumes" would pass a pod that no API server would
 * ever send. So a Pod or TokenRequest with a field of the wrong type is refused as malformed,
 * naming the field. `null` counts as absent, as Kubernetes decodes it.
 */
import { CONTAINER_FIELDS } from './pod.js';
import { isObject, type JsonObject, type JsonValue } from './json.js';

type Kind = 'object' | 'array' | 'string' | 'boolean' | 'integer';

/** Where a shape problem is, and what is wrong: `spec.volumes[2].projected must be an object, not a string`. */
class Shape {
  problem: string | undefined;
  constructor(private readonly root: string) {}

  /** The value at `path` if it has the type `kind` (or is absent), recording a problem otherwise. */
  check(value: JsonValue | undefined, path: string, kind: Kind): boolean {
    if (this.problem !== undefined) return false;
    if (value === undefined || value === null) return false;
    const ok =
      kind === 'object'
        ? isObject(value)
        : kind === 'array'
          ? Array.isArray(value)
          : kind === 'integer'
            ? typeof value === 'number' && Number.isSafeInteger(value)
            : typeof value === kind;
    if (!ok) this.problem = `${this.root}${path} must be ${kind === 'integer' || kind === 'array' || kind === 'object' ? `an ${kind}` : `a ${kind}`}, not ${typeName(value)}`;
    return ok;
  }

  /** Every element of the array at `path` must be an object; returns those. */
  objects(value: JsonValue | undefined, path: string): JsonObject[] {
    if (!this.check(value, path, 'array')) return [];
    const out: JsonObject[] = [];
    (value as JsonValue[]).forEach((v, i) => {
      if (this.check(v, `${path}[${i}]`, 'object')) out.push(v as JsonObject);
      else if (this.problem === undefined) this.problem = `${this.root}${path}[${i}] must be an object, not null`;
    });
    return out;
  }

  /** A map whose values must all be strings (labels, annotations). */
  stringMap(value: JsonValue | undefined, path: string): void {
    if (!this.check(value, path, 'object')) return;
    for (const [k, v] of Object.entries(value as JsonObject)) {
      if (typeof v !== 'string') {
        this.problem ??= `${this.root}${path}[${JSON.stringify(k).slice(0, 80)}] must be a string, not ${typeName(v)}`;
        return;
      }
    }
  }
}

function typeName(v: JsonValue | undefined): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'number') return Number.isInteger(v) ? 'a number out of range' : 'a fractional number';
  return `a ${typeof v}`;
}

/**
 * Why a Pod's fields that the engine reads have the wrong JSON type, or undefined. `root` is
 * put before each path, e.g. `request.object.`.
 */
export function podShapeProblem(pod: JsonObject, root = ''): string | undefined {
  const s = new Shape(root);
  if (s.check(pod.metadata, 'metadata', 'object')) {
    const md = pod.metadata as JsonObject;
    s.check(md.namespace, 'metadata.namespace', 'string');
    s.stringMap(md.labels, 'metadata.labels');
    s.stringMap(md.annotations, 'metadata.annotations');
  }
  if (pod.spec === undefined || pod.spec === null) return s.problem ?? `${root}spec is missing`;
  if (!s.check(pod.spec, 'spec', 'object')) return s.problem;
  const spec = pod.spec as JsonObject;
  s.check(spec.serviceAccountName, 'spec.serviceAccountName', 'string');
  s.check(spec.serviceAccount, 'spec.serviceAccount', 'string');
  s.check(spec.automountServiceAccountToken, 'spec.automountServiceAccountToken', 'boolean');
  s.objects(spec.volumes, 'spec.volumes').forEach((v, i) => {
    const at = `spec.volumes[${i}]`;
    s.check(v.name, `${at}.name`, 'string');
    if (!s.check(v.projected, `${at}.projected`, 'object')) return;
    s.objects((v.projected as JsonObject).sources, `${at}.projected.sources`).forEach((src, j) => {
      const t = `${at}.projected.sources[${j}].serviceAccountToken`;
      if (!s.check(src.serviceAccountToken, t, 'object')) return;
      const token = src.serviceAccountToken as JsonObject;
      s.check(token.audience, `${t}.audience`, 'string');
      s.check(token.expirationSeconds, `${t}.expirationSeconds`, 'integer');
      s.check(token.path, `${t}.path`, 'string');
    });
  });
  for (const field of CONTAINER_FIELDS) {
    s.objects(spec[field], `spec.${field}`).forEach((c, i) => {
      const at = `spec.${field}[${i}]`;
      s.check(c.name, `${at}.name`, 'string');
      s.objects(c.volumeMounts, `${at}.volumeMounts`).forEach((m, j) => {
        s.check(m.name, `${at}.volumeMounts[${j}].name`, 'string');
        s.check(m.mountPath, `${at}.volumeMounts[${j}].mountPath`, 'string');
      });
    });
  }
  return s.problem;
}

/** Why a TokenRequest's fields that the engine reads have the wrong JSON type, or undefined. */
export function tokenRequestShapeProblem(request: JsonObject, root = ''): string | undefined {
  const s = new Shape(root);
  if (s.check(request.metadata, 'metadata', 'object')) s.check((request.metadata as JsonObject).namespace, 'metadata.namespace', 'string');
  if (!s.check(request.spec, 'spec', 'object')) return s.problem ?? `${root}spec is missing`;
  const spec = request.spec as JsonObject;
  s.check(spec.expirationSeconds, 'spec.expirationSeconds', 'integer');
  if (s.check(spec.audiences, 'spec.audiences', 'array')) {
    (spec.audiences as JsonValue[]).forEach((a, i) => {
      if (typeof a !== 'string') s.problem ??= `${root}spec.audiences[${i}] must be a string, not ${typeName(a)}`;
    });
  }
  if (s.check(spec.boundObjectRef, 'spec.boundObjectRef', 'object')) {
    const ref = spec.boundObjectRef as JsonObject;
    s.check(ref.kind, 'spec.boundObjectRef.kind', 'string');
    s.check(ref.apiVersion, 'spec.boundObjectRef.apiVersion', 'string');
    s.check(ref.name, 'spec.boundObjectRef.name', 'string');
  }
  return s.problem;
}
