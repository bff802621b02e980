/**
 * The published policy schema (policies/schema.json) as an editor uses it: every property has a
 * description (the hover text), every broken policy the loader refuses is flagged by the schema
 * too where JSON Schema can say so, and the ones it cannot are exactly those
 * docs/policy-reference.md lists ("What only tokenguard policy validate checks"). No policy the
 * repository ships or tests with is flagged. docs/policy-reference.md is current.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { parse, parseAllDocuments } from 'yaml';
import { parsePolicyDocuments } from '../../../src/policy/parse.js';
import { CLI_ONLY_CHECKS, policyReference } from '../../../src/policy/reference.js';
import { formatPolicyError } from '../../../src/policy/types.js';
import { REPO } from '../../helpers/fixtures.js';

const published = JSON.parse(readFileSync(join(REPO, 'policies', 'schema.json'), 'utf8')) as Record<string, unknown>;
// As an editor's validator does: every error, unknown keywords (patternErrorMessage) ignored.
const editor = new Ajv({ allErrors: true, strict: false }).compile(published);

const policy = (spec: string) =>
  `apiVersion: tokenguard.dev/v1alpha1\nkind: TokenPolicy\nmetadata:\n  name: p\nspec:\n  mode: Enforce\n${spec}`;
const inject = (item: string, rest = '') =>
  policy(
    `  projectedTokens:\n    inject:\n      - {volumeName: vault-token, audience: vault, mountPath: /var/run/tokens${item}}\n${rest}`,
  );

/** One defect each, with the loader's error for it (`field: message`). */
const BROKEN: readonly { readonly id: string; readonly text: string; readonly cli: string }[] = [
  {
    id: 'unknown-field',
    text: policy('  automount: {action: Keep}\n  colour: blue\n'),
    cli: 'spec.colour: unknown field',
  },
  {
    id: 'mode-invalid',
    text: policy('  automount: {action: Keep}\n').replace('mode: Enforce', 'mode: Sometimes'),
    cli: 'spec.mode: must be one of Enforce, Audit, Off',
  },
  {
    id: 'mode-missing',
    text: policy('  automount: {action: Keep}\n').replace('  mode: Enforce\n', ''),
    cli: 'spec.mode: required field is missing',
  },
  {
    id: 'name-invalid',
    text: policy('  automount: {action: Keep}\n').replace('name: p', 'name: Bad_Name'),
    cli: 'metadata.name: must be a DNS subdomain',
  },
  {
    id: 'api-version-wrong',
    text: policy('  automount: {action: Keep}\n').replace('tokenguard.dev/v1alpha1', 'tokenguard.dev/v1'),
    cli: 'apiVersion: must be "tokenguard.dev/v1alpha1"',
  },
  {
    id: 'automount-action-invalid',
    text: policy('  automount: {action: Sometimes}\n'),
    cli: 'spec.automount.action: must be one of DisableUnlessNeeded, Keep',
  },
  {
    id: 'spec-does-nothing',
    text: policy('  match: {namespaces: [team-a]}\n'),
    cli: 'spec: sets none of legacyTokenSecrets, automount, projectedTokens, tokenRequests',
  },
  {
    id: 'exempt-not-namespace-name',
    text: policy('  legacyTokenSecrets: {action: Deny, exemptServiceAccounts: [ci-runner]}\n'),
    cli: 'spec.legacyTokenSecrets.exemptServiceAccounts[0]: must be "namespace/name"',
  },
  {
    id: 'match-service-account-path',
    text: policy('  automount: {action: Keep}\n  match: {serviceAccounts: [a/b/c]}\n'),
    cli: 'spec.match.serviceAccounts[0]: must be "name" or "namespace/name"',
  },
  {
    id: 'needed-service-account-path',
    text: policy('  automount: {action: DisableUnlessNeeded, needed: {serviceAccounts: [a/b/c]}}\n'),
    cli: 'spec.automount.needed.serviceAccounts[0]: must be "name" or "namespace/name"',
  },
  {
    id: 'annotation-invalid',
    text: policy('  automount: {action: DisableUnlessNeeded, needed: {annotation: "not a key!"}}\n'),
    cli: 'spec.automount.needed.annotation: is not a valid annotation key',
  },
  {
    id: 'annotation-prefix-invalid',
    text: policy('  automount: {action: DisableUnlessNeeded, needed: {annotation: "Example.com/x"}}\n'),
    cli: 'spec.automount.needed.annotation: is not a valid annotation key',
  },
  {
    id: 'observed-within-not-duration',
    text: policy('  automount: {action: DisableUnlessNeeded, needed: {observedWithin: "30 days"}}\n'),
    cli: 'spec.automount.needed.observedWithin: "30 days" is not a duration',
  },
  {
    id: 'observed-within-zero',
    text: policy('  automount: {action: DisableUnlessNeeded, needed: {observedWithin: 0h0m}}\n'),
    cli: 'spec.automount.needed.observedWithin: "0h0m" is not longer than zero',
  },
  {
    id: 'observed-within-over-100-years',
    text: policy('  automount: {action: DisableUnlessNeeded, needed: {observedWithin: 6000w}}\n'),
    cli: 'spec.automount.needed.observedWithin: "6000w" is longer than 100 years',
  },
  {
    id: 'needed-with-keep',
    text: policy('  automount: {action: Keep, needed: {rbacBound: true}}\n'),
    cli: 'spec.automount.needed: has no effect with action Keep',
  },
  {
    id: 'bounds-audiences-empty',
    text: policy('  projectedTokens:\n    bounds: {allowedAudiences: []}\n'),
    cli: 'spec.projectedTokens.bounds.allowedAudiences: is empty',
  },
  {
    id: 'bounds-min-above-max',
    text: policy('  projectedTokens:\n    bounds: {minExpirationSeconds: 7200, maxExpirationSeconds: 3600}\n'),
    cli: 'spec.projectedTokens.bounds.maxExpirationSeconds: must be ≥ minExpirationSeconds (7200)',
  },
  {
    id: 'api-token-outside-bounds',
    text: policy('  projectedTokens:\n    bounds: {maxExpirationSeconds: 3600}\n    apiTokenExpirationSeconds: 7200\n'),
    cli: "spec.projectedTokens.apiTokenExpirationSeconds: must be within this policy's bounds",
  },
  {
    id: 'api-token-below-600',
    text: policy('  projectedTokens: {apiTokenExpirationSeconds: 599}\n'),
    cli: 'spec.projectedTokens.apiTokenExpirationSeconds: must be >= 600',
  },
  {
    id: 'request-audiences-empty',
    text: policy('  tokenRequests: {allowedAudiences: []}\n'),
    cli: 'spec.tokenRequests.allowedAudiences: is empty',
  },
  {
    id: 'requests-do-nothing',
    text: policy('  tokenRequests: {onViolation: Deny}\n'),
    cli: 'spec.tokenRequests: sets neither maxExpirationSeconds nor allowedAudiences',
  },
  {
    id: 'expression-in-without-values',
    text: policy(
      '  automount: {action: Keep}\n  match: {objectSelector: {matchExpressions: [{key: app, operator: In}]}}\n',
    ),
    cli: 'spec.match.objectSelector.matchExpressions[0].values: must not be empty for operator In',
  },
  {
    id: 'expression-exists-with-values',
    text: policy(
      '  automount: {action: Keep}\n  match: {namespaceSelector: {matchExpressions: [{key: app, operator: Exists, values: [x]}]}}\n',
    ),
    cli: 'spec.match.namespaceSelector.matchExpressions[0].values: must be empty for operator Exists',
  },
  {
    id: 'expression-key-invalid',
    text: policy(
      '  automount: {action: Keep}\n  match: {objectSelector: {matchExpressions: [{key: "a b", operator: Exists}]}}\n',
    ),
    cli: 'spec.match.objectSelector.matchExpressions[0].key: is not a valid label key',
  },
  {
    id: 'label-key-invalid',
    text: policy('  automount: {action: Keep}\n  match: {objectSelector: {matchLabels: {"-app": web}}}\n'),
    cli: 'spec.match.objectSelector.matchLabels.-app: is not a valid label key',
  },
  {
    id: 'volume-name-invalid',
    text: inject('').replace('vault-token', 'Vault_Token'),
    cli: 'spec.projectedTokens.inject[0].volumeName: must be a DNS-1123 label',
  },
  {
    id: 'volume-name-reserved',
    text: inject('').replace('vault-token', 'kube-api-access-vault'),
    cli: 'spec.projectedTokens.inject[0].volumeName: must not start with kube-api-access-',
  },
  {
    id: 'mount-path-relative',
    text: inject('').replace('/var/run/tokens', 'var/run/tokens'),
    cli: 'spec.projectedTokens.inject[0].mountPath: must be an absolute path',
  },
  {
    id: 'mount-path-dot-dot',
    text: inject('').replace('/var/run/tokens', '/var/../etc'),
    cli: "spec.projectedTokens.inject[0].mountPath: must not contain '..'",
  },
  {
    id: 'path-absolute',
    text: inject(', path: /token'),
    cli: 'spec.projectedTokens.inject[0].path: must be a relative path',
  },
  {
    id: 'path-dot-dot',
    text: inject(', path: a/../../token'),
    cli: "spec.projectedTokens.inject[0].path: must not contain '..'",
  },
  {
    id: 'path-starts-dot-dot',
    text: inject(', path: ..token'),
    cli: "spec.projectedTokens.inject[0].path: must not start with '..'",
  },
  {
    id: 'audience-whitespace',
    text: inject('').replace('audience: vault', 'audience: "va ult"'),
    cli: 'spec.projectedTokens.inject[0].audience: must not contain whitespace',
  },
  {
    id: 'inject-expiration-below-600',
    text: inject(', expirationSeconds: 60'),
    cli: 'spec.projectedTokens.inject[0].expirationSeconds: must be >= 600',
  },
  {
    id: 'inject-required-missing',
    text: policy('  projectedTokens:\n    inject: [{volumeName: v, mountPath: /v}]\n'),
    cli: 'spec.projectedTokens.inject[0].audience: required field is missing',
  },
  {
    id: 'inject-expiration-outside-bounds',
    text: inject(', expirationSeconds: 90000', '    bounds: {maxExpirationSeconds: 86400}\n'),
    cli: "spec.projectedTokens.inject[0].expirationSeconds: 90000 is outside this policy's bounds",
  },
  {
    id: 'inject-audience-not-allowed',
    text: inject('', '    bounds: {allowedAudiences: [sts]}\n'),
    cli: 'spec.projectedTokens.inject[0].audience: "vault" is not in this policy\'s allowedAudiences',
  },
  {
    id: 'inject-duplicate-volume',
    text: policy(
      '  projectedTokens:\n    inject:\n      - {volumeName: v, audience: a, mountPath: /a}\n      - {volumeName: v, audience: b, mountPath: /b}\n',
    ),
    cli: 'spec.projectedTokens.inject[1].volumeName: duplicates inject[0].volumeName',
  },
  {
    id: 'inject-duplicate-mount-path',
    text: policy(
      '  projectedTokens:\n    inject:\n      - {volumeName: a, audience: a, mountPath: /t}\n      - {volumeName: b, audience: b, mountPath: /t}\n',
    ),
    cli: 'spec.projectedTokens.inject[1].mountPath: duplicates inject[0].mountPath',
  },
];

