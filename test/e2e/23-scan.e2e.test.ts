/**
 * Scenario 23: `tokenguard scan` against the real kube-apiserver and kube-controller-manager.
 *
 * A known mix in one namespace, created while tokenguard only audits (so the stored objects are
 * as their authors wrote them): legacy token Secrets (the token controller fills them in) used by
 * a Deployment's volume, by a projected volume, by a Deployment's env, by nothing; with a
 * last-used label 200 days old, an invalid-since label 30 days old, or none; a ServiceAccount whose
 * `secrets:` names one; pods with API tokens nothing needs; a projected token of 2 days. Every
 * Secret also holds a canary value, in its data and (created with kubectl apply) in its
 * last-applied annotation.
 *
 * Checked: the exact report in text, JSON and PolicyReport form; the requests the scan sends,
 * through a recording proxy (list only; Secrets only as metadata, and no data in what the API
 * server answered); the canary in no output; the scan as the ServiceAccount of deploy/scan; the
 * plan's patches applied with kubectl (JSON Patch, and kustomize with `kubectl apply -k`) under
 * the shipped policies in Enforce mode, leaving pods the API server admitted; `tokenguard test`
 * on the patched workloads; the PolicyReports refused without their CRDs and accepted, unpruned,
 * with them.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { loadState, REPO_ROOT, waitFor } from './env.js';
import { apply, ensureNamespace, IMAGE, type K8sObject, kubectl, kubectlJson, kubectlOk, type Pod } from './kube.js';
import { type RecordingProxy, startRecordingProxy } from './recording-proxy.js';
import { CLI, policyFiles, setPolicies } from './tokenguard.js';

const NS = 'e2e-scan';
const CANARY = 'CANARY-e2e-scan-5b1d7f09';
const DAY = 86_400_000;
const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const TODAY_MS = Math.floor(Date.now() / DAY) * DAY;
const LAST_USED = day(TODAY_MS - 200 * DAY);
const INVALID_SINCE = day(TODAY_MS - 30 * DAY);
const CRDS = join(REPO_ROOT, 'test/fixtures/crds/policyreports.yaml');

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** `node dist/cli/main.js <args>`, its exit code and output. */
function cli(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      {
        cwd: REPO_ROOT,
        encoding: 'utf8',
        maxBuffer: 64 << 20,
        env: { PATH: process.env.PATH, HOME: tmpdir(), ...env },
      },
      (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout, stderr });
      },
    );
  });
}

function scan(args: readonly string[], kubeconfig = loadState().kubeconfig): Promise<Run> {
  return cli([
    'scan',
    '--kubeconfig',
    kubeconfig,
    '--policies',
    join(REPO_ROOT, 'policies'),
    '--namespace',
    NS,
    ...args,
  ]);
}

function tokenSecret(name: string, serviceAccount: string, labels: Record<string, string> = {}): K8sObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: NS, labels, annotations: { 'kubernetes.io/service-account.name': serviceAccount } },
    type: 'kubernetes.io/service-account-token',
    stringData: { canary: CANARY },
  };
}

function deployment(
  name: string,
  spec: Record<string, unknown>,
  o: { replicas?: number; annotations?: Record<string, string> } = {},
): K8sObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: NS },
    spec: {
      replicas: o.replicas ?? 1,
      // No kubelet: a rolling update would wait forever for new pods to be ready.
      strategy: { type: 'Recreate' },
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name }, ...(o.annotations ? { annotations: o.annotations } : {}) },
        spec: { terminationGracePeriodSeconds: 0, ...spec },
      },
    },
  };
}

const container = (mounts: Record<string, unknown>[] = [], extra: Record<string, unknown> = {}) => ({
  name: 'app',
  image: IMAGE,
  ...(mounts.length > 0 ? { volumeMounts: mounts } : {}),
  ...extra,
});

const MIX: K8sObject[] = [
  { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'legacy-user', namespace: NS } },
  { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'env-user', namespace: NS } },
  { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'ci-bot', namespace: NS } },
  {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name: 'listed', namespace: NS },
    secrets: [{ name: 'listed-token' }],
  },
  tokenSecret('legacy-user-token', 'legacy-user'),
  tokenSecret('env-user-token', 'env-user'),
  tokenSecret('listed-token', 'listed', { 'kubernetes.io/legacy-token-last-used': LAST_USED }),
  tokenSecret('stale-token', 'ci-bot', { 'kubernetes.io/legacy-token-invalid-since': INVALID_SINCE }),
  tokenSecret('fresh-token', 'ci-bot'),
  deployment(
    'api-client',
    {
      containers: [container([{ name: 'legacy', mountPath: '/var/run/secrets/legacy', readOnly: true }])],
      volumes: [{ name: 'legacy', secret: { secretName: 'legacy-user-token' } }],
    },
    { replicas: 2 },
  ),
  deployment('projected-client', {
    serviceAccountName: 'legacy-user',
    containers: [container([{ name: 'creds', mountPath: '/etc/creds', readOnly: true }])],
    volumes: [
      {
        name: 'creds',
        projected: {
          sources: [
            { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'cluster-ca.crt' }] } },
            { secret: { name: 'legacy-user-token', items: [{ key: 'token', path: 'sa-token' }] } },
          ],
        },
      },
    ],
  }),
  deployment('env-reader', {
    serviceAccountName: 'env-user',
    containers: [
      container([], {
        env: [{ name: 'API_TOKEN', valueFrom: { secretKeyRef: { name: 'env-user-token', key: 'token' } } }],
      }),
    ],
  }),
  deployment('web', { containers: [container()] }, { replicas: 3 }),
  deployment(
    'long-token',
    {
      containers: [container([{ name: 'vault', mountPath: '/var/run/secrets/vault' }])],
      volumes: [
        {
          name: 'vault',
          projected: {
            sources: [{ serviceAccountToken: { audience: 'vault', expirationSeconds: 172800, path: 'token' } }],
          },
        },
      ],
    },
    { annotations: { 'tokenguard.dev/api-access': 'true' } },
  ),
];

const PODS = { 'api-client': 2, 'projected-client': 1, 'env-reader': 1, web: 3, 'long-token': 1 };

