/**
 * The migration plan of one workload: the files a projected volume gives back (keys, paths,
 * modes), what is left to a person, the expiration the policies allow, and that the JSON Patch
 * and the kustomize patch both turn the workload into the patched manifest (kustomize run by the
 * real `kubectl kustomize`).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fastJsonPatch from 'fast-json-patch';
import { parse, stringify } from 'yaml';
import type { JsonObject } from '../../../src/json.js';
import { parsePolicyDocuments } from '../../../src/policy/parse.js';
import type { TokenPolicy } from '../../../src/policy/types.js';
import { FactsIndex } from '../../../src/scan/facts-index.js';
import { type TokenSecret, toNamespaceFact, toServiceAccount } from '../../../src/scan/inventory.js';
import { cleanManifest, planWorkload, TEMPLATE_PATHS } from '../../../src/scan/plan.js';
import { secretUses } from '../../../src/engine/secret-uses.js';
import { kubectlPath } from '../../helpers/tools.js';
import { policySet } from '../../helpers/fixtures.js';

const NS = 'team-a';

function facts(): FactsIndex {
  const f = new FactsIndex({ bindingsComplete: true });
  f.addNamespace(
    toNamespaceFact({ metadata: { name: NS, labels: { 'kubernetes.io/metadata.name': NS } } }) as JsonObject,
  );
  for (const name of ['default', 'bot', 'other']) {
    const sa = toServiceAccount({ metadata: { name, namespace: NS, uid: `uid-${name}` } });
    if (sa) f.addServiceAccount(sa);
  }
  return f;
}

function token(name: string, serviceAccount = 'bot'): TokenSecret {
  return {
    namespace: NS,
    name,
    uid: `u-${name}`,
    createdAt: 0,
    deleting: false,
    serviceAccountName: serviceAccount,
    serviceAccountUid: `uid-${serviceAccount}`,
    lastUsed: undefined,
    invalidSince: undefined,
  };
}

function deployment(spec: JsonObject): JsonObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: 'app',
      namespace: NS,
      uid: 'u-app',
      resourceVersion: '7',
      generation: 3,
      annotations: { 'deployment.kubernetes.io/revision': '3' },
    },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: 'app' } },
      template: { metadata: { labels: { app: 'app' } }, spec },
    },
    status: { replicas: 1 },
  };
}

function plan(object: JsonObject, tokens: TokenSecret[], policies: readonly TokenPolicy[] = policySet('shipped')) {
  const kind = object.kind as string;
  let template: JsonObject | undefined = object;
  for (const p of TEMPLATE_PATHS[kind] ?? []) template = template?.[p] as JsonObject | undefined;
  const names = new Set(tokens.map((t) => t.name));
  const uses = secretUses((template?.spec ?? {}) as JsonObject, (n) => names.has(n));
  const bySecret = [...names]
    .map((secret) => ({ secret, uses: uses.filter((u) => u.secret === secret), pods: 1, template: true }))
    .filter((s) => s.uses.length > 0);
  return planWorkload({
    workload: { apiVersion: object.apiVersion as string, kind, namespace: NS, name: 'app' },
    object,
    secrets: bySecret,
    tokenSecret: (n) => tokens.find((t) => t.name === n),
    policies,
    facts: facts(),
  });
}

function policies(yaml: string): TokenPolicy[] {
  const r = parsePolicyDocuments(yaml, 'p.yaml');
  expect(r.errors).toEqual([]);
  return r.policies;
}

/** The volumes of a Deployment's pod template. */
function volumesOf(o: JsonObject | undefined): unknown {
  const spec = o?.spec as JsonObject | undefined;
  return ((spec?.template as JsonObject | undefined)?.spec as JsonObject | undefined)?.volumes;
}

const container = (mounts: JsonObject[]) => ({ name: 'app', image: 'x', volumeMounts: mounts });

