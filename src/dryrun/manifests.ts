/**
 * Manifests as `tokenguard test` reads them: YAML (many documents) or JSON text into plain JSON
 * objects, each with where it came from. Pure: the command reads the files.
 */
import { type Document, LineCounter, parseAllDocuments } from 'yaml';
import { isObject, type JsonObject, jsonDepth, MAX_JSON_DEPTH } from '../json.js';
import { describeYamlProblem } from '../policy/yaml-errors.js';

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
 * Reads YAML (many documents) or JSON manifests into plain JSON objects, expanding `kind: List`
 * (and every `*List` kind with `items`). Pure: the caller reads the file. A broken document is
 * reported and skipped; the rest survive.
 */
export function parseManifests(text: string, file: string): ManifestParse {
  const objects: ManifestObject[] = [];
  const problems: ManifestError[] = [];
  const lineCounter = new LineCounter();
  // logLevel error: the parser's warnings would go to stderr as process warnings, quoting the file.
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false, logLevel: 'error' });
  const list = Array.isArray(docs) ? docs : [];
  const fail = (line: number, message: string) => problems.push({ file, line, message });
  list.forEach((doc, i) => {
    const line = lineCounter.linePos(startOf(doc)).line;
    if (doc.errors.length > 0) {
      const e = doc.errors[0]!;
      fail(lineCounter.linePos(e.pos[0]).line, `YAML: ${describeYamlProblem(e)}`);
      return;
    }
    if (doc.contents === null) return;
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      fail(line, `YAML: ${describeYamlProblem(e)}`);
      return;
    }
    if (value === null || value === undefined) return;
    if (!isObject(value)) {
      fail(line, `document ${i + 1} is not a Kubernetes object`);
      return;
    }
    if (jsonDepth(value, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) {
      fail(line, `document ${i + 1} nests deeper than ${MAX_JSON_DEPTH} levels`);
      return;
    }
    const source = helmSource(doc);
    const where = source !== undefined ? { source } : {};
    if (typeof value.kind === 'string' && value.kind.endsWith('List') && Array.isArray(value.items)) {
      value.items.forEach((item, index) => {
        const node = doc.getIn(['items', index], true) as { range?: [number, number, number] } | undefined;
        const itemLine = node?.range ? lineCounter.linePos(node.range[0]).line : line;
        if (isObject(item)) objects.push({ object: item, file, document: i + 1, item: index, line: itemLine, ...where });
        else fail(itemLine, `an item of ${value.kind} is not an object`);
      });
      return;
    }
    objects.push({ object: value, file, document: i + 1, line, ...where });
  });
  return { objects, problems, errors: problems.map((p) => `${p.file}:${p.line}: ${p.message}`) };
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