async function pods(app: string): Promise<Pod[]> {
  return (await kubectlJson<{ items: Pod[] }>(['get', 'pods', '-n', NS, '-l', `app=${app}`])).items;
}

/** What the scan must know of the live objects to be predicted: uids, creation times, pod names. */
interface Live {
  uid: (kind: string, name: string) => string;
  created: (name: string) => string;
  /** The first pod of a workload, in the API server's (name) order. */
  firstPod: (app: string) => string;
  since: string;
}

async function live(): Promise<Live> {
  const list = await kubectlJson<{ items: K8sObject[] }>(['get', 'deployments,secrets,serviceaccounts,pods', '-n', NS]);
  const uids = new Map<string, string>();
  const created = new Map<string, string>();
  const firstPods = new Map<string, string>();
  for (const o of list.items) {
    const md = o.metadata as { name: string; uid: string; creationTimestamp: string; labels?: Record<string, string> };
    uids.set(`${o.kind}/${md.name}`, md.uid);
    created.set(md.name, md.creationTimestamp);
    const app = md.labels?.app;
    if (o.kind === 'Pod' && app && (!firstPods.has(app) || md.name < (firstPods.get(app) as string)))
      firstPods.set(app, md.name);
  }
  const cm = await kubectlJson<{ data: { since: string } }>([
    'get',
    'configmap',
    '-n',
    'kube-system',
    'kube-apiserver-legacy-service-account-token-tracking',
  ]);
  return {
    uid: (k, n) => uids.get(`${k}/${n}`) ?? `?${k}/${n}`,
    created: (n) => created.get(n) ?? '?',
    firstPod: (a) => firstPods.get(a) ?? '?',
    since: cm.data.since,
  };
}

const plus = (dayText: string, days: number) => day(Date.parse(`${dayText}T00:00:00Z`) + days * DAY);

