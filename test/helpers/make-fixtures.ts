/**
 * Writes the inputs of the golden admission fixtures (review.json, facts.yaml, case.json) under
 * test/fixtures/admission/. Run `npx tsx test/helpers/make-fixtures.ts` (`FIXTURE=name` for one), then
 * `UPDATE_GOLDEN=1 npm run test:unit -- test/golden` to write the expected responses, and
 * review the diff. Fixtures are data: edit them by hand freely; this script only seeds them.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { JsonObject } from '../../src/json.js';
import { apiTokenVolume, pod, review } from './pods.js';

interface Case {
  name: string;
  description: string;
  policies?: string;
  review: unknown;
  facts?: JsonObject[];
  bindingsComplete?: boolean;
}

const sa = (ns: string, name: string, extra: JsonObject = {}): JsonObject => ({
  apiVersion: 'v1',
  kind: 'ServiceAccount',
  metadata: { name, namespace: ns, ...extra },
});
const ns = (name: string, labels: Record<string, string>): JsonObject => ({
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: { name, labels: { 'kubernetes.io/metadata.name': name, ...labels } },
});
const secret = (o: { type?: string; sa?: string; ns?: string; name?: string; data?: boolean }): JsonObject => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: {
    name: o.name ?? 'ci-token',
    namespace: o.ns ?? 'team-a',
    ...(o.sa ? { annotations: { 'kubernetes.io/service-account.name': o.sa } } : {}),
  },
  ...(o.type ? { type: o.type } : {}),
  ...(o.data ? { data: { token: 'Q0FOQVJZLXRva2VuLWRhdGE=' } } : {}),
});
const tokenVolume = (
  name: string,
  audience: string | undefined,
  exp: number | undefined,
  path = 'token',
): JsonObject => ({
  name,
  projected: {
    defaultMode: 420,
    sources: [
      { serviceAccountToken: { ...(audience ? { audience } : {}), ...(exp ? { expirationSeconds: exp } : {}), path } },
    ],
  },
});
const withMount = (p: JsonObject, container: number, mount: JsonObject, field = 'containers'): JsonObject => {
  const spec = p.spec as JsonObject;
  const c = (spec[field] as JsonObject[])[container] as JsonObject;
  (c.volumeMounts as JsonObject[]).push(mount);
  return p;
};
const deploymentPod = (extra: Parameters<typeof pod>[0] = {}) =>
  pod({
    generateName: 'web-7d4b9c8f5-',
    namespace: null,
    labels: { app: 'web', 'pod-template-hash': '7d4b9c8f5' },
    ...extra,
  });
const rsReview = (object: JsonObject, namespace = 'team-a') => review(object, { namespace });

const tokenRequest = (o: { exp?: number; audiences?: string[]; pod?: boolean }): JsonObject => ({
  kind: 'TokenRequest',
  apiVersion: 'authentication.k8s.io/v1',
  metadata: { name: 'builder', namespace: 'team-a', creationTimestamp: null },
  spec: {
    audiences: o.audiences ?? [],
    expirationSeconds: o.exp ?? 3600,
    ...(o.pod ? { boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'web-1', uid: '3f1c' } } : {}),
  },
  status: { token: '', expirationTimestamp: null },
});
const trReview = (
  object: JsonObject,
  user = { username: 'alice@example.com', groups: ['developers', 'system:authenticated'] },
) => review(object, { kind: 'TokenRequest', subResource: 'token', name: 'builder', user });
const kubelet = { username: 'system:node:node-1', groups: ['system:nodes', 'system:authenticated'] };

/** A legacy ServiceAccount JWT (claims of docs/tokens.md "Token claims"; the signature is not checked by the scanner). */
const b64url = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
const LEGACY_JWT = [
  b64url({ alg: 'RS256', kid: 'k1' }),
  b64url({
    iss: 'kubernetes/serviceaccount',
    'kubernetes.io/serviceaccount/namespace': 'ci',
    'kubernetes.io/serviceaccount/secret.name': 'deployer-token-x1',
    'kubernetes.io/serviceaccount/service-account.name': 'deployer',
    'kubernetes.io/serviceaccount/service-account.uid': '5b1c6d2e-0000-4000-8000-000000000001',
    sub: 'system:serviceaccount:ci:deployer',
  }),
  Buffer.from('CANARY-signature-bytes').toString('base64url'),
].join('.');
const kubeconfig = `apiVersion: v1\nkind: Config\nusers:\n- name: deployer\n  user:\n    token: ${LEGACY_JWT}\n`;
const opaqueWith = (data: Record<string, string>, name = 'ci-kubeconfig'): JsonObject => ({
  apiVersion: 'v1',
  kind: 'Secret',
  type: 'Opaque',
  metadata: { name, namespace: 'team-a' },
  data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
});

