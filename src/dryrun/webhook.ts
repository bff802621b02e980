/**
 * What tokenguard's webhook answers for one object the API server is asked to create, computed
 * from the engine's results directly: the same checks the server's review path makes (depth,
 * field types, then the engine), without building an AdmissionReview and decoding it again.
 * test/cli/parity.test.ts holds it to the server's answers.
 */
import { diff } from '../engine/diff.js';
import { evaluate } from '../engine/evaluate.js';
import { malformedMessage } from '../engine/messages.js';
import { inputShapeProblem } from '../engine/shape.js';
import type { ClusterFacts, EngineInput, PatchOperation, Phase, RuleResult } from '../engine/types.js';
import { type FactsRequest, factsRequestFor } from '../facts/types.js';
import { type JsonObject, jsonDepth, MAX_JSON_DEPTH, objectAt, stringAt } from '../json.js';
import type { TokenPolicy } from '../policy/types.js';

/** One call of a webhook endpoint: what the API server would hear, and the rule results behind it. */
export interface WebhookAnswer {
  readonly allowed: boolean;
  /** Why a refused object was refused when no rule result says it (a malformed object). */
  readonly refusal?: string;
  /** Warnings exactly as the API server passes them on. */
  readonly warnings: readonly string[];
  readonly results: readonly RuleResult[];
  /** The JSON Patch of a mutate answer (empty when none). */
  readonly patch: readonly PatchOperation[];
}

export type Webhook = (endpoint: Phase, object: JsonObject) => WebhookAnswer;

export interface WebhookContext {
  readonly policies: readonly TokenPolicy[];
  /** Facts for an object, answered at once (the manifests' own). */
  readonly facts: (request: FactsRequest) => ClusterFacts;
}

/** Who creates the object and where: what the AdmissionRequest would carry besides it. */
export interface CreateRequest {
  readonly kind: 'Pod' | 'Secret';
  readonly namespace: string;
  /** The requesting user: a controller's ServiceAccount for workload pods. */
  readonly username: string;
}

/** Where a request's objects would sit in the AdmissionReview, for the field paths of messages. */
const ROOTS = { object: 'request.object.', oldObject: 'request.oldObject.' } as const;

/**
 * The webhook of `ctx` for CREATEs of `request.kind` in `request.namespace`. Like the server, it
 * refuses (validate) or leaves alone with a warning (mutate) an object it cannot judge: one
 * nesting deeper than the server accepts (the object sits one level down in the request), or
 * with a field of the wrong JSON type.
 */
export function webhookFor(ctx: WebhookContext, request: CreateRequest): Webhook {
  return (endpoint, object) => {
    const input = createInput(object, request);
    const problem =
      jsonDepth(object, MAX_JSON_DEPTH - 1) > MAX_JSON_DEPTH - 1
        ? `request nests deeper than ${MAX_JSON_DEPTH} levels`
        : inputShapeProblem(input, ROOTS);
    if (problem !== undefined) {
      const message = malformedMessage(problem);
      return endpoint === 'validate'
        ? { allowed: false, refusal: message, warnings: [], results: [], patch: [] }
        : { allowed: true, warnings: [message.slice(0, 120)], results: [], patch: [] };
    }
    const result = evaluate({
      policies: ctx.policies,
      input,
      facts: ctx.facts(factsRequestFor(input)),
      phase: endpoint,
    });
    const patch = endpoint === 'mutate' && result.mutated ? diff(object, result.mutated) : [];
    return { allowed: result.allowed, warnings: result.warnings, results: result.results, patch };
  };
}

/** The engine input of the AdmissionRequest the API server sends for a CREATE of `object`. */
function createInput(object: JsonObject, { kind, namespace, username }: CreateRequest): EngineInput {
  return {
    operation: 'CREATE',
    kind,
    subResource: '',
    object,
    oldObject: undefined,
    namespace,
    dryRun: false,
    name: stringAt(objectAt(object, 'metadata'), 'name') ?? '',
    user: { username, groups: ['system:authenticated'] },
  };
}
