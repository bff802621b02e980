/**
 * YAML read the way kubectl reads it (docs/ci.md "How manifests are read"): kubectl turns each
 * YAML document into JSON with sigs.k8s.io/yaml, which decodes with its go-yaml v2 fork, i.e.
 * YAML 1.1 scalars, merge keys and no base-60 numbers. These are the `yaml` package's options
 * that reproduce it; write-back uses them too, so that a scalar keeps the form it was written
 * in. Pure.
 *
 * | written                         | kubectl (go-yaml v2)              | here                      |
 * |---------------------------------|-----------------------------------|---------------------------|
 * | `0644`, `-0644`, `0o644`        | octal: 420, -420, 420              | same                      |
 * | `0x1F`, `0X1F`, `0b101`, `1_000`| 31, 31, 5, 1000                    | same                      |
 * | `1e3`                           | the float 1000                     | same                      |
 * | `yes`/`no`/`on`/`off`/`y`/`n` (any of their three cases) | booleans   | same                      |
 * | `<<: *anchor`                   | merge key; later keys win          | same                      |
 * | `2001-12-14`, `10:30`           | strings, as written                | same (no timestamps, no base 60) |
 * | `!!binary` data                 | the decoded bytes, as a string     | same                      |
 */
import {
  type Document,
  type DocumentOptions,
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  type ParseOptions,
  type Scalar,
  type SchemaOptions,
  type ToStringOptions,
} from 'yaml';
import { isObject, type JsonValue } from '../json.js';

type Tag = NonNullable<Exclude<SchemaOptions['customTags'], ((tags: never[]) => unknown) | undefined>>[number];
type ScalarTag = Extract<Tag, { test?: RegExp }>;

const INT = 'tag:yaml.org,2002:int';
const FLOAT = 'tag:yaml.org,2002:float';

/** `0o644` is octal to Go's strconv (base 0), and so to kubectl; YAML 1.1 has no such form. */
const goOctal = {
  identify: (v: unknown) => typeof v === 'number' && Number.isInteger(v),
  default: true,
  tag: INT,
  format: 'OCT',
  test: /^[-+]?0o[0-7_]+$/,
  resolve: (s: string) => {
    const sign = s.startsWith('-') ? -1 : 1;
    return sign * Number.parseInt(s.replace(/^[-+]?0o/, '').replace(/_/g, ''), 8);
  },
} as unknown as ScalarTag;

/** `0X1F`: Go's strconv takes the upper-case prefix too. */
const goUpperHex = {
  identify: (v: unknown) => typeof v === 'number' && Number.isInteger(v),
  default: true,
  tag: INT,
  format: 'HEX',
  test: /^[-+]?0X[0-9a-fA-F_]+$/,
  resolve: (s: string) => {
    const sign = s.startsWith('-') ? -1 : 1;
    return sign * Number.parseInt(s.replace(/^[-+]?0X/, '').replace(/_/g, ''), 16);
  },
} as unknown as ScalarTag;

