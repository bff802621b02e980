/**
 * Rule `token-request` (`tokenRequests`): tokens requested through the TokenRequest API
 * (`kubectl create token`, `serviceaccounts/<name>/token`) live at most the maximum and carry
 * allowed audiences. The kubelet's pod-bound requests are always let through: their bounds were
 * enforced when the pod was admitted.
 *
 * The maximum holds against what the token really lives (docs/tokens.md "Extension to a year"):
 * a request bound to a Pod for exactly 3607 s and only the API server's audiences is issued for a
 * year. Audiences: the validating side sees the API server's own audiences where the request
 * named none (docs/tokens.md "TokenRequest audience defaulting"; the mutating side still sees an
 * empty list), and those are always allowed, as a request with no audience is.
 */
import { byName, type TokenPolicy } from '../../policy/types.js';
import { DEFAULT_PROJECTED_EXPIRATION_SECONDS } from '../../constants.js';
import { anyGlob } from '../../glob.js';
import { type JsonObject, objectAt, stringAt } from '../../json.js';
import { boundedExpiration, describeLifetime, isApiAudience, podBoundLifetime } from '../api-token.js';
import { quoted } from '../messages.js';
import type { RequestUser, RuleMode, RuleResult } from '../types.js';

/** The kubelet's group: its pod-bound token requests were bounded when the pod was admitted. */
const NODES_GROUP = 'system:nodes';

/** TokenRequest limits after composing every matching policy: the lowest maximum, every audience list. */
export interface TokenRequestPlan {
  readonly policies: readonly string[];
  readonly max: number | undefined;
  readonly audienceLists: readonly (readonly string[])[];
  readonly deny: boolean;
  /** The API server's own audiences (globs), always allowed: they are what a request with none gets. */
  readonly apiAudiences: readonly string[];
}

// ---------------------------------------------------------------------------------------------
// Plan
// ---------------------------------------------------------------------------------------------

/** Composes the `tokenRequests` of `policies` (taken in name order) that do not exempt this user. */
export function planTokenRequest(
  policies: readonly TokenPolicy[],
  request: JsonObject,
  user: RequestUser | undefined,
  apiAudiences: readonly string[],
): TokenRequestPlan | undefined {
  if (isKubeletPodRequest(request, user)) return undefined;
  let plan:
    | {
        policies: string[];
        max: number | undefined;
        audienceLists: string[][];
        deny: boolean;
        apiAudiences: readonly string[];
      }
    | undefined;
  for (const p of [...policies].sort(byName)) {
    const tr = p.spec.tokenRequests;
    if (!tr) continue;
    if (user && (anyGlob(tr.exemptUsers, user.username) || user.groups.some((g) => anyGlob(tr.exemptGroups, g))))
      continue;
    plan ??= { policies: [], max: undefined, audienceLists: [], deny: false, apiAudiences };
    plan.policies.push(p.name);
    if (tr.maxExpirationSeconds !== undefined)
      plan.max = Math.min(plan.max ?? Number.POSITIVE_INFINITY, tr.maxExpirationSeconds);
    if (tr.allowedAudiences) plan.audienceLists.push([...tr.allowedAudiences]);
    if ((tr.onViolation ?? 'Deny') === 'Deny') plan.deny = true;
  }
  return plan;
}

/** The kubelet asking for a token bound to a pod (its projected volumes), which is always let through. */
function isKubeletPodRequest(request: JsonObject, user: RequestUser | undefined): boolean {
  const bound = objectAt(objectAt(request, 'spec'), 'boundObjectRef');
  return (user?.groups.includes(NODES_GROUP) ?? false) && stringAt(bound, 'kind') === 'Pod';
}

// ---------------------------------------------------------------------------------------------
// Mutate and validate
// ---------------------------------------------------------------------------------------------

/**
 * Judges the request, and with `onViolation: Mutate` everywhere shortens one that lives too long
 * to the maximum. `request` is the caller's copy: it is edited.
 */
export function mutateTokenRequest(request: JsonObject, plan: TokenRequestPlan, mode: RuleMode): RuleResult[] {
  return judge(request, plan, mode, true);
}

/** Judges the request as it stands: too long, or an audience not allowed, fails. */
export function validateTokenRequest(request: JsonObject, plan: TokenRequestPlan, mode: RuleMode): RuleResult[] {
  return judge(request, plan, mode, false);
}

function judge(request: JsonObject, plan: TokenRequestPlan, mode: RuleMode, edit: boolean): RuleResult[] {
  const results: RuleResult[] = [];
  const r = (status: RuleResult['status'], message: string) =>
    results.push({ policies: plan.policies, rule: 'token-request', mode, status, message });
  const spec = objectAt(request, 'spec');
  const exp =
    typeof spec?.expirationSeconds === 'number' ? spec.expirationSeconds : DEFAULT_PROJECTED_EXPIRATION_SECONDS;
  const audiences = Array.isArray(spec?.audiences)
    ? spec.audiences.filter((a): a is string => typeof a === 'string')
    : [];
  const podBound = isPodReference(objectAt(spec, 'boundObjectRef'));
  const lifetime = podBound ? podBoundLifetime(exp, audiences, plan.apiAudiences) : exp;
  if (plan.max !== undefined && lifetime > plan.max) {
    const target = boundedExpiration(
      exp,
      0,
      plan.max,
      podBound && audiences.every((a) => isApiAudience(a, plan.apiAudiences)),
    ) as number;
    const asked = describeLifetime(exp, lifetime, plan.max);
    if (edit && !plan.deny && spec) {
      spec.expirationSeconds = target;
      r('mutate', `requested ${asked} shortened to ${target}`);
    } else r('fail', `requested ${asked} exceeds the maximum ${plan.max}`);
  }
  for (const list of plan.audienceLists) {
    const bad = audiences.filter((a) => !isApiAudience(a, plan.apiAudiences) && !anyGlob(list, a));
    if (bad.length > 0)
      r('fail', `audience ${bad.map(quoted).join(', ')} not allowed (allowed: ${list.join(', ') || 'none'})`);
  }
  if (results.length === 0)
    r('pass', `expirationSeconds ${exp}, audiences ${audiences.length > 0 ? audiences.join(', ') : '(API server)'}`);
  return results;
}

/** A `boundObjectRef` naming a Pod (core group), the only binding the API server extends. */
function isPodReference(ref: JsonObject | undefined): boolean {
  const apiVersion = stringAt(ref, 'apiVersion') ?? '';
  return stringAt(ref, 'kind') === 'Pod' && (apiVersion === 'v1' || apiVersion === '');
}
