/**
 * Leader election through a coordination.k8s.io/v1 Lease, as client-go's
 * `tools/leaderelection` does it (docs/certificates.md, "Leader election"): every candidate
 * tries to acquire or renew the Lease every `retryPeriodMs`; a Lease held by another identity
 * is taken over only when it has not changed for `leaseDurationMs`, measured on this process's
 * clock from when the change was seen (never from the times written in the Lease, so clock skew
 * between nodes does not matter); a leader that could not renew for `renewDeadlineMs` stops
 * leading. Writes carry the resourceVersion read, so two candidates cannot both win a round.
 */
import { isObject, type JsonObject } from '../json.js';
import { KubeApiError } from './client.js';

/** client-go's defaults (leaderelection.go; controller-runtime's manager uses the same). */
export const LEASE_DURATION_MS = 15_000;
export const RENEW_DEADLINE_MS = 10_000;
export const RETRY_PERIOD_MS = 2_000;

export interface LeaseTiming {
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
}

export const DEFAULT_LEASE_TIMING: LeaseTiming = {
  leaseDurationMs: LEASE_DURATION_MS,
  renewDeadlineMs: RENEW_DEADLINE_MS,
  retryPeriodMs: RETRY_PERIOD_MS,
};

/** The Lease's spec, as far as election reads it. */
export interface LeaseRecord {
  readonly holderIdentity: string;
  readonly leaseDurationSeconds: number;
  readonly acquireTime: string | undefined;
  readonly renewTime: string | undefined;
  readonly leaseTransitions: number;
}

/** What a candidate remembers between rounds: the last record seen and when (its own clock). */
export interface Observation {
  readonly key: string;
  readonly at: number;
}

/** Reads the spec of a Lease object; missing fields read as empty. */
export function leaseRecord(lease: JsonObject): LeaseRecord {
  const spec = isObject(lease.spec) ? lease.spec : {};
  return {
    holderIdentity: typeof spec.holderIdentity === 'string' ? spec.holderIdentity : '',
    leaseDurationSeconds: typeof spec.leaseDurationSeconds === 'number' ? spec.leaseDurationSeconds : 0,
    acquireTime: typeof spec.acquireTime === 'string' ? spec.acquireTime : undefined,
    renewTime: typeof spec.renewTime === 'string' ? spec.renewTime : undefined,
    leaseTransitions: typeof spec.leaseTransitions === 'number' ? spec.leaseTransitions : 0,
  };
}

/** The outcome of one round for `identity`, and the observation to keep. */
export type LeaseStep =
  | { readonly kind: 'write'; readonly spec: LeaseRecord; readonly observation: Observation }
  | { readonly kind: 'held'; readonly holder: string; readonly observation: Observation };

/**
 * One round of acquire-or-renew, decided from the Lease read (undefined: there is none), the
 * previous observation, and the time. Pure.
 */
export function leaseStep(
  current: LeaseRecord | undefined,
  previous: Observation | undefined,
  now: number,
  identity: string,
  timing: LeaseTiming,
): LeaseStep {
  const key = current === undefined ? '' : JSON.stringify(current);
  const observation: Observation = previous !== undefined && previous.key === key ? previous : { key, at: now };
  const stamp = microTime(now);
  const durationSeconds = Math.ceil(timing.leaseDurationMs / 1000);
  if (current === undefined) {
    return {
      kind: 'write',
      spec: {
        holderIdentity: identity,
        leaseDurationSeconds: durationSeconds,
        acquireTime: stamp,
        renewTime: stamp,
        leaseTransitions: 0,
      },
      observation,
    };
  }
  const mine = current.holderIdentity === identity;
  // The holder's own duration counts (a released Lease says 1 s); ours when it gives none.
  const heldFor = current.leaseDurationSeconds > 0 ? current.leaseDurationSeconds * 1000 : timing.leaseDurationMs;
  if (!mine && current.holderIdentity !== '' && now < observation.at + heldFor)
    return { kind: 'held', holder: current.holderIdentity, observation };
  return {
    kind: 'write',
    spec: {
      holderIdentity: identity,
      leaseDurationSeconds: durationSeconds,
      acquireTime: mine ? (current.acquireTime ?? stamp) : stamp,
      renewTime: stamp,
      leaseTransitions: mine ? current.leaseTransitions : current.leaseTransitions + 1,
    },
    observation,
  };
}

