/**
 * What one replica accepts at once, so that no mix of requests can exhaust its memory or stall
 * its event loop for long (docs/reliability.md explains each number and the Kubernetes facts
 * behind it). Pure: no I/O, no clock. app.ts applies the limits to admission requests, serve.ts
 * the connection limits to sockets.
 */

/**
 * Largest admission request body: 3 MiB, the API server's own limit on a request body
 * (`MaxRequestBodyBytes`, sized as twice etcd's 1.5 MiB because JSON is about twice the size of
 * the protobuf etcd stores). tokenguard's fail-closed webhooks see CREATE reviews, which carry
 * one object; the UPDATE reviews (Secret scan, ephemeral containers) carry two objects that each
 * fit in etcd, and a Secret at its 1 MiB data limit makes an UPDATE review of about 2.8 MiB.
 */
export const MAX_BODY_BYTES = 3 * 1024 * 1024;

/**
 * Most JSON values (objects, arrays and the items after each comma) one body may hold: one per
 * 24 bytes of a full-size body. Real objects have one per 15 to 30 bytes, and the largest pods
 * in use a few thousand (a 100 KB pod of 12 containers holds 3,600); `[{},{},…]` has two per
 * 3 bytes, and `JSON.parse` would turn 3 MiB of it into 67 MB of heap and a one-second pause.
 * Reviews of one object with 261,000 distinct keys, 8 at a time, took the server to 242 MiB
 * resident (of the Deployment's 256); with 130,000 keys, to 181 MiB (docs/reliability.md).
 */
export const MAX_JSON_VALUES = 131_072;

/**
 * What a request is charged against {@link MEMORY_BUDGET_BYTES}: per body byte (the bytes, the
 * text decoded from them, the parsed copy's strings) and per JSON value (an object or array is
 * 32 to 56 bytes in V8, a value's slot 8; measured at most 49 bytes per value on `JSON.parse`).
 */
export const CHARGE_PER_BYTE = 4;
export const CHARGE_PER_VALUE = 64;

/** Memory all admission requests in flight may be charged together, from headers to answer. */
export const MEMORY_BUDGET_BYTES = 64 * 1024 * 1024;

/**
 * Requests charged over {@link LARGE_REQUEST_BYTES} (a body of about 1 MiB) share at most
 * {@link LARGE_SHARE_BYTES} of the budget: the rest is kept for the small reviews that are nearly
 * all real traffic, so that a few clients holding large bodies cannot starve them.
 */
export const LARGE_REQUEST_BYTES = 4 * 1024 * 1024;
export const LARGE_SHARE_BYTES = 48 * 1024 * 1024;

/** Admission requests in flight at once, whatever their size. */
export const MAX_REVIEWS_IN_FLIGHT = 512;

/** Connections open at once (about 40 KiB each); further ones are closed as they are accepted. */
export const MAX_CONNECTIONS = 1_000;

/** A TLS handshake not finished this long after the connection opened ends it (Node's default: 120 s). */
export const HANDSHAKE_TIMEOUT_MS = 10_000;

/** A connection that sends no request this long after its handshake is closed. */
export const FIRST_REQUEST_TIMEOUT_MS = 10_000;

/** The limits {@link createAdmissionBudget} enforces; tests shrink them. */
export interface AdmissionLimits {
  readonly maxBodyBytes: number;
  readonly maxJsonValues: number;
  readonly memoryBudgetBytes: number;
  readonly largeRequestBytes: number;
  readonly largeShareBytes: number;
  readonly maxReviewsInFlight: number;
}

export const ADMISSION_LIMITS: AdmissionLimits = {
  maxBodyBytes: MAX_BODY_BYTES,
  maxJsonValues: MAX_JSON_VALUES,
  memoryBudgetBytes: MEMORY_BUDGET_BYTES,
  largeRequestBytes: LARGE_REQUEST_BYTES,
  largeShareBytes: LARGE_SHARE_BYTES,
  maxReviewsInFlight: MAX_REVIEWS_IN_FLIGHT,
};

/** One request's claim on the budget; {@link release} it exactly once, when it is answered. */
export interface BudgetTicket {
  /** Charges `bytes` more; false (nothing charged) when the budget cannot take them. */
  grow(bytes: number): boolean;
  /** What this request is charged now. */
  charged(): number;
  release(): void;
}

export interface AdmissionBudget {
  /** A ticket for a new request, or undefined when {@link AdmissionLimits.maxReviewsInFlight} are in flight. */
  admit(): BudgetTicket | undefined;
  /** Bytes charged now, over all requests. */
  inUse(): number;
  /** Requests holding a ticket. */
  inFlight(): number;
}

/**
 * The budget of admission requests in flight.
 *
 * | a request charged, after growing,   | is refused when the requests charged then exceed |
 * |-------------------------------------|--------------------------------------------------|
 * | at most `largeRequestBytes`          | `memoryBudgetBytes`                              |
 * | over `largeRequestBytes`             | `largeShareBytes` counting only large requests, or `memoryBudgetBytes` |
 *
 * @example
 * const ticket = budget.admit(); if (!ticket || !ticket.grow(4 * contentLength)) refuse(429);
 */
export function createAdmissionBudget(limits: AdmissionLimits = ADMISSION_LIMITS): AdmissionBudget {
  let total = 0;
  let large = 0;
  let tickets = 0;
  return {
    admit() {
      if (tickets >= limits.maxReviewsInFlight) return undefined;
      tickets += 1;
      let mine = 0;
      let released = false;
      const isLarge = (charge: number) => charge > limits.largeRequestBytes;
      return {
        grow(bytes) {
          if (released) return false;
          const next = mine + bytes;
          if (total + bytes > limits.memoryBudgetBytes) return false;
          const largeNext = large - (isLarge(mine) ? mine : 0) + (isLarge(next) ? next : 0);
          if (isLarge(next) && largeNext > limits.largeShareBytes) return false;
          total += bytes;
          large = largeNext;
          mine = next;
          return true;
        },
        charged: () => mine,
        release() {
          if (released) return;
          released = true;
          total -= mine;
          if (isLarge(mine)) large -= mine;
          tickets -= 1;
          mine = 0;
        },
      };
    },
    inUse: () => total,
    inFlight: () => tickets,
  };
}

/**
 * Counts the JSON values of a body as it arrives, chunk by chunk: every `{`, `[` and `,` outside
 * strings (escapes inside strings are skipped). That is at least the number of objects, arrays
 * and array items or properties after the first of each, which is what `JSON.parse` allocates
 * for. The text need not be valid JSON; counting costs about 2.5 ns a byte.
 */
export class JsonValueCounter {
  private inString = false;
  private escaped = false;
  private n = 0;

  /** Adds a chunk; returns the count so far. */
  add(chunk: Uint8Array): number {
    let n = this.n;
    let inString = this.inString;
    const len = chunk.length;
    let i = 0;
    if (this.escaped && len > 0) {
      this.escaped = false;
      i = 1;
    }
    for (; i < len; i++) {
      const c = chunk[i] as number;
      if (inString) {
        if (c === 0x5c /* \ */) {
          if (i + 1 === len) this.escaped = true;
          i++;
        } else if (c === 0x22 /* " */) inString = false;
      } else if (c === 0x22) inString = true;
      else if (c === 0x2c /* , */ || c === 0x7b /* { */ || c === 0x5b /* [ */) n++;
    }
    this.inString = inString;
    this.n = n;
    return n;
  }

  /** The count so far. */
  count(): number {
    return this.n;
  }
}
