import { diff } from '../engine/diff.js';
import { evaluate } from '../engine/evaluate.js';
import { isObject, type JsonObject, jsonDepth, objectAt, stringAt } from '../engine/json.js';
import type { ClusterFacts, EngineInput, EngineResult, ObjectKind, Operation, RequestUser, RuleResult } from '../engine/types.js';
import type { FactsProvider, FactsRequest } from '../facts/types.js';
import type { TokenPolicy } from '../policy/types.js';
import { podServiceAccount } from '../engine/pod.js';
import { podShapeProblem, tokenRequestShapeProblem } from '../engine/shape.js';

/** The two webhook endpoints. */
export type Endpoint = 'mutate' | 'validate';

/** Deepest JSON accepted. Real Pods and Secrets stay far below; deeper input breaks recursive code. */
export const MAX_JSON_DEPTH = 100;

/** `admission.k8s.io/v1` AdmissionResponse (JSON names). */
export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: { code: number; reason?: string; message: string };
  patchType?: 'JSONPatch';
  patch?: string;
  warnings?: string[];
  auditAnnotations?: Record<string, string>;
}

export interface AdmissionReviewOut {
  apiVersion: string;
  kind: 'AdmissionReview';
  response: AdmissionResponse;
}

/** A review we could read far enough to answer: it has a uid. */
export interface DecodedReview {
  readonly apiVersion: string;
  readonly uid: string;
  readonly input: EngineInput | undefined;
  /** Why the request cannot be judged although it has a uid (answered, never thrown). */
  readonly problem: string | undefined;
  readonly summary: ReviewSummary;
}

/** What a log line or report says about a request: identifiers only, never object content. */
export interface ReviewSummary {
  readonly uid: string;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly operation: string;
  readonly subResource: string;
  readonly user: string;
  readonly dryRun: boolean;
}

export type DecodeResult = { readonly ok: true; readonly review: DecodedReview } | { readonly ok: false; readonly message: string };

const OPERATIONS: readonly Operation[] = ['CREATE', 'UPDATE', 'DELETE', 'CONNECT'];
const API_VERSIONS = ['admission.k8s.io/v1', 'admission.k8s.io/v1beta1'];

/**
 * Reads an AdmissionReview defensively. Without a `request.uid` there is nothing to answer
 * (`ok: false`, an HTTP 400). With one, every other defect becomes `problem`, which the
 * response turns into a denial (validate) or a no-change answer (mutate), uid echoed.
 */
