/**
 * The engine edits pods on a copy-on-write copy that shares everything the rules do not change
 * with the input (`podEditCopy` and its write helpers, src/engine/pod.ts). These tests run every
 * pod rule that writes on a deeply frozen pod: a write that bypasses the helpers throws (ES
 * modules are strict), instead of silently changing the caller's object and dropping an
 * operation from the patch.
 */
import { DEFAULT_API_AUDIENCES } from '../../../src/constants.js';
import fastJsonPatch from 'fast-json-patch';
import { diff } from '../../../src/engine/diff.js';
import { evaluate } from '../../../src/engine/evaluate.js';
import { cloneJson, type JsonObject } from '../../../src/json.js';
import { allContainers, podEditCopy, tokenSources, writableContainer, writableToken } from '../../../src/engine/pod.js';
import type { EngineInput } from '../../../src/engine/types.js';
import type { PolicyMode, TokenPolicy, TokenPolicySpec } from '../../../src/policy/types.js';
import { pod } from '../../helpers/pods.js';

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

const policy = (name: string, mode: PolicyMode, spec: Omit<TokenPolicySpec, 'mode'>): TokenPolicy => ({
  name,
  spec: { mode, ...spec },
  source: { file: 'f.yaml', document: 1 },
});

const RULES: Record<string, Omit<TokenPolicySpec, 'mode'>> = {
  automount: { automount: { action: 'DisableUnlessNeeded', needed: { annotation: 'tokenguard.dev/api-access' } } },
  apiToken: { projectedTokens: { apiTokenExpirationSeconds: 600 } },
  inject: {
    projectedTokens: {
      inject: [
        {
          volumeName: 'vault-token',
          audience: 'vault',
          expirationSeconds: 3600,
          mountPath: '/var/run/secrets/tokens/vault',
          containers: ['*'],
        },
      ],
    },
  },
  bounds: { projectedTokens: { bounds: { maxExpirationSeconds: 7200, onViolation: 'Mutate' } } },
};

/** Pods that make each rule write: a long user token, a container without volumeMounts, a spec without volumes. */
function pods(): [string, JsonObject][] {
  const longToken = {
    name: 'sts',
    projected: { sources: [{ serviceAccountToken: { audience: 'sts', expirationSeconds: 172800, path: 'token' } }] },
  };
  const typical = pod({
    labels: { app: 'web' },
    initContainers: ['init'],
    containers: ['app', 'sidecar'],
    extraVolumes: [longToken],
  });
  const noMounts = pod({ containers: ['app', 'bare'] });
  delete ((noMounts.spec as JsonObject).containers as JsonObject[])[1]?.volumeMounts;
  const noVolumes = pod({ plugin: false, containers: ['app'] });
  delete (noVolumes.spec as JsonObject).volumes;
  return [
    ['typical', typical],
    ['container without volumeMounts', noMounts],
    ['spec without volumes', noVolumes],
  ];
}

const input = (object: JsonObject): EngineInput => ({
  operation: 'CREATE',
  kind: 'Pod',
  subResource: '',
  object,
  oldObject: undefined,
  namespace: 'team-a',
  dryRun: false,
});

const combos: [string, TokenPolicy[]][] = [];
for (const [rule, spec] of Object.entries(RULES)) {
  combos.push([`${rule} (Enforce)`, [policy(rule, 'Enforce', spec)]]);
  combos.push([`${rule} (Audit)`, [policy(rule, 'Audit', spec)]]);
}
combos.push(['every rule Enforce', Object.entries(RULES).map(([n, s]) => policy(n, 'Enforce', s))]);
combos.push([
  'inject + bounds Enforce, automount + apiToken Audit',
  [
    policy('inject', 'Enforce', RULES.inject!),
    policy('bounds', 'Enforce', RULES.bounds!),
    policy('automount', 'Audit', RULES.automount!),
    policy('apiToken', 'Audit', RULES.apiToken!),
  ],
]);
combos.push([
  'apiToken + bounds Enforce, inject Audit',
  [
    policy('apiToken', 'Enforce', RULES.apiToken!),
    policy('bounds', 'Enforce', RULES.bounds!),
    policy('inject', 'Audit', RULES.inject!),
  ],
]);

describe.each(pods())('%s pod', (_name, original) => {
  test.each(combos)(
    '%s: no write reaches the frozen input; the patch is the one a full copy gives',
    (_combo, policies) => {
      const frozen = deepFreeze(cloneJson(original));
      const result = evaluate({ policies, input: input(frozen), facts: {}, phase: 'mutate' });
      expect(frozen).toEqual(original);
      if (result.mutated) {
        const ops = diff(frozen, result.mutated);
        // The same comparison on unshared copies: sharing must not change a single operation.
        expect(ops).toEqual(fastJsonPatch.compare(cloneJson(original), cloneJson(result.mutated)));
        expect(
          fastJsonPatch.applyPatch(cloneJson(original), ops as fastJsonPatch.Operation[], true, false).newDocument,
        ).toEqual(result.mutated);
      }
      for (const op of result.auditPatch) expect(op.path.startsWith('/spec/')).toBe(true);
    },
  );
});

test('podEditCopy copies the pod, the spec and its arrays; the write helpers copy the path they return', () => {
  const p = pod({
    initContainers: ['init'],
    containers: ['app'],
    extraVolumes: [{ name: 'cfg', configMap: { name: 'c' } }],
  });
  const c = podEditCopy(p);
  expect(c).toEqual(p);
  expect(c).not.toBe(p);
  expect(c.metadata).toBe(p.metadata);
  const [spec, copySpec] = [p.spec as JsonObject, c.spec as JsonObject];
  expect(copySpec).not.toBe(spec);
  expect(Object.keys(copySpec)).toEqual(Object.keys(spec));
  for (const field of ['volumes', 'initContainers', 'containers'] as const) {
    expect(copySpec[field]).not.toBe(spec[field]);
    (copySpec[field] as JsonObject[]).forEach((item, i) => {
      expect(item).toBe((spec[field] as JsonObject[])[i]);
    });
  }

  const [source] = tokenSources(copySpec, DEFAULT_API_AUDIENCES);
  writableToken(copySpec, source!).expirationSeconds = 600;
  const [volumes, copyVolumes] = [spec.volumes as JsonObject[], copySpec.volumes as JsonObject[]];
  expect(copyVolumes[0]).toBe(volumes[0]);
  expect(copyVolumes[1]).not.toBe(volumes[1]);
  expect(JSON.stringify(volumes[1])).toContain('3607');
  expect(diff(p, c)).toEqual([
    { op: 'replace', path: '/spec/volumes/1/projected/sources/0/serviceAccountToken/expirationSeconds', value: 600 },
  ]);
  // The other sources of the projection are still shared.
  expect(((copyVolumes[1]!.projected as JsonObject).sources as JsonObject[])[1]).toBe(
    ((volumes[1]!.projected as JsonObject).sources as JsonObject[])[1],
  );

  const app = allContainers(copySpec).find((x) => x.name === 'app')!;
  (writableContainer(copySpec, app).volumeMounts as JsonObject[]).push({ name: 'cfg', mountPath: '/cfg' });
  expect((copySpec.containers as JsonObject[])[0]).not.toBe((spec.containers as JsonObject[])[0]);
  expect((copySpec.initContainers as JsonObject[])[0]).toBe((spec.initContainers as JsonObject[])[0]);
  expect(((spec.containers as JsonObject[])[0]!.volumeMounts as JsonObject[]).length).toBe(1);
  expect(() => writableContainer(copySpec, app)).toThrow(/stale reference/);
});
