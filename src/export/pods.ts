/**
 * The pod rules (src/engine/rules/automount.ts, api-token-expiration.ts, bounds.ts, inject.ts,
 * ephemeral-token.ts) as CEL: the variables and denial lists of the validating policies, and the
 * JSON Patch mutations of the mutating ones. Each function returns CEL text for one policy; the
 * denial lists hold the webhook's own `policy/rule: message` lines, in its order.
 *
 * A pod's tokens are read once into `variables.tokens`: per volume, the list of its
 * `serviceAccountToken` sources as `{volume, audience, exp, api, life, plugin}`, `life` being what
 * the API server issues (docs/tokens.md "Extension to a year"). Lists of lists are never
 * flattened (Kubernetes CEL has no `flatten`): messages are joined per volume, then across.
 */
import {
  API_TOKEN_DEFAULT_EXPIRATION_SECONDS,
  API_TOKEN_VOLUME_PREFIX,
  DEFAULT_PROJECTED_EXPIRATION_SECONDS,
  EXTENDED_EXPIRATION_SECONDS,
  MAX_EXPIRATION_SECONDS,
  MIN_EXPIRATION_SECONDS,
  MIRROR_POD_ANNOTATION,
  PROJECTED_DEFAULT_MODE,
  ROOT_CA_CONFIGMAP,
} from '../constants.js';
import { boundedExpiration, podBoundLifetime } from '../engine/api-token.js';
import { injectionWithDefaults } from '../engine/rules/inject.js';
import type { AutomountNeeded } from '../policy/types.js';
import { allOf, anyOf, globs, jsonPatch, jsonQuote, not, orDefault, str } from './cel.js';
import { NAMESPACE, POD_SERVICE_ACCOUNT, serviceAccountPatterns } from './match.js';
import type { MatchCondition, Variable } from './objects.js';

/** Mirror pods are left alone, as by the webhooks (docs/kubernetes.md "Mirror pods"). */
export const SKIP_MIRROR_PODS: MatchCondition = {
  name: 'skip-mirror-pods',
  expression: `!has(object.metadata.annotations) || !(${str(MIRROR_POD_ANNOTATION)} in object.metadata.annotations)`,
};

const SPEC = 'object.spec';
const listAt = (path: string) => orDefault(path, '[]');

/** The audience of the token source `s` (a CEL variable name), `''` when absent. */
const audienceOf = (s: string) => orDefault(`${s}.serviceAccountToken.audience`, "''");
/** `expirationSeconds` of `s`, 3600 when absent (Kubernetes' default). */
const expirationOf = (s: string) =>
  orDefault(`${s}.serviceAccountToken.expirationSeconds`, String(DEFAULT_PROJECTED_EXPIRATION_SECONDS));

/** CEL true when `audience` is the API server's own: empty, or one of the API audiences (globs). */
export function isApiAudience(audience: string, apiAudiences: readonly string[]): string {
  return anyOf([`${audience} == ''`, globs(apiAudiences, audience)]);
}

const isApiSource = (s: string, api: readonly string[]) => isApiAudience(audienceOf(s), api);
/** What the token of `s` lives: a year for 3607 s and an API audience, else its expiration. */
const lifeOf = (s: string, api: readonly string[]) =>
  `(${expirationOf(s)} == ${API_TOKEN_DEFAULT_EXPIRATION_SECONDS} && ${isApiSource(s, api)} ? ${EXTENDED_EXPIRATION_SECONDS} : ${expirationOf(s)})`;

/** The sources of volume `v`, `[]` for a volume that is not projected. */
const sourcesOf = (v: string) => `(has(${v}.projected) && has(${v}.projected.sources) ? ${v}.projected.sources : [])`;

/** `only(source, key)` of src/engine/api-token.ts: the source has exactly `key`, an object. */
const only = (s: string, key: string) => `${s}.all(k, k == ${str(key)}) && has(${s}.${key})`;
const onlyKeys = (o: string, keys: readonly string[]) => `${o}.all(k, k in [${keys.map(str).join(', ')}])`;
const fieldIs = (o: string, field: string, value: string) => `has(${o}.${field}) && ${o}.${field} == ${value}`;

