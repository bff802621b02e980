/**
 * Scenario 10: TokenRequest limits (`kubectl create token`). The webhooks for
 * `serviceaccounts/token` CREATE are the ones deploy/base defines (mutate-token-requests and
 * validate-token-requests.tokenguard.dev). If deploy/base has none, this scenario adds them to
 * its own rendered configurations only, copied from mutate.tokenguard.dev and
 * validate-pods.tokenguard.dev (same URL, failurePolicy, timeouts, namespaceSelector; no
 * matchConditions). Policies: test/fixtures/policies/token-requests (maxExpirationSeconds 3600,
 * audiences vault and the API server's, Deny, one exempt user) and
 * test/fixtures/policies/token-requests-shorten (the same with Mutate).
 */
import { loadState } from './env.js';
import { type LogOffsets, offsetsNow, webhookHealth } from './health.js';
import { ensureNamespace, kubectl, tokenLifetime } from './kube.js';
import { policyFiles, serveAlive, setPolicies, startServe, stopServe } from './tokenguard.js';
import { type RenderedConfigs, registerWebhooks, renderWebhookConfigs, type Webhook } from './webhooks.js';

const NS = 'e2e-tokens';
const VALIDATE = 'validate-token-requests.tokenguard.dev';
const MUTATE = 'mutate-token-requests.tokenguard.dev';
let base: RenderedConfigs;
let withTokensConfigs: RenderedConfigs;
let since: LogOffsets;

function tokenRequestHook(from: Webhook | undefined, name: string): Webhook {
  if (!from) throw new Error(`e2e: deploy/base lacks the webhook to copy for ${name}`);
  const hook = structuredClone(from);
  hook.name = name;
  hook.rules = [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['serviceaccounts/token'], scope: 'Namespaced' }];
  delete hook.matchConditions;
  return hook;
}

beforeAll(async () => {
  const state = loadState();
  since = await offsetsNow(state);
  base = await renderWebhookConfigs(state.webhookBaseUrl, state.caBundle);
  const withTokens = structuredClone(base);
  withTokensConfigs = withTokens;
  if (!withTokens.mutating.webhooks.some((w) => w.name === MUTATE)) {
    withTokens.mutating.webhooks.push(tokenRequestHook(base.mutating.webhooks.find((w) => w.name === 'mutate.tokenguard.dev'), MUTATE));
  }
  if (!withTokens.validating.webhooks.some((w) => w.name === VALIDATE)) {
    withTokens.validating.webhooks.push(tokenRequestHook(base.validating.webhooks.find((w) => w.name === 'validate-pods.tokenguard.dev'), VALIDATE));
  }
  const rules = (w: Webhook | undefined) => w?.rules.flatMap((r) => r.resources.map((res) => `${r.operations.join('+')} ${res}`));
  expect(rules(withTokens.mutating.webhooks.find((w) => w.name === MUTATE))).toEqual(['CREATE serviceaccounts/token']);
  expect(rules(withTokens.validating.webhooks.find((w) => w.name === VALIDATE))).toEqual(['CREATE serviceaccounts/token']);
  await setPolicies(policyFiles('test/fixtures/policies/token-requests'));
  await ensureNamespace(NS);
  await registerWebhooks(withTokens);
});

afterAll(async () => {
  if (!serveAlive(loadState())) await startServe();
  await registerWebhooks(base);
});

async function createToken(...args: string[]) {
  return kubectl(['create', 'token', 'default', '-n', NS, ...args]);
}

describe('scenario 10: TokenRequest limits', () => {
  test('Deny: kubectl create token --duration=48h is refused with the policy message', async () => {
    const r = await createToken('--duration=48h');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(
      `admission webhook "${VALIDATE}" denied the request: tokenguard: token-requests/token-request: requested expirationSeconds 172800 exceeds the maximum 3600`,
    );
    expect(r.stdout).toBe('');
  });

  test('Deny: a token within the limits is issued (1h), one for another audience is refused', async () => {
    const ok = await createToken('--duration=1h', '--audience=vault');
    expect(ok.code).toBe(0);
    const { lifetime, claims } = tokenLifetime(ok.stdout.trim());
    expect(lifetime).toBe(3600);
    expect(claims.aud).toEqual(['vault']);
    const bad = await createToken('--duration=1h', '--audience=somewhere-else');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain(`admission webhook "${VALIDATE}" denied the request: tokenguard:`);
    expect(bad.stderr).toContain('"somewhere-else" not allowed');
  });

  test('Deny: an exempt user gets the long token', async () => {
    const r = await createToken('--duration=48h', '--as=system:serviceaccount:ci:deployer', '--as-group=system:masters');
    expect(r.stderr).toBe('');
    expect(tokenLifetime(r.stdout.trim()).lifetime).toBe(172800);
  });

  test('Mutate: kubectl create token --duration=48h gets a token shortened to 3600 s', async () => {
    await setPolicies(policyFiles('test/fixtures/policies/token-requests-shorten'));
    const r = await createToken('--duration=48h');
    expect(r.code).toBe(0);
    expect(tokenLifetime(r.stdout.trim()).lifetime).toBe(3600);
    // The requester is told, as the API server's own maximum would tell them.
    expect(r.stderr).toContain('Warning: tokenguard: token-requests-shorten: requested expirationSeconds 172800 shortened to 3600');
  });

  test('every webhook call so far in this scenario succeeded', async () => {
    const report = await webhookHealth(since);
    expect(report.problems).toEqual([]);
    expect(report.calls[`${VALIDATE} code=403 rejected=true`] ?? 0).toBeGreaterThanOrEqual(2);
  });

  test("tokenguard stopped: the outcome follows validate-token-requests' failurePolicy", async () => {
    await setPolicies(policyFiles('test/fixtures/policies/token-requests'));
    const policy = withTokensConfigs.validating.webhooks.find((w) => w.name === VALIDATE)?.failurePolicy;
    await stopServe();
    try {
      const r = await createToken('--duration=48h');
      if (policy === 'Ignore') {
        // Fail open: while tokenguard is down, the limit does not apply.
        expect(r.code).toBe(0);
        expect(tokenLifetime(r.stdout.trim()).lifetime).toBe(172800);
      } else {
        expect(r.code).not.toBe(0);
        expect(r.stderr).toContain(`failed calling webhook "${VALIDATE}"`);
      }
    } finally {
      await startServe();
    }
  });
});
