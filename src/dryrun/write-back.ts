/**
 * `tokenguard test --mutated DIR`: carries tokenguard's own changes back into the manifests the
 * user wrote. Pure: text in, text out.
 *
 * The mutation is computed on the pod as the API server hands it to the webhook, i.e. after
 * the ServiceAccount admission plugin added `kube-api-access-*` and its mounts. Those must not
 * land in a manifest (the plugin adds them again at admission), so what is written back is the
 * difference between the simulated pod and the mutated one, mapped by name onto the manifest's
 * own pod spec: new fields (`automountServiceAccountToken: false`), injected volumes and mounts,
 * removed volumes and mounts the manifest itself declares, and changed fields (clamped
 * expirations) of volumes the manifest itself declares.
 */
import fastJsonPatch from 'fast-json-patch';
import { type Document, isMap, isScalar, isSeq, parseDocument, visit } from 'yaml';
import { isObject, type JsonObject, type JsonValue, jsonEqual, objectAt, objectsAt, stringAt } from '../json.js';
import { type DocumentChunk, splitDocuments } from './documents.js';
import { KUBECTL_YAML, WRITE_BACK } from './kubectl-yaml.js';

export type EditPath = readonly (string | number)[];

/** One change to a manifest object, at a path from its root. */
export type ManifestEdit =
  | { readonly op: 'set'; readonly path: EditPath; readonly value: JsonValue }
  | { readonly op: 'delete'; readonly path: EditPath }
  | { readonly op: 'append'; readonly path: EditPath; readonly value: JsonValue };

export interface WriteBackPlan {
  /** Edits in a safe order: sets, then deletes (highest index first), then appends. */
  readonly edits: ManifestEdit[];
  /** Changes the webhook makes at admission that no manifest can express (e.g. to the plugin's own volume). */
  readonly unwritable: string[];
}

const CONTAINER_FIELDS = ['initContainers', 'containers', 'ephemeralContainers'] as const;

/**
 * Plans the edits that carry tokenguard's changes (`simulated` → `mutated`, both pod specs) into
 * the manifest's own pod spec at `specPath`.
 *
 * @param manifestSpec  the pod spec as written in the manifest
 * @param simulated     the pod spec the webhook was given (after the ServiceAccount plugin)
 * @param mutated       the pod spec after the webhook's patch
 * @param specPath      where the pod spec sits in the manifest object
 */