/** The expected JSON report of `scan --namespace e2e-scan` at `scannedAt` (the scan's own clock). */
function expectedReport(l: Live, scannedAt: string, server: string) {
  const today = scannedAt.slice(0, 10);
  const ref = (kind: string, name: string) => ({
    apiVersion: kind === 'Deployment' ? 'apps/v1' : 'v1',
    kind,
    namespace: NS,
    name,
    uid: l.uid(kind, name),
  });
  // Tracking began today (a fresh cluster): the cleaner may act a period and a day after that.
  const invalidateOn = plus(l.since, 366);
  const deleteOn = plus(invalidateOn, 366);
  const legacyPolicy = (sa: string) => ({
    result: 'fail',
    policy: 'legacy-token-secrets',
    rule: 'legacy-token-secret',
    message: `legacy token Secret for ServiceAccount ${NS}/${sa}: such tokens never expire; use kubectl create token or a projected token`,
  });
  const notListed = (sa: string) => ({
    state: 'never',
    reason: `ServiceAccount ${sa} does not list it in .secrets (the cleaner handles auto-generated tokens only)`,
  });
  const token = (name: string, sa: string, o: Record<string, unknown>) => ({
    namespace: NS,
    name,
    uid: l.uid('Secret', name),
    serviceAccount: { name: sa, exists: true, listsSecret: name === 'listed-token' },
    createdAt: l.created(name),
    ageDays: 0,
    lastUsed: null,
    invalidSince: null,
    unusedDays: 0,
    unusedSince: today,
    consumers: [],
    cleaner: notListed(sa),
    policy: legacyPolicy(sa),
    audit: null, // no --audit-log (24-usage scans with one)
    ...o,
  });
  const use = (kind: string, text: string, mountPath?: string) => ({
    kind,
    text,
    container: 'containers/app',
    ...(mountPath ? { mountPath } : {}),
  });
  const volumeUse = use(
    'volume',
    'volume legacy at /var/run/secrets/legacy in containers/app',
    '/var/run/secrets/legacy',
  );
  const projectedUse = use(
    'projected',
    'projected volume creds (key token) at /etc/creds in containers/app',
    '/etc/creds',
  );
  const envUse = use('env', 'env API_TOKEN (key token) in containers/app');
  const removed =
    'automount/automount: removed API token kube-api-access-* (1 mount), automount off: API access not needed';
  const auditWarnings = [
    'tokenguard: audit api-token-expiration would change: API token kube-api-access-* expirationSeconds 3607 -> 3600',
    'tokenguard: audit api-token-expiration would deny: API token kube-api-access-* expirationSeconds 3607 > 3600',
  ];
  const optIn =
    'annotates the pod template tokenguard.dev/api-access: "true" (it uses the API, so the automount policy keeps its tokens)';
  const workload = (
    name: string,
    o: {
      pods: number;
      sa: string;
      lose: number;
      changes: string[];
      warnings?: string[];
      tokens?: unknown[];
      plan?: unknown;
    },
  ) => ({
    workload: ref('Deployment', name),
    serviceAccounts: [o.sa],
    pods: o.pods,
    apiTokenPods: o.pods,
    wouldLoseApiTokenPods: o.lose,
    outcome: 'changed',
    outcomes: { denied: 0, changed: o.pods, warned: 0, passed: 0, error: 0 },
    variants: [
      {
        pods: o.pods,
        outcome: 'changed',
        examplePod: l.firstPod(name),
        denials: [],
        changes: o.changes,
        warnings: o.warnings ?? [],
      },
    ],
    otherVariantPods: 0,
    legacyTokens: o.tokens ?? [],
    plan: o.plan ?? null,
  });
  // The plugin's volume of the dry run is named from a seed: the same every run.
  const checkWarnings = (volume: string) => [
    `tokenguard: audit api-token-expiration would change: API token ${volume} expirationSeconds 3607 -> 3600`,
    `tokenguard: audit api-token-expiration would deny: API token ${volume} expirationSeconds 3607 > 3600`,
  ];
  const counts = {
    legacyTokens: 5,
    inUse: 2,
    safeToDelete: 1,
    findClient: 1,
    invalidated: 1,
    orphaned: 0,
    deleting: 0,
    scheduledForInvalidation: 1,
    serviceAccountsListingTokens: 1,
    workloads: 5,
    pods: 8,
    podsDenied: 0,
    podsChanged: 8,
    podsWarned: 0,
    podsPassed: 0,
    podsError: 0,
    apiTokenPods: 8,
    wouldLoseApiTokenPods: 7,
    wouldLoseApiTokenShare: 0.875,
    oldestUnused: { namespace: NS, name: 'listed-token', days: 200 },
  };
  const result = (
    kind: string,
    name: string,
    policy: string,
    rule: string,
    status: string,
    severity: string,
    message: string,
    properties: Record<string, string>,
  ) => ({
    namespace: NS,
    policy,
    rule,
    result: status,
    severity,
    message,
    resource: ref(kind, name),
    properties,
  });
  const changePods = (n: number) => `admission would change these pods now (${n} of ${n} pod${n === 1 ? '' : 's'})`;
  const messages = {
    env: 'used by Deployment e2e-scan/env-reader (1 pod): env API_TOKEN (key token) in containers/app: migrate first.',
    fresh: `no use recorded since ${today} (0 days), fewer than 30, and nothing in the cluster uses it: wait, or find the client that may hold it.`,
    legacy:
      'used by Deployment e2e-scan/api-client (2 pods): volume legacy at /var/run/secrets/legacy in containers/app; Deployment e2e-scan/projected-client (1 pod): projected volume creds (key token) at /etc/creds in containers/app: migrate first.',
    listed: `unused for 200 days (last used ${LAST_USED}), no consumer: safe to delete. The API server will invalidate it on or after ${invalidateOn} and delete it on or after ${deleteOn} (legacy-token cleaner).`,
    stale: `invalidated on ${INVALID_SINCE}: the API server refuses its token, and nothing in the cluster uses it; safe to delete. The cleaner will not delete it: ServiceAccount ci-bot does not list it in .secrets (the cleaner handles auto-generated tokens only).`,
    sa: 'lists legacy token Secret listed-token in .secrets: the API server counts it as auto-generated, and the cleaner invalidates such Secrets once unused for a period (deleting it also drops the entry: the token controller does it)',
  };
  return {
    schemaVersion: 1,
    scannedAt,
    cluster: { server, version: 'v1.34.4' },
    scope: { namespace: NS },
    settings: {
      cleanUpPeriodDays: 365,
      minUnusedDays: 30,
      tracking: { state: 'since', since: l.since, reason: null },
      auditLog: null,
    },
    policies: [
      { name: 'api-token-expiration', mode: 'Audit', file: 'policies/token-bounds.yaml' },
      { name: 'automount', mode: 'Enforce', file: 'policies/automount.yaml' },
      { name: 'legacy-token-secrets', mode: 'Enforce', file: 'policies/legacy-token-secrets.yaml' },
      { name: 'token-bounds', mode: 'Enforce', file: 'policies/token-bounds.yaml' },
    ],
    legacyTokens: [
      token('env-user-token', 'env-user', {
        consumers: [{ workload: ref('Deployment', 'env-reader'), pods: 1, template: true, uses: [envUse] }],
        verdict: 'migrate-first',
        message: messages.env,
        cleaner: notListed('env-user'),
      }),
      token('fresh-token', 'ci-bot', { verdict: 'find-client', message: messages.fresh }),
      token('legacy-user-token', 'legacy-user', {
        consumers: [
          { workload: ref('Deployment', 'api-client'), pods: 2, template: true, uses: [volumeUse] },
          { workload: ref('Deployment', 'projected-client'), pods: 1, template: true, uses: [projectedUse] },
        ],
        verdict: 'migrate-first',
        message: messages.legacy,
      }),
      token('listed-token', 'listed', {
        lastUsed: LAST_USED,
        unusedDays: 200,
        unusedSince: LAST_USED,
        verdict: 'safe-to-delete',
        message: messages.listed,
        cleaner: {
          state: 'scheduled',
          invalidateOn,
          deleteOn,
          reason: 'auto-generated, unused for a period and mounted by no pod',
        },
      }),
      token('stale-token', 'ci-bot', {
        invalidSince: INVALID_SINCE,
        verdict: 'invalidated',
        message: messages.stale,
        cleaner: {
          state: 'invalidated',
          invalidSince: INVALID_SINCE,
          reason:
            'not deleted by the cleaner while ServiceAccount ci-bot does not list it in .secrets (the cleaner handles auto-generated tokens only)',
        },
      }),
    ],
    serviceAccounts: [
      { namespace: NS, name: 'listed', secrets: [{ name: 'listed-token', tokenSecret: true }], message: messages.sa },
    ],
    workloads: [
      workload('api-client', {
        pods: 2,
        sa: 'default',
        lose: 2,
        changes: [removed],
        tokens: [{ secret: 'legacy-user-token', pods: 2, template: true, uses: [volumeUse] }],
        plan: {
          status: 'ready',
          serviceAccount: 'legacy-user',
          expirationSeconds: 3600,
          changes: [
            'runs as ServiceAccount legacy-user, the one the legacy token was for (was default)',
            "volume legacy: a projected ServiceAccount token (token, ca.crt, namespace; 3600 s, audience: the API server's) instead of legacy-user-token, still at /var/run/secrets/legacy in containers/app",
            optIn,
          ],
          manual: [],
          replaces: ['legacy-user-token'],
          check: { outcome: 'warned', denials: [], warnings: expect.arrayContaining([]) },
        },
      }),
      workload('env-reader', {
        pods: 1,
        sa: 'env-user',
        lose: 1,
        changes: [removed],
        tokens: [{ secret: 'env-user-token', pods: 1, template: true, uses: [envUse] }],
        plan: {
          status: 'manual',
          serviceAccount: 'env-user',
          expirationSeconds: 0,
          changes: [],
          manual: [
            'env-user-token is read through env API_TOKEN (key token) in containers/app: a token in an environment variable never rotates; have the application read a projected token file instead',
          ],
          replaces: [],
          check: null,
        },
      }),
      workload('long-token', {
        pods: 1,
        sa: 'default',
        lose: 0,
        changes: ['token-bounds/token-bounds: vault: expirationSeconds 172800 -> 86400'],
        warnings: auditWarnings,
      }),
      workload('projected-client', {
        pods: 1,
        sa: 'legacy-user',
        lose: 1,
        changes: [removed],
        tokens: [{ secret: 'legacy-user-token', pods: 1, template: true, uses: [projectedUse] }],
        plan: {
          status: 'ready',
          serviceAccount: 'legacy-user',
          expirationSeconds: 3600,
          changes: [
            "volume creds: a projected ServiceAccount token (sa-token; 3600 s, audience: the API server's) instead of legacy-user-token, still at /etc/creds in containers/app",
            optIn,
          ],
          manual: [],
          replaces: ['legacy-user-token'],
          check: { outcome: 'warned', denials: [], warnings: expect.arrayContaining([]) },
        },
      }),
      workload('web', { pods: 3, sa: 'default', lose: 3, changes: [removed] }),
    ],
    namespaces: [{ namespace: NS, ...counts }],
    summary: { namespaces: 1, ...counts, results: { pass: 1, fail: 13, warn: 2, error: 0 } },
    results: [
      {
        namespace: '',
        policy: 'tokenguard-scan',
        rule: 'namespace-summary',
        result: 'fail',
        severity: 'high',
        message:
          '5 legacy token Secrets (2 in use, 2 deletable); 8 pods in 5 workloads, 7 (87.5 %) carrying an API token they would lose',
        resource: { apiVersion: 'v1', kind: 'Namespace', namespace: '', name: NS },
        properties: {
          legacyTokens: '5',
          inUse: '2',
          deletable: '2',
          pods: '8',
          wouldLoseApiTokenPods: '7',
          oldestUnused: 'listed-token (200 days)',
        },
      },
      result(
        'Deployment',
        'api-client',
        'automount',
        'automount',
        'fail',
        'medium',
        `${changePods(2)}: ${removed.slice('automount/automount: '.length)}`,
        { pods: '2', matchingPods: '2' },
      ),
      result(
        'Deployment',
        'api-client',
        'tokenguard-scan',
        'legacy-token-consumer',
        'fail',
        'high',
        'uses legacy token Secret legacy-user-token (2 pods): volume legacy at /var/run/secrets/legacy in containers/app. Plan: ready, the patch replaces it.',
        { secret: 'legacy-user-token', pods: '2', template: 'true', plan: 'ready' },
      ),
      result(
        'Deployment',
        'env-reader',
        'automount',
        'automount',
        'fail',
        'medium',
        `${changePods(1)}: ${removed.slice('automount/automount: '.length)}`,
        { pods: '1', matchingPods: '1' },
      ),
      result(
        'Deployment',
        'env-reader',
        'tokenguard-scan',
        'legacy-token-consumer',
        'fail',
        'high',
        'uses legacy token Secret env-user-token (1 pod): env API_TOKEN (key token) in containers/app. Plan: manual.',
        { secret: 'env-user-token', pods: '1', template: 'true', plan: 'manual' },
      ),
      result(
        'Deployment',
        'long-token',
        'api-token-expiration',
        'api-token-expiration',
        'warn',
        'low',
        'admission would warn (1 of 1 pod): API token kube-api-access-* expirationSeconds 3607 -> 3600; API token kube-api-access-* expirationSeconds 3607 > 3600',
        { pods: '1', matchingPods: '1' },
      ),
      result(
        'Deployment',
        'long-token',
        'automount',
        'automount',
        'pass',
        'info',
        'passes (1 of 1 pod): API token allowed: pod annotation tokenguard.dev/api-access=true',
        { pods: '1', matchingPods: '1' },
      ),
      result(
        'Deployment',
        'long-token',
        'token-bounds',
        'token-bounds',
        'fail',
        'medium',
        `${changePods(1)}: vault: expirationSeconds 172800 -> 86400`,
        { pods: '1', matchingPods: '1' },
      ),
      result(
        'Deployment',
        'projected-client',
        'automount',
        'automount',
        'fail',
        'medium',
        `${changePods(1)}: ${removed.slice('automount/automount: '.length)}`,
        { pods: '1', matchingPods: '1' },
      ),
      result(
        'Deployment',
        'projected-client',
        'tokenguard-scan',
        'legacy-token-consumer',
        'fail',
        'high',
        'uses legacy token Secret legacy-user-token (1 pod): projected volume creds (key token) at /etc/creds in containers/app. Plan: ready, the patch replaces it.',
        { secret: 'legacy-user-token', pods: '1', template: 'true', plan: 'ready' },
      ),
      result(
        'Deployment',
        'web',
        'automount',
        'automount',
        'fail',
        'medium',
        `${changePods(3)}: ${removed.slice('automount/automount: '.length)}`,
        { pods: '3', matchingPods: '3' },
      ),
      result(
        'Secret',
        'env-user-token',
        'legacy-token-secrets',
        'legacy-token-secret',
        'fail',
        'high',
        `migrate-first: ${messages.env}`,
        { verdict: 'migrate-first', serviceAccount: 'env-user', unusedDays: '0', consumers: '1' },
      ),
      result(
        'Secret',
        'fresh-token',
        'legacy-token-secrets',
        'legacy-token-secret',
        'fail',
        'high',
        `find-client: ${messages.fresh}`,
        { verdict: 'find-client', serviceAccount: 'ci-bot', unusedDays: '0', consumers: '0' },
      ),
      result(
        'Secret',
        'legacy-user-token',
        'legacy-token-secrets',
        'legacy-token-secret',
        'fail',
        'high',
        `migrate-first: ${messages.legacy}`,
        { verdict: 'migrate-first', serviceAccount: 'legacy-user', unusedDays: '0', consumers: '2' },
      ),
      result(
        'Secret',
        'listed-token',
        'legacy-token-secrets',
        'legacy-token-secret',
        'fail',
        'medium',
        `safe-to-delete: ${messages.listed}`,
        {
          verdict: 'safe-to-delete',
          serviceAccount: 'listed',
          lastUsed: LAST_USED,
          unusedDays: '200',
          invalidateOn,
          deleteOn,
          consumers: '0',
        },
      ),
      result(
        'Secret',
        'stale-token',
        'legacy-token-secrets',
        'legacy-token-secret',
        'fail',
        'low',
        `invalidated: ${messages.stale}`,
        {
          verdict: 'invalidated',
          serviceAccount: 'ci-bot',
          invalidSince: INVALID_SINCE,
          unusedDays: '0',
          consumers: '0',
        },
      ),
      result('ServiceAccount', 'listed', 'tokenguard-scan', 'serviceaccount-secrets', 'warn', 'low', messages.sa, {
        secrets: 'listed-token',
      }),
    ],
    notes: [],
    // (checkWarnings: see the plan test)
    _checkWarnings: checkWarnings,
  };
}

