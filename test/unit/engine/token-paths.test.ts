/**
 * The token paths of docs/tokens.md, at the engine: each has a case that must be denied (or
 * fixed) and one that must be allowed.
 * 1. a 3607 s token for the API audiences lives a year, and counts as a year against every maximum;
 * 2. the ServiceAccount plugin's volume is known by its whole shape, not its name;
 * 3. an explicit API audience makes an API token;
 * 4. a TokenRequest with the audiences the API server filled in is one with no audience;
 * 5. token volumes are judged mounted or not, and ephemeral containers may not mount withheld ones.
 */
import fastJsonPatch from 'fast-json-patch';
import { isPluginTokenVolume } from '../../../src/engine/api-token.js';
import { diff } from '../../../src/engine/diff.js';
import { evaluate } from '../../../src/engine/evaluate.js';
import type { JsonObject } from '../../../src/json.js';
import type { ClusterFacts, EngineInput, Phase } from '../../../src/engine/types.js';
import type { TokenPolicy, TokenPolicySpec } from '../../../src/policy/types.js';
import { policySet } from '../../helpers/fixtures.js';
import { apiTokenVolume, pod } from '../../helpers/pods.js';

const API_PATH = '/var/run/secrets/kubernetes.io/serviceaccount';
const YEAR = 31536000;

function policy(
  name: string,
  spec: Omit<TokenPolicySpec, 'mode'>,
  mode: TokenPolicySpec['mode'] = 'Enforce',
): TokenPolicy {
  return { name, spec: { mode, ...spec }, source: { file: `${name}.yaml`, document: 1 } };
}

const podInput = (object: JsonObject, extra: Partial<EngineInput> = {}): EngineInput => ({
  operation: 'CREATE',
  kind: 'Pod',
  subResource: '',
  object,
  oldObject: undefined,
  namespace: 'team-a',
  dryRun: false,
  name: '',
  ...extra,
});

function run(policies: readonly TokenPolicy[], input: EngineInput, phase: Phase, facts: ClusterFacts = {}) {
  return evaluate({ policies, input, facts, phase });
}

/** Mutate, apply the patch, mutate again (must change nothing) and validate the result. */
function admit(policies: readonly TokenPolicy[], object: JsonObject, facts: ClusterFacts = {}) {
  const m = run(policies, podInput(object), 'mutate', facts);
  const patched = m.mutated
    ? (fastJsonPatch.applyPatch(
        structuredClone(object),
        diff(object, m.mutated) as fastJsonPatch.Operation[],
        true,
        false,
      ).newDocument as JsonObject)
    : object;
  const again = run(policies, podInput(patched), 'mutate', facts);
  const second = again.mutated ? diff(patched, again.mutated) : [];
  const v = run(policies, podInput(patched), 'validate', facts);
  return { m, patched, second, v };
}

/** A projected token volume of the pod's own, mounted at `mountPath` in container `app`. */
function withTokenVolume(
  p: JsonObject,
  name: string,
  token: JsonObject,
  mountPath = '/var/run/tokens/own',
): JsonObject {
  const spec = p.spec as { volumes: JsonObject[]; containers: { volumeMounts: JsonObject[] }[] };
  spec.volumes.unshift({ name, projected: { sources: [{ serviceAccountToken: { path: 'token', ...token } }] } });
  spec.containers[0]?.volumeMounts.push({ name, mountPath, readOnly: true });
  return p;
}

const expirations = (p: JsonObject) =>
  Object.fromEntries(
    ((p.spec as { volumes: JsonObject[] }).volumes ?? []).map((v) => [
      v.name,
      (
        (v.projected as { sources: { serviceAccountToken?: { expirationSeconds?: number } }[] } | undefined)?.sources ??
        []
      )
        .map((s) => s.serviceAccountToken?.expirationSeconds)
        .find((e) => e !== undefined),
    ]),
  );

const apiAccess = { annotations: { 'tokenguard.dev/api-access': 'true' } };

