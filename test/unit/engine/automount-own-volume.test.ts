/**
 * A pod that mounts an API-audience token in a volume of its own (not the ServiceAccount
 * plugin's kube-api-access-*), under DisableUnlessNeeded without a need: the mutating side does
 * not remove the author's volume, and says so as a failure; the validating side denies. Both
 * phases must agree, or /mutate would answer nothing and /validate deny without warning.
 */
import { evaluate } from '../../../src/engine/evaluate.js';
import type { JsonObject } from '../../../src/json.js';
import type { EngineInput } from '../../../src/engine/types.js';
import type { PolicyMode, TokenPolicy } from '../../../src/policy/types.js';
import { pod } from '../../helpers/pods.js';

const policy = (mode: PolicyMode): TokenPolicy => ({
  name: 'no-api-token',
  spec: { mode, automount: { action: 'DisableUnlessNeeded', needed: { annotation: 'tokenguard.dev/api-access' } } },
  source: { file: 'f.yaml', document: 1 },
});

/** A pod with its own volume `mytok` holding a token for the API server's audience (no audience set). */
function podWithOwnApiToken(plugin: boolean): JsonObject {
  const p = pod({
    plugin,
    extraVolumes: [
      { name: 'mytok', projected: { sources: [{ serviceAccountToken: { expirationSeconds: 3600, path: 'token' } }] } },
    ],
  });
  const container = (p.spec as { containers: JsonObject[] }).containers[0] as { volumeMounts: JsonObject[] };
  container.volumeMounts.push({ name: 'mytok', mountPath: '/var/run/mytok', readOnly: true });
  return p;
}

const input = (object: JsonObject): EngineInput => ({
  operation: 'CREATE',
  kind: 'Pod',
  subResource: '',
  object,
  oldObject: undefined,
  namespace: 'team-a',
  dryRun: false,
  name: '',
  user: undefined,
});

describe.each([true, false])('own API-token volume (plugin volume too: %s)', (plugin) => {
  test('Enforce: mutate keeps the volume and warns "not fixed"; validate denies', () => {
    const object = podWithOwnApiToken(plugin);
    const m = evaluate({ policies: [policy('Enforce')], input: input(object), facts: {}, phase: 'mutate' });
    const volumes = ((m.mutated ?? object).spec as { volumes: { name: string }[] }).volumes.map((v) => v.name);
    expect(volumes).toContain('mytok');
    expect(volumes.some((n) => n.startsWith('kube-api-access-'))).toBe(false);
    expect(m.results).toContainEqual(
      expect.objectContaining({ rule: 'automount', status: 'fail', message: expect.stringContaining('mytok') }),
    );
    expect(m.warnings.some((w) => w.includes('not fixed') && w.includes('mytok'))).toBe(true);
    const v = evaluate({
      policies: [policy('Enforce')],
      input: input(m.mutated ?? object),
      facts: {},
      phase: 'validate',
    });
    expect(v.allowed).toBe(false);
    expect(v.denials.join()).toContain('mytok');
  });

  test('Audit: both phases report it as "would deny", nothing is denied', () => {
    const m = evaluate({
      policies: [policy('Audit')],
      input: input(podWithOwnApiToken(plugin)),
      facts: {},
      phase: 'mutate',
    });
    expect(m.allowed).toBe(true);
    expect(m.warnings.some((w) => w.includes('would deny') && w.includes('mytok'))).toBe(true);
  });
});

test('a pod that needs API access keeps its own token volume without a finding', () => {
  const object = podWithOwnApiToken(true);
  (object.metadata as JsonObject).annotations = { 'tokenguard.dev/api-access': 'true' };
  const m = evaluate({ policies: [policy('Enforce')], input: input(object), facts: {}, phase: 'mutate' });
  expect(m.results.filter((r) => r.status === 'fail')).toEqual([]);
});