test('every broken policy is refused by the loader with its message, and by the schema wherever JSON Schema can say it', () => {
  const results = BROKEN.map((b) => {
    const cli = parsePolicyDocuments(b.text, 'p.yaml').errors.map(formatPolicyError);
    return {
      id: b.id,
      cli: cli.some((e) => e.startsWith(`p.yaml:1: ${b.cli}`)) ? 'refused' : cli,
      editor: editor(parse(b.text)) ? 'missed' : 'flagged',
    };
  });
  expect(results.map(({ id, cli }) => ({ id, cli }))).toEqual(BROKEN.map(({ id }) => ({ id, cli: 'refused' })));
  const missed = results.filter((r) => r.editor === 'missed').map((r) => r.id);
  // What the schema misses is what docs/policy-reference.md lists as checked by the CLI alone.
  expect([...missed].sort()).toEqual(CLI_ONLY_CHECKS.flatMap((c) => (c.id ? [c.id] : [])).sort());
  process.stdout.write(
    `schema flags ${results.length - missed.length} of ${results.length} broken policies; the CLI alone: ${missed.join(', ')}\n`,
  );
});

test('each broken policy has one error in the loader: where the schema and the validator both find it, one message', () => {
  const counts = BROKEN.map((b) => ({ id: b.id, errors: parsePolicyDocuments(b.text, 'p.yaml').errors.length }));
  expect(counts).toEqual(BROKEN.map(({ id }) => ({ id, errors: 1 })));
});