const cases: Case[] = [
  {
    name: 'secret-embedded-legacy-token-warned',
    description:
      'An Opaque Secret whose kubeconfig carries a legacy token: the shipped policy warns (embeddedTokens defaults to Warn); the token never appears in the answer.',
    review: review(opaqueWith({ config: kubeconfig, 'other.txt': 'nothing here' }), { name: 'ci-kubeconfig' }),
  },
  {
    name: 'secret-embedded-legacy-token-denied',
    description:
      'Strict policy (embeddedTokens: Deny): the same Secret is refused, naming the key and the subject only.',
    policies: 'strict',
    review: review(opaqueWith({ config: kubeconfig }), { name: 'ci-kubeconfig' }),
  },
  {
    name: 'secret-embedded-wrapped-legacy-token-denied',
    description:
      'Strict policy: a legacy token run through `base64` (76-column lines, CRLF) and stored as a Secret value is found and refused.',
    policies: 'strict',
    review: review(
      opaqueWith(
        {
          'token.b64': `${(
            Buffer.from(LEGACY_JWT)
              .toString('base64')
              .match(/.{1,76}/g) ?? []
          ).join('\r\n')}\r\n`,
        },
        'ci-wrapped',
      ),
      { name: 'ci-wrapped' },
    ),
  },
  {
    name: 'secret-embedded-legacy-token-update-denied',
    description: 'Strict policy: pasting a legacy token into an existing Opaque Secret by UPDATE is refused too.',
    policies: 'strict',
    review: review(opaqueWith({ token: LEGACY_JWT }), {
      operation: 'UPDATE',
      name: 'ci-kubeconfig',
      oldObject: opaqueWith({ token: 'old' }),
    }),
  },
  {
    name: 'secret-token-type-update-with-token-allowed',
    description:
      'Strict policy: the token controller filling in a token Secret (UPDATE, real legacy JWT in data) is never blocked.',
    policies: 'strict',
    review: review(
      {
        ...secret({ type: 'kubernetes.io/service-account-token', sa: 'deployer', ns: 'ci' }),
        data: { token: Buffer.from(LEGACY_JWT).toString('base64') },
      },
      {
        operation: 'UPDATE',
        namespace: 'ci',
        name: 'ci-token',
        oldObject: secret({ type: 'kubernetes.io/service-account-token', sa: 'deployer', ns: 'ci' }),
      },
    ),
  },
  {
    name: 'tokenrequest-over-max-denied',
    description: 'kubectl create token --duration=48h: over the 1 h maximum, denied (onViolation Deny).',
    policies: 'token-requests',
    review: trReview(tokenRequest({ exp: 172800 })),
  },
  {
    name: 'tokenrequest-over-max-shortened',
    description: 'The same request under onViolation Mutate: shortened to 3600 s by the mutating side.',
    policies: 'token-requests-shorten',
    review: trReview(tokenRequest({ exp: 172800 })),
  },
  {
    name: 'tokenrequest-within-bounds-allowed',
    description: 'A 10-minute token for vault: allowed.',
    policies: 'token-requests',
    review: trReview(tokenRequest({ exp: 600, audiences: ['vault'] })),
  },
  {
    name: 'tokenrequest-audience-denied',
    description: 'A token for an audience the policy does not allow: denied, whatever the mode of violation.',
    policies: 'token-requests-shorten',
    review: trReview(tokenRequest({ exp: 600, audiences: ['https://evil.example'] })),
  },
  {
    name: 'tokenrequest-kubelet-pod-bound-exempt',
    description: 'The kubelet asking for a pod-bound token (3607 s, its projected volume) is always let through.',
    policies: 'token-requests',
    review: trReview(tokenRequest({ exp: 3607, pod: true }), kubelet),
  },
  {
    name: 'tokenrequest-node-unbound-judged',
    description: 'A node identity asking for a token bound to nothing is not the kubelet projecting a volume: judged.',
    policies: 'token-requests',
    review: trReview(tokenRequest({ exp: 86400 }), kubelet),
  },
  {
    name: 'tokenrequest-exempt-user-allowed',
    description: 'A CI identity listed in exemptUsers may ask for a long token.',
    policies: 'token-requests',
    review: trReview(tokenRequest({ exp: 86400 }), {
      username: 'system:serviceaccount:ci:deployer',
      groups: ['system:serviceaccounts'],
    }),
  },
  {
    name: 'pod-deployment-default-sa-kept-bindings-unknown',
    description:
      'Shipped policies, no cluster facts: a Deployment pod (generateName, no namespace in the object) keeps its token; the audit-mode API token policy warns.',
    review: rsReview(deploymentPod()),
  },
  {
    name: 'pod-deployment-unbound-sa-token-removed',
    description:
      'Shipped policies with complete facts: the default ServiceAccount is bound by nothing, so the token volume and mounts go and automount is switched off.',
    review: rsReview(deploymentPod()),
    facts: [sa('team-a', 'default')],
    bindingsComplete: true,
  },
  {
    name: 'pod-rolebinding-bound-sa-kept',
    description: 'Shipped policies: a RoleBinding names the ServiceAccount, so the pod keeps its token.',
    review: rsReview(deploymentPod({ serviceAccount: 'operator' })),
    facts: [
      sa('team-a', 'operator'),
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: 'operator-edit', namespace: 'team-a' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' },
        subjects: [{ kind: 'ServiceAccount', name: 'operator' }],
      },
    ],
    bindingsComplete: true,
  },
  {
    name: 'pod-group-binding-kept',
    description:
      'Shipped policies: a ClusterRoleBinding to the group system:serviceaccounts:team-a counts as a binding of every ServiceAccount there.',
    review: rsReview(deploymentPod()),
    facts: [
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name: 'team-a-view' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
        subjects: [{ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: 'system:serviceaccounts:team-a' }],
      },
    ],
    bindingsComplete: true,
  },
  {
    name: 'pod-init-and-sidecar-token-removed',
    description:
      'Strict policy: init containers and a native sidecar (init container with restartPolicy Always) lose the token mount too.',
    policies: 'strict',
    review: (() => {
      const p = deploymentPod({ initContainers: ['migrate', 'proxy'], containers: ['app', 'metrics'] });
      (((p.spec as JsonObject).initContainers as JsonObject[])[1] as JsonObject).restartPolicy = 'Always';
      return rsReview(p);
    })(),
  },
  {
    name: 'pod-opt-in-annotation-kept',
    description:
      'Strict policy: the pod annotation tokenguard.dev/api-access=true keeps the token; its expiration is bounded to 3600.',
    policies: 'strict',
    review: rsReview(deploymentPod({ annotations: { 'tokenguard.dev/api-access': 'true' } })),
  },
  {
    name: 'pod-opt-in-sa-annotation-kept',
    description: 'Strict policy: the ServiceAccount carries the opt-in annotation (from facts).',
    policies: 'strict',
    review: rsReview(deploymentPod({ serviceAccount: 'controller' })),
    facts: [sa('team-a', 'controller', { annotations: { 'tokenguard.dev/api-access': 'true' } })],
  },
  {
    name: 'pod-opt-in-list-kept',
    description: 'Strict policy: monitoring/prometheus is listed as needing the API.',
    policies: 'strict',
    review: review(pod({ name: 'prometheus-0', namespace: 'monitoring', serviceAccount: 'prometheus' }), {
      namespace: 'monitoring',
      name: 'prometheus-0',
    }),
  },
  {
    name: 'pod-opt-in-annotation-false-removed',
    description: 'Strict policy: an annotation value other than "true" does not opt in.',
    policies: 'strict',
    review: rsReview(deploymentPod({ annotations: { 'tokenguard.dev/api-access': 'yes' } })),
  },
  {
    name: 'pod-explicit-automount-true-removed',
    description:
      'Strict policy: automountServiceAccountToken: true on the pod is not an opt-in; the token goes and the field becomes false.',
    policies: 'strict',
    review: rsReview(deploymentPod({ automount: true })),
  },
  {
    name: 'pod-no-token-untouched',
    description: 'Strict policy: the ServiceAccount disabled automount, so the plugin mounted nothing: no change.',
    policies: 'strict',
    review: rsReview(deploymentPod({ plugin: false })),
  },
  {
    name: 'pod-user-volume-with-api-prefix-kept',
    description:
      "Strict policy: an emptyDir that merely starts with kube-api-access- is the user's, not the API token, and stays.",
    policies: 'strict',
    review: rsReview(
      withMount(deploymentPod({ extraVolumes: [{ name: 'kube-api-access-cache', emptyDir: {} }] }), 0, {
        name: 'kube-api-access-cache',
        mountPath: '/cache',
      }),
    ),
  },
  {
    name: 'pod-excluded-namespace-untouched',
    description: 'Strict policy excludes kube-system: nothing changes.',
    policies: 'strict',
    review: review(pod({ name: 'coredns-abc', namespace: 'kube-system', serviceAccount: 'coredns' }), {
      namespace: 'kube-system',
      name: 'coredns-abc',
    }),
  },
  {
    name: 'pod-namespace-selector-matched',
    description: 'Selector policy: namespace labelled tier=apps (facts) and pod labelled app: token removed.',
    policies: 'selector',
    review: rsReview(deploymentPod()),
    facts: [ns('team-a', { tier: 'apps' })],
  },
  {
    name: 'pod-namespace-selector-not-matched',
    description: 'Selector policy: namespace labelled tier=data does not match: no change.',
    policies: 'selector',
    review: rsReview(deploymentPod()),
    facts: [ns('team-a', { tier: 'data' })],
  },
  {
    name: 'pod-namespace-labels-unknown-denied',
    description:
      'Selector policy without namespace facts: the selector cannot be evaluated; the validating side fails closed.',
    policies: 'selector',
    review: rsReview(deploymentPod()),
  },
  {
    name: 'pod-token-clamped',
    description:
      'Strict policy: a user projected vault token of 7 days is clamped to 7200 s; the API token is removed.',
    policies: 'strict',
    review: rsReview(
      withMount(deploymentPod({ extraVolumes: [tokenVolume('vault', 'vault', 604800)] }), 0, {
        name: 'vault',
        mountPath: '/vault',
        readOnly: true,
      }),
    ),
  },
  {
    name: 'pod-token-too-short-clamped',
    description: 'Composed policies: a 600 s token is raised to the intersected minimum of 1200 s.',
    policies: 'composed',
    review: rsReview(
      withMount(deploymentPod({ extraVolumes: [tokenVolume('sts', 'sts.amazonaws.com', 600)] }), 0, {
        name: 'sts',
        mountPath: '/sts',
        readOnly: true,
      }),
    ),
  },
  {
    name: 'pod-token-too-long-denied',
    description: 'Deny-bounds policy: a 2-hour token is not clamped; mutate warns, validate denies.',
    policies: 'deny-bounds',
    review: rsReview(
      withMount(deploymentPod({ extraVolumes: [tokenVolume('vault', 'vault', 7200)] }), 0, {
        name: 'vault',
        mountPath: '/vault',
        readOnly: true,
      }),
    ),
  },
  {
    name: 'pod-token-default-expiration-allowed',
    description: 'Deny-bounds policy: a token without expirationSeconds defaults to 3600, within bounds.',
    policies: 'deny-bounds',
    review: rsReview(
      withMount(deploymentPod({ extraVolumes: [tokenVolume('vault', 'vault', undefined)] }), 0, {
        name: 'vault',
        mountPath: '/vault',
        readOnly: true,
      }),
    ),
  },
  {
    name: 'pod-token-audience-denied',
    description:
      'Strict policy: a token for audience "evil" is not allowed; it cannot be fixed by mutation, so validate denies.',
    policies: 'strict',
    review: rsReview(
      withMount(
        deploymentPod({
          annotations: { 'tokenguard.dev/api-access': 'true' },
          extraVolumes: [tokenVolume('exfil', 'evil', 3600)],
        }),
        0,
        { name: 'exfil', mountPath: '/exfil', readOnly: true },
      ),
    ),
  },
  {
    name: 'pod-inject-all-containers',
    description: 'Inject policy: the vault token goes into every init and regular container (not ephemeral ones).',
    policies: 'inject',
    review: rsReview(deploymentPod({ initContainers: ['init'], containers: ['app', 'sidecar'] })),
  },
  {
    name: 'pod-inject-already-present-unchanged',
    description: 'Inject policy on its own output (reinvocation): nothing changes.',
    policies: 'inject',
    review: rsReview(
      withMount(deploymentPod({ extraVolumes: [tokenVolume('vault-token', 'vault', 3600)] }), 0, {
        name: 'vault-token',
        mountPath: '/var/run/secrets/tokens/vault',
        readOnly: true,
      }),
    ),
  },
  {
    name: 'pod-inject-sidecar-added-later',
    description: 'Inject policy, reinvoked after another webhook added a sidecar: only the sidecar gets the mount.',
    policies: 'inject',
    review: rsReview(
      withMount(
        deploymentPod({ containers: ['app', 'mesh-proxy'], extraVolumes: [tokenVolume('vault-token', 'vault', 3600)] }),
        0,
        { name: 'vault-token', mountPath: '/var/run/secrets/tokens/vault', readOnly: true },
      ),
    ),
  },
  {
    name: 'pod-inject-volume-name-clash',
    description:
      'Inject policy: the pod already has a different volume named vault-token; nothing is injected, mutate warns and validate denies.',
    policies: 'inject',
    review: rsReview(
      withMount(deploymentPod({ extraVolumes: [{ name: 'vault-token', emptyDir: {} }] }), 0, {
        name: 'vault-token',
        mountPath: '/scratch',
      }),
    ),
  },
  {
    name: 'pod-inject-mount-path-clash',
    description:
      'Inject policy: container app mounts a ConfigMap at the injection path; app is skipped (validate denies), sidecar gets the token.',
    policies: 'inject',
    review: rsReview(
      withMount(
        deploymentPod({
          containers: ['app', 'sidecar'],
          extraVolumes: [{ name: 'vault-config', configMap: { name: 'vault' } }],
        }),
        0,
        { name: 'vault-config', mountPath: '/var/run/secrets/tokens/vault' },
      ),
    ),
  },
  {
    name: 'pod-inject-user-token-same-audience-kept',
    description:
      'Inject policy: the user already mounts a vault token at the path under another volume name: respected, nothing injected.',
    policies: 'inject',
    review: rsReview(
      withMount(deploymentPod({ extraVolumes: [tokenVolume('my-vault', 'vault', 1800)] }), 0, {
        name: 'my-vault',
        mountPath: '/var/run/secrets/tokens/vault',
        readOnly: true,
      }),
    ),
  },
  {
    name: 'pod-inject-namespace-not-matched',
    description: 'Inject policy matches team-* only: a pod in payments is untouched.',
    policies: 'inject',
    review: review(pod({ name: 'api', namespace: 'payments' }), { namespace: 'payments', name: 'api' }),
  },
  {
    name: 'pod-composed-policies',
    description:
      'Two policies: injections from both in name order, bounds intersected ([1200, 3600]), the 7200 s vault injection clamped.',
    policies: 'composed',
    review: rsReview(deploymentPod({ containers: ['app', 'worker'] })),
  },
  {
    name: 'pod-audit-mode',
    description: 'Audit policy: nothing changes; the warnings and auditAnnotations carry what Enforce would have done.',
    policies: 'audit',
    review: rsReview(deploymentPod()),
  },
  {
    name: 'pod-api-token-expiration-rewritten',
    description: 'Strict policy with opt-in: the kube-api-access 3607 s (a year with extension) becomes 3600 s.',
    policies: 'strict',
    review: rsReview(deploymentPod({ annotations: { 'tokenguard.dev/api-access': 'true' }, initContainers: ['init'] })),
  },
  {
    name: 'pod-final-state-token-not-needed-denied',
    description:
      'Validate on a pod the mutator never saw (failed open, or a later webhook re-added the token): denied by the validating side.',
    policies: 'strict',
    review: rsReview(deploymentPod()),
  },
  {
    name: 'pod-dry-run-same-decision',
    description: 'Server-side dry-run gets the real decision.',
    policies: 'strict',
    review: review(deploymentPod(), { dryRun: true }),
  },
  {
    name: 'pod-update-untouched',
    description: 'Pod UPDATE: volumes and automount are immutable, so nothing is changed or judged.',
    policies: 'strict',
    review: review(pod({ name: 'web-1' }), { operation: 'UPDATE', name: 'web-1', oldObject: pod({ name: 'web-1' }) }),
  },
  {
    name: 'pod-status-subresource-untouched',
    description: 'pods/status UPDATE is left alone.',
    policies: 'strict',
    review: review(pod({ name: 'web-1' }), {
      operation: 'UPDATE',
      name: 'web-1',
      subResource: 'status',
      oldObject: pod({ name: 'web-1' }),
    }),
  },
  {
    name: 'pod-ephemeralcontainers-untouched',
    description: 'pods/ephemeralcontainers (kubectl debug) arrives as UPDATE of a Pod; left alone.',
    policies: 'strict',
    review: (() => {
      const p = pod({ name: 'web-1', annotations: { 'tokenguard.dev/api-access': 'true' } });
      (p.spec as JsonObject).ephemeralContainers = [{ name: 'debugger', image: 'busybox', targetContainerName: 'app' }];
      return review(p, {
        operation: 'UPDATE',
        name: 'web-1',
        subResource: 'ephemeralcontainers',
        oldObject: pod({ name: 'web-1' }),
      });
    })(),
  },
  {
    name: 'pod-mirror-untouched',
    description: 'A kubelet mirror pod is never mutated or judged (the API server forbids tokens on it anyway).',
    policies: 'strict',
    review: review(
      pod({
        name: 'etcd-node1',
        namespace: 'team-a',
        plugin: false,
        annotations: { 'kubernetes.io/config.mirror': 'abc123' },
      }),
      { name: 'etcd-node1' },
    ),
  },
  {
    name: 'pod-delete-untouched',
    description: 'DELETE carries oldObject and a null object: allowed, no patch.',
    policies: 'strict',
    review: review(null, { operation: 'DELETE', name: 'web-1', oldObject: pod({ name: 'web-1' }) }),
  },
  {
    name: 'pod-connect-untouched',
    description: 'CONNECT (pods/exec) is allowed untouched.',
    policies: 'strict',
    review: review(
      { kind: 'PodExecOptions', apiVersion: 'v1', command: ['sh'] },
      { operation: 'CONNECT', name: 'web-1', subResource: 'exec', kind: 'PodExecOptions' },
    ),
  },
  {
    name: 'secret-legacy-create-denied',
    description: 'A new legacy token Secret is denied by the shipped policy.',
    review: review(secret({ type: 'kubernetes.io/service-account-token', sa: 'ci' }), { name: 'ci-token' }),
  },
  {
    name: 'secret-legacy-exempt-allowed',
    description: 'Strict policy exempts ci/legacy-runner.',
    policies: 'strict',
    review: review(secret({ type: 'kubernetes.io/service-account-token', sa: 'legacy-runner', ns: 'ci' }), {
      namespace: 'ci',
      name: 'ci-token',
    }),
  },
  {
    name: 'secret-legacy-other-sa-in-exempt-namespace-denied',
    description: 'Strict policy: the exemption names one ServiceAccount, not its namespace.',
    policies: 'strict',
    review: review(secret({ type: 'kubernetes.io/service-account-token', sa: 'builder', ns: 'ci' }), {
      namespace: 'ci',
      name: 'ci-token',
    }),
  },
  {
    name: 'secret-legacy-update-allowed',
    description:
      'UPDATE of an existing token Secret (for example the token controller filling it in) is never blocked.',
    review: review(secret({ type: 'kubernetes.io/service-account-token', sa: 'ci', data: true }), {
      operation: 'UPDATE',
      name: 'ci-token',
      oldObject: secret({ type: 'kubernetes.io/service-account-token', sa: 'ci' }),
    }),
  },
  {
    name: 'secret-legacy-delete-allowed',
    description: 'DELETE of a token Secret is never blocked.',
    review: review(null, {
      kind: 'Secret',
      operation: 'DELETE',
      name: 'ci-token',
      oldObject: secret({ type: 'kubernetes.io/service-account-token', sa: 'ci', data: true }),
    }),
  },
  {
    name: 'secret-legacy-dry-run-denied',
    description: 'kubectl apply --dry-run=server gets the same denial.',
    review: review(secret({ type: 'kubernetes.io/service-account-token', sa: 'ci' }), {
      name: 'ci-token',
      dryRun: true,
    }),
  },
  {
    name: 'secret-legacy-audit-warned',
    description: 'Audit policy: the legacy Secret is allowed with a warning and an audit annotation.',
    policies: 'audit',
    review: review(secret({ type: 'kubernetes.io/service-account-token', sa: 'ci' }), { name: 'ci-token' }),
  },
  {
    name: 'secret-lookalike-type-warned',
    description:
      'A type that only looks like the token type gets no token from the controller: allowed, with a warning.',
    review: review(secret({ type: 'Kubernetes.io/Service-Account-Token ', sa: 'ci' }), { name: 'ci-token' }),
  },
  {
    name: 'secret-opaque-allowed',
    description: 'An ordinary Opaque Secret passes without remark; its data never reaches a message.',
    review: review(secret({ type: 'Opaque', data: true }), { name: 'app-secret' }),
  },
  {
    name: 'configmap-unknown-kind-untouched',
    description: 'A kind the engine does not know is allowed untouched.',
    policies: 'strict',
    review: review(
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm', namespace: 'team-a' }, data: { a: 'b' } },
      { kind: 'ConfigMap', name: 'cm' },
    ),
  },
  {
    name: 'malformed-no-uid',
    description: 'A review without request.uid cannot be answered: HTTP 400.',
    review: {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: { kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', object: {} },
    },
  },
  {
    name: 'malformed-not-an-object',
    description: 'A JSON array is not a review: HTTP 400.',
    review: [1, 2, 3],
  },
  {
    name: 'malformed-wrong-api-version',
    description: 'A v2 review with a uid: the validating side denies, the mutating side changes nothing.',
    review: { ...review(deploymentPod()), apiVersion: 'admission.k8s.io/v2' },
  },
  {
    name: 'malformed-unknown-operation',
    description: 'An unknown operation with a uid.',
    review: (() => {
      const r = review(deploymentPod());
      (r.request as JsonObject).operation = 'EXPLODE';
      return r;
    })(),
  },
  {
    name: 'malformed-object-missing-on-create',
    description: 'CREATE without an object.',
    review: review(null),
  },
  {
    name: 'malformed-object-is-array',
    description: 'request.object is an array.',
    review: (() => {
      const r = review(deploymentPod());
      (r.request as JsonObject).object = [] as unknown as JsonObject;
      return r;
    })(),
  },
  {
    name: 'malformed-deep-nesting',
    description: 'An object nested 5,000 levels deep is refused without recursion.',
    // Written as text: JSON.stringify itself overflows the stack at this depth.
    review: {
      raw: JSON.stringify(review(deploymentPod()), null, 2).replace(
        '"generateName"',
        `"deep": ${'{"a":'.repeat(5000)}{}${'}'.repeat(5000)},\n      "generateName"`,
      ),
    },
  },
  {
    name: 'malformed-containers-not-array',
    description: 'spec.containers is a string: the engine reads defensively and does not crash.',
    policies: 'strict',
    review: (() => {
      const p = deploymentPod();
      (p.spec as JsonObject).containers = 'nope';
      return review(p);
    })(),
  },
];

const root = join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..', 'fixtures', 'admission');
const only = process.env.FIXTURE;
for (const c of cases.filter((x) => only === undefined || x.name === only)) {
  const dir = join(root, c.name);
  mkdirSync(dir, { recursive: true });
  const raw = (c.review as { raw?: string }).raw;
  writeFileSync(join(dir, 'review.json'), raw !== undefined ? `${raw}\n` : `${JSON.stringify(c.review, null, 2)}\n`);
  writeFileSync(
    join(dir, 'case.json'),
    `${JSON.stringify({ description: c.description, policies: c.policies ?? 'shipped', ...(c.bindingsComplete ? { bindingsComplete: true } : {}) }, null, 2)}\n`,
  );
  if (c.facts) writeFileSync(join(dir, 'facts.yaml'), c.facts.map((f) => stringify(f)).join('---\n'));
}
console.log(`wrote ${only === undefined ? cases.length : 1} fixture(s) under ${root}`);
void apiTokenVolume;
