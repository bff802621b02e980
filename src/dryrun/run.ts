/**
 * The evaluation behind `tokenguard test`: every manifest object through the same path a
 * cluster takes (ServiceAccount admission plugin, mutating webhook, patch, reinvocation,
 * validating webhook), the webhook answering from the server's engine (webhook.ts). Pure: no
 * file system, no clock.
 */
import fastJsonPatch from 'fast-json-patch';
import { DEFAULT_API_AUDIENCES } from '../constants.js';
import { policyLabel } from '../engine/messages.js';
import { allContainers, tokenSources } from '../engine/pod.js';
import { secretServiceAccount } from '../engine/rules/legacy-secret.js';
import type { ClusterFacts, PatchOperation, Phase, RuleResult } from '../engine/types.js';
import { staticFacts } from '../facts/static.js';
import { addObservedUse } from '../facts/usage.js';
import type { FactsRequest } from '../facts/types.js';
import type { UsageFacts } from '../usage/facts.js';
import { type JsonObject, jsonEqual, objectAt, objectsAt, stringAt } from '../json.js';
import { byName, type TokenPolicy } from '../policy/types.js';
import type { ManifestError, ManifestObject } from './manifests.js';
import { type Classified, classify, isFactKind, tokenSecretFact } from './objects.js';
import {
  applyTokenDefaults,
  type PluginServiceAccount,
  type PluginSimulation,
  seededSuffix,
  simulateServiceAccountAdmission,
} from './plugin.js';
import {
  type Finding,
  type ObjectReport,
  type Outcome,
  type PluginReport,
  type PolicyStatus,
  type PolicyVerdict,
  REPORT_SCHEMA_VERSION,
  type Report,
  summarize,
  type TokenLifetime,
} from './report.js';
import { type CreateRequest, type Webhook, type WebhookAnswer, type WebhookContext, webhookFor } from './webhook.js';
import { type ManifestEdit, planWriteBack, specAt } from './write-back.js';

export interface DryRunArgs {
  readonly policies: readonly TokenPolicy[];
  /** Manifest objects under test (fact kinds among them are used as facts too). */
  readonly objects: readonly ManifestObject[];
  /** Further fact objects (`--facts`): ServiceAccounts, Namespaces, RoleBindings, ClusterRoleBindings. */
  readonly facts?: readonly JsonObject[];
  /** Problems met while reading the inputs; reported, and they make the exit code 2. */
  readonly errors?: readonly ManifestError[];
  /** Namespace of objects that name none (`--namespace`, default `default`). */
  readonly namespace?: string;
  /** Take the bindings given as all there are (`--bindings-complete`). */
  readonly bindingsComplete?: boolean;
  /** The API server's own audiences (`--api-audience`, globs); default the engine's (docs/tokens.md). */
  readonly apiAudiences?: readonly string[];
  /** The 5 random characters of a generated name, from a seed (default {@link seededSuffix}). */
  readonly suffix?: (seed: string) => string;
  /** Called after each object, for a progress bar. */
  readonly onProgress?: (done: number, total: number) => void;
  /**
   * What answers in the webhook's place (default: the webhook itself, webhook.ts); `tokenguard
   * test --engine vap` passes the exported admission policies (admission-policies.ts).
   */
  readonly webhook?: (ctx: WebhookContext, request: CreateRequest) => Webhook;
  /** Observed use (TokenUsage documents among `--facts`), for `automount.needed.observedWithin`. */
  readonly usage?: UsageFacts;
  /** The time observed use is measured against (ms since the epoch; the caller's clock). */
  readonly now?: number;
}

/**
 * Evaluates manifests the way a cluster would admit them, and reports per object.
 *
 * @example
 * const report = runDryRun({ policies, objects: parseManifests(text, 'app.yaml').objects });
 * process.exitCode = exitCode(report, { failOnWarn: false });
 */
export function runDryRun(args: DryRunArgs): Report {
  const dryRun = createDryRun({ ...args, manifestFacts: args.objects.flatMap((o) => manifestFact(o.object)) });
  const objects: ObjectReport[] = [];
  args.objects.forEach((m, i) => {
    objects.push(dryRun.evaluate(m));
    args.onProgress?.(i + 1, args.objects.length);
  });
  return dryRun.report(objects, args.errors ?? []);
}

