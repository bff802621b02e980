/**
 * Rule `inject-token` (`projectedTokens.inject`): the projected tokens a policy asks for are
 * mounted in the containers it names. An injection is satisfied when a container already sees a
 * token of that audience and path at the mount path, whatever the volume is called.
 */
import type { TokenInjection, TokenPolicy } from '../../policy/types.js';
import {
  API_TOKEN_VOLUME_PREFIX,
  DEFAULT_PROJECTED_EXPIRATION_SECONDS,
  PROJECTED_DEFAULT_MODE,
} from '../../constants.js';
import { anyGlob } from '../../glob.js';
import { isObject, type JsonObject, objectAt, objectsAt, stringAt } from '../../json.js';
import { boundedExpiration, isApiAudience, podBoundLifetime } from '../api-token.js';
import { allContainers, arrayField, writableContainer } from '../pod.js';
import type { RuleMode, RuleResult } from '../types.js';
import type { PlannedBounds } from './bounds.js';

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

/** An injection skipped because an earlier policy (in name order) claimed its volume name with other content. */
export interface InjectionConflict {
  /** The policy whose injection was skipped. */
  readonly policy: string;
  readonly volumeName: string;
  /** The policy whose injection of that volume name stands. */
  readonly claimedBy: string;
}

export interface InjectionPlan {
  readonly injections: readonly PlannedInjection[];
  readonly conflicts: readonly InjectionConflict[];
}

// ---------------------------------------------------------------------------------------------
// Plan
// ---------------------------------------------------------------------------------------------

/**
 * Every injection of `policies` (given in name order), defaults filled in. The same volume name
 * claimed again with the same content is one injection; with other content it is a conflict,
 * and the later one is skipped.
 */
export function planInjections(policies: readonly TokenPolicy[]): InjectionPlan {
  const injections: PlannedInjection[] = [];
  const conflicts: InjectionConflict[] = [];
  for (const p of policies) {
    for (const inj of p.spec.projectedTokens?.inject ?? []) {
      const planned = withDefaults(p.name, inj);
      const same = injections.find((i) => i.volumeName === planned.volumeName);
      if (!same) injections.push(planned);
      else if (!sameContent(same, planned))
        conflicts.push({ policy: p.name, volumeName: planned.volumeName, claimedBy: same.policy });
    }
  }
  return { injections, conflicts };
}

function withDefaults(policy: string, inj: TokenInjection): PlannedInjection {
  return { policy, ...injectionWithDefaults(inj) };
}

