/**
 * The workload table: one entry per workload, filled pod by pod as the pod list streams in, so
 * that memory grows with the number of workloads, never with the number of pods. Each pod is
 * judged by the pod evaluator (admission.ts), its references to legacy token Secrets recorded
 * (src/engine/secret-uses.ts), and then dropped. Pure.
 */
import { type JsonObject, objectAt, stringAt } from '../json.js';
import type { PodEvaluator, PodOutcome, PodVerdict } from './admission.js';
import type { ObjectRef } from './inventory.js';
import { workloadKey } from './owners.js';
import { type SecretUse, secretUses, useKey } from '../engine/secret-uses.js';

/** Pods of one workload with the same verdict. */
export interface Variant {
  readonly verdict: PodVerdict;
  pods: number;
  /** The first pod seen with it. */
  readonly examplePod: string;
}

/** A legacy token Secret as one workload uses it. */
export interface WorkloadSecretUse {
  readonly secret: string;
  /** The distinct ways, over its pods and its template. */
  readonly uses: SecretUse[];
  /** Pods of the workload that refer to it. */
  pods: number;
  /** The workload's own pod template refers to it. */
  template: boolean;
}

export interface WorkloadEntry {
  readonly ref: ObjectRef;
  pods: number;
  /** ServiceAccounts its pods run as (at most a few). */
  readonly serviceAccounts: string[];
  /** Pods that mount a projected token for the API server now. */
  apiTokenPods: number;
  /** Of those, pods that admission would leave without one. */
  wouldLosePods: number;
  readonly outcomes: Record<PodOutcome, number>;
  /** Distinct verdicts, most pods first once read; at most `maxVariants`. */
  readonly variants: Map<string, Variant>;
  /** Pods whose verdict did not fit in `variants` (counted in `outcomes` all the same). */
  otherVariantPods: number;
  /** Legacy token Secrets the workload uses, by name. */
  readonly secrets: Map<string, WorkloadSecretUse>;
  /** The workload object itself, kept when its template refers to a legacy token Secret (for the plan). */
  object?: JsonObject;
}

export interface WorkloadTableOptions {
  readonly evaluate: PodEvaluator;
  /** True when `ns/name` is a legacy token Secret. */
  readonly isTokenSecret: (namespace: string, name: string) => boolean;
  /** Distinct verdicts kept per workload (default 8). */
  readonly maxVariants?: number;
}

const MAX_SERVICE_ACCOUNTS = 4;

export class WorkloadTable {
  readonly #entries = new Map<string, WorkloadEntry>();
  readonly #options: WorkloadTableOptions;
  /** Pods added. */
  pods = 0;

  constructor(options: WorkloadTableOptions) {
    this.#options = options;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Forgets every pod (a list that starts again); workload objects stay. */
  resetPods(): void {
    this.pods = 0;
    for (const [k, e] of this.#entries) {
      if (!e.object) {
        this.#entries.delete(k);
        continue;
      }
      e.pods = 0;
      e.apiTokenPods = 0;
      e.wouldLosePods = 0;
      for (const o of Object.keys(e.outcomes) as PodOutcome[]) e.outcomes[o] = 0;
      e.variants.clear();
      e.otherVariantPods = 0;
      e.serviceAccounts.length = 0;
      for (const [name, s] of e.secrets) {
        if (!s.template) e.secrets.delete(name);
        else s.pods = 0;
      }
    }
  }

  /** Judges one pod and adds it to its workload's entry. */
  addPod(pod: JsonObject, workload: ObjectRef): void {
    this.pods++;
    const entry = this.#entry(workload);
    entry.pods++;
    const md = objectAt(pod, 'metadata');
    const spec = objectAt(pod, 'spec') ?? {};
    const namespace = stringAt(md, 'namespace') ?? '';
    const sa = stringAt(spec, 'serviceAccountName') || stringAt(spec, 'serviceAccount') || 'default';
    if (!entry.serviceAccounts.includes(sa) && entry.serviceAccounts.length < MAX_SERVICE_ACCOUNTS)
      entry.serviceAccounts.push(sa);
    const verdict = this.#options.evaluate(pod);
    entry.outcomes[verdict.outcome]++;
    if (verdict.apiTokenBefore) entry.apiTokenPods++;
    if (verdict.apiTokenBefore && !verdict.apiTokenAfter) entry.wouldLosePods++;
    const variant = entry.variants.get(verdict.signature);
    if (variant) variant.pods++;
    else if (entry.variants.size < (this.#options.maxVariants ?? 8))
      entry.variants.set(verdict.signature, { verdict, pods: 1, examplePod: stringAt(md, 'name') ?? '' });
    else entry.otherVariantPods++;
    const uses = secretUses(spec, (name) => this.#options.isTokenSecret(namespace, name));
    // A pod of no controller is its own template: keep it for the plan.
    const bare = workload.kind === 'Pod' && uses.length > 0;
    if (bare) entry.object = pod;
    const counted = new Set<string>();
    for (const u of uses) {
      const s = this.#secretEntry(entry, u.secret);
      if (bare) s.template = true;
      if (!s.uses.some((x) => useKey(x) === useKey(u))) s.uses.push(u);
      if (!counted.has(u.secret)) {
        counted.add(u.secret);
        s.pods++;
      }
    }
  }

  /** Records a workload whose own pod template refers to legacy token Secrets, and keeps the object. */
  addTemplate(workload: ObjectRef, object: JsonObject, uses: readonly SecretUse[]): void {
    const entry = this.#entry(workload);
    entry.object = object;
    for (const u of uses) {
      const s = this.#secretEntry(entry, u.secret);
      s.template = true;
      if (!s.uses.some((x) => useKey(x) === useKey(u))) s.uses.push(u);
    }
  }

  /** Every entry, by kind, namespace and name. */
  entries(): WorkloadEntry[] {
    return [...this.#entries.values()].sort(
      (a, b) => cmp(a.ref.namespace, b.ref.namespace) || cmp(a.ref.kind, b.ref.kind) || cmp(a.ref.name, b.ref.name),
    );
  }

  #entry(ref: ObjectRef): WorkloadEntry {
    const k = workloadKey(ref);
    let e = this.#entries.get(k);
    if (!e) {
      e = {
        ref,
        pods: 0,
        serviceAccounts: [],
        apiTokenPods: 0,
        wouldLosePods: 0,
        outcomes: { denied: 0, changed: 0, warned: 0, passed: 0, error: 0 },
        variants: new Map(),
        otherVariantPods: 0,
        secrets: new Map(),
      };
      this.#entries.set(k, e);
    } else if (!e.ref.uid && ref.uid) (e as { ref: ObjectRef }).ref = ref;
    return e;
  }

  #secretEntry(entry: WorkloadEntry, secret: string): WorkloadSecretUse {
    let s = entry.secrets.get(secret);
    if (!s) {
      s = { secret, uses: [], pods: 0, template: false };
      entry.secrets.set(secret, s);
    }
    return s;
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