/**
 * What a manifest object gives the facts: a fact kind itself, a token Secret as
 * {@link tokenSecretFact} reduces it (its data is never kept), anything else nothing.
 */
export function manifestFact(object: JsonObject): JsonObject[] {
  if (isFactKind(object)) return [object];
  const secret = tokenSecretFact(object);
  return secret ? [secret] : [];
}

export interface CreateDryRunArgs extends Omit<DryRunArgs, 'objects' | 'errors' | 'onProgress'> {
  /**
   * The fact objects among the manifests, as {@link manifestFact} gives them (read before any
   * object is evaluated: a pod may come before its ServiceAccount or its token Secret).
   */
  readonly manifestFacts: readonly JsonObject[];
  /** Keep each report's `admission` (the objects the webhooks were given); default true. Off, a report holds no copy of its object. */
  readonly keepAdmission?: boolean;
}

/** A dry run that evaluates one object at a time, for inputs read one document at a time. */
export interface DryRun {
  evaluate(m: ManifestObject): ObjectReport;
  report(objects: readonly ObjectReport[], errors: readonly ManifestError[]): Report;
}

/** Sets up the facts once; {@link DryRun.evaluate} then judges objects in any number, in input order. */
export function createDryRun(args: CreateDryRunArgs): DryRun {
  const namespace = args.namespace || 'default';
  const suffix = args.suffix ?? seededSuffix;
  const factObjects = [...args.manifestFacts, ...(args.facts ?? [])]
    .filter(isFactKind)
    .map((o) => withNamespace(o, namespace));
  const apiAudiences = args.apiAudiences && args.apiAudiences.length > 0 ? args.apiAudiences : DEFAULT_API_AUDIENCES;
  const facts = staticFacts(factObjects, { bindingsComplete: args.bindingsComplete === true, apiAudiences });
  const accounts = pluginAccounts(factObjects);
  const usage = args.usage && args.now !== undefined ? { facts: args.usage, now: args.now } : undefined;
  const tokenSecrets = tokenSecretsByNamespace([...args.manifestFacts, ...(args.facts ?? [])], namespace);
  const lookup = (req: FactsRequest): ClusterFacts => {
    const f = facts.lookup(req);
    if (f instanceof Promise) throw new Error('static facts must answer synchronously');
    const known = tokenSecrets.get(req.namespace);
    const withSecrets = known ? { ...f, tokenSecrets: known } : f;
    return usage ? addObservedUse(withSecrets, req, usage.facts, usage.now) : withSecrets;
  };
  const ctx: Context = {
    policies: args.policies,
    namespace,
    suffix,
    lookup,
    accounts,
    apiAudiences,
    webhook: args.webhook ?? webhookFor,
  };
  const identities = new IdentityIndex(namespace);
  const keep = args.keepAdmission !== false;
  return {
    evaluate(m) {
      const r = evaluateObject(m, ctx);
      const again = identities.see(m);
      const out = again ? { ...r, notes: [...r.notes, again] } : r;
      if (keep || out.admission === undefined) return out;
      const { admission: _dropped, ...slim } = out;
      return slim;
    },
    report(objects, errors) {
      return {
        schemaVersion: REPORT_SCHEMA_VERSION,
        policies: [...args.policies]
          .sort(byName)
          .map((p) => ({ name: p.name, mode: p.spec.mode, file: p.source.file, document: p.source.document })),
        objects: [...objects],
        errors: [...errors],
        summary: summarize(objects, errors),
      };
    },
  };
}

/**
 * Remembers where each object (API group, kind, namespace, name) was first defined, and says
 * so when it comes again: kubectl would apply both, and the later one wins in the cluster.
 */
export class IdentityIndex {
  private readonly first = new Map<string, string>();
  constructor(private readonly defaultNamespace: string) {}