function configMapItem(s: string, name: string, key: string): string {
  const c = `${s}.configMap`;
  const item = `${c}.items[0]`;
  return [
    only(s, 'configMap'),
    onlyKeys(c, ['name', 'items']),
    fieldIs(c, 'name', str(name)),
    `has(${c}.items) && size(${c}.items) == 1`,
    onlyKeys(item, ['key', 'path']),
    fieldIs(item, 'key', str(key)),
    fieldIs(item, 'path', str(key)),
  ].join(' && ');
}

function namespaceItem(s: string): string {
  const d = `${s}.downwardAPI`;
  const item = `${d}.items[0]`;
  const ref = `${item}.fieldRef`;
  return [
    only(s, 'downwardAPI'),
    onlyKeys(d, ['items']),
    `has(${d}.items) && size(${d}.items) == 1`,
    onlyKeys(item, ['path', 'fieldRef']),
    fieldIs(item, 'path', "'namespace'"),
    `has(${ref})`,
    onlyKeys(ref, ['apiVersion', 'fieldPath']),
    `(!has(${ref}.apiVersion) || ${ref}.apiVersion == 'v1')`,
    fieldIs(ref, 'fieldPath', "'metadata.namespace'"),
  ].join(' && ');
}

function pluginToken(s: string): string {
  const t = `${s}.serviceAccountToken`;
  return [
    only(s, 'serviceAccountToken'),
    onlyKeys(t, ['path', 'expirationSeconds', 'audience']),
    fieldIs(t, 'path', "'token'"),
    `(!has(${t}.audience) || ${t}.audience == '')`,
    `has(${t}.expirationSeconds) && ${t}.expirationSeconds <= ${API_TOKEN_DEFAULT_EXPIRATION_SECONDS}`,
  ].join(' && ');
}

/**
 * CEL true when volume `v` is the ServiceAccount plugin's, by its whole shape, as
 * `isPluginTokenVolume` (src/engine/api-token.ts, docs/tokens.md "The plugin's volume") decides.
 */
export function isPluginVolume(v: string): string {
  const p = `${v}.projected`;
  const src = (i: number) => `${p}.sources[${i}]`;
  return [
    `has(${v}.name) && ${v}.name.startsWith(${str(API_TOKEN_VOLUME_PREFIX)})`,
    onlyKeys(v, ['name', 'projected']),
    `has(${p})`,
    onlyKeys(p, ['sources', 'defaultMode']),
    `(!has(${p}.defaultMode) || ${p}.defaultMode == ${PROJECTED_DEFAULT_MODE})`,
    `has(${p}.sources) && (size(${p}.sources) == 3 || size(${p}.sources) == 4)`,
    pluginToken(src(0)),
    configMapItem(src(1), ROOT_CA_CONFIGMAP, 'ca.crt'),
    namespaceItem(src(2)),
    `(size(${p}.sources) == 3 || (${configMapItem(src(3), 'openshift-service-ca.crt', 'service-ca.crt')}))`,
  ].join(' && ');
}

/** The variables every pod policy starts with: volumes, containers, the plugin's volumes, the tokens. */
export function podVariables(api: readonly string[]): Variable[] {
  const token = (s: string) =>
    `{'volume': dyn(v.name), 'audience': dyn(${audienceOf(s)}), 'exp': dyn(${expirationOf(s)}), 'api': dyn(${isApiSource(s, api)}), 'life': dyn(${lifeOf(s, api)}), 'plugin': dyn(v.name in variables.pluginVolumes)}`;
  return [
    { name: 'volumes', expression: listAt(`${SPEC}.volumes`) },
    {
      name: 'containers',
      expression: `${listAt(`${SPEC}.initContainers`)} + ${listAt(`${SPEC}.containers`)} + ${listAt(`${SPEC}.ephemeralContainers`)}`,
    },
    { name: 'pluginVolumes', expression: `variables.volumes.filter(v, ${isPluginVolume('v')}).map(v, v.name)` },
    {
      name: 'tokens',
      expression: `variables.volumes.map(v, ${sourcesOf('v')}.filter(s, has(s.serviceAccountToken)).map(s, ${token('s')}))`,
    },
  ];
}