/** Every policy document the repository ships, installs or tests with. */
function policyFiles(): string[] {
  const walk = (dir: string): string[] =>
    readdirSync(join(REPO, dir), { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith('.yaml') ? [join(dir, e.name)] : [],
    );
  return [
    'policies',
    'examples/policies',
    'test/fixtures/policies',
    'charts/tokenguard/files/policies',
    'charts/tokenguard/files/policies-audit',
  ].flatMap(walk);
}

test('no policy the repository ships or tests with is flagged by the schema', () => {
  const files = policyFiles();
  expect(files.length).toBeGreaterThan(15);
  const flagged: string[] = [];
  for (const f of files) {
    for (const d of parseAllDocuments(readFileSync(join(REPO, f), 'utf8'))) {
      const value = d.toJS();
      if (value !== null && !editor(value)) flagged.push(`${f}: ${JSON.stringify(editor.errors)}`);
    }
  }
  expect(flagged).toEqual([]);
});

test('every property of the schema has a description (the hover text in an editor)', () => {
  const missing: string[] = [];
  let count = 0;
  const walk = (node: unknown, at: string) => {
    if (typeof node !== 'object' || node === null) return;
    for (const [k, v] of Object.entries(node)) {
      // Conditions (if/then, not, anyOf) restate fields to test them; they are not where fields are described.
      if (['if', 'then', 'else', 'not', 'anyOf', 'allOf'].includes(k)) continue;
      if (k === 'properties' && typeof v === 'object' && v !== null) {
        for (const [name, prop] of Object.entries(v)) {
          count++;
          if (typeof (prop as { description?: unknown }).description !== 'string')
            missing.push(`${at}/properties/${name}`);
        }
      }
      walk(v, `${at}/${k}`);
    }
  };
  walk(published, '#');
  expect(missing).toEqual([]);
  expect(count).toBeGreaterThan(60);
});

test('docs/policy-reference.md is generated from the schema (npm run schema writes it)', () => {
  expect(readFileSync(join(REPO, 'docs', 'policy-reference.md'), 'utf8')).toBe(policyReference());
});
