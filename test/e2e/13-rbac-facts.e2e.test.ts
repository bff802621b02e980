/**
 * Scenario 13: who really needs an API token, decided from the cluster's own RBAC (issue 7).
 * tokenguard serve watches ServiceAccounts, Namespaces, RoleBindings and ClusterRoleBindings of
 * the real API server (`--kubeconfig`). Policy: the shipped automount policy (DisableUnlessNeeded,
 * needed when the ServiceAccount is bound by RBAC), plus a namespace-selector policy.
 * - a pod of an unbound ServiceAccount loses its token;
 * - bind it with a RoleBinding and a new pod keeps it within seconds; unbind and it loses it again;
 * - a binding to the group system:serviceaccounts:<ns> counts for every ServiceAccount there;
 * - a namespace label change moves pods in or out of a policy's namespaceSelector.
 * Each change is observed through server-side dry runs, polled until the webhook's facts catch up
 * (bounded), then confirmed with a real CREATE.
 */
import { waitFor } from './env.js';
import { apiAccessVolumes, apply, create, ensureNamespace, kubectlOk, type Pod, podManifest } from './kube.js';
import { policyFiles, setPolicies } from './tokenguard.js';

const NS = 'e2e-rbac';
let n = 0;

/** Whether a new pod of this ServiceAccount would keep its API token (server-side dry run). */
async function keepsToken(serviceAccountName: string, namespace = NS): Promise<boolean> {
  const { stored } = await create(podManifest(namespace, `probe-${++n}`, { serviceAccountName }), { dryRun: true });
  return apiAccessVolumes(stored as Pod).length > 0;
}

/** Polls dry runs until tokenguard's view of the cluster gives `want` (informers are eventually consistent). */
async function eventually(what: string, serviceAccountName: string, want: boolean, namespace = NS): Promise<void> {
  await waitFor(
    what,
    30_000,
    async () => ((await keepsToken(serviceAccountName, namespace)) === want ? true : undefined),
    300,
  );
}

const roleBinding = (name: string, subjects: object[]) => ({
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'RoleBinding',
  metadata: { name, namespace: NS },
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
  subjects,
});

beforeAll(async () => {
  await setPolicies(policyFiles('policies'));
  await ensureNamespace(NS);
  await apply(
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'worker', namespace: NS } },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'reader', namespace: NS } },
  );
});

describe('scenario 13: RBAC bindings decide who keeps the API token', () => {
  test('an unbound ServiceAccount: the pod is stored without a token', async () => {
    await eventually('worker to count as unbound', 'worker', false);
    const { stored } = await create(podManifest(NS, 'worker-unbound', { serviceAccountName: 'worker' }));
    expect((stored as Pod).spec.automountServiceAccountToken).toBe(false);
    expect(apiAccessVolumes(stored as Pod)).toEqual([]);
  });

  test('bound by a RoleBinding: a new pod keeps its token; unbound again: it loses it', async () => {
    await apply(roleBinding('worker-view', [{ kind: 'ServiceAccount', name: 'worker', namespace: NS }]));
    await eventually('the RoleBinding to reach tokenguard', 'worker', true);
    const { stored } = await create(podManifest(NS, 'worker-bound', { serviceAccountName: 'worker' }));
    expect(apiAccessVolumes(stored as Pod)).toHaveLength(1);

    await kubectlOk(['delete', 'rolebinding', 'worker-view', '-n', NS]);
    await eventually('the deletion to reach tokenguard', 'worker', false);
    const again = await create(podManifest(NS, 'worker-unbound-again', { serviceAccountName: 'worker' }));
    expect(apiAccessVolumes(again.stored as Pod)).toEqual([]);
  });

  test('a binding to the group system:serviceaccounts:<namespace> counts for every ServiceAccount there', async () => {
    expect(await keepsToken('reader')).toBe(false);
    await apply(
      roleBinding('all-view', [
        { kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: `system:serviceaccounts:${NS}` },
      ]),
    );
    await eventually('the group binding to reach tokenguard', 'reader', true);
    expect(await keepsToken('worker')).toBe(true);
    await kubectlOk(['delete', 'rolebinding', 'all-view', '-n', NS]);
    await eventually('the group binding deletion to reach tokenguard', 'reader', false);
  });

  test('a namespace label moves pods into and out of a namespaceSelector policy', async () => {
    // Only the selector policy: it removes tokens in namespaces labelled tier=apps, for pods with an app label.
    await setPolicies(policyFiles('test/fixtures/policies/selector'));
    const labelled = async (name: string) =>
      apiAccessVolumes(
        (await create(podManifest(NS, name, { labels: { app: 'web' } }), { dryRun: true })).stored as Pod,
      ).length > 0;
    expect(await labelled(`sel-${++n}`)).toBe(true);
    await kubectlOk(['label', 'namespace', NS, 'tier=apps', '--overwrite']);
    await waitFor(
      'the label to reach tokenguard',
      30_000,
      async () => ((await labelled(`sel-${++n}`)) ? undefined : true),
      300,
    );
    await kubectlOk(['label', 'namespace', NS, 'tier-']);
    await waitFor(
      'the label removal to reach tokenguard',
      30_000,
      async () => ((await labelled(`sel-${++n}`)) ? true : undefined),
      300,
    );
  });
});