describe('the projected volume gives the same files', () => {
  test('items: each key at its path, with its mode; no ca.crt or namespace unless they were there', () => {
    const p = plan(
      deployment({
        serviceAccountName: 'bot',
        containers: [container([{ name: 't', mountPath: '/etc/t' }])],
        volumes: [
          {
            name: 't',
            secret: {
              secretName: 'tok',
              defaultMode: 0o440,
              items: [
                { key: 'token', path: 'sa/token' },
                { key: 'ca.crt', path: 'ca.pem', mode: 0o400 },
              ],
            },
          },
        ],
      }),
      [token('tok')],
    );
    expect(p.status).toBe('ready');
    const volumes = volumesOf(p.patched);
    expect(volumes).toEqual([
      {
        name: 't',
        projected: {
          defaultMode: 0o440,
          sources: [
            { serviceAccountToken: { path: 'sa/token', expirationSeconds: 3600 } },
            { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.pem', mode: 0o400 }] } },
          ],
        },
      },
    ]);
    expect(p.changes).toEqual([
      "volume t: a projected ServiceAccount token (sa/token, ca.pem; 3600 s, audience: the API server's) instead of tok, still at /etc/t in containers/app",
      'annotates the pod template tokenguard.dev/api-access: "true" (it uses the API, so the automount policy keeps its tokens)',
    ]);
    expect(p.patched?.metadata).toEqual({ name: 'app', namespace: NS });
    expect(p.patched?.status).toBeUndefined();
  });

  test('a secret source of a projected volume is replaced in place; its other sources stay', () => {
    const p = plan(
      deployment({
        serviceAccountName: 'bot',
        containers: [container([{ name: 'p', mountPath: '/p' }])],
        volumes: [
          {
            name: 'p',
            projected: {
              sources: [
                { configMap: { name: 'cfg' } },
                { secret: { name: 'tok', items: [{ key: 'token', path: 'tk' }] } },
              ],
            },
          },
        ],
      }),
      [token('tok')],
    );
    expect(volumesOf(p.patched)).toEqual([
      {
        name: 'p',
        projected: {
          sources: [{ configMap: { name: 'cfg' } }, { serviceAccountToken: { path: 'tk', expirationSeconds: 3600 } }],
        },
      },
    ]);
  });
});

describe('what is left to a person', () => {
  test.each([
    [
      'a key no projection gives',
      {
        volumes: [{ name: 't', secret: { secretName: 'tok', items: [{ key: 'kubernetes.kubeconfig', path: 'kc' }] } }],
        mounts: [{ name: 't', mountPath: '/t' }],
      },
      'volume t takes key "kubernetes.kubeconfig" of tok, which no projection gives: move that file elsewhere',
    ],
    [
      'a subPath mount',
      {
        volumes: [{ name: 't', secret: { secretName: 'tok' } }],
        mounts: [{ name: 't', mountPath: '/etc/token', subPath: 'token' }],
      },
      "containers/app mounts tok with subPath token at /etc/token: the kubelet never refreshes a subPath mount, so a rotating token cannot go there; mount the volume's directory instead",
    ],
  ])('%s', (_name, o, manual) => {
    const p = plan(
      deployment({
        serviceAccountName: 'bot',
        containers: [container(o.mounts as JsonObject[])],
        volumes: o.volumes as JsonObject[],
      }),
      [token('tok')],
    );
    expect(p).toMatchObject({
      status: 'manual',
      manual: [manual],
      changes: [],
      replaces: [],
      patched: undefined,
      jsonPatch: [],
    });
  });

  test('tokens of two ServiceAccounts: a pod has one', () => {
    const p = plan(
      deployment({
        containers: [
          container([
            { name: 'a', mountPath: '/a' },
            { name: 'b', mountPath: '/b' },
          ]),
        ],
        volumes: [
          { name: 'a', secret: { secretName: 'ta' } },
          { name: 'b', secret: { secretName: 'tb' } },
        ],
      }),
      [token('ta', 'bot'), token('tb', 'other')],
    );
    expect(p).toMatchObject({
      status: 'manual',
      manual: [
        'it uses tokens of several ServiceAccounts (ta (bot), tb (other)), and a pod has one: split it, or choose one',
      ],
    });
  });
});

describe('the expiration the policies allow', () => {
  const cases: [string, string, number][] = [
    ['shipped bounds (600 s to 1 day) and apiTokenExpirationSeconds 3600 (Audit)', '', 3600],
    ['a maximum of 1800 s', 'maxExpirationSeconds: 1800', 1800],
    ['a minimum of 7200 s', 'minExpirationSeconds: 7200', 7200],
    [
      'a window starting at 3607 s, which would live a year',
      'minExpirationSeconds: 3607\n      maxExpirationSeconds: 3610',
      3608,
    ],
  ];
  test.each(cases)('%s (%j) -> %d s, and the patched workload passes', (_name, bounds, want) => {
    const extra = bounds
      ? policies(
          `apiVersion: tokenguard.dev/v1alpha1\nkind: TokenPolicy\nmetadata: {name: tight}\nspec:\n  mode: Enforce\n  projectedTokens:\n    bounds:\n      ${bounds}\n      onViolation: Deny\n`,
        )
      : [];
    const p = plan(
      deployment({
        serviceAccountName: 'bot',
        containers: [container([{ name: 't', mountPath: '/t' }])],
        volumes: [{ name: 't', secret: { secretName: 'tok' } }],
      }),
      [token('tok')],
      [...policySet('shipped'), ...extra],
    );
    expect(p.expirationSeconds).toBe(want);
    expect(p.check?.denials).toEqual([]);
    expect(p.status).toBe('ready');
  });
});

describe('the two patches give the patched manifest', () => {
  const original = deployment({
    containers: [container([{ name: 'legacy', mountPath: '/var/run/secrets/legacy', readOnly: true }])],
    imagePullSecrets: [{ name: 'registry' }, { name: 'tok' }],
    volumes: [
      { name: 'cache', emptyDir: {} },
      { name: 'legacy', secret: { secretName: 'tok' } },
    ],
  });
  const p = plan(original, [token('tok')]);

  test('the plan: the token ServiceAccount, a projected volume, the opt-in, the imagePullSecrets entry gone', () => {
    expect(p.status).toBe('ready');
    expect(p.replaces).toEqual(['tok']);
    expect(p.changes.map((c) => c.split(':')[0])).toEqual([
      'runs as ServiceAccount bot, the one the legacy token was for (was default)',
      'removes tok from imagePullSecrets (a token Secret holds no registry credentials)',
      'volume legacy',
      'annotates the pod template tokenguard.dev/api-access',
    ]);
  });

  test('JSON Patch of the live object = the patched manifest plus the server fields', () => {
    const patched = fastJsonPatch.applyPatch(
      structuredClone(original),
      p.jsonPatch as fastJsonPatch.Operation[],
      true,
      false,
    ).newDocument as JsonObject;
    expect(cleanManifest(patched)).toEqual(p.patched);
    expect(patched.status).toEqual({ replicas: 1 }); // only the template changed
  });

  test('kubectl kustomize with the strategic-merge patch = the patched manifest', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tg-kustomize-'));
    writeFileSync(join(dir, 'app.yaml'), stringify(cleanManifest(original)));
    writeFileSync(join(dir, 'patch.yaml'), stringify(p.strategicMerge));
    writeFileSync(
      join(dir, 'kustomization.yaml'),
      'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [app.yaml]\npatches:\n  - path: patch.yaml\n',
    );
    const built = parse(execFileSync(kubectlPath(), ['kustomize', dir], { encoding: 'utf8' })) as JsonObject;
    // Key order, and the order of volumes (kustomize puts a patched one first), carry no meaning.
    const normalize = (o: JsonObject) =>
      JSON.parse(
        JSON.stringify(o, (k, v) => {
          if (k === 'volumes' && Array.isArray(v)) return [...v].sort((a, b) => (a.name < b.name ? -1 : 1));
          return Array.isArray(v) || typeof v !== 'object' || v === null
            ? v
            : Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1)));
        }),
      );
    expect(normalize(built)).toEqual(normalize(p.patched as JsonObject));
  });
});

