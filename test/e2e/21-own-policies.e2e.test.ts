/**
 * Scenario 21: a policy of your own, added the documented ways, is enforced by the running webhook.
 *
 * - kustomize: the "Your own policies" kustomization of deploy/README.md (a configMapGenerator
 *   merge of policies/vault.yaml into tokenguard-policies), rendered with `kubectl kustomize`;
 * - Helm: `--set-file policies.extra.vault\.yaml=policies/vault.yaml` (charts/tokenguard/README.md).
 *
 * For each, the ConfigMap is applied to the API server for real, read back, and given to the
 * running tokenguard as a kubelet mounts it (tokenguard.ts setPolicies). Then the API server's
 * answers show the policy in force, beside the shipped ones the ConfigMap keeps.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { copyInstallTree } from '../helpers/deploy-tree.js';
import { DOCUMENTED, documentedKustomization, writeUserOverlay } from '../helpers/documented.js';
import { parseManifests } from '../helpers/render.js';
import { tool } from '../helpers/tools.js';
import { loadState, REPO_ROOT } from './env.js';
import {
  apply,
  ensureNamespace,
  type K8sObject,
  KUBECTL,
  kubectl,
  kubectlJson,
  type Pod,
  podManifest,
} from './kube.js';
import { policyFiles, setPolicies } from './tokenguard.js';

const NS = 'e2e-own-policies';
const SHIPPED = ['automount.yaml', 'legacy-token-secrets.yaml', 'token-bounds.yaml'];
/** policies/vault.yaml of the user: inject a vault token in one namespace, and allow no other audience there. */
const VAULT = `apiVersion: tokenguard.dev/v1alpha1
kind: TokenPolicy
metadata:
  name: e2e-own-vault
spec:
  mode: Enforce
  match:
    namespaces: ["${NS}"]
  projectedTokens:
    inject:
      - volumeName: vault-token
        audience: vault
        expirationSeconds: 3600
        mountPath: /var/run/secrets/tokens/vault
    bounds:
      allowedAudiences: ["vault"]
      onViolation: Deny
`;
let work = '';

beforeAll(async () => {
  work = mkdtempSync(join(loadState().workDir, 'own-policies-'));
  copyInstallTree(REPO_ROOT, join(work, 'tokenguard'));
  await ensureNamespace('tokenguard-system');
  await ensureNamespace(NS);
});
afterAll(async () => {
  await kubectl(['delete', 'configmap', 'tokenguard-policies', '-n', 'tokenguard-system', '--ignore-not-found']);
  await setPolicies(policyFiles('test/fixtures/policies/strict'));
  if (work) rmSync(work, { recursive: true, force: true });
});

function kustomizeWay(): K8sObject {
  const dir = writeUserOverlay(
    join(work, 'my-tokenguard'),
    documentedKustomization(DOCUMENTED.ownPolicies, 'own policies'),
    { 'policies/vault.yaml': VAULT },
  );
  const objs = parseManifests(execFileSync(KUBECTL, ['kustomize', dir], { encoding: 'utf8' }), 'kubectl kustomize');
  const cm = objs.filter((o) => o.kind === 'ConfigMap');
  expect(cm).toHaveLength(1);
  return cm[0] as K8sObject;
}

function helmWay(): K8sObject {
  const file = join(work, 'vault.yaml');
  writeFileSync(file, VAULT);
  const text = execFileSync(
    tool('helm'),
    [
      'template',
      'tokenguard',
      join(REPO_ROOT, 'charts/tokenguard'),
      '--namespace',
      'tokenguard-system',
      '--set-file',
      `policies.extra.vault\\.yaml=${file}`,
      '--show-only',
      'templates/configmap-policies.yaml',
    ],
    { encoding: 'utf8' },
  );
  const objs = parseManifests(text, 'helm template');
  expect(objs).toHaveLength(1);
  return objs[0] as K8sObject;
}

describe.each([
  ['kustomize (deploy/README.md, "Your own policies")', kustomizeWay],
  ['Helm (policies.extra)', helmWay],
])('scenario 21: %s', (_way, render) => {
  test('the ConfigMap the cluster stores holds the shipped policies and vault.yaml; tokenguard, given it, enforces vault.yaml', async () => {
    const rendered = render();
    await kubectl(['delete', 'configmap', 'tokenguard-policies', '-n', 'tokenguard-system', '--ignore-not-found']);
    const applied = await apply(rendered);
    expect(applied.code).toBe(0);
    const stored = await kubectlJson<{ data: Record<string, string> }>([
      'get',
      'configmap',
      'tokenguard-policies',
      '-n',
      'tokenguard-system',
    ]);
    expect(Object.keys(stored.data).sort()).toEqual([...SHIPPED, 'vault.yaml'].sort());
    expect(stored.data['vault.yaml']).toBe(VAULT);
    await setPolicies(stored.data);

    // Injected by the mutating webhook: the vault token the policy asks for.
    const r = await kubectl(['create', '-f', '-', '--dry-run=server', '-o', 'json'], {
      input: JSON.stringify(podManifest(NS, 'own-vault')),
    });
    expect({ code: r.code, stderr: r.stderr.trim() }).toMatchObject({ code: 0 });
    const pod = JSON.parse(r.stdout) as Pod;
    const vault = pod.spec.volumes?.find((v) => v.name === 'vault-token');
    expect(vault?.projected?.sources).toEqual([
      { serviceAccountToken: { audience: 'vault', expirationSeconds: 3600, path: 'token' } },
    ]);

    // Refused by the validating webhook: a token for an audience the policy does not allow.
    const other = podManifest(NS, 'own-other-audience', {
      volumes: [
        {
          name: 'other',
          projected: {
            sources: [{ serviceAccountToken: { path: 'token', audience: 'other', expirationSeconds: 3600 } }],
          },
        },
      ],
    });
    const denied = await kubectl(['create', '-f', '-', '--dry-run=server'], { input: JSON.stringify(other) });
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toMatch(
      /admission webhook "validate-pods\.tokenguard\.dev" denied the request: .*e2e-own-vault/,
    );
  });
});
