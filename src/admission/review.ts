/**
 * The review path of the webhook, shared by `tokenguard serve` and `tokenguard review`: decode
 * (decode.ts), fetch facts, evaluate, answer in the response vocabulary (response.ts).
 */
import { diff } from '../engine/diff.js';
import { evaluate } from '../engine/evaluate.js';
import { denialMessage, malformedMessage } from '../engine/messages.js';
import type { ClusterFacts, PatchOperation, Phase, RuleResult } from '../engine/types.js';
import { type FactsProvider, factsRequestFor } from '../facts/types.js';
import type { TokenPolicy } from '../policy/types.js';
import { type DecodedReview, decodeAdmissionReview, type ReviewSummary } from './decode.js';
import * as response from './response.js';
import type { AdmissionReviewOut } from './response.js';

/** The two webhook endpoints, one per admission phase. */
export type Endpoint = Phase;

/** The outcome of one review: the response to send, and what to log about it. */
export interface ReviewOutcome {
  readonly review: AdmissionReviewOut;
  readonly summary: ReviewSummary;
  readonly decision: 'allowed' | 'denied' | 'patched' | 'error' | 'invalid';
  /** Policies with a rule that failed, mutated or warned. */
  readonly policies: readonly string[];
  readonly patchOps: number;
  /** Every rule outcome of the engine (empty for invalid or errored requests), for reports. */
  readonly results: readonly RuleResult[];
  readonly error?: string;
}

/**
 * Answers one decoded review: the engine's decision turned into an AdmissionResponse.
 * Synchronous once facts are in hand; the server and `tokenguard review` both call it.
 */
export function respond(
  endpoint: Endpoint,
  decoded: DecodedReview,
  policies: readonly TokenPolicy[],
  facts: ClusterFacts,
): ReviewOutcome {
  const { uid, apiVersion, summary } = decoded;
  if (decoded.problem !== undefined || !decoded.input) {
    const answer = response.errored(
      uid,
      endpoint,
      400,
      'BadRequest',
      malformedMessage(decoded.problem ?? 'unreadable'),
    );
    return {
      review: response.toReview(apiVersion, answer),
      summary,
      decision: 'invalid',
      policies: [],
      patchOps: 0,
      results: [],
      error: decoded.problem,
    };
  }
  const input = decoded.input;
  const result = evaluate({ policies, input, facts, phase: endpoint });
  const ops: PatchOperation[] =
    endpoint === 'mutate' && result.mutated && input.object ? diff(input.object, result.mutated) : [];
  const base = result.allowed
    ? response.patched(uid, ops)
    : response.denied(uid, 403, 'Forbidden', denialMessage(result.denials));
  const answer = response.withAuditAnnotations(response.withWarnings(base, result.warnings), result.auditAnnotations);
  const decision = !result.allowed ? 'denied' : ops.length > 0 ? 'patched' : 'allowed';
  return {
    review: response.toReview(apiVersion, answer),
    summary,
    decision,
    policies: firedPolicies(result.results),
    patchOps: ops.length,
    results: result.results,
  };
}

/**
 * The answer when evaluation itself broke (a bug, or a fact lookup that failed): the
 * validating side fails closed (500), the mutating side changes nothing and says so; the
 * validating webhook then judges the object.
 */
export function errored(endpoint: Endpoint, decoded: DecodedReview, err: unknown): ReviewOutcome {
  const message = `tokenguard: internal error: ${err instanceof Error ? err.message : String(err)}`.slice(0, 500);
  const answer = response.errored(decoded.uid, endpoint, 500, 'InternalError', message);
  return {
    review: response.toReview(decoded.apiVersion, answer),
    summary: decoded.summary,
    decision: 'error',
    policies: [],
    patchOps: 0,
    results: [],
    error: message,
  };
}

function firedPolicies(results: readonly RuleResult[]): string[] {
  const names = new Set<string>();
  for (const r of results) {
    if (r.status === 'fail' || r.status === 'mutate' || r.status === 'warn' || r.status === 'error') {
      for (const n of r.policies) names.add(n);
    }
  }
  return [...names].sort();
}

export interface ReviewDeps {
  /** The current policy set (hot reload swaps what this returns). */
  readonly policies: () => readonly TokenPolicy[];
  readonly facts: FactsProvider;
}

export type HandleResult =
  | { readonly ok: true; readonly outcome: ReviewOutcome }
  | { readonly ok: false; readonly status: 400; readonly message: string };

/**
 * The whole review path for a parsed body: decode, fetch facts, evaluate, answer. Never
 * rejects: an unexpected error, a failed fact lookup included, still answers with the
 * request's uid.
 */
export async function handleReview(endpoint: Endpoint, body: unknown, deps: ReviewDeps): Promise<HandleResult> {
  const decoded = decodeAdmissionReview(body);
  if (!decoded.ok) return { ok: false, status: 400, message: decoded.message };
  const review = decoded.review;
  try {
    const facts: ClusterFacts =
      !review.input || review.problem ? {} : await deps.facts.lookup(factsRequestFor(review.input));
    return { ok: true, outcome: respond(endpoint, review, deps.policies(), facts) };
  } catch (err) {
    return { ok: true, outcome: errored(endpoint, review, err) };
  }
}