export function decodeAdmissionReview(body: unknown): DecodeResult {
  if (!isObject(body)) return { ok: false, message: 'body is not a JSON object' };
  const request = objectAt(body, 'request');
  if (!request) return { ok: false, message: 'request is missing' };
  const uid = request.uid;
  if (typeof uid !== 'string' || uid === '') return { ok: false, message: 'request.uid is missing or not a string' };
  const apiVersion = stringAt(body, 'apiVersion') ?? '';
  const kindGvk = objectAt(request, 'kind');
  const summary: ReviewSummary = {
    uid,
    kind: stringAt(kindGvk, 'kind') ?? '',
    namespace: stringAt(request, 'namespace') ?? '',
    name: stringAt(request, 'name') ?? '',
    operation: stringAt(request, 'operation') ?? '',
    subResource: stringAt(request, 'subResource') ?? '',
    user: stringAt(objectAt(request, 'userInfo'), 'username') ?? '',
    dryRun: request.dryRun === true,
  };
  const answer = (problem: string): DecodeResult => ({
    ok: true,
    review: { apiVersion: API_VERSIONS.includes(apiVersion) ? apiVersion : 'admission.k8s.io/v1', uid, input: undefined, problem, summary },
  });
  if (!API_VERSIONS.includes(apiVersion)) return answer(`unsupported apiVersion ${JSON.stringify(apiVersion).slice(0, 60)}`);
  if (stringAt(body, 'kind') !== 'AdmissionReview') return answer('kind must be AdmissionReview');
  if (jsonDepth(request, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) return answer(`request nests deeper than ${MAX_JSON_DEPTH} levels`);
  const operation = summary.operation as Operation;
  if (!OPERATIONS.includes(operation)) return answer(`unknown operation ${JSON.stringify(summary.operation).slice(0, 40)}`);
  if (!kindGvk) return answer('request.kind is missing');
  const object = request.object;
  const oldObject = request.oldObject;
  if ((operation === 'CREATE' || operation === 'UPDATE') && !isObject(object)) return answer(`request.object must be an object on ${operation}`);
  if (object !== undefined && object !== null && !isObject(object)) return answer('request.object must be an object');
  if (oldObject !== undefined && oldObject !== null && !isObject(oldObject)) return answer('request.oldObject must be an object');
  const input: EngineInput = {
    operation,
    kind: objectKind(kindGvk),
    subResource: summary.subResource,
    object: isObject(object) ? object : undefined,
    oldObject: isObject(oldObject) ? oldObject : undefined,
    namespace: summary.namespace,
    dryRun: summary.dryRun,
    name: summary.name,
    user: requestUser(request),
  };
  const shape = shapeProblem(input);
  if (shape !== undefined) return answer(shape);
  return { ok: true, review: { apiVersion, uid, input, problem: undefined, summary } };
}

/**
 * Why an object the engine would judge has a field of the wrong JSON type (engine/shape.ts), or
 * undefined: a Pod CREATE, a `pods/ephemeralcontainers` UPDATE (both objects), a TokenRequest.
 */
function shapeProblem(input: EngineInput): string | undefined {
  const { kind, operation, subResource, object, oldObject } = input;
  if (!object) return undefined;
  if (kind === 'Pod' && operation === 'CREATE' && subResource === '') return podShapeProblem(object, 'request.object.');
  if (kind === 'Pod' && operation === 'UPDATE' && subResource === 'ephemeralcontainers') {
    return podShapeProblem(object, 'request.object.') ?? (oldObject ? podShapeProblem(oldObject, 'request.oldObject.') : undefined);
  }
  if (kind === 'TokenRequest' && operation === 'CREATE') return tokenRequestShapeProblem(object, 'request.object.');
  return undefined;
}

function objectKind(gvk: JsonObject): ObjectKind {
  const group = stringAt(gvk, 'group') ?? '';
  if (group === 'authentication.k8s.io' && stringAt(gvk, 'kind') === 'TokenRequest') return 'TokenRequest';
  if (group !== '') return 'Other';
  const kind = stringAt(gvk, 'kind');
  return kind === 'Pod' || kind === 'Secret' ? kind : 'Other';
}

function requestUser(request: JsonObject): RequestUser | undefined {
  const info = objectAt(request, 'userInfo');
  if (!info) return undefined;
  const groups = Array.isArray(info.groups) ? info.groups.filter((g): g is string => typeof g === 'string') : [];
  return { username: stringAt(info, 'username') ?? '', groups };
}

/** What facts an input needs: its namespace, and a pod's ServiceAccount. */
export function factsRequestFor(input: EngineInput): FactsRequest {
  const ns = stringAt(objectAt(input.object, 'metadata'), 'namespace') || input.namespace;
  if (input.kind === 'Pod' && input.object) return { namespace: ns, serviceAccount: podServiceAccount(input.object) };
  return { namespace: ns };
}

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

/** Builds the response shell from the request: uid and apiVersion always echoed. */
export function toReview(apiVersion: string, response: AdmissionResponse): AdmissionReviewOut {
  return { apiVersion, kind: 'AdmissionReview', response };
}

/**
 * Answers one decoded review: the engine's decision turned into an AdmissionResponse.
 * Synchronous once facts are in hand; the server and `tokenguard review` both call it.
 */
export function respond(endpoint: Endpoint, decoded: DecodedReview, policies: readonly TokenPolicy[], facts: ClusterFacts): ReviewOutcome {
  const { uid, apiVersion, summary } = decoded;
  if (decoded.problem !== undefined || !decoded.input) {
    const message = `tokenguard: malformed AdmissionReview: ${decoded.problem ?? 'unreadable'}`;
    const response: AdmissionResponse =
      endpoint === 'validate'
        ? { uid, allowed: false, status: { code: 400, reason: 'BadRequest', message } }
        : { uid, allowed: true, warnings: [message.slice(0, 120)] };
    return { review: toReview(apiVersion, response), summary, decision: 'invalid', policies: [], patchOps: 0, results: [], error: decoded.problem };
  }
  const input = decoded.input;
  const result = evaluate({ policies, input, facts, phase: endpoint });
  const fired = firedPolicies(result);
  const response: AdmissionResponse = { uid, allowed: result.allowed };
  let patchOps = 0;
  if (endpoint === 'mutate' && result.mutated && input.object) {
    const ops = diff(input.object, result.mutated);
    if (ops.length > 0) {
      patchOps = ops.length;
      response.patchType = 'JSONPatch';
      response.patch = Buffer.from(JSON.stringify(ops)).toString('base64');
    }
  }
  if (!result.allowed) {
    response.status = { code: 403, reason: 'Forbidden', message: `tokenguard: ${result.denials.join('; ')}` };
  }
  if (result.warnings.length > 0) response.warnings = [...result.warnings];
  if (Object.keys(result.auditAnnotations).length > 0) response.auditAnnotations = { ...result.auditAnnotations };
  const decision = !result.allowed ? 'denied' : patchOps > 0 ? 'patched' : 'allowed';
  return { review: toReview(apiVersion, response), summary, decision, policies: fired, patchOps, results: result.results };
}

/**
 * The answer when evaluation itself broke (a bug, or a fact lookup that failed): the
 * validating side fails closed (500), the mutating side changes nothing and says so; the
 * validating webhook then judges the object.
 */
export function errored(endpoint: Endpoint, decoded: DecodedReview, err: unknown): ReviewOutcome {
  const message = `tokenguard: internal error: ${err instanceof Error ? err.message : String(err)}`.slice(0, 500);
  const response: AdmissionResponse =
    endpoint === 'validate'
      ? { uid: decoded.uid, allowed: false, status: { code: 500, reason: 'InternalError', message } }
      : { uid: decoded.uid, allowed: true, warnings: [message.slice(0, 120)] };
  return { review: toReview(decoded.apiVersion, response), summary: decoded.summary, decision: 'error', policies: [], patchOps: 0, results: [], error: message };
}

function firedPolicies(result: EngineResult): string[] {
  const names = new Set<string>();
  for (const r of result.results) {
    if (r.status === 'fail' || r.status === 'mutate' || r.status === 'warn' || r.status === 'error') {
      for (const n of r.policy.split('+')) names.add(n);
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
 * throws (nor rejects): an unexpected error still answers with the request's uid. Synchronous
 * when the facts provider answers synchronously (cached facts, the CLI's manifests), so the
 * server's hot path does not wait on the microtask queue; `await` works on either.
 */
export function handleReview(endpoint: Endpoint, body: unknown, deps: ReviewDeps): HandleResult | Promise<HandleResult> {
  const decoded = decodeAdmissionReview(body);
  if (!decoded.ok) return { ok: false, status: 400, message: decoded.message };
  const review = decoded.review;
  const answer = (facts: ClusterFacts): HandleResult => {
    try {
      return { ok: true, outcome: respond(endpoint, review, deps.policies(), facts) };
    } catch (err) {
      return { ok: true, outcome: errored(endpoint, review, err) };
    }
  };
  if (!review.input || review.problem) return answer({});
  let facts: ClusterFacts | Promise<ClusterFacts>;
  try {
    facts = deps.facts.lookup(factsRequestFor(review.input));
  } catch (err) {
    return { ok: true, outcome: errored(endpoint, review, err) };
  }
  if (!isPromiseLike(facts)) return answer(facts);
  return Promise.resolve(facts).then(answer, (err: unknown): HandleResult => ({ ok: true, outcome: errored(endpoint, review, err) }));
}

function isPromiseLike<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}
