/**
 * Scenario 7: a second mutating webhook adds a sidecar container after tokenguard has run. The
 * API server then reinvokes tokenguard (reinvocationPolicy IfNeeded in deploy/base), so the
 * sidecar gets the injected vault token too, and never the API token the pod does not need.
 * Policies: test/fixtures/policies/strict + test/fixtures/policies/inject (namespaces team-*).
 */
import { join } from 'node:path';
import { fileSize, loadState, readSince, waitFor } from './env.js';
import {
  API_TOKEN_PATH,
  allContainers,
  apiAccessVolumes,
  apply,
  create,
  ensureNamespace,
  kubectl,
  type Pod,
  podManifest,
  tokenSources,
} from './kube.js';
import { SIDECAR, type SidecarWebhook, startSidecarWebhook } from './sidecar-webhook.js';
import { policyFiles, setPolicies } from './tokenguard.js';

const NS = 'team-sidecar';
let sidecar: SidecarWebhook | undefined;
let logOffset = 0;

beforeAll(async () => {
  const state = loadState();
  await setPolicies({
    ...policyFiles('test/fixtures/policies/strict'),
    ...policyFiles('test/fixtures/policies/inject'),
  });
  await ensureNamespace(NS);
  sidecar = await startSidecarWebhook(join(state.workDir, 'sidecar-webhook'));
  await apply(sidecar.configuration(NS));
  await waitFor('the sidecar webhook to be called', 60_000, async () => {
    const r = await kubectl(['create', '-f', '-', '--dry-run=server', '-o', 'json'], {
      input: JSON.stringify(podManifest(NS, 'probe')),
    });
    if (r.code !== 0) throw new Error(r.stderr);
    return (JSON.parse(r.stdout) as Pod).spec.containers.some((c) => c.name === SIDECAR) ? true : undefined;
  });
  logOffset = fileSize(state.serve.log);
});

afterAll(async () => {
  await kubectl(['delete', 'mutatingwebhookconfiguration', 'zz-sidecar', '--ignore-not-found']);
  await sidecar?.close();
});

interface ReviewLine {
  event?: string;
  endpoint?: string;
  namespace?: string;
  name?: string;
  decision?: string;
}

function tokenguardReviews(name: string): ReviewLine[] {
  return readSince(loadState().serve.log, logOffset)
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as ReviewLine)
    .filter((l) => l.event === 'review' && l.namespace === NS && l.name === name);
}

describe('scenario 7: reinvocation after another webhook adds a sidecar', () => {
  test('the sidecar gets the vault token and no API token', async () => {
    const { stored } = await create(podManifest(NS, 'meshed', { initContainers: ['init'], containers: ['app'] }));
    const pod = stored as Pod;
    expect(pod.spec.containers.map((c) => c.name)).toEqual(['app', SIDECAR]);
    expect(pod.spec.automountServiceAccountToken).toBe(false);
    expect(apiAccessVolumes(pod)).toEqual([]);
    for (const c of allContainers(pod)) {
      const mounts = c.volumeMounts ?? [];
      expect({
        container: c.name,
        vault: mounts.filter((m) => m.name === 'vault-token').length,
        api: mounts.filter((m) => m.mountPath === API_TOKEN_PATH).length,
      }).toEqual({
        container: c.name,
        vault: 1,
        api: 0,
      });
    }
    // The sidecar webhook ran once (Never); tokenguard's mutating webhook ran twice, and its
    // second call is the one that covered the sidecar.
    expect(sidecar?.calls.filter((c) => c.namespace === NS && c.name === 'meshed')).toHaveLength(1);
    const mutates = tokenguardReviews('meshed').filter((l) => l.endpoint === 'mutate');
    expect(mutates.map((l) => l.decision)).toEqual(['patched', 'patched']);
  });

  test('an opted-in pod: the sidecar gets both the API token (3600 s) and the vault token', async () => {
    const { stored } = await create(
      podManifest(NS, 'meshed-api', { annotations: { 'tokenguard.dev/api-access': 'true' } }),
    );
    const pod = stored as Pod;
    expect(pod.spec.containers.map((c) => c.name)).toEqual(['app', SIDECAR]);
    const api = apiAccessVolumes(pod);
    expect(api).toHaveLength(1);
    expect(tokenSources(api[0])).toEqual([{ path: 'token', expirationSeconds: 3600 }]);
    for (const c of pod.spec.containers) {
      expect({ container: c.name, mounts: (c.volumeMounts ?? []).map((m) => m.name).sort() }).toEqual({
        container: c.name,
        mounts: [api[0]!.name, 'vault-token'].sort(),
      });
    }
  });
});