describe('1. a 3607 s token for the API audiences counts as the year it lives', () => {
  const bounds = (onViolation: 'Mutate' | 'Deny', max = 86400) =>
    policy('bounds', { projectedTokens: { bounds: { maxExpirationSeconds: max, onViolation } } });

  test.each([
    ['no audience', {}],
    ['the API audience', { audience: 'https://kubernetes.default.svc.cluster.local' }],
  ])(
    'a user volume of 3607 s with %s: Mutate writes 3606 (not extended), a second pass changes nothing, validation admits it',
    (_what, aud) => {
      const object = withTokenVolume(pod(apiAccess), 'own', { expirationSeconds: 3607, ...aud });
      const { m, patched, second, v } = admit([bounds('Mutate')], object);
      expect(m.results).toContainEqual(
        expect.objectContaining({
          rule: 'token-bounds',
          status: 'mutate',
          message: 'own: expirationSeconds 3607 (extended to 31536000 s) -> 3606',
        }),
      );
      expect(expirations(patched).own).toBe(3606);
      expect(second).toEqual([]);
      expect(v.allowed).toBe(true);
    },
  );

  test('Deny: the 3607 s user volume is denied, naming the year; 3600 s and a 3607 s vault token are allowed', () => {
    const denied = run(
      [bounds('Deny')],
      podInput(withTokenVolume(pod(apiAccess), 'own', { expirationSeconds: 3607 })),
      'validate',
    );
    expect(denied.denials).toEqual([
      'bounds/token-bounds: own: expirationSeconds 3607 (extended to 31536000 s) outside [600, 86400]',
    ]);
    expect(
      run([bounds('Deny')], podInput(withTokenVolume(pod(apiAccess), 'own', { expirationSeconds: 3600 })), 'validate')
        .allowed,
    ).toBe(true);
    // Not an API audience: the API server does not extend it.
    expect(
      run(
        [bounds('Deny')],
        podInput(withTokenVolume(pod(apiAccess), 'own', { expirationSeconds: 3607, audience: 'vault' })),
        'validate',
      ).allowed,
    ).toBe(true);
    // A maximum of a year or more allows the extended token.
    expect(
      run(
        [bounds('Deny', YEAR)],
        podInput(withTokenVolume(pod(apiAccess), 'own', { expirationSeconds: 3607 })),
        'validate',
      ).allowed,
    ).toBe(true);
  });

  test('apiTokenExpirationSeconds 7200: the plugin token (3607 s, a year) is rewritten to 3606 and recognised again; 3606 passes', () => {
    const p = policy('api', { projectedTokens: { apiTokenExpirationSeconds: 7200 } });
    const { m, patched, second, v } = admit([p], pod(apiAccess));
    expect(m.results).toContainEqual(
      expect.objectContaining({
        rule: 'api-token-expiration',
        status: 'mutate',
        message: expect.stringContaining('-> 3606'),
      }),
    );
    expect(expirations(patched)['kube-api-access-x7k2p']).toBe(3606);
    expect(second).toEqual([]);
    expect(v.allowed).toBe(true);
    const unmutated = run([p], podInput(pod(apiAccess)), 'validate');
    expect(unmutated.denials).toEqual([
      'api/api-token-expiration: API token kube-api-access-x7k2p expirationSeconds 3607 (extended to 31536000 s) > 7200',
    ]);
  });

  test('an injection of 3607 s for the API audience is clamped to 3606 by bounds', () => {
    const policies = [
      policy('inj', {
        projectedTokens: {
          inject: [
            {
              volumeName: 'api-extra',
              audience: 'https://kubernetes.default.svc',
              expirationSeconds: 3607,
              mountPath: '/var/run/api',
            },
          ],
          bounds: { maxExpirationSeconds: 7200 },
        },
      }),
    ];
    const { patched, second, v } = admit(policies, pod(apiAccess));
    expect(expirations(patched)['api-extra']).toBe(3606);
    expect(second).toEqual([]);
    expect(v.allowed).toBe(true);
  });

  test('the shipped policies: a 3607 s user volume for the API is clamped to 3606 by token-bounds', () => {
    const { patched, v } = admit(
      policySet('shipped'),
      withTokenVolume(pod(apiAccess), 'own', { expirationSeconds: 3607 }),
    );
    expect(expirations(patched).own).toBe(3606);
    expect(v.allowed).toBe(true);
  });
});

