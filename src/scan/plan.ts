/**
 * The migration of one workload off legacy token Secrets: each Secret volume becomes a projected
 * volume of the same name (so every mount keeps its path), with a `serviceAccountToken` source
 * at the file the token was at, and `kube-root-ca.crt` / the downward API for `ca.crt` and
 * `namespace` when those were mounted; the pod runs as the token's ServiceAccount; the token
 * lives as long as the policies allow. Written three ways: the workload as it would be, a JSON
 * Patch of the live object, and a strategic-merge patch for kustomize. The patched workload is
 * then dry-run exactly as `tokenguard test` would run it. Pure.
 *
 * What cannot be done without a person is said, not guessed: a token read from an environment
 * variable (it can never rotate), a `subPath` mount (the kubelet never updates it), a key other
 * than `token`, `ca.crt` and `namespace`, tokens of two ServiceAccounts in one pod.
 */
import {
  API_TOKEN_DEFAULT_EXPIRATION_SECONDS,
  DEFAULT_PROJECTED_EXPIRATION_SECONDS,
  MAX_EXPIRATION_SECONDS,
  MIN_EXPIRATION_SECONDS,
  ROOT_CA_CONFIGMAP,
} from '../constants.js';
import { diff } from '../engine/diff.js';
import { cloneJson, isObject, type JsonObject, objectAt, objectsAt, stringAt, stringIn } from '../json.js';
import { matchPolicy } from '../engine/match.js';
import { envTokenMessage } from '../engine/messages.js';
import { planApiTokenExpiration } from '../engine/rules/api-token-expiration.js';
import { planAutomount } from '../engine/rules/automount.js';
import { planBounds } from '../engine/rules/bounds.js';
import type { PatchOperation } from '../engine/types.js';
import { TEMPLATE_PATHS as WORKLOAD_TEMPLATE_PATHS } from '../dryrun/objects.js';
import { runDryRun } from '../dryrun/run.js';
import { staticFacts } from '../facts/static.js';
import { byName, type TokenPolicy } from '../policy/types.js';
import type { FactsIndex } from './facts-index.js';
import { describeRef, type ObjectRef, type TokenSecret } from './inventory.js';
import { describeUse, type SecretUse } from '../engine/secret-uses.js';
import type { WorkloadSecretUse } from './workloads.js';

/** Where each kind keeps its pod template (the pod itself for a Pod). */
export const TEMPLATE_PATHS: Readonly<Record<string, readonly string[]>> = { ...WORKLOAD_TEMPLATE_PATHS, Pod: [] };

/** The keys of a token Secret and what projects the same file. */
const TOKEN_KEY = 'token';
const CA_KEY = 'ca.crt';
const NAMESPACE_KEY = 'namespace';

/**
 * How a plan stands:
 * - `ready`: the patch replaces every use of a legacy token Secret, and the patched workload passes the policies;
 * - `manual`: some use needs a person (`manual` says which); the patch does the rest;
 * - `fails`: the patched workload would still be refused (`check`);
 * - `none`: nothing to patch (pods run an older template, or the workload is of a kind not patched here).
 */
export type PlanStatus = 'ready' | 'manual' | 'fails' | 'none';

export interface WorkloadPlan {
  readonly workload: ObjectRef;
  readonly status: PlanStatus;
  /** The ServiceAccount whose token replaces the legacy ones. */
  readonly serviceAccount: string;
  readonly expirationSeconds: number;
  /** What the patch changes, one line each. */
  readonly changes: readonly string[];
  /** What needs a person, one line each. */
  readonly manual: readonly string[];
  /** Legacy token Secrets the patch stops the workload from using. */
  readonly replaces: readonly string[];
  /** JSON Patch (RFC 6902) of the live object. */
  readonly jsonPatch: readonly PatchOperation[];
  /** Strategic-merge patch for kustomize `patches:`. */
  readonly strategicMerge: JsonObject | undefined;
  /** The workload as it would be, without server-set fields. */
  readonly patched: JsonObject | undefined;
  /** The patched workload through `tokenguard test`'s dry run. */
  readonly check:
    | { readonly outcome: string; readonly denials: readonly string[]; readonly warnings: readonly string[] }
    | undefined;
}

export interface PlanInput {
  readonly workload: ObjectRef;
  /** The live object; undefined when the scan did not keep one (no template refers to a legacy token). */
  readonly object: JsonObject | undefined;
  readonly secrets: readonly WorkloadSecretUse[];
  readonly tokenSecret: (name: string) => TokenSecret | undefined;
  readonly policies: readonly TokenPolicy[];
  readonly facts: FactsIndex;
  readonly apiAudiences?: readonly string[];
}

