import type { TokenPolicy } from '../policy/types.js';
import { DEFAULT_API_AUDIENCES } from '../constants.js';
import { cloneJson, type JsonObject, objectAt, stringAt, stringIn } from '../json.js';
import { diff } from './diff.js';
import { type MatchSubject, matchPolicy } from './match.js';
import { phaseMessages } from './messages.js';
import { isMirrorPod, podEditCopy, podServiceAccount } from './pod.js';
import { mutatePod, planForPod, validateEphemeralContainers, validatePod } from './pod-rules.js';
import { validateEmbeddedTokens } from './rules/embedded-token.js';
import { secretServiceAccount, validateLegacySecret } from './rules/legacy-secret.js';
import { validateTokenMounts } from './rules/legacy-token-mount.js';
import { mutateTokenRequest, planTokenRequest, validateTokenRequest } from './rules/token-request.js';
import type { ClusterFacts, EngineInput, EngineResult, PatchOperation, Phase, RuleResult } from './types.js';

export interface EvaluateArgs {
  /** The loaded policy set; order does not matter. */
  readonly policies: readonly TokenPolicy[];
  readonly input: EngineInput;
  readonly facts: ClusterFacts;
  readonly phase: Phase;
}

/**
 * Decides what happens to one object in one admission phase. Pure: it reads its arguments,
 * never changes them, and does no I/O.
 *
 * - `mutate`: returns the mutated copy (Enforce policies), the patch Audit policies would add,
 *   and warnings; it never denies.
 * - `validate`: judges the object as it stands; any failed Enforce rule denies, with every reason.
 *
 * @example
 * const r = evaluate({ policies, input, facts: {}, phase: 'validate' });
 * if (!r.allowed) report(r.denials);
 */
export function evaluate({ policies, input, facts, phase }: EvaluateArgs): EngineResult {
  const object = input.object;
  if (!object || !appliesTo(input, phase)) return finish(phase, [], undefined, []);
  const apiAudiences = facts.apiAudiences ?? DEFAULT_API_AUDIENCES;

  const metadata = objectAt(object, 'metadata');
  const namespace = stringAt(metadata, 'namespace') || input.namespace;
  const serviceAccount =
    input.kind === 'Pod'
      ? podServiceAccount(object)
      : input.kind === 'Secret'
        ? secretServiceAccount(object)
        : input.name || undefined;
  const subject: MatchSubject = {
    namespace,
    label: (key) => stringIn(objectAt(metadata, 'labels'), key),
    serviceAccount,
    namespaceFacts: facts.namespace,
  };

  const results: RuleResult[] = [];
  const enforce: TokenPolicy[] = [];
  const audit: TokenPolicy[] = [];
  for (const p of policies) {
    if (p.spec.mode === 'Off') continue;
    const m = matchPolicy(p, subject);
    if ('error' in m) {
      results.push({ policies: [p.name], rule: 'match', mode: p.spec.mode, status: 'error', message: m.error });
    } else if (m.matched) (p.spec.mode === 'Enforce' ? enforce : audit).push(p);
  }

  if (input.kind === 'Secret') {
    if (phase === 'validate') {
      // UPDATEs are only scanned for embedded tokens: token Secrets are never blocked there.
      const create = input.operation === 'CREATE';
      for (const [set, mode] of [
        [enforce, 'Enforce'],
        [audit, 'Audit'],
      ] as const) {
        for (const p of set) {
          if (create) results.push(...validateLegacySecret(object, namespace, p, mode));
          results.push(...validateEmbeddedTokens(object, p, mode));
        }
      }
    }
    return finish(phase, results, undefined, []);
  }

  if (input.kind === 'TokenRequest') {
    const planE = planTokenRequest(enforce, object, input.user, apiAudiences);
    const planA = planTokenRequest(audit, object, input.user, apiAudiences);
    if (phase === 'validate') {
      if (planE) results.push(...validateTokenRequest(object, planE, 'Enforce'));
      if (planA) results.push(...validateTokenRequest(object, planA, 'Audit'));
      return finish(phase, results, undefined, []);
    }
    const mutated = cloneJson(object);
    const enforced = planE ? mutateTokenRequest(mutated, planE, 'Enforce') : [];
    results.push(...enforced);
    let auditPatch: PatchOperation[] = [];
    if (planA) {
      const wouldBe = cloneJson(mutated);
      const audited = mutateTokenRequest(wouldBe, planA, 'Audit');
      results.push(...audited);
      if (audited.some((r) => r.status === 'mutate')) auditPatch = diff(mutated, wouldBe);
    }
    return finish(phase, results, enforced.some((r) => r.status === 'mutate') ? mutated : undefined, auditPatch);
  }

  // Pods.
  const sa = serviceAccount ?? 'default';
  const saFacts =
    facts.serviceAccount?.name === sa && facts.serviceAccount.namespace === namespace
      ? facts.serviceAccount
      : undefined;
  const who = {
    pod: object,
    namespace,
    serviceAccount: sa,
    saFacts,
    apiAudiences,
    ...(facts.now !== undefined ? { now: facts.now } : {}),
  };
  const planE = planForPod({ policies: enforce, ...who });
  const planA = planForPod({ policies: audit, ...who });
  // Legacy token Secrets the pod takes a token from (validate only: one warning per use, not two).
  const mounts = (oldPod: JsonObject | undefined) => [
    ...validateTokenMounts({
      pod: object,
      oldPod,
      namespace,
      tokenSecrets: facts.tokenSecrets,
      policies: enforce,
      mode: 'Enforce',
    }),
    ...validateTokenMounts({
      pod: object,
      oldPod,
      namespace,
      tokenSecrets: facts.tokenSecrets,
      policies: audit,
      mode: 'Audit',
    }),
  ];
  if (input.subResource === EPHEMERAL_CONTAINERS) {
    // Validate only (appliesTo): the new ephemeral containers' mounts; the rest cannot change.
    results.push(
      ...validateEphemeralContainers(object, input.oldObject, planE, 'Enforce'),
      ...validateEphemeralContainers(object, input.oldObject, planA, 'Audit'),
      ...mounts(input.oldObject ?? {}),
    );
    return finish(phase, results, undefined, []);
  }
  if (phase === 'validate') {
    results.push(
      ...validatePod(object, planE, 'Enforce'),
      ...validatePod(object, planA, 'Audit'),
      ...mounts(undefined),
    );
    return finish(phase, results, undefined, []);
  }
  // Copy-on-write copies sharing with `object` whatever the rules leave alone: cheap to make and to diff.
  const mutated = podEditCopy(object);
  const enforced = mutatePod(mutated, planE, 'Enforce');
  results.push(...enforced);
  let auditPatch: PatchOperation[] = [];
  if (audit.length > 0) {
    const wouldBe = podEditCopy(mutated);
    const audited = mutatePod(wouldBe, planA, 'Audit');
    results.push(...audited);
    if (audited.some((r) => r.status === 'mutate')) auditPatch = diff(mutated, wouldBe);
  }
  const changed = enforced.some((r) => r.status === 'mutate');
  return finish(phase, results, changed ? mutated : undefined, auditPatch);
}

