/**
 * Scenario 25: the policies exported as ValidatingAdmissionPolicies and MutatingAdmissionPolicies
 * (`tokenguard export vap|map`), enforced by a real kube-apiserver 1.34 with no webhook at all.
 *
 * A control plane of its own, with the MutatingAdmissionPolicy feature gate and
 * `--runtime-config=admissionregistration.k8s.io/v1beta1=true` (docs/vap.md), and no webhook
 * configuration:
 *
 * 1. every policy set of the golden fixtures, exported with the real CLI, is accepted by the API
 *    server (server-side dry-run apply, then applied for real) and type-checks against the real
 *    schemas without a warning;
 * 2. every golden admission fixture that is a CREATE is sent to the API server as a
 *    `--dry-run=server` create, as the fixture's user (impersonated) and with the fixture's facts
 *    made real (namespace labels, ServiceAccounts). The answer (allowed or not, the denial's
 *    `policy/rule: message` lines, the stored pod's token volumes and mounts) is compared with
 *    what the webhook answers for the same object as the API server hands it to admission (the
 *    same create, made before the policies exist): mutate, the patch applied, then validate, as
 *    the API server calls the webhooks. Each comparison is written down in EXPECTED; every one
 *    that is not `same` is listed in docs/vap.md.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fastJsonPatch from 'fast-json-patch';
import { parseManifests } from '../../src/dryrun/manifests.js';
import { staticFacts } from '../../src/facts/static.js';
import { isObject, type JsonObject } from '../../src/json.js';
import { lines } from '../helpers/admission-policies.js';
import { ADMISSION_FIXTURES, answer, policySet, REPO } from '../helpers/fixtures.js';
import { type Cluster, startCluster } from './cluster.js';
import { type E2EState, loadState, REPO_ROOT, sleep, waitFor } from './env.js';
import { type KubectlResult, kubectl } from './kube.js';

/** How the API server's answer compares with the webhook's (test/helpers/admission-policies.ts has the same classes offline). */
type Comparison =
  | 'same'
  /** Same decision; the API server reports the lines of the first denying admission policy, a subset of the webhook's. */
  | 'one-message'
  /** Same decision; the lines differ. */
  | 'other-message'
  /** The decision or the stored token volumes and mounts differ. */
  | 'differs'
  /** Not a CREATE (UPDATE, DELETE, CONNECT, subresources other than token): compared offline only. */
  | 'not-create'
  /** Not a request an API server sends to admission (malformed, or a ConfigMap for pods). */
  | 'not-a-request'
  /** The API server refuses it before admission here, with no policy at all (the fixture names objects this cluster has not). */
  | 'refused-before-admission';

/**
 * The fixtures the API server does not answer as the webhook does (docs/vap.md lists each); every
 * other fixture that is sent is `same`, and the rest are classified by notSent.
 */
const EXPECTED: Record<string, Comparison> = {
  // The webhook knows from RBAC that the ServiceAccount is bound by nothing; CEL cannot read bindings.
  'pod-deployment-unbound-sa-token-removed': 'differs',
  // The webhook fails closed on unknown namespace labels; the API server always knows them.
  'pod-namespace-labels-unknown-denied': 'differs',
  // Legacy tokens inside Secret data need base64 and JWT decoding.
  'secret-embedded-legacy-token-denied': 'differs',
  'secret-embedded-wrapped-legacy-token-denied': 'differs',
  // A mirror pod may not name a ServiceAccount (the ServiceAccount admission plugin).
  'pod-mirror-untouched': 'refused-before-admission',
  // Pod-bound TokenRequests name a pod this cluster does not have.
  'tokenrequest-kubelet-pod-bound-exempt': 'refused-before-admission',
  'tokenrequest-pod-bound-3606-allowed': 'refused-before-admission',
  'tokenrequest-pod-bound-3607-denied': 'refused-before-admission',
};
const expected = (f: Fixture): Comparison => notSent(f) ?? EXPECTED[f.name] ?? 'same';

