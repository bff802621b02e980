/**
 * Observed use as engine facts: the audit-log evidence of a TokenUsage document (src/usage/facts.ts)
 * and the time of the request, added to what a facts provider answers. The clock is the
 * caller's (the server's, the CLI's): the engine reads none.
 */
import type { ClusterFacts, ObservedUse } from '../engine/types.js';
import type { UsageFacts } from '../usage/facts.js';
import type { FactsProvider, FactsRequest } from './types.js';

/** What the facts say of one ServiceAccount; undefined when they cover no time (no event read). */
export function observedUseOf(usage: UsageFacts, namespace: string, name: string): ObservedUse | undefined {
  if (usage.from === undefined || usage.to === undefined) return undefined;
  const lastSeen = usage.serviceAccounts.get(`${namespace}/${name}`)?.lastSeen;
  return { from: usage.from, to: usage.to, ...(lastSeen !== undefined ? { lastSeen } : {}) };
}

/**
 * `facts` with `now` and, for a pod's ServiceAccount, what the audit log observed of it. A
 * ServiceAccount the provider knows nothing of gets a minimal entry carrying the observation.
 */
export function addObservedUse(
  facts: ClusterFacts,
  request: FactsRequest,
  usage: UsageFacts,
  now: number,
): ClusterFacts {
  if (request.serviceAccount === undefined) return { ...facts, now };
  const observed = observedUseOf(usage, request.namespace, request.serviceAccount);
  if (!observed) return { ...facts, now };
  const sa = facts.serviceAccount ?? { namespace: request.namespace, name: request.serviceAccount, annotations: {} };
  return { ...facts, now, serviceAccount: { ...sa, observed } };
}

/**
 * A provider that adds observed use to every answer of `provider`: `usage()` is read at each
 * lookup (the server swaps it on reload), `now()` too.
 */
export function withObservedUse(
  provider: FactsProvider,
  options: { readonly usage: () => UsageFacts; readonly now: () => number },
): FactsProvider {
  return {
    lookup(request) {
      const f = provider.lookup(request);
      const add = (facts: ClusterFacts) => addObservedUse(facts, request, options.usage(), options.now());
      return f instanceof Promise ? f.then(add) : add(f);
    },
  };
}
