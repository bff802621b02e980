/**
 * Scenario 6: audit mode (test/fixtures/policies/audit: the strict rules with mode Audit). kubectl
 * prints the API server's `Warning:` lines on stderr, and what is stored is exactly what would be
 * stored without tokenguard.
 */
import {
  API_TOKEN_PATH,
  allContainers,
  apiAccessVolumes,
  create,
  ensureNamespace,
  getObject,
  type Pod,
  podManifest,
  tokenSources,
  warningLines,
} from './kube.js';
import { policyFiles, setPolicies } from './tokenguard.js';
import { legacyTokenSecret } from './webhooks.js';

const NS = 'e2e-audit';

beforeAll(async () => {
  await setPolicies(policyFiles('test/fixtures/policies/audit'));
  await ensureNamespace(NS);
});

describe('scenario 6: audit mode', () => {
  test('a pod that would lose its token is stored unchanged, and kubectl shows warnings', async () => {
    const { stored, result } = await create(
      podManifest(NS, 'audited', { initContainers: ['init'], containers: ['app'] }),
    );
    const pod = stored as Pod;
    expect(pod.spec.automountServiceAccountToken).toBeUndefined();
    const volumes = apiAccessVolumes(pod);
    expect(volumes).toHaveLength(1);
    expect(tokenSources(volumes[0])).toEqual([{ path: 'token', expirationSeconds: 3607 }]);
    for (const c of allContainers(pod))
      expect((c.volumeMounts ?? []).map((m) => m.mountPath)).toEqual([API_TOKEN_PATH]);
    const warnings = warningLines(result.stderr);
    expect(warnings.length).toBeGreaterThan(0);
    expect(warnings.every((w) => w.includes('strict-audit'))).toBe(true);
  });

  test('a legacy token Secret is stored, with a warning', async () => {
    const { stored, result } = await create(legacyTokenSecret(NS, 'audited-legacy'));
    expect(stored.type).toBe('kubernetes.io/service-account-token');
    const warnings = warningLines(result.stderr);
    expect(warnings.some((w) => w.includes('strict-audit') && w.includes('legacy token Secret'))).toBe(true);
    expect(await getObject('secret', 'audited-legacy', NS)).toBeDefined();
  });
});
