import { handleReview } from '../../src/admission/review.js';
import { DEFAULT_API_AUDIENCES } from '../../src/constants.js';
import { parseManifests } from '../../src/dryrun/manifests.js';
import { simulateServiceAccountAdmission } from '../../src/dryrun/plugin.js';
import { exitCode } from '../../src/dryrun/report.js';
import { admitPod, runDryRun, tokenLifetimes } from '../../src/dryrun/run.js';
import type { WebhookAnswer } from '../../src/dryrun/webhook.js';
import { applyEditsToJson, rewriteManifests } from '../../src/dryrun/write-back.js';
import { staticFacts } from '../../src/facts/static.js';
import type { JsonObject } from '../../src/json.js';
import { join } from 'node:path';
import { policySet, REPO } from '../helpers/fixtures.js';
import { toAdmissionReview } from '../helpers/pods.js';
import { dryRun, testCli } from './helpers.js';

const POD = (extra = '') => `apiVersion: v1
kind: Pod
metadata:
  name: p
  namespace: team-a
${extra}spec:
  containers:
    - name: app
      image: registry.example/app:1
`;

describe('facts from the manifests', () => {
  test('a ServiceAccount with automountServiceAccountToken: false: the plugin mounts nothing, nothing to remove', () => {
    const r = dryRun(
      `apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: quiet, namespace: team-a}\nautomountServiceAccountToken: false\n---\n${POD().replace('spec:\n', 'spec:\n  serviceAccountName: quiet\n')}`,
      { policies: 'strict' },
    );
    expect(r.objects.map((o) => o.outcome)).toEqual(['fact', 'passed']);
    expect(r.objects[1]!.plugin).toMatchObject({
      serviceAccountName: 'quiet',
      serviceAccountKnown: true,
      automount: false,
      automountFrom: 'serviceAccount',
      tokenVolume: undefined,
    });
    expect(r.objects[1]!.tokens).toEqual([]);
  });

  test("a ServiceAccount's opt-in annotation keeps the token; its imagePullSecrets are copied by the plugin but never written back", () => {
    const sa =
      'apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: app, annotations: {tokenguard.dev/api-access: "true"}}\nimagePullSecrets: [{name: regcred}]\n';
    const pod =
      'apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {serviceAccountName: app, containers: [{name: a}]}\n';
    const r = dryRun(`${sa}---\n${pod}`, { policies: 'strict', namespace: 'team-a' });
    const o = r.objects[1]!;
    expect(o.namespace).toBe('team-a');
    expect(o.plugin!.changes).toContain('imagePullSecrets copied from ServiceAccount app: regcred');
    // Strict rewrites the kept API token to 3600 s: a change to the plugin's own volume, which no manifest can carry.
    expect(o.changes.map((c) => c.rule)).toEqual(['api-token-expiration']);
    expect(o.manifestEdits).toEqual([]);
    expect(o.notes.join('\n')).toContain(
      'made at admission only (not expressible in the manifest): volume kube-api-access-',
    );
    expect(o.tokens!.find((t) => t.apiToken)).toMatchObject({
      expirationSeconds: 3600,
      lifetimeSeconds: 3600,
      extended: false,
    });
  });

  test('RoleBindings in the manifests: bound ServiceAccounts keep the token; with --bindings-complete, unbound ones lose it', () => {
    const rb =
      'apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: rb, namespace: team-a}\nroleRef: {kind: Role, name: r, apiGroup: rbac.authorization.k8s.io}\nsubjects: [{kind: ServiceAccount, name: bound}]\n';
    const pod = (sa: string) =>
      `apiVersion: v1\nkind: Pod\nmetadata: {name: ${sa}, namespace: team-a}\nspec: {serviceAccountName: ${sa}, containers: [{name: a}]}\n`;
    const text = `${rb}---\n${pod('bound')}---\n${pod('other')}`;
    const complete = dryRun(text, { bindingsComplete: true });
    expect(complete.objects.map((o) => [o.name, o.outcome])).toEqual([
      ['rb', 'fact'],
      ['bound', 'warned'], // kept; the shipped Audit policy warns about its year-long token
      ['other', 'mutated'],
    ]);
    // Without --bindings-complete, an unnamed ServiceAccount's bindings are unknown: kept (whenUnknown: Needed).
    expect(dryRun(text).objects[2]!.outcome).toBe('warned');
  });

  test('Namespace labels from the manifests feed namespaceSelector; unknown labels deny, as the webhook would', () => {
    const pod =
      'apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: apps, labels: {app: x}}\nspec: {containers: [{name: a}]}\n';
    const withNs = dryRun(
      `apiVersion: v1\nkind: Namespace\nmetadata: {name: apps, labels: {tier: apps}}\n---\n${pod}`,
      { policies: 'selector' },
    );
    expect(withNs.objects[1]).toMatchObject({ outcome: 'mutated' });
    const without = dryRun(pod, { policies: 'selector' });
    expect(without.objects[0]).toMatchObject({ outcome: 'denied' });
    expect(without.objects[0]!.denials[0]!.message).toContain('labels of namespace "apps" are unknown');
  });

  test('a ServiceAccount found nowhere is assumed to exist, and the report says so', () => {
    const o = dryRun(POD().replace('spec:\n', 'spec:\n  serviceAccountName: ghost\n')).objects[0]!;
    expect(o.notes[0]).toMatch(/^ServiceAccount team-a\/ghost is in neither the inputs nor --facts/);
  });

  test('--facts objects count like manifest ones, and --namespace places namespaced facts without one', () => {
    const facts = parseManifests(
      'apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: quiet}\nautomountServiceAccountToken: false\n',
      'f.yaml',
    ).objects.map((o) => o.object);
    const pod =
      'apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {serviceAccountName: quiet, containers: [{name: a}]}\n';
    expect(dryRun(pod, { facts, namespace: 'team-b' }).objects[0]!.plugin!.automount).toBe(false);
    expect(dryRun(pod, { facts, namespace: 'team-b' }).objects[0]!.namespace).toBe('team-b');
  });
});

