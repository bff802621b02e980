/**
 * The real webhook configurations, as deploy/base renders them (`kubectl kustomize deploy/base`,
 * parsed with `yaml`), pointed at tokenguard on loopback: each `clientConfig.service` becomes
 * `clientConfig.url: https://127.0.0.1:<port><path>` and gets the generated caBundle. Rules,
 * namespaceSelector, matchConditions, timeouts, failurePolicy and reinvocationPolicy stay as
 * deploy/base has them. Every webhook deploy/base defines is registered; the suite needs at
 * least mutate, validate-pods and validate-secrets.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { PROBE_NAMESPACE, REPO_ROOT, WEBHOOKS, waitFor } from './env.js';
import { apply, type K8sObject, KUBECTL, kubectl, kubectlJson, podManifest } from './kube.js';

export interface WebhookRule {
  apiGroups: string[];
  apiVersions: string[];
  operations: string[];
  resources: string[];
  scope?: string;
}

export interface Webhook {
  name: string;
  clientConfig: {
    url?: string;
    caBundle?: string;
    service?: { name: string; namespace: string; path?: string; port?: number };
  };
  rules: WebhookRule[];
  failurePolicy?: string;
  reinvocationPolicy?: string;
  timeoutSeconds?: number;
  matchConditions?: { name: string; expression: string }[];
  namespaceSelector?: unknown;
  [k: string]: unknown;
}

export interface WebhookConfiguration extends K8sObject {
  webhooks: Webhook[];
}

export interface RenderedConfigs {
  mutating: WebhookConfiguration;
  validating: WebhookConfiguration;
}

/** `kubectl kustomize deploy/base`: the objects an administrator would apply. */
export function renderDeployBase(): Promise<K8sObject[]> {
  return new Promise((resolve, reject) => {
    execFile(
      KUBECTL,
      ['kustomize', join(REPO_ROOT, 'deploy', 'base')],
      { maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) {
          reject(new Error(`e2e: kubectl kustomize deploy/base failed: ${String(stderr || err.message).trim()}`));
          return;
        }
        const docs = parseAllDocuments(String(stdout));
        const errors = docs.flatMap((d) => d.errors.map((e) => e.message));
        if (errors.length > 0) reject(new Error(`e2e: deploy/base does not parse: ${errors.join('; ')}`));
        else resolve(docs.map((d) => d.toJS() as K8sObject).filter((o) => o !== null));
      },
    );
  });
}

/** The two configurations of deploy/base with `clientConfig` pointed at `baseUrl`. */
export async function renderWebhookConfigs(baseUrl: string, caBundle: string): Promise<RenderedConfigs> {
  const objects = await renderDeployBase();
  const pick = (kind: string): WebhookConfiguration => {
    const found = objects.filter((o) => o.kind === kind);
    if (found.length !== 1) throw new Error(`e2e: deploy/base renders ${found.length} ${kind} objects, expected 1`);
    const config = structuredClone(found[0]) as WebhookConfiguration;
    for (const hook of config.webhooks) {
      const service = hook.clientConfig.service;
      if (!service?.path) throw new Error(`e2e: webhook ${hook.name} in deploy/base has no clientConfig.service.path`);
      hook.clientConfig = { url: `${baseUrl}${service.path}`, caBundle };
    }
    return config;
  };
  const configs = {
    mutating: pick('MutatingWebhookConfiguration'),
    validating: pick('ValidatingWebhookConfiguration'),
  };
  const names = webhookNames(configs);
  const missing = [WEBHOOKS.mutate, WEBHOOKS.validatePods, WEBHOOKS.validateSecrets].filter((n) => !names.includes(n));
  if (missing.length > 0)
    throw new Error(
      `e2e: deploy/base lacks the webhooks [${missing.join(', ')}] the suite relies on; it has [${names.join(', ')}]`,
    );
  return configs;
}

/** Every webhook name of both configurations, sorted. */
export function webhookNames(configs: Partial<RenderedConfigs>): string[] {
  return [...(configs.mutating?.webhooks ?? []), ...(configs.validating?.webhooks ?? [])].map((w) => w.name).sort();
}

/**
 * Registers the configurations and waits until the API server calls all three webhooks.
 * Either configuration may be left out (scenario 9 runs without the validating one).
 */