/** Plans the migration of one workload (see the module comment). */
export function planWorkload(input: PlanInput): WorkloadPlan {
  const { workload, object } = input;
  const path = TEMPLATE_PATHS[workload.kind];
  const empty = {
    expirationSeconds: 0,
    changes: [],
    replaces: [],
    jsonPatch: [],
    strategicMerge: undefined,
    patched: undefined,
    check: undefined,
  };
  const templateSecrets = input.secrets.filter((s) => s.template);
  if (!path || !object) {
    const why = !path
      ? `${describeRef(workload)} is not a kind tokenguard patches: change the resource that creates it`
      : 'its pods run a template that no longer refers to the Secret: they go away with the next rollout';
    return { workload, status: 'none', serviceAccount: '', manual: [why], ...empty };
  }
  if (templateSecrets.length === 0) {
    return {
      workload,
      status: 'none',
      serviceAccount: '',
      manual: ['its pods run an older template: they go away with the next rollout'],
      ...empty,
    };
  }
  const accounts = [...new Set(templateSecrets.map((s) => input.tokenSecret(s.secret)?.serviceAccountName ?? ''))];
  if (accounts.length !== 1 || accounts[0] === '') {
    const named = templateSecrets
      .map((s) => `${s.secret} (${input.tokenSecret(s.secret)?.serviceAccountName ?? 'no ServiceAccount'})`)
      .join(', ');
    return {
      workload,
      status: 'manual',
      serviceAccount: '',
      manual: [`it uses tokens of several ServiceAccounts (${named}), and a pod has one: split it, or choose one`],
      ...empty,
    };
  }
  const serviceAccount = accounts[0] as string;

  // The edits, made on a copy of the live object (for the JSON Patch) and on a clean copy (the manifest).
  const live = cloneJson(object);
  const manifest = cleanManifest(object);
  const changes: string[] = [];
  const manual: string[] = [];
  const replaced = new Set<string>();
  const unhandled = new Set<string>();
  const smpSpec: JsonObject = {};
  const smpMeta: JsonObject = {};
  const specs = [templateSpec(live, path), templateSpec(manifest, path)];
  const podSpec = specs[1] as JsonObject;

  const expiration = chooseExpiration(input, manifest, path, serviceAccount);
  let imagePullChanges = 0;
  const byVolume = new Map<string, SecretUse[]>();
  for (const s of templateSecrets) {
    for (const u of s.uses) {
      if (u.kind === 'volume' || u.kind === 'projected') {
        const list = byVolume.get(u.volume ?? '') ?? [];
        list.push(u);
        byVolume.set(u.volume ?? '', list);
      } else if (u.kind === 'imagePullSecret') {
        for (const spec of specs) {
          const kept = objectsAt(spec, 'imagePullSecrets').filter((r) => stringAt(r, 'name') !== u.secret);
          if (kept.length > 0) spec.imagePullSecrets = kept;
          else delete spec.imagePullSecrets;
        }
        smpSpec.imagePullSecrets = [
          ...((smpSpec.imagePullSecrets as JsonObject[] | undefined) ?? []),
          { name: u.secret, $patch: 'delete' },
        ];
        changes.push(`removes ${u.secret} from imagePullSecrets (a token Secret holds no registry credentials)`);
        imagePullChanges++;
        replaced.add(u.secret);
      } else if (u.kind === 'env' || u.kind === 'envFrom') {
        unhandled.add(u.secret);
        manual.push(envTokenMessage(u.secret, describeUse(u)));
      } else {
        unhandled.add(u.secret);
        manual.push(`${describeUse(u)} hands ${u.secret} to a volume driver: change that driver's configuration`);
      }
    }
  }
  const smpVolumes: JsonObject[] = [];
  for (const [volumeName, uses] of byVolume) {
    const subPaths = uses.filter((u) => u.subPath);
    if (subPaths.length > 0) {
      for (const u of uses) unhandled.add(u.secret);
      for (const u of subPaths)
        manual.push(
          `${u.container} mounts ${u.secret} with subPath ${u.subPath} at ${u.mountPath}: the kubelet never refreshes a subPath mount, so a rotating token cannot go there; mount the volume's directory instead`,
        );
      continue;
    }
    const index = objectsAt(podSpec, 'volumes').findIndex((v) => stringAt(v, 'name') === volumeName);
    if (index === -1) continue;
    const before = objectsAt(podSpec, 'volumes')[index] as JsonObject;
    const built = replacementVolume(before, uses, expiration);
    if ('manual' in built) {
      for (const u of uses) unhandled.add(u.secret);
      manual.push(built.manual);
      continue;
    }
    for (const spec of specs) (spec.volumes as JsonObject[])[index] = cloneJson(built.volume);
    smpVolumes.push(before.secret !== undefined ? { ...built.volume, secret: null } : built.volume);
    for (const u of uses) replaced.add(u.secret);
    const mounts = uses.filter((u) => u.mountPath).map((u) => `${u.mountPath} in ${u.container}`);
    changes.push(
      `volume ${volumeName}: a projected ServiceAccount token (${built.files.join(', ')}; ${expiration} s, audience: the API server's) instead of ${[...new Set(uses.map((u) => u.secret))].join(', ')}${mounts.length > 0 ? `, still at ${[...new Set(mounts)].join(', ')}` : ''}`,
    );
  }
  if (smpVolumes.length > 0) smpSpec.volumes = smpVolumes;

  // A projected token is for the pod's own ServiceAccount: run as the one the legacy token was for.
  const tokenVolumes = changes.length - imagePullChanges;
  const currentSa = stringAt(podSpec, 'serviceAccountName') || stringAt(podSpec, 'serviceAccount') || 'default';
  if (tokenVolumes > 0 && currentSa !== serviceAccount) {
    for (const s of specs) {
      s.serviceAccountName = serviceAccount;
      if (s.serviceAccount !== undefined) s.serviceAccount = serviceAccount;
    }
    smpSpec.serviceAccountName = serviceAccount;
    if (podSpec.serviceAccount !== undefined) smpSpec.serviceAccount = serviceAccount;
    changes.unshift(`runs as ServiceAccount ${serviceAccount}, the one the legacy token was for (was ${currentSa})`);
  }

  // A pod that uses a token needs the API: say so where a policy would otherwise take tokens away.
  const annotations = tokenVolumes > 0 ? neededAnnotations(input, manifest, path, serviceAccount) : [];
  for (const annotation of annotations) {
    for (const obj of [live, manifest]) setTemplateAnnotation(obj, path, annotation);
    smpMeta.annotations = { ...((smpMeta.annotations as JsonObject | undefined) ?? {}), [annotation]: 'true' };
    changes.push(
      `annotates the pod template ${annotation}: "true" (it uses the API, so the automount policy keeps its tokens)`,
    );
  }

  const jsonPatch = diff(object, live);
  const strategicMerge = changes.length > 0 ? strategicPatch(object, path, smpMeta, smpSpec) : undefined;
  const check = changes.length > 0 ? checkPatched(input, manifest, serviceAccount) : undefined;
  const status: PlanStatus =
    changes.length === 0
      ? manual.length > 0
        ? 'manual'
        : 'none'
      : check?.outcome === 'denied'
        ? 'fails'
        : manual.length > 0
          ? 'manual'
          : 'ready';
  return {
    workload,
    status,
    serviceAccount,
    expirationSeconds: tokenVolumes > 0 ? expiration : 0,
    changes,
    manual,
    replaces: [...replaced].filter((n) => !unhandled.has(n)).sort(),
    jsonPatch,
    strategicMerge,
    patched: changes.length > 0 ? manifest : undefined,
    check,
  };
}

