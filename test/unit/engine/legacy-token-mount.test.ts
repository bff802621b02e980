/**
 * Rule legacy-token-mount: a pod taking a token out of a kubernetes.io/service-account-token
 * Secret (volume, projected source, env secretKeyRef, envFrom) is reported per
 * legacyTokenSecrets.mountedTokens, in the words of scan's migration plan; Secrets not known to
 * be token Secrets, and pods without that fact, say nothing.
 */
import { evaluate } from '../../../src/engine/evaluate.js';
import { ENV_TOKEN_ADVICE } from '../../../src/engine/messages.js';
import type { ClusterFacts, EngineInput } from '../../../src/engine/types.js';
import type { JsonObject } from '../../../src/json.js';
import type { LegacyTokenSecretsSpec, PolicyMode, TokenPolicy } from '../../../src/policy/types.js';

const policy = (name: string, lts: LegacyTokenSecretsSpec, mode: PolicyMode = 'Enforce'): TokenPolicy => ({
  name,
  spec: { mode, legacyTokenSecrets: lts },
  source: { file: `${name}.yaml`, document: 1 },
});
const input = (object: JsonObject, extra: Partial<EngineInput> = {}): EngineInput => ({
  operation: 'CREATE',
  kind: 'Pod',
  subResource: '',
  object,
  oldObject: undefined,
  namespace: 'team-a',
  dryRun: false,
  ...extra,
});
const facts: ClusterFacts = {
  tokenSecrets: new Map([
    ['app-token', 'app'],
    ['ops-token', 'ops'],
    ['bare-token', ''],
  ]),
};

const podWith = (spec: JsonObject): JsonObject => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'p', namespace: 'team-a' },
  spec: {
    serviceAccountName: 'web',
    automountServiceAccountToken: false,
    containers: [{ name: 'app', image: 'app' }],
    ...spec,
  },
});
const volumePod = podWith({
  volumes: [{ name: 'tok', secret: { secretName: 'app-token' } }],
  containers: [{ name: 'app', image: 'app', volumeMounts: [{ name: 'tok', mountPath: '/var/run/tok' }] }],
});
const validate = (
  policies: TokenPolicy[],
  object: JsonObject,
  f: ClusterFacts = facts,
  extra: Partial<EngineInput> = {},
) => evaluate({ policies, input: input(object, extra), facts: f, phase: 'validate' });
const mountResults = (r: ReturnType<typeof evaluate>) => r.results.filter((x) => x.rule === 'legacy-token-mount');

test('a secret volume of a token Secret is warned about by default, naming the Secret and the mount', () => {
  const r = validate([policy('legacy', { action: 'Deny' })], volumePod);
  expect(r.allowed).toBe(true);
  expect(mountResults(r)).toEqual([
    {
      policies: ['legacy'],
      rule: 'legacy-token-mount',
      mode: 'Enforce',
      status: 'warn',
      message:
        'legacy token Secret app-token is mounted through volume tok at /var/run/tok in containers/app: a legacy token never expires; mount a projected serviceAccountToken at the same path instead (tokenguard scan --plan writes the patch)',
    },
  ]);
  expect(r.warnings[0]).toMatch(/^tokenguard: legacy: legacy token Secret app-token is mounted/);
});

test('mountedTokens: Deny refuses it in Enforce; Audit only warns, as a finding', () => {
  const enforce = validate([policy('legacy', { action: 'Deny', mountedTokens: 'Deny' })], volumePod);
  expect(enforce.allowed).toBe(false);
  expect(enforce.denials).toEqual([
    expect.stringMatching(/^legacy\/legacy-token-mount: legacy token Secret app-token is mounted through volume tok/),
  ]);
  const audit = validate([policy('legacy', { action: 'Deny', mountedTokens: 'Deny' }, 'Audit')], volumePod);
  expect(audit.allowed).toBe(true);
  expect(audit.auditAnnotations['audit-findings']).toContain(
    'would deny: legacy/legacy-token-mount: legacy token Secret app-token',
  );
});

test('mountedTokens: Ignore says nothing; neither do policies without legacyTokenSecrets', () => {
  expect(mountResults(validate([policy('legacy', { action: 'Deny', mountedTokens: 'Ignore' })], volumePod))).toEqual(
    [],
  );
  const other: TokenPolicy = {
    name: 'automount',
    spec: { mode: 'Enforce', automount: { action: 'Keep' } },
    source: { file: 'a.yaml', document: 1 },
  };
  expect(mountResults(validate([other], volumePod))).toEqual([]);
});