describe('1 and 4. TokenRequests', () => {
  const tr = (spec: JsonObject): EngineInput => ({
    operation: 'CREATE',
    kind: 'TokenRequest',
    subResource: 'token',
    object: {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      metadata: { name: 'default', namespace: 'team-a' },
      spec,
    },
    oldObject: undefined,
    namespace: 'team-a',
    dryRun: false,
    name: 'default',
    user: { username: 'alice', groups: ['system:authenticated'] },
  });
  const podRef = { kind: 'Pod', apiVersion: 'v1', name: 'p', uid: 'u' };
  const limits = (onViolation: 'Deny' | 'Mutate') => [
    policy('tr', { tokenRequests: { maxExpirationSeconds: 7200, allowedAudiences: ['vault'], onViolation } }),
  ];
  const defaulted = ['https://kubernetes.default.svc.cluster.local'];

  test('Deny: kubectl create token --bound-object-kind Pod --duration 3607s (API audiences filled in) is a year over 7200', () => {
    const v = run(
      limits('Deny'),
      tr({ audiences: defaulted, expirationSeconds: 3607, boundObjectRef: podRef }),
      'validate',
    );
    expect(v.denials).toEqual([
      'tr/token-request: requested expirationSeconds 3607 (extended to 31536000 s) exceeds the maximum 7200',
    ]);
    // The mutating side sees no audience yet (the API server fills it in later): the same finding.
    const m = run(limits('Deny'), tr({ audiences: [], expirationSeconds: 3607, boundObjectRef: podRef }), 'mutate');
    expect(m.warnings).toEqual([
      expect.stringContaining('not fixed: requested expirationSeconds 3607 (extended to 31536000 s)'),
    ]);
  });

  test('allowed: the same 3607 s unbound, bound to a Secret, or for vault (not extended); 3606 bound to the pod', () => {
    expect(run(limits('Deny'), tr({ audiences: defaulted, expirationSeconds: 3607 }), 'validate').allowed).toBe(true);
    expect(
      run(
        limits('Deny'),
        tr({ audiences: defaulted, expirationSeconds: 3607, boundObjectRef: { ...podRef, kind: 'Secret' } }),
        'validate',
      ).allowed,
    ).toBe(true);
    expect(
      run(limits('Deny'), tr({ audiences: ['vault'], expirationSeconds: 3607, boundObjectRef: podRef }), 'validate')
        .allowed,
    ).toBe(true);
    expect(
      run(limits('Deny'), tr({ audiences: defaulted, expirationSeconds: 3606, boundObjectRef: podRef }), 'validate')
        .allowed,
    ).toBe(true);
  });

  test('Mutate: shortened to 3606, which is then allowed', () => {
    const m = run(limits('Mutate'), tr({ audiences: [], expirationSeconds: 3607, boundObjectRef: podRef }), 'mutate');
    expect(((m.mutated?.spec ?? {}) as JsonObject).expirationSeconds).toBe(3606);
    expect(m.warnings).toEqual([expect.stringContaining('shortened to 3606')]);
    expect(
      run(limits('Mutate'), tr({ audiences: defaulted, expirationSeconds: 3606, boundObjectRef: podRef }), 'validate')
        .allowed,
    ).toBe(true);
  });

  test('4. allowedAudiences [vault]: the audiences the API server filled in are allowed, others are not', () => {
    expect(run(limits('Deny'), tr({ audiences: defaulted, expirationSeconds: 3600 }), 'validate').allowed).toBe(true);
    expect(
      run(limits('Deny'), tr({ audiences: ['https://kubernetes.default.svc'], expirationSeconds: 3600 }), 'validate')
        .allowed,
    ).toBe(true);
    expect(run(limits('Deny'), tr({ audiences: ['vault'], expirationSeconds: 3600 }), 'validate').allowed).toBe(true);
    const bad = run(limits('Deny'), tr({ audiences: ['https://evil.example'], expirationSeconds: 3600 }), 'validate');
    expect(bad.denials).toEqual(['tr/token-request: audience "https://evil.example" not allowed (allowed: vault)']);
    // A cluster whose API audience is its OIDC issuer: given as facts, it is the API server's own.
    const eks = ['https://oidc.eks.eu-west-1.amazonaws.com/id/ABC'];
    expect(run(limits('Deny'), tr({ audiences: eks, expirationSeconds: 3600 }), 'validate').allowed).toBe(false);
    expect(
      run(limits('Deny'), tr({ audiences: eks, expirationSeconds: 3600 }), 'validate', { apiAudiences: eks }).allowed,
    ).toBe(true);
    // With that setting the default look-alikes are no longer the API server's.
    expect(
      run(limits('Deny'), tr({ audiences: defaulted, expirationSeconds: 3600 }), 'validate', { apiAudiences: eks })
        .allowed,
    ).toBe(false);
  });
});

