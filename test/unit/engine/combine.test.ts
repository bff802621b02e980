/**
 * Two policies that cannot both be satisfied: the engine says so, whatever the file order,
 * instead of picking one silently.
 */
import { evaluate } from '../../../src/engine/evaluate.js';
import type { JsonObject } from '../../../src/json.js';
import type { EngineInput } from '../../../src/engine/types.js';
import type { TokenPolicy, TokenPolicySpec } from '../../../src/policy/types.js';
import { pod } from '../../helpers/pods.js';

const policy = (name: string, spec: Omit<TokenPolicySpec, 'mode'>): TokenPolicy => ({
  name,
  spec: { mode: 'Enforce', ...spec },
  source: { file: `${name}.yaml`, document: 1 },
});
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
const inject = (audience: string) => ({
  volumeName: 'vault-token',
  audience,
  expirationSeconds: 3600,
  mountPath: '/var/run/secrets/vault',
  containers: ['*'],
});

test('the same volume injected with different content by two policies: the first by name wins, the other is reported', () => {
  const a = policy('a-vault', { projectedTokens: { inject: [inject('vault')] } });
  const b = policy('b-vault', { projectedTokens: { inject: [inject('vault-prod')] } });
  for (const policies of [
    [a, b],
    [b, a],
  ]) {
    const r = evaluate({ policies, input: input(pod()), facts: {}, phase: 'mutate' });
    const spec = r.mutated?.spec as { volumes: JsonObject[] } | undefined;
    const volumes = (spec?.volumes ?? []).filter((v) => v.name === 'vault-token');
    expect(volumes).toHaveLength(1);
    expect(JSON.stringify(volumes[0])).toContain('"audience":"vault"');
    expect(r.warnings).toContainEqual(
      expect.stringContaining(
        'b-vault: volume "vault-token" is already injected by policy a-vault with different content; skipped',
      ),
    );
  }
});

test('bounds that do not intersect are an error in both phases: the mutate side warns, the validate side denies', () => {
  const long = pod({
    extraVolumes: [
      {
        name: 'sts',
        projected: { sources: [{ serviceAccountToken: { audience: 'sts', expirationSeconds: 5000, path: 'token' } }] },
      },
    ],
  });
  const policies = [
    policy('min-2h', { projectedTokens: { bounds: { minExpirationSeconds: 7200 } } }),
    policy('max-1h', { projectedTokens: { bounds: { maxExpirationSeconds: 3600 } } }),
  ];
  const m = evaluate({ policies, input: input(long), facts: {}, phase: 'mutate' });
  expect(m.results).toContainEqual(
    expect.objectContaining({
      rule: 'token-bounds',
      status: 'error',
      message: 'bounds do not intersect: min 7200 > max 3600',
    }),
  );
  expect(m.warnings.some((w) => w.includes('not fixed') && w.includes('bounds do not intersect'))).toBe(true);
  const v = evaluate({ policies, input: input(long), facts: {}, phase: 'validate' });
  expect(v.allowed).toBe(false);
  expect(v.denials.join()).toContain('bounds do not intersect');
});
