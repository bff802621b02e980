/**
 * Runs the pod rules (src/engine/rules/): composes the matching policies into one plan, then
 * calls each rule's mutate or validate half in a fixed order. The rules themselves, with their
 * plan, mutate and validate halves side by side:
 *
 * | rule id                          | module                      |
 * |----------------------------------|-----------------------------|
 * | automount                        | rules/automount.ts          |
 * | api-token-expiration             | rules/api-token-expiration.ts |
 * | inject-token                     | rules/inject.ts             |
 * | token-bounds, token-audience     | rules/bounds.ts             |
 * | ephemeral-token                  | rules/ephemeral-token.ts    |
 */
import { byName, type TokenPolicy } from '../policy/types.js';
import { type JsonObject, objectAt } from '../json.js';
import { mountedVolumeNames, tokenSources } from './pod.js';
import {
  type ApiTokenMax,
  mutateApiTokenExpiration,
  planApiTokenExpiration,
  validateApiTokenExpiration,
} from './rules/api-token-expiration.js';
import {
  type AutomountVerdict,
  disables,
  mutateAutomount,
  planAutomount,
  validateAutomount,
} from './rules/automount.js';
import { mutateBounds, type PlannedBounds, planBounds, validateBounds } from './rules/bounds.js';
import { validateEphemeralContainers as validateEphemeral } from './rules/ephemeral-token.js';
import { type InjectionPlan, mutateInjections, planInjections, validateInjections } from './rules/inject.js';
import type { RuleMode, RuleResult, ServiceAccountFacts } from './types.js';

/** What a set of policies asks of one pod, composed as docs/policies.md "How policies combine" says, strictest wins. */
export interface PodPlan {
  readonly automount: readonly AutomountVerdict[];
  readonly injection: InjectionPlan;
  readonly bounds: PlannedBounds | undefined;
  readonly apiTokenMax: ApiTokenMax | undefined;
  /** The API server's own audiences (globs): tokens for them are API tokens in every rule. */
  readonly apiAudiences: readonly string[];
}

export interface PlanForPodArgs {
  /** The policies that matched the pod, in any order. */
  readonly policies: readonly TokenPolicy[];
  readonly pod: JsonObject;
  readonly namespace: string;
  readonly serviceAccount: string;
  readonly saFacts: ServiceAccountFacts | undefined;
  readonly apiAudiences: readonly string[];
  /** The time of the request (facts.now), for `observedWithin`. */
  readonly now?: number;
}

/**
 * Composes policies (already matched to the pod) into one plan. The result depends only on the
 * set of policies, never on their order: they are sorted by name first.
 *
 * | aspect       | composition                                                            |
 * |--------------|------------------------------------------------------------------------|
 * | automount    | disabled if any policy with DisableUnlessNeeded finds the pod not needing it |
 * | injections   | union, in policy name order; one volume name claimed twice with different content is a conflict |
 * | bounds       | intersection: highest minimum, lowest maximum, every audience list applies; Deny if any says Deny |
 * | API token    | the lowest apiTokenExpirationSeconds                                   |
 */
export function planForPod({
  policies,
  pod,
  namespace,
  serviceAccount,
  saFacts,
  apiAudiences,
  now,
}: PlanForPodArgs): PodPlan {
  const sorted = [...policies].sort(byName);
  return {
    automount: planAutomount(sorted, pod, {
      namespace,
      serviceAccount,
      saFacts,
      ...(now !== undefined ? { now } : {}),
    }),
    injection: planInjections(sorted),
    bounds: planBounds(sorted),
    apiTokenMax: planApiTokenExpiration(sorted),
    apiAudiences,
  };
}

/**
 * Edits `pod` (a copy made by `podEditCopy`) so that it meets the plan, and reports each rule.
 * Writes go to the spec, to its volume and container arrays, or through `writableToken` and
 * `writableContainer`: everything else in `pod` is shared with the caller's object.
 * Order matters and is fixed: automount, API token expiration (only where the token stays),
 * injections, then bounds, so that injected tokens are bounded too. Running it again on its own
 * output changes nothing.
 */
export function mutatePod(pod: JsonObject, plan: PodPlan, mode: RuleMode): RuleResult[] {
  const spec = objectAt(pod, 'spec');
  if (!spec) return [];
  const { apiAudiences } = plan;
  const results = mutateAutomount({ spec, verdicts: plan.automount, apiAudiences, mode });
  if (plan.apiTokenMax && !disables(plan.automount))
    results.push(...mutateApiTokenExpiration({ spec, max: plan.apiTokenMax, apiAudiences, mode }));
  results.push(...mutateInjections({ spec, plan: plan.injection, bounds: plan.bounds, apiAudiences, mode }));
  if (plan.bounds)
    results.push(
      ...mutateBounds({ spec, bounds: plan.bounds, apiTokenMax: plan.apiTokenMax?.value, apiAudiences, mode }),
    );
  return results;
}

/**
 * Judges the pod as it stands, after every mutation, without trusting that the mutating side
 * ran: a token the pod does not need, a token out of bounds, or a missing injection fails.
 * Token volumes are judged whether some container mounts them or not. Order: automount, API
 * token expiration, bounds, injections.
 */
export function validatePod(pod: JsonObject, plan: PodPlan, mode: RuleMode): RuleResult[] {
  const spec = objectAt(pod, 'spec') ?? {};
  const { apiAudiences } = plan;
  const sources = tokenSources(spec, apiAudiences);
  const results = validateAutomount({ sources, mounted: mountedVolumeNames(spec), verdicts: plan.automount, mode });
  if (plan.apiTokenMax) results.push(...validateApiTokenExpiration({ sources, max: plan.apiTokenMax, mode }));
  if (plan.bounds) results.push(...validateBounds({ sources, bounds: plan.bounds, apiAudiences, mode }));
  results.push(...validateInjections({ spec, plan: plan.injection, mode }));
  return results;
}

/** Judges the ephemeral containers a `pods/ephemeralcontainers` UPDATE adds (rules/ephemeral-token.ts). */
export function validateEphemeralContainers(
  pod: JsonObject,
  oldPod: JsonObject | undefined,
  plan: PodPlan,
  mode: RuleMode,
): RuleResult[] {
  return validateEphemeral({
    pod,
    oldPod,
    verdicts: plan.automount,
    injections: plan.injection.injections,
    apiAudiences: plan.apiAudiences,
    mode,
  });
}