  /** The note for an object defined before, naming both places; undefined the first time. */
  see(m: ManifestObject): string | undefined {
    const o = m.object;
    const kind = stringAt(o, 'kind');
    const md = objectAt(o, 'metadata');
    const name = stringAt(md, 'name');
    if (!kind || !name) return undefined;
    const group = (stringAt(o, 'apiVersion') ?? '').split('/').slice(0, -1).join('/');
    const ns = CLUSTER_SCOPED.has(kind) ? '' : stringAt(md, 'namespace') || this.defaultNamespace;
    const key = `${group}\u0000${kind}\u0000${ns}\u0000${name}`;
    const here = `${m.file}:${m.line}`;
    const before = this.first.get(key);
    if (before === undefined) {
      this.first.set(key, here);
      return undefined;
    }
    return duplicateDefinitionNote(`${kind} ${ns ? `${ns}/` : ''}${name}`, before, here);
  }
}

/** Kinds without a namespace, among those manifests commonly hold. */
const CLUSTER_SCOPED: ReadonlySet<string> = new Set([
  'Namespace',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
  'PersistentVolume',
  'StorageClass',
  'PriorityClass',
  'ValidatingWebhookConfiguration',
  'MutatingWebhookConfiguration',
  'ValidatingAdmissionPolicy',
  'ValidatingAdmissionPolicyBinding',
  'APIService',
  'IngressClass',
  'RuntimeClass',
  'Node',
]);

interface Context {
  readonly policies: readonly TokenPolicy[];
  readonly namespace: string;
  readonly suffix: (seed: string) => string;
  readonly lookup: (req: FactsRequest) => ClusterFacts;
  readonly accounts: ReadonlyMap<string, PluginServiceAccount>;
  readonly apiAudiences: readonly string[];
  readonly webhook: (ctx: WebhookContext, request: CreateRequest) => Webhook;
}

function evaluateObject(m: ManifestObject, ctx: Context): ObjectReport {
  const object = m.object;
  const md = objectAt(object, 'metadata');
  const kind = stringAt(object, 'kind') ?? '';
  const base = {
    file: m.file,
    document: m.document,
    ...(m.item !== undefined ? { item: m.item } : {}),
    line: m.line,
    ...(m.source !== undefined ? { source: m.source } : {}),
    apiVersion: stringAt(object, 'apiVersion') ?? '',
    kind,
    name: stringAt(md, 'name') ?? stringAt(md, 'generateName') ?? '',
  };
  const empty = {
    mutated: false,
    denials: [],
    warnings: [],
    changes: [],
    patch: [],
    policies: [],
    notes: [],
    manifestEdits: [],
  };
  let c: Classified;
  try {
    c = classify(object, ctx.namespace);
  } catch (e) {
    c = { role: 'error', reason: (e as Error).message };
  }
  if (c.role === 'skip' || c.role === 'error' || c.role === 'fact') {
    const ns = stringAt(md, 'namespace') ?? (c.role === 'fact' && namespaced(kind) ? ctx.namespace : '');
    const outcome: Outcome = c.role === 'skip' ? 'skipped' : c.role;
    const reason = c.role === 'fact' ? factReason(kind) : c.reason;
    return { ...base, namespace: ns, outcome, reason, ...empty };
  }
  try {
    return c.role === 'secret' ? evaluateSecret(c, base, ctx) : evaluatePod(m, c, base, ctx);
  } catch (e) {
    // A bug, not a policy outcome: say so, and let the exit code say the run is not trustworthy.
    return {
      ...base,
      namespace: c.namespace,
      outcome: 'error',
      reason: `internal error: ${(e as Error).message}`,
      ...empty,
    };
  }
}

type Base = Pick<ObjectReport, 'file' | 'document' | 'item' | 'line' | 'source' | 'apiVersion' | 'kind' | 'name'>;

function evaluateSecret(c: Extract<Classified, { role: 'secret' }>, base: Base, ctx: Context): ObjectReport {
  const webhook = ctx.webhook(
    { policies: ctx.policies, facts: ctx.lookup },
    { kind: 'Secret', namespace: c.namespace, username: 'tokenguard-test' },
  );
  const mutate = webhook('mutate', c.secret);
  const final = mutate.patch.length > 0 ? applyPatch(c.secret, mutate.patch) : c.secret;
  const validate = webhook('validate', final);
  const report = assemble({
    policies: ctx.policies,
    base,
    namespace: c.namespace,
    mutations: [mutate],
    validate,
    notes: [],
    manifestEdits: [],
  });
  return { ...report, admission: { given: c.secret, judged: final } };
}