describe('verdicts', () => {
  test('a legacy token Secret is denied; no Secret data reaches the report', () => {
    const r = dryRun(
      'apiVersion: v1\nkind: Secret\nmetadata: {name: t, namespace: team-a, annotations: {kubernetes.io/service-account.name: ci}}\ntype: kubernetes.io/service-account-token\nstringData: {token: SUPER-SECRET-VALUE}\n',
    );
    expect(r.objects[0]).toMatchObject({
      outcome: 'denied',
      denials: [expect.objectContaining({ policy: 'legacy-token-secrets', rule: 'legacy-token-secret' })],
    });
    const { admission: _internal, ...visible } = r.objects[0]!;
    expect(JSON.stringify(visible)).not.toContain('SUPER-SECRET-VALUE');
    expect(exitCode(r, { failOnWarn: false })).toBe(1);
  });

  test('a token out of Deny bounds is denied after mutation; the mutating side warned about it', () => {
    const pod = `${POD()}  volumes:\n    - name: vault\n      projected: {sources: [{serviceAccountToken: {audience: vault, expirationSeconds: 86400, path: token}}]}\n`;
    const o = dryRun(
      pod.replace(
        '      image: registry.example/app:1\n',
        '      image: registry.example/app:1\n      volumeMounts: [{name: vault, mountPath: /v}]\n',
      ),
      { policies: 'deny-bounds' },
    ).objects[0]!;
    expect(o.outcome).toBe('denied');
    expect(o.denials.map((d) => d.message)).toEqual(['vault: expirationSeconds 86400 outside [600, 3600]']);
    expect(
      o.warnings.some(
        (w) => w.startsWith('tokenguard: short-tokens: ') && w.includes('vault: expirationSeconds 86400'),
      ),
    ).toBe(true);
    expect(o.policies).toEqual([expect.objectContaining({ policy: 'short-tokens', status: 'fail' })]);
  });

  test('Audit mode warns with exactly the warnings the webhook sends; --fail-on warn turns them into exit 1', () => {
    const r = dryRun(POD(), { policies: 'audit' });
    const o = r.objects[0]!;
    expect(o.outcome).toBe('warned');
    expect(o.warnings.length).toBeGreaterThan(0);
    expect(o.warnings.every((w) => w.startsWith('tokenguard: audit strict-audit would '))).toBe(true);
    expect(exitCode(r, { failOnWarn: false })).toBe(0);
    expect(exitCode(r, { failOnWarn: true })).toBe(1);
  });

  test('a mirror pod is left alone by the plugin and by tokenguard', () => {
    const o = dryRun(POD('  annotations: {kubernetes.io/config.mirror: abc}\n'), { policies: 'strict' }).objects[0]!;
    expect(o).toMatchObject({ outcome: 'passed', mutated: false, tokens: [] });
    expect(o.notes).toContain('mirror pod: the ServiceAccount plugin and tokenguard leave it alone');
  });

  test('every loaded policy has a verdict per evaluated object, skipped when it does not apply', () => {
    const o = dryRun(POD()).objects[0]!;
    expect(o.policies.map((p) => [p.policy, p.status])).toEqual([
      ['api-token-expiration', 'warn'],
      ['automount', 'pass'],
      ['legacy-token-secrets', 'skip'],
      ['token-bounds', 'skip'],
    ]);
  });
});

