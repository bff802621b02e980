/**
 * Rule `ephemeral-token`: the ephemeral containers a `pods/ephemeralcontainers` UPDATE adds
 * (`kubectl debug`) mount no token volume the policies would not give them. The ServiceAccount
 * plugin never mounts into ephemeral containers, and the kubelet sets up a volume no container
 * mounted once one does (docs/tokens.md "Ephemeral containers"), so this is where a token
 * withheld at creation could be reached:
 * - a volume with a token for the API server, when the pod does not need API access;
 * - a volume a policy injects, when the container's name matches none of its `containers`.
 * The rest of the pod cannot change on this subresource and is not judged again. Validate only:
 * nothing is mutated on an UPDATE.
 */
import { anyGlob } from '../../glob.js';
import { type JsonObject, objectAt, objectsAt, stringAt } from '../../json.js';
import { tokenSources } from '../pod.js';
import type { RuleMode, RuleResult } from '../types.js';
import type { AutomountVerdict } from './automount.js';
import { isInjectionVolume, type PlannedInjection } from './inject.js';

export interface ValidateEphemeralArgs {
  readonly pod: JsonObject;
  readonly oldPod: JsonObject | undefined;
  readonly verdicts: readonly AutomountVerdict[];
  readonly injections: readonly PlannedInjection[];
  readonly apiAudiences: readonly string[];
  readonly mode: RuleMode;
}

/** One result per failure, then a pass for every policy (automount or injection) without one. */
export function validateEphemeralContainers({
  pod,
  oldPod,
  verdicts,
  injections,
  apiAudiences,
  mode,
}: ValidateEphemeralArgs): RuleResult[] {
  const results: RuleResult[] = [];
  const spec = objectAt(pod, 'spec') ?? {};
  const before = new Set(
    objectsAt(objectAt(oldPod, 'spec'), 'ephemeralContainers').map((c) => stringAt(c, 'name') ?? ''),
  );
  const added = objectsAt(spec, 'ephemeralContainers').filter((c) => !before.has(stringAt(c, 'name') ?? ''));
  if (added.length === 0) return results;
  const sources = tokenSources(spec, apiAudiences);
  const volumes = objectsAt(spec, 'volumes');
  const withheld = verdicts.filter((v) => v.disable);
  const policies = [...new Set([...verdicts.map((v) => v.policy), ...injections.map((i) => i.policy)])];
  if (policies.length === 0) return results;
  const failures: { policy: string; message: string }[] = [];
  for (const c of added) {
    const name = stringAt(c, 'name') ?? '';
    for (const m of objectsAt(c, 'volumeMounts')) {
      const vol = stringAt(m, 'name') ?? '';
      const api = sources.some((s) => s.volumeName === vol && s.isApiToken);
      for (const v of api ? withheld : []) {
        failures.push({
          policy: v.policy,
          message: `ephemeral container ${name} mounts API token ${vol}, but the pod does not need API access`,
        });
      }
      const volume = volumes.find((x) => stringAt(x, 'name') === vol);
      for (const inj of injections) {
        if (inj.volumeName !== vol || !volume || !isInjectionVolume(volume, inj) || anyGlob(inj.containers, name))
          continue;
        failures.push({
          policy: inj.policy,
          message: `ephemeral container ${name} mounts token ${vol} (audience ${inj.audience}), injected only into ${inj.containers.join(', ')}`,
        });
      }
    }
  }
  for (const f of failures)
    results.push({ policies: [f.policy], rule: 'ephemeral-token', mode, status: 'fail', message: f.message });
  const names = added.map((c) => stringAt(c, 'name') ?? '').join(', ');
  for (const p of policies) {
    if (!failures.some((f) => f.policy === p)) {
      results.push({
        policies: [p],
        rule: 'ephemeral-token',
        mode,
        status: 'pass',
        message: `ephemeral container(s) ${names} mount no withheld token`,
      });
    }
  }
  return results;
}
