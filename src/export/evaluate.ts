/**
 * The exported admission policies evaluated offline, as the API server evaluates them
 * (docs/vap.md "tokenguard test --engine vap"): matchConstraints (resource rules, namespace and
 * object selectors), matchConditions, variables, validations with their messageExpression, and
 * the JSON Patch mutations of MutatingAdmissionPolicies with reinvocation. CEL runs on
 * `@bufbuild/cel` (conformance-tested against cel-spec, RE2 `matches` as in Go), with the
 * Kubernetes extensions the exported policies use (`indexOf` on lists) added here; the CEL cost
 * budget and static type checking are the API server's alone. Pure: no I/O, no clock.
 */
import {
  type CelInput,
  type CelValue,
  CelScalar,
  celEnv,
  celMethod,
  isCelError,
  isCelList,
  isCelMap,
  listType,
  parse,
  plan,
} from '@bufbuild/cel';
import { strings } from '@bufbuild/cel/ext';
import fastJsonPatch from 'fast-json-patch';
import { selectorMatches } from '../engine/selector.js';
import { isObject, type JsonObject, type JsonValue, jsonEqual } from '../json.js';
import type { MutatingObject, ValidatingObject } from './export.js';
import type {
  MatchResources,
  MutatingAdmissionPolicy,
  ParamRef,
  ValidatingAdmissionPolicy,
  Variable,
} from './objects.js';

/** What the API server knows about one admission request. */
export interface AdmissionAttributes {
  readonly operation: 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';
  /** The resource the request is for (`resource`: `pods`, `secrets`, `serviceaccounts`); rules match on it. */
  readonly resource: { readonly group: string; readonly version: string; readonly resource: string };
  /** `ephemeralcontainers`, `token`; empty for the main resource. */
  readonly subResource: string;
  readonly namespace: string;
  readonly name: string;
  readonly kind: { readonly group: string; readonly version: string; readonly kind: string };
  /** The object (absent on DELETE). */
  readonly object?: JsonObject;
  readonly oldObject?: JsonObject;
  readonly userInfo: { readonly username: string; readonly groups: readonly string[] };
  /** The namespace object (its labels), as `namespaceObject`. */
  readonly namespaceObject?: JsonObject;
  /** The ServiceAccounts of the namespace: the `params` of policies with paramKind ServiceAccount. */
  readonly serviceAccounts?: readonly JsonObject[];
  readonly dryRun?: boolean;
}

/** One ValidatingAdmissionPolicy's verdict on a request (only policies that matched are reported). */
export interface PolicyVerdict {
  readonly policy: string;
  /** `metadata.annotations["tokenguard.dev/policy"]`: the TokenPolicy it came from. */
  readonly tokenPolicy: string;
  readonly actions: readonly ('Deny' | 'Warn' | 'Audit')[];
  readonly allowed: boolean;
  /** The failure message (messageExpression, else message), or the evaluation error. */
  readonly message?: string;
  /** `variables.denials` of a failed evaluation: the webhook's `policy/rule: message` lines. */
  readonly denials: readonly string[];
  /** True when the policy could not be evaluated (failurePolicy decided). */
  readonly error?: boolean;
}

export interface ValidationResult {
  /** False when some policy bound with `Deny` failed. */
  readonly allowed: boolean;
  /** What the API server answers a denied request: the first denying policy's message. */
  readonly message?: string;
  readonly verdicts: readonly PolicyVerdict[];
  /** The warnings of policies bound with `Warn`, as the API server words them. */
  readonly warnings: readonly string[];
}

export interface MutationResult {
  /** The object after every MutatingAdmissionPolicy (the input itself when none changed it). */
  readonly object: JsonObject;
  /** Names of the policies that changed it, in the order they did. */
  readonly changedBy: readonly string[];
  /** Policies whose mutation failed (`failurePolicy: Ignore` skipped them). */
  readonly errors: readonly { readonly policy: string; readonly message: string }[];
}

// ---------------------------------------------------------------------------------------------
// CEL
// ---------------------------------------------------------------------------------------------