test('reinvocation (docs/kubernetes.md "Admission order"): a webhook that drops the token without automount=false sees the plugin put it back, and is called again', () => {
  const pod: JsonObject = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'a' },
    spec: { containers: [{ name: 'c' }] },
  };
  const calls: string[] = [];
  let n = 0;
  const answer = (patch: WebhookAnswer['patch']): WebhookAnswer => ({
    allowed: true,
    warnings: [],
    results: [],
    patch,
  });
  const admitted = admitPod(pod, {
    plugin: (p) =>
      simulateServiceAccountAdmission({
        pod: p,
        serviceAccount: () => undefined,
        suffix: () => `sfx${n++}x`.slice(0, 5),
      }),
    webhook: (endpoint, object) => {
      calls.push(endpoint);
      const spec = object.spec as JsonObject;
      const vols = (spec.volumes as JsonObject[] | undefined) ?? [];
      if (endpoint === 'mutate' && vols.length > 0 && calls.length === 1) {
        return answer([
          { op: 'remove', path: '/spec/volumes' },
          { op: 'remove', path: '/spec/containers/0/volumeMounts' },
        ]);
      }
      return answer([]);
    },
  });
  expect(calls).toEqual(['mutate', 'mutate', 'validate']);
  expect(admitted.reinvocation?.changes.some((c) => c.startsWith('added volume kube-api-access-'))).toBe(true);
  expect(((admitted.final.spec as JsonObject).volumes as JsonObject[]).length).toBe(1);
});

test('token lifetimes: only 3607 s with the API audience is stretched to a year; an unmounted token is never requested', () => {
  const pod: JsonObject = {
    spec: {
      containers: [
        {
          name: 'a',
          volumeMounts: [
            { name: 'api', mountPath: '/x' },
            { name: 'aud', mountPath: '/y' },
          ],
        },
      ],
      volumes: [
        { name: 'api', projected: { sources: [{ serviceAccountToken: { path: 'token', expirationSeconds: 3607 } }] } },
        {
          name: 'aud',
          projected: {
            sources: [{ serviceAccountToken: { path: 'token', audience: 'vault', expirationSeconds: 3607 } }],
          },
        },
        { name: 'unused', projected: { sources: [{ serviceAccountToken: { path: 'token' } }] } },
      ],
    },
  };
  expect(
    tokenLifetimes(pod, DEFAULT_API_AUDIENCES).map((t) => [
      t.volume,
      t.lifetimeSeconds,
      t.extended,
      t.containers.length,
    ]),
  ).toEqual([
    ['api', 31536000, true, 1],
    ['aud', 3607, false, 1],
    ['unused', 3600, false, 0],
  ]);
  expect(tokenLifetimes(pod, DEFAULT_API_AUDIENCES)[2]!.note).toContain('no container mounts it');
});

test("tokenguard test: a 3607 s token for the API audience spelled out lives a year and is held to it; --api-audience says which audiences are the API server's", async () => {
  const text = `apiVersion: v1
kind: Pod
metadata: {name: p, namespace: team-a, annotations: {tokenguard.dev/api-access: "true"}}
spec:
  containers: [{name: a, image: i, volumeMounts: [{name: api, mountPath: /x}]}]
  volumes:
    - name: api
      projected: {sources: [{serviceAccountToken: {path: token, audience: "https://kubernetes.default.svc.cluster.local", expirationSeconds: 3607}}]}
`;
  // With no pod policy, the token is admitted as asked: it lives a year.
  const asked = dryRun(text, { policies: 'token-requests' }).objects[0]!;
  expect(asked.tokens?.find((t) => t.volume === 'api')).toMatchObject({
    expirationSeconds: 3607,
    lifetimeSeconds: 31536000,
    extended: true,
  });
  // The shipped token-bounds (86400 s) hold it to that year.
  const o = dryRun(text).objects[0]!;
  expect(o.changes).toContainEqual(
    expect.objectContaining({
      rule: 'token-bounds',
      message: 'api: expirationSeconds 3607 (extended to 31536000 s) -> 3606',
    }),
  );
  const r = await testCli(['--policies', join(REPO, 'policies'), '-'], { stdin: text });
  expect(r.stdout).toContain(
    'token api (audience https://kubernetes.default.svc.cluster.local, 3606 s) in containers/a: lives 3606 s',
  );
  // Another cluster's API audience: that audience is then someone else's, not extended.
  const other = dryRun(text, { policies: 'token-requests', apiAudiences: ['https://oidc.example/*'] }).objects[0]!;
  expect(other.tokens?.find((t) => t.volume === 'api')).toMatchObject({ lifetimeSeconds: 3607, extended: false });
  const flagged = await testCli(
    ['--policies', join(REPO, 'policies'), '--api-audience', 'https://oidc.example/*', '-'],
    { stdin: text },
  );
  expect(flagged.stdout).toContain(
    'token api (audience https://kubernetes.default.svc.cluster.local, 3607 s) in containers/a: lives 3607 s',
  );
});