function evaluatePod(
  m: ManifestObject,
  c: Extract<Classified, { role: 'pod' }>,
  base: Base,
  ctx: Context,
): ObjectReport {
  const seed = `${m.file}#${m.document}${m.item !== undefined ? `#${m.item}` : ''}`;
  let counter = 0;
  const suffix = () => ctx.suffix(counter++ === 0 ? seed : `${seed}#${counter}`);
  const plugin = (pod: JsonObject) =>
    simulateServiceAccountAdmission({
      pod,
      suffix,
      serviceAccount: (name) => ctx.accounts.get(`${c.namespace}/${name}`),
    });
  const username = c.controller ? `system:serviceaccount:kube-system:${c.controller}` : 'tokenguard-test';
  const admitted = admitPod(c.pod, {
    plugin,
    webhook: ctx.webhook(
      { policies: ctx.policies, facts: ctx.lookup },
      { kind: 'Pod', namespace: c.namespace, username },
    ),
  });
  const notes: string[] = [];
  const sim = admitted.plugin;
  if (sim.mirror) notes.push('mirror pod: the ServiceAccount plugin and tokenguard leave it alone');
  else if (!sim.serviceAccountKnown && sim.serviceAccountName !== 'default') {
    notes.push(
      `ServiceAccount ${c.namespace}/${sim.serviceAccountName} is in neither the inputs nor --facts: taken to exist with automount unset (a missing one fails the pod with 403)`,
    );
  }
  if (admitted.reinvocation) {
    notes.push(
      `reinvocation: the ServiceAccount plugin ran again and ${admitted.reinvocation.changes.join('; ') || 'changed the pod'}`,
    );
  }
  // Only tokenguard's own changes go back into the manifest (never the plugin's volume).
  let edits: ManifestEdit[] = [];
  const patched = admitted.mutations.some((r) => r.patch.length > 0);
  if (patched) {
    const manifestSpec = specAt(m.object, c.specPath) ?? {};
    const plan = planWriteBack(
      manifestSpec,
      objectAt(sim.pod, 'spec') ?? {},
      objectAt(admitted.final, 'spec') ?? {},
      c.specPath,
    );
    edits = plan.edits;
    for (const u of plan.unwritable) notes.push(`made at admission only (not expressible in the manifest): ${u}`);
  }
  const podMd = objectAt(c.pod, 'metadata');
  const pod =
    base.kind === 'Pod'
      ? undefined
      : { name: stringAt(podMd, 'name') ?? '', generateName: stringAt(podMd, 'generateName') ?? '' };
  const pluginReport: PluginReport = {
    mirror: sim.mirror,
    serviceAccountName: sim.serviceAccountName,
    serviceAccountKnown: sim.serviceAccountKnown,
    automount: sim.automount,
    automountFrom: sim.automountFrom,
    tokenVolume: sim.tokenVolume,
    changes: sim.changes,
  };
  const report = assemble({
    policies: ctx.policies,
    base,
    namespace: c.namespace,
    mutations: admitted.mutations,
    validate: admitted.validate,
    plugin: pluginReport,
    tokens: tokenLifetimes(admitted.final, ctx.apiAudiences),
    notes,
    manifestEdits: edits,
  });
  const admission = { given: sim.pod, judged: admitted.final };
  return pod ? { ...report, pod, admission } : { ...report, admission };
}

/** What happened to one pod on its way through admission. */
export interface AdmittedPod {
  /** The first ServiceAccount plugin pass; its pod is what the webhook was first given. */
  readonly plugin: PluginSimulation;
  /** Every mutating webhook call, in order (a second one only on reinvocation). */
  readonly mutations: readonly WebhookAnswer[];
  /** Set when the plugin changed the pod again after the webhook's patch (reinvocation). */
  readonly reinvocation: PluginSimulation | undefined;
  /** The pod the validating webhook judged. */
  readonly final: JsonObject;
  readonly validate: WebhookAnswer;
}

