/**
 * YAML problems described without quoting the input. The `yaml` package's messages sometimes
 * carry text of the document (`Unresolved alias …: VALUE`, `Unexpected VALUE in collection`,
 * `Could not resolve tag: VALUE`, escape sequences, block scalar headers), and a manifest, a
 * policy folder or a facts file may hold Secret data or tokens. So a message is passed on only
 * when it is one the parser writes without any input in it (listed here); every other problem is
 * described by its error code. A newer `yaml` with new wording falls back to the code: never
 * to its message. Pure.
 */
import type { YAMLError } from 'yaml';

/** The parser's messages that never contain input text, verbatim (yaml 2.x). */
const FIXED_MESSAGES = new Set([
  'A block sequence may not be used as an implicit map key',
  'A node can have at most one anchor',
  'A node can have at most one tag',
  'Alias cannot be an empty string',
  'All sequence items must start at the same column',
  'An alias node must not specify any properties',
  'Anchor cannot be an empty string',
  'Block collection cannot start on same line with directives-end marker',
  'Block scalar values in collections must be indented',
  'Block scalars with more-indented leading empty lines must use an explicit indentation indicator',
  'Comments must be separated from other tokens by white space characters',
  'Excessive alias count indicates a resource exhaustion attack',
  'Flow end indicator should be more indented than parent',
  'Implicit keys need to be on a single line',
  'Implicit keys of flow sequence pairs need to be on a single line',
  'Implicit map keys need to be followed by map values',
  'Map keys must be unique',
  'Missing closing "quote',
  "Missing closing 'quote",
  'Missing directives-end indicator line',
  'Missing directives-end/doc-start indicator line',
  'Missing newline after block sequence props',
  'Nested mappings are not allowed in compact mappings',
  'Sequence item without - indicator',
  'Tabs are not allowed as indentation',
  'Tags and anchors must be separated from the next token by white space',
  'The : indicator must be at most 1024 chars after the start of an implicit block mapping key',
  'The : indicator must be at most 1024 chars after the start of an implicit flow sequence key',
  'Unexpected doc-end without preceding document',
  'Unexpected end of input',
  // Written by src/dryrun/kubectl-yaml.ts, never with input in them.
  'map merge requires map or sequence of maps as the value',
  'a map key is null',
  'a map key is a collection ({{ ... }} of a template not rendered yet reads as one)',
  '.inf and .nan have no JSON form',
]);

/** Messages built from a fixed word list (`flow map`, `flow sequence`, a closing bracket), never from input. */
const FIXED_PATTERNS = [
  /^(Missing , between|Missing , or : between|Unexpected , in|Unexpected empty item in|Missing space after : in) flow (map|sequence)( items)?$/,
  /^Flow (map|sequence) in block collection must be sufficiently indented and end with a [\]}]$/,
  /^Expected a flow (map|sequence) to end with [\]}]$/,
];

/** What each error code means, for the messages that may quote the input. */
const BY_CODE: Readonly<Record<string, string>> = {
  ALIAS_PROPS: 'an alias must not have an anchor or a tag',
  BAD_ALIAS: 'an alias (*name) or anchor (&name) is not valid',
  BAD_COLLECTION_TYPE: 'a tag does not fit the collection it is on',
  BAD_DIRECTIVE: 'a % directive is not valid',
  BAD_DQ_ESCAPE: 'a double-quoted string holds an invalid escape sequence',
  BAD_INDENT: 'wrong indentation',
  BAD_PROP_ORDER: 'anchors and tags must come after the indicator they belong to',
  BAD_SCALAR_START: 'a plain value starts with a reserved character (quote it)',
  BLOCK_AS_IMPLICIT_KEY: 'a block collection cannot be an implicit key',
  BLOCK_IN_FLOW: 'a block value inside a flow collection ([...] or {...})',
  DUPLICATE_KEY: 'Map keys must be unique',
  IMPOSSIBLE: 'the YAML parser could not go on',
  KEY_OVER_1024_CHARS: 'an implicit key is longer than 1024 characters',
  MISSING_CHAR: 'a character is missing (a closing quote or bracket, a comma, a space after a colon)',
  MULTILINE_IMPLICIT_KEY: 'Implicit keys need to be on a single line',
  MULTIPLE_ANCHORS: 'A node can have at most one anchor',
  MULTIPLE_DOCS: 'more than one document where one was expected',
  MULTIPLE_TAGS: 'A node can have at most one tag',
  NON_STRING_KEY: 'a map key is not a string',
  RESOURCE_EXHAUSTION: 'too many aliases: this looks like a resource exhaustion attack',
  TAB_AS_INDENT: 'Tabs are not allowed as indentation',
  TAG_RESOLVE_FAILED: 'a tag (!…) is unknown, or the value does not fit it',
  UNEXPECTED_TOKEN: 'unexpected text at this place',
};

/**
 * A one-line description of a YAML problem that quotes nothing of the document: a parse error
 * (a `YAMLError`, by its code) or what converting a document threw (an alias to no anchor,
 * too many aliases).
 */
export function describeYamlProblem(error: unknown): string {
  const message = error instanceof Error ? (error.message.split('\n')[0] ?? '') : '';
  if (FIXED_MESSAGES.has(message) || FIXED_PATTERNS.some((p) => p.test(message))) return message;
  const code = (error as Partial<YAMLError> | undefined)?.code;
  if (typeof code === 'string') return BY_CODE[code] ?? `YAML error ${code}`;
  if (message.startsWith('Unresolved alias')) return 'an alias (*name) refers to no anchor (&name) set before it';
  if (message.startsWith('Alias resolution is disabled')) return 'aliases are not allowed here';
  return `the document cannot be read (${error instanceof Error ? error.name : 'unknown error'})`;
}
