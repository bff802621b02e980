/**
 * Scenario 4: pods that a controller creates get the same treatment. The Deployment controller
 * makes a ReplicaSet and the ReplicaSet controller makes the pod (as its own ServiceAccount);
 * the pod is stored with the automount rule of test/fixtures/policies/strict applied and the
 * vault token of test/fixtures/policies/inject injected, both policies matching team-deploy.
 */
import { waitFor } from './env.js';
import {
  allContainers,
  API_TOKEN_PATH,
  apiAccessVolumes,
  apply,
  ensureNamespace,
  IMAGE,
  kubectlJson,
  type Pod,
  tokenSources,
} from './kube.js';
import { policyFiles, setPolicies } from './tokenguard.js';

const NS = 'team-deploy';

beforeAll(async () => {
  await setPolicies({
    ...policyFiles('test/fixtures/policies/strict'),
    ...policyFiles('test/fixtures/policies/inject'),
  });
  await ensureNamespace(NS);
});

describe('scenario 4: a Deployment', () => {
  test('its pods are stored mutated: no API token, the vault token in every container', async () => {
    await apply({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: NS },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: {
            initContainers: [{ name: 'migrate', image: IMAGE }],
            containers: [
              { name: 'app', image: IMAGE },
              { name: 'proxy', image: IMAGE },
            ],
          },
        },
      },
    });
    const pods = await waitFor('2 pods of Deployment web', 60_000, async () => {
      const list = await kubectlJson<{ items: Pod[] }>(['get', 'pods', '-n', NS, '-l', 'app=web']);
      return list.items.length >= 2 ? list.items : undefined;
    });
    for (const pod of pods) {
      expect(pod.metadata?.ownerReferences?.[0]?.kind).toBe('ReplicaSet');
      expect(pod.spec.automountServiceAccountToken).toBe(false);
      expect(apiAccessVolumes(pod)).toEqual([]);
      const vault = (pod.spec.volumes ?? []).find((v) => v.name === 'vault-token');
      expect(tokenSources(vault)).toEqual([{ audience: 'vault', expirationSeconds: 3600, path: 'token' }]);
      for (const c of allContainers(pod)) {
        const mounts = c.volumeMounts ?? [];
        expect({
          pod: pod.metadata?.name,
          container: c.name,
          vault: mounts.filter((m) => m.name === 'vault-token').length,
          api: mounts.filter((m) => m.mountPath === API_TOKEN_PATH).length,
        }).toEqual({
          pod: pod.metadata?.name,
          container: c.name,
          vault: 1,
          api: 0,
        });
      }
    }
  });
});
