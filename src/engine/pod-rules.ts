import type { PolicyMode } from '../policy/types.js';
import { API_TOKEN_VOLUME_PREFIX, PROJECTED_DEFAULT_MODE } from './constants.js';
import { anyGlob } from './glob.js';
import { isObject, type JsonObject, objectAt, objectsAt, stringAt } from './json.js';
import { disables, type PlannedInjection, type PodPlan } from './plan.js';
import { allContainers, apiTokenVolumeNames, arrayField, mountedVolumeNames, tokenSources, writableContainer, writableToken } from './pod.js';
import type { RuleResult } from './types.js';

type Mode = Exclude<PolicyMode, 'Off'>;

/**
 * Edits `pod` (a copy made by `podEditCopy`) so that it meets the plan, and reports each rule.
 * Writes go to the spec, to its volume and container arrays, or through `writableToken` and
 * `writableContainer`: everything else in `pod` is shared with the caller's object.
 * Order matters and is fixed: automount, API token expiration, injections, then bounds, so that
 * injected tokens are bounded too. Running it again on its own output changes nothing.
 */
export function mutatePod(pod: JsonObject, plan: PodPlan, mode: Mode): RuleResult[] {
  const results: RuleResult[] = [];
  const spec = objectAt(pod, 'spec');
  if (!spec) return results;
  const r = (policy: string, rule: RuleResult['rule'], status: RuleResult['status'], message: string) =>
    results.push({ policy, rule, mode, status, message });

  // 1. Automount. Setting the field alone is not enough: the ServiceAccount plugin already
  //    added the volume and mounts before any webhook runs (facts 1.13-1.15).
  if (disables(plan)) {
    const names = apiTokenVolumeNames(spec);
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
    // An API token in a volume of the pod's own (not the plugin's kube-api-access-*) is the
    // author's: it is not removed, and the rule fails as validatePod's does.
    const own = ownApiTokenVolumes(spec);
    for (const v of plan.automount.filter((a) => a.disable)) {
      if (names.size > 0 || wasTrue) {
        const what = names.size > 0 ? `removed API token ${[...names].join(', ')} (${mounts} mount${mounts === 1 ? '' : 's'}), ` : '';
        r(v.policy, 'automount', 'mutate', `${what}automount off: ${v.reason}`);
      } else if (own.length === 0) r(v.policy, 'automount', 'pass', 'pod carries no API token');
      if (own.length > 0) r(v.policy, 'automount', 'fail', `pod mounts API token ${own.join(', ')} (its own volume, not removed) but does not need API access`);
    }
  } else {
    for (const v of plan.automount) r(v.policy, 'automount', 'pass', `API token kept: ${v.reason}`);
    // 2. API token expiration, only for the plugin's own volume.
    if (plan.apiTokenMax) {
      const max = plan.apiTokenMax.value;
      const policy = plan.apiTokenMax.policies.join('+');
      const names = apiTokenVolumeNames(spec);
      for (const s of tokenSources(spec)) {
        if (!s.isApiToken || !names.has(s.volumeName)) continue;
        if (s.expirationSeconds > max) {
          writableToken(spec, s).expirationSeconds = max;
          r(policy, 'api-token-expiration', 'mutate', `API token ${s.volumeName} expirationSeconds ${s.expirationSeconds} -> ${max}`);
        } else r(policy, 'api-token-expiration', 'pass', `${s.volumeName}: expirationSeconds ${s.expirationSeconds}`);
      }
    }
  }

  // 3. Injections.
  for (const c of plan.conflicts) r(c.slice(0, c.indexOf(':')), 'inject-token', 'warn', c.slice(c.indexOf(':') + 2));
  for (const inj of plan.injections) {
    const expiration = plan.bounds ? clamp(inj.expirationSeconds, plan.bounds.min, plan.bounds.max) : inj.expirationSeconds;
    for (const msg of inject(spec, inj, expiration)) r(inj.policy, 'inject-token', msg.status, msg.message);
  }

  // 4. Bounds on every projected token, the injected ones included.
  if (plan.bounds) {
    const b = plan.bounds;
    const policy = b.policies.join('+');
    const apiNames = apiTokenVolumeNames(spec);
    if (b.min > b.max) {
      r(policy, 'token-bounds', 'error', `bounds do not intersect: min ${b.min} > max ${b.max}`);
    } else {
      for (const s of tokenSources(spec)) {
        if (s.isApiToken && apiNames.has(s.volumeName)) continue; // governed by apiTokenExpirationSeconds
        const target = clamp(s.expirationSeconds, b.min, b.max);
        if (target !== s.expirationSeconds) {
          if (b.deny) {
            r(policy, 'token-bounds', 'fail', `${s.volumeName}: expirationSeconds ${s.expirationSeconds} outside [${b.min}, ${b.max}]`);
          } else {
            writableToken(spec, s).expirationSeconds = target;
            r(policy, 'token-bounds', 'mutate', `${s.volumeName}: expirationSeconds ${s.expirationSeconds} -> ${target}`);
          }
        }
        const aud = audienceProblem(s.audience, b.audienceLists);
        if (aud) r(policy, 'token-audience', 'fail', `${s.volumeName}: ${aud}`);
      }
    }
  }
  return results;
}

