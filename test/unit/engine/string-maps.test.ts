/**
 * The engine reads a pod's labels and annotations, and a Secret's annotations, in place: only
 * the keys a selector or rule names, however many the object carries. A valid review may hold
 * 130,000 labels within the replica limits; copying them cost a review about a second. Counted
 * here as work done (property reads of a counting proxy), not as time.
 */
import { evaluate } from '../../../src/engine/evaluate.js';
import type { EngineInput } from '../../../src/engine/types.js';
import { type JsonObject, stringIn } from '../../../src/json.js';
import type { PolicyMode, TokenPolicy, TokenPolicySpec } from '../../../src/policy/types.js';
import { pod } from '../../helpers/pods.js';

const policy = (name: string, mode: PolicyMode, spec: Omit<TokenPolicySpec, 'mode'>): TokenPolicy => ({
  name,
  spec: { mode, ...spec },
  source: { file: 'f.yaml', document: 1 },
});

const POLICIES = [
  policy('selected', 'Enforce', {
    match: {
      objectSelector: {
        matchLabels: { app: 'web' },
        matchExpressions: [
          { key: 'tier', operator: 'In', values: ['front'] },
          { key: 'zone', operator: 'DoesNotExist' },
        ],
      },
    },
    automount: { action: 'DisableUnlessNeeded', needed: { annotation: 'tokenguard.dev/api-access' } },
  }),
  policy('secrets', 'Enforce', { legacyTokenSecrets: { action: 'Deny' } }),
];

/** A map of `size` entries behind a proxy that counts every read and every enumeration. */
function countedMap(size: number, extra: Record<string, string>) {
  const counts = { reads: 0, enumerations: 0 };
  const target: Record<string, string> = {
    ...Object.fromEntries(Array.from({ length: size }, (_, i) => [`k${i.toString(36)}`, ''])),
    ...extra,
  };
  const map = new Proxy(target, {
    get: (t, k) => {
      counts.reads += 1;
      return Reflect.get(t, k);
    },
    getOwnPropertyDescriptor: (t, k) => {
      counts.reads += 1;
      return Reflect.getOwnPropertyDescriptor(t, k);
    },
    has: (t, k) => {
      counts.reads += 1;
      return Reflect.has(t, k);
    },
    ownKeys: (t) => {
      counts.enumerations += 1;
      return Reflect.ownKeys(t);
    },
  });
  return { map: map as unknown as JsonObject, counts };
}

const input = (object: JsonObject, kind: 'Pod' | 'Secret'): EngineInput => ({
  operation: 'CREATE',
  kind,
  subResource: '',
  object,
  oldObject: undefined,
  namespace: 'team-a',
  dryRun: false,
});

test.each(['mutate', 'validate'] as const)(
  "%s: a pod's 130,000 labels and annotations are read only at the keys the policies name",
  (phase) => {
    const labels = countedMap(130_000, { app: 'web', tier: 'front' });
    const annotations = countedMap(130_000, { 'tokenguard.dev/api-access': 'true' });
    const p = pod({ name: 'many' });
    p.metadata = { ...(p.metadata as JsonObject), labels: labels.map, annotations: annotations.map };
    const r = evaluate({ policies: POLICIES, input: input(p, 'Pod'), facts: {}, phase });
    // The policy matched (labels read right) and the annotation kept the token (annotations read right).
    expect(r.results.filter((x) => x.rule === 'automount')).toEqual([
      expect.objectContaining({ status: 'pass', policies: ['selected'] }),
    ]);
    expect(labels.counts.enumerations).toBe(0);
    expect(annotations.counts.enumerations).toBe(0);
    expect(labels.counts.reads).toBeLessThan(20);
    expect(annotations.counts.reads).toBeLessThan(20);
  },
);

test("a Secret's 130,000 annotations are read only at the ServiceAccount name annotation", () => {
  const annotations = countedMap(130_000, { 'kubernetes.io/service-account.name': 'ci' });
  const secret: JsonObject = {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'kubernetes.io/service-account-token',
    metadata: { name: 's', namespace: 'team-a', annotations: annotations.map },
  };
  const r = evaluate({ policies: POLICIES, input: input(secret, 'Secret'), facts: {}, phase: 'validate' });
  expect(r.allowed).toBe(false);
  expect(annotations.counts.enumerations).toBe(0);
  expect(annotations.counts.reads).toBeLessThan(20);
});

test('stringIn reads own string values only, as the copy it replaces kept them', () => {
  const map = JSON.parse('{"a":"1","n":2,"__proto__":"x"}') as JsonObject;
  expect(stringIn(map, 'a')).toBe('1');
  expect(stringIn(map, 'n')).toBeUndefined();
  expect(stringIn(map, '__proto__')).toBeUndefined();
  expect(stringIn(map, 'constructor')).toBeUndefined();
  expect(stringIn(map, 'missing')).toBeUndefined();
  expect(stringIn(undefined, 'a')).toBeUndefined();
});
