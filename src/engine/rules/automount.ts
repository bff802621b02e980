/**
 * Rule `automount`: no API token in a pod that does not need the Kubernetes API. "Needs it" is
 * the policy's `automount.needed`: an opt-in annotation on the pod or its ServiceAccount, a list
 * of ServiceAccounts, or an RBAC binding of the ServiceAccount.
 */
import type { AutomountSpec, TokenPolicy } from '../../policy/types.js';
import { isObject, type JsonObject, objectAt, objectsAt, stringAt, stringMapAt } from '../../json.js';
import { serviceAccountPatternMatches } from '../match.js';
import { allContainers, mountedVolumeNames, pluginTokenVolumeNames, type TokenSource, tokenSources, writableContainer } from '../pod.js';
import type { RuleMode, RuleResult, ServiceAccountFacts } from '../types.js';

/** Why a pod keeps or loses its API token under one policy. */
export interface AutomountVerdict {
  readonly policy: string;
  readonly disable: boolean;
  readonly reason: string;
}

/** Whose pod it is: what the `needed` rules read besides the pod itself. */
export interface PodOwner {
  readonly namespace: string;
  readonly serviceAccount: string;
  /** The ServiceAccount's facts, when known. */
  readonly saFacts: ServiceAccountFacts | undefined;
}

// ---------------------------------------------------------------------------------------------
// Plan
// ---------------------------------------------------------------------------------------------

/** One verdict per policy (in the given order) whose `automount.action` is `DisableUnlessNeeded`. */
export function planAutomount(policies: readonly TokenPolicy[], pod: JsonObject, owner: PodOwner): AutomountVerdict[] {
  const verdicts: AutomountVerdict[] = [];
  for (const p of policies) {
    const am = p.spec.automount;
    if (am?.action !== 'DisableUnlessNeeded') continue;
    const reason = neededReason(am.needed, pod, owner);
    verdicts.push({ policy: p.name, disable: reason === undefined, reason: reason ?? 'API access not needed' });
  }
  return verdicts;
}

/** True when some policy wants the API token gone from this pod. */
export function disables(verdicts: readonly AutomountVerdict[]): boolean {
  return verdicts.some((v) => v.disable);
}

/**
 * Why a pod needs the API under one policy's `needed` rules, or undefined when it does not.
 * Any one rule is enough. Unknown bindings count as needed unless the policy says otherwise.
 */
function neededReason(needed: AutomountSpec['needed'], pod: JsonObject, { namespace, serviceAccount, saFacts }: PodOwner): string | undefined {
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

// ---------------------------------------------------------------------------------------------
// Mutate
// ---------------------------------------------------------------------------------------------

export interface MutateAutomountArgs {
  /** The spec of the edit copy (`podEditCopy`). */
  readonly spec: JsonObject;
  readonly verdicts: readonly AutomountVerdict[];
  readonly apiAudiences: readonly string[];
  readonly mode: RuleMode;
}

/**
 * Removes the ServiceAccount plugin's token volume and its mounts from every container, and sets
 * `automountServiceAccountToken: false`, when some policy finds the pod does not need the API.
 * Setting the field alone is not enough: the plugin already added the volume and the mounts
 * before any webhook runs, and would mount it again on reinvocation (docs/kubernetes.md
 * "Admission order"). An API token in a volume of the pod's own (not the plugin's) is the
 * author's: it is not removed, and the rule fails as the validating half does, mounted or not.
 */
export function mutateAutomount({ spec, verdicts, apiAudiences, mode }: MutateAutomountArgs): RuleResult[] {
  const results: RuleResult[] = [];
  const r = (policy: string, status: RuleResult['status'], message: string) =>
    results.push({ policies: [policy], rule: 'automount', mode, status, message });
  if (!disables(verdicts)) {
    for (const v of verdicts) r(v.policy, 'pass', `API token kept: ${v.reason}`);
    return results;
  }
  const names = pluginTokenVolumeNames(spec);
  let mounts = 0;
  if (names.size > 0) {
    spec.volumes = objectsAt(spec, 'volumes').filter((v) => !names.has(stringAt(v, 'name') ?? ''));
    for (const c of allContainers(spec)) {
      const vm = c.container.volumeMounts;
      if (!Array.isArray(vm)) continue;
      const kept = vm.filter((m) => !(isObject(m) && names.has(stringAt(m, 'name') ?? '')));
      mounts += vm.length - kept.length;
      if (kept.length !== vm.length) writableContainer(spec, c).volumeMounts = kept;
    }
  }
  const wasTrue = spec.automountServiceAccountToken === true;
  if (names.size > 0 || wasTrue) spec.automountServiceAccountToken = false;
  const own = carriedApiTokens(
    tokenSources(spec, apiAudiences).filter((s) => !s.isPluginVolume),
    mountedVolumeNames(spec),
    true,
  );
  for (const v of verdicts.filter((a) => a.disable)) {
    if (names.size > 0 || wasTrue) {
      const what = names.size > 0 ? `removed API token ${[...names].join(', ')} (${mounts} mount${mounts === 1 ? '' : 's'}), ` : '';
      r(v.policy, 'mutate', `${what}automount off: ${v.reason}`);
    } else if (own.length === 0) r(v.policy, 'pass', 'pod carries no API token');
    if (own.length > 0) r(v.policy, 'fail', `${own.join('; ')} but does not need API access`);
  }
  return results;
}

// ---------------------------------------------------------------------------------------------
// Validate
// ---------------------------------------------------------------------------------------------

export interface ValidateAutomountArgs {
  readonly sources: readonly TokenSource[];
  /** Names of the volumes some container mounts. */
  readonly mounted: ReadonlySet<string>;
  readonly verdicts: readonly AutomountVerdict[];
  readonly mode: RuleMode;
}

/** Fails for every API token (any volume, mounted or not) in a pod that does not need the API. */
export function validateAutomount({ sources, mounted, verdicts, mode }: ValidateAutomountArgs): RuleResult[] {
  const results: RuleResult[] = [];
  const r = (policy: string, status: RuleResult['status'], message: string) =>
    results.push({ policies: [policy], rule: 'automount', mode, status, message });
  for (const v of verdicts) {
    if (!v.disable) {
      r(v.policy, 'pass', `API token allowed: ${v.reason}`);
      continue;
    }
    const carried = carriedApiTokens(sources, mounted);
    if (carried.length > 0) r(v.policy, 'fail', `${carried.join('; ')} but does not need API access`);
    else r(v.policy, 'pass', 'pod carries no API token');
  }
  return results;
}

/**
 * `pod mounts API token a, b` and `pod has API token c (no container mounts it yet)`: the
 * volumes holding a token for the API server, mounted or not. `own`: they are the author's
 * volumes, which the mutating side leaves in place.
 */
function carriedApiTokens(sources: readonly TokenSource[], mounted: ReadonlySet<string>, own = false): string[] {
  const names = [...new Set(sources.filter((s) => s.isApiToken).map((s) => s.volumeName))];
  const on = names.filter((n) => mounted.has(n));
  const off = names.filter((n) => !mounted.has(n));
  const out: string[] = [];
  if (on.length > 0) out.push(`pod mounts API token ${on.join(', ')}${own ? ' (its own volume, not removed)' : ''}`);
  if (off.length > 0) out.push(`pod has API token ${off.join(', ')} (${own ? 'its own volume, not removed; ' : ''}no container mounts it yet)`);
  return out;
}
