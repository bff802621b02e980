/**
 * `tokenguard test --engine vap`: the manifests judged by the exported ValidatingAdmissionPolicies
 * and MutatingAdmissionPolicies instead of the webhook, through the same dry run and report.
 */
import { testCli } from './helpers.js';

const outcomes = (json: string) =>
  (
    JSON.parse(json) as {
      objects: {
        kind: string;
        name: string;
        outcome: string;
        denials: { policy: string; rule: string; message: string }[];
      }[];
    }
  ).objects.map((o) => ({
    object: `${o.kind}/${o.name}`,
    outcome: o.outcome,
    denials: o.denials.map((d) => `${d.policy}/${d.rule}: ${d.message}`),
  }));

test("on the examples with the shipped policies, every object has the webhook engine's outcome and denials", async () => {
  const args = ['--output', 'json', '--policies', 'policies', 'examples/manifests'];
  const webhook = await testCli(args);
  const vap = await testCli(['--engine', 'vap', ...args]);
  expect(vap.code).toBe(webhook.code);
  expect(outcomes(vap.stdout)).toEqual(outcomes(webhook.stdout));
  expect(outcomes(vap.stdout).some((o) => o.outcome === 'denied')).toBe(true);
  // What the exported policies cannot judge is said on standard error.
  expect(vap.stderr).toContain(
    'tokenguard test: --engine vap: legacy-token-secrets: not judged: legacyTokenSecrets.embeddedTokens',
  );
});

test('strict: a pod is mutated by the MutatingAdmissionPolicies and admitted; its token clamped as the webhook clamps it', async () => {
  const pod = `apiVersion: v1
kind: Pod
metadata: {name: p, namespace: team-a}
spec:
  containers: [{name: app, image: x, volumeMounts: [{name: vault, mountPath: /vault}]}]
  volumes: [{name: vault, projected: {sources: [{serviceAccountToken: {audience: vault, expirationSeconds: 604800, path: token}}]}}]
`;
  const args = ['--output', 'json', '--policies', 'test/fixtures/policies/strict', '-'];
  const webhook = JSON.parse((await testCli(args, { stdin: pod })).stdout) as {
    objects: { outcome: string; admission?: unknown; tokens: { volume: string; expirationSeconds: number }[] }[];
  };
  const vap = JSON.parse((await testCli(['--engine', 'vap', ...args], { stdin: pod })).stdout) as typeof webhook;
  expect(vap.objects[0]?.outcome).toBe('mutated');
  expect(vap.objects[0]?.outcome).toBe(webhook.objects[0]?.outcome);
  expect(vap.objects[0]?.tokens).toEqual(webhook.objects[0]?.tokens);
  expect(vap.objects[0]?.tokens).toEqual([
    {
      volume: 'vault',
      audience: 'vault',
      expirationSeconds: 7200,
      lifetimeSeconds: 7200,
      extended: false,
      apiToken: false,
      containers: ['containers/app'],
      note: expect.any(String),
    },
  ]);
});

test('what CEL cannot see makes the engines differ: an RBAC-bound ServiceAccount keeps its token with the webhook only', async () => {
  const manifests = `apiVersion: v1
kind: ServiceAccount
metadata: {name: operator, namespace: team-a}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: operator-edit, namespace: team-a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: edit}
subjects: [{kind: ServiceAccount, name: operator, namespace: team-a}]
---
apiVersion: v1
kind: Pod
metadata: {name: op, namespace: team-a}
spec: {serviceAccountName: operator, containers: [{name: app, image: x}]}
`;
  const args = ['--output', 'json', '--policies', 'test/fixtures/policies/strict', '--bindings-complete', '-'];
  type Tokens = { objects: { kind: string; tokens?: { volume: string; expirationSeconds: number }[] }[] };
  const tokens = (r: string) =>
    ((JSON.parse(r) as Tokens).objects.find((o) => o.kind === 'Pod')?.tokens ?? []).map(
      (t) => `${t.volume.replace(/-[a-z0-9]{5}$/, '-*')} ${t.expirationSeconds}`,
    );
  // The webhook knows the RoleBinding: the pod keeps its API token, bounded to 3600 s.
  expect(tokens((await testCli(args, { stdin: manifests })).stdout)).toEqual(['kube-api-access-* 3600']);
  // CEL cannot read RBAC bindings: whenUnknown NotNeeded removes it.
  expect(tokens((await testCli(['--engine', 'vap', ...args], { stdin: manifests })).stdout)).toEqual([]);
});

test('--engine takes webhook or vap', async () => {
  const r = await testCli(['--engine', 'cel', 'examples/manifests']);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('--engine must be webhook or vap');
});
