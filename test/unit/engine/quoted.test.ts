/**
 * Messages quote input values cut at MAX_QUOTED_LENGTH: a hostile 60 KB audience no longer makes
 * a 60 KB denial, warning or audit annotation. Real values are far shorter, and the goldens pin
 * that they are quoted whole.
 */
import { handleReview } from '../../../src/admission/review.js';
import { MAX_QUOTED_LENGTH, quoted } from '../../../src/engine/messages.js';
import { noFacts } from '../../../src/facts/types.js';
import type { JsonObject } from '../../../src/json.js';
import type { PolicyMode, TokenPolicy } from '../../../src/policy/types.js';
import { pod, review } from '../../helpers/pods.js';

const AUDIENCE = `aud-${'x'.repeat(60_000)}`;
const policy = (mode: PolicyMode): TokenPolicy => ({
  name: 'bounded',
  spec: {
    mode,
    projectedTokens: { bounds: { allowedAudiences: ['vault'], onViolation: 'Deny' } },
    tokenRequests: { allowedAudiences: ['vault'] },
  },
  source: { file: 'f.yaml', document: 1 },
});

function podWithAudience(audience: string): JsonObject {
  return pod({
    extraVolumes: [
      {
        name: 'big',
        projected: { sources: [{ serviceAccountToken: { audience, expirationSeconds: 3600, path: 'token' } }] },
      },
    ],
  });
}

test('quoted: JSON of the value, cut at the limit with … after the closing quote, never inside a surrogate pair', () => {
  expect(quoted('vault')).toBe('"vault"');
  expect(quoted('a"b')).toBe('"a\\"b"');
  expect(quoted('x'.repeat(MAX_QUOTED_LENGTH))).toBe(JSON.stringify('x'.repeat(MAX_QUOTED_LENGTH)));
  expect(quoted('x'.repeat(MAX_QUOTED_LENGTH + 1))).toBe(`${JSON.stringify('x'.repeat(MAX_QUOTED_LENGTH))}…`);
  const pairAtCut = `${'x'.repeat(MAX_QUOTED_LENGTH - 1)}😀tail`;
  expect(quoted(pairAtCut)).toBe(`${JSON.stringify('x'.repeat(MAX_QUOTED_LENGTH - 1))}…`);
  expect(quoted(null)).toBe('null');
  expect(quoted(['y'.repeat(1000)])).toHaveLength(MAX_QUOTED_LENGTH + 1);
});

test('a pod token with a 60 KB audience: the denial quotes its first 256 characters', async () => {
  const r = await handleReview('validate', review(podWithAudience(AUDIENCE)), {
    policies: () => [policy('Enforce')],
    facts: noFacts,
  });
  if (!r.ok) throw new Error(r.message);
  const message = r.outcome.review.response.status?.message ?? '';
  expect(r.outcome.review.response.allowed).toBe(false);
  expect(message).toBe(
    `tokenguard: bounded/token-audience: big: audience ${quoted(AUDIENCE)} not allowed (allowed: vault)`,
  );
  expect(message.length).toBeLessThan(400);
});

test('the same pod under an Audit policy: the audit annotation and the warning stay short', async () => {
  const r = await handleReview('validate', review(podWithAudience(AUDIENCE)), {
    policies: () => [policy('Audit')],
    facts: noFacts,
  });
  if (!r.ok) throw new Error(r.message);
  const answer = r.outcome.review.response;
  expect(answer.allowed).toBe(true);
  expect(JSON.stringify(answer.auditAnnotations).length).toBeLessThan(500);
  for (const w of answer.warnings ?? []) expect(w.length).toBeLessThanOrEqual(120);
});

test('a TokenRequest for a 60 KB audience: the denial quotes its first 256 characters', async () => {
  const tokenRequest: JsonObject = {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    metadata: { name: 'ci', namespace: 'team-a' },
    spec: { audiences: [AUDIENCE], expirationSeconds: 3600 },
  };
  const body = review(tokenRequest, {
    kind: 'TokenRequest',
    name: 'ci',
    subResource: 'token',
    user: { username: 'alice', groups: ['system:authenticated'] },
  });
  const r = await handleReview('validate', body, { policies: () => [policy('Enforce')], facts: noFacts });
  if (!r.ok) throw new Error(r.message);
  const message = r.outcome.review.response.status?.message ?? '';
  expect(message).toBe(`tokenguard: bounded/token-request: audience ${quoted(AUDIENCE)} not allowed (allowed: vault)`);
});