describe('write-back (--mutated)', () => {
  test("a manifest's copy of the plugin's kube-api-access-* volume (kubectl get -o yaml) is removed with its mounts, and the result needs nothing more", () => {
    const text = `apiVersion: v1
kind: Pod
metadata: {name: p, namespace: team-a}
spec:
  containers:
    - name: a
      volumeMounts:
        - {name: kube-api-access-mine, mountPath: /var/run/secrets/kubernetes.io/serviceaccount}
        - {name: data, mountPath: /data}
  volumes:
    - name: data
      emptyDir: {}
    - name: kube-api-access-mine
      projected:
        defaultMode: 420
        sources:
          - serviceAccountToken: {path: token, expirationSeconds: 3607}
          - configMap: {name: kube-root-ca.crt, items: [{key: ca.crt, path: ca.crt}]}
          - downwardAPI: {items: [{path: namespace, fieldRef: {apiVersion: v1, fieldPath: metadata.namespace}}]}
`;
    const o = dryRun(text, { policies: 'strict' }).objects[0]!;
    // Reused (the first kube-api-access-* volume, whatever it holds), and nothing to mount: every container already has a mount at the path.
    expect(o.plugin).toMatchObject({
      tokenVolume: 'kube-api-access-mine',
      changes: ['serviceAccountName defaulted to "default"'],
    });
    expect(o.manifestEdits).toEqual([
      { op: 'set', path: ['spec', 'automountServiceAccountToken'], value: false },
      { op: 'delete', path: ['spec', 'volumes', 1] },
      { op: 'delete', path: ['spec', 'containers', 0, 'volumeMounts', 0] },
    ]);
    const out = rewriteManifests(text, [{ document: 1, edits: o.manifestEdits }]);
    expect(parseManifests(out, 'x').objects[0]!.object).toEqual(
      applyEditsToJson(parseManifests(text, 'x').objects[0]!.object, o.manifestEdits),
    );
    expect(dryRun(out, { policies: 'strict' }).objects[0]).toMatchObject({ outcome: 'passed', manifestEdits: [] });
  });

  test("a token volume of the manifest's own making under a kube-api-access-* name is the author's: kept, and the pod is denied", () => {
    const text = `apiVersion: v1
kind: Pod
metadata: {name: p, namespace: team-a}
spec:
  containers:
    - name: a
      volumeMounts: [{name: kube-api-access-mine, mountPath: /var/run/secrets/kubernetes.io/serviceaccount}]
  volumes:
    - name: kube-api-access-mine
      projected: {sources: [{serviceAccountToken: {path: token, expirationSeconds: 4294967296}}]}
`;
    const o = dryRun(text, { policies: 'strict' }).objects[0]!;
    expect(o.outcome).toBe('denied');
    expect(o.manifestEdits.some((e) => e.op === 'delete' && e.path[1] === 'volumes')).toBe(false);
    expect(JSON.stringify(o.denials)).toContain(
      'pod mounts API token kube-api-access-mine but does not need API access',
    );
  });

  test('injected tokens become volumes and mounts in the manifest (init containers too); fed back, nothing changes', () => {
    const text = `# a comment that stays
apiVersion: apps/v1
kind: Deployment
metadata: {name: d, namespace: team-a}
spec:
  template:
    spec:
      initContainers: [{name: init, image: i}]
      containers:
        - name: app # the app
          image: a
`;
    const o = dryRun(text, { policies: 'inject' }).objects[0]!;
    expect(o.outcome).toBe('mutated');
    const out = rewriteManifests(text, [{ document: 1, edits: o.manifestEdits }]);
    expect(out).toContain('# a comment that stays');
    expect(out).toContain('# the app');
    const spec = ((parseManifests(out, 'x').objects[0]!.object.spec as JsonObject).template as JsonObject)
      .spec as JsonObject;
    expect(spec.volumes).toEqual([
      {
        name: 'vault-token',
        projected: {
          defaultMode: 420,
          sources: [{ serviceAccountToken: { audience: 'vault', expirationSeconds: 3600, path: 'token' } }],
        },
      },
    ]);
    for (const c of [...(spec.initContainers as JsonObject[]), ...(spec.containers as JsonObject[])]) {
      expect(c.volumeMounts).toEqual([
        { name: 'vault-token', mountPath: '/var/run/secrets/tokens/vault', readOnly: true },
      ]);
    }
    const again = dryRun(out, { policies: 'inject' }).objects[0]!;
    expect(again).toMatchObject({ mutated: false, manifestEdits: [] });
  });

  test('untouched documents stay byte for byte, broken ones too; JSON stays JSON; List items are edited in place', () => {
    const yaml = `# head\napiVersion: v1\nkind: ConfigMap\nmetadata:   {name: c}   # odd spacing kept\n---\nkind: Broken\n  bad: : x\n---\n${POD()}`;
    const o = dryRun(yaml, { policies: 'strict' });
    const pod = o.objects.find((x) => x.kind === 'Pod')!;
    const out = rewriteManifests(yaml, [{ document: pod.document, edits: pod.manifestEdits }]);
    expect(
      out.startsWith(
        `# head\napiVersion: v1\nkind: ConfigMap\nmetadata:   {name: c}   # odd spacing kept\n---\nkind: Broken\n  bad: : x\n---\n`,
      ),
    ).toBe(true);
    expect(out).toContain('automountServiceAccountToken: false');

    const json = JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } },
        parseManifests(POD(), 'p').objects[0]!.object,
      ],
    });
    const r = dryRun(json, { policies: 'strict', file: 'list.json' });
    const item = r.objects[1]!;
    expect(item.item).toBe(1);
    const written = rewriteManifests(json, [{ document: 1, item: 1, edits: item.manifestEdits }]);
    const parsed = JSON.parse(written);
    expect(parsed.items[1].spec.automountServiceAccountToken).toBe(false);
    expect(parsed.items[0]).toEqual({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } });
    expect(dryRun(written, { policies: 'strict', file: 'list.json' }).objects[1]).toMatchObject({ mutated: false });
  });
});