/** The workload object without what the API server sets (status, uid, managedFields...). */
export function cleanManifest(object: JsonObject): JsonObject {
  const copy = cloneJson(object);
  delete copy.status;
  const md = objectAt(copy, 'metadata');
  if (md) {
    for (const k of [
      'uid',
      'resourceVersion',
      'generation',
      'creationTimestamp',
      'managedFields',
      'selfLink',
      'ownerReferences',
      'deletionTimestamp',
      'deletionGracePeriodSeconds',
    ])
      delete md[k];
    const annotations = objectAt(md, 'annotations');
    if (annotations) {
      delete annotations['kubectl.kubernetes.io/last-applied-configuration'];
      delete annotations['deployment.kubernetes.io/revision'];
      if (Object.keys(annotations).length === 0) delete md.annotations;
    }
  }
  return copy;
}

function templateSpec(object: JsonObject, path: readonly string[]): JsonObject {
  let at: JsonObject = object;
  for (const p of path) {
    let next = objectAt(at, p);
    if (!next) {
      next = {};
      at[p] = next;
    }
    at = next;
  }
  let spec = objectAt(at, 'spec');
  if (!spec) {
    spec = {};
    at.spec = spec;
  }
  return spec;
}

function templateOf(object: JsonObject, path: readonly string[]): JsonObject {
  let at: JsonObject | undefined = object;
  for (const p of path) at = objectAt(at, p);
  return at ?? {};
}

