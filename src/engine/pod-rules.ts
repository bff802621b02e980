import type { PolicyMode } from '../policy/types.js';
import { boundedExpiration, describeLifetime, isApiAudience, podBoundLifetime } from './api-token.js';
import { API_TOKEN_VOLUME_PREFIX, PROJECTED_DEFAULT_MODE } from './constants.js';
import { anyGlob } from './glob.js';
import { isObject, type JsonObject, objectAt, objectsAt, stringAt } from './json.js';
import { disables, type PlannedBounds, type PlannedInjection, type PodPlan } from './plan.js';
import {
  allContainers,
  arrayField,
  mountedVolumeNames,
  pluginTokenVolumeNames,
  type TokenSource,
  tokenSources,
  writableContainer,
  writableToken,
} from './pod.js';
import type { RuleResult } from './types.js';

type Mode = Exclude<PolicyMode, 'Off'>;

/**
 * Edits `pod` (a copy made by `podEditCopy`) so that it meets the plan, and reports each rule.
 * Writes go to the spec, to its volume and container arrays, or through `writableToken` and
 * `writableContainer`: everything else in `pod` is shared with the caller's object.
 * Order matters and is fixed: automount, API token expiration, injections, then bounds, so that
 * injected tokens are bounded too. Running it again on its own output changes nothing.
 *
 * Lifetimes are what the API server really issues (docs/tokens.md "Extension to a year"): a
 * 3607 s token for the API server's audience counts as a year against every maximum, and a
 * clamp never writes 3607 for such a token.
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
    // An API token in a volume of the pod's own (not the plugin's) is the author's: it is not
    // removed, and the rule fails as validatePod's does, mounted or not.
    const own = apiTokenVolumes(tokenSources(spec, plan.apiAudiences), mountedVolumeNames(spec));
    for (const v of plan.automount.filter((a) => a.disable)) {
      if (names.size > 0 || wasTrue) {
        const what = names.size > 0 ? `removed API token ${[...names].join(', ')} (${mounts} mount${mounts === 1 ? '' : 's'}), ` : '';
        r(v.policy, 'automount', 'mutate', `${what}automount off: ${v.reason}`);
      } else if (own.length === 0) r(v.policy, 'automount', 'pass', 'pod carries no API token');
      if (own.length > 0) r(v.policy, 'automount', 'fail', `${own.join('; ')} but does not need API access`);
    }
  } else {
    for (const v of plan.automount) r(v.policy, 'automount', 'pass', `API token kept: ${v.reason}`);
    // 2. API token expiration: every token for the API server, the plugin's and the pod's own.
    if (plan.apiTokenMax) {
      const max = plan.apiTokenMax.value;
      const policy = plan.apiTokenMax.policies.join('+');
      for (const s of tokenSources(spec, plan.apiAudiences)) {
        if (!s.isApiToken) continue;
        if (s.lifetimeSeconds > max) {
          const target = boundedExpiration(s.expirationSeconds, 0, max, true) as number; // min 0: always found
          writableToken(spec, s).expirationSeconds = target;
          r(policy, 'api-token-expiration', 'mutate', `API token ${s.volumeName} ${describeLifetime(s.expirationSeconds, s.lifetimeSeconds, max)} -> ${target}`);
        } else r(policy, 'api-token-expiration', 'pass', `${s.volumeName}: expirationSeconds ${s.expirationSeconds}`);
      }
    }
  }

  // 3. Injections.
  for (const c of plan.conflicts) r(c.slice(0, c.indexOf(':')), 'inject-token', 'warn', c.slice(c.indexOf(':') + 2));
  for (const inj of plan.injections) {
    const expiration = plan.bounds ? injectedExpiration(inj, plan.bounds, plan.apiAudiences) : inj.expirationSeconds;
    for (const msg of inject(spec, inj, expiration)) r(inj.policy, 'inject-token', msg.status, msg.message);
  }

  // 4. Bounds on every projected token, the injected ones included.
  if (plan.bounds) {
    const b = plan.bounds;
    const policy = b.policies.join('+');
    if (b.min > b.max) {
      r(policy, 'token-bounds', 'error', `bounds do not intersect: min ${b.min} > max ${b.max}`);
    } else {
      for (const s of tokenSources(spec, plan.apiAudiences)) {
        if (s.isPluginVolume) continue; // governed by apiTokenExpirationSeconds
        // An API token of the pod's own is held to apiTokenExpirationSeconds too (validatePod
        // checks both): clamp into both at once, or say that no expiration meets them.
        const api = s.isApiToken ? plan.apiTokenMax?.value : undefined;
        const max = api !== undefined ? Math.min(b.max, api) : b.max;
        if (b.min > max) {
          r(policy, 'token-bounds', 'fail', `${s.volumeName}: no expiration is within [${b.min}, ${b.max}] and apiTokenExpirationSeconds ${api}`);
        } else if (b.deny ? outside(s, b) : outside(s, b) || s.lifetimeSeconds > max) {
          const target = boundedExpiration(s.expirationSeconds, b.min, max, s.isApiToken);
          if (b.deny || target === undefined) {
            r(policy, 'token-bounds', 'fail', boundsFailure(s, b));
          } else {
            writableToken(spec, s).expirationSeconds = target;
            r(policy, 'token-bounds', 'mutate', `${s.volumeName}: ${describeLifetime(s.expirationSeconds, s.lifetimeSeconds, b.max)} -> ${target}`);
          }
        }
        const aud = audienceProblem(s.audience, b.audienceLists, plan.apiAudiences);
        if (aud) r(policy, 'token-audience', 'fail', `${s.volumeName}: ${aud}`);
      }
    }
  }
  return results;
}

/** The volumes, mounted or not, holding a token for the API server, other than the plugin's own, as phrases. */
function apiTokenVolumes(sources: readonly TokenSource[], mounted: ReadonlySet<string>): string[] {
  return carriedApiTokens(sources.filter((s) => !s.isPluginVolume), mounted, true);
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

/** True when the token's real lifetime is outside the bounds. */
function outside(s: TokenSource, b: PlannedBounds): boolean {
  return s.lifetimeSeconds < b.min || s.lifetimeSeconds > b.max;
}

function boundsFailure(s: TokenSource, b: PlannedBounds): string {
  return `${s.volumeName}: ${describeLifetime(s.expirationSeconds, s.lifetimeSeconds, b.max)} outside [${b.min}, ${b.max}]`;
}

/** An injection's expiration, clamped so that the token it mints lives within the bounds. */
function injectedExpiration(inj: PlannedInjection, b: PlannedBounds, apiAudiences: readonly string[]): number {
  if (b.min > b.max) return inj.expirationSeconds;
  const lifetime = podBoundLifetime(inj.expirationSeconds, [inj.audience], apiAudiences);
  if (lifetime >= b.min && lifetime <= b.max) return inj.expirationSeconds;
  return boundedExpiration(inj.expirationSeconds, b.min, b.max, isApiAudience(inj.audience, apiAudiences)) ?? inj.expirationSeconds;
}

/**
 * Judges the pod as it stands, after every mutation, without trusting that the mutating side
 * ran: a token the pod does not need, a token out of bounds, or a missing injection fails.
 * Token volumes are judged whether some container mounts them or not.
 */
export function validatePod(pod: JsonObject, plan: PodPlan, mode: Mode): RuleResult[] {
  const results: RuleResult[] = [];
  const spec = objectAt(pod, 'spec') ?? {};
  const r = (policy: string, rule: RuleResult['rule'], status: RuleResult['status'], message: string) =>
    results.push({ policy, rule, mode, status, message });
  const sources = tokenSources(spec, plan.apiAudiences);
  const mounted = mountedVolumeNames(spec);

  for (const v of plan.automount) {
    if (!v.disable) {
      r(v.policy, 'automount', 'pass', `API token allowed: ${v.reason}`);
      continue;
    }
    const carried = carriedApiTokens(sources, mounted);
    if (carried.length > 0) {
      r(v.policy, 'automount', 'fail', `${carried.join('; ')} but does not need API access`);
    } else r(v.policy, 'automount', 'pass', 'pod carries no API token');
  }

  if (plan.apiTokenMax) {
    const policy = plan.apiTokenMax.policies.join('+');
    for (const s of sources) {
      if (!s.isApiToken) continue;
      if (s.lifetimeSeconds > plan.apiTokenMax.value) {
        r(policy, 'api-token-expiration', 'fail', `API token ${s.volumeName} ${describeLifetime(s.expirationSeconds, s.lifetimeSeconds, plan.apiTokenMax.value)} > ${plan.apiTokenMax.value}`);
      } else r(policy, 'api-token-expiration', 'pass', `${s.volumeName}: expirationSeconds ${s.expirationSeconds}`);
    }
  }

  if (plan.bounds) {
    const b = plan.bounds;
    const policy = b.policies.join('+');
    if (b.min > b.max) r(policy, 'token-bounds', 'error', `bounds do not intersect: min ${b.min} > max ${b.max}`);
    for (const s of sources) {
      if (s.isPluginVolume) continue; // governed by apiTokenExpirationSeconds
      if (outside(s, b)) r(policy, 'token-bounds', 'fail', boundsFailure(s, b));
      else r(policy, 'token-bounds', 'pass', `${s.volumeName}: expirationSeconds ${s.expirationSeconds}`);
      const aud = audienceProblem(s.audience, b.audienceLists, plan.apiAudiences);
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

/**
 * Judges the ephemeral containers a `pods/ephemeralcontainers` UPDATE adds (`kubectl debug`):
 * none may mount a token volume the policies would not give it. The ServiceAccount plugin never
 * mounts into ephemeral containers, and the kubelet sets up a volume no container mounted once
 * one does (docs/tokens.md "Ephemeral containers"), so this is where a token withheld at
 * creation could be reached:
 * - a volume with a token for the API server, when the pod does not need API access;
 * - a volume a policy injects, when the container's name matches none of its `containers`.
 * The rest of the pod cannot change on this subresource and is not judged again.
 */
export function validateEphemeralContainers(pod: JsonObject, oldPod: JsonObject | undefined, plan: PodPlan, mode: Mode): RuleResult[] {
  const results: RuleResult[] = [];
  const spec = objectAt(pod, 'spec') ?? {};
  const before = new Set(objectsAt(objectAt(oldPod, 'spec'), 'ephemeralContainers').map((c) => stringAt(c, 'name') ?? ''));
  const added = objectsAt(spec, 'ephemeralContainers').filter((c) => !before.has(stringAt(c, 'name') ?? ''));
  if (added.length === 0) return results;
  const sources = tokenSources(spec, plan.apiAudiences);
  const volumes = objectsAt(spec, 'volumes');
  const withheld = plan.automount.filter((v) => v.disable);
  const policies = [...new Set([...plan.automount.map((v) => v.policy), ...plan.injections.map((i) => i.policy)])];
  if (policies.length === 0) return results;
  const failures: { policy: string; message: string }[] = [];
  for (const c of added) {
    const name = stringAt(c, 'name') ?? '';
    for (const m of objectsAt(c, 'volumeMounts')) {
      const vol = stringAt(m, 'name') ?? '';
      const api = sources.some((s) => s.volumeName === vol && s.isApiToken);
      for (const v of api ? withheld : []) {
        failures.push({ policy: v.policy, message: `ephemeral container ${name} mounts API token ${vol}, but the pod does not need API access` });
      }
      const volume = volumes.find((x) => stringAt(x, 'name') === vol);
      for (const inj of plan.injections) {
        if (inj.volumeName !== vol || !volume || !isInjectionVolume(volume, inj) || anyGlob(inj.containers, name)) continue;
        failures.push({
          policy: inj.policy,
          message: `ephemeral container ${name} mounts token ${vol} (audience ${inj.audience}), injected only into ${inj.containers.join(', ')}`,
        });
      }
    }
  }
  for (const f of failures) results.push({ policy: f.policy, rule: 'ephemeral-token', mode, status: 'fail', message: f.message });
  const names = added.map((c) => stringAt(c, 'name') ?? '').join(', ');
  for (const p of policies) {
    if (!failures.some((f) => f.policy === p)) results.push({ policy: p, rule: 'ephemeral-token', mode, status: 'pass', message: `ephemeral container(s) ${names} mount no withheld token` });
  }
  return results;
}

/**
 * Why an audience is not allowed, or undefined. Tokens for the API server (no audience, or one
 * of the API audiences) are always allowed: whether a pod may have one is the automount rule's
 * question.
 */
function audienceProblem(audience: string, lists: readonly (readonly string[])[], apiAudiences: readonly string[]): string | undefined {
  if (isApiAudience(audience, apiAudiences)) return undefined;
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