/** `expirationSeconds 3600`, or `expirationSeconds 3607 (extended to 31536000 s)` (`describeLifetime`). */
function describe(exp: string, life: string, max: number): string {
  return `(${life} == ${exp} || ${exp} > ${max} ? 'expirationSeconds ' + string(${exp}) : 'expirationSeconds ' + string(${exp}) + ' (extended to ' + string(${life}) + ' s)')`;
}

/** `label/rule: ` before each line, as the webhook's denials read (src/engine/messages.ts). */
const prefix = (label: string, rule: string) => str(`${label}/${rule}: `);

/** Lines of `perToken` over every token, joined per volume, empty ones dropped. */
function perToken(filter: string, line: string): string {
  return `variables.tokens.map(l, l.filter(t, ${filter}).map(t, ${line}).join('; ')).filter(x, x != '')`;
}

// ---------------------------------------------------------------------------------------------
// automount
// ---------------------------------------------------------------------------------------------

/** How a policy's `automount.needed` comes out without cluster facts. */
export interface NeededPlan {
  /** CEL for "the pod needs the API" from what the request shows (and `params`, the pod's ServiceAccount, when used). */
  readonly expression: string;
  /** True when the ServiceAccount's annotation is read from `params` (a ServiceAccount). */
  readonly usesServiceAccount: boolean;
  /** True when every pod needs the API (rbacBound or observedWithin with whenUnknown Needed): nothing to enforce. */
  readonly alwaysNeeded: boolean;
}

/** The parameter of an evaluation is the pod's own ServiceAccount (`params` being each ServiceAccount of the namespace). */
export const OWN_SERVICE_ACCOUNT = `params != null && params.metadata.name == ${POD_SERVICE_ACCOUNT}`;

/** `needed` of one policy (src/engine/rules/automount.ts `neededReason`), bindings being unknown. */
export function neededPlan(needed: AutomountNeeded | undefined): NeededPlan {
  if (!needed) return { expression: 'false', usesServiceAccount: false, alwaysNeeded: false };
  const terms: string[] = [];
  let usesServiceAccount = false;
  if (needed.annotation) {
    const key = str(needed.annotation);
    const annotated = (o: string) =>
      `(has(${o}.metadata.annotations) && ${key} in ${o}.metadata.annotations && ${o}.metadata.annotations[${key}] == 'true')`;
    terms.push(annotated('object'), `(params != null && ${annotated('params')})`);
    usesServiceAccount = true;
  }
  if (needed.serviceAccounts && needed.serviceAccounts.length > 0)
    terms.push(serviceAccountPatterns(needed.serviceAccounts, NAMESPACE, POD_SERVICE_ACCOUNT));
  // RBAC bindings and observed use are unknown to CEL: whenUnknown decides, as it does in the engine without facts.
  const rbacNeeded =
    (needed.rbacBound === true || needed.observedWithin !== undefined) && (needed.whenUnknown ?? 'Needed') === 'Needed';
  if (rbacNeeded) return { expression: 'true', usesServiceAccount: false, alwaysNeeded: true };
  return { expression: anyOf(terms), usesServiceAccount, alwaysNeeded: false };
}

/** Variables of the automount policies: which API token volumes are mounted and which are not. */
export function automountVariables(needed: NeededPlan): Variable[] {
  const mounted = (n: string) =>
    `variables.containers.exists(c, has(c.volumeMounts) && c.volumeMounts.exists(m, m.name == ${n}))`;
  return [
    { name: 'own', expression: needed.usesServiceAccount ? OWN_SERVICE_ACCOUNT : 'true' },
    { name: 'needed', expression: needed.expression },
    { name: 'apiVolumes', expression: 'variables.tokens.filter(l, l.exists(t, t.api)).map(l, l[0].volume)' },
    { name: 'apiMounted', expression: `variables.apiVolumes.filter(n, ${mounted('n')})` },
    { name: 'apiUnmounted', expression: 'variables.apiVolumes.filter(n, !(n in variables.apiMounted))' },
  ];
}

