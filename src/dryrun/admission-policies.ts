/**
 * `tokenguard test --engine vap`: the webhook's place in the dry run taken by the exported
 * admission policies (src/export), evaluated as the API server evaluates them: the
 * MutatingAdmissionPolicies where the mutating webhook would run, the ValidatingAdmissionPolicies
 * where the validating webhook would. The answers have the webhook's shape (webhook.ts), so the
 * report is the same; rule results are read back from each policy's `policy/rule: message` lines.
 */
import { diff } from '../engine/diff.js';
import { inputShapeProblem } from '../engine/shape.js';
import type { EngineInput, RuleId, RuleResult } from '../engine/types.js';
import { type AdmissionAttributes, mutateRequest, validateRequest } from '../export/evaluate.js';
import type { MutatingObject, ValidatingObject } from '../export/export.js';
import { factsRequestFor } from '../facts/types.js';
import { type JsonObject, jsonDepth, MAX_JSON_DEPTH, objectAt, stringAt } from '../json.js';
import { applyTokenDefaults } from './plugin.js';
import type { CreateRequest, Webhook, WebhookAnswer, WebhookContext } from './webhook.js';

export interface ExportedPolicies {
  readonly validating: readonly ValidatingObject[];
  readonly mutating: readonly MutatingObject[];
}

const RULE_LINE = /^([^/]+)\/([a-z-]+): (.*)$/s;

/** A `policy/rule: message` line as a rule result (the policy label may name several, `a+b`). */
function resultOf(line: string, mode: 'Enforce' | 'Audit', status: RuleResult['status']): RuleResult {
  const m = RULE_LINE.exec(line);
  if (!m) return { policies: [], rule: 'match', mode, status, message: line };
  return { policies: (m[1] as string).split('+'), rule: m[2] as RuleId, mode, status, message: m[3] as string };
}

/**
 * The "webhook" of the exported policies for CREATEs of `request.kind` in `request.namespace`:
 * namespace labels and the pod's ServiceAccount come from the dry run's facts (a namespace
 * without facts has only its name label; a ServiceAccount without facts has no annotations).
 */
export function admissionPolicyWebhookFor(
  exported: ExportedPolicies,
  ctx: WebhookContext,
  request: CreateRequest,
): Webhook {
  return (endpoint, object): WebhookAnswer => {
    const input: EngineInput = {
      operation: 'CREATE',
      kind: request.kind,
      subResource: '',
      object,
      oldObject: undefined,
      namespace: request.namespace,
      dryRun: false,
      name: stringAt(objectAt(object, 'metadata'), 'name') ?? '',
      user: { username: request.username, groups: ['system:authenticated'] },
    };
    // The API server refuses such objects before admission; say so as the webhook would.
    const problem =
      jsonDepth(object, MAX_JSON_DEPTH - 1) > MAX_JSON_DEPTH - 1
        ? `object nests deeper than ${MAX_JSON_DEPTH} levels`
        : inputShapeProblem(input, { object: 'object.', oldObject: 'oldObject.' });
    if (problem !== undefined) {
      const message = `the API server refuses this object before admission: ${problem}`;
      return endpoint === 'validate'
        ? { allowed: false, refusal: message, warnings: [], results: [], patch: [] }
        : { allowed: true, warnings: [], results: [], patch: [] };
    }
    const facts = ctx.facts(factsRequestFor(input));
    const namespace = request.namespace;
    const labels = { ...(facts.namespace?.labels ?? {}), 'kubernetes.io/metadata.name': namespace };
    const sa = facts.serviceAccount;
    const own = request.kind === 'Pod' ? (factsRequestFor(input).serviceAccount ?? 'default') : undefined;
    const serviceAccounts: JsonObject[] = own
      ? [
          {
            apiVersion: 'v1',
            kind: 'ServiceAccount',
            metadata: { name: own, namespace, ...(sa?.name === own ? { annotations: { ...sa.annotations } } : {}) },
          },
        ]
      : [];
    const attrs: AdmissionAttributes = {
      operation: 'CREATE',
      resource: { group: '', version: 'v1', resource: request.kind === 'Pod' ? 'pods' : 'secrets' },
      subResource: '',
      namespace,
      name: input.name ?? '',
      kind: { group: '', version: 'v1', kind: request.kind },
      object,
      userInfo: { username: request.username, groups: ['system:authenticated'] },
      namespaceObject: { metadata: { name: namespace, labels } },
      serviceAccounts,
    };
    if (endpoint === 'mutate') {
      const m = mutateRequest(exported.mutating, attrs, applyTokenDefaults);
      const results: RuleResult[] = m.changedBy.map((name) => {
        const policy = exported.mutating.find((o) => o.metadata.name === name);
        const tokenPolicy = policy?.metadata.annotations['tokenguard.dev/policy'] ?? name;
        return {
          policies: [tokenPolicy],
          rule: (policy?.metadata.annotations['tokenguard.dev/rules'] ?? 'match').split(', ')[0] as RuleId,
          mode: 'Enforce',
          status: 'mutate',
          message: `changed by MutatingAdmissionPolicy ${name}`,
        };
      });
      const warnings = m.errors.map(
        (e) => `MutatingAdmissionPolicy ${e.policy} failed and was skipped (failurePolicy Ignore): ${e.message}`,
      );
      return { allowed: true, warnings, results, patch: m.changedBy.length > 0 ? diff(object, m.object) : [] };
    }
    const v = validateRequest(exported.validating, attrs);
    const results: RuleResult[] = [];
    for (const verdict of v.verdicts) {
      const mode = verdict.actions.includes('Deny') ? 'Enforce' : 'Audit';
      if (verdict.allowed)
        results.push({
          policies: [verdict.tokenPolicy],
          rule: 'match',
          mode,
          status: 'pass',
          message: `admitted by ValidatingAdmissionPolicy ${verdict.policy}`,
        });
      else if (verdict.denials.length > 0) {
        for (const d of verdict.denials)
          for (const line of splitLines(d, verdict.tokenPolicy)) results.push(resultOf(line, mode, 'fail'));
      } else
        results.push({
          policies: [verdict.tokenPolicy],
          rule: 'match',
          mode,
          status: 'error',
          message: verdict.message ?? `ValidatingAdmissionPolicy ${verdict.policy} failed`,
        });
    }
    return {
      allowed: v.allowed,
      ...(v.allowed ? {} : { refusal: v.message ?? 'denied' }),
      warnings: [...v.warnings],
      results,
      patch: [],
    };
  };
}

/** One denial entry may hold several lines of one volume, joined with `; `. */
function splitLines(entry: string, policy: string): string[] {
  const label = policy.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return entry.split(new RegExp(`; (?=${label}/[a-z-]+: )`));
}
