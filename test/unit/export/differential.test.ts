/**
 * Every golden admission fixture through the exported admission policies, evaluated offline
 * (src/export/evaluate.ts), against the webhook's answer (expected.*.json): the decision, the
 * message lines and the stored object. Each fixture's comparison is written down below; a change
 * in either side that changes one fails, and so does a new fixture until it is added. Every
 * fixture that does not come out `same` is listed in docs/vap.md, with why.
 * test/e2e/22-admission-policies.e2e.test.ts runs the same comparison on the real API server.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Comparison, compare, fixtureOutcome } from '../../helpers/admission-policies.js';
import { ADMISSION_FIXTURES, REPO } from '../../helpers/fixtures.js';

const EXPECTED: Record<string, Comparison> = {
  'configmap-unknown-kind-untouched': 'not-a-request',
  'malformed-containers-not-array': 'not-a-request',
  'malformed-deep-nesting': 'not-a-request',
  'malformed-no-uid': 'not-a-request',
  'malformed-not-an-object': 'not-a-request',
  'malformed-object-is-array': 'not-a-request',
  'malformed-object-missing-on-create': 'not-a-request',
  'malformed-projected-sources-not-array': 'not-a-request',
  'malformed-token-expiration-string': 'not-a-request',
  'malformed-tokenrequest-audiences-string': 'not-a-request',
  'malformed-unknown-operation': 'not-a-request',
  'malformed-volume-mounts-not-array': 'not-a-request',
  'malformed-volumes-not-array': 'not-a-request',
  'malformed-wrong-api-version': 'not-a-request',
  'pod-api-audience-token-3606-allowed': 'same',
  'pod-api-audience-token-3607-clamped': 'same',
  'pod-api-audience-token-3607-deny-bounds': 'same',
  'pod-api-prefix-lookalike-bounded': 'same',
  'pod-api-token-expiration-rewritten': 'same',
  'pod-api-token-rewritten-recognised': 'same',
  'pod-audit-mode': 'same',
  'pod-composed-policies': 'one-message',
  'pod-connect-untouched': 'same',
  'pod-delete-untouched': 'same',
  'pod-deployment-default-sa-kept-bindings-unknown': 'same',
  'pod-deployment-unbound-sa-token-removed': 'differs',
  'pod-dry-run-same-decision': 'one-message',
  'pod-ephemeral-api-token-denied': 'same',
  'pod-ephemeral-api-token-needed-allowed': 'same',
  'pod-ephemeral-no-token-allowed': 'same',
  'pod-ephemeralcontainers-untouched': 'same',
  'pod-excluded-namespace-untouched': 'same',
  'pod-explicit-api-audience-denied': 'one-message',
  'pod-explicit-api-audience-needed-allowed': 'same',
  'pod-explicit-automount-true-removed': 'one-message',
  'pod-final-state-token-not-needed-denied': 'one-message',
  'pod-group-binding-kept': 'same',
  'pod-init-and-sidecar-token-removed': 'one-message',
  'pod-inject-all-containers': 'same',
  'pod-inject-already-present-unchanged': 'same',
  'pod-inject-mount-path-clash': 'same',
  'pod-inject-namespace-not-matched': 'same',
  'pod-inject-sidecar-added-later': 'same',
  'pod-inject-user-token-same-audience-kept': 'same',
  'pod-inject-volume-name-clash': 'same',
  'pod-mirror-untouched': 'same',
  'pod-namespace-labels-unknown-denied': 'differs',
  'pod-namespace-selector-matched': 'same',
  'pod-namespace-selector-not-matched': 'same',
  'pod-no-token-untouched': 'same',
  'pod-opt-in-annotation-false-removed': 'one-message',
  'pod-opt-in-annotation-kept': 'same',
  'pod-opt-in-list-kept': 'same',
  'pod-opt-in-sa-annotation-kept': 'same',
  'pod-rolebinding-bound-sa-kept': 'same',
  'pod-status-subresource-untouched': 'same',
  'pod-token-audience-denied': 'same',
  'pod-token-clamped': 'one-message',
  'pod-token-default-expiration-allowed': 'same',
  'pod-token-too-long-denied': 'same',
  'pod-token-too-short-clamped': 'one-message',
  'pod-unmounted-api-token-denied': 'one-message',
  'pod-update-untouched': 'same',
  'pod-user-volume-with-api-prefix-kept': 'one-message',
  'secret-embedded-legacy-token-denied': 'differs',
  'secret-embedded-legacy-token-update-denied': 'differs',
  'secret-embedded-legacy-token-warned': 'same',
  'secret-embedded-wrapped-legacy-token-denied': 'differs',
  'secret-legacy-audit-warned': 'same',
  'secret-legacy-create-denied': 'same',
  'secret-legacy-delete-allowed': 'same',
  'secret-legacy-dry-run-denied': 'same',
  'secret-legacy-exempt-allowed': 'same',
  'secret-legacy-other-sa-in-exempt-namespace-denied': 'same',
  'secret-legacy-update-allowed': 'same',
  'secret-lookalike-type-warned': 'same',
  'secret-opaque-allowed': 'same',
  'secret-token-type-update-with-token-allowed': 'same',
  'tokenrequest-audience-denied': 'same',
  'tokenrequest-defaulted-audience-allowed': 'same',
  'tokenrequest-exempt-user-allowed': 'same',
  'tokenrequest-kubelet-pod-bound-exempt': 'same',
  'tokenrequest-node-unbound-judged': 'same',
  'tokenrequest-other-audience-denied': 'same',
  'tokenrequest-over-max-denied': 'same',
  'tokenrequest-over-max-shortened': 'same',
  'tokenrequest-pod-bound-3606-allowed': 'same',
  'tokenrequest-pod-bound-3607-denied': 'same',
  'tokenrequest-within-bounds-allowed': 'same',
};

const names = readdirSync(ADMISSION_FIXTURES).sort();

test('every fixture has its expected comparison, and only fixtures that exist do', () => {
  expect(Object.keys(EXPECTED).sort()).toEqual(names);
});

test.each(names)('%s', (name) => {
  const outcome = fixtureOutcome(name);
  expect({ name, comparison: compare(outcome) }).toEqual({ name, comparison: EXPECTED[name] });
});

test('docs/vap.md lists every fixture that does not come out the same', () => {
  const doc = readFileSync(join(REPO, 'docs', 'vap.md'), 'utf8');
  const missing = names.filter((n) => EXPECTED[n] !== 'same' && !doc.includes(`\`${n}\``));
  expect(missing).toEqual([]);
});

test('the comparison sees a difference: a policy set that drops the bounds changes the answer', () => {
  const outcome = fixtureOutcome('pod-token-too-long-denied');
  expect(compare(outcome)).toBe('same');
  expect(
    compare({
      ...outcome,
      policies: outcome.policies ? { ...outcome.policies, allowed: !outcome.policies.allowed } : undefined,
    }),
  ).toBe('differs');
});
