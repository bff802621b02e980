import fc from 'fast-check';
import fastJsonPatch from 'fast-json-patch';
import { handleReview } from '../../src/admission/review.js';
import type { JsonObject } from '../../src/json.js';
import { staticFacts } from '../../src/facts/static.js';
import type { TokenPolicy, TokenPolicySpec } from '../../src/policy/types.js';
import { podProblems } from '../helpers/pod-validation.js';
import { apiTokenVolume, review } from '../helpers/pods.js';

const RUNS = Number(process.env.PROPERTY_RUNS ?? 300);

const name = fc.constantFrom('app', 'web', 'sidecar', 'init', 'proxy', 'worker');
const audience = fc.constantFrom('vault', 'sts.amazonaws.com', 'evil', 'api');
/** A user token's audience: also none, or the API server's own, spelled out (both API tokens). */
const tokenAudience = fc.constantFrom<string | undefined>(
  'vault',
  'sts.amazonaws.com',
  'evil',
  'api',
  undefined,
  'https://kubernetes.default.svc.cluster.local',
);
const expiration = fc.constantFrom(undefined, 600, 1200, 3600, 3607, 7200, 86400, 604800);
const mountPath = fc.constantFrom(
  '/var/run/secrets/tokens/vault',
  '/vault',
  '/sts',
  '/data',
  '/var/run/secrets/eks.amazonaws.com/serviceaccount',
);

/** A pod as the API server hands it over: the plugin's token volume and mounts, user volumes, unknown future fields. */
const podArb = fc
  .record({
    containers: fc.uniqueArray(name, { minLength: 1, maxLength: 3 }),
    initContainers: fc.uniqueArray(fc.constantFrom('init-a', 'init-b', 'mesh-init'), { maxLength: 2 }),
    plugin: fc.boolean(),
    automount: fc.constantFrom(undefined, true, false),
    serviceAccount: fc.constantFrom('default', 'builder', 'prometheus'),
    annotate: fc.constantFrom(undefined, 'true', 'false'),
    labels: fc.constantFrom({}, { app: 'web' }),
    tokens: fc.array(
      fc.record({
        audience: tokenAudience,
        expiration,
        mountPath,
        container: fc.nat(3),
        mounted: fc.constantFrom(true, true, false),
        lookalike: fc.boolean(),
      }),
      { maxLength: 3 },
    ),
    // The plugin's token as the plugin wrote it, or as an earlier apiTokenExpirationSeconds left it.
    pluginExpiration: fc.constantFrom(3607, 3607, 600, 3600),
    future: fc.boolean(),
  })
  .map((o) => {
    const vol = apiTokenVolume('b4z9q');
    (
      (vol.projected as { sources: { serviceAccountToken?: JsonObject }[] }).sources[0]
        ?.serviceAccountToken as JsonObject
    ).expirationSeconds = o.pluginExpiration;
    const volumes: JsonObject[] = [];
    const container = (n: string): JsonObject => ({
      name: n,
      image: 'registry.example/app:1',
      volumeMounts: o.plugin
        ? [{ name: vol.name as string, readOnly: true, mountPath: '/var/run/secrets/kubernetes.io/serviceaccount' }]
        : [],
      ...(o.future ? { futureContainerField: { keep: 'me' } } : {}),
    });
    const containers = o.containers.map(container);
    const initContainers = o.initContainers.map(container);
    o.tokens.forEach((t, i) => {
      // A volume of the author's under the plugin's prefix (without the plugin, which would reuse it).
      const volumeName = t.lookalike && !o.plugin ? `kube-api-access-mine${i}` : `user-token-${i}`;
      const token = {
        ...(t.audience !== undefined ? { audience: t.audience } : {}),
        path: 'token',
        ...(t.expiration ? { expirationSeconds: t.expiration } : {}),
      };
      volumes.push({ name: volumeName, projected: { sources: [{ serviceAccountToken: token }] } });
      if (!t.mounted) return;
      const c = containers[t.container % containers.length] as JsonObject;
      const mounts = c.volumeMounts as JsonObject[];
      if (!mounts.some((m) => m.mountPath === t.mountPath))
        mounts.push({ name: volumeName, mountPath: t.mountPath, readOnly: true });
    });
    if (o.plugin) volumes.push(vol);
    const spec: JsonObject = {
      containers,
      volumes,
      serviceAccountName: o.serviceAccount,
      serviceAccount: o.serviceAccount,
      ...(initContainers.length > 0 ? { initContainers } : {}),
      ...(o.automount !== undefined ? { automountServiceAccountToken: o.automount } : {}),
      ...(o.future ? { futurePodField: [1, { x: 2 }] } : {}),
    };
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        generateName: 'web-',
        labels: o.labels,
        ...(o.annotate ? { annotations: { 'tokenguard.dev/api-access': o.annotate } } : {}),
      },
      spec,
    } as JsonObject;
  });