/** An injection as the rule carries it out: every field a policy may leave out given its default. */
export function injectionWithDefaults(inj: TokenInjection): Omit<PlannedInjection, 'policy'> {
  return {
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

/** The `warn` outcome of each conflict, the same in both phases. */
function conflictResults(conflicts: readonly InjectionConflict[], mode: RuleMode): RuleResult[] {
  return conflicts.map((c) => ({
    policies: [c.policy],
    rule: 'inject-token',
    mode,
    status: 'warn',
    message: `volume "${c.volumeName}" is already injected by policy ${c.claimedBy} with different content; skipped`,
  }));
}

// ---------------------------------------------------------------------------------------------
// Mutate
// ---------------------------------------------------------------------------------------------

export interface MutateInjectionsArgs {
  /** The spec of the edit copy (`podEditCopy`). */
  readonly spec: JsonObject;
  readonly plan: InjectionPlan;
  /** The composed bounds: an injected token's expiration is clamped into them. */
  readonly bounds: PlannedBounds | undefined;
  readonly apiAudiences: readonly string[];
  readonly mode: RuleMode;
}

/**
 * Injects each token into every target container. On a clash nothing is changed for that
 * container and the rule fails (the validating side then denies the pod):
 * - the volume name is taken by a volume that is not this very token: no volume, no mounts;
 * - the container already mounts something else at the mount path: that container is skipped.
 */
export function mutateInjections({ spec, plan, bounds, apiAudiences, mode }: MutateInjectionsArgs): RuleResult[] {
  const results = conflictResults(plan.conflicts, mode);
  for (const inj of plan.injections) {
    const expiration = bounds ? injectedExpiration(inj, bounds, apiAudiences) : inj.expirationSeconds;
    for (const msg of inject(spec, inj, expiration)) {
      results.push({ policies: [inj.policy], rule: 'inject-token', mode, status: msg.status, message: msg.message });
    }
  }
  return results;
}

/** An injection's expiration, clamped so that the token it mints lives within the bounds. */
function injectedExpiration(inj: PlannedInjection, b: PlannedBounds, apiAudiences: readonly string[]): number {
  if (b.min > b.max) return inj.expirationSeconds;
  const lifetime = podBoundLifetime(inj.expirationSeconds, [inj.audience], apiAudiences);
  if (lifetime >= b.min && lifetime <= b.max) return inj.expirationSeconds;
  return (
    boundedExpiration(inj.expirationSeconds, b.min, b.max, isApiAudience(inj.audience, apiAudiences)) ??
    inj.expirationSeconds
  );
}

function inject(
  spec: JsonObject,
  inj: PlannedInjection,
  expiration: number,
): { status: RuleResult['status']; message: string }[] {
  const out: { status: RuleResult['status']; message: string }[] = [];
  const targets = injectionTargets(spec, inj).filter((c) => !satisfied(spec, c, inj));
  if (targets.length === 0) {
    if (injectionTargets(spec, inj).length > 0)
      out.push({ status: 'pass', message: `token "${inj.volumeName}" already mounted` });
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
    arrayField(writableContainer(spec, c), 'volumeMounts').push({
      name: inj.volumeName,
      mountPath: inj.mountPath,
      readOnly: true,
    });
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

// ---------------------------------------------------------------------------------------------
// Validate
// ---------------------------------------------------------------------------------------------

export interface ValidateInjectionsArgs {
  readonly spec: JsonObject;
  readonly plan: InjectionPlan;
  readonly mode: RuleMode;
}

/** Fails for every injection some target container lacks, however the pod came to lack it. */
export function validateInjections({ spec, plan, mode }: ValidateInjectionsArgs): RuleResult[] {
  const results = conflictResults(plan.conflicts, mode);
  for (const inj of plan.injections) {
    const missing = injectionTargets(spec, inj)
      .filter((c) => !satisfied(spec, c, inj))
      .map((c) => c.name);
    const r = (status: RuleResult['status'], message: string) =>
      results.push({ policies: [inj.policy], rule: 'inject-token', mode, status, message });
    if (missing.length > 0)
      r('fail', `token ${inj.volumeName} (audience ${inj.audience}) missing in container(s) ${missing.join(', ')}`);
    else r('pass', `token "${inj.volumeName}" mounted`);
  }
  return results;
}

/** Init and regular containers whose names match the injection's globs (ephemeral ones are never targets). */
function injectionTargets(spec: JsonObject, inj: PlannedInjection) {
  return allContainers(spec).filter((c) => c.field !== 'ephemeralContainers' && anyGlob(inj.containers, c.name));
}

/** True when the volume is exactly an injection of this token (the expiration may differ: bounds may clamp it). */
export function isInjectionVolume(volume: JsonObject, inj: PlannedInjection): boolean {
  const sources = objectAt(volume, 'projected')?.sources;
  if (!Array.isArray(sources) || sources.length !== 1 || !isObject(sources[0])) return false;
  const t = objectAt(sources[0], 'serviceAccountToken');
  return (
    t !== undefined && (stringAt(t, 'audience') ?? '') === inj.audience && (stringAt(t, 'path') ?? '') === inj.path
  );
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
        return (
          t !== undefined &&
          (stringAt(t, 'audience') ?? '') === inj.audience &&
          (stringAt(t, 'path') ?? '') === inj.path
        );
      })
    );
  });
}