/** The automount failure of `validateAutomount`: every API token of a pod that does not need the API. */
export function automountDenials(label: string): string {
  const on = "(size(variables.apiMounted) > 0 ? 'pod mounts API token ' + variables.apiMounted.join(', ') : '')";
  const sep = "(size(variables.apiMounted) > 0 && size(variables.apiUnmounted) > 0 ? '; ' : '')";
  const off =
    "(size(variables.apiUnmounted) > 0 ? 'pod has API token ' + variables.apiUnmounted.join(', ') + ' (no container mounts it yet)' : '')";
  return `variables.needed || size(variables.apiVolumes) == 0 ? [] : [${prefix(label, 'automount')} + ${on} + ${sep} + ${off} + ' but does not need API access']`;
}

/** The ephemeral containers a `pods/ephemeralcontainers` UPDATE adds (src/engine/rules/ephemeral-token.ts). */
export const ADDED_EPHEMERAL: Variable = {
  name: 'addedEphemeral',
  expression: `${listAt(`${SPEC}.ephemeralContainers`)}.filter(c, !(c.name in (oldObject != null && has(oldObject.spec.ephemeralContainers) ? oldObject.spec.ephemeralContainers : []).map(o, o.name)))`,
};

/** `ephemeral-token` failures of the automount side: an added container mounting an API token of a pod that does not need it. */
export function ephemeralAutomountDenials(label: string): string {
  const names = 'variables.tokens.filter(l, l.exists(t, t.api)).map(l, l[0].volume)';
  return `variables.needed ? [] : variables.addedEphemeral.map(c, ${listAt('c.volumeMounts')}.filter(m, m.name in ${names}).map(m, ${prefix(label, 'ephemeral-token')} + 'ephemeral container ' + c.name + ' mounts API token ' + m.name + ', but the pod does not need API access').join('; ')).filter(x, x != '')`;
}

/**
 * The mutation of `mutateAutomount`: the plugin's volume and its mounts removed, and
 * `automountServiceAccountToken: false`, when the pod does not need the API.
 */
export function automountMutation(): string {
  const mounts = (field: 'initContainers' | 'containers') =>
    `${listAt(`${SPEC}.${field}`)}.filter(c, has(c.volumeMounts) && c.volumeMounts.exists(m, m.name in variables.pluginVolumes)).map(c, ${jsonPatch(
      'replace',
      `'/spec/${field}/' + string(${SPEC}.${field}.indexOf(c)) + '/volumeMounts'`,
      'c.volumeMounts.filter(m, !(m.name in variables.pluginVolumes))',
    )})`;
  const wasTrue = `(has(${SPEC}.automountServiceAccountToken) && ${SPEC}.automountServiceAccountToken == true)`;
  const volumes = `(size(variables.pluginVolumes) > 0 ? [${jsonPatch('replace', "'/spec/volumes'", 'variables.volumes.filter(v, !(v.name in variables.pluginVolumes))')}] : [])`;
  return `variables.own && !variables.needed && (size(variables.pluginVolumes) > 0 || ${wasTrue}) ? ${volumes} + ${mounts('initContainers')} + ${mounts('containers')} + [${jsonPatch('add', "'/spec/automountServiceAccountToken'", 'false')}] : []`;
}

// ---------------------------------------------------------------------------------------------
// api-token-expiration
// ---------------------------------------------------------------------------------------------

/** `validateApiTokenExpiration`: every API token living longer than `max`. */
export function apiTokenDenials(label: string, max: number): string {
  return perToken(
    `t.api && t.life > ${max}`,
    `${prefix(label, 'api-token-expiration')} + 'API token ' + t.volume + ' ' + ${describe('t.exp', 't.life', max)} + ' > ${max}'`,
  );
}