export function planWriteBack(
  manifestSpec: JsonObject,
  simulated: JsonObject,
  mutated: JsonObject,
  specPath: EditPath,
): WriteBackPlan {
  const sets: ManifestEdit[] = [];
  const deletes: ManifestEdit[] = [];
  const appends: ManifestEdit[] = [];
  const unwritable: string[] = [];
  const at = (...p: (string | number)[]) => [...specPath, ...p];

  // Plain pod spec fields (automountServiceAccountToken, serviceAccountName, ...).
  const lists = new Set<string>(['volumes', ...CONTAINER_FIELDS]);
  for (const key of new Set([...Object.keys(simulated), ...Object.keys(mutated)])) {
    if (lists.has(key) || jsonEqual(simulated[key], mutated[key])) continue;
    const v = mutated[key];
    if (v !== undefined) sets.push({ op: 'set', path: at(key), value: v });
    else if (manifestSpec[key] !== undefined) deletes.push({ op: 'delete', path: at(key) });
  }

  // Volumes, by name.
  const sVols = byName(objectsAt(simulated, 'volumes'));
  const mVols = byName(objectsAt(mutated, 'volumes'));
  const pVols = Array.isArray(manifestSpec.volumes) ? manifestSpec.volumes : [];
  const pIndex = (name: string) => pVols.findIndex((v) => isObject(v) && v.name === name);
  const automountOff = mutated.automountServiceAccountToken === false;
  for (const [name, s] of sVols) {
    const m = mVols.get(name);
    const pi = pIndex(name);
    if (!m) {
      if (pi >= 0) deletes.push({ op: 'delete', path: at('volumes', pi) });
      else if (!automountOff) unwritable.push(`volume ${name} removed`);
      continue;
    }
    if (jsonEqual(s, m)) continue;
    if (pi < 0) {
      unwritable.push(
        `volume ${name} changed (${describeOps(fastJsonPatch.compare(s, m))}); it is not in the manifest, so only the webhook can change it`,
      );
      continue;
    }
    for (const op of fastJsonPatch.compare(s, m)) {
      const path = at('volumes', pi, ...pointer(op.path));
      if (op.op === 'remove') deletes.push({ op: 'delete', path });
      else if (op.op === 'add' || op.op === 'replace') sets.push({ op: 'set', path, value: op.value as JsonValue });
    }
  }
  for (const [name, m] of mVols) if (!sVols.has(name)) appends.push({ op: 'append', path: at('volumes'), value: m });

  // Containers, by list and name; their mounts by (volume, mountPath).
  for (const field of CONTAINER_FIELDS) {
    const sList = byName(objectsAt(simulated, field));
    const pList = Array.isArray(manifestSpec[field]) ? (manifestSpec[field] as JsonValue[]) : [];
    for (const [cname, m] of byName(objectsAt(mutated, field))) {
      const s = sList.get(cname);
      const ci = pList.findIndex((c) => isObject(c) && c.name === cname);
      if (!s || ci < 0) {
        if (!s || !jsonEqual(s, m)) unwritable.push(`${field} ${cname} changed`);
        continue;
      }
      for (const key of new Set([...Object.keys(s), ...Object.keys(m)])) {
        if (key === 'volumeMounts' || jsonEqual(s[key], m[key])) continue;
        const v = m[key];
        if (v !== undefined) sets.push({ op: 'set', path: at(field, ci, key), value: v });
        else deletes.push({ op: 'delete', path: at(field, ci, key) });
      }
      const pc = pList[ci] as JsonObject;
      const pMounts = Array.isArray(pc.volumeMounts) ? pc.volumeMounts : [];
      const key = (x: JsonObject) => `${stringAt(x, 'name') ?? ''}\u0000${stringAt(x, 'mountPath') ?? ''}`;
      const sMounts = new Map(objectsAt(s, 'volumeMounts').map((x) => [key(x), x]));
      const mMounts = new Map(objectsAt(m, 'volumeMounts').map((x) => [key(x), x]));
      for (const [k, sm] of sMounts) {
        const pi = pMounts.findIndex((x) => isObject(x) && key(x) === k);
        const mm = mMounts.get(k);
        if (!mm) {
          if (pi >= 0) deletes.push({ op: 'delete', path: at(field, ci, 'volumeMounts', pi) });
        } else if (!jsonEqual(sm, mm) && pi >= 0)
          sets.push({ op: 'set', path: at(field, ci, 'volumeMounts', pi), value: mm });
      }
      for (const [k, mm] of mMounts)
        if (!sMounts.has(k)) appends.push({ op: 'append', path: at(field, ci, 'volumeMounts'), value: mm });
    }
  }
  deletes.sort((a, b) => comparePaths(b.path, a.path));
  return { edits: [...sets, ...deletes, ...appends], unwritable };
}

/** A readable line per edit, with the path from the manifest object's root. */
export function describeEdit(edit: ManifestEdit): string {
  const path = dottedPath(edit.path);
  if (edit.op === 'delete') return `remove ${path}`;
  if (edit.op === 'append') {
    const v = edit.value;
    const what = isObject(v)
      ? stringAt(v, 'mountPath')
        ? `mount ${stringAt(v, 'name')} at ${stringAt(v, 'mountPath')}`
        : `${stringAt(v, 'name') ?? 'item'}`
      : JSON.stringify(v);
    return `add ${what} to ${path}`;
  }
  return `set ${path}: ${JSON.stringify(edit.value)}`;
}