/** Kubernetes' `indexOf` of its lists library (k8s.io/apiserver/pkg/cel/library/lists.go). */
const listIndexOf = celMethod(
  'indexOf',
  listType(CelScalar.DYN),
  [CelScalar.DYN],
  CelScalar.INT,
  function (this: Iterable<CelValue>, x: CelValue) {
    let i = 0n;
    const wanted = JSON.stringify(fromCel(x));
    for (const e of this) {
      if (JSON.stringify(fromCel(e)) === wanted) return i;
      i++;
    }
    return -1n;
  },
);

const ENV = celEnv({ funcs: [...strings, listIndexOf] });

/**
 * Whether the evaluator has a function `name` called as a method (`member`) or a global, with
 * `arity` arguments (the target not counted): what the exporter may emit (docs/vap.md "Which
 * CEL evaluator, and what it lacks"). Overloads are told apart by these alone, not by type.
 */
export function celFunctionKnown(name: string, member: boolean, arity: number): boolean {
  for (const f of ENV.funcs.find(name) ?? [])
    if ((f.target !== undefined) === member && f.arguments.length === arity) return true;
  return false;
}
type Program = (bindings: Record<string, CelInput>) => unknown;
const programs = new Map<string, Program>();
const PROGRAM_CACHE_LIMIT = 5000;

/** Parses and plans `expression` once. Throws a readable error for syntax errors. */
function program(expression: string): Program {
  const hit = programs.get(expression);
  if (hit) return hit;
  const p = plan(ENV, parse(rewriteJsonPatch(expression))) as unknown as Program;
  if (programs.size < PROGRAM_CACHE_LIMIT) programs.set(expression, p);
  return p;
}

class CelEvalError extends Error {}

function evaluate(expression: string, bindings: Record<string, CelInput>): JsonValue {
  const r = program(expression)(bindings);
  if (isCelError(r)) throw new CelEvalError(r.message);
  return fromCel(r as CelValue);
}

/** JSON to the values the evaluator takes: objects as maps, integers as `int`. Callers bound the depth (src/json.ts `MAX_JSON_DEPTH`). */
export function toCel(v: JsonValue | undefined): CelInput {
  if (v === undefined || v === null) return null;
  if (Array.isArray(v)) return v.map(toCel);
  if (isObject(v)) {
    const m = new Map<string, CelInput>();
    for (const [k, x] of Object.entries(v)) if (x !== undefined) m.set(k, toCel(x));
    return m;
  }
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  return v;
}

/** Evaluator values back to JSON (`int` to number). */
export function fromCel(v: unknown): JsonValue {
  if (typeof v === 'bigint') return Number(v);
  if (isCelList(v as CelValue)) return [...(v as Iterable<unknown>)].map(fromCel);
  if (isCelMap(v as CelValue)) {
    const out: JsonObject = {};
    for (const [k, x] of (v as Map<unknown, unknown>).entries()) out[String(k)] = fromCel(x);
    return out;
  }
  if (Array.isArray(v)) return v.map(fromCel);
  if (v instanceof Map) return Object.fromEntries([...v.entries()].map(([k, x]) => [String(k), fromCel(x)]));
  return v as JsonValue;
}

/**
 * `JSONPatch{op: ..., path: ..., value: ...}` literals (a type only the API server declares) as
 * map literals `{'op': ..., 'path': ..., 'value': ...}`, which the evaluator builds.
 */
export function rewriteJsonPatch(expression: string): string {
  const marker = 'JSONPatch{';
  let out = '';
  let i = 0;
  while (i < expression.length) {
    const ch = expression[i] as string;
    if (ch === "'" || ch === '"') {
      const end = stringEnd(expression, i);
      out += expression.slice(i, end);
      i = end;
      continue;
    }
    if (expression.startsWith(marker, i) && !/[A-Za-z0-9_.]/.test(expression[i - 1] ?? '')) {
      const close = matching(expression, i + marker.length - 1);
      const fields = splitTopLevel(expression.slice(i + marker.length, close));
      out += `{${fields
        .map((f) => {
          const colon = f.indexOf(':');
          return `'${f.slice(0, colon).trim()}': ${rewriteJsonPatch(f.slice(colon + 1).trim())}`;
        })
        .join(', ')}}`;
      i = close + 1;
      continue;
    }
    out += ch;
    i++;
  }
  return out;
}

