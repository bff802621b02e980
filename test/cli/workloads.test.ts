import { stringify } from 'yaml';
import { parseManifests } from '../../src/dryrun/manifests.js';
import { classify, WORKLOAD_KINDS, type WorkloadKind } from '../../src/dryrun/objects.js';
import { applyEditsToJson } from '../../src/dryrun/write-back.js';
import type { JsonObject } from '../../src/json.js';
import { dryRun } from './helpers.js';

const template: JsonObject = {
  metadata: { labels: { app: 'w' }, annotations: { team: 'a' }, namespace: 'ignored-by-controllers' },
  spec: {
    containers: [
      { name: 'app', image: 'registry.example/app:1', volumeMounts: [{ name: 'vault', mountPath: '/vault' }] },
    ],
    volumes: [
      {
        name: 'vault',
        projected: {
          sources: [{ serviceAccountToken: { audience: 'vault', expirationSeconds: 172800, path: 'token' } }],
        },
      },
    ],
  },
};

const API_VERSION: Record<WorkloadKind, string> = {
  Deployment: 'apps/v1',
  StatefulSet: 'apps/v1',
  DaemonSet: 'apps/v1',
  ReplicaSet: 'apps/v1',
  ReplicationController: 'v1',
  Job: 'batch/v1',
  CronJob: 'batch/v1',
};

function workload(kind: WorkloadKind, namespace = 'team-a'): JsonObject {
  const metadata = { name: 'w', namespace };
  const selector = { matchLabels: { app: 'w' } };
  switch (kind) {
    case 'CronJob':
      return {
        apiVersion: API_VERSION[kind],
        kind,
        metadata,
        spec: { schedule: '* * * * *', jobTemplate: { spec: { template } } },
      };
    case 'Job':
    case 'ReplicationController':
      return { apiVersion: API_VERSION[kind], kind, metadata, spec: { template } };
    case 'StatefulSet':
      return {
        apiVersion: API_VERSION[kind],
        kind,
        metadata,
        spec: { selector, serviceName: 'w', template, volumeClaimTemplates: [{ metadata: { name: 'data' } }] },
      };
    default:
      return { apiVersion: API_VERSION[kind], kind, metadata, spec: { selector, template } };
  }
}

