import { byName, type TokenInjection, type TokenPolicy } from '../policy/types.js';
import { DEFAULT_PROJECTED_EXPIRATION_SECONDS, MAX_EXPIRATION_SECONDS, MIN_EXPIRATION_SECONDS } from './constants.js';
import { objectAt, stringMapAt, type JsonObject } from './json.js';
import { serviceAccountPatternMatches } from './match.js';
import type { ServiceAccountFacts } from './types.js';

/** An injection with every default filled in, and the policy that asked for it. */
export interface PlannedInjection {
  readonly policy: string;
  readonly volumeName: string;
  readonly audience: string;
  readonly expirationSeconds: number;
  readonly mountPath: string;
  readonly path: string;
  readonly containers: readonly string[];
}

/** Bounds after intersecting every matching policy's bounds. */
export interface PlannedBounds {
  readonly policies: readonly string[];
  readonly min: number;
  readonly max: number;
  /** Allowed audience globs, each list from one policy; a token must satisfy all lists. */
  readonly audienceLists: readonly (readonly string[])[];
  /** True when any policy says `onViolation: Deny`. */
  readonly deny: boolean;
}

/** Why a pod keeps or loses its API token under one policy. */
export interface AutomountVerdict {
  readonly policy: string;
  readonly disable: boolean;
  readonly reason: string;
}

/** What a set of policies asks of one pod: the composition rules of PRODUCT.md, strictest wins. */
export interface PodPlan {
  readonly automount: readonly AutomountVerdict[];
  readonly injections: readonly PlannedInjection[];
  /** Injections dropped because another policy claimed the same volume name differently. */
  readonly conflicts: readonly string[];
  readonly bounds: PlannedBounds | undefined;
  readonly apiTokenMax: { readonly value: number; readonly policies: readonly string[] } | undefined;
  /** The API server's own audiences (globs): tokens for them are API tokens in every rule. */
  readonly apiAudiences: readonly string[];
}

/** True when some policy wants the API token gone from this pod. */
export function disables(plan: PodPlan): boolean {
  return plan.automount.some((v) => v.disable);
}

/**
 * Composes policies (already matched to the pod) into one plan. The result depends only on the
 * set of policies, never on their order: policies are sorted by name first.
 *
 * | aspect       | composition                                                            |
 * |--------------|------------------------------------------------------------------------|
 * | automount    | disabled if any policy with DisableUnlessNeeded finds the pod not needing it |
 * | injections   | union, in policy name order; one volume name claimed twice with different content is a conflict |
 * | bounds       | intersection: highest minimum, lowest maximum, every audience list applies; Deny if any says Deny |
 * | API token    | the lowest apiTokenExpirationSeconds                                   |
 */
