/**
 * Rule `automount`: no API token in a pod that does not need the Kubernetes API. "Needs it" is
 * the policy's `automount.needed`: an opt-in annotation on the pod or its ServiceAccount, a list
 * of ServiceAccounts, an RBAC binding of the ServiceAccount, or its tokens seen in use in the
 * API server's audit log within `observedWithin` (docs/usage.md).
 */
import { formatDuration, parseDuration } from '../../duration.js';
import { isObject, type JsonObject, objectAt, objectsAt, stringAt, stringIn } from '../../json.js';
import type { AutomountSpec, TokenPolicy } from '../../policy/types.js';
import { serviceAccountPatternMatches } from '../match.js';
import {
  allContainers,
  mountedVolumeNames,
  pluginTokenVolumeNames,
  type TokenSource,
  tokenSources,
  writableContainer,
} from '../pod.js';
import type { RuleMode, RuleResult, ServiceAccountFacts } from '../types.js';

/**
 * What decided a verdict: the opt-in annotation, the list of ServiceAccounts, an RBAC binding,
 * use seen in the audit log (or its absence, over the whole window), a fact that is not known
 * (then `whenUnknown` decided), or nothing at all (no rule says the pod needs the API).
 */
export type AutomountEvidence = 'annotation' | 'list' | 'rbac' | 'observed' | 'unknown' | 'none';

/** Why a pod keeps or loses its API token under one policy. */
export interface AutomountVerdict {
  readonly policy: string;
  readonly disable: boolean;
  readonly reason: string;
  readonly evidence: AutomountEvidence;
}

/** Whose pod it is: what the `needed` rules read besides the pod itself. */
export interface PodOwner {
  readonly namespace: string;
  readonly serviceAccount: string;
  /** The ServiceAccount's facts, when known. */
  readonly saFacts: ServiceAccountFacts | undefined;
  /** The time of the request, ms since the epoch (facts.now); undefined: observed use is unknown. */
  readonly now?: number;
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
    verdicts.push({ policy: p.name, ...decide(am.needed, pod, owner) });
  }
  return verdicts;
}

/** True when some policy wants the API token gone from this pod. */
export function disables(verdicts: readonly AutomountVerdict[]): boolean {
  return verdicts.some((v) => v.disable);
}

type Decision = Omit<AutomountVerdict, 'policy'>;

/**
 * Whether a pod needs the API under one policy's `needed` rules, and why. Any one rule that
 * says so is enough, in this order:
 *
 * | rule              | needed when                                   | unknown when                          |
 * |-------------------|-----------------------------------------------|---------------------------------------|
 * | `annotation`      | `"true"` on the pod or its ServiceAccount      | never                                 |
 * | `serviceAccounts` | the ServiceAccount matches a pattern           | never                                 |
 * | `rbacBound`       | some (Cluster)RoleBinding names it             | bindings not known                    |
 * | `observedWithin`  | one of its tokens was used within the window   | no audit log, or one not covering it  |
 *
 * When none says so and some rule's fact is unknown, `whenUnknown` decides (default Needed).
 */
function decide(needed: AutomountSpec['needed'], pod: JsonObject, owner: PodOwner): Decision {
  const { namespace, serviceAccount, saFacts } = owner;
  const who = `ServiceAccount ${namespace}/${serviceAccount}`;
  if (!needed) return { disable: true, reason: 'API access not needed', evidence: 'none' };
  if (needed.annotation) {
    if (stringIn(objectAt(objectAt(pod, 'metadata'), 'annotations'), needed.annotation) === 'true')
      return kept(`pod annotation ${needed.annotation}=true`, 'annotation');
    if (saFacts?.annotations[needed.annotation] === 'true')
      return kept(`${who} annotation ${needed.annotation}=true`, 'annotation');
  }
  if (needed.serviceAccounts?.some((pat) => serviceAccountPatternMatches(pat, namespace, serviceAccount))) {
    return kept(`${who} is listed as needing API access`, 'list');
  }
  const unknown: string[] = [];
  if (needed.rbacBound) {
    if (saFacts?.bound === true) {
      const by = saFacts.boundBy && saFacts.boundBy.length > 0 ? ` (${saFacts.boundBy.slice(0, 3).join(', ')})` : '';
      return kept(`${who} is bound by RBAC${by}`, 'rbac');
    }
    if (saFacts?.bound === undefined) unknown.push(`RBAC bindings of ${who} are unknown`);
  }
  let notSeen: string | undefined;
  if (needed.observedWithin !== undefined) {
    const o = observedUse(needed.observedWithin, owner, who);
    if (o.kind === 'seen') return kept(o.text, 'observed');
    if (o.kind === 'unknown') unknown.push(o.text);
    else notSeen = o.text;
  }
  if (unknown.length > 0 && (needed.whenUnknown ?? 'Needed') === 'Needed')
    return kept(`${unknown.join('; ')}; kept (whenUnknown: Needed)`, 'unknown');
  // Without observedWithin the reason stays as it always read; with it, it names the evidence.
  const why =
    needed.observedWithin === undefined
      ? []
      : [
          ...(notSeen ? [notSeen] : []),
          ...(unknown.length > 0 ? [`${unknown.join('; ')} (whenUnknown: NotNeeded)`] : []),
        ];
  const evidence: AutomountEvidence =
    unknown.length > 0 ? 'unknown' : notSeen ? 'observed' : needed.rbacBound ? 'rbac' : 'none';
  return {
    disable: true,
    reason: why.length > 0 ? `API access not needed: ${why.join('; ')}` : 'API access not needed',
    evidence,
  };
}

function kept(reason: string, evidence: AutomountEvidence): Decision {
  return { disable: false, reason, evidence };
}

/**
 * What the audit log says of the ServiceAccount's tokens over the last `within` before now:
 * used in it (`seen`), not used although the log covers it all (`not-seen`), or `unknown`: no
 * log, or a log that starts after the window began or ends before it.
 */
function observedUse(
  within: string,
  { saFacts, now }: PodOwner,
  who: string,
): { kind: 'seen' | 'not-seen' | 'unknown'; text: string } {
  const seconds = parseDuration(within);
  if (typeof seconds !== 'number')
    return { kind: 'unknown', text: `observedWithin ${JSON.stringify(within)}: ${seconds.error}` };
  const o = saFacts?.observed;
  if (now === undefined || o === undefined)
    return { kind: 'unknown', text: `use of ${who}'s tokens is unknown (no audit log facts)` };
  const start = now - seconds * 1000;
  if (o.lastSeen !== undefined && o.lastSeen >= start) {
    return { kind: 'seen', text: `${who} used a token ${ago(now - o.lastSeen)} ago (observed use within ${within})` };
  }
  if (o.to < start)
    return {
      kind: 'unknown',
      text: `the audit log ends ${ago(now - o.to)} ago, before the ${within} of observedWithin`,
    };
  if (o.from > start)
    return {
      kind: 'unknown',
      text: `the audit log covers only the last ${ago(now - o.from)} of the ${within} of observedWithin for ${who}`,
    };
  return { kind: 'not-seen', text: `${who} used no token in the last ${within} of audit log (observed use)` };
}

/** An age as a duration to the minute (seconds below one). */
function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return formatDuration(s < 60 ? s : Math.round(s / 60) * 60) || '0s';
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
      const what =
        names.size > 0
          ? `removed API token ${[...names].join(', ')} (${mounts} mount${mounts === 1 ? '' : 's'}), `
          : '';
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
  if (off.length > 0)
    out.push(
      `pod has API token ${off.join(', ')} (${own ? 'its own volume, not removed; ' : ''}no container mounts it yet)`,
    );
  return out;
}
