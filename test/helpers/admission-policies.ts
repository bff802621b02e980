/**
 * The golden admission fixtures (test/fixtures/admission) as requests to the exported admission
 * policies: what the webhook answered (expected.*.json) beside what the ValidatingAdmissionPolicies
 * and MutatingAdmissionPolicies answer, evaluated offline (src/export/evaluate.ts).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fastJsonPatch from 'fast-json-patch';
import { parseManifests } from '../../src/dryrun/manifests.js';
import { applyTokenDefaults } from '../../src/dryrun/plugin.js';
import { type AdmissionAttributes, mutateRequest, validateRequest } from '../../src/export/evaluate.js';
import {
  exportedObjects,
  exportPolicies,
  type MutatingObject,
  type ValidatingObject,
} from '../../src/export/export.js';
import { isObject, type JsonObject, jsonDepth, jsonEqual, MAX_JSON_DEPTH } from '../../src/json.js';
import { ADMISSION_FIXTURES, policySet } from './fixtures.js';

/** How a request is answered: allowed or not, the `policy/rule: message` lines, the object stored. */
export interface Answer {
  readonly allowed: boolean;
  readonly lines: readonly string[];
  readonly stored: JsonObject | undefined;
}

export interface FixtureOutcome {
  readonly name: string;
  /** Undefined when the request is one the API server never sends to admission (malformed, or not a request). */
  readonly webhook?: Answer;
  readonly policies?: Answer;
}

/** `tokenguard: a; b` (the webhook) or `ValidatingAdmissionPolicy '...' ... denied request: tokenguard: a; b` as lines. */
export function lines(message: string | undefined, labels: readonly string[]): string[] {
  if (!message) return [];
  const text = message
    .replace(/^ValidatingAdmissionPolicy '[^']+' with binding '[^']+' denied request: /, '')
    .replace(/^tokenguard: /, '');
  const alternatives = labels.map((l) => l.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|');
  return text.split(new RegExp(`; (?=(?:${alternatives})(?:\\+[a-z0-9.-]+)*/[a-z-]+: )`));
}

function request(body: unknown): JsonObject | undefined {
  const r = isObject(body) ? body.request : undefined;
  return isObject(r) ? r : undefined;
}

/** The admission request of a fixture as the API server would evaluate its admission policies. */
export function attributesOf(dir: string): AdmissionAttributes | undefined {
  // Built to be malformed, or not a request an API server sends (a ConfigMap for the pods resource).
  if (/\/(malformed-[^/]*|configmap-unknown-kind-untouched)$/.test(dir)) return undefined;
  const body = JSON.parse(readFileSync(join(dir, 'review.json'), 'utf8')) as unknown;
  if (!isObject(body) || body.apiVersion !== 'admission.k8s.io/v1') return undefined;
  const req = request(body);
  if (!req || !isObject(req.kind) || !isObject(req.resource) || typeof req.uid !== 'string') return undefined;
  if (!['CREATE', 'UPDATE', 'DELETE', 'CONNECT'].includes(String(req.operation))) return undefined;
  if (req.operation !== 'DELETE' && !isObject(req.object)) return undefined;
  if (jsonDepth(req.object, MAX_JSON_DEPTH) > MAX_JSON_DEPTH - 1) return undefined;
  const namespace = String(req.namespace ?? '');
  const factsFile = join(dir, 'facts.yaml');
  const facts = existsSync(factsFile)
    ? parseManifests(readFileSync(factsFile, 'utf8'), factsFile).objects.map((o) => o.object)
    : [];
  const ns = facts.find((o) => o.kind === 'Namespace' && (o.metadata as JsonObject | undefined)?.name === namespace);
  const labels = {
    ...(((ns?.metadata as JsonObject | undefined)?.labels as Record<string, string> | undefined) ?? {}),
    'kubernetes.io/metadata.name': namespace,
  };
  const serviceAccounts = facts.filter(
    (o) =>
      o.kind === 'ServiceAccount' && ((o.metadata as JsonObject | undefined)?.namespace ?? namespace) === namespace,
  );
  const spec = isObject(req.object) && isObject(req.object.spec) ? req.object.spec : {};
  const own =
    typeof spec.serviceAccountName === 'string' && spec.serviceAccountName ? spec.serviceAccountName : 'default';
  // The pod's ServiceAccount exists in a cluster (the ServiceAccount plugin refuses the pod otherwise).
  if (!serviceAccounts.some((s) => (s.metadata as JsonObject).name === own))
    serviceAccounts.push({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: own, namespace } });
  const user = isObject(req.userInfo) ? req.userInfo : {};
  return {
    operation: req.operation as AdmissionAttributes['operation'],
    resource: req.resource as unknown as AdmissionAttributes['resource'],
    subResource: typeof req.subResource === 'string' ? req.subResource : '',
    namespace,
    name: typeof req.name === 'string' ? req.name : '',
    kind: req.kind as unknown as AdmissionAttributes['kind'],
    ...(isObject(req.object) ? { object: req.object } : {}),
    ...(isObject(req.oldObject) ? { oldObject: req.oldObject } : {}),
    userInfo: {
      username: String(user.username ?? ''),
      groups: Array.isArray(user.groups) ? user.groups.map(String) : [],
    },
    namespaceObject: { metadata: { name: namespace, labels } },
    serviceAccounts,
    dryRun: req.dryRun === true,
  };
}

