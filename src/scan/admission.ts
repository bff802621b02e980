/**
 * A running pod judged as if it were created now: the same path `tokenguard test` takes
 * (`runDryRun`: the ServiceAccount plugin, the mutating webhook, reinvocation, the validating
 * webhook, with the engine behind both), with the cluster's facts. Pure.
 *
 * Pods of one workload differ in what the engine never reads (name, node, the five random
 * characters of `kube-api-access-xxxxx`, controller labels no policy selects on), so each pod is
 * first reduced to what the engine does read, and pods with the same reduction share one
 * evaluation (a bounded cache). The reduction keeps:
 *
 * | part        | kept                                                                          |
 * |-------------|-------------------------------------------------------------------------------|
 * | labels      | the keys some policy's `objectSelector` reads                                  |
 * | annotations | every policy's `automount.needed.annotation`, and the mirror-pod annotation    |
 * | spec        | all of it but `nodeName` (the scheduler's, absent at creation); the API token volume renamed `kube-api-access-*` |
 * | the rest    | namespace, and `generateName`; no name, status, owner or server-set metadata   |
 *
 * test/unit/scan/admission.test.ts checks that the reduction changes no verdict.
 */
import { isPluginTokenVolume } from '../engine/api-token.js';
import { DEFAULT_API_AUDIENCES, MIRROR_POD_ANNOTATION } from '../constants.js';
import { isObject, type JsonObject, objectAt, stringAt } from '../json.js';
import { mountedVolumeNames, tokenSources } from '../engine/pod.js';
import { selectorKeys } from '../engine/selector.js';
import type { Finding, PolicyVerdict } from '../dryrun/report.js';
import { runDryRun } from '../dryrun/run.js';
import type { TokenPolicy } from '../policy/types.js';
import type { FactsIndex } from './facts-index.js';

/** The name the API token volume is evaluated under, and shown as in messages. */
const CANONICAL_API_VOLUME = 'kube-api-access-bbbbb';
const SHOWN_API_VOLUME = 'kube-api-access-*';

/**
 * What admission would do with a pod created now:
 * - `denied`: the validating webhook would refuse it;
 * - `changed`: the mutating webhook would change it (an Enforce policy);
 * - `warned`: admitted as it is, with warnings (Audit policies);
 * - `passed`: admitted as it is;
 * - `error`: it could not be evaluated.
 */
export type PodOutcome = 'denied' | 'changed' | 'warned' | 'passed' | 'error';

export interface PodVerdict {
  readonly outcome: PodOutcome;
  readonly denials: readonly Finding[];
  readonly changes: readonly Finding[];
  readonly warnings: readonly string[];
  /** Per policy, over both phases (`tokenguard test`'s vocabulary). */
  readonly policies: readonly PolicyVerdict[];
  /** Why an `error` could not be evaluated. */
  readonly reason?: string;
  /** A container mounts a projected token for the API server now. */
  readonly apiTokenBefore: boolean;
  /** ... and still would once admitted. */
  readonly apiTokenAfter: boolean;
  /** A one-line summary of the verdict, with the canonical volume name, identical for identical verdicts. */
  readonly signature: string;
}

export interface PodEvaluatorOptions {
  readonly policies: readonly TokenPolicy[];
  readonly facts: FactsIndex;
  /** The API server's own audiences (`--api-audience`); default the engine's. */
  readonly apiAudiences?: readonly string[];
  /** Distinct reductions remembered at once (default 4096). */
  readonly cacheSize?: number;
}

/** Evaluates pods; counts how many evaluations the cache saved. */
export interface PodEvaluator {
  (pod: JsonObject): PodVerdict;
  readonly stats: { evaluations: number; cached: number };
}

/** A pod evaluator over one policy set and one set of facts. */
export function createPodEvaluator(options: PodEvaluatorOptions): PodEvaluator {
  const labelKeys = new Set(
    options.policies.flatMap((p) => (p.spec.match?.objectSelector ? selectorKeys(p.spec.match.objectSelector) : [])),
  );
  const annotationKeys = new Set([
    MIRROR_POD_ANNOTATION,
    ...options.policies.flatMap((p) =>
      p.spec.automount?.needed?.annotation ? [p.spec.automount.needed.annotation] : [],
    ),
  ]);
  const max = options.cacheSize ?? 4096;
  const cache = new Map<string, PodVerdict>();
  const stats = { evaluations: 0, cached: 0 };
  const evaluator = (pod: JsonObject): PodVerdict => {
    const reduced = reducePod(pod, labelKeys, annotationKeys);
    const md = objectAt(reduced, 'metadata');
    const namespace = stringAt(md, 'namespace') ?? '';
    const spec = objectAt(reduced, 'spec') ?? {};
    const serviceAccount = stringAt(spec, 'serviceAccountName') || stringAt(spec, 'serviceAccount') || 'default';
    const cacheKey = JSON.stringify(reduced);
    const hit = cache.get(cacheKey);
    if (hit) {
      stats.cached++;
      cache.delete(cacheKey);
      cache.set(cacheKey, hit);
      return hit;
    }
    stats.evaluations++;
    const verdict = evaluateReduced(reduced, namespace, serviceAccount, options);
    cache.set(cacheKey, verdict);
    if (cache.size > max) cache.delete(cache.keys().next().value as string);
    return verdict;
  };
  return Object.assign(evaluator, { stats });
}

