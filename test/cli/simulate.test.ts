import type { JsonObject } from '../../src/json.js';
import {
  applyTokenDefaults,
  apiTokenVolumeSource,
  NAME_SUFFIX_ALPHABET,
  type PluginServiceAccount,
  seededSuffix,
  simulateServiceAccountAdmission,
} from '../../src/dryrun/plugin.js';
import { apiTokenVolume } from '../helpers/pods.js';

const PATH = '/var/run/secrets/kubernetes.io/serviceaccount';

function pod(spec: JsonObject, metadata: JsonObject = { name: 'p', namespace: 'team-a' }): JsonObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata, spec };
}

function run(p: JsonObject, accounts: Record<string, PluginServiceAccount> = {}, suffix = 'b2d4f') {
  return simulateServiceAccountAdmission({ pod: p, serviceAccount: (n) => accounts[n], suffix: () => suffix });
}

const spec = (s: JsonObject) => s.spec as JsonObject;
const containers = (s: JsonObject, field = 'containers') => spec(s)[field] as JsonObject[];

describe('seededSuffix (the stand-in for utilrand.String(5))', () => {
  test('five characters from the alphabet, the same for the same seed, different for others', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 500; i++) {
      const s = seededSuffix(`file.yaml#${i}`);
      expect(s).toMatch(/^[bcdfghjklmnpqrstvwxz2456789]{5}$/);
      expect(seededSuffix(`file.yaml#${i}`)).toBe(s);
      seen.add(s);
    }
    expect(seen.size).toBeGreaterThan(490);
    expect(NAME_SUFFIX_ALPHABET).toBe('bcdfghjklmnpqrstvwxz2456789');
  });
});

