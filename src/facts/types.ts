import type { ClusterFacts } from '../engine/types.js';

/** What the engine needs to know about for one object. */
export interface FactsRequest {
  readonly namespace: string;
  /** The pod's ServiceAccount; undefined for other kinds. */
  readonly serviceAccount?: string;
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