/** The same report as text, line for line. */
function expectedText(r: ReturnType<typeof expectedReport>): string {
  const [env, fresh, legacy, listed, stale] = r.legacyTokens as unknown as { createdAt: string; message: string }[] as [
    { createdAt: string; message: string },
    { createdAt: string; message: string },
    { createdAt: string; message: string },
    { createdAt: string; message: string },
    { createdAt: string; message: string },
  ];
  const policy = (sa: string) =>
    `    policy: legacy-token-secrets/legacy-token-secret fail: legacy token Secret for ServiceAccount ${NS}/${sa}: such tokens never expire; use kubectl create token or a projected token`;
  const created = (t: { createdAt: string }) => `created ${t.createdAt.slice(0, 10)} (0 days ago)`;
  const w = (name: string) => r.workloads.find((x) => x.workload.name === name) as (typeof r.workloads)[number];
  const removed =
    '      change automount/automount: removed API token kube-api-access-* (1 mount), automount off: API access not needed';
  const optIn =
    '      - annotates the pod template tokenguard.dev/api-access: "true" (it uses the API, so the automount policy keeps its tokens)';
  return `${[
    `tokenguard scan of ${r.cluster.server} (Kubernetes v1.34.4), namespace ${NS}, at ${r.scannedAt.replace(/\.\d+Z$/, 'Z')}`,
    'policies: api-token-expiration (Audit), automount (Enforce), legacy-token-secrets (Enforce), token-bounds (Enforce)',
    `legacy-token clean-up period: 365 days; last-used tracking since ${r.settings.tracking.since}`,
    '',
    'Legacy token Secrets (5)',
    `  ${NS}/env-user-token: ServiceAccount env-user; ${created(env)}; last used never recorded`,
    `    MIGRATE FIRST: ${env.message}`,
    policy('env-user'),
    `  ${NS}/fresh-token: ServiceAccount ci-bot; ${created(fresh)}; last used never recorded`,
    `    FIND THE CLIENT: ${fresh.message}`,
    policy('ci-bot'),
    `  ${NS}/legacy-user-token: ServiceAccount legacy-user; ${created(legacy)}; last used never recorded`,
    `    MIGRATE FIRST: ${legacy.message}`,
    policy('legacy-user'),
    `  ${NS}/listed-token: ServiceAccount listed, listed in its .secrets; ${created(listed)}; last used ${LAST_USED}`,
    `    SAFE TO DELETE: ${listed.message}`,
    policy('listed'),
    `  ${NS}/stale-token: ServiceAccount ci-bot; ${created(stale)}; last used never recorded, invalid since ${INVALID_SINCE}`,
    `    INVALIDATED: ${stale.message}`,
    policy('ci-bot'),
    '',
    'ServiceAccounts that list legacy token Secrets (1)',
    `  ${NS}/listed: ${r.serviceAccounts[0]?.message}`,
    '',
    'Workloads: running pods judged as if created now, and users of legacy tokens (5 with findings, 0 passing)',
    `  Deployment ${NS}/api-client: 2 pods, ServiceAccount default; 2 with an API token, 2 would lose it`,
    `    CHANGED (2 pods, e.g. ${w('api-client').variants[0]?.examplePod}):`,
    removed,
    '    uses legacy token legacy-user-token (2 pods and its template): volume legacy at /var/run/secrets/legacy in containers/app',
    '    plan: ready (a token of ServiceAccount legacy-user for 3600 s)',
    '      - runs as ServiceAccount legacy-user, the one the legacy token was for (was default)',
    "      - volume legacy: a projected ServiceAccount token (token, ca.crt, namespace; 3600 s, audience: the API server's) instead of legacy-user-token, still at /var/run/secrets/legacy in containers/app",
    optIn,
    '      check (tokenguard test of the patched workload): warned',
    `  Deployment ${NS}/env-reader: 1 pod, ServiceAccount env-user; 1 with an API token, 1 would lose it`,
    `    CHANGED (1 pod, e.g. ${w('env-reader').variants[0]?.examplePod}):`,
    removed,
    '    uses legacy token env-user-token (1 pod and its template): env API_TOKEN (key token) in containers/app',
    '    plan: manual',
    '      ! env-user-token is read through env API_TOKEN (key token) in containers/app: a token in an environment variable never rotates; have the application read a projected token file instead',
    `  Deployment ${NS}/long-token: 1 pod, ServiceAccount default; 1 with an API token, 0 would lose it`,
    `    CHANGED (1 pod, e.g. ${w('long-token').variants[0]?.examplePod}):`,
    '      change token-bounds/token-bounds: vault: expirationSeconds 172800 -> 86400',
    '      warn tokenguard: audit api-token-expiration would change: API token kube-api-access-* expirationSeconds 3607 -> 3600',
    '      warn tokenguard: audit api-token-expiration would deny: API token kube-api-access-* expirationSeconds 3607 > 3600',
    `  Deployment ${NS}/projected-client: 1 pod, ServiceAccount legacy-user; 1 with an API token, 1 would lose it`,
    `    CHANGED (1 pod, e.g. ${w('projected-client').variants[0]?.examplePod}):`,
    removed,
    '    uses legacy token legacy-user-token (1 pod and its template): projected volume creds (key token) at /etc/creds in containers/app',
    '    plan: ready (a token of ServiceAccount legacy-user for 3600 s)',
    "      - volume creds: a projected ServiceAccount token (sa-token; 3600 s, audience: the API server's) instead of legacy-user-token, still at /etc/creds in containers/app",
    optIn,
    '      check (tokenguard test of the patched workload): warned',
    `  Deployment ${NS}/web: 3 pods, ServiceAccount default; 3 with an API token, 3 would lose it`,
    `    CHANGED (3 pods, e.g. ${w('web').variants[0]?.examplePod}):`,
    removed,
    '',
    'Summary',
    '  namespace  legacy  in use  deletable  find client  pods  API token  would lose  denied  changed',
    '  e2e-scan        5       2          2            1     8          8           7       0        8',
    '  (cluster)       5       2          2            1     8          8           7       0        8',
    `  oldest unused legacy token: ${NS}/listed-token, 200 days without use`,
    '  pods carrying an API token they would lose: 7 of 8 (87.5 %)',
    '  results: 13 fail, 2 warn, 0 error, 1 pass; 13 at or above --fail-on fail',
  ].join('\n')}\n`;
}

