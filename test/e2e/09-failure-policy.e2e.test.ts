/**
 * Scenario 9: what the failurePolicy of deploy/base does, against the real API server.
 * - Mutation skipped (mutating configuration absent): the validating webhook judges the final
 *   pod and refuses it with the policy's own message (deploy/README.md's claim).
 * - tokenguard stopped: validate-pods and validate-secrets (Fail) make creation fail with
 *   "failed calling webhook"; the mutating webhook (Ignore) fails open; Secrets that are not
 *   token Secrets are still created: validate-secrets does not match them (matchConditions), and
 *   scan-secrets, where deploy/base has it, fails open (Ignore).
 * - tokenguard stopped and the validating configuration deleted: the mutating webhook alone does
 *   not block, and the pod is stored unmutated.
 * Afterwards tokenguard is restarted and both configurations registered again.
 * Policies: test/fixtures/policies/strict.
 */
import { fileSize, loadState, readSince, WEBHOOKS, waitFor } from './env.js';
import {
  apiAccessVolumes,
  create,
  createRefused,
  ensureNamespace,
  getObject,
  kubectl,
  type Pod,
  podManifest,
  tokenSources,
} from './kube.js';
import { policyFiles, serveAlive, setPolicies, startServe, stopServe } from './tokenguard.js';
import {
  deleteWebhookConfiguration,
  legacyTokenSecret,
  type RenderedConfigs,
  registerWebhooks,
  renderWebhookConfigs,
} from './webhooks.js';

const NS = 'e2e-failure';
/** deploy/base's embedded-token scan of other Secrets (failurePolicy Ignore), when present. */
const SCAN_SECRETS = 'scan-secrets.tokenguard.dev';
let configs: RenderedConfigs;

beforeAll(async () => {
  const state = loadState();
  await setPolicies(policyFiles('test/fixtures/policies/strict'));
  await ensureNamespace(NS);
  configs = await renderWebhookConfigs(state.webhookBaseUrl, state.caBundle);
});

afterAll(async () => {
  // Leave the suite as the setup made it, whatever happened above.
  if (!serveAlive(loadState())) await startServe();
  await registerWebhooks(configs);
});

describe('scenario 9: failure policies', () => {
  test('mutation skipped: validate-pods refuses the unmutated pod with the policy message', async () => {
    await deleteWebhookConfiguration('mutatingwebhookconfiguration');
    await registerWebhooks({ validating: configs.validating });
    const r = await createRefused(podManifest(NS, 'not-mutated'));
    expect(r.stderr).toMatch(
      new RegExp(
        `admission webhook "${WEBHOOKS.validatePods.replace(/\./g, '\\.')}" denied the request: tokenguard: strict/[a-z-]+: .*kube-api-access-[a-z0-9]{5}`,
      ),
    );
    expect(await getObject('pod', 'not-mutated', NS)).toBeUndefined();
    await registerWebhooks(configs);
  });

  test('tokenguard stopped: pods and token Secrets are refused (Fail), the mutating webhook fails open (Ignore)', async () => {
    let state = loadState();
    const apiserverOffset = fileSize(state.logs.apiserver);
    state = await stopServe(state);
    expect(serveAlive(state)).toBe(false);

    const pod = await createRefused(podManifest(NS, 'while-down'));
    expect(pod.stderr).toContain(`failed calling webhook "${WEBHOOKS.validatePods}"`);
    expect(await getObject('pod', 'while-down', NS)).toBeUndefined();
    // The mutating webhook was called first and failed open; only the API server log says so.
    const failOpen = new RegExp(
      `Failed calling webhook, failing open ${WEBHOOKS.mutate.replace(/\./g, '\\.')}: failed calling webhook "${WEBHOOKS.mutate.replace(/\./g, '\\.')}": failed to call webhook: Post "${state.webhookBaseUrl}/mutate\\?timeout=5s": dial tcp [^ ]+: connect: connection refused`,
    );
    const line = await waitFor('the API server to log the failed-open call', 10_000, async () =>
      readSince(state.logs.apiserver, apiserverOffset)
        .split('\n')
        .find((l) => failOpen.test(l)),
    );
    expect(line).toMatch(/^W\d{4} /);

    const secret = await createRefused(legacyTokenSecret(NS, 'legacy-while-down'));
    expect(secret.stderr).toContain(`failed calling webhook "${WEBHOOKS.validateSecrets}"`);

    const { stored } = await create({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'opaque-while-down', namespace: NS },
      type: 'Opaque',
      stringData: { k: 'v' },
    });
    expect(stored.type).toBe('Opaque');
    const scan = [...configs.validating.webhooks].find((w) => w.name === SCAN_SECRETS);
    if (scan) {
      expect(scan.failurePolicy).toBe('Ignore');
      await waitFor('the API server to log the failed-open scan', 10_000, async () =>
        readSince(state.logs.apiserver, apiserverOffset).includes(
          `Failed calling webhook, failing open ${SCAN_SECRETS}:`,
        )
          ? true
          : undefined,
      );
    }
  });

  test('tokenguard stopped, validating configuration deleted: the mutating webhook alone does not block; the pod is stored unmutated', async () => {
    expect(serveAlive(loadState())).toBe(false);
    await deleteWebhookConfiguration('validatingwebhookconfiguration');
    // The API server drops the deleted configuration within a moment: wait, bounded.
    await waitFor('pod creation to be admitted without the validating webhook', 60_000, async () => {
      const r = await kubectl(['create', '-f', '-', '--dry-run=server', '-o', 'name'], {
        input: JSON.stringify(podManifest(NS, 'probe')),
      });
      return r.code === 0 ? true : undefined;
    });
    const { stored } = await create(podManifest(NS, 'unmutated'));
    const pod = stored as Pod;
    expect(pod.spec.automountServiceAccountToken).toBeUndefined();
    expect(apiAccessVolumes(pod)).toHaveLength(1);
    expect(tokenSources(apiAccessVolumes(pod)[0])).toEqual([{ path: 'token', expirationSeconds: 3607 }]);
  });

  test('tokenguard restarted and the configurations registered again: pods are mutated again', async () => {
    await startServe();
    await registerWebhooks(configs);
    const { stored } = await create(podManifest(NS, 'after-restart'));
    expect((stored as Pod).spec.automountServiceAccountToken).toBe(false);
  });
});