const CLI = join(REPO_ROOT, 'dist', 'cli', 'main.js');
const FIXTURE_USERS_ROLE = 'e2e-admission-policies-fixture-users';
let cluster: Cluster;
let state: E2EState;

const kube = (args: readonly string[], input?: string, timeoutMs?: number): Promise<KubectlResult> =>
  kubectl(args, { ...(input !== undefined ? { input } : {}), ...(timeoutMs ? { timeoutMs } : {}) }, state);
async function kubeOk(args: readonly string[], input?: string): Promise<KubectlResult> {
  const r = await kube(args, input);
  if (r.code !== 0) throw new Error(`e2e: kubectl ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  return r;
}

interface Fixture {
  readonly name: string;
  readonly policies: string;
  readonly request: JsonObject;
  readonly body: JsonObject;
  readonly facts: JsonObject[];
  readonly bindingsComplete: boolean;
}

function fixture(name: string): Fixture {
  const dir = join(ADMISSION_FIXTURES, name);
  const meta = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8')) as {
    policies: string;
    bindingsComplete?: boolean;
  };
  const body = JSON.parse(readFileSync(join(dir, 'review.json'), 'utf8')) as JsonObject;
  let facts: JsonObject[] = [];
  try {
    facts = parseManifests(readFileSync(join(dir, 'facts.yaml'), 'utf8'), 'facts.yaml').objects.map((o) => o.object);
  } catch {
    facts = [];
  }
  return {
    name,
    policies: meta.policies,
    request: (isObject(body.request) ? body.request : {}) as JsonObject,
    body,
    facts,
    bindingsComplete: meta.bindingsComplete === true,
  };
}

/** Why a fixture is not sent to this API server, or undefined when it is. */
function notSent(f: Fixture): Comparison | undefined {
  if (/^malformed-|^configmap-unknown-kind/.test(f.name)) return 'not-a-request';
  const r = f.request;
  const resource = isObject(r.resource) ? String(r.resource.resource) : '';
  const sub = typeof r.subResource === 'string' ? r.subResource : '';
  if (r.operation !== 'CREATE') return 'not-create';
  if (
    !(
      (resource === 'pods' && sub === '') ||
      (resource === 'secrets' && sub === '') ||
      (resource === 'serviceaccounts' && sub === 'token')
    )
  )
    return 'not-create';
  return undefined;
}

const namespaceOf = (f: Fixture) => String(f.request.namespace ?? '');
const objectOf = (f: Fixture) => f.request.object as JsonObject;

/** The pod's ServiceAccount, or the TokenRequest's. */
function serviceAccountOf(f: Fixture): string | undefined {
  const o = objectOf(f);
  if (o.kind === 'Pod') {
    const spec = isObject(o.spec) ? o.spec : {};
    return typeof spec.serviceAccountName === 'string' && spec.serviceAccountName ? spec.serviceAccountName : 'default';
  }
  if (o.kind === 'TokenRequest') return String(f.request.name);
  return undefined;
}

/** The fixture's facts made real in its namespace: labels exactly, its ServiceAccounts with their annotations. */
async function realizeFacts(f: Fixture): Promise<void> {
  const ns = namespaceOf(f);
  const nsFact = f.facts.find((o) => o.kind === 'Namespace' && (o.metadata as JsonObject).name === ns);
  const want = { ...((((nsFact?.metadata as JsonObject | undefined)?.labels ?? {}) as Record<string, string>) ?? {}) };
  const current = JSON.parse((await kubeOk(['get', 'namespace', ns, '-o', 'json'])).stdout) as {
    metadata: { labels?: Record<string, string> };
  };
  const edits = [
    ...Object.keys(current.metadata.labels ?? {})
      .filter((k) => k !== 'kubernetes.io/metadata.name' && !(k in want))
      .map((k) => `${k}-`),
    ...Object.entries(want).map(([k, v]) => `${k}=${v}`),
  ];
  if (edits.length > 0) await kubeOk(['label', 'namespace', ns, '--overwrite', ...edits]);

  const accounts = f.facts.filter(
    (o) => o.kind === 'ServiceAccount' && ((o.metadata as JsonObject).namespace ?? ns) === ns,
  );
  const own = serviceAccountOf(f);
  if (own && !accounts.some((a) => (a.metadata as JsonObject).name === own))
    accounts.push({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: own, namespace: ns } });
  if (!accounts.some((a) => (a.metadata as JsonObject).name === 'default'))
    accounts.push({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default', namespace: ns } });
  const existing = (
    JSON.parse((await kubeOk(['get', 'serviceaccounts', '-n', ns, '-o', 'json'])).stdout) as { items: JsonObject[] }
  ).items;
  const stale = existing
    .map((s) => String((s.metadata as JsonObject).name))
    .filter((n) => n !== 'default' && !accounts.some((a) => (a.metadata as JsonObject).name === n));
  if (stale.length > 0) await kubeOk(['delete', 'serviceaccount', '-n', ns, '--wait=false', ...stale]);
  // `replace` semantics: annotations and automountServiceAccountToken exactly as the facts say.
  for (const a of accounts) {
    const meta = a.metadata as JsonObject;
    const name = String(meta.name);
    const found = existing.find((s) => (s.metadata as JsonObject).name === name);
    const desired = {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name, namespace: ns, ...(isObject(meta.annotations) ? { annotations: meta.annotations } : {}) },
      ...('automountServiceAccountToken' in a ? { automountServiceAccountToken: a.automountServiceAccountToken } : {}),
    };
    if (!found) await kubeOk(['create', '-f', '-'], JSON.stringify(desired));
    else {
      const same =
        JSON.stringify((found.metadata as JsonObject).annotations ?? {}) ===
          JSON.stringify(desired.metadata.annotations ?? {}) &&
        found.automountServiceAccountToken === (desired as JsonObject).automountServiceAccountToken;
      if (!same)
        await kubeOk(
          ['replace', '-f', '-'],
          JSON.stringify({
            ...desired,
            metadata: { ...desired.metadata, resourceVersion: (found.metadata as JsonObject).resourceVersion },
          }),
        );
    }
  }
}

/** The impersonation flags of the fixture's user. */
function asUser(f: Fixture): string[] {
  const u = isObject(f.request.userInfo) ? f.request.userInfo : {};
  const groups = Array.isArray(u.groups) ? u.groups.map(String).filter((g) => g !== 'system:authenticated') : [];
  return [`--as=${String(u.username)}`, ...groups.map((g) => `--as-group=${g}`)];
}

interface ApiAnswer {
  readonly allowed: boolean;
  /** The created object (dry run), without the TokenRequest's status. */
  readonly object?: JsonObject;
  /** The denial text after `denied request: `, or the error. */
  readonly message?: string;
  readonly error?: string;
}

/** The fixture's object as a `--dry-run=server` create by its user. */
async function createDryRun(f: Fixture): Promise<ApiAnswer> {
  const o = structuredClone(objectOf(f));
  const ns = namespaceOf(f);
  const meta = (o.metadata ?? {}) as JsonObject;
  o.metadata = { ...meta, namespace: ns };
  delete (o.metadata as JsonObject).creationTimestamp;
  const r =
    o.kind === 'TokenRequest'
      ? await kube(
          [
            'create',
            '--raw',
            `/api/v1/namespaces/${ns}/serviceaccounts/${String(f.request.name)}/token?dryRun=All`,
            '-f',
            '-',
            ...asUser(f),
          ],
          JSON.stringify({ ...o, metadata: { ...(o.metadata as JsonObject), name: String(f.request.name) } }),
        )
      : await kube(['create', '-f', '-', '-o', 'json', '--dry-run=server', ...asUser(f)], JSON.stringify(o));
  if (r.code === 0) {
    const created = JSON.parse(r.stdout) as JsonObject;
    delete created.status; // a TokenRequest's token: never kept, never printed
    return { allowed: true, object: created };
  }
  const denied = /denied request: (.*)$/s.exec(r.stderr.trim());
  if (denied) return { allowed: false, message: (denied[1] as string).trim() };
  return { allowed: false, error: r.stderr.trim() };
}

/** What the webhook answers for `object` (as the API server hands it to admission): mutate, patch, validate. */
async function webhookAnswer(
  f: Fixture,
  object: JsonObject,
): Promise<{ allowed: boolean; message?: string; object: JsonObject }> {
  const facts = staticFacts(f.facts, { bindingsComplete: f.bindingsComplete });
  const policies = policySet(f.policies);
  const review = (o: JsonObject) => ({ ...f.body, request: { ...f.request, object: o } });
  const mutated = (await answer({ body: review(object), policies, facts }, 'mutate')) as {
    response?: { patch?: string };
  };
  const patch = mutated.response?.patch
    ? (JSON.parse(Buffer.from(mutated.response.patch, 'base64').toString('utf8')) as fastJsonPatch.Operation[])
    : [];
  const final =
    patch.length > 0
      ? (fastJsonPatch.applyPatch(structuredClone(object), patch, true, false).newDocument as JsonObject)
      : object;
  const validated = (await answer({ body: review(final), policies, facts }, 'validate')) as {
    response?: { allowed?: boolean; status?: { message?: string } };
  };
  const message = validated.response?.status?.message;
  return { allowed: validated.response?.allowed === true, ...(message ? { message } : {}), object: final };
}

const RANDOM = /kube-api-access-[a-z0-9]{5}\b/g;
/** The same value with the keys of every object sorted (the API server writes fields in schema order, a patch in its own). */
const canonical = (x: unknown): unknown =>
  Array.isArray(x)
    ? x.map(canonical)
    : isObject(x)
      ? Object.fromEntries(
          Object.keys(x)
            .sort()
            .map((k) => [k, canonical(x[k])]),
        )
      : x;
/** What admission decides about a stored object: token volumes, mounts, automount. Plugin volume names lose their random suffix. */
function tokenView(o: JsonObject | undefined): unknown {
  if (!o) return undefined;
  if (o.kind !== 'Pod') return o.kind === 'TokenRequest' ? { spec: o.spec } : { type: o.type };
  const spec = (o.spec ?? {}) as JsonObject;
  const containers = ['initContainers', 'containers', 'ephemeralContainers'].flatMap((k) =>
    Array.isArray(spec[k])
      ? (spec[k] as JsonObject[]).map((c) => ({ name: c.name, volumeMounts: c.volumeMounts ?? [] }))
      : [],
  );
  // By name, not by position: the API server runs several matching MutatingAdmissionPolicies in an
  // order it does not promise, so two policies' injections come in either order (docs/vap.md).
  const byName = (xs: unknown[]) => [...xs].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
  const view = canonical(
    JSON.parse(
      JSON.stringify({
        automountServiceAccountToken: spec.automountServiceAccountToken,
        volumes: spec.volumes ?? [],
        containers,
      }).replace(RANDOM, 'kube-api-access-*'),
    ),
  ) as { volumes: unknown[]; containers: { volumeMounts: unknown[] }[] };
  return {
    ...view,
    volumes: byName(view.volumes),
    containers: view.containers.map((c) => ({ ...c, volumeMounts: byName(c.volumeMounts) })),
  };
}

const policyLabels = (f: Fixture) => policySet(f.policies).map((p) => p.name);
const normalize = (ls: readonly string[]) => ls.map((l) => l.replace(RANDOM, 'kube-api-access-*'));

function compare(
  f: Fixture,
  webhook: { allowed: boolean; message?: string; object: JsonObject },
  api: ApiAnswer,
): { comparison: Comparison; detail: unknown } {
  const w = normalize(lines(webhook.message, policyLabels(f)));
  const a = normalize(lines(api.message, policyLabels(f)));
  const detail = {
    webhook: { allowed: webhook.allowed, lines: w },
    api: { allowed: api.allowed, lines: a, ...(api.error ? { error: api.error } : {}) },
  };
  if (api.error) return { comparison: 'differs', detail };
  if (webhook.allowed !== api.allowed) return { comparison: 'differs', detail };
  if (webhook.allowed) {
    const same = JSON.stringify(tokenView(webhook.object)) === JSON.stringify(tokenView(api.object));
    return {
      comparison: same ? 'same' : 'differs',
      detail: same ? detail : { ...detail, webhookStored: tokenView(webhook.object), apiStored: tokenView(api.object) },
    };
  }
  if (w.join('\n') === a.join('\n')) return { comparison: 'same', detail };
  if (a.length > 0 && a.every((l) => w.includes(l))) return { comparison: 'one-message', detail };
  return { comparison: 'other-message', detail };
}

/** `tokenguard export vap|map` of a policy set, as YAML. */
function exported(set: string, which: 'vap' | 'map'): string {
  const dir = set === 'shipped' ? join(REPO, 'policies') : join(REPO, 'test', 'fixtures', 'policies', set);
  return execFileSync(process.execPath, [CLI, 'export', which, '--policies', dir, '--out', '-'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
}

/** A ValidatingAdmissionPolicy and a MutatingAdmissionPolicy that show, on a ConfigMap, that the policies applied with them are in force. */
function probes(generation: string): string {
  const name = `tokenguard-e2e-probe-${generation}`;
  const rules = {
    resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['configmaps'] }],
  };
  const only = [{ name: 'probe', expression: `object.metadata.name == '${name}'` }];
  const docs = [
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicy',
      metadata: { name, labels: { 'app.kubernetes.io/part-of': 'tokenguard' } },
      spec: {
        failurePolicy: 'Fail',
        matchConstraints: rules,
        matchConditions: only,
        validations: [{ expression: 'false', message: 'probe in force' }],
      },
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata: { name, labels: { 'app.kubernetes.io/part-of': 'tokenguard' } },
      spec: { policyName: name, validationActions: ['Warn'] },
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1beta1',
      kind: 'MutatingAdmissionPolicy',
      metadata: { name, labels: { 'app.kubernetes.io/part-of': 'tokenguard' } },
      spec: {
        failurePolicy: 'Fail',
        reinvocationPolicy: 'Never',
        matchConstraints: rules,
        matchConditions: only,
        mutations: [
          {
            patchType: 'JSONPatch',
            jsonPatch: { expression: "[JSONPatch{op: 'add', path: '/data', value: {'probe': 'in force'}}]" },
          },
        ],
      },
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1beta1',
      kind: 'MutatingAdmissionPolicyBinding',
      metadata: { name, labels: { 'app.kubernetes.io/part-of': 'tokenguard' } },
      spec: { policyName: name },
    },
  ];
  return docs.map((d) => JSON.stringify(d)).join('\n---\n');
}

/** Replaces every admission policy of the cluster with the export of one set, and waits until the API server enforces them. */
async function installSet(set: string): Promise<void> {
  for (const kind of [
    'validatingadmissionpolicybindings',
    'validatingadmissionpolicies',
    'mutatingadmissionpolicybindings',
    'mutatingadmissionpolicies',
  ]) {
    await kubeOk(['delete', kind, '-l', 'app.kubernetes.io/part-of=tokenguard', '--wait=true']);
  }
  const probe = probes(set.replace(/[^a-z0-9-]/g, '-'));
  const yaml = `${exported(set, 'vap')}\n---\n${exported(set, 'map')}\n---\n${probe}\n`;
  await kubeOk(['apply', '-f', '-'], yaml);
  const name = `tokenguard-e2e-probe-${set.replace(/[^a-z0-9-]/g, '-')}`;
  await waitFor(`the admission policies of ${set} in force`, 60_000, async () => {
    const r = await kube(['create', 'configmap', name, '-n', 'default', '--dry-run=server', '-o', 'json']);
    if (r.code !== 0) return undefined;
    const cm = JSON.parse(r.stdout) as { data?: Record<string, string> };
    return cm.data?.probe === 'in force' && r.stderr.includes('probe in force') ? true : undefined;
  });
}

const names = readdirSync(ADMISSION_FIXTURES).sort();
const fixtures = names.map(fixture);
const sent = fixtures.filter((f) => notSent(f) === undefined);
const sets = [...new Set(sent.map((f) => f.policies))].sort();

beforeAll(async () => {
  const binDir = process.env.TOKENGUARD_E2E_BIN_DIR;
  if (!binDir)
    throw new Error('e2e: TOKENGUARD_E2E_BIN_DIR is not set; run the suite with test/e2e/run.sh (npm run test:e2e)');
  const suite = loadState();
  cluster = await startCluster({
    binDir,
    workDir: join(suite.workDir, 'admission-policies-cluster'),
    extraApiserverArgs: [
      '--feature-gates=MutatingAdmissionPolicy=true',
      '--runtime-config=admissionregistration.k8s.io/v1beta1=true',
    ],
  });
  const transcript = join(suite.workDir, 'admission-policies-kubectl-transcript.jsonl');
  writeFileSync(transcript, '');
  state = { ...suite, kubeconfig: cluster.kubeconfig, logs: { ...suite.logs, ...cluster.logs, transcript } };
  // The fixtures' users may create what they create (authorization comes before admission).
  const users = [...new Set(sent.map((f) => String((f.request.userInfo as JsonObject).username)))];
  await kubeOk(
    ['apply', '-f', '-'],
    JSON.stringify({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: FIXTURE_USERS_ROLE },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
      subjects: users.map((name) => ({ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name })),
    }),
  );
  for (const ns of [...new Set(sent.map(namespaceOf))]) {
    const r = await kube(['create', 'namespace', ns]);
    if (r.code !== 0 && !/AlreadyExists/.test(r.stderr)) throw new Error(`e2e: create namespace ${ns}: ${r.stderr}`);
    await waitFor(
      `ServiceAccount ${ns}/default`,
      60_000,
      async () => ((await kube(['get', 'serviceaccount', 'default', '-n', ns])).code === 0 ? true : undefined),
      200,
    );
  }
}, 300_000);

afterAll(async () => {
  await cluster?.stop();
}, 60_000);

test('every exported policy set is accepted by the API server and type-checks against the real schemas', async () => {
  for (const set of [...new Set(fixtures.map((f) => f.policies)), 'shipped'].sort()) {
    for (const which of ['vap', 'map'] as const) {
      const yaml = exported(set, which);
      // An export with no object (an Audit set has no MutatingAdmissionPolicy) is nothing to apply.
      if (!/^kind: /m.test(yaml)) continue;
      const r = await kube(['apply', '--dry-run=server', '-f', '-'], yaml);
      expect({ set, which, code: r.code, stderr: r.stderr.trim() }).toEqual({ set, which, code: 0, stderr: '' });
    }
  }
  // For real: the API server type-checks each ValidatingAdmissionPolicy and says so in its status.
  await installSet('strict');
  const warnings = await waitFor('type checking of every ValidatingAdmissionPolicy', 60_000, async () => {
    const list = JSON.parse((await kubeOk(['get', 'validatingadmissionpolicies', '-o', 'json'])).stdout) as {
      items: {
        metadata: { name: string; generation: number };
        status?: { observedGeneration?: number; typeChecking?: { expressionWarnings?: unknown[] } };
      }[];
    };
    if (list.items.some((p) => p.status?.observedGeneration !== p.metadata.generation)) return undefined;
    return list.items.flatMap((p) =>
      (p.status?.typeChecking?.expressionWarnings ?? []).map((w) => ({ policy: p.metadata.name, warning: w })),
    );
  });
  expect(warnings).toEqual([]);
}, 600_000);

test('every golden fixture: the API server with the exported policies answers as the webhook does, or the difference is written down', async () => {
  // The object each fixture becomes when the API server hands it to admission (defaults, the ServiceAccount plugin), before any policy exists.
  for (const kind of [
    'validatingadmissionpolicybindings',
    'validatingadmissionpolicies',
    'mutatingadmissionpolicybindings',
    'mutatingadmissionpolicies',
  ]) {
    await kubeOk(['delete', kind, '-l', 'app.kubernetes.io/part-of=tokenguard', '--wait=true']);
  }
  const admitted = new Map<string, ApiAnswer>();
  for (const f of sent) {
    await realizeFacts(f);
    admitted.set(f.name, await createDryRun(f));
  }
  const results: Record<string, Comparison> = {};
  const details: Record<string, unknown> = {};
  for (const f of fixtures) {
    const why = notSent(f);
    if (why) results[f.name] = why;
  }
  for (const set of sets) {
    await installSet(set);
    for (const f of sent.filter((x) => x.policies === set)) {
      const before = admitted.get(f.name) as ApiAnswer;
      if (!before.allowed || !before.object) {
        results[f.name] = 'refused-before-admission';
        details[f.name] = before.error ?? before.message;
        continue;
      }
      await realizeFacts(f);
      const webhook = await webhookAnswer(f, before.object);
      // The API server reads ServiceAccounts and namespaces from its informers: a change a moment ago may not be seen yet.
      let c = compare(f, webhook, await createDryRun(f));
      for (let i = 0; i < 10 && c.comparison !== expected(f); i++) {
        await sleep(300);
        c = compare(f, webhook, await createDryRun(f));
      }
      results[f.name] = c.comparison;
      if (c.comparison !== 'same') details[f.name] = c.detail;
    }
  }
  writeFileSync(
    join(state.workDir, 'admission-policies-differential.json'),
    `${JSON.stringify({ results, details }, null, 2)}\n`,
  );
  expect(Object.keys(results).sort()).toEqual(names);
  const wrong = fixtures
    .filter((f) => results[f.name] !== expected(f))
    .map((f) => ({ name: f.name, expected: expected(f), got: results[f.name], detail: details[f.name] }));
  expect(wrong).toEqual([]);
  const doc = readFileSync(join(REPO, 'docs', 'vap.md'), 'utf8');
  expect(
    fixtures
      .filter((f) => !['same', 'not-a-request', 'not-create'].includes(expected(f)) && !doc.includes(`\`${f.name}\``))
      .map((f) => f.name),
  ).toEqual([]);
}, 1_200_000);

