/**
 * Scenario 14: the install manifests themselves, against the real API server. Every overlay of
 * deploy/ is rendered with `kubectl kustomize` (the self-managed ones with certificates from
 * `tokenguard certs generate`) and applied with a server-side dry run, so the API server's own
 * validation judges every object: Deployment, RBAC, PodDisruptionBudget, ResourceQuota, Service,
 * ConfigMap, Secret and both webhook configurations. The cert-manager kinds are left out: their
 * CRDs are not installed here. (The webhook configurations of deploy/base are applied for real by
 * the suite setup, pointed at this tokenguard.)
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { REPO_ROOT } from './env.js';
import { apply, KUBECTL, type K8sObject, kubectl } from './kube.js';
import { CLI } from './tokenguard.js';

const OVERLAYS = ['self-managed', 'self-managed-audit-only', 'cert-manager', 'audit-only', 'fail-closed-mutating'];
let root = '';

beforeAll(async () => {
  // A copy of deploy/ and policies/, so generated keys never land in the repository.
  root = mkdtempSync(join(tmpdir(), 'tg-install-'));
  cpSync(join(REPO_ROOT, 'deploy'), join(root, 'deploy'), { recursive: true });
  cpSync(join(REPO_ROOT, 'policies'), join(root, 'policies'), { recursive: true });
  execFileSync(process.execPath, [CLI, 'certs', 'generate', '--service', 'tokenguard', '--namespace', 'tokenguard-system', '--out', join(root, 'deploy', 'overlays', 'self-managed')], {
    stdio: 'pipe',
  });
  // Namespaced objects need their namespace to exist, even for a dry run.
  await apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'tokenguard-system' } });
});

function render(overlay: string): K8sObject[] {
  const text = execFileSync(KUBECTL, ['kustomize', join(root, 'deploy', 'overlays', overlay)], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  return parseAllDocuments(text).map((d) => d.toJS() as K8sObject).filter((o) => o !== null);
}

describe('scenario 14: every overlay passes the API server validation (server-side dry run)', () => {
  test.each(OVERLAYS)('%s', async (overlay) => {
    const objects = render(overlay);
    const kinds = new Set(objects.map((o) => o.kind));
    for (const k of ['Deployment', 'Service', 'ConfigMap', 'ClusterRole', 'ClusterRoleBinding', 'MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']) {
      expect(kinds).toContain(k);
    }
    const core = objects.filter((o) => !(o.apiVersion ?? '').startsWith('cert-manager.io/'));
    const r = await kubectl(['apply', '--dry-run=server', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: core }) });
    expect({ overlay, code: r.code, stderr: r.stderr.trim() }).toEqual({ overlay, code: 0, stderr: '' });
    for (const o of core) expect(r.stdout).toContain(`${o.metadata?.name}`);
  });
});
