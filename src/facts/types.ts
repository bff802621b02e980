import { podServiceAccount } from '../engine/pod.js';
import type { ClusterFacts, EngineInput } from '../engine/types.js';
import { objectAt, stringAt } from '../json.js';

/** What the engine needs to know about for one object. */
export interface FactsRequest {
  readonly namespace: string;
  /** The pod's ServiceAccount; undefined for other kinds. */
  readonly serviceAccount?: string;
}

/** What facts an input needs: its namespace, and a pod's ServiceAccount. */
export function factsRequestFor(input: EngineInput): FactsRequest {
  const ns = stringAt(objectAt(input.object, 'metadata'), 'namespace') || input.namespace;
  if (input.kind === 'Pod' && input.object) return { namespace: ns, serviceAccount: podServiceAccount(input.object) };
  return { namespace: ns };
}

/**
 * Where facts come from: informers in a cluster, manifests in the CLI. Fetched before the
 * engine runs, never from inside a rule. A provider answers synchronously when it can.
 */
export interface FactsProvider {
  lookup(request: FactsRequest): ClusterFacts | Promise<ClusterFacts>;
}

/** A provider that knows nothing: every fact is unknown. */
export const noFacts: FactsProvider = { lookup: () => ({}) };

/**
 * `provider` with the API server's own audiences (`serve --api-audience`) added to every answer
 * (docs/tokens.md "API audiences"). Without a list the provider itself is returned: the engine
 * then uses its defaults, and the hot path pays nothing.
 */
export function withApiAudiences(provider: FactsProvider, apiAudiences: readonly string[] | undefined): FactsProvider {
  if (!apiAudiences || apiAudiences.length === 0) return provider;
  const add = (f: ClusterFacts): ClusterFacts => ({ ...f, apiAudiences });
  return {
    lookup(request) {
      const f = provider.lookup(request);
      return f instanceof Promise ? f.then(add) : add(f);
    },
  };
}
