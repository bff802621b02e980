/**
 * Building CEL source text for the exported admission policies. Everything here returns text in
 * the dialect docs/vap.md "The CEL dialect" describes: standard CEL (macros, `has`, `matches`,
 * `string()`, `dyn()`), Kubernetes' `indexOf` and the `strings` extension's `join` and
 * `replace`; no optional syntax (`.?`) and no two-variable comprehensions, so the same text runs
 * on every API server with ValidatingAdmissionPolicy GA (1.30) and in `tokenguard test --engine vap`.
 */
import { MAX_GLOB_VALUE_LENGTH } from '../glob.js';

/** A CEL string literal (single quotes) for `s`, every character escaped that needs it. */
export function str(s: string): string {
  let out = "'";
  for (const ch of s) {
    const c = ch.codePointAt(0) as number;
    if (ch === '\\') out += '\\\\';
    else if (ch === "'") out += "\\'";
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (c < 0x20 || c === 0x7f) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}'`;
}

/** A CEL list literal of string literals. */
export function strList(values: readonly string[]): string {
  return `[${values.map(str).join(', ')}]`;
}

/** `a || b || ...`, parenthesised; `false` for none. */
export function anyOf(terms: readonly string[]): string {
  const t = terms.filter((x) => x !== 'false');
  if (t.includes('true')) return 'true';
  if (t.length === 0) return 'false';
  return t.length === 1 ? (t[0] as string) : `(${t.join(' || ')})`;
}

/** `a && b && ...`, parenthesised; `true` for none. */
export function allOf(terms: readonly string[]): string {
  const t = terms.filter((x) => x !== 'true');
  if (t.includes('false')) return 'false';
  if (t.length === 0) return 'true';
  return t.length === 1 ? (t[0] as string) : `(${t.join(' && ')})`;
}

/** `!(x)`, simplified for the constants. */
export function not(x: string): string {
  if (x === 'true') return 'false';
  if (x === 'false') return 'true';
  return `!${x.startsWith('(') && x.endsWith(')') ? x : `(${x})`}`;
}

function isGlob(pattern: string): boolean {
  return pattern.includes('*') || pattern.includes('?');
}

/** RE2 metacharacters, escaped in the literal parts of a glob. */
const RE2_SPECIAL = /[\\^$.|?*+()[\]{}]/g;

/**
 * The RE2 expression for a glob (src/glob.ts): `*` any run, `?` one character, the rest literal;
 * `(?s)` so that line breaks are characters too, as the glob matcher counts them.
 */
export function globRegex(patterns: readonly string[]): string {
  const alternatives = patterns.map((p) =>
    p
      .split('')
      .map((ch) => (ch === '*' ? '.*' : ch === '?' ? '.' : ch.replace(RE2_SPECIAL, (m) => `\\${m}`)))
      .join(''),
  );
  return `^(?s:${alternatives.length === 1 ? alternatives[0] : alternatives.map((a) => `(?:${a})`).join('|')})$`;
}

/**
 * CEL that is true when the string `value` (an expression) matches one of the globs, as
 * `anyGlob` (src/glob.ts) decides: exact names compared with `in`, globs through one RE2
 * expression, and values longer than 4,096 characters matching nothing.
 */
export function globs(patterns: readonly string[] | undefined, value: string): string {
  const list = [...new Set(patterns ?? [])];
  if (list.length === 0) return 'false';
  const exact = list.filter((p) => !isGlob(p));
  const wild = list.filter(isGlob);
  const terms: string[] = [];
  if (exact.length === 1) terms.push(`${value} == ${str(exact[0] as string)}`);
  else if (exact.length > 1) terms.push(`${value} in ${strList(exact)}`);
  if (wild.includes('*')) terms.push('true');
  else if (wild.length > 0) terms.push(`${value}.matches(${str(globRegex(wild))})`);
  const any = anyOf(terms);
  return allOf([`size(${value}) <= ${MAX_GLOB_VALUE_LENGTH}`, any]);
}

/**
 * CEL for `JSON.stringify(value)` of a string, as the webhook's messages quote audiences:
 * backslash, double quote and the control characters JSON names are escaped (other control
 * characters, which JSON writes as `\u00XX`, are left as they are: docs/vap.md).
 */
export function jsonQuote(value: string): string {
  const replacements: [string, string][] = [
    ['\\', '\\\\'],
    ['"', '\\"'],
    ['\n', '\\n'],
    ['\r', '\\r'],
    ['\t', '\\t'],
    ['\b', '\\b'],
    ['\f', '\\f'],
  ];
  let e = `(${value})`;
  for (const [from, to] of replacements) e = `${e}.replace(${str(from)}, ${str(to)})`;
  return `${str('"')} + ${e} + ${str('"')}`;
}

/** `has(<path>) ? <path> : <fallback>`: a field of a dyn object, or a default when absent. */
export function orDefault(path: string, fallback: string): string {
  return `(has(${path}) ? ${path} : ${fallback})`;
}

/** A `JSONPatch{...}` literal of a MutatingAdmissionPolicy (src/export/evaluate.ts rewrites it offline). */
export function jsonPatch(op: 'add' | 'remove' | 'replace', path: string, value?: string): string {
  return `JSONPatch{op: ${str(op)}, path: ${path}${value === undefined ? '' : `, value: ${value}`}}`;
}
