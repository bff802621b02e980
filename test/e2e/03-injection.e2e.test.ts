/**
 * Scenario 3: a namespace with an injection policy (test/fixtures/policies/inject: namespaces
 * team-*, a projected token for audience vault, 3600 s, at /var/run/secrets/tokens/vault, in
 * every container) gets that token in every init and regular container.
 */
import {
  allContainers,
  apiAccessVolumes,
  create,
  createRefused,
  ensureNamespace,
  type Pod,
  podManifest,
  tokenSources,
  warningLines,
} from './kube.js';
import { policyFiles, setPolicies } from './tokenguard.js';

const NS = 'team-inject';
const OTHER_NS = 'e2e-no-injection';
const MOUNT = '/var/run/secrets/tokens/vault';

beforeAll(async () => {
  await setPolicies(policyFiles('test/fixtures/policies/inject'));
  await Promise.all([ensureNamespace(NS), ensureNamespace(OTHER_NS)]);
});

describe('scenario 3: projected token injection', () => {
  test('every init and regular container of a pod in team-* gets the vault token', async () => {
    const { stored } = await create(
      podManifest(NS, 'injected', { initContainers: ['init-a', 'init-b'], containers: ['app', 'helper'] }),
    );
    const pod = stored as Pod;
    const vault = (pod.spec.volumes ?? []).filter((v) => v.name === 'vault-token');
    expect(vault).toHaveLength(1);
    expect(tokenSources(vault[0])).toEqual([{ audience: 'vault', expirationSeconds: 3600, path: 'token' }]);
    expect(allContainers(pod).map((c) => c.name)).toEqual(['init-a', 'init-b', 'app', 'helper']);
    for (const c of allContainers(pod)) {
      expect({ container: c.name, mounts: (c.volumeMounts ?? []).filter((m) => m.name === 'vault-token') }).toEqual({
        container: c.name,
        mounts: [{ name: 'vault-token', mountPath: MOUNT, readOnly: true }],
      });
    }
    // This policy set has no automount rule: the API server's own token stays, untouched.
    expect(apiAccessVolumes(pod)).toHaveLength(1);
    expect(tokenSources(apiAccessVolumes(pod)[0])).toEqual([{ path: 'token', expirationSeconds: 3607 }]);
  });

  test('a pod whose own volume already takes the name vault-token: tokenguard warns, validate-pods refuses it with the reason', async () => {
    const pod = podManifest(NS, 'name-taken', { volumes: [{ name: 'vault-token', emptyDir: {} }] });
    const r = await createRefused(pod);
    expect(warningLines(r.stderr)).toContain(
      'Warning: tokenguard: vault-injection: not fixed: volume name vault-token is taken by another volume; token not injected',
    );
    expect(r.stderr).toContain(
      'admission webhook "validate-pods.tokenguard.dev" denied the request: tokenguard: vault-injection/inject-token: token vault-token (audience vault) missing in container(s) app',
    );
  });

  test('a pod outside the policy scope gets no injected token', async () => {
    const { stored } = await create(podManifest(OTHER_NS, 'not-injected'));
    const pod = stored as Pod;
    expect((pod.spec.volumes ?? []).map((v) => v.name)).not.toContain('vault-token');
  });
});