/** The PolicyReports the report gives: the namespace's results, then the cluster's. */
function expectedPolicyReports(r: ReturnType<typeof expectedReport>) {
  const seconds = Math.floor(Date.parse(r.scannedAt) / 1000);
  const item = (x: (typeof r.results)[number]) => ({
    source: 'tokenguard',
    policy: x.policy,
    rule: x.rule,
    category: 'ServiceAccount tokens',
    result: x.result,
    severity: x.severity,
    scored: true,
    message: x.message,
    resources: [
      {
        apiVersion: x.resource.apiVersion,
        kind: x.resource.kind,
        name: x.resource.name,
        ...(x.resource.namespace ? { namespace: x.resource.namespace } : {}),
        ...('uid' in x.resource ? { uid: x.resource.uid } : {}),
      },
    ],
    properties: x.properties,
    timestamp: { seconds, nanos: 0 },
  });
  const labels = { 'app.kubernetes.io/managed-by': 'tokenguard' };
  const [summaryLine, ...own] = r.results;
  const cluster = {
    source: 'tokenguard',
    policy: 'tokenguard-scan',
    rule: 'cluster-summary',
    category: 'ServiceAccount tokens',
    result: 'fail',
    severity: 'high',
    scored: true,
    message:
      '5 legacy token Secrets (2 in use, 2 deletable, 1 to be invalidated by the cleaner); 8 pods in 5 workloads, 7 (87.5 %) carrying an API token they would lose; oldest unused: e2e-scan/listed-token (200 days)',
    properties: {
      namespaces: '1',
      legacyTokens: '5',
      inUse: '2',
      pods: '8',
      wouldLoseApiTokenPods: '7',
      wouldLoseApiTokenShare: '0.875',
    },
    timestamp: { seconds, nanos: 0 },
  };
  return [
    {
      apiVersion: 'wgpolicyk8s.io/v1alpha2',
      kind: 'PolicyReport',
      metadata: { name: 'tokenguard-scan', namespace: NS, labels },
      summary: { pass: 1, fail: 13, warn: 2, error: 0, skip: 0 },
      results: own.map(item),
    },
    {
      apiVersion: 'wgpolicyk8s.io/v1alpha2',
      kind: 'ClusterPolicyReport',
      metadata: { name: 'tokenguard-scan', labels },
      summary: { pass: 0, fail: 2, warn: 0, error: 0, skip: 0 },
      results: [item(summaryLine as (typeof r.results)[number]), cluster],
    },
  ];
}

