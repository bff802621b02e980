/**
 * Scenario 12: a legacy ServiceAccount token copied into another Secret (a kubeconfig, an .env
 * file). deploy/base sends Secrets of other types to scan-secrets.tokenguard.dev (CREATE and
 * UPDATE, failurePolicy Ignore). The token is a real one: the controller-manager's token
 * controller fills a token Secret created in kube-system (which the webhooks never see).
 * - shipped policies (embeddedTokens: Warn): the Secret is stored, and kubectl shows a warning
 *   that names the key and the token's subject;
 * - test/fixtures/policies/strict (embeddedTokens: Deny): CREATE and UPDATE are refused;
 * - a short-lived token from `kubectl create token` is not flagged;
 * - the token text reaches no log.
 */
import { readFileSync } from 'node:fs';
import { loadState, waitFor } from './env.js';
import {
  create,
  createRefused,
  ensureNamespace,
  getObject,
  kubectl,
  kubectlOk,
  type K8sObject,
  warningLines,
} from './kube.js';
import { policyFiles, setPolicies } from './tokenguard.js';
import { legacyTokenSecret } from './webhooks.js';

const SCAN = 'scan-secrets.tokenguard.dev';

const NS = 'e2e-embedded';
/** How tokenguard names that subject in messages: the policy form `namespace/name`. */
const SHORT_SUBJECT = 'kube-system/default';
let legacyToken = '';

function kubeconfigWith(token: string): K8sObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    metadata: { namespace: NS },
    stringData: { kubeconfig: `apiVersion: v1\nkind: Config\nusers:\n- name: ci\n  user:\n    token: ${token}\n` },
  };
}

function named(o: K8sObject, name: string): K8sObject {
  return { ...o, metadata: { ...o.metadata, name } };
}

beforeAll(async () => {
  await ensureNamespace(NS);
  await kubectlOk(['apply', '-f', '-'], {
    input: JSON.stringify(legacyTokenSecret('kube-system', 'e2e-legacy-source')),
  });
  legacyToken = await waitFor('the token controller to fill kube-system/e2e-legacy-source', 60_000, async () => {
    const s = (await getObject('secret', 'e2e-legacy-source', 'kube-system')) as
      | { data?: { token?: string } }
      | undefined;
    return s?.data?.token ? Buffer.from(s.data.token, 'base64').toString('utf8') : undefined;
  });
});

afterAll(async () => {
  await kubectl(['delete', 'secret', 'e2e-legacy-source', '-n', 'kube-system', '--ignore-not-found']);
});

describe('scenario 12: legacy tokens embedded in other Secrets', () => {
  test('shipped policies (Warn): stored, with a warning naming the key', async () => {
    await setPolicies(policyFiles('policies'));
    const { stored, result } = await create(named(kubeconfigWith(legacyToken), 'kubeconfig-warned'));
    expect(stored.type).toBe('Opaque');
    expect(warningLines(result.stderr)).toContainEqual(
      `Warning: tokenguard: legacy-token-secrets: legacy token of ${SHORT_SUBJECT} in data key "kubeconfig" (never expires)`,
    );
  });

  test('strict (Deny): CREATE is refused by scan-secrets with the reason', async () => {
    await setPolicies(policyFiles('test/fixtures/policies/strict'));
    const r = await createRefused(named(kubeconfigWith(legacyToken), 'kubeconfig-denied'));
    expect(r.stderr).toContain(`admission webhook "${SCAN}" denied the request: tokenguard:`);
    expect(r.stderr).toContain(`legacy token of ${SHORT_SUBJECT} in data key "kubeconfig" (never expires)`);
    expect(await getObject('secret', 'kubeconfig-denied', NS)).toBeUndefined();
  });

  test('strict (Deny): an UPDATE that pastes the token into an existing Secret is refused', async () => {
    await create(named(kubeconfigWith('none-yet'), 'kubeconfig-updated'));
    // `kubectl replace`, not `apply`: apply echoes its whole patch, Secret data included, when refused.
    const r = await kubectl(['replace', '-f', '-'], {
      input: JSON.stringify(named(kubeconfigWith(legacyToken), 'kubeconfig-updated')),
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(
      `admission webhook "${SCAN}" denied the request: tokenguard: strict/embedded-legacy-token: legacy token of ${SHORT_SUBJECT} in data key "kubeconfig"`,
    );
  });

  test('a short-lived token from kubectl create token is not flagged', async () => {
    const bound = (await kubectlOk(['create', 'token', 'default', '-n', NS, '--duration=10m'])).stdout.trim();
    const { result } = await create(named(kubeconfigWith(bound), 'kubeconfig-bound'));
    expect(warningLines(result.stderr)).toEqual([]);
  });

  test('the token text reaches no log', () => {
    const state = loadState();
    expect(legacyToken.length).toBeGreaterThan(100);
    for (const file of [state.serve.log, state.logs.apiserver, state.logs.controllerManager, state.logs.transcript]) {
      expect({ file, leaked: readFileSync(file, 'utf8').includes(legacyToken.slice(-40)) }).toEqual({
        file,
        leaked: false,
      });
    }
  });
});