const SPEC_PATH: Record<WorkloadKind, string[]> = {
  Deployment: ['spec', 'template', 'spec'],
  StatefulSet: ['spec', 'template', 'spec'],
  DaemonSet: ['spec', 'template', 'spec'],
  ReplicaSet: ['spec', 'template', 'spec'],
  ReplicationController: ['spec', 'template', 'spec'],
  Job: ['spec', 'template', 'spec'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template', 'spec'],
};

describe.each(WORKLOAD_KINDS.map((k) => [k]))('%s', (kind) => {
  const manifest = workload(kind);

  test('its pod template is evaluated as the pod its controller creates', () => {
    const c = classify(manifest, 'default');
    if (c.role !== 'pod') throw new Error(`classified as ${c.role}`);
    expect(c.specPath).toEqual(SPEC_PATH[kind]);
    expect(c.namespace).toBe('team-a');
    const md = c.pod.metadata as JsonObject;
    expect(c.pod).toMatchObject({ apiVersion: 'v1', kind: 'Pod' });
    // The workload's namespace, never the template's.
    expect(md.namespace).toBe('team-a');
    expect(md.annotations).toEqual({ team: 'a' });
    expect((md.labels as JsonObject).app).toBe('w');
    const names: Record<WorkloadKind, RegExp> = {
      Deployment: /^w-[bcdfghjklmnpqrstvwxz2456789]{6,10}-$/,
      StatefulSet: /^$/,
      DaemonSet: /^w-$/,
      ReplicaSet: /^w-$/,
      ReplicationController: /^w-$/,
      Job: /^w-$/,
      CronJob: /^w-\d{8}-$/,
    };
    expect(String(md.generateName ?? '')).toMatch(names[kind]);
    if (kind === 'StatefulSet') {
      expect(md.name).toBe('w-0');
      expect((c.pod.spec as JsonObject).volumes).toContainEqual({
        name: 'data',
        persistentVolumeClaim: { claimName: 'data-w-0' },
      });
    }
    if (kind === 'Deployment')
      expect((md.labels as JsonObject)['pod-template-hash']).toBe(String(md.generateName).slice(2, -1));
    if (kind === 'Job' || kind === 'CronJob')
      expect((md.labels as JsonObject)['job-name']).toBe(String(md.generateName).slice(0, -1));
    // Stable from run to run.
    expect(classify(manifest, 'default')).toEqual(c);
  });

  test('dry run: the API token the plugin mounts is removed and the long token clamped, in the pod and in the manifest', () => {
    const report = dryRun(stringify(manifest), { policies: 'strict' });
    const o = report.objects[0]!;
    expect(o).toMatchObject({ kind, name: 'w', namespace: 'team-a', outcome: 'mutated', denials: [] });
    expect(o.changes.map((c) => `${c.policy}/${c.rule}`)).toEqual(['strict/automount', 'strict/token-bounds']);
    expect(o.changes[1]!.message).toBe('vault: expirationSeconds 172800 -> 7200');
    expect(o.patch.every((op) => op.path.startsWith('/spec/'))).toBe(true);
    expect(o.plugin).toMatchObject({ serviceAccountName: 'default', automount: true, automountFrom: 'default' });
    expect(o.tokens).toEqual([
      expect.objectContaining({
        volume: 'vault',
        audience: 'vault',
        expirationSeconds: 7200,
        lifetimeSeconds: 7200,
        extended: false,
        containers: ['containers/app'],
      }),
    ]);
    const base = SPEC_PATH[kind];
    expect(o.manifestEdits).toEqual([
      { op: 'set', path: [...base, 'automountServiceAccountToken'], value: false },
      {
        op: 'set',
        path: [...base, 'volumes', 0, 'projected', 'sources', 0, 'serviceAccountToken', 'expirationSeconds'],
        value: 7200,
      },
    ]);
    // Fed back, the written manifest needs no further change.
    const written = applyEditsToJson(manifest, o.manifestEdits);
    const again = dryRun(stringify(written), { policies: 'strict' }).objects[0]!;
    expect(again).toMatchObject({ outcome: 'passed', mutated: false, patch: [], manifestEdits: [] });
  });

  test('in a namespace the policy excludes, nothing changes, and the token is reported as the year-long one', () => {
    const o = dryRun(stringify(workload(kind, 'kube-system')), { policies: 'strict' }).objects[0]!;
    expect(o).toMatchObject({ outcome: 'passed', mutated: false });
    const api = o.tokens!.find((t) => t.apiToken)!;
    expect(api).toMatchObject({ expirationSeconds: 3607, lifetimeSeconds: 31536000, extended: true });
    expect(api.volume).toMatch(/^kube-api-access-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
  });
});

test('a look-alike custom resource with a workload kind is skipped, not evaluated', () => {
  const r = dryRun(
    'apiVersion: example.com/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {template: {spec: {containers: []}}}\n',
  );
  expect(r.objects[0]).toMatchObject({
    outcome: 'skipped',
    reason: "Deployment of example.com/v1 is not Kubernetes' own",
  });
});

test('a workload without a pod template is an error of that object only', () => {
  const r = dryRun(
    'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: ok}\nspec: {automountServiceAccountToken: false, containers: [{name: a}]}\n',
  );
  expect(r.objects.map((o) => o.outcome)).toEqual(['error', 'passed']);
  expect(r.objects[0]!.reason).toBe('Deployment has no spec.template.spec');
});

test('parseManifests gives each List item its own line and index', () => {
  const text =
    'apiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: Pod\n    metadata: {name: a}\n  - apiVersion: v1\n    kind: Secret\n    metadata: {name: b}\n';
  expect(parseManifests(text, 'l.yaml').objects.map((o) => [o.item, o.line])).toEqual([
    [0, 4],
    [1, 7],
  ]);
});