function setTemplateAnnotation(object: JsonObject, path: readonly string[], annotation: string): void {
  let at: JsonObject = object;
  for (const p of [...path, 'metadata']) {
    let next = objectAt(at, p);
    if (!next) {
      next = {};
      at[p] = next;
    }
    at = next;
  }
  at.annotations = { ...(objectAt(at, 'annotations') ?? {}), [annotation]: 'true' };
}

/**
 * The projected volume that gives the same files as a token Secret's volume: `token` from a
 * `serviceAccountToken` source, `ca.crt` from `kube-root-ca.crt`, `namespace` from the downward
 * API, at the paths the Secret's `items` gave (all three, at their own names, without items).
 */
function replacementVolume(
  volume: JsonObject,
  uses: readonly SecretUse[],
  expirationSeconds: number,
): { volume: JsonObject; files: string[] } | { manual: string } {
  const name = stringAt(volume, 'name') ?? '';
  const secret = objectAt(volume, 'secret');
  const projected = objectAt(volume, 'projected');
  const sourcesFor = (src: JsonObject): { sources: JsonObject[]; files: string[] } | { manual: string } => {
    const items = Array.isArray(src.items)
      ? src.items.filter(isObject)
      : [
          { key: TOKEN_KEY, path: TOKEN_KEY },
          { key: CA_KEY, path: CA_KEY },
          { key: NAMESPACE_KEY, path: NAMESPACE_KEY },
        ];
    const sources: JsonObject[] = [];
    const files: string[] = [];
    for (const item of items) {
      const key = stringAt(item, 'key') ?? '';
      const path = stringAt(item, 'path') ?? key;
      const mode = typeof item.mode === 'number' ? { mode: item.mode } : {};
      if (key === TOKEN_KEY) sources.push({ serviceAccountToken: { path, expirationSeconds } });
      else if (key === CA_KEY)
        sources.push({ configMap: { name: ROOT_CA_CONFIGMAP, items: [{ key: CA_KEY, path, ...mode }] } });
      else if (key === NAMESPACE_KEY)
        sources.push({
          downwardAPI: { items: [{ path, fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' }, ...mode }] },
        });
      else
        return {
          manual: `volume ${name} takes key ${JSON.stringify(key)} of ${uses[0]?.secret}, which no projection gives: move that file elsewhere`,
        };
      files.push(path);
    }
    return { sources, files };
  };
  if (secret) {
    const built = sourcesFor(secret);
    if ('manual' in built) return built;
    const defaultMode = typeof secret.defaultMode === 'number' ? { defaultMode: secret.defaultMode } : {};
    return { volume: { name, projected: { ...defaultMode, sources: built.sources } }, files: built.files };
  }
  if (projected) {
    const wanted = new Set(uses.map((u) => u.secret));
    const sources: JsonObject[] = [];
    const files: string[] = [];
    for (const s of objectsAt(projected, 'sources')) {
      const ps = objectAt(s, 'secret');
      if (!ps || !wanted.has(stringAt(ps, 'name') ?? '')) {
        sources.push(s);
        continue;
      }
      const built = sourcesFor(ps);
      if ('manual' in built) return built;
      sources.push(...built.sources);
      files.push(...built.files);
    }
    return { volume: { ...volume, projected: { ...projected, sources } }, files };
  }
  return { manual: `volume ${name} is neither a secret nor a projected volume` };
}

/** The pod the patched workload creates, with its namespace, as the engine sees it. */
function templatePod(manifest: JsonObject, path: readonly string[], namespace: string): JsonObject {
  const template = path.length === 0 ? manifest : templateOf(manifest, path);
  const md = objectAt(template, 'metadata') ?? {};
  return { apiVersion: 'v1', kind: 'Pod', metadata: { ...md, namespace }, spec: objectAt(template, 'spec') ?? {} };
}

/** The policies (Enforce and Audit) that match the pod, and what they compose to. */
function composed(input: PlanInput, manifest: JsonObject, path: readonly string[], serviceAccount: string) {
  const namespace = input.workload.namespace;
  const pod = templatePod(manifest, path, namespace);
  const facts = staticFacts(input.facts.factsFor(namespace, serviceAccount), {
    bindingsComplete: input.facts.bindingsComplete,
  }).lookup({ namespace, serviceAccount });
  if (facts instanceof Promise) throw new Error('static facts answer synchronously');
  const matched = input.policies.filter((p) => {
    if (p.spec.mode === 'Off') return false;
    const m = matchPolicy(p, {
      namespace,
      label: (key) => stringIn(objectAt(objectAt(pod, 'metadata'), 'labels'), key),
      serviceAccount,
      namespaceFacts: facts.namespace,
    });
    return 'matched' in m && m.matched;
  });
  // Composed as the engine composes them: in policy name order, strictest wins.
  const sorted = [...matched].sort(byName);
  return {
    matched,
    plan: {
      bounds: planBounds(sorted),
      apiTokenMax: planApiTokenExpiration(sorted),
      automount: planAutomount(sorted, pod, { namespace, serviceAccount, saFacts: facts.serviceAccount }),
    },
  };
}

/**
 * The expiration the policies allow for the new API token: Kubernetes' default of 3600 s, moved
 * into every matching policy's bounds and `apiTokenExpirationSeconds`, and never 3607 s (which
 * the API server would stretch to a year).
 */
function chooseExpiration(
  input: PlanInput,
  manifest: JsonObject,
  path: readonly string[],
  serviceAccount: string,
): number {
  const { plan } = composed(input, manifest, path, serviceAccount);
  let lo = MIN_EXPIRATION_SECONDS;
  let hi = MAX_EXPIRATION_SECONDS;
  if (plan.bounds) {
    lo = Math.max(lo, plan.bounds.min);
    hi = Math.min(hi, plan.bounds.max);
  }
  if (plan.apiTokenMax) hi = Math.min(hi, plan.apiTokenMax.value);
  let value = Math.min(Math.max(DEFAULT_PROJECTED_EXPIRATION_SECONDS, lo), Math.max(lo, hi));
  if (value === API_TOKEN_DEFAULT_EXPIRATION_SECONDS) value = value - 1 >= lo ? value - 1 : value + 1;
  return value;
}

/** The opt-in annotations of matching policies that would otherwise take the pod's API tokens away. */
function neededAnnotations(
  input: PlanInput,
  manifest: JsonObject,
  path: readonly string[],
  serviceAccount: string,
): string[] {
  const { matched, plan } = composed(input, manifest, path, serviceAccount);
  const out = new Set<string>();
  for (const v of plan.automount) {
    if (!v.disable) continue;
    const annotation = matched.find((p) => p.name === v.policy)?.spec.automount?.needed?.annotation;
    if (annotation) out.add(annotation);
  }
  return [...out].sort();
}

function strategicPatch(object: JsonObject, path: readonly string[], meta: JsonObject, spec: JsonObject): JsonObject {
  const md = objectAt(object, 'metadata');
  const metadata: JsonObject = {
    name: stringAt(md, 'name') ?? '',
    ...(stringAt(md, 'namespace') ? { namespace: stringAt(md, 'namespace') } : {}),
  };
  const head = { apiVersion: stringAt(object, 'apiVersion') ?? '', kind: stringAt(object, 'kind') ?? '' };
  // A Pod is its own template: its metadata takes the annotations.
  if (path.length === 0) return { ...head, metadata: { ...metadata, ...meta }, spec };
  let body: JsonObject = { ...(Object.keys(meta).length > 0 ? { metadata: meta } : {}), spec };
  for (const p of [...path].reverse()) body = { [p]: body };
  return { ...head, metadata, ...body };
}

function checkPatched(input: PlanInput, manifest: JsonObject, serviceAccount: string): WorkloadPlan['check'] {
  const report = runDryRun({
    policies: input.policies,
    objects: [{ object: manifest, file: 'plan', document: 1, line: 0 }],
    facts: input.facts.factsFor(input.workload.namespace, serviceAccount),
    bindingsComplete: input.facts.bindingsComplete,
    namespace: input.workload.namespace,
    ...(input.apiAudiences && input.apiAudiences.length > 0 ? { apiAudiences: input.apiAudiences } : {}),
  });
  const o = report.objects[0];
  if (!o) return { outcome: 'error', denials: ['not evaluated'], warnings: [] };
  return {
    outcome: o.outcome,
    denials: [
      ...o.denials.map((d) => `${d.policy}/${d.rule}: ${d.message}`),
      ...(o.outcome === 'error' && o.reason ? [o.reason] : []),
    ],
    warnings: o.warnings,
  };
}