describe('an object the webhook cannot judge is answered as the server answers it', () => {
  const nested = (depth: number): JsonObject => (depth <= 1 ? {} : { n: nested(depth - 1) });
  const cases: [string, JsonObject, string][] = [
    [
      'a field of the wrong JSON type',
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'p', namespace: 'team-a' },
        spec: { automountServiceAccountToken: 'yes', containers: [{ name: 'a' }] },
      },
      'spec.automountServiceAccountToken must be a boolean',
    ],
    // 100 levels: the manifest reader accepts it, but one level down in a request it is too deep.
    [
      'an object nesting 100 levels',
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'p', namespace: 'team-a' },
        spec: { containers: [{ name: 'a' }], x: nested(98) },
      },
      'request nests deeper than 100 levels',
    ],
  ];

  test.each(cases)('%s', async (_what, object, problem) => {
    const policies = policySet('shipped');
    const report = runDryRun({ policies, objects: [{ object, file: 'p.yaml', document: 1, line: 1 }] });
    const o = report.objects[0]!;
    const deps = { policies: () => policies, facts: staticFacts([]) };
    const mutate = await handleReview(
      'mutate',
      toAdmissionReview(o.admission!.given, { kind: 'Pod', namespace: 'team-a' }),
      deps,
    );
    const validate = await handleReview(
      'validate',
      toAdmissionReview(o.admission!.judged, { kind: 'Pod', namespace: 'team-a' }),
      deps,
    );
    if (!mutate.ok || !validate.ok) throw new Error('no uid?');
    expect(validate.outcome.decision).toBe('invalid');
    expect(validate.outcome.review.response.status?.message).toContain(problem);
    expect(o.outcome).toBe('denied');
    expect(o.denials).toEqual([
      { policy: '', rule: '', mode: 'Enforce', message: validate.outcome.review.response.status?.message },
    ]);
    expect(o.warnings).toEqual(mutate.outcome.review.response.warnings);
    expect(o.patch).toEqual([]);
  });
});