const specArb: fc.Arbitrary<TokenPolicySpec> = fc
  .record({
    mode: fc.constantFrom('Enforce', 'Enforce', 'Audit', 'Off') as fc.Arbitrary<'Enforce' | 'Audit' | 'Off'>,
    automount: fc.option(
      fc.record({
        action: fc.constantFrom('DisableUnlessNeeded', 'Keep') as fc.Arbitrary<'DisableUnlessNeeded' | 'Keep'>,
        needed: fc.record({
          annotation: fc.constant('tokenguard.dev/api-access'),
          serviceAccounts: fc.constantFrom([], ['*/prometheus']),
          rbacBound: fc.boolean(),
          whenUnknown: fc.constantFrom('Needed', 'NotNeeded') as fc.Arbitrary<'Needed' | 'NotNeeded'>,
        }),
      }),
      { nil: undefined },
    ),
    inject: fc.array(
      fc.record({
        volumeName: fc.constantFrom('vault-token', 'aws-token', 'user-token-0'),
        audience,
        expirationSeconds: fc.constantFrom(600, 1800, 3600, 7200),
        mountPath,
        containers: fc.constantFrom(['*'], ['app'], ['init-*', 'web']),
      }),
      { maxLength: 2 },
    ),
    bounds: fc.option(
      fc.record({
        allowedAudiences: fc.constantFrom(undefined, ['vault'], ['vault', 'sts.amazonaws.com', 'api']),
        minExpirationSeconds: fc.constantFrom(600, 1200),
        maxExpirationSeconds: fc.constantFrom(3600, 3607, 7200, 86400),
        onViolation: fc.constantFrom('Mutate', 'Deny') as fc.Arbitrary<'Mutate' | 'Deny'>,
      }),
      { nil: undefined },
    ),
    api: fc.constantFrom(undefined, 600, 3600, 3607, 7200),
  })
  .map((o) => ({
    mode: o.mode,
    ...(o.automount ? { automount: o.automount } : {}),
    projectedTokens: {
      inject: o.inject,
      ...(o.bounds ? { bounds: Object.fromEntries(Object.entries(o.bounds).filter(([, v]) => v !== undefined)) } : {}),
      ...(o.api ? { apiTokenExpirationSeconds: o.api } : {}),
    },
  }));

const policiesArb = fc
  .uniqueArray(fc.record({ name: fc.constantFrom('alpha', 'beta', 'gamma', 'delta'), spec: specArb }), {
    minLength: 1,
    maxLength: 3,
    selector: (p) => p.name,
  })
  .map((ps) => ps.map((p, i): TokenPolicy => ({ ...p, source: { file: 'gen.yaml', document: i + 1 } })));

const factsArb = fc.record({ bound: fc.constantFrom(undefined, true, false), saAnnotated: fc.boolean() });

async function run(
  endpoint: 'mutate' | 'validate',
  object: JsonObject,
  policies: readonly TokenPolicy[],
  f: { bound?: boolean | undefined; saAnnotated: boolean },
) {
  const sa = (object.spec as JsonObject).serviceAccountName as string;
  const objects: JsonObject[] = [
    {
      kind: 'ServiceAccount',
      apiVersion: 'v1',
      metadata: {
        name: sa,
        namespace: 'team-a',
        ...(f.saAnnotated ? { annotations: { 'tokenguard.dev/api-access': 'true' } } : {}),
      },
    },
  ];
  if (f.bound)
    objects.push({
      kind: 'RoleBinding',
      metadata: { name: 'rb', namespace: 'team-a' },
      subjects: [{ kind: 'ServiceAccount', name: sa }],
    });
  const facts = staticFacts(objects, { bindingsComplete: f.bound === false });
  const r = await handleReview(endpoint, review(object), { policies: () => policies, facts });
  if (!r.ok) throw new Error(r.message);
  return r.outcome.review.response;
}

