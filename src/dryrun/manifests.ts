/**
 * Manifests as `tokenguard test` reads them, as kubectl does (docs/ci.md "How manifests are
 * read"): YAML (many documents) or JSON (one object or a stream of them) into plain JSON
 * objects, each with where it came from. Pure: the command reads the files.
 */
import { type Document, LineCounter, parseDocument } from 'yaml';
import { isObject, type JsonObject, jsonDepth, MAX_JSON_DEPTH } from '../json.js';
import { describeYamlProblem } from '../policy/yaml-errors.js';
import { type DocumentChunk, splitDocuments } from './documents.js';
import { KUBECTL_YAML, toKubectlJson } from './kubectl-yaml.js';

/** One object read from a manifest file, with where it came from. */
export interface ManifestObject {
  readonly object: JsonObject;
  readonly file: string;
  /** 1-based document index in the file. */
  readonly document: number;
  /** 0-based index in `items` when the object came out of a `kind: List` document. */
  readonly item?: number;
  /** 1-based line where the object starts (its first key, after any leading comments). */
  readonly line: number;
  /**
   * The template a document came from, when `helm template` said so in a `# Source: ...`
   * comment just before it.
   */
  readonly source?: string;
}

/** One document that could not be read; the other documents of the file are kept. */
export interface ManifestError {
  readonly file: string;
  readonly line: number;
  readonly message: string;
}

export interface ManifestParse {
  readonly objects: ManifestObject[];
  /** `file:line: message` for every document that could not be read; the others are kept. */
  readonly errors: string[];
  /** The same problems, structured (for reports that place them in the file). */
  readonly problems: ManifestError[];
}

/**
 * Reads YAML (many documents) or JSON manifests (one object, or a stream of them) into plain
 * JSON objects as kubectl would send them (kubectl-yaml.ts), expanding `kind: List` (and every
 * `*List` kind with `items`). Pure: the caller reads the file. A broken document is reported and
 * skipped; the rest survive.
 */
export function parseManifests(text: string, file: string): ManifestParse {
  const objects: ManifestObject[] = [];
  const problems: ManifestError[] = [];
  for (const chunk of splitDocuments(text)) {
    const parsed = parseDocumentChunk(chunk, file);
    objects.push(...parsed.objects);
    problems.push(...parsed.problems);
  }
  return { objects, problems, errors: problems.map((p) => `${p.file}:${p.line}: ${p.message}`) };
}

