/**
 * `automount.needed.observedWithin`: a pod's ServiceAccount needs its token when the audit log
 * showed one of its tokens in use within the window before now. The now comes in with the
 * facts (the engine reads no clock); the reason names the evidence that decided.
 */
import { evaluate } from '../../../src/engine/evaluate.js';
import type { ClusterFacts, EngineInput, ObservedUse } from '../../../src/engine/types.js';
import type { AutomountNeeded, TokenPolicy } from '../../../src/policy/types.js';
import { pod } from '../../helpers/pods.js';

const HOUR = 3600_000;
const DAY = 24 * HOUR;
const NOW = Date.parse('2026-12-07T12:00:00Z');

const policy = (needed: AutomountNeeded): TokenPolicy => ({
  name: 'observed',
  spec: { mode: 'Enforce', automount: { action: 'DisableUnlessNeeded', needed } },
  source: { file: 'f.yaml', document: 1 },
});

const input: EngineInput = {
  operation: 'CREATE',
  kind: 'Pod',
  subResource: '',
  object: pod({ plugin: true }),
  oldObject: undefined,
  namespace: 'team-a',
  dryRun: false,
  name: '',
  user: undefined,
};

function facts(
  observed: ObservedUse | undefined,
  extra: Partial<ClusterFacts['serviceAccount']> = {},
  now: number | null = NOW,
): ClusterFacts {
  return {
    serviceAccount: {
      namespace: 'team-a',
      name: 'default',
      annotations: {},
      ...(observed ? { observed } : {}),
      ...extra,
    },
    ...(now !== null ? { now } : {}),
  };
}

function automount(needed: AutomountNeeded, f: ClusterFacts) {
  const m = evaluate({ policies: [policy(needed)], input, facts: f, phase: 'mutate' });
  const r = m.results.find((x) => x.rule === 'automount');
  return { kept: m.mutated === undefined, message: r?.message ?? '' };
}

const within30 = { observedWithin: '30d' };
const covered = (lastSeen?: number): ObservedUse => ({
  from: NOW - 40 * DAY,
  to: NOW - HOUR,
  ...(lastSeen !== undefined ? { lastSeen } : {}),
});

test('seen within the window: kept, because of observed use', () => {
  expect(automount(within30, facts(covered(NOW - 2 * HOUR)))).toEqual({
    kept: true,
    message: 'API token kept: ServiceAccount team-a/default used a token 2h ago (observed use within 30d)',
  });
});

test('not seen in a log that covers the whole window: the token goes, and the reason says so', () => {
  const r = automount(within30, facts(covered(NOW - 35 * DAY)));
  expect(r.kept).toBe(false);
  expect(r.message).toBe(
    'removed API token kube-api-access-x7k2p (1 mount), automount off: API access not needed: ServiceAccount team-a/default used no token in the last 30d of audit log (observed use)',
  );
  expect(automount(within30, facts(covered())).kept).toBe(false);
});

test.each([
  [
    'no audit log facts',
    facts(undefined),
    "use of ServiceAccount team-a/default's tokens is unknown (no audit log facts)",
  ],
  [
    'no clock (facts without now)',
    facts(covered(), {}, null),
    "use of ServiceAccount team-a/default's tokens is unknown (no audit log facts)",
  ],
  [
    'a log that begins inside the window',
    facts({ from: NOW - 3 * DAY, to: NOW - HOUR }),
    'the audit log covers only the last 3d of the 30d of observedWithin for ServiceAccount team-a/default',
  ],
  [
    'a log that ended before the window began',
    facts({ from: NOW - 90 * DAY, to: NOW - 31 * DAY }),
    'the audit log ends 31d ago, before the 30d of observedWithin',
  ],
])('unknown (%s): whenUnknown decides, default keep', (_name, f, why) => {
  expect(automount(within30, f)).toEqual({ kept: true, message: `API token kept: ${why}; kept (whenUnknown: Needed)` });
  const strict = automount({ ...within30, whenUnknown: 'NotNeeded' }, f);
  expect(strict.kept).toBe(false);
  expect(strict.message).toContain(`API access not needed: ${why} (whenUnknown: NotNeeded)`);
});

test('any one rule is enough: an annotation, the list or a binding keeps the token of a ServiceAccount not seen', () => {
  const notSeen = covered(NOW - 35 * DAY);
  expect(
    automount(
      { ...within30, annotation: 'tokenguard.dev/api-access' },
      facts(notSeen, { annotations: { 'tokenguard.dev/api-access': 'true' } }),
    ).message,
  ).toBe('API token kept: ServiceAccount team-a/default annotation tokenguard.dev/api-access=true');
  expect(automount({ ...within30, serviceAccounts: ['team-a/*'] }, facts(notSeen)).message).toBe(
    'API token kept: ServiceAccount team-a/default is listed as needing API access',
  );
  expect(
    automount({ ...within30, rbacBound: true }, facts(notSeen, { bound: true, boundBy: ['RoleBinding team-a/view'] }))
      .message,
  ).toBe('API token kept: ServiceAccount team-a/default is bound by RBAC (RoleBinding team-a/view)');
  // Observed use keeps a token that the binding rule alone would remove.
  expect(automount({ ...within30, rbacBound: true }, facts(covered(NOW - HOUR), { bound: false })).message).toBe(
    'API token kept: ServiceAccount team-a/default used a token 1h ago (observed use within 30d)',
  );
  // Unknown bindings and a log that shows no use: the unknown still keeps it (whenUnknown: Needed).
  expect(automount({ ...within30, rbacBound: true }, facts(notSeen)).message).toBe(
    'API token kept: RBAC bindings of ServiceAccount team-a/default are unknown; kept (whenUnknown: Needed)',
  );
});

test('validating side agrees: a pod that keeps its token is allowed, one that loses it is denied while it still carries one', () => {
  const seen = evaluate({ policies: [policy(within30)], input, facts: facts(covered(NOW - HOUR)), phase: 'validate' });
  expect(seen.allowed).toBe(true);
  const unseen = evaluate({ policies: [policy(within30)], input, facts: facts(covered()), phase: 'validate' });
  expect(unseen.allowed).toBe(false);
  expect(unseen.denials.join()).toContain('does not need API access');
});