describe("2. the plugin's volume by its whole shape", () => {
  test('the plugin volume, and after apiTokenExpirationSeconds lowered it, are recognised; look-alikes are not', () => {
    expect(isPluginTokenVolume(apiTokenVolume())).toBe(true);
    const lowered = structuredClone(apiTokenVolume()) as {
      projected: { sources: { serviceAccountToken?: JsonObject }[] };
    };
    (lowered.projected.sources[0]?.serviceAccountToken as JsonObject).expirationSeconds = 600;
    expect(isPluginTokenVolume(lowered as unknown as JsonObject)).toBe(true);
    const openshift = structuredClone(apiTokenVolume()) as { projected: { sources: JsonObject[] } };
    openshift.projected.sources.push({
      configMap: { name: 'openshift-service-ca.crt', items: [{ key: 'service-ca.crt', path: 'service-ca.crt' }] },
    });
    expect(isPluginTokenVolume(openshift as unknown as JsonObject)).toBe(true);

    const variants: [
      string,
      (v: { name: string; projected: { defaultMode?: number; sources: JsonObject[] } }) => void,
    ][] = [
      [
        'another name',
        (v) => {
          v.name = 'api-access';
        },
      ],
      [
        'a year-long token',
        (v) => {
          (v.projected.sources[0] as { serviceAccountToken: JsonObject }).serviceAccountToken.expirationSeconds =
            4294967296;
        },
      ],
      [
        'an audience',
        (v) => {
          (v.projected.sources[0] as { serviceAccountToken: JsonObject }).serviceAccountToken.audience = 'vault';
        },
      ],
      [
        'another path',
        (v) => {
          (v.projected.sources[0] as { serviceAccountToken: JsonObject }).serviceAccountToken.path = 'tok';
        },
      ],
      [
        'no CA',
        (v) => {
          v.projected.sources.splice(1, 1);
        },
      ],
      [
        'another ConfigMap',
        (v) => {
          (v.projected.sources[1] as { configMap: JsonObject }).configMap.name = 'mine';
        },
      ],
      [
        'another downward item',
        (v) => {
          v.projected.sources[2] = {
            downwardAPI: { items: [{ path: 'namespace', fieldRef: { fieldPath: 'metadata.name' } }] },
          };
        },
      ],
      [
        'an extra source',
        (v) => {
          v.projected.sources.push({ secret: { name: 's' } });
        },
      ],
      [
        'mode 0777',
        (v) => {
          v.projected.defaultMode = 511;
        },
      ],
    ];
    for (const [what, change] of variants) {
      const v = structuredClone(apiTokenVolume()) as unknown as Parameters<(typeof variants)[0][1]>[0];
      change(v);
      expect({ what, plugin: isPluginTokenVolume(v as unknown as JsonObject) }).toEqual({ what, plugin: false });
    }
  });

  test('shipped policies: a user kube-api-access-* volume of 2^32 s at the API path is bounded (clamped; denied unmutated)', () => {
    const object = pod({ plugin: false, ...apiAccess });
    withTokenVolume(object, 'kube-api-access-evil', { expirationSeconds: 4294967296 }, API_PATH);
    const { m, patched, second, v } = admit(policySet('shipped'), object);
    expect(m.results).toContainEqual(
      expect.objectContaining({ policies: ['token-bounds'], rule: 'token-bounds', status: 'mutate' }),
    );
    expect(expirations(patched)['kube-api-access-evil']).toBe(86400);
    expect(second).toEqual([]);
    expect(v.allowed).toBe(true);
    const unmutated = run(policySet('shipped'), podInput(object), 'validate');
    expect(unmutated.denials).toEqual([
      'token-bounds/token-bounds: kube-api-access-evil: expirationSeconds 4294967296 outside [600, 86400]',
    ]);
  });

  test('a pod that does not need the API: a look-alike is kept and denied, the real plugin volume is removed and the pod admitted', () => {
    const strict = policySet('strict');
    const lookalike = pod({ plugin: false });
    withTokenVolume(lookalike, 'kube-api-access-evil', { expirationSeconds: 3600 }, API_PATH);
    const a = admit(strict, lookalike);
    expect(Object.keys(expirations(a.patched))).toContain('kube-api-access-evil');
    expect(a.v.allowed).toBe(false);
    expect(a.v.denials[0]).toBe(
      'strict/automount: pod mounts API token kube-api-access-evil but does not need API access',
    );
    const real = admit(strict, pod());
    expect(Object.keys(expirations(real.patched))).toEqual([]);
    expect(real.second).toEqual([]);
    expect(real.v.allowed).toBe(true);
  });
});

