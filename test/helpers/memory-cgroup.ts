/**
 * A cgroup v1 memory group with a limit, as a container runtime gives a pod's container: the
 * Deployment's memory limit on this machine. Node sizes V8's heap from it
 * (`uv_get_constrained_memory`), so a process inside behaves as in the cluster. Needs root and
 * the v1 memory controller at /sys/fs/cgroup/memory; {@link canCreateMemoryCgroup} says whether
 * this process can make one. Used by the process tests of the Deployment's memory settings.
 */
import { accessSync, constants, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const MEMORY_CGROUPS = '/sys/fs/cgroup/memory';

/** Whether this process may create memory cgroups (v1 controller present and writable). */
export function canCreateMemoryCgroup(): boolean {
  try {
    accessSync(MEMORY_CGROUPS, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

export interface MemoryCgroup {
  readonly path: string;
  /** A control file's content, trimmed (`memory.max_usage_in_bytes`, `memory.failcnt`, ...). */
  read(file: string): string;
  /** `[command, args]` that join this group, then exec `argv` (so the child's pid is argv's). */
  command(argv: readonly string[]): [string, string[]];
  /** Removes the group; its processes must have exited. */
  remove(): void;
}

/** Creates (or reuses) the group `name` with a memory limit, its peak and failure counters zeroed. */
export function createMemoryCgroup(name: string, limitBytes: number): MemoryCgroup {
  const path = join(MEMORY_CGROUPS, name);
  mkdirSync(path, { recursive: true });
  writeFileSync(join(path, 'memory.limit_in_bytes'), String(limitBytes));
  writeFileSync(join(path, 'memory.max_usage_in_bytes'), '0');
  writeFileSync(join(path, 'memory.failcnt'), '0');
  return {
    path,
    read: (file) => readFileSync(join(path, file), 'utf8').trim(),
    command: (argv) => ['sh', ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', path, ...argv]],
    remove: () => rmdirSync(path),
  };
}