test('projected secret sources, env secretKeyRef and envFrom in init, regular and ephemeral containers are each reported', () => {
  const pod = podWith({
    volumes: [
      {
        name: 'bundle',
        projected: {
          sources: [
            { configMap: { name: 'cfg' } },
            { secret: { name: 'ops-token', items: [{ key: 'token', path: 'token' }] } },
          ],
        },
      },
    ],
    initContainers: [
      {
        name: 'setup',
        image: 'x',
        env: [{ name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'app-token', key: 'token' } } }],
      },
    ],
    containers: [{ name: 'app', image: 'app', volumeMounts: [{ name: 'bundle', mountPath: '/etc/bundle' }] }],
    ephemeralContainers: [
      { name: 'debug', image: 'x', envFrom: [{ prefix: 'K_', secretRef: { name: 'bare-token' } }] },
    ],
  });
  const r = validate([policy('legacy', { action: 'Deny', mountedTokens: 'Deny' })], pod);
  expect(mountResults(r).map((x) => x.message)).toEqual([
    `legacy token Secret app-token is read through env TOKEN (key token) in initContainers/setup: ${ENV_TOKEN_ADVICE}`,
    `legacy token Secret bare-token is read through envFrom (prefix K_) in ephemeralContainers/debug: ${ENV_TOKEN_ADVICE}`,
    expect.stringMatching(
      /^legacy token Secret ops-token is mounted through projected volume bundle \(key token\) at \/etc\/bundle in containers\/app: /,
    ),
  ]);
  expect(r.allowed).toBe(false);
});

test('Secrets not known to be token Secrets, and imagePullSecrets, are not reported; without the fact the rule is silent', () => {
  const pod = podWith({
    imagePullSecrets: [{ name: 'app-token' }],
    volumes: [{ name: 'creds', secret: { secretName: 'db-credentials' } }],
    containers: [
      {
        name: 'app',
        image: 'app',
        volumeMounts: [{ name: 'creds', mountPath: '/creds' }],
        env: [{ name: 'P', valueFrom: { secretKeyRef: { name: 'db', key: 'p' } } }],
      },
    ],
  });
  const policies = [policy('legacy', { action: 'Deny', mountedTokens: 'Deny' })];
  expect(mountResults(validate(policies, pod))).toEqual([]);
  expect(mountResults(validate(policies, volumePod, {}))).toEqual([]);
  expect(validate(policies, volumePod, {}).allowed).toBe(true);
});

test('a token Secret of an exempt ServiceAccount is warned about, never denied', () => {
  const r = validate(
    [policy('legacy', { action: 'Deny', mountedTokens: 'Deny', exemptServiceAccounts: ['team-a/app'] })],
    volumePod,
  );
  expect(r.allowed).toBe(true);
  expect(mountResults(r).map((x) => x.status)).toEqual(['warn']);
  // The exemption names the token Secret's ServiceAccount, not the pod's.
  const notExempt = validate(
    [policy('legacy', { action: 'Deny', mountedTokens: 'Deny', exemptServiceAccounts: ['team-a/web'] })],
    volumePod,
  );
  expect(notExempt.allowed).toBe(false);
});

test('the mutating side never reports it (one warning per use, from the validating side)', () => {
  const r = evaluate({
    policies: [policy('legacy', { action: 'Deny' })],
    input: input(volumePod),
    facts,
    phase: 'mutate',
  });
  expect(mountResults(r)).toEqual([]);
});

test('pods/ephemeralcontainers: only the ephemeral containers the UPDATE adds are judged', () => {
  const envFrom = (name: string) => ({ name, image: 'x', envFrom: [{ secretRef: { name: 'app-token' } }] });
  const old = podWith({ ephemeralContainers: [envFrom('first')] });
  const now = podWith({ ephemeralContainers: [envFrom('first'), envFrom('second')] });
  const r = validate([policy('legacy', { action: 'Deny', mountedTokens: 'Deny' })], now, facts, {
    operation: 'UPDATE',
    subResource: 'ephemeralcontainers',
    oldObject: old,
  });
  expect(mountResults(r).map((x) => x.message)).toEqual([
    `legacy token Secret app-token is read through envFrom in ephemeralContainers/second: ${ENV_TOKEN_ADVICE}`,
  ]);
  expect(r.allowed).toBe(false);
});