test('the install overlays with admission policies are accepted by the API server (server-side dry run)', async () => {
  const render = (dir: string) =>
    execFileSync('kubectl', ['kustomize', join(REPO, 'deploy', 'overlays', dir)], { encoding: 'utf8' });
  const only = await kube(['apply', '--dry-run=server', '-f', '-'], render('admission-policies-only'));
  expect({ code: only.code, stderr: only.stderr.trim() }).toEqual({ code: 0, stderr: '' });
  expect(only.stdout).toMatch(
    /mutatingadmissionpolicy\.admissionregistration\.k8s\.io\/tokenguard-\S+ created \(server dry run\)/,
  );
  // Next to the webhooks: everything but cert-manager's objects (no cert-manager in this cluster), in its namespace.
  const r = await kube(['create', 'namespace', 'tokenguard-system']);
  if (r.code !== 0 && !/AlreadyExists/.test(r.stderr))
    throw new Error(`e2e: create namespace tokenguard-system: ${r.stderr}`);
  const docs = parseManifests(render('admission-policies'), 'deploy/overlays/admission-policies')
    .objects.map((o) => o.object)
    .filter((o) => !['Certificate', 'Issuer'].includes(String(o.kind)) && o.kind !== 'Namespace');
  const withWebhook = await kube(
    ['apply', '--dry-run=server', '-f', '-'],
    JSON.stringify({ apiVersion: 'v1', kind: 'List', items: docs }),
  );
  expect({ code: withWebhook.code, stderr: withWebhook.stderr.trim() }).toEqual({ code: 0, stderr: '' });
  expect(withWebhook.stdout).toMatch(
    /validatingadmissionpolicy\.admissionregistration\.k8s\.io\/tokenguard-\S+ created \(server dry run\)/,
  );
  expect(withWebhook.stdout).toMatch(
    /validatingwebhookconfiguration\.admissionregistration\.k8s\.io\/tokenguard created \(server dry run\)/,
  );
}, 120_000);