/** The objects of one document (several for a List), or why it could not be read. */
export function parseDocumentChunk(
  chunk: DocumentChunk,
  file: string,
): { objects: ManifestObject[]; problems: ManifestError[] } {
  const objects: ManifestObject[] = [];
  const problems: ManifestError[] = [];
  const fail = (line: number, message: string) => problems.push({ file, line, message });
  if (chunk.document === 0) return { objects, problems };
  const i = chunk.document - 1;
  if (chunk.error) {
    fail(chunk.line + leadingLines(chunk.text), `JSON: ${chunk.error}`);
    return { objects, problems };
  }
  let value: unknown;
  let line: number;
  let itemLine: (index: number) => number;
  let source: string | undefined;
  if (chunk.json) {
    line = chunk.line + leadingLines(chunk.text);
    try {
      value = JSON.parse(chunk.text);
    } catch (e) {
      // Never the parser's message: newer engines quote the input.
      const at = /position (\d+)/.exec((e as Error).message);
      fail(at ? chunk.line + countNewlines(chunk.text.slice(0, Number(at[1]))) : line, 'JSON: not valid JSON');
      return { objects, problems };
    }
    let offsets: number[] | undefined;
    itemLine = (index) => {
      offsets ??= jsonItemOffsets(chunk.text);
      const o = offsets[index];
      return o === undefined ? line : chunk.line + countNewlines(chunk.text.slice(0, o));
    };
  } else {
    const lineCounter = new LineCounter();
    const doc = parseDocument(chunk.text, { ...KUBECTL_YAML, lineCounter });
    const at = (pos: number) => chunk.line - 1 + lineCounter.linePos(pos).line;
    line = at(startOf(doc));
    if (doc.errors.length > 0) {
      const e = doc.errors[0]!;
      fail(at(e.pos[0]), `YAML: ${describeYamlProblem(e)}`);
      return { objects, problems };
    }
    if (doc.contents === null) return { objects, problems };
    try {
      value = toKubectlJson(doc);
    } catch (e) {
      const pos = (e as { pos?: number }).pos;
      fail(pos !== undefined ? at(pos) : line, `YAML: ${describeYamlProblem(e)}`);
      return { objects, problems };
    }
    itemLine = (index) => {
      const node = doc.getIn(['items', index], true) as { range?: [number, number, number] } | undefined;
      return node?.range ? at(node.range[0]) : line;
    };
    source = helmSource(doc);
  }
  if (value === null || value === undefined) return { objects, problems };
  if (!isObject(value)) {
    fail(line, `document ${i + 1} is not a Kubernetes object`);
    return { objects, problems };
  }
  if (jsonDepth(value, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) {
    fail(line, `document ${i + 1} nests deeper than ${MAX_JSON_DEPTH} levels`);
    return { objects, problems };
  }
  const where = source !== undefined ? { source } : {};
  if (typeof value.kind === 'string' && value.kind.endsWith('List') && Array.isArray(value.items)) {
    value.items.forEach((item, index) => {
      const l = itemLine(index);
      if (isObject(item)) objects.push({ object: item, file, document: i + 1, item: index, line: l, ...where });
      else fail(l, `an item of ${value.kind} is not an object`);
    });
    return { objects, problems };
  }
  objects.push({ object: value, file, document: i + 1, line, ...where });
  return { objects, problems };
}

/** Where each element of the top-level object's `items` array starts in a JSON text. */
function jsonItemOffsets(text: string): number[] {
  const out: number[] = [];
  let depth = 0;
  let inString = false;
  let escaped = false;
  let stringStart = -1;
  let lastKey = '';
  let inItems = false;
  let expectItem = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (inString) {
      if (escaped) escaped = false;
      else if (c === '\\') escaped = true;
      else if (c === '"') {
        inString = false;
        if (depth === 1) lastKey = text.slice(stringStart + 1, i);
      }
      continue;
    }
    if (expectItem && !/\s/.test(c) && c !== ']') {
      out.push(i);
      expectItem = false;
    }
    if (c === '"') {
      inString = true;
      stringStart = i;
    } else if (c === '{' || c === '[') {
      depth++;
      if (c === '[' && depth === 2 && lastKey === 'items') {
        inItems = true;
        expectItem = true;
      }
    } else if (c === '}' || c === ']') {
      depth--;
      if (depth === 1) inItems = false;
      if (depth === 1 && c === ']') lastKey = '';
    } else if (c === ',' && inItems && depth === 2) expectItem = true;
    else if (c === ',' && depth === 1) lastKey = '';
  }
  return out;
}

/** Lines before a chunk's first non-blank character. */
function leadingLines(text: string): number {
  const m = /\S/.exec(text);
  return countNewlines(m ? text.slice(0, m.index) : text);
}

function countNewlines(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

/** Where a document's content starts: its first key, not the `---` or comments before it. */
function startOf(doc: Document.Parsed): number {
  const contents = doc.contents as { range?: [number, number, number] } | null;
  return contents?.range?.[0] ?? doc.range?.[0] ?? 0;
}

/** The template path from helm's `# Source: chart/templates/x.yaml` comment, if there is one. */
function helmSource(doc: Document.Parsed): string | undefined {
  const before = doc.commentBefore ?? (doc.contents as { commentBefore?: string | null } | null)?.commentBefore ?? '';
  const m = /^\s*Source:\s*(\S.*)$/m.exec(before);
  return m?.[1]?.trim();
}