/** The part of a pod the engine reads (table above), as a Pod to create. */
export function reducePod(
  pod: JsonObject,
  labelKeys: ReadonlySet<string>,
  annotationKeys: ReadonlySet<string>,
): JsonObject {
  const md = objectAt(pod, 'metadata') ?? {};
  const pick = (map: JsonObject | undefined, keys: ReadonlySet<string>): JsonObject | undefined => {
    if (!map) return undefined;
    const out: JsonObject = {};
    for (const k of Object.keys(map).sort()) if (keys.has(k)) out[k] = map[k];
    return Object.keys(out).length > 0 ? out : undefined;
  };
  const labels = pick(objectAt(md, 'labels'), labelKeys);
  const annotations = pick(objectAt(md, 'annotations'), annotationKeys);
  const generateName = stringAt(md, 'generateName');
  const spec: JsonObject = { ...(objectAt(pod, 'spec') ?? {}) };
  delete spec.nodeName;
  renameApiTokenVolume(spec);
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      ...(generateName ? { generateName } : { name: 'pod' }),
      namespace: stringAt(md, 'namespace') ?? '',
      ...(labels ? { labels } : {}),
      ...(annotations ? { annotations } : {}),
    },
    spec,
  };
}

/** Renames the ServiceAccount plugin's volume (and its mounts) in a shallow copy of a spec. */
function renameApiTokenVolume(spec: JsonObject): void {
  const volumes = spec.volumes;
  if (!Array.isArray(volumes)) return;
  const index = volumes.findIndex((v) => isObject(v) && isPluginTokenVolume(v));
  if (index === -1) return;
  const old = (volumes[index] as JsonObject).name as string;
  if (old === CANONICAL_API_VOLUME) return;
  const copy = [...volumes];
  copy[index] = { ...(volumes[index] as JsonObject), name: CANONICAL_API_VOLUME };
  spec.volumes = copy;
  for (const field of ['initContainers', 'containers', 'ephemeralContainers']) {
    const list = spec[field];
    if (!Array.isArray(list)) continue;
    spec[field] = list.map((c) => {
      if (!isObject(c) || !Array.isArray(c.volumeMounts)) return c;
      if (!c.volumeMounts.some((m) => isObject(m) && m.name === old)) return c;
      return {
        ...c,
        volumeMounts: c.volumeMounts.map((m) =>
          isObject(m) && m.name === old ? { ...m, name: CANONICAL_API_VOLUME } : m,
        ),
      };
    });
  }
}

function evaluateReduced(
  pod: JsonObject,
  namespace: string,
  serviceAccount: string,
  options: PodEvaluatorOptions,
): PodVerdict {
  const audiences =
    options.apiAudiences && options.apiAudiences.length > 0 ? { apiAudiences: options.apiAudiences } : {};
  const report = runDryRun({
    policies: options.policies,
    objects: [{ object: pod, file: 'cluster', document: 1, line: 0 }],
    facts: options.facts.factsFor(namespace, serviceAccount),
    bindingsComplete: options.facts.bindingsComplete,
    namespace,
    ...audiences,
  });
  const o = report.objects[0];
  if (!o || o.outcome === 'error' || o.outcome === 'skipped' || o.outcome === 'fact') {
    const reason = shown(o?.reason ?? 'not evaluated');
    return {
      outcome: 'error',
      denials: [],
      changes: [],
      warnings: [],
      policies: [],
      reason,
      apiTokenBefore: false,
      apiTokenAfter: false,
      signature: `error\n${reason}`,
    };
  }
  const apiAudiences = options.apiAudiences && options.apiAudiences.length > 0 ? options.apiAudiences : undefined;
  const before = o.admission ? carriesApiToken(o.admission.given, apiAudiences) : false;
  const after = o.admission ? carriesApiToken(o.admission.judged, apiAudiences) : false;
  const finding = (f: Finding): Finding => ({ ...f, message: shown(f.message) });
  const denials = o.denials.map(finding);
  const changes = o.changes.map(finding);
  const warnings = o.warnings.map(shown);
  const outcome: PodOutcome =
    o.outcome === 'denied' ? 'denied' : changes.length > 0 ? 'changed' : warnings.length > 0 ? 'warned' : 'passed';
  const policies = o.policies.map((p) => ({
    ...p,
    results: p.results.map((r) => ({ rule: r.rule, message: shown(r.message) })),
  }));
  const signature = [
    outcome,
    ...denials.map((f) => `deny ${f.policy}/${f.rule}: ${f.message}`),
    ...changes.map((f) => `change ${f.policy}/${f.rule}: ${f.message}`),
    ...warnings.map((w) => `warn ${w}`),
    `api-token ${before} ${after}`,
  ].join('\n');
  return { outcome, denials, changes, warnings, policies, apiTokenBefore: before, apiTokenAfter: after, signature };
}

/** True when some container mounts a projected token for the API server. */
function carriesApiToken(pod: JsonObject, apiAudiences: readonly string[] | undefined): boolean {
  const spec = objectAt(pod, 'spec') ?? {};
  const mounted = mountedVolumeNames(spec);
  return tokenSources(spec, apiAudiences ?? DEFAULT_API_AUDIENCES).some(
    (s) => s.isApiToken && mounted.has(s.volumeName),
  );
}

/** A message as reports show it: the canonical API token volume name as `kube-api-access-*`. */
function shown(message: string): string {
  return message.split(CANONICAL_API_VOLUME).join(SHOWN_API_VOLUME);
}