const patchOf = (res: { patch?: string }) =>
  res.patch ? (JSON.parse(Buffer.from(res.patch, 'base64').toString()) as fastJsonPatch.Operation[]) : [];

test('mutation: the patch applies, the pod stays valid, unknown fields survive, a second pass changes nothing, validation admits the result', async () => {
  await fc.assert(
    fc.asyncProperty(podArb, policiesArb, factsArb, async (pod, policies, facts) => {
      const before = JSON.stringify(pod);
      const res = await run('mutate', pod, policies, facts);
      expect(JSON.stringify(pod)).toBe(before); // the engine never changes its input
      expect(res.allowed).toBe(true);
      const ops = patchOf(res);
      const result = fastJsonPatch.applyPatch(structuredClone(pod), ops, true, false).newDocument as JsonObject;
      expect(podProblems(pod)).toEqual([]);
      expect(podProblems(result)).toEqual([]);
      const spec = result.spec as JsonObject;
      if ((pod.spec as JsonObject).futurePodField) {
        expect(spec.futurePodField).toEqual([1, { x: 2 }]);
        for (const c of spec.containers as JsonObject[]) expect(c.futureContainerField).toEqual({ keep: 'me' });
      }
      const again = await run('mutate', result, policies, facts);
      expect(patchOf(again)).toEqual([]);
      const verdict = await run('validate', result, policies, facts);
      const unfixable = (res.warnings ?? []).some((w) => w.includes('not fixed'));
      if (!unfixable) expect(verdict).toMatchObject({ allowed: true });
    }),
    { numRuns: RUNS },
  );
});

test('the answer does not depend on the order of policies', async () => {
  await fc.assert(
    fc.asyncProperty(podArb, policiesArb, factsArb, async (pod, policies, facts) => {
      const reversed = [...policies].reverse();
      for (const endpoint of ['mutate', 'validate'] as const) {
        expect(await run(endpoint, pod, reversed, facts)).toEqual(await run(endpoint, pod, policies, facts));
      }
    }),
    { numRuns: RUNS },
  );
});

/** Injections with distinct volume names and mount paths, as the policy validator demands within a policy. */
function distinctInjections(policies: readonly TokenPolicy[]): boolean {
  const all = policies.flatMap((p) => p.spec.projectedTokens?.inject ?? []);
  return (
    new Set(all.map((i) => i.mountPath)).size === all.length &&
    new Set(all.map((i) => i.volumeName)).size === all.length
  );
}

test('validation is at least as strict as mutation promises: what mutate cannot fix, validate denies (Enforce)', async () => {
  await fc.assert(
    fc.asyncProperty(podArb, policiesArb, factsArb, async (pod, policies, facts) => {
      // Two injections at one path can satisfy each other, which makes a clash warning moot.
      fc.pre(distinctInjections(policies));
      const res = await run('mutate', pod, policies, facts);
      const ops = patchOf(res);
      const result = fastJsonPatch.applyPatch(structuredClone(pod), ops, true, false).newDocument as JsonObject;
      const verdict = await run('validate', result, policies, facts);
      if ((res.warnings ?? []).some((w) => w.includes('not fixed'))) expect(verdict.allowed).toBe(false);
    }),
    { numRuns: RUNS },
  );
});

test('hostile JSON never throws: any value as request.object is answered with the uid', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.jsonValue({ maxDepth: 6 }),
      fc.constantFrom('mutate', 'validate') as fc.Arbitrary<'mutate' | 'validate'>,
      async (value, endpoint) => {
        const body = review(null);
        (body.request as JsonObject).object = value as JsonObject;
        const r = await handleReview(endpoint, body, { policies: () => [], facts: staticFacts([]) });
        expect(r.ok && r.outcome.review.response.uid).toBe('705ab4f5-6393-11e8-b7cc-42010a800002');
      },
    ),
    { numRuns: RUNS },
  );
});
