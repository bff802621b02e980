import type { ErrorObject } from 'ajv';
import { type Document, LineCounter, parseAllDocuments } from 'yaml';
import { tokenPolicySchema } from './schema.js';
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
    docs = parseAllDocuments(text, {
      lineCounter,
      uniqueKeys: true,
      prettyErrors: false,
      logLevel: 'error',
    }) as Document.Parsed[];
  } catch (e) {
    // Never the parser's message: it may quote the file, and a misplaced file may hold secrets.
    return {
      policies,
      errors: [{ file, document: 1, path: '', message: `cannot parse YAML (${(e as Error).name})` }],
      warnings,
    };
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
        errors.push({
          file,
          document: index,
          line: lineCounter.linePos(e.pos[0]).line,
          path: '',
          message: `YAML: ${describeYamlProblem(e)}`,
        });
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
    const semantic = semanticErrors(value);
    // The rules the schema states for editors and the validator checks too (patterns, `not`,
    // list sizes, `if`/`then`): where both fail in one field, the validator's message stays.
    const semanticPaths = new Set(semantic.map((e) => dotted(e.path)));
    if (!validateSchema(value)) {
      for (const e of validateSchema.errors ?? []) {
        const described = describeSchemaError(e);
        if (!described) continue;
        if (
          semanticPaths.has(dotted(described.path)) &&
          (ALSO_VALIDATED.has(e.keyword) || e.schemaPath.includes('/then/'))
        )
          continue;
        found.push({
          file,
          document: index,
          line: lineOf(described.path),
          path: dotted(described.path),
          message: described.message,
        });
      }
    }
    for (const e of semantic) {
      found.push({ file, document: index, line: lineOf(e.path), path: dotted(e.path), message: e.message });
    }
    if (found.length > 0) {
      errors.push(...dedupe(found));
      continue;
    }
    for (const w of semanticWarnings(value))
      warnings.push({ file, document: index, line: lineOf(w.path), path: dotted(w.path), message: w.message });
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

/** Keywords of schema rules that src/policy/validate.ts checks as well, with its own messages. */
const ALSO_VALIDATED = new Set(['pattern', 'not', 'minItems', 'maxItems']);

/**
 * A schema error as a field path and a message; undefined for the errors that only accompany
 * another one (`if`: its `then` failed; `propertyNames`: one of the names did).
 */
function describeSchemaError(e: ErrorObject): { path: (string | number)[]; message: string } | undefined {
  if (e.keyword === 'if' || e.keyword === 'propertyNames') return undefined;
  const path: (string | number)[] = e.instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
  if (typeof e.propertyName === 'string') path.push(e.propertyName);
  // The schema's own message for the rule, as editors show it.
  const owner = schemaAt(e.schemaPath.split('/').slice(1, -1));
  if (e.keyword === 'pattern' && typeof owner?.patternErrorMessage === 'string')
    return { path, message: owner.patternErrorMessage };
  if (e.keyword === 'not' && typeof owner?.errorMessage === 'string') return { path, message: owner.errorMessage };
  switch (e.keyword) {
    case 'additionalProperties':
      return { path: [...path, e.params.additionalProperty], message: 'unknown field' };
    case 'required':
      return { path: [...path, e.params.missingProperty], message: 'required field is missing' };
    case 'enum':
      return { path, message: `must be one of ${(e.params.allowedValues as unknown[]).join(', ')}` };
    case 'const':
      return { path, message: `must be ${JSON.stringify(e.params.allowedValue)}` };
    default:
      return { path, message: e.message ?? 'is invalid' };
  }
}

/** The part of the policy schema at a JSON Pointer's segments (an error's `schemaPath`, without `#`). */
function schemaAt(segments: readonly string[]): Record<string, unknown> | undefined {
  let node: unknown = tokenPolicySchema;
  for (const s of segments) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string, unknown>)[s.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return typeof node === 'object' && node !== null ? (node as Record<string, unknown>) : undefined;
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