/** A token source `s` rebuilt with expiration `target` (its audience and path kept). */
function rebuilt(s: string, target: string): string {
  const t = `${s}.serviceAccountToken`;
  const rest = `'expirationSeconds': dyn(${target}), 'path': dyn(${t}.path)`;
  return `(has(${t}.audience) ? {'serviceAccountToken': {'audience': dyn(${t}.audience), ${rest}}} : {'serviceAccountToken': {${rest}}})`;
}

/** One mutation replacing the sources of every volume where `needs(s)` holds for some source, each such source given `target(s)`. */
function clampSources(needs: (s: string) => string, target: (s: string) => string): string {
  return `variables.volumes.filter(v, ${sourcesOf('v')}.exists(s, ${needs('s')})).map(v, ${jsonPatch(
    'replace',
    `'/spec/volumes/' + string(variables.volumes.indexOf(v)) + '/projected/sources'`,
    `v.projected.sources.map(s, ${needs('s')} ? ${rebuilt('s', target('s'))} : s)`,
  )})`;
}

/** `clamp(exp)` into `[lo, hi]`, then, for a token the API server extends, never 3607 (`boundedExpiration`); -1 when impossible. */
function boundedCel(exp: string, lo: number, hi: number, extendable: boolean): string {
  const clamp = `(${exp} < ${lo} ? ${lo} : (${exp} > ${hi} ? ${hi} : ${exp}))`;
  if (!extendable) return clamp;
  const d = API_TOKEN_DEFAULT_EXPIRATION_SECONDS;
  const instead = d - 1 >= lo ? d - 1 : d + 1 <= hi ? d + 1 : -1;
  return `(${clamp} == ${d} ? ${instead} : ${clamp})`;
}

/** `mutateApiTokenExpiration`: every API token over `max` shortened, never to 3607. */
export function apiTokenMutation(max: number, api: readonly string[]): string {
  const needs = (s: string) => `has(${s}.serviceAccountToken) && ${isApiSource(s, api)} && ${lifeOf(s, api)} > ${max}`;
  return clampSources(needs, (s) => boundedCel(expirationOf(s), 0, max, true));
}

// ---------------------------------------------------------------------------------------------
// bounds
// ---------------------------------------------------------------------------------------------

/** One policy's `projectedTokens.bounds`, defaults filled in (src/engine/rules/bounds.ts `planBounds`). */
export interface Bounds {
  readonly min: number;
  readonly max: number;
  readonly audiences: readonly string[] | undefined;
  readonly deny: boolean;
}

export function boundsOf(b: {
  minExpirationSeconds?: number;
  maxExpirationSeconds?: number;
  allowedAudiences?: readonly string[];
  onViolation?: 'Mutate' | 'Deny';
}): Bounds {
  return {
    min: Math.max(MIN_EXPIRATION_SECONDS, b.minExpirationSeconds ?? MIN_EXPIRATION_SECONDS),
    max: Math.min(MAX_EXPIRATION_SECONDS, b.maxExpirationSeconds ?? MAX_EXPIRATION_SECONDS),
    audiences: b.allowedAudiences,
    deny: b.onViolation === 'Deny',
  };
}

/** `validateBounds`: every token but the plugin's outside the bounds, or of an audience not allowed. */
export function boundsDenials(label: string, b: Bounds): string {
  const intersect =
    b.min > b.max ? `[${str(`${label}/token-bounds: bounds do not intersect: min ${b.min} > max ${b.max}`)}] + ` : '';
  const outside = `(t.life < ${b.min} || t.life > ${b.max} ? ${prefix(label, 'token-bounds')} + t.volume + ': ' + ${describe('t.exp', 't.life', b.max)} + ' outside [${b.min}, ${b.max}]' : '')`;
  const audience =
    b.audiences === undefined
      ? "''"
      : `(!t.api && ${not(globs(b.audiences, 't.audience'))} ? ${prefix(label, 'token-audience')} + t.volume + ': audience ' + ${jsonQuote('t.audience')} + ${str(` not allowed (allowed: ${b.audiences.join(', ') || 'none'})`)} : '')`;
  return `${intersect}${perToken('!t.plugin', `[${outside}, ${audience}].filter(x, x != '').join('; ')`)}`;
}

