import type { TokenPolicy } from '../policy/types.js';
import { DEFAULT_API_AUDIENCES, MAX_WARNING_LENGTH } from './constants.js';
import { diff } from './diff.js';
import { cloneJson, type JsonObject, objectAt, stringAt, stringMapAt } from './json.js';
import { type MatchSubject, matchPolicy } from './match.js';
import { planForPod } from './plan.js';
import { isMirrorPod, podEditCopy, podServiceAccount } from './pod.js';
import { mutatePod, validateEphemeralContainers, validatePod } from './pod-rules.js';
import { judgeEmbeddedTokens, judgeSecret, secretServiceAccount } from './secret-rules.js';
import { judgeTokenRequest, planTokenRequest } from './token-request-rules.js';
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
    input.kind === 'Pod' ? podServiceAccount(object) : input.kind === 'Secret' ? secretServiceAccount(object) : input.name || undefined;
  const subject: MatchSubject = {
    namespace,
    labels: stringMapAt(metadata, 'labels'),
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
      results.push({ policy: p.name, rule: 'match', mode: p.spec.mode, status: 'error', message: m.error });
    } else if (m.matched) (p.spec.mode === 'Enforce' ? enforce : audit).push(p);
  }

  if (input.kind === 'Secret') {
    if (phase === 'validate') {
      // UPDATEs are only scanned for embedded tokens: token Secrets are never blocked there.
      const create = input.operation === 'CREATE';
      for (const [set, mode] of [[enforce, 'Enforce'], [audit, 'Audit']] as const) {
        for (const p of set) {
          if (create) results.push(...judgeSecret(object, namespace, p, mode));
          results.push(...judgeEmbeddedTokens(object, p, mode));
        }
      }
    }
    return finish(phase, results, undefined, []);
  }

  if (input.kind === 'TokenRequest') {
    const planE = planTokenRequest(enforce, object, input.user, apiAudiences);
    const planA = planTokenRequest(audit, object, input.user, apiAudiences);
    if (phase === 'validate') {
      if (planE) results.push(...judgeTokenRequest(object, planE, 'Enforce', false));
      if (planA) results.push(...judgeTokenRequest(object, planA, 'Audit', false));
      return finish(phase, results, undefined, []);
    }
    const mutated = cloneJson(object);
    const enforced = planE ? judgeTokenRequest(mutated, planE, 'Enforce', true) : [];
    results.push(...enforced);
    let auditPatch: PatchOperation[] = [];
    if (planA) {
      const wouldBe = cloneJson(mutated);
      const audited = judgeTokenRequest(wouldBe, planA, 'Audit', true);
      results.push(...audited);
      if (audited.some((r) => r.status === 'mutate')) auditPatch = diff(mutated, wouldBe);
    }
    return finish(phase, results, enforced.some((r) => r.status === 'mutate') ? mutated : undefined, auditPatch);
  }

  // Pods.
  const sa = serviceAccount ?? 'default';
  const saFacts = facts.serviceAccount?.name === sa && facts.serviceAccount.namespace === namespace ? facts.serviceAccount : undefined;
  const planE = planForPod(enforce, object, namespace, sa, saFacts, apiAudiences);
  const planA = planForPod(audit, object, namespace, sa, saFacts, apiAudiences);
  if (input.subResource === EPHEMERAL_CONTAINERS) {
    // Validate only (appliesTo): the new ephemeral containers' mounts; the rest cannot change.
    results.push(
      ...validateEphemeralContainers(object, input.oldObject, planE, 'Enforce'),
      ...validateEphemeralContainers(object, input.oldObject, planA, 'Audit'),
    );
    return finish(phase, results, undefined, []);
  }
  if (phase === 'validate') {
    results.push(...validatePod(object, planE, 'Enforce'), ...validatePod(object, planA, 'Audit'));
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
 * (fact 1.12).
 */
function appliesTo(input: EngineInput, phase: Phase): boolean {
  if (input.kind === 'Other') return false;
  if (input.kind === 'Pod' && input.subResource === EPHEMERAL_CONTAINERS) {
    return phase === 'validate' && input.operation === 'UPDATE' && input.object !== undefined && !isMirrorPod(input.object);
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
  const denials: string[] = [];
  const warnings: string[] = [];
  const auditFindings: string[] = [];
  // Warnings name the policy and lead with what matters, since the API server asks for 120
  // characters; denials and audit annotations also carry the rule id.
  for (const r of results) {
    if (r.status === 'pass' || r.status === 'skip') continue;
    const line = `${r.policy}/${r.rule}: ${r.message}`;
    if (r.status === 'warn') warnings.push(warning(`${r.policy}: ${r.message}`));
    // A requester must hear that the token they get is shorter than asked (as the API server's
    // own --service-account-max-token-expiration warns); pod mutations are reported by audit logs.
    else if (r.mode === 'Enforce' && r.status === 'mutate' && r.rule === 'token-request') warnings.push(warning(`${r.policy}: ${r.message}`));
    else if (r.mode === 'Enforce' && (r.status === 'fail' || r.status === 'error')) {
      if (phase === 'validate') denials.push(line);
      else warnings.push(warning(`${r.policy}: not fixed: ${r.message}`));
    } else if (r.mode === 'Audit' && (r.status === 'fail' || r.status === 'error' || r.status === 'mutate')) {
      const verb = r.status === 'mutate' ? 'would change' : 'would deny';
      warnings.push(warning(`audit ${r.policy} ${verb}: ${r.message}`));
      auditFindings.push(`${verb}: ${line}`);
    }
  }
  const auditAnnotations: Record<string, string> = {};
  if (auditPatch.length > 0) auditAnnotations['audit-patch'] = JSON.stringify(auditPatch);
  if (auditFindings.length > 0) auditAnnotations['audit-findings'] = JSON.stringify(auditFindings);
  return {
    phase,
    results,
    allowed: denials.length === 0,
    denials,
    mutated,
    auditPatch,
    warnings: [...new Set(warnings)],
    auditAnnotations,
  };
}

/**
 * Makes a warning the API server will pass on: one line without control characters (it drops
 * those silently, fact 3.8), prefixed with the product name, at most 120 characters.
 */
export function warning(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping control characters is the point
  const clean = `tokenguard: ${text}`.replace(/[\u0000-\u001f\u007f]+/g, ' ');
  // The limit counts characters (code points); a string of at most that many UTF-16 units has at
  // most that many, which is nearly every warning: no walk at all then.
  if (clean.length <= MAX_WARNING_LENGTH) return clean;
  let count = 0;
  let cut = 0;
  for (const ch of clean) {
    count += 1;
    if (count > MAX_WARNING_LENGTH) return `${clean.slice(0, cut)}…`;
    if (count < MAX_WARNING_LENGTH) cut += ch.length;
  }
  return clean;
}
