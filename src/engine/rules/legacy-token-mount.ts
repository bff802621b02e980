/**
 * Rule `legacy-token-mount` (`legacyTokenSecrets.mountedTokens`, default `Warn`): a pod that
 * mounts a legacy ServiceAccount token Secret (type `kubernetes.io/service-account-token`)
 * through a `secret` volume or a projected volume's `secret` source, or reads one through
 * `env[].valueFrom.secretKeyRef` or `envFrom[].secretRef`, in any container: it carries a token
 * that never expires. Judged on pod CREATE, and on the new ephemeral containers of a
 * `pods/ephemeralcontainers` UPDATE (validate).
 *
 * Which Secrets are token Secrets is a fact (`ClusterFacts.tokenSecrets`): only their names and
 * ServiceAccounts, never their data. A Secret not known to be one is not reported, so without
 * that fact the rule says nothing (docs/decisions.md "Legacy token mounts").
 */
import { byName, type TokenPolicy } from '../../policy/types.js';
import { type JsonObject, objectAt, objectsAt, stringAt } from '../../json.js';
import { serviceAccountPatternMatches } from '../match.js';
import { envTokenMessage, volumeTokenMessage } from '../messages.js';
import { describeUse, type SecretUse, secretUses } from '../secret-uses.js';
import type { RuleMode, RuleResult } from '../types.js';

/** The ways a pod takes a token out of a Secret into a container. */
const TOKEN_USES: ReadonlySet<SecretUse['kind']> = new Set(['volume', 'projected', 'env', 'envFrom']);

export interface ValidateTokenMountsArgs {
  readonly pod: JsonObject;
  /** The old pod of a `pods/ephemeralcontainers` UPDATE: then only the ephemeral containers it lacks are judged. */
  readonly oldPod?: JsonObject | undefined;
  readonly namespace: string;
  /** The token Secrets of the pod's namespace: name to the ServiceAccount it names ('' for none). */
  readonly tokenSecrets: ReadonlyMap<string, string> | undefined;
  /** The matching policies of one mode. */
  readonly policies: readonly TokenPolicy[];
  readonly mode: RuleMode;
}

/**
 * One result per use of a token Secret, per policy with `legacyTokenSecrets`: `fail` under
 * `Deny` (an Enforce policy denies, an Audit one warns), `warn` under `Warn`, nothing under
 * `Ignore`. A token Secret of an exempt ServiceAccount (`exemptServiceAccounts`, which allows
 * creating such Secrets) is still a never-expiring token in a pod: it is warned about, never denied.
 */
export function validateTokenMounts({
  pod,
  oldPod,
  namespace,
  tokenSecrets,
  policies,
  mode,
}: ValidateTokenMountsArgs): RuleResult[] {
  if (!tokenSecrets || tokenSecrets.size === 0) return [];
  const judged = [...policies]
    .sort(byName)
    .filter((p) => p.spec.legacyTokenSecrets && (p.spec.legacyTokenSecrets.mountedTokens ?? 'Warn') !== 'Ignore');
  if (judged.length === 0) return [];
  let uses = secretUses(objectAt(pod, 'spec') ?? {}, (name) => tokenSecrets.has(name)).filter((u) =>
    TOKEN_USES.has(u.kind),
  );
  if (oldPod !== undefined) {
    const before = new Set(
      objectsAt(objectAt(oldPod, 'spec'), 'ephemeralContainers').map(
        (c) => `ephemeralContainers/${stringAt(c, 'name') ?? ''}`,
      ),
    );
    uses = uses.filter((u) => u.container?.startsWith('ephemeralContainers/') && !before.has(u.container));
  }
  if (uses.length === 0) return [];
  const results: RuleResult[] = [];
  for (const p of judged) {
    const spec = p.spec.legacyTokenSecrets!;
    const deny = (spec.mountedTokens ?? 'Warn') === 'Deny';
    for (const u of uses) {
      const sa = tokenSecrets.get(u.secret) ?? '';
      const exempt =
        sa !== '' &&
        (spec.exemptServiceAccounts ?? []).some(
          (x) => x.includes('/') && serviceAccountPatternMatches(x, namespace, sa),
        );
      results.push({
        policies: [p.name],
        rule: 'legacy-token-mount',
        mode,
        status: deny && !exempt ? 'fail' : 'warn',
        message: tokenMountMessage(u),
      });
    }
  }
  return results;
}

/**
 * `legacy token Secret app-token is mounted through volume tok at /var/run/tok in containers/app: ...`,
 * in the words of scan's plan. Short, since the API server cuts a warning at 120 characters.
 */
export function tokenMountMessage(u: SecretUse): string {
  const label = `legacy token Secret ${u.secret}`;
  return u.kind === 'env' || u.kind === 'envFrom'
    ? envTokenMessage(label, describeUse(u))
    : volumeTokenMessage(label, describeUse(u));
}