/**
 * Admits one pod the way kube-apiserver orders it (docs/kubernetes.md "Admission order"):
 *
 * | step | what                                                                                     |
 * |------|------------------------------------------------------------------------------------------|
 * | 1    | decoding defaults (projected `defaultMode`, token `expirationSeconds`)                   |
 * | 2    | the ServiceAccount admission plugin                                                      |
 * | 3    | the mutating webhook; its JSON Patch applied                                             |
 * | 4    | if the patch changed the pod, reinvocation: the plugin again, and, only if the plugin changed the pod, the webhook again (`reinvocationPolicy: IfNeeded`) |
 * | 5    | defaults again, then the validating webhook on the result                                 |
 */
export function admitPod(
  pod: JsonObject,
  deps: { readonly plugin: (pod: JsonObject) => PluginSimulation; readonly webhook: Webhook },
): AdmittedPod {
  const first = deps.plugin(applyTokenDefaults(pod));
  const mutations: WebhookAnswer[] = [];
  const m1 = deps.webhook('mutate', first.pod);
  mutations.push(m1);
  let current = m1.patch.length > 0 ? applyPatch(first.pod, m1.patch) : first.pod;
  let reinvocation: PluginSimulation | undefined;
  if (m1.patch.length > 0 && !first.mirror) {
    const again = deps.plugin(current);
    if (!jsonEqual(again.pod, current)) {
      reinvocation = again;
      const m2 = deps.webhook('mutate', again.pod);
      mutations.push(m2);
      current = m2.patch.length > 0 ? applyPatch(again.pod, m2.patch) : again.pod;
    }
  }
  const final = applyTokenDefaults(current);
  return { plugin: first, mutations, reinvocation, final, validate: deps.webhook('validate', final) };
}

function applyPatch(object: JsonObject, patch: readonly PatchOperation[]): JsonObject {
  return fastJsonPatch.applyPatch(structuredClone(object), patch as fastJsonPatch.Operation[], true, false)
    .newDocument as JsonObject;
}

interface AssembleArgs {
  readonly policies: readonly TokenPolicy[];
  readonly base: Base;
  readonly namespace: string;
  /** Every mutating webhook call, in order. */
  readonly mutations: readonly WebhookAnswer[];
  readonly validate: WebhookAnswer;
  /** For pods: what the ServiceAccount plugin did, and the tokens of the admitted pod. */
  readonly plugin?: PluginReport;
  readonly tokens?: TokenLifetime[];
  readonly notes: string[];
  readonly manifestEdits: ManifestEdit[];
}

/** The report on one object from its webhook calls. */
function assemble({
  policies,
  base,
  namespace,
  mutations,
  validate,
  plugin,
  tokens,
  notes,
  manifestEdits,
}: AssembleArgs): ObjectReport {
  const allowed = validate.allowed;
  const denials = validate.results
    .filter((r) => r.mode === 'Enforce' && (r.status === 'fail' || r.status === 'error'))
    .map(finding);
  if (!allowed && denials.length === 0) {
    denials.push({ policy: '', rule: '', mode: 'Enforce', message: validate.refusal ?? 'denied' });
  }
  const warnings = [...new Set([...mutations.flatMap((m) => m.warnings), ...validate.warnings])];
  const changes = mutations.flatMap((m) =>
    m.results.filter((r) => r.mode === 'Enforce' && r.status === 'mutate').map(finding),
  );
  const patch = mutations.flatMap((m) => m.patch);
  const mutated = patch.length > 0;
  const outcome: Outcome = !allowed ? 'denied' : warnings.length > 0 ? 'warned' : mutated ? 'mutated' : 'passed';
  return {
    ...base,
    namespace,
    outcome,
    mutated,
    denials,
    warnings,
    changes,
    patch,
    ...(plugin ? { plugin } : {}),
    ...(tokens ? { tokens } : {}),
    policies: verdicts(policies, mutations, validate),
    notes,
    manifestEdits,
  };
}

