/**
 * Reading an AdmissionReview (`admission.k8s.io/v1`, or `v1beta1`) into engine input,
 * defensively: a request comes from the API server, or from anything else that can reach the
 * port (docs/reliability.md "Bounded input").
 */
import { inputShapeProblem } from '../engine/shape.js';
import type { EngineInput, ObjectKind, Operation, RequestUser } from '../engine/types.js';
import { isObject, type JsonObject, jsonDepth, MAX_JSON_DEPTH, objectAt, stringAt } from '../json.js';

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

export type DecodeResult =
  | { readonly ok: true; readonly review: DecodedReview }
  | { readonly ok: false; readonly message: string };

const OPERATIONS: readonly Operation[] = ['CREATE', 'UPDATE', 'DELETE', 'CONNECT'];
const API_VERSIONS = ['admission.k8s.io/v1', 'admission.k8s.io/v1beta1'];

/** Where the request's objects sit, for the field paths of shape problems. */
const ROOTS = { object: 'request.object.', oldObject: 'request.oldObject.' } as const;

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
    review: {
      apiVersion: API_VERSIONS.includes(apiVersion) ? apiVersion : 'admission.k8s.io/v1',
      uid,
      input: undefined,
      problem,
      summary,
    },
  });
  if (!API_VERSIONS.includes(apiVersion))
    return answer(`unsupported apiVersion ${JSON.stringify(apiVersion).slice(0, 60)}`);
  if (stringAt(body, 'kind') !== 'AdmissionReview') return answer('kind must be AdmissionReview');
  if (jsonDepth(request, MAX_JSON_DEPTH) > MAX_JSON_DEPTH)
    return answer(`request nests deeper than ${MAX_JSON_DEPTH} levels`);
  const operation = summary.operation as Operation;
  if (!OPERATIONS.includes(operation))
    return answer(`unknown operation ${JSON.stringify(summary.operation).slice(0, 40)}`);
  if (!kindGvk) return answer('request.kind is missing');
  const object = request.object;
  const oldObject = request.oldObject;
  if ((operation === 'CREATE' || operation === 'UPDATE') && !isObject(object))
    return answer(`request.object must be an object on ${operation}`);
  if (object !== undefined && object !== null && !isObject(object)) return answer('request.object must be an object');
  if (oldObject !== undefined && oldObject !== null && !isObject(oldObject))
    return answer('request.oldObject must be an object');
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
  const shape = inputShapeProblem(input, ROOTS);
  if (shape !== undefined) return answer(shape);
  return { ok: true, review: { apiVersion, uid, input, problem: undefined, summary } };
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
