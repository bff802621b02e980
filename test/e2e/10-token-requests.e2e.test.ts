/**
 * Scenario 10: TokenRequest limits (`kubectl create token`). The webhooks for
 * `serviceaccounts/token` CREATE are the ones deploy/base defines (mutate-token-requests and
 * validate-token-requests.tokenguard.dev). If deploy/base has none, this scenario adds them to
 * its own rendered configurations only, copied from mutate.tokenguard.dev and
 * validate-pods.tokenguard.dev (same URL, failurePolicy, timeouts, namespaceSelector; no
 * matchConditions). Policies: test/fixtures/policies/token-requests-vault (the README's example:
 * maxExpirationSeconds 7200, allowedAudiences vault only, so a request with no audience must pass
 * as the API server's own; Deny; one exempt user), and the same with Mutate (written here).
 * The API server fills in its own audience before the validating webhook sees a request, and
 * issues a pod-bound 3607 s token for a year (docs/tokens.md): both are checked on it here.
 */
import { loadState } from './env.js';
import { type LogOffsets, offsetsNow, webhookHealth } from './health.js';
import { create, ensureNamespace, kubectl, podManifest, tokenLifetime } from './kube.js';
import { type PolicySet, policyFiles, serveAlive, setPolicies, startServe, stopServe } from './tokenguard.js';
import { type RenderedConfigs, registerWebhooks, renderWebhookConfigs, type Webhook } from './webhooks.js';

const NS = 'e2e-tokens';
const VALIDATE = 'validate-token-requests.tokenguard.dev';
const MUTATE = 'mutate-token-requests.tokenguard.dev';
const POLICIES = 'test/fixtures/policies/token-requests-vault';
/** The pod the pod-bound tokens are bound to (stays Pending: there is no kubelet). */
const POD = 'bound-to';
const ISSUER = 'https://kubernetes.default.svc';

/** token-requests-vault with onViolation Mutate. */
function shortenPolicies(): PolicySet {
  const set = policyFiles(POLICIES);
  return Object.fromEntries(
    Object.entries(set).map(([file, text]) => [file, text.replace('onViolation: Deny', 'onViolation: Mutate')]),
  );
}
let base: RenderedConfigs;
let withTokensConfigs: RenderedConfigs;
let since: LogOffsets;

function tokenRequestHook(from: Webhook | undefined, name: string): Webhook {
  if (!from) throw new Error(`e2e: deploy/base lacks the webhook to copy for ${name}`);
  const hook = structuredClone(from);
  hook.name = name;
  hook.rules = [
    {
      apiGroups: [''],
      apiVersions: ['v1'],
      operations: ['CREATE'],
      resources: ['serviceaccounts/token'],
      scope: 'Namespaced',
    },
  ];
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
    withTokens.mutating.webhooks.push(
      tokenRequestHook(
        base.mutating.webhooks.find((w) => w.name === 'mutate.tokenguard.dev'),
        MUTATE,
      ),
    );
  }
  if (!withTokens.validating.webhooks.some((w) => w.name === VALIDATE)) {
    withTokens.validating.webhooks.push(
      tokenRequestHook(
        base.validating.webhooks.find((w) => w.name === 'validate-pods.tokenguard.dev'),
        VALIDATE,
      ),
    );
  }
  const rules = (w: Webhook | undefined) =>
    w?.rules.flatMap((r) => r.resources.map((res) => `${r.operations.join('+')} ${res}`));
  expect(rules(withTokens.mutating.webhooks.find((w) => w.name === MUTATE))).toEqual(['CREATE serviceaccounts/token']);
  expect(rules(withTokens.validating.webhooks.find((w) => w.name === VALIDATE))).toEqual([
    'CREATE serviceaccounts/token',
  ]);
  await setPolicies(policyFiles(POLICIES));
  await ensureNamespace(NS);
  await registerWebhooks(withTokens);
  await create(podManifest(NS, POD));
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
      `admission webhook "${VALIDATE}" denied the request: tokenguard: token-requests-vault/token-request: requested expirationSeconds 172800 exceeds the maximum 7200`,
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
    expect(bad.stderr).toContain('"somewhere-else" not allowed (allowed: vault)');
  });

  test('allowedAudiences [vault]: plain kubectl create token (no audience; the API server fills in its own before validating) is issued', async () => {
    const r = await createToken('--duration=1h');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const { lifetime, claims } = tokenLifetime(r.stdout.trim());
    expect(lifetime).toBe(3600);
    expect(claims.aud).toEqual([ISSUER]);
  });

  test('the API server issues a pod-bound 3607 s token for a year: the exempt user gets one', async () => {
    const r = await createToken(
      '--bound-object-kind=Pod',
      `--bound-object-name=${POD}`,
      '--duration=3607s',
      '--as=system:serviceaccount:ci:deployer',
      '--as-group=system:masters',
    );
    expect(r.stderr).toBe('');
    const { lifetime, claims } = tokenLifetime(r.stdout.trim());
    expect(lifetime).toBe(31536000);
    expect((claims['kubernetes.io'] as { warnafter?: number }).warnafter).toBe(Number(claims.iat) + 3607);
  });

  test('Deny: the same pod-bound 3607 s request is refused under the 7200 s maximum; 3606 s is issued and lives 3606 s', async () => {
    const r = await createToken('--bound-object-kind=Pod', `--bound-object-name=${POD}`, '--duration=3607s');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(
      `admission webhook "${VALIDATE}" denied the request: tokenguard: token-requests-vault/token-request: requested expirationSeconds 3607 (extended to 31536000 s) exceeds the maximum 7200`,
    );
    const ok = await createToken('--bound-object-kind=Pod', `--bound-object-name=${POD}`, '--duration=3606s');
    expect(ok.code).toBe(0);
    expect(tokenLifetime(ok.stdout.trim()).lifetime).toBe(3606);
    // Not bound to a pod, 3607 s is not extended: issued as asked.
    const unbound = await createToken('--duration=3607s');
    expect(unbound.code).toBe(0);
    expect(tokenLifetime(unbound.stdout.trim()).lifetime).toBe(3607);
  });

  test('Mutate: kubectl create token --duration=48h gets a token shortened to 7200 s; a pod-bound 3607 s one gets 3606 s', async () => {
    await setPolicies(shortenPolicies());
    const r = await createToken('--duration=48h');
    expect(r.code).toBe(0);
    expect(tokenLifetime(r.stdout.trim()).lifetime).toBe(7200);
    // The requester is told, as the API server's own maximum would tell them.
    expect(r.stderr).toContain(
      'Warning: tokenguard: token-requests-vault: requested expirationSeconds 172800 shortened to 7200',
    );
    const bound = await createToken('--bound-object-kind=Pod', `--bound-object-name=${POD}`, '--duration=3607s');
    expect(bound.code).toBe(0);
    expect(tokenLifetime(bound.stdout.trim()).lifetime).toBe(3606);
    expect(bound.stderr).toContain(
      'Warning: tokenguard: token-requests-vault: requested expirationSeconds 3607 (extended to 31536000 s) shortened to 3606',
    );
  });

  test('every webhook call so far in this scenario succeeded', async () => {
    const report = await webhookHealth(since);
    expect(report.problems).toEqual([]);
    expect(report.calls[`${VALIDATE} code=403 rejected=true`] ?? 0).toBeGreaterThanOrEqual(3);
  });

  test("tokenguard stopped: the outcome follows validate-token-requests' failurePolicy", async () => {
    await setPolicies(policyFiles(POLICIES));
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