/** Index just past the string literal starting at `start`. */
function stringEnd(s: string, start: number): number {
  const quote = s[start];
  let i = start + 1;
  while (i < s.length && s[i] !== quote) i += s[i] === '\\' ? 2 : 1;
  return i + 1;
}

/** Index of the bracket closing the one at `open`. */
function matching(s: string, open: number): number {
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    const ch = s[i] as string;
    if (ch === "'" || ch === '"') {
      i = stringEnd(s, i) - 1;
      continue;
    }
    if ('([{'.includes(ch)) depth++;
    else if (')]}'.includes(ch)) {
      depth--;
      if (depth === 0) return i;
    }
  }
  throw new Error(`unbalanced brackets in CEL expression at ${open}`);
}

/** `a: x, b: f(y, z)` split at its top-level commas. */
function splitTopLevel(s: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i] as string;
    if (ch === "'" || ch === '"') {
      i = stringEnd(s, i) - 1;
      continue;
    }
    if ('([{'.includes(ch)) depth++;
    else if (')]}'.includes(ch)) depth--;
    else if (ch === ',' && depth === 0) {
      parts.push(s.slice(start, i));
      start = i + 1;
    }
  }
  if (s.slice(start).trim() !== '') parts.push(s.slice(start));
  return parts;
}

// ---------------------------------------------------------------------------------------------
// Matching
// ---------------------------------------------------------------------------------------------

function labelsOf(o: JsonObject | undefined): Record<string, string> {
  const labels = isObject(o?.metadata) ? (o.metadata as JsonObject).labels : undefined;
  const out: Record<string, string> = {};
  if (isObject(labels)) for (const [k, v] of Object.entries(labels)) if (typeof v === 'string') out[k] = v;
  return out;
}

function ruleMatches(m: MatchResources, a: AdmissionAttributes): boolean {
  const resource = a.subResource ? `${a.resource.resource}/${a.subResource}` : a.resource.resource;
  return m.resourceRules.some(
    (r) =>
      (r.apiGroups.includes('*') || r.apiGroups.includes(a.resource.group)) &&
      (r.apiVersions.includes('*') || r.apiVersions.includes(a.resource.version)) &&
      (r.operations.includes('*') || r.operations.includes(a.operation)) &&
      (r.resources.includes('*') || r.resources.includes(resource)),
  );
}

/** Labels as the selector matcher reads them. */
function reader(labels: Record<string, string>): (key: string) => string | undefined {
  return (key) => (Object.hasOwn(labels, key) ? labels[key] : undefined);
}

function constraintsMatch(m: MatchResources, a: AdmissionAttributes): boolean {
  if (!ruleMatches(m, a)) return false;
  if (
    m.namespaceSelector &&
    !selectorMatches(
      m.namespaceSelector as never,
      reader({ ...labelsOf(a.namespaceObject), 'kubernetes.io/metadata.name': a.namespace }),
    )
  )
    return false;
  if (m.objectSelector) {
    const sel = m.objectSelector as never;
    if (
      !selectorMatches(sel, reader(labelsOf(a.object))) &&
      !(a.oldObject && selectorMatches(sel, reader(labelsOf(a.oldObject))))
    )
      return false;
  }
  return true;
}

function bindingsFor(a: AdmissionAttributes, params: JsonObject | null): Record<string, CelInput> {
  const request: JsonObject = {
    kind: { ...a.kind },
    resource: { ...a.resource },
    requestKind: { ...a.kind },
    requestResource: { ...a.resource },
    name: a.name,
    namespace: a.namespace,
    operation: a.operation,
    userInfo: { username: a.userInfo.username, groups: [...a.userInfo.groups] },
    dryRun: a.dryRun === true,
  };
  if (a.subResource) {
    request.subResource = a.subResource;
    request.requestSubResource = a.subResource;
  }
  const ns = a.namespaceObject ?? {
    metadata: { name: a.namespace, labels: { 'kubernetes.io/metadata.name': a.namespace } },
  };
  return {
    object: toCel(a.object),
    oldObject: toCel(a.oldObject ?? null),
    request: toCel(request),
    namespaceObject: toCel(ns),
    params: toCel(params),
  };
}

