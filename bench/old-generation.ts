/**
 * Mark-compacts counted without a `PerformanceObserver` (the HTTP benchmark's variant
 * `gc=heap`): the old generation's used size only falls when a mark-compact frees it (scavenges
 * only promote into it), so a fall between two samples is at least one mark-compact. Two within
 * one sampling period count as one, and durations are unknown.
 */
import { getHeapSpaceStatistics } from 'node:v8';

const OLD_SPACES: ReadonlySet<string> = new Set(['old_space', 'large_object_space', 'code_space']);

/** Bytes used now in V8's old generation (old, large-object and code spaces). */
export function oldGenerationUsed(): number {
  let used = 0;
  for (const s of getHeapSpaceStatistics()) if (OLD_SPACES.has(s.space_name)) used += s.space_used_size;
  return used;
}

/** Tells when the old generation's used size fell between two samples. */
export class OldGenerationFalls {
  private last: number;

  constructor(used: number = oldGenerationUsed()) {
    this.last = used;
  }

  /** Takes a sample; true when the old generation shrank since the last one. */
  sample(used: number = oldGenerationUsed()): boolean {
    const fell = used < this.last;
    this.last = used;
    return fell;
  }

  /** Starts again from `used`: a fall before it is not reported. */
  reset(used: number = oldGenerationUsed()): void {
    this.last = used;
  }
}