export async function registerWebhooks(configs: Partial<RenderedConfigs>): Promise<void> {
  const objects = [configs.mutating, configs.validating].filter((c): c is WebhookConfiguration => c !== undefined);
  await apply(...objects);
  // `kubectl apply` merges webhooks by name: check that an entry dropped since the last apply is gone.
  for (const o of objects) {
    const stored = await kubectlJson<WebhookConfiguration>(['get', o.kind ?? '', o.metadata?.name ?? '']);
    const names = (list: Webhook[]) =>
      list
        .map((w) => w.name)
        .sort()
        .join(', ');
    if (names(stored.webhooks) !== names(o.webhooks))
      throw new Error(
        `e2e: ${o.kind} ${o.metadata?.name} holds [${names(stored.webhooks)}] after apply, expected [${names(o.webhooks)}]`,
      );
  }
  await waitForWebhooks({ mutating: configs.mutating !== undefined, validating: configs.validating !== undefined });
}

export async function deleteWebhookConfiguration(
  kind: 'mutatingwebhookconfiguration' | 'validatingwebhookconfiguration',
  name: string = WEBHOOKS.configuration,
): Promise<void> {
  const r = await kubectl(['delete', kind, name, '--ignore-not-found', '--wait=true']);
  if (r.code !== 0) throw new Error(`e2e: kubectl delete ${kind} ${name}: ${r.stderr.trim()}`);
}

/**
 * Probes with server-side dry runs in the probe namespace (whose policy is always loaded) until
 * the API server calls exactly the registered webhooks. Bounded: 60 s.
 * - a plain pod: mutated (automount off) when the mutating webhook is on; otherwise refused by
 *   validate-pods (which judges the unmutated pod) when that is on, else admitted unchanged;
 * - a pod with a too long projected token: refused by validate-pods iff it is on;
 * - a legacy token Secret: refused by validate-secrets iff it is on.
 */
export async function waitForWebhooks(expect: { mutating: boolean; validating: boolean }): Promise<void> {
  const deniedBy = (stderr: string, hook: string) => stderr.includes(`admission webhook "${hook}" denied the request`);
  await waitFor(
    `the webhooks to be effective (mutating ${expect.mutating ? 'on' : 'off'}, validating ${expect.validating ? 'on' : 'off'})`,
    60_000,
    async () => {
      const p = await kubectl(['create', '-f', '-', '--dry-run=server', '-o', 'json'], {
        input: JSON.stringify(podManifest(PROBE_NAMESPACE, 'probe')),
      });
      if (p.code !== 0 && !deniedBy(p.stderr, WEBHOOKS.validatePods)) throw new Error(`probe pod: ${p.stderr.trim()}`);
      const mutated =
        p.code === 0 &&
        (JSON.parse(p.stdout) as { spec: { automountServiceAccountToken?: boolean } }).spec
          .automountServiceAccountToken === false;
      if (mutated !== expect.mutating)
        throw new Error(
          `probe pod: ${p.code === 0 ? `automountServiceAccountToken ${mutated ? 'false' : 'unset'}` : p.stderr.trim()}`,
        );
      if (!expect.mutating && (p.code !== 0) !== expect.validating)
        throw new Error(`probe pod: ${p.code === 0 ? 'admitted' : p.stderr.trim()}`);

      const longToken = podManifest(PROBE_NAMESPACE, 'probe-long-token', {
        volumes: [
          {
            name: 'long',
            projected: {
              sources: [{ serviceAccountToken: { path: 'token', audience: 'probe', expirationSeconds: 86400 } }],
            },
          },
        ],
      });
      const l = await kubectl(['create', '-f', '-', '--dry-run=server', '-o', 'name'], {
        input: JSON.stringify(longToken),
      });
      if (l.code !== 0 && !deniedBy(l.stderr, WEBHOOKS.validatePods))
        throw new Error(`probe pod with a long token: ${l.stderr.trim()}`);
      if ((l.code !== 0) !== expect.validating)
        throw new Error(`probe pod with a long token: ${l.code === 0 ? 'admitted' : 'denied'}`);

      const s = await kubectl(['create', '-f', '-', '--dry-run=server', '-o', 'name'], {
        input: JSON.stringify(legacyTokenSecret(PROBE_NAMESPACE, 'probe')),
      });
      if (s.code !== 0 && !deniedBy(s.stderr, WEBHOOKS.validateSecrets))
        throw new Error(`probe Secret: ${s.stderr.trim()}`);
      if ((s.code !== 0) !== expect.validating)
        throw new Error(`probe Secret: ${s.code === 0 ? 'admitted' : 'denied'}`);
      return true;
    },
  );
}

/** A Secret of type kubernetes.io/service-account-token for `serviceAccount` (default: default). */
export function legacyTokenSecret(namespace: string, name: string, serviceAccount = 'default'): K8sObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace, annotations: { 'kubernetes.io/service-account.name': serviceAccount } },
    type: 'kubernetes.io/service-account-token',
  };
}
