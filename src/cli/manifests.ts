import { LineCounter, parseAllDocuments } from 'yaml';
import { isObject, type JsonObject, jsonDepth } from '../engine/json.js';
import { MAX_JSON_DEPTH } from '../admission/review.js';

/** One object read from a manifest file, with where it came from. */
export interface ManifestObject {
  readonly object: JsonObject;
  readonly file: string;
  /** 1-based document index in the file. */
  readonly document: number;
  /** 1-based line where the object starts. */
  readonly line: number;
}

export interface ManifestParse {
  readonly objects: ManifestObject[];
  /** `file:line: message` for every document that could not be read; the others are kept. */
  readonly errors: string[];
}

/**
 * Reads YAML (many documents) or JSON manifests into plain JSON objects, expanding `kind: List`.
 * Pure: the caller reads the file. A broken document is reported and skipped; the rest survive.
 */
export function parseManifests(text: string, file: string): ManifestParse {
  const objects: ManifestObject[] = [];
  const errors: string[] = [];
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false });
  const list = Array.isArray(docs) ? docs : [];
  list.forEach((doc, i) => {
    const line = doc.range ? lineCounter.linePos(doc.range[0]).line : 1;
    if (doc.errors.length > 0) {
      const e = doc.errors[0]!;
      errors.push(`${file}:${e.linePos?.[0]?.line ?? line}: YAML: ${e.message.split('\n')[0]}`);
      return;
    }
    if (doc.contents === null) return;
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      errors.push(`${file}:${line}: YAML: ${(e as Error).message.split('\n')[0]}`);
      return;
    }
    if (value === null || value === undefined) return;
    if (!isObject(value)) {
      errors.push(`${file}:${line}: document ${i + 1} is not a Kubernetes object`);
      return;
    }
    if (jsonDepth(value, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) {
      errors.push(`${file}:${line}: document ${i + 1} nests deeper than ${MAX_JSON_DEPTH} levels`);
      return;
    }
    if (typeof value.kind === 'string' && value.kind.endsWith('List') && Array.isArray(value.items)) {
      for (const item of value.items) {
        if (isObject(item)) objects.push({ object: item, file, document: i + 1, line });
        else errors.push(`${file}:${line}: an item of ${value.kind} is not an object`);
      }
      return;
    }
    objects.push({ object: value, file, document: i + 1, line });
  });
  return { objects, errors };
}