/**
 * `mutateBounds` with `onViolation: Mutate`: every token but the plugin's clamped into the bounds
 * (an API token of the pod's own into `apiTokenExpirationSeconds` too), never to 3607 for an API
 * token. Undefined when nothing can be clamped (Deny, or bounds that do not intersect).
 */
export function boundsMutation(b: Bounds, apiMax: number | undefined, api: readonly string[]): string | undefined {
  if (b.deny || b.min > b.max) return undefined;
  const apiHi = apiMax !== undefined ? Math.min(b.max, apiMax) : b.max;
  const exp = expirationOf;
  const life = (s: string) => lifeOf(s, api);
  const plain = (s: string) =>
    `(${life(s)} < ${b.min} || ${life(s)} > ${b.max}) && ${boundedCel(exp(s), b.min, b.max, false)} != ${exp(s)}`;
  const forApi = (s: string) =>
    b.min > apiHi
      ? 'false'
      : `(${life(s)} < ${b.min} || ${life(s)} > ${apiHi}) && ${boundedCel(exp(s), b.min, apiHi, true)} >= 0 && ${boundedCel(exp(s), b.min, apiHi, true)} != ${exp(s)}`;
  const needs = (s: string) =>
    `has(${s}.serviceAccountToken) && !(v.name in variables.pluginVolumes) && (${isApiSource(s, api)} ? ${forApi(s)} : ${plain(s)})`;
  const target = (s: string) =>
    `(${isApiSource(s, api)} ? ${boundedCel(exp(s), b.min, apiHi, true)} : ${boundedCel(exp(s), b.min, b.max, false)})`;
  return clampSources(needs, target);
}

// ---------------------------------------------------------------------------------------------
// inject-token
// ---------------------------------------------------------------------------------------------

/** An injection with its defaults, as the engine's inject rule fills them in. */
export type Injection = ReturnType<typeof injectionWithDefaults>;

export const injectionOf = injectionWithDefaults;

/** CEL true when source `s` is a token of the injection's audience and path. */
const sameToken = (s: string, inj: Injection) =>
  `has(${s}.serviceAccountToken) && ${audienceOf(s)} == ${str(inj.audience)} && ${orDefault(`${s}.serviceAccountToken.path`, "''")} == ${str(inj.path)}`;

/** `isInjectionVolume`: volume `v` holds exactly this token (the expiration may differ). */
const isInjectionVolume = (v: string, inj: Injection) =>
  `(has(${v}.projected) && has(${v}.projected.sources) && size(${v}.projected.sources) == 1 && ${sameToken(`${v}.projected.sources[0]`, inj)})`;

/** `satisfied`: container `c` already sees a token of this audience and path at the mount path. */
const satisfied = (c: string, inj: Injection) =>
  `(has(${c}.volumeMounts) && ${c}.volumeMounts.exists(m, m.mountPath == ${str(inj.mountPath)} && variables.volumes.exists(v, v.name == m.name && ${sourcesOf('v')}.exists(s, ${sameToken('s', inj)}))))`;

const targetsOf = (inj: Injection, field: 'initContainers' | 'containers') =>
  `${listAt(`${SPEC}.${field}`)}.filter(c, ${globs(inj.containers, 'c.name')})`;

/** `validateInjections` for one injection; `guard` false where an earlier policy's claim of the volume name stands. */
export function injectionDenials(label: string, inj: Injection, guard: string): string {
  const missing = `(${targetsOf(inj, 'initContainers')} + ${targetsOf(inj, 'containers')}).filter(c, !${satisfied('c', inj)}).map(c, c.name)`;
  const line = `${prefix(label, 'inject-token')} + ${str(`token ${inj.volumeName} (audience ${inj.audience}) missing in container(s) `)} + ${missing}.join(', ')`;
  return `${guard === 'true' ? '' : `!${guard.startsWith('(') ? guard : `(${guard})`} ? [] : `}size(${missing}) == 0 ? [] : [${line}]`;
}