function finding(r: RuleResult): Finding {
  return { policy: policyLabel(r.policies), rule: r.rule, mode: r.mode, message: r.message };
}

/**
 * Per policy, over both phases, the most telling status:
 *
 * | status | when                                                                               |
 * |--------|------------------------------------------------------------------------------------|
 * | fail   | an Enforce rule failed or errored when validating the admitted object (denied)      |
 * | warn   | a `warn` result, any Audit fail/error/mutate, or an Enforce rule the mutating side could not fix |
 * | mutate | an Enforce rule changed the object                                                  |
 * | pass   | it matched and every rule passed                                                    |
 * | skip   | it did not match, or says nothing about this kind of object                         |
 */
function verdicts(
  policies: readonly TokenPolicy[],
  mutations: readonly WebhookAnswer[],
  validate: WebhookAnswer,
): PolicyVerdict[] {
  const byPolicy = new Map<string, { mode: RuleResult['mode']; results: { r: RuleResult; phase: Phase }[] }>();
  const add = (r: RuleResult, phase: Phase) => {
    for (const name of r.policies) {
      const e = byPolicy.get(name) ?? { mode: r.mode, results: [] };
      e.results.push({ r, phase });
      byPolicy.set(name, e);
    }
  };
  for (const m of mutations) for (const r of m.results) add(r, 'mutate');
  for (const r of validate.results) add(r, 'validate');
  const out: PolicyVerdict[] = [];
  for (const [policy, { mode, results }] of byPolicy) {
    const bad = (x: { r: RuleResult }) => x.r.status === 'fail' || x.r.status === 'error';
    const fail = results.filter((x) => x.phase === 'validate' && x.r.mode === 'Enforce' && bad(x));
    const warn = results.filter(
      (x) =>
        x.r.status === 'warn' ||
        (x.r.mode === 'Audit' && (bad(x) || x.r.status === 'mutate')) ||
        (x.phase === 'mutate' && x.r.mode === 'Enforce' && bad(x)),
    );
    const mutate = results.filter((x) => x.r.mode === 'Enforce' && x.r.status === 'mutate');
    // A pass is told once: as the validating side (the final word) judged it, when it did.
    const passes = results.filter((x) => x.r.status === 'pass');
    const pass = passes.some((x) => x.phase === 'validate') ? passes.filter((x) => x.phase === 'validate') : passes;
    const [status, chosen]: [PolicyStatus, typeof results] =
      fail.length > 0
        ? ['fail', fail]
        : warn.length > 0
          ? ['warn', warn]
          : mutate.length > 0
            ? ['mutate', mutate]
            : pass.length > 0
              ? ['pass', pass]
              : ['skip', results];
    const seen = new Set<string>();
    const picked = chosen.filter(
      (x) => !seen.has(`${x.r.rule}\n${x.r.message}`) && seen.add(`${x.r.rule}\n${x.r.message}`),
    );
    out.push({ policy, mode, status, results: picked.map((x) => ({ rule: x.r.rule, message: x.r.message })) });
  }
  for (const p of policies) {
    if (byPolicy.has(p.name)) continue;
    const why =
      p.spec.mode === 'Off' ? 'mode Off' : 'no rule applied (not matched, or nothing in this object to check)';
    out.push({ policy: p.name, mode: p.spec.mode, status: 'skip', results: [{ rule: 'match', message: why }] });
  }
  return out.sort((a, b) => (a.policy < b.policy ? -1 : a.policy > b.policy ? 1 : 0));
}

/**
 * The real lifetime of every projected token in the admitted pod (docs/tokens.md "Extension to
 * a year"): a token asking for exactly 3607 s for the API server's audience (none, or one of
 * `apiAudiences`) is what API servers with `--service-account-extend-token-expiration` (the
 * default) issue for a year, whoever's volume it is; every other token lives exactly its
 * `expirationSeconds`, capped by `--service-account-max-token-expiration` when that is set.
 */
