import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkPolicySet, parsePolicyDocuments } from '../../../src/policy/parse.js';
import { loadPolicies } from '../../../src/policy/load.js';
import { documentSchema, tokenPolicySchema } from '../../../src/policy/schema.js';
import { formatPolicyError } from '../../../src/policy/types.js';
import { policyValidatorSource } from '../../../src/policy/validator-source.js';
import { REPO } from '../../helpers/fixtures.js';

const errorsOf = (text: string) => parsePolicyDocuments(text, 'p.yaml').errors.map(formatPolicyError);

const head = (name: string) => `apiVersion: tokenguard.dev/v1alpha1\nkind: TokenPolicy\nmetadata:\n  name: ${name}\n`;

test('the shipped policies load without errors', () => {
  const r = loadPolicies([join(REPO, 'policies')]);
  expect(r.errors).toEqual([]);
  expect(r.policies.map((p) => p.name).sort()).toEqual([
    'api-token-expiration',
    'automount',
    'legacy-token-secrets',
    'token-bounds',
  ]);
});

test('policies/schema.json is the schema the loader uses, and the TokenUsage document', () => {
  const published = JSON.parse(readFileSync(join(REPO, 'policies', 'schema.json'), 'utf8'));
  expect(published).toEqual(documentSchema());
  const { $schema, $id, definitions, ...policy } = tokenPolicySchema;
  expect(published.definitions.TokenPolicy).toEqual(policy);
  expect(published.definitions).toMatchObject(definitions);
  expect([$schema, $id]).toEqual([published.$schema, expect.any(String)]);
});

test('a valid multi-document file gives one policy per document, with its source', () => {
  const text = `${head('one')}spec:\n  mode: Enforce\n  legacyTokenSecrets: {action: Deny}\n---\n${head('two')}spec:\n  mode: Audit\n  automount: {action: Keep}\n---\n`;
  const r = parsePolicyDocuments(text, 'p.yaml');
  expect(r.errors).toEqual([]);
  expect(r.policies.map((p) => [p.name, p.spec.mode, p.source.document, p.source.line])).toEqual([
    ['one', 'Enforce', 1, 1],
    ['two', 'Audit', 2, 9],
  ]);
});

test('every problem of every document is listed as file:document: field: message (line)', () => {
  const text = [
    `${head('Bad_Name')}spec:\n  mode: Sometimes\n  automount: {action: DisableUnlessNeeded, needed: {annotation: "not a key!"}}\n  legacyTokenSecrets: {action: Deny, exemptServiceAccounts: ["no-namespace"]}\n`,
    `${head('bounds')}spec:\n  mode: Enforce\n  projectedTokens:\n    bounds: {minExpirationSeconds: 7200, maxExpirationSeconds: 3600, allowedAudiences: [vault]}\n    apiTokenExpirationSeconds: 599\n    inject:\n      - {volumeName: Vault_Token, audience: sts, mountPath: relative/path, path: ../escape, expirationSeconds: 100000}\n      - {volumeName: kube-api-access-mine, audience: vault, mountPath: /v}\n      - {volumeName: dup, audience: vault, mountPath: /v}\n      - {volumeName: dup, audience: vault, mountPath: /w, unknownField: 1}\n`,
    `${head('selectors')}spec:\n  mode: Enforce\n  match:\n    objectSelector: {matchExpressions: [{key: app, operator: In}, {key: tier, operator: Exists, values: [x]}]}\n    serviceAccounts: ["a/b/c"]\n  automount: {action: Keep}\n`,
    `${head('empty')}spec:\n  mode: Enforce\n`,
  ].join('---\n');
  expect(errorsOf(text)).toEqual([
    'p.yaml:1: metadata.name: must be a DNS subdomain (lower-case letters, digits, - and .) (line 4)',
    'p.yaml:1: spec.mode: must be one of Enforce, Audit, Off (line 6)',
    'p.yaml:1: spec.legacyTokenSecrets.exemptServiceAccounts[0]: must be "namespace/name" (line 8)',
    'p.yaml:1: spec.automount.needed.annotation: is not a valid annotation key ([prefix/]name) (line 7)',
    'p.yaml:2: spec.projectedTokens.inject[3].unknownField: unknown field (line 23)',
    'p.yaml:2: spec.projectedTokens.apiTokenExpirationSeconds: must be >= 600 (line 18)',
    'p.yaml:2: spec.projectedTokens.bounds.maxExpirationSeconds: must be ≥ minExpirationSeconds (7200) (line 17)',
    "p.yaml:2: spec.projectedTokens.apiTokenExpirationSeconds: must be within this policy's bounds [7200, 3600] (line 18)",
    'p.yaml:2: spec.projectedTokens.inject[0].volumeName: must be a DNS-1123 label (lower-case letters, digits and -, at most 63) (line 20)',
    'p.yaml:2: spec.projectedTokens.inject[0].mountPath: must be an absolute path (line 20)',
    "p.yaml:2: spec.projectedTokens.inject[0].path: must not contain '..' (line 20)",
    "p.yaml:2: spec.projectedTokens.inject[0].expirationSeconds: 100000 is outside this policy's bounds [7200, 3600] (line 20)",
    'p.yaml:2: spec.projectedTokens.inject[0].audience: "sts" is not in this policy\'s allowedAudiences (line 20)',
    'p.yaml:2: spec.projectedTokens.inject[1].volumeName: must not start with kube-api-access- (reserved for the API token) (line 21)',
    "p.yaml:2: spec.projectedTokens.inject[1].expirationSeconds: 3600 is outside this policy's bounds [7200, 3600] (line 21)",
    'p.yaml:2: spec.projectedTokens.inject[2].mountPath: duplicates inject[1].mountPath (line 22)',
    "p.yaml:2: spec.projectedTokens.inject[2].expirationSeconds: 3600 is outside this policy's bounds [7200, 3600] (line 22)",
    'p.yaml:2: spec.projectedTokens.inject[3].volumeName: duplicates inject[2].volumeName (line 23)',
    "p.yaml:2: spec.projectedTokens.inject[3].expirationSeconds: 3600 is outside this policy's bounds [7200, 3600] (line 23)",
    'p.yaml:3: spec.match.objectSelector.matchExpressions[0].values: must not be empty for operator In (line 32)',
    'p.yaml:3: spec.match.objectSelector.matchExpressions[1].values: must be empty for operator Exists (line 32)',
    'p.yaml:3: spec.match.serviceAccounts[0]: must be "name" or "namespace/name" (line 33)',
    'p.yaml:4: spec: sets none of legacyTokenSecrets, automount, projectedTokens, tokenRequests: the policy would do nothing (line 41)',
  ]);
});