/** The subresource `kubectl debug` adds ephemeral containers through (docs/tokens.md "Ephemeral containers"). */
const EPHEMERAL_CONTAINERS = 'ephemeralcontainers';

/**
 * What the engine leaves alone, because Kubernetes forbids or ignores changes there: anything
 * but CREATE (pod volumes are immutable; a Secret UPDATE is only scanned for embedded legacy
 * tokens, so a token Secret's UPDATE or DELETE is never blocked), every subresource but
 * `serviceaccounts/token` and the validating side of `pods/ephemeralcontainers` (an UPDATE that
 * may mount a token volume into a new container), kinds it does not know, and mirror pods
 * (docs/kubernetes.md "Mirror pods").
 */
function appliesTo(input: EngineInput, phase: Phase): boolean {
  if (input.kind === 'Other') return false;
  if (input.kind === 'Pod' && input.subResource === EPHEMERAL_CONTAINERS) {
    return (
      phase === 'validate' && input.operation === 'UPDATE' && input.object !== undefined && !isMirrorPod(input.object)
    );
  }
  const updatable = input.kind === 'Secret' && input.operation === 'UPDATE'; // embedded-token scan only
  if (input.operation !== 'CREATE' && !updatable) return false;
  // A TokenRequest arrives on serviceaccounts/token; the CLI passes it with no subresource.
  const subResources = input.kind === 'TokenRequest' ? ['token', ''] : [''];
  if (!subResources.includes(input.subResource)) return false;
  if (input.kind === 'Pod' && input.object && isMirrorPod(input.object)) return false;
  return true;
}

function finish(
  phase: Phase,
  results: RuleResult[],
  mutated: JsonObject | undefined,
  auditPatch: PatchOperation[],
): EngineResult {
  const { denials, warnings, auditFindings } = phaseMessages(phase, results);
  const auditAnnotations: Record<string, string> = {};
  if (auditPatch.length > 0) auditAnnotations['audit-patch'] = JSON.stringify(auditPatch);
  if (auditFindings.length > 0) auditAnnotations['audit-findings'] = JSON.stringify(auditFindings);
  return { phase, results, allowed: denials.length === 0, denials, mutated, auditPatch, warnings, auditAnnotations };
}