const cache = new Map<string, { validating: ValidatingObject[]; mutating: MutatingObject[]; labels: string[] }>();

/** The exported objects of a fixture policy set. */
export function exportedSet(name: string) {
  let hit = cache.get(name);
  if (!hit) {
    const policies = policySet(name);
    const result = exportPolicies(policies);
    hit = {
      validating: exportedObjects(result, 'validating') as ValidatingObject[],
      mutating: exportedObjects(result, 'mutating') as MutatingObject[],
      labels: policies.map((p) => p.name),
    };
    cache.set(name, hit);
  }
  return hit;
}

/** What the webhook and the exported policies answer for one fixture. */
export function fixtureOutcome(name: string): FixtureOutcome {
  const dir = join(ADMISSION_FIXTURES, name);
  const meta = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8')) as { policies: string };
  const attrs = attributesOf(dir);
  if (!attrs) return { name };
  const set = exportedSet(meta.policies);
  const validate = JSON.parse(readFileSync(join(dir, 'expected.validate.json'), 'utf8')) as JsonObject;
  const response = validate.response as JsonObject | undefined;
  const patchFile = join(dir, 'expected.patch.json');
  const patch = existsSync(patchFile) ? (JSON.parse(readFileSync(patchFile, 'utf8')) as fastJsonPatch.Operation[]) : [];
  const webhookStored =
    attrs.object && patch.length > 0
      ? (fastJsonPatch.applyPatch(structuredClone(attrs.object), patch, true, false).newDocument as JsonObject)
      : attrs.object;
  const v = validateRequest(set.validating, attrs);
  const m = mutateRequest(set.mutating, attrs, applyTokenDefaults);
  return {
    name,
    webhook: {
      allowed: response?.allowed === true,
      lines: lines((response?.status as JsonObject | undefined)?.message as string | undefined, set.labels),
      stored: webhookStored,
    },
    policies: { allowed: v.allowed, lines: lines(v.message, set.labels), stored: attrs.object ? m.object : undefined },
  };
}

/**
 * How the two answers compare:
 * - `same`: the decision, every message line and the stored object;
 * - `one-message`: the same decision and stored object; the API server reports the lines of one
 *   admission policy, a subset of the webhook's;
 * - `composed`: the same decision and stored object; lines differ where the webhook composes
 *   several policies into one outcome (`a+b/token-bounds`);
 * - `differs`: the decision or the stored object differ;
 * - `not-a-request`: the API server never sends this to admission (it refuses it first, or it cannot happen).
 */
export type Comparison = 'same' | 'one-message' | 'composed' | 'differs' | 'not-a-request';

export function compare(o: FixtureOutcome): Comparison {
  if (!o.webhook || !o.policies) return 'not-a-request';
  const storedSame = o.webhook.stored === undefined || jsonEqual(o.webhook.stored, o.policies.stored ?? null);
  if (o.webhook.allowed !== o.policies.allowed || !storedSame) return 'differs';
  if (o.webhook.allowed || o.webhook.lines.join('\n') === o.policies.lines.join('\n')) return 'same';
  if (o.policies.lines.every((l) => o.webhook?.lines.includes(l))) return 'one-message';
  return 'composed';
}