/** The expiration an injected token is written with: clamped so that it lives within the policy's bounds (`injectedExpiration`). */
export function injectedExpiration(
  inj: Injection,
  b: Bounds | undefined,
  api: readonly string[],
  isApi: boolean,
): number {
  if (!b || b.min > b.max) return inj.expirationSeconds;
  const lifetime = podBoundLifetime(inj.expirationSeconds, [inj.audience], api);
  if (lifetime >= b.min && lifetime <= b.max) return inj.expirationSeconds;
  return boundedExpiration(inj.expirationSeconds, b.min, b.max, isApi) ?? inj.expirationSeconds;
}

/**
 * The mutation of `inject` for one injection: a read-only mount in every target container that
 * lacks the token and has its mount path free, and the volume when some container got the mount
 * and the pod has no volume of that name. Nothing when the name is taken by another volume.
 */
export function injectionMutation(inj: Injection, expiration: number, guard: string): string {
  const mount = `{'name': dyn(${str(inj.volumeName)}), 'mountPath': dyn(${str(inj.mountPath)}), 'readOnly': dyn(true)}`;
  const free = (c: string) =>
    `!(has(${c}.volumeMounts) && ${c}.volumeMounts.exists(m, m.mountPath == ${str(inj.mountPath)}))`;
  const adding = (field: 'initContainers' | 'containers') =>
    `${targetsOf(inj, field)}.filter(c, !${satisfied('c', inj)} && ${free('c')})`;
  const mounts = (field: 'initContainers' | 'containers') =>
    `${adding(field)}.map(c, ${jsonPatch('add', `'/spec/${field}/' + string(${SPEC}.${field}.indexOf(c)) + '/volumeMounts'`, `${listAt('c.volumeMounts')} + [${mount}]`)})`;
  const token = `{'audience': dyn(${str(inj.audience)}), 'expirationSeconds': dyn(${expiration}), 'path': dyn(${str(inj.path)})}`;
  const volume = `{'name': dyn(${str(inj.volumeName)}), 'projected': dyn({'defaultMode': dyn(${PROJECTED_DEFAULT_MODE}), 'sources': dyn([{'serviceAccountToken': ${token}}])})}`;
  const exists = `variables.volumes.exists(v, v.name == ${str(inj.volumeName)})`;
  const clash = `variables.volumes.exists(v, v.name == ${str(inj.volumeName)} && !${isInjectionVolume('v', inj)})`;
  const addVolume = `(size(${adding('initContainers')}) + size(${adding('containers')}) > 0 && !${exists} ? (has(${SPEC}.volumes) ? [${jsonPatch('add', "'/spec/volumes/-'", volume)}] : [${jsonPatch('add', "'/spec/volumes'", `[${volume}]`)}]) : [])`;
  const condition = allOf([guard, not(clash)]);
  return `${condition} ? ${mounts('initContainers')} + ${mounts('containers')} + ${addVolume} : []`;
}

/** `ephemeral-token` failures of the injection side: an added container mounting a token injected only into other containers. */
export function ephemeralInjectionDenials(label: string, inj: Injection): string {
  const volume = `variables.volumes.exists(v, v.name == ${str(inj.volumeName)} && ${isInjectionVolume('v', inj)})`;
  const line = `${prefix(label, 'ephemeral-token')} + 'ephemeral container ' + c.name + ${str(` mounts token ${inj.volumeName} (audience ${inj.audience}), injected only into ${inj.containers.join(', ')}`)}`;
  return `!${volume} ? [] : variables.addedEphemeral.filter(c, ${not(globs(inj.containers, 'c.name'))} && ${listAt('c.volumeMounts')}.exists(m, m.name == ${str(inj.volumeName)})).map(c, ${line})`;
}

/** True when an injection can never be made (its volume name is the plugin's prefix): `inject` fails, nothing to mutate. */
export function reservedInjectionName(inj: Injection): boolean {
  return inj.volumeName.startsWith(API_TOKEN_VOLUME_PREFIX);
}