export function planForPod(
  policies: readonly TokenPolicy[],
  pod: JsonObject,
  namespace: string,
  serviceAccount: string,
  saFacts: ServiceAccountFacts | undefined,
  apiAudiences: readonly string[],
): PodPlan {
  const sorted = [...policies].sort(byName);
  const automount: AutomountVerdict[] = [];
  const injections: PlannedInjection[] = [];
  const conflicts: string[] = [];
  let bounds: { policies: string[]; min: number; max: number; audienceLists: string[][]; deny: boolean } | undefined;
  let apiTokenMax: { value: number; policies: string[] } | undefined;

  for (const p of sorted) {
    const { automount: am, projectedTokens: pt } = p.spec;
    if (am && am.action === 'DisableUnlessNeeded') {
      const reason = neededReason(am.needed, pod, namespace, serviceAccount, saFacts);
      automount.push({ policy: p.name, disable: reason === undefined, reason: reason ?? 'API access not needed' });
    }
    for (const inj of pt?.inject ?? []) {
      const planned = withDefaults(p.name, inj);
      const same = injections.find((i) => i.volumeName === planned.volumeName);
      if (!same) injections.push(planned);
      else if (!sameContent(same, planned)) {
        conflicts.push(
          `${p.name}: volume "${planned.volumeName}" is already injected by policy ${same.policy} with different content; skipped`,
        );
      }
    }
    const b = pt?.bounds;
    if (b) {
      bounds ??= { policies: [], min: MIN_EXPIRATION_SECONDS, max: MAX_EXPIRATION_SECONDS, audienceLists: [], deny: false };
      bounds.policies.push(p.name);
      bounds.min = Math.max(bounds.min, b.minExpirationSeconds ?? MIN_EXPIRATION_SECONDS);
      bounds.max = Math.min(bounds.max, b.maxExpirationSeconds ?? MAX_EXPIRATION_SECONDS);
      if (b.allowedAudiences) bounds.audienceLists.push([...b.allowedAudiences]);
      if (b.onViolation === 'Deny') bounds.deny = true;
    }
    if (pt?.apiTokenExpirationSeconds !== undefined) {
      if (!apiTokenMax || pt.apiTokenExpirationSeconds < apiTokenMax.value) {
        apiTokenMax = { value: pt.apiTokenExpirationSeconds, policies: [p.name] };
      } else if (pt.apiTokenExpirationSeconds === apiTokenMax.value) apiTokenMax.policies.push(p.name);
    }
  }
  return { automount, injections, conflicts, bounds, apiTokenMax, apiAudiences };
}

/**
 * Why a pod needs the API under one policy's `needed` rules, or undefined when it does not.
 * Any one rule is enough. Unknown bindings count as needed unless the policy says otherwise.
 */
function neededReason(
  needed: NonNullable<TokenPolicy['spec']['automount']>['needed'],
  pod: JsonObject,
  namespace: string,
  serviceAccount: string,
  saFacts: ServiceAccountFacts | undefined,
): string | undefined {
  if (!needed) return undefined;
  if (needed.annotation) {
    const podAnnotations = stringMapAt(objectAt(pod, 'metadata'), 'annotations');
    if (podAnnotations[needed.annotation] === 'true') return `pod annotation ${needed.annotation}=true`;
    if (saFacts?.annotations[needed.annotation] === 'true') {
      return `ServiceAccount ${namespace}/${serviceAccount} annotation ${needed.annotation}=true`;
    }
  }
  if (needed.serviceAccounts?.some((pat) => serviceAccountPatternMatches(pat, namespace, serviceAccount))) {
    return `ServiceAccount ${namespace}/${serviceAccount} is listed as needing API access`;
  }
  if (needed.rbacBound) {
    if (saFacts?.bound === true) {
      const by = saFacts.boundBy && saFacts.boundBy.length > 0 ? ` (${saFacts.boundBy.slice(0, 3).join(', ')})` : '';
      return `ServiceAccount ${namespace}/${serviceAccount} is bound by RBAC${by}`;
    }
    if (saFacts?.bound === undefined && (needed.whenUnknown ?? 'Needed') === 'Needed') {
      return `RBAC bindings of ServiceAccount ${namespace}/${serviceAccount} are unknown; kept (whenUnknown: Needed)`;
    }
  }
  return undefined;
}

function withDefaults(policy: string, inj: TokenInjection): PlannedInjection {
  return {
    policy,
    volumeName: inj.volumeName,
    audience: inj.audience,
    expirationSeconds: inj.expirationSeconds ?? DEFAULT_PROJECTED_EXPIRATION_SECONDS,
    mountPath: inj.mountPath,
    path: inj.path ?? 'token',
    containers: inj.containers ?? ['*'],
  };
}

function sameContent(a: PlannedInjection, b: PlannedInjection): boolean {
  return (
    a.audience === b.audience &&
    a.expirationSeconds === b.expirationSeconds &&
    a.mountPath === b.mountPath &&
    a.path === b.path &&
    a.containers.join('\n') === b.containers.join('\n')
  );
}