let work = '';
let proxy: RecordingProxy;
let expected: ReturnType<typeof expectedReport>;
/** Every byte any scan printed. */
const printed: string[] = [];

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'tg-e2e-scan-'));
  // Stored as written: tokenguard audits only while the mix is created.
  await setPolicies(policyFiles('test/fixtures/policies/audit'));
  await ensureNamespace(NS);
  await apply(...MIX);
  await waitFor('the mix to have its pods and its tokens', 90_000, async () => {
    for (const [app, n] of Object.entries(PODS)) if ((await pods(app)).length !== n) return undefined;
    const secrets = await kubectlJson<{ items: { data?: Record<string, string> }[] }>([
      'get',
      'secrets',
      '-n',
      NS,
      '--field-selector',
      'type=kubernetes.io/service-account-token',
    ]);
    return secrets.items.length === 5 && secrets.items.every((s) => s.data?.token) ? true : undefined;
  });
  proxy = await startRecordingProxy(loadState(), work);
}, 180_000);

afterAll(async () => {
  await proxy?.close();
  await kubectl(['delete', '-f', CRDS, '--ignore-not-found', '--wait=false']);
  await kubectl(['delete', 'clusterrolebinding', 'tokenguard-scan-reports-e2e', '--ignore-not-found']);
});

async function recorded(args: readonly string[]): Promise<Run> {
  const r = await scan(args, proxy.kubeconfig);
  printed.push(r.stdout, r.stderr);
  return r;
}