describe('3. an explicit API audience is an API token', () => {
  const automount = policy('automount', {
    automount: { action: 'DisableUnlessNeeded', needed: { annotation: 'tokenguard.dev/api-access' } },
  });

  test('a pod that does not need the API, with a token for https://kubernetes.default.svc.cluster.local: mutate says not fixed, validate denies', () => {
    const object = withTokenVolume(pod({ plugin: false }), 'svc', {
      audience: 'https://kubernetes.default.svc.cluster.local',
      expirationSeconds: 3600,
    });
    const m = run([automount], podInput(object), 'mutate');
    expect(m.warnings).toEqual([
      'tokenguard: automount: not fixed: pod mounts API token svc (its own volume, not removed) but does not need API access',
    ]);
    expect(run([automount], podInput(object), 'validate').denials).toEqual([
      'automount/automount: pod mounts API token svc but does not need API access',
    ]);
  });

  test('allowed: a vault token, or the API token when the pod needs the API', () => {
    expect(
      run([automount], podInput(withTokenVolume(pod({ plugin: false }), 'v', { audience: 'vault' })), 'validate')
        .allowed,
    ).toBe(true);
    const needs = withTokenVolume(pod({ plugin: false, ...apiAccess }), 'svc', {
      audience: 'https://kubernetes.default.svc',
    });
    expect(run([automount], podInput(needs), 'validate').allowed).toBe(true);
  });

  test('the API audiences are a setting: an OIDC issuer given as facts is the API server, the defaults then are not', () => {
    const eks = { apiAudiences: ['https://oidc.eks.*.amazonaws.com/id/*'] };
    const object = withTokenVolume(pod({ plugin: false }), 'oidc', {
      audience: 'https://oidc.eks.eu-west-1.amazonaws.com/id/ABC',
    });
    expect(run([automount], podInput(object), 'validate').allowed).toBe(true);
    expect(run([automount], podInput(object), 'validate', eks).allowed).toBe(false);
    const svc = withTokenVolume(pod({ plugin: false }), 'svc', { audience: 'https://kubernetes.default.svc' });
    expect(run([automount], podInput(svc), 'validate', eks).allowed).toBe(true);
  });

  test('apiTokenExpirationSeconds and bounds audiences: an explicit API audience is held to the API maximum and allowed by audience lists', () => {
    const p = policy('api', {
      projectedTokens: {
        apiTokenExpirationSeconds: 3600,
        bounds: { allowedAudiences: ['vault'], onViolation: 'Deny' },
      },
    });
    const object = withTokenVolume(pod({ plugin: false, ...apiAccess }), 'svc', {
      audience: 'https://kubernetes.default.svc',
      expirationSeconds: 7200,
    });
    expect(run([p], podInput(object), 'validate').denials).toEqual([
      'api/api-token-expiration: API token svc expirationSeconds 7200 > 3600',
    ]);
    const { patched, v } = admit([p], object);
    expect(expirations(patched).svc).toBe(3600);
    expect(v.allowed).toBe(true);
  });
});

