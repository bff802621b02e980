/**
 * Rule `api-token-expiration`: every token for the API server in a pod (the plugin's
 * `kube-api-access-*` and any of the pod's own) lives at most `apiTokenExpirationSeconds`,
 * counted as the API server issues it: a 3607 s token lives a year (docs/tokens.md "Extension to
 * a year").
 */
import type { TokenPolicy } from '../../policy/types.js';
import type { JsonObject } from '../../json.js';
import { boundedExpiration, describeLifetime } from '../api-token.js';
import { type TokenSource, tokenSources, writableToken } from '../pod.js';
import type { RuleMode, RuleResult } from '../types.js';

/** The lowest `apiTokenExpirationSeconds` of the matching policies, and every policy that set it. */
export interface ApiTokenMax {
  readonly value: number;
  readonly policies: readonly string[];
}

/** The lowest `apiTokenExpirationSeconds` among `policies` (in name order), or undefined. */
export function planApiTokenExpiration(policies: readonly TokenPolicy[]): ApiTokenMax | undefined {
  let max: { value: number; policies: string[] } | undefined;
  for (const p of policies) {
    const value = p.spec.projectedTokens?.apiTokenExpirationSeconds;
    if (value === undefined) continue;
    if (!max || value < max.value) max = { value, policies: [p.name] };
    else if (value === max.value) max.policies.push(p.name);
  }
  return max;
}

export interface MutateApiTokenArgs {
  /** The spec of the edit copy (`podEditCopy`). */
  readonly spec: JsonObject;
  readonly max: ApiTokenMax;
  readonly apiAudiences: readonly string[];
  readonly mode: RuleMode;
}

/** Shortens every API token that lives longer than the maximum; a clamp never writes the extended 3607. */
export function mutateApiTokenExpiration({ spec, max, apiAudiences, mode }: MutateApiTokenArgs): RuleResult[] {
  const results: RuleResult[] = [];
  for (const s of tokenSources(spec, apiAudiences)) {
    if (!s.isApiToken) continue;
    if (s.lifetimeSeconds > max.value) {
      const target = boundedExpiration(s.expirationSeconds, 0, max.value, true) as number; // min 0: always found
      writableToken(spec, s).expirationSeconds = target;
      results.push(
        result(
          max,
          mode,
          'mutate',
          `API token ${s.volumeName} ${describeLifetime(s.expirationSeconds, s.lifetimeSeconds, max.value)} -> ${target}`,
        ),
      );
    } else results.push(result(max, mode, 'pass', `${s.volumeName}: expirationSeconds ${s.expirationSeconds}`));
  }
  return results;
}

export interface ValidateApiTokenArgs {
  readonly sources: readonly TokenSource[];
  readonly max: ApiTokenMax;
  readonly mode: RuleMode;
}

/** Fails for every API token that lives longer than the maximum. */
export function validateApiTokenExpiration({ sources, max, mode }: ValidateApiTokenArgs): RuleResult[] {
  const results: RuleResult[] = [];
  for (const s of sources) {
    if (!s.isApiToken) continue;
    if (s.lifetimeSeconds > max.value) {
      results.push(
        result(
          max,
          mode,
          'fail',
          `API token ${s.volumeName} ${describeLifetime(s.expirationSeconds, s.lifetimeSeconds, max.value)} > ${max.value}`,
        ),
      );
    } else results.push(result(max, mode, 'pass', `${s.volumeName}: expirationSeconds ${s.expirationSeconds}`));
  }
  return results;
}

function result(max: ApiTokenMax, mode: RuleMode, status: RuleResult['status'], message: string): RuleResult {
  return { policies: max.policies, rule: 'api-token-expiration', mode, status, message };
}
