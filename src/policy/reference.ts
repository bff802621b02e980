/**
 * docs/policy-reference.md, generated from the policy JSON Schema (`npm run schema` writes it; a
 * test checks the committed file is current): every field with its type, allowed values,
 * constraints and description, then what only the CLI's validator checks. Pure.
 */
import { documentSchema } from './schema.js';

type Schema = Readonly<Record<string, unknown>>;

/**
 * What `tokenguard policy validate` (and the server's loader) refuses that JSON Schema cannot
 * say, so an editor using policies/schema.json does not flag it. `id` names the broken policy of
 * each in the tests (test/unit/policy/schema-coverage.test.ts); the cross-file ones have none.
 */
export const CLI_ONLY_CHECKS: readonly { readonly id?: string; readonly field: string; readonly rule: string }[] = [
  {
    id: 'bounds-min-above-max',
    field: 'spec.projectedTokens.bounds.maxExpirationSeconds',
    rule: 'at least minExpirationSeconds (JSON Schema cannot compare two fields)',
  },
  {
    id: 'api-token-outside-bounds',
    field: 'spec.projectedTokens.apiTokenExpirationSeconds',
    rule: "within this policy's bounds [minExpirationSeconds, maxExpirationSeconds]",
  },
  {
    id: 'inject-expiration-outside-bounds',
    field: 'spec.projectedTokens.inject[].expirationSeconds',
    rule: "within this policy's bounds (3600 when not set)",
  },
  {
    id: 'inject-audience-not-allowed',
    field: 'spec.projectedTokens.inject[].audience',
    rule: "matches one of this policy's bounds.allowedAudiences",
  },
  {
    id: 'inject-duplicate-volume',
    field: 'spec.projectedTokens.inject[].volumeName',
    rule: "differs from every other item's (uniqueItems compares whole items)",
  },
  {
    id: 'inject-duplicate-mount-path',
    field: 'spec.projectedTokens.inject[].mountPath',
    rule: "differs from every other item's",
  },
  {
    id: 'observed-within-over-100-years',
    field: 'spec.automount.needed.observedWithin',
    rule: 'at most 100 years, and not rounding to zero seconds (0.4s)',
  },
  { field: 'metadata.name', rule: 'unique across every policy file and document of the set' },
  {
    field: '(the document)',
    rule: 'YAML the loader can read: no duplicate keys, aliases that resolve, at most 50 alias expansions',
  },
];

const esc = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const code = (s: string) => `\`${s}\``;

/** The definition a `$ref` names, with the referring schema's own keywords (its description) on top. */
function resolve(node: Schema, root: Schema): Schema {
  const ref = node.$ref;
  if (typeof ref !== 'string') return node;
  const name = ref.replace('#/definitions/', '');
  const target = (root.definitions as Record<string, Schema>)[name] as Schema;
  const { $ref: _ref, ...own } = node;
  return { ...resolve(target, root), ...own };
}

function typeOf(s: Schema, root: Schema): string {
  if ('const' in s) return code(String(s.const));
  if (Array.isArray(s.enum)) return s.enum.map((v) => code(String(v))).join(', ');
  if (s.type === 'array') {
    const items = s.items ? resolve(s.items as Schema, root) : undefined;
    return items?.type === 'object' ? 'list of objects' : items?.type === 'string' ? 'list of strings' : 'list';
  }
  if (s.type === 'object' && !s.properties) return 'map of strings';
  return String(s.type ?? '');
}

function constraints(s: Schema, required: boolean, root: Schema): string {
  const out: string[] = [];
  if (required) out.push('**required**');
  if (typeof s.minimum === 'number')
    out.push(typeof s.maximum === 'number' ? `${s.minimum} to ${s.maximum}` : `at least ${s.minimum}`);
  if (typeof s.minLength === 'number' && s.minLength > 1) out.push(`at least ${s.minLength} characters`);
  if (typeof s.maxLength === 'number') out.push(`at most ${s.maxLength} characters`);
  if (typeof s.minItems === 'number') out.push('not empty');
  if (typeof s.patternErrorMessage === 'string') out.push(s.patternErrorMessage);
  if (typeof s.errorMessage === 'string' && s.type !== 'object') out.push(s.errorMessage);
  if (s.type === 'array' && s.items) {
    const items = resolve(s.items as Schema, root);
    if (typeof items.patternErrorMessage === 'string') out.push(`each ${items.patternErrorMessage}`);
  }
  return out.join('; ');
}