describe('5. token volumes mounted or not, and ephemeral containers', () => {
  const strict = policySet('strict');

  test('an API token volume that no container mounts is denied where the API is not needed; allowed where it is', () => {
    const object = pod({ plugin: false });
    (object.spec as { volumes: JsonObject[] }).volumes.push({
      name: 'spare',
      projected: { sources: [{ serviceAccountToken: { path: 'token', expirationSeconds: 3600 } }] },
    });
    expect(run(strict, podInput(object), 'validate').denials).toEqual([
      'strict/automount: pod has API token spare (no container mounts it yet) but does not need API access',
    ]);
    const m = run(strict, podInput(object), 'mutate');
    expect(m.results).toContainEqual(
      expect.objectContaining({
        rule: 'automount',
        status: 'fail',
        message:
          'pod has API token spare (its own volume, not removed; no container mounts it yet) but does not need API access',
      }),
    );
    const needed = structuredClone(object);
    (needed.metadata as JsonObject).annotations = { 'tokenguard.dev/api-access': 'true' };
    expect(run(strict, podInput(needed), 'validate').allowed).toBe(true);
  });

  const ephemeral = (oldPod: JsonObject, mounts: JsonObject[], name = 'debugger'): EngineInput => {
    const object = structuredClone(oldPod);
    const spec = object.spec as JsonObject;
    spec.ephemeralContainers = [
      ...((spec.ephemeralContainers as JsonObject[]) ?? []),
      { name, image: 'busybox', volumeMounts: mounts, targetContainerName: 'app' },
    ];
    return podInput(object, { operation: 'UPDATE', subResource: 'ephemeralcontainers', oldObject: oldPod, name: 'p' });
  };

  test('kubectl debug mounting the API token of a pod that does not need it: denied; mounting nothing, or a pod that needs it: allowed', () => {
    // A pod created before the policy (or under Audit) still has the plugin's volume.
    const running = pod({ name: 'p' });
    const vol = { name: 'kube-api-access-x7k2p', mountPath: API_PATH, readOnly: true };
    const denied = run(strict, ephemeral(running, [vol]), 'validate');
    expect(denied.denials).toEqual([
      'strict/ephemeral-token: ephemeral container debugger mounts API token kube-api-access-x7k2p, but the pod does not need API access',
    ]);
    expect(run(strict, ephemeral(running, []), 'validate').allowed).toBe(true);
    expect(run(strict, ephemeral(pod({ name: 'p', ...apiAccess }), [vol]), 'validate').allowed).toBe(true);
    // The mutating side never changes this subresource.
    expect(run(strict, ephemeral(running, [vol]), 'mutate')).toMatchObject({ mutated: undefined, warnings: [] });
    // Audit: a warning, not a denial.
    const audit = run(
      [{ ...strict[0]!, spec: { ...strict[0]!.spec, mode: 'Audit' } }],
      ephemeral(running, [vol]),
      'validate',
    );
    expect(audit.allowed).toBe(true);
    expect(audit.warnings[0]).toContain('would deny: ephemeral container debugger mounts API token');
  });

  test('a token injected only into app: an ephemeral container may not mount it; one injected into every container it may', () => {
    const only = (containers: string[]) =>
      policy('inj', {
        projectedTokens: {
          inject: [{ volumeName: 'vault-token', audience: 'vault', mountPath: '/var/run/vault', containers }],
        },
      });
    const injected = (p: TokenPolicy) => {
      const m = run([p], podInput(pod({ name: 'p', ...apiAccess })), 'mutate');
      return m.mutated as JsonObject;
    };
    const mount = [{ name: 'vault-token', mountPath: '/v' }];
    const app = only(['app']);
    expect(run([app], ephemeral(injected(app), mount), 'validate').denials).toEqual([
      'inj/ephemeral-token: ephemeral container debugger mounts token vault-token (audience vault), injected only into app',
    ]);
    const all = only(['*']);
    expect(run([all], ephemeral(injected(all), mount), 'validate').allowed).toBe(true);
    // A container named like the targets may mount it.
    expect(run([app], ephemeral(injected(app), mount, 'app'), 'validate').allowed).toBe(true);
  });

  test('only added ephemeral containers are judged: one already there is not judged again', () => {
    const running = pod({ name: 'p' });
    const first = ephemeral(running, [{ name: 'kube-api-access-x7k2p', mountPath: API_PATH }]).object as JsonObject;
    const second = ephemeral(first, [], 'second');
    expect(run(strict, second, 'validate').allowed).toBe(true);
  });
});
