/**
 * How long one admission review blocks the event loop when a policy's allowed audiences are
 * globs and the pod's token audience is long and hostile. Not a test; run with
 * `npx tsx bench/glob.ts [LENGTH [PATTERN...]]` (default: 60000 and `*.*.example.com`).
 *
 * The review goes through `handleReview`, the function the server's `/validate` route calls;
 * with facts at hand it runs in one go (no I/O to wait for), so its duration is the event-loop
 * block. The event-loop delay is also sampled with `monitorEventLoopDelay` while the reviews run.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { handleReview } from '../src/admission/review.js';
import { noFacts } from '../src/facts/types.js';
import type { JsonObject } from '../src/json.js';
import { parsePolicyDocuments } from '../src/policy/parse.js';
import { pod, review } from '../test/helpers/pods.js';

const length = Number(process.argv[2] ?? 60_000);
const patterns = process.argv.length > 3 ? process.argv.slice(3) : ['*.*.example.com'];

function policy(allowed: string): string {
  return `apiVersion: tokenguard.dev/v1alpha1
kind: TokenPolicy
metadata:
  name: bounds
spec:
  mode: Enforce
  projectedTokens:
    bounds:
      allowedAudiences: [${JSON.stringify(allowed)}]
      onViolation: Deny
`;
}

function podWithAudience(audience: string): JsonObject {
  const volume: JsonObject = {
    name: 'vault-token',
    projected: { sources: [{ serviceAccountToken: { audience, expirationSeconds: 3600, path: 'token' } }] },
  };
  return pod({ extraVolumes: [volume] });
}

const audiences: Record<string, string> = {
  dots: '.'.repeat(length),
  'a.': 'a.'.repeat(Math.floor(length / 2)),
};

const histogram = monitorEventLoopDelay({ resolution: 1 });
histogram.enable();
console.log(`audience length ${length} (UTF-16 code units); one review each`);
for (const pattern of patterns) {
  const parsed = parsePolicyDocuments(policy(pattern), 'bench.yaml');
  if (parsed.errors.length > 0) throw new Error(JSON.stringify(parsed.errors));
  for (const [name, audience] of Object.entries(audiences)) {
    const body = review(podWithAudience(audience));
    const start = process.hrtime.bigint();
    const r = await handleReview('validate', body, { policies: () => parsed.policies, facts: noFacts });
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    const allowed = r.ok ? r.outcome.review.response.allowed : 'HTTP 400';
    console.log(`${pattern.padEnd(20)} audience ${name.padEnd(5)} ${ms.toFixed(1).padStart(9)} ms  allowed=${allowed}`);
    // Let the histogram sample the block just done.
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
histogram.disable();
console.log(`event-loop delay: max ${(histogram.max / 1e6).toFixed(1)} ms`);
