/**
 * Scenario 14: the install manifests themselves, against the real API server. Every overlay of
 * deploy/ is rendered with `kubectl kustomize` (the self-managed ones with certificates from
 * `tokenguard certs generate`) and applied with a server-side dry run, so the API server's own
 * validation judges every object: Deployment, RBAC, PodDisruptionBudget, ResourceQuota, Service,
 * ConfigMap, Secret and both webhook configurations. The cert-manager kinds are judged by minimal
 * CRDs written for these dry runs (test/fixtures/crds). (The webhook configurations of deploy/base
 * are applied for real by the suite setup, pointed at this tokenguard.)
 *
 * The copy leaves out the certificates a user generated into deploy/overlays/self-managed as
 * docs/install.md says (`tokenguard certs generate` would refuse to overwrite them).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { copyInstallTree } from '../helpers/deploy-tree.js';
import { REPO_ROOT } from './env.js';
import { apply, KUBECTL, type K8sObject, kubectl, kubectlOk } from './kube.js';
import { CLI } from './tokenguard.js';

const OVERLAYS = [
  'self-managed',
  'self-managed-audit-only',
  'self-managed-controller',
  'self-managed-controller-audit-only',
  'cert-manager',
  'audit-only',
  'fail-closed-mutating',
];
let root = '';

beforeAll(async () => {
  // A copy of deploy/ and policies/, so generated keys never land in the repository.
  root = mkdtempSync(join(tmpdir(), 'tg-install-'));
  copyInstallTree(REPO_ROOT, root);
  execFileSync(
    process.execPath,
    [
      CLI,
      'certs',
      'generate',
      '--service',
      'tokenguard',
      '--namespace',
      'tokenguard-system',
      '--out',
      join(root, 'deploy', 'overlays', 'self-managed'),
    ],
    {
      stdio: 'pipe',
    },
  );
  // Namespaced objects need their namespace to exist, even for a dry run.
  await apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'tokenguard-system' } });
  const crds = join(REPO_ROOT, 'test/fixtures/crds/crds.yaml');
  await kubectlOk(['apply', '-f', crds]);
  await kubectlOk(['wait', '--for=condition=Established', '--timeout=60s', '-f', crds]);
});

function render(overlay: string): K8sObject[] {
  const text = execFileSync(KUBECTL, ['kustomize', join(root, 'deploy', 'overlays', overlay)], {
    encoding: 'utf8',
    maxBuffer: 16 * 1024 * 1024,
  });
  return parseAllDocuments(text)
    .map((d) => d.toJS() as K8sObject)
    .filter((o) => o !== null);
}

describe('scenario 14: every overlay passes the API server validation (server-side dry run)', () => {
  test.each(OVERLAYS)('%s', async (overlay) => {
    const objects = render(overlay);
    const kinds = new Set(objects.map((o) => o.kind));
    for (const k of [
      'Deployment',
      'Service',
      'ConfigMap',
      'ClusterRole',
      'ClusterRoleBinding',
      'MutatingWebhookConfiguration',
      'ValidatingWebhookConfiguration',
    ]) {
      expect(kinds).toContain(k);
    }
    const r = await kubectl(['apply', '--dry-run=server', '-f', '-'], {
      input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }),
    });
    expect({ overlay, code: r.code, stderr: r.stderr.trim() }).toEqual({ overlay, code: 0, stderr: '' });
    for (const o of objects) expect(r.stdout).toContain(`${o.metadata?.name}`);
  });
});
