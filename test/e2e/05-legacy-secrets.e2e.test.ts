/**
 * Scenario 5: legacy token Secrets, with the policies the product ships (policies/*.yaml).
 * A Secret of type kubernetes.io/service-account-token is refused with the policy's message, on
 * create and on `kubectl apply --dry-run=server`; an Opaque Secret is stored.
 */
import { WEBHOOKS } from './env.js';
import {
  API_TOKEN_PATH,
  apiAccessVolumes,
  create,
  createRefused,
  ensureNamespace,
  getObject,
  kubectl,
  type Pod,
  podManifest,
  tokenSources,
  warningLines,
} from './kube.js';
import { policyFiles, setPolicies } from './tokenguard.js';
import { legacyTokenSecret } from './webhooks.js';

const NS = 'e2e-secrets';
/** The API server's prefix, then tokenguard's `policy/rule: message` (policies/legacy-token-secrets.yaml). */
const DENIED = `admission webhook "${WEBHOOKS.validateSecrets}" denied the request: tokenguard: legacy-token-secrets/legacy-token-secret: legacy token Secret for ServiceAccount ${NS}/default: such tokens never expire; use kubectl create token or a projected token`;

beforeAll(async () => {
  await setPolicies(policyFiles('policies'));
  await ensureNamespace(NS);
});

describe('scenario 5: legacy token Secrets (shipped policies)', () => {
  test('kubectl create of a token Secret is refused with the policy message, and nothing is stored', async () => {
    const r = await createRefused(legacyTokenSecret(NS, 'legacy'));
    expect(r.stderr).toContain(DENIED);
    expect(r.stderr).toMatch(/\(Forbidden\)/);
    expect(await getObject('secret', 'legacy', NS)).toBeUndefined();
  });

  test('kubectl apply --dry-run=server is refused the same way', async () => {
    const r = await kubectl(['apply', '--dry-run=server', '-f', '-'], {
      input: JSON.stringify(legacyTokenSecret(NS, 'legacy-dry-run')),
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(DENIED);
  });

  test('an Opaque Secret is stored', async () => {
    const { stored, result } = await create({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'plain', namespace: NS },
      type: 'Opaque',
      stringData: { key: 'value' },
    });
    expect(stored.type).toBe('Opaque');
    expect(warningLines(result.stderr)).toEqual([]);
    expect(await getObject('secret', 'plain', NS)).toBeDefined();
  });

  test('shipped automount policy: the default ServiceAccount is bound by nothing, so the pod loses its token', async () => {
    const { stored } = await create(podManifest(NS, 'default-pod'));
    const pod = stored as Pod;
    expect(pod.spec.automountServiceAccountToken).toBe(false);
    expect(apiAccessVolumes(pod)).toEqual([]);
    expect(pod.spec.containers[0]?.volumeMounts ?? []).toEqual([]);
  });

  test('an opted-in pod keeps its token, and kubectl shows the Audit warning about 3607 s', async () => {
    const { stored, result } = await create(
      podManifest(NS, 'api-pod', { annotations: { 'tokenguard.dev/api-access': 'true' } }),
    );
    const pod = stored as Pod;
    expect(apiAccessVolumes(pod)).toHaveLength(1);
    expect(tokenSources(apiAccessVolumes(pod)[0])).toEqual([{ path: 'token', expirationSeconds: 3607 }]);
    expect(pod.spec.containers[0]?.volumeMounts?.map((m) => m.mountPath)).toEqual([API_TOKEN_PATH]);
    const warnings = warningLines(result.stderr);
    expect(warnings.some((w) => w.includes('api-token-expiration'))).toBe(true);
  });
});