/** Applies edits to a copy of a plain JSON object (what a YAML edit must also produce). */
export function applyEditsToJson(object: JsonObject, edits: readonly ManifestEdit[]): JsonObject {
  const out = structuredClone(object);
  for (const e of edits) {
    const parentPath = e.op === 'append' ? e.path : e.path.slice(0, -1);
    const last = e.path.at(-1);
    if (e.op === 'append') {
      const parent = walk(out, parentPath.slice(0, -1), true) as JsonObject;
      const key = parentPath.at(-1) as string | number;
      const list = (parent as Record<string | number, unknown>)[key];
      if (Array.isArray(list)) list.push(structuredClone(e.value));
      else (parent as Record<string | number, unknown>)[key] = [structuredClone(e.value)];
      continue;
    }
    const parent = walk(out, parentPath, e.op === 'set');
    if (parent === undefined || last === undefined) continue;
    if (e.op === 'set') (parent as Record<string | number, unknown>)[last] = structuredClone(e.value);
    else if (Array.isArray(parent) && typeof last === 'number') parent.splice(last, 1);
    else if (isObject(parent)) delete parent[last as string];
  }
  return out;
}

function walk(root: JsonObject, path: EditPath, create: boolean): unknown {
  let cur: unknown = root;
  for (const key of path) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    const rec = cur as Record<string | number, unknown>;
    if ((rec[key] === undefined || rec[key] === null) && create) rec[key] = {};
    cur = rec[key];
  }
  return cur;
}

/** Edits for one object of a file: its document (1-based), and its index in a List's `items`. */
export interface ObjectEdits {
  readonly document: number;
  readonly item?: number;
  readonly edits: readonly ManifestEdit[];
}

/**
 * Rewrites a manifest file with the edits applied, keeping document order and every untouched
 * document byte for byte. See {@link rewriteChunk} for a touched one.
 */
export function rewriteManifests(text: string, objectEdits: readonly ObjectEdits[]): string {
  const wanted = objectEdits.filter((o) => o.edits.length > 0);
  if (wanted.length === 0) return text;
  let out = '';
  for (const chunk of splitDocuments(text)) out += rewriteChunk(chunk, wanted);
  return out;
}

/**
 * One document of a manifest with its edits applied (`objectEdits` may name other documents
 * too; only this one's apply). Untouched, it is returned as written. Touched, it keeps what
 * kubectl would read the same way:
 *
 * - YAML: comments, quoting, block scalars, anchors and merge keys, and every scalar's form
 *   (`0644`, `yes`, `0x1F`, `1_000` stay as written); a new file mode (`defaultMode`, `mode`)
 *   is written in octal when the document writes modes in octal, otherwise in decimal, which
 *   the API server reads right either way;
 * - JSON: an object of a stream stays in its place, indented by two spaces;
 * - line endings: a document written with CRLF is written back with CRLF.
 */
export function rewriteChunk(chunk: DocumentChunk, objectEdits: readonly ObjectEdits[]): string {
  const mine = objectEdits.filter((o) => o.document === chunk.document && o.edits.length > 0);
  if (mine.length === 0 || chunk.document === 0 || chunk.error) return chunk.text;
  const eol = chunk.text.includes('\r\n') ? '\r\n' : '\n';
  if (chunk.json) {
    let value: JsonObject;
    try {
      value = JSON.parse(chunk.text) as JsonObject;
    } catch {
      return chunk.text;
    }
    for (const o of mine) {
      if (o.item === undefined) value = applyEditsToJson(value, o.edits);
      else {
        const items = value.items as JsonObject[];
        items[o.item] = applyEditsToJson(items[o.item]!, o.edits);
      }
    }
    const lead = /^\s*/.exec(chunk.text)?.[0] ?? '';
    return lead + JSON.stringify(value, null, 2).replace(/\n/g, eol);
  }
  const doc = parseDocument(chunk.text, KUBECTL_YAML);
  if (doc.errors.length > 0) return chunk.text;
  const octal = writesOctalModes(doc);
  for (const o of mine) {
    const prefix = o.item === undefined ? [] : ['items', o.item];
    for (const e of o.edits) applyYamlEdit(doc, [...prefix, ...e.path], e);
  }
  if (octal) markNewModesOctal(doc);
  let piece = doc.toString(WRITE_BACK);
  if (!chunk.text.startsWith('---') && piece.startsWith('---\n') && !/^---/m.test(chunk.text)) piece = piece.slice(4);
  if (!piece.endsWith('\n')) piece += '\n';
  return eol === '\r\n' ? piece.replace(/\r?\n/g, '\r\n') : piece;
}