/** The variables in order, each seeing the ones before; one that fails is left out (referring to it then fails). */
function evaluateVariables(
  variables: readonly Variable[],
  bindings: Record<string, CelInput>,
): Record<string, CelInput> {
  const values = new Map<string, CelInput>();
  const withVars = { ...bindings, variables: values };
  for (const v of variables) {
    try {
      values.set(v.name, toCel(evaluate(v.expression, withVars) as JsonValue));
    } catch {
      // lazily evaluated in the API server: only an error where it is used
    }
  }
  return withVars;
}

type Conditions = { matched: true } | { matched: false } | { error: string };

function conditionsMatch(
  conditions: readonly { name: string; expression: string }[] | undefined,
  bindings: Record<string, CelInput>,
): Conditions {
  let error: string | undefined;
  for (const c of conditions ?? []) {
    try {
      if (evaluate(c.expression, bindings) !== true) return { matched: false };
    } catch (e) {
      error ??= `matchCondition ${c.name}: ${(e as Error).message}`;
    }
  }
  return error ? { error } : { matched: true };
}

/** Each parameter the binding selects (the namespace's ServiceAccounts), or `[null]` without paramKind. */
function paramsFor(
  paramRef: ParamRef | undefined,
  hasParamKind: boolean,
  a: AdmissionAttributes,
): (JsonObject | null)[] | 'not-found' {
  if (!hasParamKind) return [null];
  const selected = (a.serviceAccounts ?? []).filter((sa) =>
    selectorMatches((paramRef?.selector ?? {}) as never, reader(labelsOf(sa))),
  );
  if (selected.length > 0) return selected;
  return paramRef?.parameterNotFoundAction === 'Allow' ? [] : 'not-found';
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

/** Evaluates every ValidatingAdmissionPolicy with its binding against the request. */
export function validateRequest(objects: readonly ValidatingObject[], a: AdmissionAttributes): ValidationResult {
  const verdicts: PolicyVerdict[] = [];
  const warnings: string[] = [];
  let message: string | undefined;
  const policies = objects.filter((o): o is ValidatingAdmissionPolicy => o.kind === 'ValidatingAdmissionPolicy');
  for (const binding of objects) {
    if (binding.kind !== 'ValidatingAdmissionPolicyBinding') continue;
    const policy = policies.find((p) => p.metadata.name === binding.spec.policyName);
    if (!policy || !constraintsMatch(policy.spec.matchConstraints, a)) continue;
    const tokenPolicy = policy.metadata.annotations['tokenguard.dev/policy'] ?? '';
    const params = paramsFor(binding.spec.paramRef, policy.spec.paramKind !== undefined, a);
    const results: PolicyVerdict[] = [];
    const fail = (msg: string): PolicyVerdict => ({
      policy: policy.metadata.name,
      tokenPolicy,
      actions: binding.spec.validationActions,
      allowed: policy.spec.failurePolicy === 'Ignore',
      message: msg,
      denials: [],
      error: true,
    });
    if (params === 'not-found')
      results.push(fail(`no params found for policy binding with \`Deny\` parameterNotFoundAction`));
    else {
      for (const param of params) {
        const base = bindingsFor(a, param);
        const matched = conditionsMatch(policy.spec.matchConditions, base);
        if ('error' in matched) {
          results.push(fail(matched.error));
          continue;
        }
        if (!matched.matched) continue;
        const bindings = evaluateVariables(policy.spec.variables, base);
        for (const v of policy.spec.validations) {
          let ok: unknown;
          try {
            ok = evaluate(v.expression, bindings);
          } catch (e) {
            results.push(fail(`expression '${v.expression}' resulted in error: ${(e as Error).message}`));
            continue;
          }
          if (ok === true) {
            results.push({
              policy: policy.metadata.name,
              tokenPolicy,
              actions: binding.spec.validationActions,
              allowed: true,
              denials: [],
            });
            continue;
          }
          let text = v.message ?? `failed expression: ${v.expression}`;
          if (v.messageExpression) {
            try {
              const m = evaluate(v.messageExpression, bindings);
              if (typeof m === 'string' && m.trim() !== '' && !m.includes('\n') && m.length <= 5 * 1024)
                text = m.trim();
            } catch {
              // the API server falls back to message
            }
          }
          const denials = (bindings.variables as Map<string, CelInput>).get('denials');
          results.push({
            policy: policy.metadata.name,
            tokenPolicy,
            actions: binding.spec.validationActions,
            allowed: false,
            message: text,
            denials: Array.isArray(denials) ? denials.map((d) => String(d)) : [],
          });
        }
      }
    }
    for (const r of results) {
      if (r.allowed) continue;
      if (r.actions.includes('Deny') && message === undefined) {
        message = `ValidatingAdmissionPolicy '${policy.metadata.name}' with binding '${binding.metadata.name}' denied request: ${r.message ?? ''}`;
      }
      if (r.actions.includes('Warn'))
        warnings.push(
          `Validation failed for ValidatingAdmissionPolicy '${policy.metadata.name}' with binding '${binding.metadata.name}': ${r.message ?? ''}`,
        );
    }
    // One verdict per policy: the first failure, else a pass.
    const failed = results.find((r) => !r.allowed);
    if (failed) verdicts.push(failed);
    else if (results.length > 0) verdicts.push(results[0] as PolicyVerdict);
  }
  const allowed = !verdicts.some((v) => !v.allowed && v.actions.includes('Deny'));
  return { allowed, ...(message !== undefined && !allowed ? { message } : {}), verdicts, warnings };
}

// ---------------------------------------------------------------------------------------------
// Mutation
// ---------------------------------------------------------------------------------------------

/** Times the API server runs the mutating policies at most: once, and once more on reinvocation. */
const MUTATION_ROUNDS = 2;

/**
 * Runs every MutatingAdmissionPolicy with its binding, in name order, each mutation on the result
 * of the one before (as the API server applies them), and once more when a later one changed the
 * object (`reinvocationPolicy: IfNeeded`). `defaults` stands for the API server's defaulting after
 * each patch.
 */
export function mutateRequest(
  objects: readonly MutatingObject[],
  a: AdmissionAttributes,
  defaults: (o: JsonObject) => JsonObject = (o) => o,
): MutationResult {
  if (a.object === undefined) return { object: {}, changedBy: [], errors: [] };
  const policies = objects
    .filter((o): o is MutatingAdmissionPolicy => o.kind === 'MutatingAdmissionPolicy')
    .sort((x, y) => (x.metadata.name < y.metadata.name ? -1 : 1));
  let object: JsonObject = a.object;
  const changedBy: string[] = [];
  const errors: { policy: string; message: string }[] = [];
  for (let round = 0; round < MUTATION_ROUNDS; round++) {
    let changed = false;
    for (const policy of policies) {
      if (round > 0 && policy.spec.reinvocationPolicy !== 'IfNeeded') continue;
      const binding = objects.find(
        (o) => o.kind === 'MutatingAdmissionPolicyBinding' && o.spec.policyName === policy.metadata.name,
      );
      if (binding?.kind !== 'MutatingAdmissionPolicyBinding') continue;
      const current = { ...a, object };
      if (!constraintsMatch(policy.spec.matchConstraints, current)) continue;
      const params = paramsFor(binding.spec.paramRef, policy.spec.paramKind !== undefined, current);
      if (params === 'not-found') continue;
      for (const param of params) {
        const matched = conditionsMatch(policy.spec.matchConditions, bindingsFor({ ...a, object }, param));
        if (!('matched' in matched) || !matched.matched) continue;
        for (const m of policy.spec.mutations) {
          const bindings = evaluateVariables(policy.spec.variables, bindingsFor({ ...a, object }, param));
          let patch: unknown;
          try {
            patch = evaluate(m.jsonPatch.expression, bindings);
          } catch (e) {
            errors.push({ policy: policy.metadata.name, message: (e as Error).message });
            continue;
          }
          if (!Array.isArray(patch) || patch.length === 0) continue;
          let next: JsonObject;
          try {
            next = fastJsonPatch.applyPatch(structuredClone(object), patch as fastJsonPatch.Operation[], true, false)
              .newDocument as JsonObject;
          } catch (e) {
            errors.push({ policy: policy.metadata.name, message: `JSON Patch: ${(e as Error).message}` });
            continue;
          }
          next = defaults(next);
          if (!jsonEqual(next, object)) {
            object = next;
            changed = true;
            if (!changedBy.includes(policy.metadata.name)) changedBy.push(policy.metadata.name);
          }
        }
      }
    }
    if (!changed) break;
  }
  return { object, changedBy, errors };
}