export function tokenLifetimes(pod: JsonObject, apiAudiences: readonly string[]): TokenLifetime[] {
  const spec = objectAt(pod, 'spec') ?? {};
  const mounts = new Map<string, string[]>();
  for (const c of allContainers(spec)) {
    for (const vm of objectsAt(c.container, 'volumeMounts')) {
      const n = stringAt(vm, 'name') ?? '';
      const list = mounts.get(n) ?? [];
      const who = `${c.field}/${c.name}`;
      if (!list.includes(who)) list.push(who);
      mounts.set(n, list);
    }
  }
  return tokenSources(spec, apiAudiences).map((s) => {
    const extended = s.lifetimeSeconds !== s.expirationSeconds;
    const containers = mounts.get(s.volumeName) ?? [];
    const notes: string[] = [];
    if (extended) {
      notes.push(
        'API servers with --service-account-extend-token-expiration (on by default) stretch a 3607 s request to 1 year; the kubelet still refreshes it after about 48 minutes',
      );
    } else
      notes.push(`lives exactly ${s.expirationSeconds} s (less if --service-account-max-token-expiration is lower)`);
    if (containers.length === 0)
      notes.push(
        'no container mounts it, so the kubelet does not request it until one does (an ephemeral container can)',
      );
    return {
      volume: s.volumeName,
      audience: s.audience,
      expirationSeconds: s.expirationSeconds,
      lifetimeSeconds: s.lifetimeSeconds,
      extended,
      apiToken: s.isPluginVolume,
      containers,
      note: notes.join('; '),
    };
  });
}

function namespaced(kind: string): boolean {
  return kind !== 'Namespace' && kind !== 'ClusterRoleBinding';
}

/** A namespaced fact object without a namespace belongs to `--namespace`, as `kubectl apply -n` would place it. */
function withNamespace(o: JsonObject, namespace: string): JsonObject {
  const kind = stringAt(o, 'kind') ?? '';
  if (!namespaced(kind) || stringAt(objectAt(o, 'metadata'), 'namespace')) return o;
  return { ...o, metadata: { ...(objectAt(o, 'metadata') ?? {}), namespace } };
}

/**
 * The token Secrets among the inputs, by namespace (`--namespace` for those that name none),
 * then name, to the ServiceAccount they name: what rule legacy-token-mount reads. A Secret
 * that is not among them is not known to be one, and a pod referring to it is not reported.
 */
function tokenSecretsByNamespace(objects: readonly JsonObject[], namespace: string): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>();
  for (const o of objects) {
    const s = tokenSecretFact(o);
    if (!s) continue;
    const md = objectAt(s, 'metadata');
    const ns = stringAt(md, 'namespace') || namespace;
    const names = out.get(ns) ?? new Map<string, string>();
    names.set(stringAt(md, 'name') ?? '', secretServiceAccount(s) ?? '');
    out.set(ns, names);
  }
  return out;
}

/** The ServiceAccounts the plugin can look up, by `namespace/name`. */
function pluginAccounts(objects: readonly JsonObject[]): Map<string, PluginServiceAccount> {
  const out = new Map<string, PluginServiceAccount>();
  for (const o of objects) {
    if (stringAt(o, 'kind') !== 'ServiceAccount') continue;
    const md = objectAt(o, 'metadata');
    const name = stringAt(md, 'name');
    if (!name) continue;
    const automount = o.automountServiceAccountToken;
    const pulls = objectsAt(o, 'imagePullSecrets')
      .map((s) => stringAt(s, 'name'))
      .filter((n): n is string => !!n);
    out.set(`${stringAt(md, 'namespace')}/${name}`, {
      ...(typeof automount === 'boolean' ? { automountServiceAccountToken: automount } : {}),
      imagePullSecrets: pulls,
    });
  }
  return out;
}

function factReason(kind: string): string {
  switch (kind) {
    case 'ServiceAccount':
      return 'used as a fact (automount, annotations, imagePullSecrets)';
    case 'Namespace':
      return 'used as a fact (labels)';
    default:
      return 'used as a fact (subjects)';
  }
}

/** The note for an object defined twice: kubectl applies both, so the later one is what the cluster keeps. */
function duplicateDefinitionNote(object: string, first: string, again: string): string {
  return `${object} is defined twice, at ${first} and at ${again}: kubectl applies both, and the later one is what the cluster keeps`;
}
