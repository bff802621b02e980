/**
 * Scenario 18: the limits of one replica (docs/reliability.md) against what a real API server
 * sends and accepts.
 * - A Secret at the API server's 1 MiB data limit, with a legacy token pasted into one key, is
 *   scanned on CREATE (a review of about 1.4 MiB) and on UPDATE (object and oldObject, about
 *   2.7 MiB): both fit the 3 MiB body limit, so kubectl shows tokenguard's warning each time.
 *   Over the limit the scan would fail open (failurePolicy Ignore) and the warning be missing.
 * - The network-policy component: as shipped, the API server refuses its NetworkPolicy (the
 *   placeholder is no CIDR); with an address range patched in, it is valid.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileSize, loadState, REPO_ROOT, waitFor } from './env.js';
import {
  create,
  ensureNamespace,
  getObject,
  KUBECTL,
  kubectl,
  kubectlOk,
  type K8sObject,
  warningLines,
} from './kube.js';
import { policyFiles, setPolicies } from './tokenguard.js';
import { legacyTokenSecret } from './webhooks.js';

const NS = 'e2e-limits';
/** Kubernetes' MaxSecretSize: the bytes of all values of a Secret's data together. */
const MAX_SECRET_SIZE = 1024 * 1024;
let legacyToken = '';

beforeAll(async () => {
  await ensureNamespace(NS);
  await setPolicies(policyFiles('policies'));
  await kubectlOk(['apply', '-f', '-'], {
    input: JSON.stringify(legacyTokenSecret('kube-system', 'e2e-limits-source')),
  });
  legacyToken = await waitFor('the token controller to fill kube-system/e2e-limits-source', 60_000, async () => {
    const s = (await getObject('secret', 'e2e-limits-source', 'kube-system')) as
      | { data?: { token?: string } }
      | undefined;
    return s?.data?.token ? Buffer.from(s.data.token, 'base64').toString('utf8') : undefined;
  });
});

afterAll(async () => {
  await kubectl(['delete', 'secret', 'e2e-limits-source', '-n', 'kube-system', '--ignore-not-found']);
});

/** An Opaque Secret whose data values add up to exactly the 1 MiB limit, the token in `kubeconfig`. */
function fullSecret(name: string, filler: string): K8sObject {
  const kubeconfig = `apiVersion: v1\nkind: Config\nusers:\n- name: ci\n  user:\n    token: ${legacyToken}\n`;
  const pad = filler
    .repeat(Math.ceil(MAX_SECRET_SIZE / filler.length))
    .slice(0, MAX_SECRET_SIZE - Buffer.byteLength(kubeconfig));
  const data = { kubeconfig: Buffer.from(kubeconfig).toString('base64'), pad: Buffer.from(pad).toString('base64') };
  return { apiVersion: 'v1', kind: 'Secret', type: 'Opaque', metadata: { name, namespace: NS }, data };
}

const WARNING =
  /^Warning: tokenguard: legacy-token-secrets: legacy token of kube-system\/default in data key "kubeconfig"/;

describe("scenario 18: one replica's limits and real traffic", () => {
  test('a Secret at the 1 MiB data limit is scanned on CREATE and on UPDATE (object and oldObject): the reviews fit the body limit', async () => {
    const state = loadState();
    const logStart = fileSize(state.serve.log);
    const created = await create(fullSecret('full-secret', 'a'));
    expect(warningLines(created.result.stderr).filter((l) => WARNING.test(l))).toHaveLength(1);
    // `kubectl replace`: a full object, so the UPDATE review carries two objects at the limit.
    const replaced = await kubectl(['replace', '-f', '-'], { input: JSON.stringify(fullSecret('full-secret', 'b')) });
    expect(replaced.code).toBe(0);
    expect(warningLines(replaced.stderr).filter((l) => WARNING.test(l))).toHaveLength(1);
    const logged = readFileSync(state.serve.log).subarray(logStart).toString('utf8');
    expect(logged).not.toMatch(/"status":413/);
    expect(logged).not.toContain(legacyToken);
  });

  test("the network-policy component: refused by the API server until the API server's range is patched in, valid once it is", async () => {
    await ensureNamespace('tokenguard-system');
    const dir = mkdtempSync(join(tmpdir(), 'tokenguard-e2e-np-'));
    try {
      const render = async (patch: string) => {
        writeFileSync(
          join(dir, 'kustomization.yaml'),
          `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ${relative(dir, join(REPO_ROOT, 'deploy', 'base'))}\ncomponents:\n  - ${relative(dir, join(REPO_ROOT, 'deploy', 'components', 'network-policy'))}\n${patch}`,
        );
        const out = (await kubectlOk(['kustomize', dir])).stdout;
        const doc = out.split(/^---$/m).find((d) => /^kind: NetworkPolicy$/m.test(d));
        if (!doc) throw new Error(`no NetworkPolicy rendered by ${KUBECTL} kustomize`);
        return kubectl(['apply', '--dry-run=server', '-f', '-'], { input: doc });
      };
      const unset = await render('');
      expect(unset.code).not.toBe(0);
      expect(unset.stderr).toMatch(
        /spec\.ingress\[0\]\.from\[0\]\.ipBlock\.cidr: Invalid value: "SET-THE-API-SERVER-CIDR"/,
      );
      const set = await render(
        'patches:\n  - target: { kind: NetworkPolicy, name: tokenguard }\n    patch: |-\n      - op: replace\n        path: /spec/ingress/0/from\n        value:\n          - ipBlock: { cidr: 127.0.0.0/8 }\n',
      );
      expect(set.stderr).toBe('');
      expect(set.stdout).toContain('networkpolicy.networking.k8s.io/tokenguard created (server dry run)');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