describe('scenario 23: tokenguard scan of the real cluster', () => {
  test('JSON: the exact report', async () => {
    const r = await recorded(['--output', 'json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as {
      scannedAt: string;
      cluster: { server: string };
      workloads: { plan: { check: { warnings: string[] } | null } | null }[];
    };
    expect(Math.abs(Date.parse(report.scannedAt) - Date.now())).toBeLessThan(120_000);
    expected = expectedReport(
      await live(),
      report.scannedAt,
      new URL(readFileSync(proxy.kubeconfig, 'utf8').match(/server: "([^"]+)"/)?.[1] ?? '').host,
    );
    const { _checkWarnings: checkWarnings, ...want } = expected;
    // The dry run of a plan names the plugin's volume from a seed, so its warnings are the same every run.
    for (const w of report.workloads)
      if (w.plan?.check)
        expect(w.plan.check.warnings).toEqual(
          checkWarnings(w.plan.check.warnings[0]?.match(/kube-api-access-\w{5}/)?.[0] ?? '?'),
        );
    expect(report).toEqual(want);
  });

  test('text: the same report, line for line', async () => {
    const r = await recorded(['--output', 'text']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(expectedText({ ...expected, scannedAt: r.stdout.match(/, at (\S+)\n/)?.[1] ?? '' }));
  });

  test('PolicyReport: the exact reports', async () => {
    const r = await recorded(['--output', 'policyreport']);
    expect(r.code).toBe(1);
    const docs = parseAllDocuments(r.stdout).map((d) => d.toJS());
    const scannedAt = new Date(
      ((docs[0] as { results: { timestamp: { seconds: number } }[] }).results[0]?.timestamp.seconds ?? 0) * 1000,
    ).toISOString();
    expect(docs).toEqual(expectedPolicyReports({ ...expected, scannedAt }));
  });

  test('what the scan sent: list requests only; Secrets only as metadata, and the API server sent no data', async () => {
    const reqs = proxy.requests;
    expect(reqs.length).toBeGreaterThan(40);
    expect(reqs.filter((q) => q.status !== 200)).toEqual([]);
    expect([...new Set(reqs.map((q) => q.method))]).toEqual(['GET']);
    const secrets = reqs.filter((q) => /\/secrets/.test(q.path));
    expect(secrets.length).toBe(3);
    const tokens = (
      await kubectlJson<{ items: { data: Record<string, string> }[] }>([
        'get',
        'secrets',
        '-n',
        NS,
        '--field-selector',
        'type=kubernetes.io/service-account-token',
      ])
    ).items.map((s) => Buffer.from(s.data.token as string, 'base64').toString('utf8'));
    for (const q of secrets) {
      expect({ path: q.path, accept: q.accept, fieldSelector: q.query.fieldSelector }).toEqual({
        path: `/api/v1/namespaces/${NS}/secrets`,
        accept: 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1',
        fieldSelector: 'type=kubernetes.io/service-account-token',
      });
      const list = JSON.parse(q.body ?? '{}') as { kind: string; items: Record<string, unknown>[] };
      expect(list.kind).toBe('PartialObjectMetadataList');
      expect(list.items.map((i) => Object.keys(i).sort())).toEqual(Array(5).fill(['apiVersion', 'kind', 'metadata']));
      for (const t of tokens) expect(q.body?.includes(t)).toBe(false);
    }
    const singles = reqs.filter((q) => !('limit' in q.query)).map((q) => q.path);
    expect([...new Set(singles)]).toEqual([
      '/version',
      '/api/v1/namespaces/kube-system/configmaps/kube-apiserver-legacy-service-account-token-tracking',
    ]);
  });

  test('--apply without the PolicyReport CRDs: a clear error, exit 2', async () => {
    const r = await recorded(['--apply', '--output', 'json']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(
      /^tokenguard scan: the PolicyReport CRDs \(policyreports and clusterpolicyreports of wgpolicyk8s.io\/v1alpha2\) are not installed in this cluster: /,
    );
  });

  test('--apply with the CRDs installed: the API server accepts the reports, and keeps every field', async () => {
    await kubectlOk(['apply', '-f', CRDS]);
    await kubectlOk(['wait', '--for=condition=Established', '--timeout=60s', '-f', CRDS]);
    await waitFor('wgpolicyk8s.io/v1alpha2 to be served', 30_000, async () =>
      (await kubectl(['get', 'policyreports', '-n', NS])).code === 0 ? true : undefined,
    );
    const r = await recorded(['--apply', '--output', 'policyreport']);
    expect(r.stderr).toBe('tokenguard scan: applied 2 report(s) (wgpolicyk8s.io/v1alpha2)\n');
    expect(r.code).toBe(1);
    const printedDocs = parseAllDocuments(r.stdout).map((d) => d.toJS() as Record<string, unknown>);
    const stored = [
      await kubectlJson<Record<string, unknown>>(['get', 'policyreport', 'tokenguard-scan', '-n', NS]),
      await kubectlJson<Record<string, unknown>>(['get', 'clusterpolicyreport', 'tokenguard-scan']),
    ];
    const strip = (o: Record<string, unknown>) => {
      const { uid, resourceVersion, creationTimestamp, generation, managedFields, ...md } = o.metadata as Record<
        string,
        unknown
      >;
      void [uid, resourceVersion, creationTimestamp, generation, managedFields];
      return { ...o, metadata: md };
    };
    expect(stored.map(strip)).toEqual(printedDocs);
    expect((await kubectlOk(['get', 'policyreport', '-n', NS])).stdout).toMatch(/tokenguard-scan\s+1\s+13\s+2\s+0\s+0/);
  });
});

describe('scenario 23: as the ServiceAccount of deploy/scan', () => {
  let kubeconfig = '';
  beforeAll(async () => {
    await ensureNamespace('tokenguard-system');
    await kubectlOk(['apply', '-k', join(REPO_ROOT, 'deploy/scan')]);
    const token = (
      await kubectlOk(['create', 'token', 'tokenguard-scan', '-n', 'tokenguard-system', '--duration=20m'])
    ).stdout.trim();
    const state = loadState();
    kubeconfig = join(work, 'scan-sa.kubeconfig');
    writeFileSync(
      kubeconfig,
      stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'e2e', cluster: { server: state.apiserverUrl, 'certificate-authority': state.caFile } }],
        users: [{ name: 'scan', user: { token } }],
        contexts: [{ name: 'scan', context: { cluster: 'e2e', user: 'scan' } }],
        'current-context': 'scan',
      }),
      { mode: 0o600 },
    );
  });

  test('its read-only roles are enough: the same report, for one namespace and for the whole cluster', async () => {
    const r = await scan(['--output', 'json'], kubeconfig);
    printed.push(r.stdout, r.stderr);
    expect([r.code, r.stderr]).toEqual([1, '']);
    const { scannedAt, cluster, ...rest } = JSON.parse(r.stdout);
    const { scannedAt: s2, cluster: c2, _checkWarnings, ...want } = expected;
    void [scannedAt, cluster, s2, c2, _checkWarnings];
    expect(rest).toMatchObject({ ...want, workloads: expect.any(Array), results: expect.any(Array) });
    const all = await cli([
      'scan',
      '--kubeconfig',
      kubeconfig,
      '--policies',
      join(REPO_ROOT, 'policies'),
      '--output',
      'json',
    ]);
    printed.push(all.stdout, all.stderr);
    expect([all.code, all.stderr]).toEqual([1, '']);
    expect((JSON.parse(all.stdout) as { notes: string[]; summary: { namespaces: number } }).notes).toEqual([]);
  });

  test('--apply needs the reports role, and says so', async () => {
    const refused = await scan(['--apply', '--output', 'json'], kubeconfig);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(
      /^tokenguard scan: cannot write (PolicyReport|ClusterPolicyReport) .*HTTP 403 Forbidden: .* \(grant the ClusterRole tokenguard-scan-reports of deploy\/scan\)\n$/,
    );
    await kubectlOk([
      'create',
      'clusterrolebinding',
      'tokenguard-scan-reports-e2e',
      '--clusterrole',
      'tokenguard-scan-reports',
      '--serviceaccount',
      'tokenguard-system:tokenguard-scan',
    ]);
    const applied = await waitFor('the reports role to take effect', 30_000, async () => {
      const r = await scan(['--apply', '--output', 'json'], kubeconfig);
      return r.code === 1 ? r : undefined;
    });
    expect(applied.stderr).toBe('tokenguard scan: applied 2 report(s) (wgpolicyk8s.io/v1alpha2)\n');
  });
});