describe('kinds', () => {
  test('a CronJob is patched in its job template', () => {
    const cron: JsonObject = {
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      metadata: { name: 'app', namespace: NS },
      spec: {
        schedule: '@daily',
        jobTemplate: {
          spec: {
            template: {
              spec: {
                serviceAccountName: 'bot',
                restartPolicy: 'Never',
                containers: [container([{ name: 't', mountPath: '/t' }])],
                volumes: [{ name: 't', secret: { secretName: 'tok' } }],
              },
            },
          },
        },
      },
    };
    const p = plan(cron, [token('tok')]);
    expect(p.jsonPatch.map((o) => o.path)).toEqual([
      '/spec/jobTemplate/spec/template/spec/volumes/0/secret',
      '/spec/jobTemplate/spec/template/spec/volumes/0/projected',
      '/spec/jobTemplate/spec/template/metadata',
    ]);
    expect(p.strategicMerge).toMatchObject({
      kind: 'CronJob',
      spec: { jobTemplate: { spec: { template: { spec: { volumes: [{ name: 't', secret: null }] } } } } },
    });
  });

  test('a kind tokenguard does not patch: said so', () => {
    const p = planWorkload({
      workload: { apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout', namespace: NS, name: 'r' },
      object: undefined,
      secrets: [],
      tokenSecret: () => undefined,
      policies: [],
      facts: facts(),
    });
    expect(p).toMatchObject({
      status: 'none',
      manual: ['Rollout team-a/r is not a kind tokenguard patches: change the resource that creates it'],
    });
  });
});
