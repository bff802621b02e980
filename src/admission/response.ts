/**
 * The response vocabulary of the webhook (controller-runtime's `Allowed`, `Denied`, `Patched`,
 * `Errored`, `WithWarnings`), each answer built from the request's uid, so no path can forget it,
 * and wrapped into the AdmissionReview the API server checks (docs/reliability.md "The HTTP
 * edge"). Field order is the order the answers are written in.
 */
import type { PatchOperation, Phase } from '../engine/types.js';

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

/** Admitted, unchanged. */
export function allowed(uid: string): AdmissionResponse {
  return { uid, allowed: true };
}

/** Refused, with a status the API server passes on (`code` 403 for a policy denial). */
export function denied(uid: string, code: number, reason: string, message: string): AdmissionResponse {
  return { uid, allowed: false, status: { code, reason, message } };
}

/** Admitted with a JSON Patch; with no operation, admitted unchanged (no `patchType`). */
export function patched(uid: string, ops: readonly PatchOperation[]): AdmissionResponse {
  if (ops.length === 0) return allowed(uid);
  return { uid, allowed: true, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(ops)).toString('base64') };
}

/** `response` with the warnings added, when there are any. */
export function withWarnings(response: AdmissionResponse, warnings: readonly string[]): AdmissionResponse {
  return warnings.length > 0 ? { ...response, warnings: [...warnings] } : response;
}

/** `response` with the audit annotations added, when there are any. */
export function withAuditAnnotations(
  response: AdmissionResponse,
  annotations: Readonly<Record<string, string>>,
): AdmissionResponse {
  return Object.keys(annotations).length > 0 ? { ...response, auditAnnotations: { ...annotations } } : response;
}

/**
 * The answer to a request that could not be judged (malformed, or an error while judging): the
 * validating side refuses with the status, the mutating side changes nothing and says why in a
 * warning (the validating webhook then judges the object).
 */
export function errored(
  uid: string,
  endpoint: Phase,
  code: number,
  reason: string,
  message: string,
): AdmissionResponse {
  return endpoint === 'validate'
    ? denied(uid, code, reason, message)
    : withWarnings(allowed(uid), [message.slice(0, 120)]);
}

/** The AdmissionReview around a response: apiVersion echoed from the request. */
export function toReview(apiVersion: string, response: AdmissionResponse): AdmissionReviewOut {
  return { apiVersion, kind: 'AdmissionReview', response };
}