describe('scenario 23: the plan, applied', () => {
  let dir = '';

  beforeAll(async () => {
    dir = join(work, 'plan');
    const r = await recorded(['--plan', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^tokenguard scan: wrote the plan to .* \(2 workload\(s\) patched, \d+ file\(s\)\)\n$/);
  });

  test('tokenguard test passes the patched workloads with the same policies', async () => {
    const r = await cli([
      'test',
      '--policies',
      join(REPO_ROOT, 'policies'),
      '--facts',
      join(dir, 'facts.yaml'),
      '--bindings-complete',
      '--output',
      'json',
      join(dir, 'workloads'),
    ]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { objects: { name: string; outcome: string }[] };
    expect(out.objects.map((o) => [o.name, o.outcome])).toEqual([
      ['api-client', 'warned'],
      ['projected-client', 'warned'],
    ]);
  });

  test('kubectl patch (JSON Patch) and kubectl apply -k (the kustomize patch) under the shipped policies, enforced: the new pods are admitted', async () => {
    await setPolicies(policyFiles('policies'));
    await kubectlOk([
      'patch',
      'deployment',
      'api-client',
      '-n',
      NS,
      '--type=json',
      '--patch-file',
      join(dir, 'json-patch', NS, 'deployment-api-client.json'),
    ]);
    // kustomize: the live workload as its source, and the plan's patch on it.
    const base = join(work, 'kustomize');
    mkdirSync(base, { recursive: true });
    const liveObject = await kubectlJson<Record<string, unknown>>(['get', 'deployment', 'projected-client', '-n', NS]);
    const { status, ...rest } = liveObject;
    void status;
    const md = rest.metadata as Record<string, unknown>;
    const source = { ...rest, metadata: { name: md.name, namespace: md.namespace } };
    writeFileSync(join(base, 'projected-client.yaml'), stringify(source));
    writeFileSync(
      join(base, 'patch.yaml'),
      readFileSync(join(dir, 'kustomize', NS, 'deployment-projected-client.yaml'), 'utf8'),
    );
    writeFileSync(
      join(base, 'kustomization.yaml'),
      'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [projected-client.yaml]\npatches:\n  - path: patch.yaml\n',
    );
    await kubectlOk(['apply', '-k', base]);

    for (const [app, n, mountPath] of [
      ['api-client', 2, '/var/run/secrets/legacy'],
      ['projected-client', 1, '/etc/creds'],
    ] as const) {
      const fresh = await waitFor(`new pods of ${app}`, 90_000, async () => {
        const list = await pods(app);
        return list.length === n &&
          list.every((p) => p.spec.serviceAccountName === 'legacy-user' && !p.metadata?.deletionTimestamp)
          ? list
          : undefined;
      });
      for (const p of fresh) {
        const volume = (p.spec.volumes ?? []).find((v) =>
          (v.projected?.sources ?? []).some(
            (s) => s.serviceAccountToken?.expirationSeconds === 3600 && s.serviceAccountToken.audience === undefined,
          ),
        );
        expect(volume).toBeDefined();
        expect(p.spec.containers[0]?.volumeMounts?.find((m) => m.name === volume?.name)?.mountPath).toBe(mountPath);
        expect(JSON.stringify(p.spec)).not.toContain('legacy-user-token');
        expect(p.metadata?.annotations?.['tokenguard.dev/api-access']).toBe('true');
      }
    }
    const events = await kubectlJson<{ items: { reason: string; message: string }[] }>([
      'get',
      'events',
      '-n',
      NS,
      '--field-selector',
      'reason=FailedCreate',
    ]);
    expect(events.items.map((e) => e.message)).toEqual([]);
  });

  test('the scan then finds no consumer left, and the delete lines run', async () => {
    const r = await recorded(['--output', 'json', '--fail-on', 'never']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as { legacyTokens: { name: string; verdict: string; consumers: unknown[] }[] };
    expect(report.legacyTokens.find((t) => t.name === 'legacy-user-token')).toMatchObject({
      verdict: 'find-client',
      consumers: [],
    });
    const script = readFileSync(join(dir, 'delete-secrets.sh'), 'utf8');
    expect(script).toContain('# kubectl delete secret legacy-user-token -n e2e-scan');
    const run = await new Promise<Run>((resolve) =>
      execFile(
        'sh',
        [join(dir, 'delete-secrets.sh')],
        { env: { PATH: process.env.PATH, KUBECONFIG: loadState().kubeconfig } },
        (err, stdout, stderr) => resolve({ code: err ? 1 : 0, stdout, stderr }),
      ),
    );
    expect([run.code, run.stderr]).toEqual([0, '']);
    const left = await kubectlJson<{ items: K8sObject[] }>([
      'get',
      'secrets',
      '-n',
      NS,
      '--field-selector',
      'type=kubernetes.io/service-account-token',
    ]);
    expect(left.items.map((s) => s.metadata?.name).sort()).toEqual([
      'env-user-token',
      'fresh-token',
      'legacy-user-token',
    ]);
    // The token controller drops a deleted token Secret from its ServiceAccount's .secrets.
    await waitFor('listed-token to leave ServiceAccount listed', 30_000, async () =>
      ((await kubectlJson<{ secrets?: unknown[] }>(['get', 'serviceaccount', 'listed', '-n', NS])).secrets ?? [])
        .length === 0
        ? true
        : undefined,
    );
  });

  test('the canary of the Secrets appears in nothing the scans printed or wrote', () => {
    expect(printed.length).toBeGreaterThan(10);
    const files = readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => readFileSync(join(e.parentPath, e.name), 'utf8'));
    for (const text of [...printed, ...files]) expect(text.includes(CANARY)).toBe(false);
    // ... and it was there to be found: kubectl apply copied it into each Secret's annotation.
    expect(proxy.requests.some((q) => q.body?.includes(CANARY))).toBe(true);
  });
});