/** A MicroTime (RFC 3339 with exactly six fractional digits), as the API server parses it. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** What the elector calls the API through (src/kube/client.ts in production). */
export interface LeaseApi {
  /** The Lease, or undefined when there is none. */
  get(): Promise<JsonObject | undefined>;
  /** Creates it; rejects with 409 when another candidate was first. */
  create(spec: LeaseRecord): Promise<JsonObject>;
  /** Replaces its spec, guarded by `resourceVersion`; rejects with 409 when it changed. */
  update(lease: JsonObject, spec: LeaseRecord): Promise<JsonObject>;
}

export interface ElectorEvents {
  /** Called when this candidate becomes leader; the signal aborts when it stops leading. */
  readonly onStartedLeading: (signal: AbortSignal) => void;
  readonly onStoppedLeading: (reason: string) => void;
  readonly onNewLeader?: (holder: string) => void;
  /** A round that failed (API down, forbidden); the elector carries on. */
  readonly onError: (message: string) => void;
}

export interface Elector {
  isLeader(): boolean;
  /** Stops the rounds; a leader releases the Lease so another candidate takes over at once. */
  close(): Promise<void>;
}

/**
 * Runs election rounds every `retryPeriodMs` until closed. `now` and the timers are injected so
 * tests can drive the clock.
 */
export function startElector(options: {
  readonly api: LeaseApi;
  readonly identity: string;
  readonly timing?: LeaseTiming;
  readonly events: ElectorEvents;
  readonly now?: () => number;
}): Elector {
  const { api, identity, events } = options;
  const timing = options.timing ?? DEFAULT_LEASE_TIMING;
  const now = options.now ?? Date.now;
  let observation: Observation | undefined;
  let leading: AbortController | undefined;
  let lastRenew = 0;
  let lastLease: JsonObject | undefined;
  let lastHolder = '';
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();

  const stopLeading = (reason: string) => {
    if (!leading) return;
    leading.abort();
    leading = undefined;
    events.onStoppedLeading(reason);
  };

  const round = async () => {
    try {
      const lease = await api.get();
      const record = lease === undefined ? undefined : leaseRecord(lease);
      const step = leaseStep(record, observation, now(), identity, timing);
      observation = step.observation;
      if (step.kind === 'held') {
        stopLeading(`the Lease is held by ${step.holder}`);
        if (step.holder !== lastHolder) {
          lastHolder = step.holder;
          events.onNewLeader?.(step.holder);
        }
        return;
      }
      const written = lease === undefined ? await api.create(step.spec) : await api.update(lease, step.spec);
      lastLease = written;
      observation = { key: JSON.stringify(leaseRecord(written)), at: now() };
      lastRenew = now();
      if (!leading) {
        leading = new AbortController();
        lastHolder = identity;
        events.onStartedLeading(leading.signal);
      }
    } catch (e) {
      const conflict = e instanceof KubeApiError && e.statusCode === 409;
      if (!conflict) events.onError(`Lease: ${(e as Error).message}`);
      if (leading && now() - lastRenew >= timing.renewDeadlineMs)
        stopLeading(`could not renew the Lease for ${timing.renewDeadlineMs} ms`);
    }
  };

  const loop = () => {
    if (closed) return;
    running = round().finally(() => {
      if (!closed) timer = setTimeout(loop, timing.retryPeriodMs);
    });
  };
  loop();

  return {
    isLeader: () => leading !== undefined,
    close: async () => {
      closed = true;
      clearTimeout(timer);
      await running;
      const wasLeading = leading !== undefined;
      stopLeading('shutting down');
      if (wasLeading && lastLease !== undefined) {
        const record = leaseRecord(lastLease);
        // As client-go's ReleaseOnCancel: an empty holder and a 1 s duration.
        await api
          .update(lastLease, { ...record, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime(now()) })
          .catch((e: unknown) => {
            events.onError(`Lease: cannot release: ${(e as Error).message}`);
          });
      }
    },
  };
}
