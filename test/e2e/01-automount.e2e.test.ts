/**
 * Scenarios 1 and 2: automount. Policy set test/fixtures/policies/strict (automount
 * DisableUnlessNeeded with rbacBound; tokenguard watches the cluster's bindings and nothing binds
 * these ServiceAccounts; apiTokenExpirationSeconds 3600).
 */
import {
  API_TOKEN_PATH,
  allContainers,
  apiAccessVolumes,
  apply,
  create,
  ensureNamespace,
  KUBE_API_ACCESS,
  type Pod,
  podManifest,
  tokenSources,
} from './kube.js';
import { policyFiles, setPolicies } from './tokenguard.js';

const NS = 'e2e-automount';

beforeAll(async () => {
  await setPolicies(policyFiles('test/fixtures/policies/strict'));
  await ensureNamespace(NS);
});

describe('scenario 1: a pod that does not need the API', () => {
  test('is stored with automountServiceAccountToken false and no kube-api-access volume or mount', async () => {
    const { stored } = await create(
      podManifest(NS, 'no-api', { initContainers: ['init'], containers: ['app', 'helper'] }),
    );
    const pod = stored as Pod;
    expect(pod.spec.serviceAccountName).toBe('default');
    expect(pod.spec.automountServiceAccountToken).toBe(false);
    expect(apiAccessVolumes(pod)).toEqual([]);
    for (const c of allContainers(pod)) {
      expect({
        container: c.name,
        mounts: (c.volumeMounts ?? []).filter(
          (m) => m.mountPath === API_TOKEN_PATH || m.name.startsWith('kube-api-access-'),
        ),
      }).toEqual({
        container: c.name,
        mounts: [],
      });
    }
  });

  test('gets the same answer on a server-side dry run (webhooks run on dry runs too)', async () => {
    const { stored } = await create(podManifest(NS, 'no-api-dry-run'), { dryRun: true });
    const pod = stored as Pod;
    expect(pod.spec.automountServiceAccountToken).toBe(false);
    expect(apiAccessVolumes(pod)).toEqual([]);
  });
});

describe('scenario 2: a pod that opts in with tokenguard.dev/api-access: "true"', () => {
  test('keeps its API token, with the bounded expiration 3600 instead of 3607', async () => {
    const { stored } = await create(
      podManifest(NS, 'needs-api', {
        annotations: { 'tokenguard.dev/api-access': 'true' },
        initContainers: ['init'],
        containers: ['app'],
      }),
    );
    const pod = stored as Pod;
    expect(pod.spec.automountServiceAccountToken).not.toBe(false);
    const volumes = apiAccessVolumes(pod);
    expect(volumes).toHaveLength(1);
    const volume = volumes[0]!;
    expect(volume.name).toMatch(KUBE_API_ACCESS);
    expect(tokenSources(volume)).toEqual([{ path: 'token', expirationSeconds: 3600 }]);
    for (const c of allContainers(pod)) {
      expect({
        container: c.name,
        mounts: (c.volumeMounts ?? []).filter((m) => m.mountPath === API_TOKEN_PATH),
      }).toEqual({
        container: c.name,
        mounts: [{ name: volume.name, mountPath: API_TOKEN_PATH, readOnly: true }],
      });
    }
  });
});

describe('scenario 2, continued: the rest of the strict policy', () => {
  test('a ServiceAccount the policy lists (monitoring/prometheus) keeps its API token', async () => {
    await ensureNamespace('monitoring');
    await apply({
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'prometheus', namespace: 'monitoring' },
    });
    const { stored } = await create(podManifest('monitoring', 'prometheus', { serviceAccountName: 'prometheus' }));
    const pod = stored as Pod;
    expect(pod.spec.automountServiceAccountToken).not.toBe(false);
    expect(tokenSources(apiAccessVolumes(pod)[0])).toEqual([{ path: 'token', expirationSeconds: 3600 }]);
  });

  test('a projected token outside the bounds is clamped (onViolation: Mutate): 86400 s -> 7200 s, 60 s -> 600 s (below the API server minimum of 600), also as the 2nd source of a volume', async () => {
    const { stored } = await create(
      podManifest(NS, 'long-token', {
        volumes: [
          {
            name: 'vault',
            projected: {
              sources: [{ serviceAccountToken: { path: 'token', audience: 'vault', expirationSeconds: 86400 } }],
            },
          },
          {
            name: 'sts',
            projected: {
              sources: [
                { serviceAccountToken: { path: 'token', audience: 'sts.amazonaws.com', expirationSeconds: 60 } },
              ],
            },
          },
          {
            name: 'mixed',
            projected: {
              sources: [
                { configMap: { name: 'kube-root-ca.crt' } },
                { serviceAccountToken: { path: 'token', audience: 'vault', expirationSeconds: 99999 } },
              ],
            },
          },
        ],
        mounts: {
          app: [
            { name: 'vault', mountPath: '/var/run/secrets/tokens/vault', readOnly: true },
            { name: 'sts', mountPath: '/var/run/secrets/tokens/sts', readOnly: true },
          ],
        },
      }),
    );
    const pod = stored as Pod;
    const byName = (n: string) => (pod.spec.volumes ?? []).find((v) => v.name === n);
    expect(tokenSources(byName('vault'))).toEqual([{ path: 'token', audience: 'vault', expirationSeconds: 7200 }]);
    expect(tokenSources(byName('sts'))).toEqual([
      { path: 'token', audience: 'sts.amazonaws.com', expirationSeconds: 600 },
    ]);
    expect(byName('mixed')?.projected?.sources).toEqual([
      { configMap: { name: 'kube-root-ca.crt' } },
      { serviceAccountToken: { path: 'token', audience: 'vault', expirationSeconds: 7200 } },
    ]);
    expect(pod.spec.containers[0]?.volumeMounts?.map((m) => m.name)).toEqual(['vault', 'sts']);
  });
});
