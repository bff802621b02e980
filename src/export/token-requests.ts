/**
 * Rule `token-request` (src/engine/rules/token-request.ts) as CEL, for `serviceaccounts/token`
 * CREATE: the requested token lives at most the maximum (as the API server issues it) and has
 * allowed audiences. The kubelet's pod-bound requests and exempt users and groups are left out
 * by matchConditions.
 */
import {
  API_TOKEN_DEFAULT_EXPIRATION_SECONDS,
  DEFAULT_PROJECTED_EXPIRATION_SECONDS,
  EXTENDED_EXPIRATION_SECONDS,
} from '../constants.js';
import type { TokenRequestsSpec } from '../policy/types.js';
import { anyOf, globs, jsonPatch, jsonQuote, not, orDefault, str } from './cel.js';
import type { MatchCondition, Variable } from './objects.js';
import { isApiAudience } from './pods.js';

const GROUPS = orDefault('request.userInfo.groups', '[]');
const USERNAME = orDefault('request.userInfo.username', "''");

/** The kubelet asking for a token bound to a pod: always let through (its bounds were enforced at pod admission). */
export const SKIP_KUBELET_POD_TOKENS: MatchCondition = {
  name: 'skip-kubelet-pod-tokens',
  expression: `!('system:nodes' in ${GROUPS} && has(object.spec.boundObjectRef) && has(object.spec.boundObjectRef.kind) && object.spec.boundObjectRef.kind == 'Pod')`,
};

/** Exempt users and groups: the policy does not apply to their requests. */
export function exemptCondition(spec: TokenRequestsSpec): MatchCondition | undefined {
  const users = spec.exemptUsers ?? [];
  const groups = spec.exemptGroups ?? [];
  if (users.length === 0 && groups.length === 0) return undefined;
  const terms = [globs(users, USERNAME), groups.length > 0 ? `${GROUPS}.exists(g, ${globs(groups, 'g')})` : 'false'];
  return { name: 'not-exempt', expression: not(anyOf(terms)) };
}

/** The request as the rule reads it: expiration, audiences, whether bound to a Pod, and what the token lives. */
export function tokenRequestVariables(api: readonly string[]): Variable[] {
  const ref = 'object.spec.boundObjectRef';
  return [
    {
      name: 'exp',
      expression: orDefault('object.spec.expirationSeconds', String(DEFAULT_PROJECTED_EXPIRATION_SECONDS)),
    },
    { name: 'audiences', expression: orDefault('object.spec.audiences', '[]') },
    {
      name: 'podBound',
      expression: `has(${ref}) && has(${ref}.kind) && ${ref}.kind == 'Pod' && (!has(${ref}.apiVersion) || ${ref}.apiVersion in ['v1', ''])`,
    },
    { name: 'allApi', expression: `variables.audiences.all(a, ${isApiAudience('a', api)})` },
    {
      name: 'lifetime',
      expression: `variables.podBound && variables.exp == ${API_TOKEN_DEFAULT_EXPIRATION_SECONDS} && variables.allApi ? ${EXTENDED_EXPIRATION_SECONDS} : variables.exp`,
    },
  ];
}

/** The denial list of `validateTokenRequest` for one policy. */
export function tokenRequestDenials(label: string, spec: TokenRequestsSpec, api: readonly string[]): string {
  const parts: string[] = [];
  const max = spec.maxExpirationSeconds;
  if (max !== undefined) {
    const described = `(variables.lifetime == variables.exp || variables.exp > ${max} ? 'expirationSeconds ' + string(variables.exp) : 'expirationSeconds ' + string(variables.exp) + ' (extended to ' + string(variables.lifetime) + ' s)')`;
    parts.push(
      `(variables.lifetime > ${max} ? [${str(`${label}/token-request: requested `)} + ${described} + ${str(` exceeds the maximum ${max}`)}] : [])`,
    );
  }
  if (spec.allowedAudiences) {
    const list = spec.allowedAudiences;
    const bad = `variables.audiences.filter(a, ${not(isApiAudience('a', api))} && ${not(globs(list, 'a'))})`;
    parts.push(
      `(size(${bad}) > 0 ? [${str(`${label}/token-request: audience `)} + ${bad}.map(a, ${jsonQuote('a')}).join(', ') + ${str(` not allowed (allowed: ${list.join(', ') || 'none'})`)}] : [])`,
    );
  }
  return parts.length > 0 ? parts.join(' + ') : '[]';
}

/** `mutateTokenRequest` with `onViolation: Mutate`: a request living longer than the maximum shortened to it, never to an extended 3607. */
export function tokenRequestMutation(max: number): string {
  const t = `(variables.exp < ${max} ? variables.exp : ${max})`;
  const target = `(variables.podBound && variables.allApi && ${t} == ${API_TOKEN_DEFAULT_EXPIRATION_SECONDS} ? ${API_TOKEN_DEFAULT_EXPIRATION_SECONDS - 1} : ${t})`;
  return `variables.lifetime > ${max} ? [${jsonPatch('add', "'/spec/expirationSeconds'", target)}] : []`;
}
