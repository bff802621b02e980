import { parseDuration } from '../duration.js';
import { API_TOKEN_VOLUME_PREFIX } from '../constants.js';
import { globMatch, globMinLength, globStepsPerCharacter, MAX_GLOB_VALUE_LENGTH } from '../glob.js';

/** One semantic problem: where (a field path inside the document) and what. */
export interface SemanticError {
  readonly path: (string | number)[];
  readonly message: string;
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * True for a DNS-1123 subdomain of at most 253 characters (Kubernetes `IsDNS1123Subdomain`):
 * dot-separated labels of lower-case letters, digits and `-`, each starting and ending with a
 * letter or digit. The names of most objects (ServiceAccounts included) and annotation-key
 * prefixes follow it; the facts informers use it too, to read only names the API server could hold.
 */
export function isDnsSubdomain(s: string): boolean {
  return s.length <= 253 && DNS_SUBDOMAIN.test(s);
}

/**
 * Checks what a JSON Schema cannot say about a policy: ranges that relate two fields, names
 * Kubernetes would reject, paths the kubelet would refuse. Reads the document defensively, so it
 * can run on documents that also failed the schema.
 */
export function semanticErrors(doc: unknown): SemanticError[] {
  const errors: SemanticError[] = [];
  const add = (path: (string | number)[], message: string) => errors.push({ path, message });
  const spec = obj(obj(doc)?.spec);
  if (!spec) return errors;

  if (!['legacyTokenSecrets', 'automount', 'projectedTokens', 'tokenRequests'].some((k) => k in spec)) {
    add(
      ['spec'],
      'sets none of legacyTokenSecrets, automount, projectedTokens, tokenRequests: the policy would do nothing',
    );
  }
  const tr = obj(spec.tokenRequests);
  if (tr && Array.isArray(tr.allowedAudiences) && tr.allowedAudiences.length === 0) {
    add(['spec', 'tokenRequests', 'allowedAudiences'], 'is empty: every request naming an audience would be refused');
  }
  if (tr && tr.maxExpirationSeconds === undefined && tr.allowedAudiences === undefined) {
    add(['spec', 'tokenRequests'], 'sets neither maxExpirationSeconds nor allowedAudiences: it would do nothing');
  }

  const match = obj(spec.match);
  for (const key of ['namespaceSelector', 'objectSelector'] as const) {
    const sel = obj(match?.[key]);
    for (const [k] of Object.entries(obj(sel?.matchLabels) ?? {})) {
      if (!isLabelKey(k)) add(['spec', 'match', key, 'matchLabels', k], 'is not a valid label key');
    }
    arr(sel?.matchExpressions).forEach((e, i) => {
      const ex = obj(e);
      const p = ['spec', 'match', key, 'matchExpressions', i];
      if (typeof ex?.key === 'string' && !isLabelKey(ex.key)) add([...p, 'key'], 'is not a valid label key');
      const values = arr(ex?.values);
      if ((ex?.operator === 'In' || ex?.operator === 'NotIn') && values.length === 0) {
        add([...p, 'values'], `must not be empty for operator ${ex.operator}`);
      }
      if ((ex?.operator === 'Exists' || ex?.operator === 'DoesNotExist') && values.length > 0) {
        add([...p, 'values'], `must be empty for operator ${ex.operator}`);
      }
    });
  }
  arr(match?.serviceAccounts).forEach((s, i) => {
    if (typeof s === 'string' && s.split('/').length > 2)
      add(['spec', 'match', 'serviceAccounts', i], 'must be "name" or "namespace/name"');
  });

  arr(obj(spec.legacyTokenSecrets)?.exemptServiceAccounts).forEach((s, i) => {
    if (typeof s === 'string' && s.split('/').length !== 2) {
      add(['spec', 'legacyTokenSecrets', 'exemptServiceAccounts', i], 'must be "namespace/name"');
    }
  });

  const needed = obj(obj(spec.automount)?.needed);
  if (typeof needed?.annotation === 'string' && !isAnnotationKey(needed.annotation)) {
    add(['spec', 'automount', 'needed', 'annotation'], 'is not a valid annotation key ([prefix/]name)');
  }
  arr(needed?.serviceAccounts).forEach((s, i) => {
    if (typeof s === 'string' && s.split('/').length > 2)
      add(['spec', 'automount', 'needed', 'serviceAccounts', i], 'must be "name" or "namespace/name"');
  });
  if (typeof needed?.observedWithin === 'string') {
    const d = parseDuration(needed.observedWithin);
    if (typeof d !== 'number') add(['spec', 'automount', 'needed', 'observedWithin'], d.error);
  }
  if (obj(spec.automount)?.action === 'Keep' && needed)
    add(['spec', 'automount', 'needed'], 'has no effect with action Keep');

  const pt = obj(spec.projectedTokens);
  const bounds = obj(pt?.bounds);
  const min = num(bounds?.minExpirationSeconds);
  const max = num(bounds?.maxExpirationSeconds);
  if (min !== undefined && max !== undefined && min > max) {
    add(['spec', 'projectedTokens', 'bounds', 'maxExpirationSeconds'], `must be ≥ minExpirationSeconds (${min})`);
  }
  const allowed = arr(bounds?.allowedAudiences).filter((a): a is string => typeof a === 'string');
  if (bounds && Array.isArray(bounds.allowedAudiences) && allowed.length === 0) {
    add(
      ['spec', 'projectedTokens', 'bounds', 'allowedAudiences'],
      'is empty: every token with an audience would be refused',
    );
  }
  const api = num(pt?.apiTokenExpirationSeconds);
  if (api !== undefined && ((min !== undefined && api < min) || (max !== undefined && api > max))) {
    add(
      ['spec', 'projectedTokens', 'apiTokenExpirationSeconds'],
      `must be within this policy's bounds [${min ?? 600}, ${max ?? 4294967296}]`,
    );
  }

  const names = new Map<string, number>();
  const mountPaths = new Map<string, number>();
  arr(pt?.inject).forEach((item, i) => {
    const inj = obj(item);
    if (!inj) return;
    const p = ['spec', 'projectedTokens', 'inject', i];
    if (typeof inj.volumeName === 'string') {
      if (!DNS1123_LABEL.test(inj.volumeName) || inj.volumeName.length > 63) {
        add([...p, 'volumeName'], 'must be a DNS-1123 label (lower-case letters, digits and -, at most 63)');
      } else if (inj.volumeName.startsWith(API_TOKEN_VOLUME_PREFIX)) {
        add([...p, 'volumeName'], `must not start with ${API_TOKEN_VOLUME_PREFIX} (reserved for the API token)`);
      }
      const prev = names.get(inj.volumeName);
      if (prev !== undefined) add([...p, 'volumeName'], `duplicates inject[${prev}].volumeName`);
      else names.set(inj.volumeName, i);
    }
    if (typeof inj.mountPath === 'string') {
      if (!inj.mountPath.startsWith('/')) add([...p, 'mountPath'], 'must be an absolute path');
      else if (inj.mountPath.split('/').includes('..')) add([...p, 'mountPath'], "must not contain '..'");
      const prev = mountPaths.get(inj.mountPath);
      if (prev !== undefined) add([...p, 'mountPath'], `duplicates inject[${prev}].mountPath`);
      else mountPaths.set(inj.mountPath, i);
    }
    if (typeof inj.path === 'string') {
      if (inj.path.startsWith('/')) add([...p, 'path'], 'must be a relative path');
      else if (inj.path.split('/').includes('..')) add([...p, 'path'], "must not contain '..'");
      else if (inj.path.startsWith('..')) add([...p, 'path'], "must not start with '..'");
    }
    const exp = num(inj.expirationSeconds) ?? 3600;
    if ((min !== undefined && exp < min) || (max !== undefined && exp > max)) {
      add([...p, 'expirationSeconds'], `${exp} is outside this policy's bounds [${min ?? 600}, ${max ?? 4294967296}]`);
    }
    if (
      typeof inj.audience === 'string' &&
      allowed.length > 0 &&
      !allowed.some((a) => globMatch(a, inj.audience as string))
    ) {
      add([...p, 'audience'], `"${inj.audience}" is not in this policy's allowedAudiences`);
    }
  });
  return errors;
}

/** Where globs live in a policy: the lists whose items are matched with `globMatch`. */
const GLOB_LISTS: readonly (readonly string[])[] = [
  ['match', 'namespaces'],
  ['match', 'excludeNamespaces'],
  ['match', 'serviceAccounts'],
  ['legacyTokenSecrets', 'exemptServiceAccounts'],
  ['automount', 'needed', 'serviceAccounts'],
  ['projectedTokens', 'bounds', 'allowedAudiences'],
  ['tokenRequests', 'allowedAudiences'],
  ['tokenRequests', 'exemptUsers'],
  ['tokenRequests', 'exemptGroups'],
];

/**
 * Things worth saying about a valid policy that do not make it invalid, for `policy validate`
 * and the server's log. Today: globs (docs/policies.md, "Globs"). Every glob is matched in time
 * linear in the value, so none is refused; a pattern is flagged when it can never match (it
 * needs more characters than any value is matched with), or when it holds a run of more than 32
 * characters between stars, which the matcher searches with more than one machine word per
 * character (still linear, but that many times the work of an ordinary pattern).
 */
export function semanticWarnings(doc: unknown): SemanticError[] {
  const warnings: SemanticError[] = [];
  const spec = obj(obj(doc)?.spec);
  if (!spec) return warnings;
  const check = (path: (string | number)[], pattern: unknown) => {
    if (typeof pattern !== 'string') return;
    const need = globMinLength(pattern);
    if (need > MAX_GLOB_VALUE_LENGTH) {
      warnings.push({
        path,
        message: `can never match: it needs ${need} characters, and values over ${MAX_GLOB_VALUE_LENGTH} match no glob`,
      });
      return;
    }
    const words = globStepsPerCharacter(pattern);
    if (words > 1) {
      warnings.push({
        path,
        message: `has a run of more than 32 characters between stars: matching it costs ${words} steps per character of the value instead of 1 (still linear; values are capped at ${MAX_GLOB_VALUE_LENGTH})`,
      });
    }
  };
  for (const path of GLOB_LISTS) {
    let node: unknown = spec;
    for (const key of path) node = obj(node)?.[key];
    arr(node).forEach((pattern, i) => {
      check(['spec', ...path, i], pattern);
    });
  }
  arr(obj(spec.projectedTokens)?.inject).forEach((inj, j) => {
    arr(obj(inj)?.containers).forEach((pattern, i) => {
      check(['spec', 'projectedTokens', 'inject', j, 'containers', i], pattern);
    });
  });
  return warnings;
}

function isLabelKey(k: string): boolean {
  return isAnnotationKey(k);
}

/** `[prefix/]name`: prefix a DNS subdomain of at most 253, name a qualified name of at most 63. */
function isAnnotationKey(k: string): boolean {
  const parts = k.split('/');
  if (parts.length > 2) return false;
  const name = parts.at(-1) ?? '';
  if (parts.length === 2 && !isDnsSubdomain(parts[0] ?? '')) return false;
  return name.length <= 63 && QUALIFIED_NAME.test(name);
}

function obj(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}
function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}
function num(v: unknown): number | undefined {
  return typeof v === 'number' ? v : undefined;
}