/** The volumes holding an API-audience token that some container mounts. */
function mountedApiTokenVolumes(sources: ReturnType<typeof tokenSources>, mounted: ReadonlySet<string>): string[] {
  return [...new Set(sources.filter((s) => s.isApiToken && mounted.has(s.volumeName)).map((s) => s.volumeName))];
}

/** Mounted API-token volumes other than the ServiceAccount plugin's own `kube-api-access-*`. */
function ownApiTokenVolumes(spec: JsonObject): string[] {
  const plugin = apiTokenVolumeNames(spec);
  return mountedApiTokenVolumes(tokenSources(spec), mountedVolumeNames(spec)).filter((n) => !plugin.has(n));
}

/**
 * Judges the pod as it stands, after every mutation, without trusting that the mutating side
 * ran: a token the pod does not need, a token out of bounds, or a missing injection fails.
 */
export function validatePod(pod: JsonObject, plan: PodPlan, mode: Mode): RuleResult[] {
  const results: RuleResult[] = [];
  const spec = objectAt(pod, 'spec') ?? {};
  const r = (policy: string, rule: RuleResult['rule'], status: RuleResult['status'], message: string) =>
    results.push({ policy, rule, mode, status, message });
  const sources = tokenSources(spec);
  const mounted = mountedVolumeNames(spec);

  for (const v of plan.automount) {
    if (!v.disable) {
      r(v.policy, 'automount', 'pass', `API token allowed: ${v.reason}`);
      continue;
    }
    const carried = mountedApiTokenVolumes(sources, mounted);
    if (carried.length > 0) {
      r(v.policy, 'automount', 'fail', `pod mounts API token ${carried.join(', ')} but does not need API access`);
    } else r(v.policy, 'automount', 'pass', 'pod carries no API token');
  }

  if (plan.apiTokenMax) {
    const names = apiTokenVolumeNames(spec);
    const policy = plan.apiTokenMax.policies.join('+');
    for (const s of sources) {
      if (!s.isApiToken || !names.has(s.volumeName)) continue;
      if (s.expirationSeconds > plan.apiTokenMax.value) {
        r(policy, 'api-token-expiration', 'fail', `API token ${s.volumeName} expirationSeconds ${s.expirationSeconds} > ${plan.apiTokenMax.value}`);
      } else r(policy, 'api-token-expiration', 'pass', `${s.volumeName}: expirationSeconds ${s.expirationSeconds}`);
    }
  }

  if (plan.bounds) {
    const b = plan.bounds;
    const policy = b.policies.join('+');
    const apiNames = apiTokenVolumeNames(spec);
    if (b.min > b.max) r(policy, 'token-bounds', 'error', `bounds do not intersect: min ${b.min} > max ${b.max}`);
    for (const s of sources) {
      if (s.isApiToken && apiNames.has(s.volumeName)) continue; // governed by apiTokenExpirationSeconds
      if (s.expirationSeconds < b.min || s.expirationSeconds > b.max) {
        r(policy, 'token-bounds', 'fail', `${s.volumeName}: expirationSeconds ${s.expirationSeconds} outside [${b.min}, ${b.max}]`);
      } else r(policy, 'token-bounds', 'pass', `${s.volumeName}: expirationSeconds ${s.expirationSeconds}`);
      const aud = audienceProblem(s.audience, b.audienceLists);
      if (aud) r(policy, 'token-audience', 'fail', `${s.volumeName}: ${aud}`);
    }
  }

  for (const c of plan.conflicts) r(c.slice(0, c.indexOf(':')), 'inject-token', 'warn', c.slice(c.indexOf(':') + 2));
  for (const inj of plan.injections) {
    const missing = injectionTargets(spec, inj).filter((c) => !satisfied(spec, c, inj)).map((c) => c.name);
    if (missing.length > 0) {
      r(inj.policy, 'inject-token', 'fail', `token ${inj.volumeName} (audience ${inj.audience}) missing in container(s) ${missing.join(', ')}`);
    } else r(inj.policy, 'inject-token', 'pass', `token "${inj.volumeName}" mounted`);
  }
  return results;
}

function clamp(v: number, min: number, max: number): number {
  return Math.min(Math.max(v, min), max);
}