/** `1e3`: a float to go-yaml (its float pattern needs no dot); YAML 1.1's does. */
const goExponent = {
  identify: (v: unknown) => typeof v === 'number',
  default: true,
  tag: FLOAT,
  format: 'EXP',
  test: /^[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+$/,
  resolve: (s: string) => Number.parseFloat(s.replace(/_/g, '')),
} as unknown as ScalarTag;

/** `!!binary`: go-yaml hands on the decoded bytes as a string. */
const binaryAsString = {
  identify: () => false,
  default: false,
  tag: 'tag:yaml.org,2002:binary',
  resolve: (s: string) =>
    new TextDecoder().decode(Uint8Array.from(atob(s.replace(/\s+/g, '')), (c) => c.charCodeAt(0))),
  stringify: (item: Scalar) => {
    const source = (item as { source?: string }).source;
    return typeof source === 'string'
      ? source
      : btoa(String.fromCharCode(...new TextEncoder().encode(String(item.value))));
  },
} as unknown as Tag;

/**
 * The YAML 1.1 tags without timestamps and base-60 numbers, plus Go's number forms. Number tags
 * write a scalar back exactly as it was written while its value is unchanged (booleans already
 * do).
 */
function kubectlTags(tags: Tag[]): Tag[] {
  const kept = tags.filter((t) => {
    const tag = (t as { tag?: string }).tag;
    const format = (t as { format?: string }).format;
    return (
      !['tag:yaml.org,2002:timestamp', 'tag:yaml.org,2002:binary', 'tag:yaml.org,2002:merge'].includes(tag ?? '') &&
      format !== 'TIME'
    );
  });
  const numeric = [...kept.filter(isNumberTag), goOctal, goUpperHex, goExponent] as ScalarTag[];
  const keep = (t: ScalarTag) => keepSource(t, numeric);
  return [...kept.filter((t) => !isNumberTag(t)), ...numeric.map(keep), binaryAsString];
}

function isNumberTag(t: Tag): boolean {
  const tag = (t as { tag?: string }).tag;
  return typeof t === 'object' && (tag === INT || tag === FLOAT) && 'test' in t;
}

/** A number tag that writes an unchanged scalar in its original form (`1_000`, `0x1F`, `0o644`). */
function keepSource(t: ScalarTag, numeric: readonly ScalarTag[]): Tag {
  const original = (t as { stringify?: (item: Scalar, ...rest: unknown[]) => string }).stringify;
  return {
    ...t,
    stringify(item: Scalar, ...rest: unknown[]) {
      const source = (item as { source?: string }).source;
      if (typeof source === 'string') {
        for (const n of numeric) {
          if (!n.test?.test(source)) continue;
          const back = n.resolve(source, () => {}, {} as never);
          const value = typeof back === 'object' && back !== null && 'value' in back ? (back as Scalar).value : back;
          if (Object.is(value, item.value)) return source;
          break;
        }
      }
      return original ? original.call(t, item, ...(rest as [])) : String(item.value);
    },
  } as unknown as Tag;
}

/** Options for `parseDocument`/`parseAllDocuments`: kubectl's reading, no warnings on stderr. */
export const KUBECTL_YAML: ParseOptions & DocumentOptions & SchemaOptions = {
  version: '1.1',
  // Merge keys are applied by toKubectlJson, in go-yaml v2's order.
  merge: false,
  customTags: kubectlTags as SchemaOptions['customTags'],
  // Duplicate keys are an error, as kubectl's own validation reports them (docs/ci.md).
  // More than one `<<` is allowed, as in go-yaml.
  uniqueKeys: (a, b) =>
    !isMergeKey(a) && !isMergeKey(b) && (a === b || (isScalar(a) && isScalar(b) && a.value === b.value)),
  prettyErrors: false,
  // The parser's warnings would otherwise go to stderr as process warnings, quoting the input.
  logLevel: 'error',
};

/** How touched documents are written back: no line folding, flow collections as written. */
export const WRITE_BACK: ToStringOptions = { lineWidth: 0, flowCollectionPadding: false };

function isMergeKey(k: unknown): boolean {
  return isScalar(k) && k.value === '<<' && k.type === 'PLAIN';
}

/** More alias expansions than this in one document is a resource-exhaustion attempt. */
export const MAX_ALIAS_EXPANSIONS = 100;

/**
 * A parsed document as the JSON kubectl sends (sigs.k8s.io/yaml's conversion):
 *
 * - merge keys (`<<: *anchor`, `<<: [*a, *b]`) apply in the order the keys are written, each
 *   merged map overwriting the keys before it and overwritten by those after it; in a list of
 *   maps the earlier ones win (go-yaml v2);
 * - map keys become strings: numbers in decimal, booleans `true`/`false` (so a key `y` or `on`
 *   is `"true"`); a null or collection key is an error;
 * - `.inf` and `.nan` are errors (JSON has no such numbers).
 *
 * Throws an Error with a message that quotes no input, and the offset of the node at fault in
 * `pos` when there is one.
 */
export function toKubectlJson(doc: Document.Parsed): JsonValue {
  const at = (node: unknown, message: string): Error => {
    const range = (node as { range?: [number, number, number] } | null)?.range;
    return Object.assign(new Error(message), range ? { pos: range[0] } : {});
  };
  let expansions = 0;
  const memo = new Map<object, JsonValue>();
  const convert = (node: unknown): JsonValue => {
    if (node === null || node === undefined) return null;
    if (isAlias(node)) {
      expansions += 1;
      if (expansions > MAX_ALIAS_EXPANSIONS)
        throw at(node, 'Excessive alias count indicates a resource exhaustion attack');
      const target = node.resolve(doc);
      if (!target) throw at(node, 'Unresolved alias');
      return convert(target);
    }
    const known = memo.get(node as object);
    if (known !== undefined) return known;
    let out: JsonValue;
    if (isScalar(node)) {
      try {
        out = scalarValue(node.value);
      } catch (e) {
        throw at(node, (e as Error).message);
      }
    } else if (isSeq(node)) {
      const list: JsonValue[] = [];
      memo.set(node, list);
      for (const item of node.items) list.push(isPair(item) ? pairMap(item) : convert(item));
      out = list;
    } else if (isMap(node)) {
      const map: Record<string, JsonValue> = {};
      memo.set(node, map);
      for (const pair of node.items) {
        if (isMergeKey(pair.key)) {
          const sources = isSeq(pair.value) ? [...pair.value.items].reverse() : [pair.value];
          for (const s of sources) {
            const merged = convert(s);
            if (!isObject(merged)) throw at(s, 'map merge requires map or sequence of maps as the value');
            Object.assign(map, merged);
          }
          continue;
        }
        map[keyString(pair.key)] = convert(pair.value);
      }
      out = map;
    } else if (isPair(node)) out = pairMap(node);
    else throw at(node, 'unsupported YAML node');
    memo.set(node as object, out);
    return out;
  };
  const pairMap = (pair: { key: unknown; value: unknown }): JsonValue => ({
    [keyString(pair.key)]: convert(pair.value),
  });
  const keyString = (key: unknown): string => {
    const k = isScalar(key) ? key.value : key;
    if (typeof k === 'string') return k;
    if (typeof k === 'number' && Number.isFinite(k)) return String(k);
    if (typeof k === 'boolean') return k ? 'true' : 'false';
    throw at(
      key,
      k === null || k === undefined
        ? 'a map key is null'
        : 'a map key is a collection ({{ ... }} of a template not rendered yet reads as one)',
    );
  };
  return convert(doc.contents);
}

function scalarValue(v: unknown): JsonValue {
  if (v === null || v === undefined) return null;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error('.inf and .nan have no JSON form');
    return v;
  }
  if (typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'bigint') return Number(v);
  return String(v);
}
