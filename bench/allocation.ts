/**
 * Bytes of V8 heap one call allocates: the growth of the young generation (new space and new
 * large-object space) over a batch of calls, per call, as the median of many batches. A batch
 * that a scavenge interrupts shows a shrinking young generation and is left out. What the calls
 * allocate outside V8's heap (Buffer contents, native memory) is not counted.
 *
 * @example
 * const bytes = bytesPerCall(() => JSON.parse(body)); // about the parsed object graph's size
 */
import { getHeapSpaceStatistics } from 'node:v8';

export interface AllocationOptions {
  /** Calls per batch (default 20): enough to dwarf the measurement's own allocation. */
  readonly batch?: number;
  /** Batches measured (default 200). */
  readonly batches?: number;
}

function youngBytes(): number {
  let used = 0;
  for (const s of getHeapSpaceStatistics()) {
    if (s.space_name === 'new_space' || s.space_name === 'new_large_object_space') used += s.space_used_size;
  }
  return used;
}

/** Median bytes per call of `fn`, less what a batch of empty calls allocates. */
export function bytesPerCall(fn: () => unknown, options: AllocationOptions = {}): number {
  const batch = options.batch ?? 20;
  const batches = options.batches ?? 200;
  const median = (f: () => unknown): number => {
    for (let i = 0; i < 2000; i++) f(); // optimized code allocates less than the interpreter
    const samples: number[] = [];
    for (let k = 0; k < batches; k++) {
      const before = youngBytes();
      for (let i = 0; i < batch; i++) f();
      const after = youngBytes();
      if (after >= before) samples.push(after - before);
    }
    if (samples.length === 0) return Number.NaN;
    samples.sort((a, b) => a - b);
    return (samples[Math.floor(samples.length / 2)] as number) / batch;
  };
  const empty = median(() => undefined);
  return Math.max(0, median(fn) - empty);
}