describe('the ServiceAccount admission plugin, simulated (docs/kubernetes.md "The ServiceAccount admission plugin")', () => {
  test('1.9/1.16: an empty serviceAccountName becomes default, in both fields', () => {
    const r = run(pod({ containers: [{ name: 'a' }] }));
    expect(spec(r.pod).serviceAccountName).toBe('default');
    expect(spec(r.pod).serviceAccount).toBe('default');
    expect(r.changes).toContain('serviceAccountName defaulted to "default"');
  });

  test('1.16: the deprecated serviceAccount alias is used when serviceAccountName is empty; serviceAccountName wins otherwise', () => {
    expect(spec(run(pod({ serviceAccount: 'legacy', containers: [] })).pod).serviceAccountName).toBe('legacy');
    const both = run(pod({ serviceAccountName: 'new', serviceAccount: 'old', containers: [] })).pod;
    expect(spec(both).serviceAccountName).toBe('new');
    expect(spec(both).serviceAccount).toBe('new');
  });

  test('1.4/1.5: the volume the plugin adds, and the mount, exactly', () => {
    const r = run(
      pod({
        containers: [{ name: 'a', volumeMounts: [{ name: 'data', mountPath: '/data' }] }],
        volumes: [{ name: 'data', emptyDir: {} }],
      }),
    );
    expect(spec(r.pod).volumes).toEqual([
      { name: 'data', emptyDir: {} },
      { name: 'kube-api-access-b2d4f', projected: apiTokenVolumeSource() },
    ]);
    // The same content as the helper that models a real API server request.
    expect((spec(r.pod).volumes as JsonObject[])[1]).toEqual(apiTokenVolume('b2d4f'));
    expect(containers(r.pod)[0]!.volumeMounts).toEqual([
      { name: 'data', mountPath: '/data' },
      { name: 'kube-api-access-b2d4f', readOnly: true, mountPath: PATH },
    ]);
    expect(r).toMatchObject({
      automount: true,
      automountFrom: 'default',
      tokenVolume: 'kube-api-access-b2d4f',
      volumeAdded: true,
    });
  });

  test('1.8: the pod field wins, then the ServiceAccount, then true', () => {
    const off = { sa: { automountServiceAccountToken: false } };
    const on = { sa: { automountServiceAccountToken: true } };
    expect(run(pod({ serviceAccountName: 'sa', containers: [{ name: 'a' }] }), off)).toMatchObject({
      automount: false,
      automountFrom: 'serviceAccount',
      tokenVolume: undefined,
    });
    expect(
      run(pod({ serviceAccountName: 'sa', automountServiceAccountToken: true, containers: [{ name: 'a' }] }), off),
    ).toMatchObject({ automount: true, automountFrom: 'pod' });
    expect(
      run(pod({ serviceAccountName: 'sa', automountServiceAccountToken: false, containers: [{ name: 'a' }] }), on),
    ).toMatchObject({ automount: false, automountFrom: 'pod' });
    expect(run(pod({ serviceAccountName: 'sa', containers: [{ name: 'a' }] }), on)).toMatchObject({
      automount: true,
      automountFrom: 'serviceAccount',
    });
    expect(run(pod({ serviceAccountName: 'unknown', containers: [{ name: 'a' }] }))).toMatchObject({
      automount: true,
      automountFrom: 'default',
      serviceAccountKnown: false,
    });
    const r = run(pod({ serviceAccountName: 'sa', containers: [{ name: 'a' }] }), off);
    expect(spec(r.pod).volumes).toBeUndefined();
    expect(containers(r.pod)[0]!.volumeMounts).toBeUndefined();
  });

  test('1.3: the first kube-api-access-* volume is reused whatever it holds; no volume is added', () => {
    const r = run(
      pod({
        containers: [{ name: 'a' }],
        volumes: [
          { name: 'x', emptyDir: {} },
          { name: 'kube-api-access-cache', emptyDir: {} },
          { name: 'kube-api-access-zzzzz', emptyDir: {} },
        ],
      }),
    );
    expect((spec(r.pod).volumes as JsonObject[]).map((v) => v.name)).toEqual([
      'x',
      'kube-api-access-cache',
      'kube-api-access-zzzzz',
    ]);
    expect(containers(r.pod)[0]!.volumeMounts).toEqual([
      { name: 'kube-api-access-cache', readOnly: true, mountPath: PATH },
    ]);
    expect(r).toMatchObject({ tokenVolume: 'kube-api-access-cache', volumeAdded: false });
  });

  test('1.6: init containers first, then containers; never ephemeral containers', () => {
    const r = run(
      pod({
        initContainers: [{ name: 'i' }],
        containers: [{ name: 'a' }, { name: 'b' }],
        ephemeralContainers: [{ name: 'dbg' }],
      }),
    );
    expect(r.mountedInto).toEqual(['initContainers/i', 'containers/a', 'containers/b']);
    expect(containers(r.pod, 'ephemeralContainers')[0]!.volumeMounts).toBeUndefined();
    expect(containers(r.pod, 'initContainers')[0]!.volumeMounts).toHaveLength(1);
  });

  test('1.7: a container with any mount at exactly the path is skipped; a trailing slash is not the same path', () => {
    const r = run(
      pod({
        containers: [
          { name: 'own', volumeMounts: [{ name: 'mine', mountPath: PATH }] },
          { name: 'slash', volumeMounts: [{ name: 'mine', mountPath: `${PATH}/` }] },
        ],
        volumes: [{ name: 'mine', emptyDir: {} }],
      }),
    );
    expect(containers(r.pod)[0]!.volumeMounts).toEqual([{ name: 'mine', mountPath: PATH }]);
    expect(containers(r.pod)[1]!.volumeMounts).toHaveLength(2);
    expect(r.mountedInto).toEqual(['containers/slash']);
  });

  test('1.7: when every container already mounts something at the path, no volume is added', () => {
    const r = run(
      pod({
        containers: [{ name: 'own', volumeMounts: [{ name: 'mine', mountPath: PATH }] }],
        volumes: [{ name: 'mine', emptyDir: {} }],
      }),
    );
    expect(spec(r.pod).volumes).toEqual([{ name: 'mine', emptyDir: {} }]);
    expect(r).toMatchObject({ volumeAdded: false, tokenVolume: undefined });
  });

  test('1.12: a mirror pod is left exactly as it is', () => {
    const p = pod(
      { containers: [{ name: 'a' }] },
      { name: 'm', annotations: { 'kubernetes.io/config.mirror': 'abc' } },
    );
    const r = run(p);
    expect(r.pod).toEqual(p);
    expect(r.mirror).toBe(true);
  });

  test('1.9: imagePullSecrets are copied from the ServiceAccount only when the pod has none', () => {
    const sa = { default: { imagePullSecrets: ['regcred', 'mirror'] } };
    expect(spec(run(pod({ containers: [] }), sa).pod).imagePullSecrets).toEqual([
      { name: 'regcred' },
      { name: 'mirror' },
    ]);
    expect(spec(run(pod({ containers: [], imagePullSecrets: [{ name: 'own' }] }), sa).pod).imagePullSecrets).toEqual([
      { name: 'own' },
    ]);
    expect(
      spec(run(pod({ containers: [] }), { default: { imagePullSecrets: [] } }).pod).imagePullSecrets,
    ).toBeUndefined();
  });

  test('the input pod is never modified, and running the plugin on its own output changes nothing more', () => {
    const p = pod({ initContainers: [{ name: 'i' }], containers: [{ name: 'a' }] });
    const before = structuredClone(p);
    const once = run(p).pod;
    expect(p).toEqual(before);
    expect(run(once, {}, 'other').pod).toEqual(once);
  });
});

test('applyTokenDefaults fills defaultMode 420 and expirationSeconds 3600 (docs/kubernetes.md "Projected token fields"), and nothing else', () => {
  const p = pod({
    containers: [],
    volumes: [
      {
        name: 't',
        projected: {
          sources: [{ serviceAccountToken: { audience: 'vault', path: 'token' } }, { configMap: { name: 'c' } }],
        },
      },
      { name: 'e', emptyDir: {} },
      {
        name: 'k',
        projected: { defaultMode: 256, sources: [{ serviceAccountToken: { path: 'token', expirationSeconds: 900 } }] },
      },
    ],
  });
  const d = applyTokenDefaults(p);
  expect(spec(d).volumes).toEqual([
    {
      name: 't',
      projected: {
        defaultMode: 420,
        sources: [
          { serviceAccountToken: { audience: 'vault', path: 'token', expirationSeconds: 3600 } },
          { configMap: { name: 'c' } },
        ],
      },
    },
    { name: 'e', emptyDir: {} },
    {
      name: 'k',
      projected: { defaultMode: 256, sources: [{ serviceAccountToken: { path: 'token', expirationSeconds: 900 } }] },
    },
  ]);
  expect((spec(p).volumes as JsonObject[])[0]).not.toHaveProperty('projected.defaultMode');
});