test('broken YAML, duplicate keys and non-policy documents are reported, not thrown', () => {
  expect(errorsOf('spec: [unclosed\n')[0]).toMatch(/^p\.yaml:1: YAML: .*\(line \d+\)$/);
  expect(errorsOf(`${head('dup')}spec:\n  mode: Enforce\n  mode: Audit\n`)[0]).toMatch(
    /^p\.yaml:1: YAML: Map keys must be unique/,
  );
  expect(errorsOf('just a string\n')).toEqual(['p.yaml:1: must be object (line 1)']);
  expect(
    errorsOf(
      `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\nspec: {mode: Enforce, automount: {action: Keep}}\n`,
    ),
  ).toEqual([
    'p.yaml:1: apiVersion: must be "tokenguard.dev/v1alpha1" (line 1)',
    'p.yaml:1: kind: must be "TokenPolicy" (line 2)',
  ]);
});

test("a YAML error in a policy is reported at its own line, not the document's first", () => {
  // head() is four lines: the problems are on lines 6 and 7.
  expect(errorsOf(`${head('dup')}spec:\n  mode: Enforce\n  mode: Audit\n`)[0]).toMatch(/\(line 7\)$/);
  expect(errorsOf(`${head('open')}spec:\n  automount: {action: Keep\n`)[0]).toMatch(
    /^p\.yaml:1: YAML: .*\(line [67]\)$/,
  );
  expect(
    errorsOf(
      `${head('one')}spec: {mode: Enforce, automount: {action: Keep}}\n---\n${head('two')}spec:\n  mode: Enforce\n  mode: Audit\n`,
    )[0],
  ).toMatch(/^p\.yaml:2: .*\(line 13\)$/);
});

test('policy names are unique across files', () => {
  const a = parsePolicyDocuments(
    `${head('same')}spec: {mode: Enforce, automount: {action: Keep}}\n`,
    'a.yaml',
  ).policies;
  const b = parsePolicyDocuments(`${head('same')}spec: {mode: Audit, automount: {action: Keep}}\n`, 'b.yaml').policies;
  expect(checkPolicySet([...a, ...b]).map(formatPolicyError)).toEqual([
    'b.yaml:1: metadata.name: duplicate policy name "same" (first defined in a.yaml:1) (line 1)',
  ]);
});

test('loading a missing path or an empty folder is an error, never an empty policy set', () => {
  expect(loadPolicies(['/nonexistent/policies']).errors.map(formatPolicyError)).toEqual([
    '/nonexistent/policies:0: cannot read: ENOENT',
  ]);
  expect(loadPolicies([join(REPO, 'src', 'engine')]).errors.map((e) => e.message)).toEqual([
    'no policy files (*.yaml, *.yml) found',
  ]);
});

test('the compiled policy schema the loader uses is current (npm run schema writes it)', () => {
  expect(readFileSync(join(REPO, 'src', 'policy', 'schema-validator.generated.ts'), 'utf8')).toBe(
    policyValidatorSource(),
  );
});

test('automount.needed.observedWithin is a duration; anything else is named with its field', () => {
  const policy = (within: string) =>
    `${head('observed')}spec:\n  mode: Enforce\n  automount:\n    action: DisableUnlessNeeded\n    needed: {observedWithin: "${within}"}\n`;
  expect(errorsOf(policy('30d'))).toEqual([]);
  expect(errorsOf(policy('1h30m'))).toEqual([]);
  expect(errorsOf(policy('30 days'))).toEqual([
    'p.yaml:1: spec.automount.needed.observedWithin: "30 days" is not a duration (at character 1; e.g. 30d, 12h, 1h30m; units s, m, h, d, w) (line 9)',
  ]);
  expect(errorsOf(policy('0s'))).toEqual([
    'p.yaml:1: spec.automount.needed.observedWithin: "0s" is not longer than zero (line 9)',
  ]);
});