/** Why an audience is not allowed, or undefined. API-audience tokens (no audience) are always allowed. */
function audienceProblem(audience: string, lists: readonly (readonly string[])[]): string | undefined {
  if (audience === '') return undefined;
  for (const list of lists) {
    if (!anyGlob(list, audience)) return `audience ${JSON.stringify(audience)} not allowed (allowed: ${list.join(', ') || 'none'})`;
  }
  return undefined;
}

/** Init and regular containers whose names match the injection's globs (ephemeral ones are never targets). */
function injectionTargets(spec: JsonObject, inj: PlannedInjection) {
  return allContainers(spec).filter((c) => c.field !== 'ephemeralContainers' && anyGlob(inj.containers, c.name));
}

/** True when the volume is exactly an injection of this token (the expiration may differ: bounds may clamp it). */
function isInjectionVolume(volume: JsonObject, inj: PlannedInjection): boolean {
  const sources = objectAt(volume, 'projected')?.sources;
  if (!Array.isArray(sources) || sources.length !== 1 || !isObject(sources[0])) return false;
  const t = objectAt(sources[0], 'serviceAccountToken');
  return t !== undefined && (stringAt(t, 'audience') ?? '') === inj.audience && (stringAt(t, 'path') ?? '') === inj.path;
}

/** The container already sees a token of this audience and path at the mount path, however it got there. */
function satisfied(spec: JsonObject, c: { container: JsonObject }, inj: PlannedInjection): boolean {
  const volumes = objectsAt(spec, 'volumes');
  return objectsAt(c.container, 'volumeMounts').some((m) => {
    if (stringAt(m, 'mountPath') !== inj.mountPath) return false;
    const v = volumes.find((vol) => stringAt(vol, 'name') === stringAt(m, 'name'));
    if (!v) return false;
    const sources = objectAt(v, 'projected')?.sources;
    return (
      Array.isArray(sources) &&
      sources.some((s) => {
        const t = isObject(s) ? objectAt(s, 'serviceAccountToken') : undefined;
        return t !== undefined && (stringAt(t, 'audience') ?? '') === inj.audience && (stringAt(t, 'path') ?? '') === inj.path;
      })
    );
  });
}

/**
 * Injects one token into every target container. On a clash nothing is changed for that
 * container and the rule fails (the validating side then denies the pod):
 * - the volume name is taken by a volume that is not this very token: no volume, no mounts;
 * - the container already mounts something else at the mount path: that container is skipped.
 */
function inject(spec: JsonObject, inj: PlannedInjection, expiration: number): { status: RuleResult['status']; message: string }[] {
  const out: { status: RuleResult['status']; message: string }[] = [];
  const targets = injectionTargets(spec, inj).filter((c) => !satisfied(spec, c, inj));
  if (targets.length === 0) {
    if (injectionTargets(spec, inj).length > 0) out.push({ status: 'pass', message: `token "${inj.volumeName}" already mounted` });
    else out.push({ status: 'skip', message: `no container matches ${inj.containers.join(', ')}` });
    return out;
  }
  const existing = objectsAt(spec, 'volumes').find((v) => stringAt(v, 'name') === inj.volumeName);
  if (existing && !isInjectionVolume(existing, inj)) {
    out.push({
      status: 'fail',
      message: `volume name ${inj.volumeName} is taken by another volume; token not injected`,
    });
    return out;
  }
  if (inj.volumeName.startsWith(API_TOKEN_VOLUME_PREFIX)) {
    out.push({ status: 'fail', message: `volume name "${inj.volumeName}" is reserved for the API token` });
    return out;
  }
  const added: string[] = [];
  for (const c of targets) {
    const taken = objectsAt(c.container, 'volumeMounts').find((m) => stringAt(m, 'mountPath') === inj.mountPath);
    if (taken) {
      out.push({
        status: 'fail',
        message: `container ${c.name} already mounts ${stringAt(taken, 'name')} at ${inj.mountPath}; token ${inj.volumeName} not injected there`,
      });
      continue;
    }
    arrayField(writableContainer(spec, c), 'volumeMounts').push({ name: inj.volumeName, mountPath: inj.mountPath, readOnly: true });
    added.push(c.name);
  }
  if (added.length > 0 && !existing) {
    arrayField(spec, 'volumes').push({
      name: inj.volumeName,
      projected: {
        defaultMode: PROJECTED_DEFAULT_MODE,
        sources: [{ serviceAccountToken: { audience: inj.audience, expirationSeconds: expiration, path: inj.path } }],
      },
    });
  }
  if (added.length > 0) {
    out.push({
      status: 'mutate',
      message: `injected token ${inj.volumeName} (audience ${inj.audience}, ${expiration}s) into ${added.join(', ')}`,
    });
  }
  return out;
}