/** One row per field under `prefix`, depth first. */
function rows(node: Schema, prefix: string, root: Schema): string[] {
  const out: string[] = [];
  const props = (node.properties ?? {}) as Record<string, Schema>;
  const required = new Set((node.required as string[] | undefined) ?? []);
  for (const [name, raw] of Object.entries(props)) {
    const s = resolve(raw, root);
    const path = prefix ? `${prefix}.${name}` : name;
    out.push(
      `| ${code(path)} | ${esc(typeOf(s, root))} | ${esc(constraints(s, required.has(name), root))} | ${esc(String(s.description ?? ''))} |`,
    );
    if (s.type === 'object' && s.properties) out.push(...rows(s, path, root));
    if (s.type === 'array' && s.items) {
      const items = resolve(s.items as Schema, root);
      if (items.type === 'object' && items.properties) out.push(...rows(items, `${path}[]`, root));
    }
  }
  return out;
}

const TABLE_HEAD = '| field | type | rules | description |\n|---|---|---|---|';

/** The text of docs/policy-reference.md. */
export function policyReference(): string {
  const root = documentSchema() as Schema;
  const definitions = root.definitions as Record<string, Schema>;
  const policy = definitions.TokenPolicy as Schema;
  const usage = definitions.TokenUsage as Schema;
  const spec = (policy.properties as Record<string, Schema>).spec as Schema;
  const tokenRequests = (spec.properties as Record<string, Schema>).tokenRequests as Schema;
  const automount = (spec.properties as Record<string, Schema>).automount as Schema;
  const needed = ((automount.then as Schema).properties as Record<string, Schema>).needed as Schema;
  const globs = definitions.globList as Schema;
  return `<!-- Generated by \`npm run schema\` from src/policy/schema.ts (src/policy/reference.ts). Do not edit. -->
# Policy reference

Every field of a \`TokenPolicy\` document, as the JSON Schema \`policies/schema.json\` states it
(the schema the loader validates with). Point your editor's YAML language server at the schema
to get these descriptions on hover and these rules as you type: a first line
\`# yaml-language-server: $schema=./schema.json\` in a policy file beside it (the path is relative
to the file), or for a whole folder, in VS Code's settings,
\`"yaml.schemas": {"./policies/schema.json": "policies/*.yaml"}\`.
The README ("Policies") explains what each part does, with an example; docs/policies.md covers
globs, files and reloading. ${esc(String(globs.description))}

## TokenPolicy

${TABLE_HEAD}
${rows(policy, '', root).join('\n')}

Rules between fields that the schema states too:

- \`spec\`: ${String(spec.errorMessage).replace(/^sets none of (.*): the policy would do nothing$/, 'sets at least one of $1')}.
- \`spec.tokenRequests\`: ${String(tokenRequests.errorMessage).replace(/^sets neither (.*) nor (.*): it would do nothing$/, 'sets $1 or $2, or both')}.
- \`spec.automount.needed\`: ${String(needed.errorMessage)}.
- \`matchExpressions[].values\`: not empty for \`In\` and \`NotIn\`, empty for \`Exists\` and \`DoesNotExist\`.

## What only \`tokenguard policy validate\` checks

The loader (\`tokenguard policy validate\`, every command that reads policies, and the server on
every reload) refuses these too, and an editor using the schema does not flag them: JSON Schema
cannot relate one field to another, nor one document to another.

| field | must be |
|---|---|
${CLI_ONLY_CHECKS.map((c) => `| ${code(c.field)} | ${esc(c.rule)} |`).join('\n')}

\`tokenguard policy validate\` also warns (exit code unchanged) about globs that can never match,
or that cost more than one step per character (docs/policies.md, "Globs").

## TokenUsage

${esc(String(usage.description))} docs/usage.md ("The TokenUsage document") explains it.

${TABLE_HEAD}
${rows(usage, '', root).join('\n')}
`;
}
