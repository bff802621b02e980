/** Plain JSON values, as parsed from an AdmissionReview or a manifest. */
export type JsonValue = string | number | boolean | null | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue | undefined;
}

/** True for a non-null, non-array object. */
export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The value at `key` if it is an object, else undefined. */
export function objectAt(o: JsonObject | undefined, key: string): JsonObject | undefined {
  const v = o?.[key];
  return isObject(v) ? v : undefined;
}

/** The value at `key` if it is an array of objects (non-objects dropped), else an empty array. */
export function objectsAt(o: JsonObject | undefined, key: string): JsonObject[] {
  const v = o?.[key];
  return Array.isArray(v) ? v.filter(isObject) : [];
}

/** The value at `key` if it is a string, else undefined. */
export function stringAt(o: JsonObject | undefined, key: string): string | undefined {
  const v = o?.[key];
  return typeof v === 'string' ? v : undefined;
}

/**
 * The string at `key` of a string map (labels, annotations), read in place: undefined when the
 * map has no such own key or its value is not a string. One read costs the same whatever the
 * map's size, where {@link stringMapAt} copies every entry first; a review may carry a map of
 * 100,000 entries. `__proto__` is never a key here, as it never is in {@link stringMapAt}'s copy
 * (assigning it sets the copy's prototype instead).
 */
export function stringIn(map: Readonly<Record<string, unknown>> | undefined, key: string): string | undefined {
  if (map === undefined || key === '__proto__' || !Object.hasOwn(map, key)) return undefined;
  const v = map[key];
  return typeof v === 'string' ? v : undefined;
}

/** A copy of the string map (labels, annotations) at `key`; non-string values are dropped. */
export function stringMapAt(o: JsonObject | undefined, key: string): Record<string, string> {
  const v = objectAt(o, key);
  const out: Record<string, string> = {};
  if (!v) return out;
  for (const [k, val] of Object.entries(v)) if (typeof val === 'string') out[k] = val;
  return out;
}

/**
 * Deepest JSON accepted, from the API server and from manifests alike. Real Pods and Secrets stay
 * far below; deeper input breaks recursive code (`JSON.stringify`, `structuredClone`, diffing),
 * which would turn a hostile request into an error instead of an answer (docs/reliability.md,
 * "Bounded input").
 */
export const MAX_JSON_DEPTH = 100;

/**
 * The nesting depth of a JSON value, or the first depth past `limit` (it stops there), so that
 * hostile input (10,000 levels parse fine but break recursive code) is measured without ever
 * recursing more than `limit + 1` calls deep. The admission path calls it on every request with
 * {@link MAX_JSON_DEPTH}; recursion is used rather than an explicit stack because it allocates
 * nothing, where a stack allocates an array of values and a pair per object.
 */
export function jsonDepth(value: unknown, limit: number): number {
  return boundedDepth(value, 1, limit);
}

/**
 * The depth of `v`, which sits at depth `d`, or the first depth past `limit`. `for...in` walks
 * an object's enumerable keys, inherited ones included: values here come from JSON.parse or
 * YAML (plain objects), and an inherited key could only make the answer deeper, never shallower.
 */
function boundedDepth(v: unknown, d: number, limit: number): number {
  if (typeof v !== 'object' || v === null) return 0;
  if (d > limit) return d;
  let max = d;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const c: unknown = v[i];
      if (typeof c !== 'object' || c === null) continue;
      const x = boundedDepth(c, d + 1, limit);
      if (x > max) {
        max = x;
        if (max > limit) return max;
      }
    }
    return max;
  }
  for (const k in v) {
    const c: unknown = (v as Record<string, unknown>)[k];
    if (typeof c !== 'object' || c === null) continue;
    const x = boundedDepth(c, d + 1, limit);
    if (x > max) {
      max = x;
      if (max > limit) return max;
    }
  }
  return max;
}

/**
 * A deep copy of plain JSON: cheaper than `structuredClone`, which also handles what JSON never
 * holds (cycles, dates, maps), for the small objects of admission (`npm run bench:engine` measures
 * it). Recursive: callers bound the depth first (the adapter and the manifest reader refuse more
 * than {@link MAX_JSON_DEPTH} levels).
 */
export function cloneJson<T>(value: T): T {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    const out = new Array(value.length);
    for (let i = 0; i < value.length; i++) out[i] = cloneJson(value[i]);
    return out as T;
  }
  const out: Record<string, unknown> = {};
  for (const k in value) {
    if (Object.hasOwn(value, k)) out[k] = cloneJson((value as Record<string, unknown>)[k]);
  }
  return out as T;
}

/** True when two JSON values are equal (key order ignored). */
export function jsonEqual(a: JsonValue | undefined, b: JsonValue | undefined): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => jsonEqual(x, b[i]));
  const ao = a as JsonObject;
  const bo = b as JsonObject;
  const ka = Object.keys(ao).filter((k) => ao[k] !== undefined);
  const kb = Object.keys(bo).filter((k) => bo[k] !== undefined);
  return ka.length === kb.length && ka.every((k) => jsonEqual(ao[k], bo[k]));
}