const MODE_KEYS = new Set(['defaultMode', 'mode']);

/** True when some file mode in the document is written the octal way (`0644`). */
function writesOctalModes(doc: Document.Parsed): boolean {
  let octal = false;
  visit(doc, {
    Pair(_k, pair) {
      if (
        isScalar(pair.key) &&
        MODE_KEYS.has(String(pair.key.value)) &&
        isScalar(pair.value) &&
        /^[-+]?0o?[0-7]+$/.test(String((pair.value as { source?: string }).source ?? ''))
      ) {
        octal = true;
        return visit.BREAK;
      }
      return undefined;
    },
  });
  return octal;
}

/** Writes every mode the edits added (a scalar with no source text) in octal. */
function markNewModesOctal(doc: Document.Parsed): void {
  visit(doc, {
    Pair(_k, pair) {
      if (!isScalar(pair.key) || !MODE_KEYS.has(String(pair.key.value)) || !isScalar(pair.value)) return;
      const v = pair.value;
      if (
        (v as { source?: string }).source === undefined &&
        typeof v.value === 'number' &&
        Number.isInteger(v.value) &&
        v.value >= 0
      )
        v.format = 'OCT';
    },
  });
}

function applyYamlEdit(doc: Document.Parsed, path: (string | number)[], e: ManifestEdit): void {
  if (e.op === 'set') doc.setIn(path, doc.createNode(e.value));
  else if (e.op === 'delete') doc.deleteIn(path);
  else {
    const node = doc.getIn(path, true);
    if (isSeq(node)) node.add(doc.createNode(e.value));
    else if (isMap(node)) throw new Error(`cannot append to a mapping at ${dottedPath(path)}`);
    else doc.setIn(path, doc.createNode([e.value]));
  }
}

function byName(list: JsonObject[]): Map<string, JsonObject> {
  const m = new Map<string, JsonObject>();
  for (const x of list) {
    const n = stringAt(x, 'name');
    if (n !== undefined && !m.has(n)) m.set(n, x);
  }
  return m;
}

function pointer(p: string): (string | number)[] {
  return p
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

function comparePaths(a: EditPath, b: EditPath): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x === y) continue;
    if (typeof x === 'number' && typeof y === 'number') return x - y;
    return String(x) < String(y) ? -1 : 1;
  }
  return a.length - b.length;
}

function describeOps(ops: readonly { op: string; path: string; value?: unknown }[]): string {
  return ops.map((o) => (o.op === 'remove' ? `remove ${o.path}` : `${o.path} = ${JSON.stringify(o.value)}`)).join(', ');
}

/** `['spec', 'volumes', 0, 'name']` → `spec.volumes[0].name`. */
function dottedPath(path: EditPath): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? p : `.${p}`;
  return out;
}

/** Reads the pod spec at `specPath` of a manifest object. */
export function specAt(object: JsonObject, specPath: EditPath): JsonObject | undefined {
  let cur: JsonObject | undefined = object;
  for (const k of specPath) cur = objectAt(cur, String(k));
  return cur;
}
