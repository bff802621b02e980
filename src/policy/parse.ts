import type { ErrorObject } from 'ajv';
import { type Document, LineCounter, parseAllDocuments } from 'yaml';
import compiledPolicySchema from './schema-validator.generated.js';
import type { PolicyError, TokenPolicy, TokenPolicySpec } from './types.js';
import { semanticErrors, semanticWarnings } from './validate.js';
import { describeYamlProblem } from './yaml-errors.js';

/** The policy JSON Schema, compiled ahead of time (src/policy/validator-source.ts). */
const validateSchema = compiledPolicySchema as unknown as { (data: unknown): boolean; errors?: ErrorObject[] | null };

export interface ParseResult {
  readonly policies: TokenPolicy[];
  readonly errors: PolicyError[];
  /** Problems of valid policies that do not stop them being used (`policy validate` shows them). */
  readonly warnings: PolicyError[];
}

/**
 * Parses every YAML document of one policy file, checks each against the JSON Schema and the
 * semantic rules, and returns the good policies and *every* problem found (not just the first).
 * Pure: the caller reads the file.
 *
 * @param text  the file's content
 * @param file  the name used in error messages
 */
export function parsePolicyDocuments(text: string, file: string): ParseResult {
  const lineCounter = new LineCounter();
  const policies: TokenPolicy[] = [];
  const errors: PolicyError[] = [];
  const warnings: PolicyError[] = [];
  let docs: Document.Parsed[];
  try {
    // logLevel error: the parser's warnings would go to stderr as process warnings, quoting the file.
    docs = parseAllDocuments(text, { lineCounter, uniqueKeys: true, prettyErrors: false, logLevel: 'error' }) as Document.Parsed[];
  } catch (e) {
    // Never the parser's message: it may quote the file, and a misplaced file may hold secrets.
    return { policies, errors: [{ file, document: 1, path: '', message: `cannot parse YAML (${(e as Error).name})` }], warnings };
  }
  if (!Array.isArray(docs)) docs = [];
  let index = 0;
  for (const doc of docs) {
    index++;
    const start = (doc.contents as { range?: [number, number, number] } | null)?.range?.[0] ?? doc.range?.[0];
    const docLine = start !== undefined ? lineCounter.linePos(start).line : undefined;
    // The line of the field, or of its nearest ancestor that exists (a missing field's parent).
    const lineOf = (path: (string | number)[]): number | undefined => {
      for (let n = path.length; n >= 0; n--) {
        const node = doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
        const r = node && typeof node === 'object' && 'range' in node ? node.range : undefined;
        if (r) return lineCounter.linePos(r[0]).line;
      }
      return docLine;
    };
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        errors.push({ file, document: index, line: lineCounter.linePos(e.pos[0]).line, path: '', message: `YAML: ${describeYamlProblem(e)}` });
      }
      continue;
    }
    if (doc.contents === null) continue; // an empty document, e.g. after a trailing `---`
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 50 });
    } catch (e) {
      errors.push({ file, document: index, line: docLine, path: '', message: `YAML: ${describeYamlProblem(e)}` });
      continue;
    }
    if (value === null || value === undefined) continue; // an empty document
    const found: PolicyError[] = [];
    if (!validateSchema(value)) {
      for (const e of validateSchema.errors ?? []) {
        const { path, message } = describeSchemaError(e);
        found.push({ file, document: index, line: lineOf(path), path: dotted(path), message });
      }
    }
    for (const e of semanticErrors(value)) {
      found.push({ file, document: index, line: lineOf(e.path), path: dotted(e.path), message: e.message });
    }
    if (found.length > 0) {
      errors.push(...dedupe(found));
      continue;
    }
    for (const w of semanticWarnings(value)) warnings.push({ file, document: index, line: lineOf(w.path), path: dotted(w.path), message: w.message });
    const v = value as { metadata: { name: string }; spec: TokenPolicySpec };
    policies.push({ name: v.metadata.name, spec: v.spec, source: { file, document: index, line: docLine } });
  }
  return { policies, errors, warnings };
}

/** Cross-file checks for a whole policy set: names are unique, and the set is not empty. */
export function checkPolicySet(policies: readonly TokenPolicy[]): PolicyError[] {
  const errors: PolicyError[] = [];
  const seen = new Map<string, TokenPolicy>();
  for (const p of policies) {
    const first = seen.get(p.name);
    if (first) {
      errors.push({
        file: p.source.file,
        document: p.source.document,
        line: p.source.line,
        path: 'metadata.name',
        message: `duplicate policy name "${p.name}" (first defined in ${first.source.file}:${first.source.document})`,
      });
    } else seen.set(p.name, p);
  }
  return errors;
}

function describeSchemaError(e: ErrorObject): { path: (string | number)[]; message: string } {
  const path = e.instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
  switch (e.keyword) {
    case 'additionalProperties':
      return { path: [...path, e.params.additionalProperty], message: 'unknown field' };
    case 'required':
      return { path: [...path, e.params.missingProperty], message: 'required field is missing' };
    case 'enum':
      return { path, message: `must be one of ${(e.params.allowedValues as unknown[]).join(', ')}` };
    case 'const':
      return { path, message: `must be ${JSON.stringify(e.params.allowedValue)}` };
    case 'pattern':
      return { path, message: path.at(-1) === 'name' ? 'must be a DNS subdomain (lower-case letters, digits, - and .)' : 'must not contain whitespace' };
    default:
      return { path, message: e.message ?? 'is invalid' };
  }
}

/** `['spec', 'inject', 0, 'audience']` → `spec.inject[0].audience`. */
export function dotted(path: readonly (string | number)[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? p : `.${p}`;
  return out;
}

function dedupe(errors: PolicyError[]): PolicyError[] {
  const seen = new Set<string>();
  return errors.filter((e) => {
    const k = `${e.path}\n${e.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
