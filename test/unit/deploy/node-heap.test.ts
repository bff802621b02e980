/**
 * The V8 heap the Deployment's NODE_OPTIONS give: the old generation capped and the young
 * generation fixed, whatever memory Node reads off the machine or the container. V8's `heap_size_limit` is the old generation's cap plus three semi-spaces.
 * Where this process may create a cgroup v1 memory group (root), the same is checked inside
 * the Deployment's memory limit, where V8 on its own picks 1 MiB semi-spaces.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { imageStart } from '../../helpers/image-start.js';
import { canCreateMemoryCgroup, createMemoryCgroup, type MemoryCgroup } from '../../helpers/memory-cgroup.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const MIB = 1024 * 1024;
const PRINT_LIMIT = 'process.stdout.write(String(require("node:v8").getHeapStatistics().heap_size_limit))';

/** V8's heap limit, in MiB, of a node process started with `nodeOptions` (in a memory cgroup when given). */
function heapLimitMiB(nodeOptions: string, cgroup?: MemoryCgroup): number {
  const argv = [process.execPath, '-e', PRINT_LIMIT];
  const [command, args] = cgroup ? cgroup.command(argv) : [process.execPath, argv.slice(1)];
  return (
    Number(execFileSync(command, args, { env: { ...process.env, NODE_OPTIONS: nodeOptions }, encoding: 'utf8' })) / MIB
  );
}

const option = (options: string, name: string): number => {
  const m = new RegExp(`(?:^|\\s)--${name}=(\\d+)(?:\\s|$)`).exec(options);
  if (!m) throw new Error(`NODE_OPTIONS of deploy/base has no --${name}: ${options}`);
  return Number(m[1]);
};

const shipped = imageStart(ROOT);
const oldMiB = option(shipped.nodeOptions, 'max-old-space-size');
const semiMiB = option(shipped.nodeOptions, 'max-semi-space-size');

describe("the Deployment's NODE_OPTIONS", () => {
  it('cap the old generation and fix 16 MiB semi-spaces, whatever memory the machine has', () => {
    expect(semiMiB).toBe(16);
    expect(heapLimitMiB(shipped.nodeOptions)).toBe(oldMiB + 3 * semiMiB);
    // The heap fits the container's memory limit with room for what lies outside it.
    expect((oldMiB + 3 * semiMiB) * MIB).toBeLessThan(shipped.memoryLimitBytes * 0.85);
  });

  (canCreateMemoryCgroup() ? it : it.skip)(
    'inside the container memory limit (a cgroup v1 memory group): the same heap; without --max-semi-space-size V8 would pick 1 MiB semi-spaces',
    () => {
      const cgroup = createMemoryCgroup(`tokenguard-test-${process.pid}`, shipped.memoryLimitBytes);
      try {
        expect(heapLimitMiB(shipped.nodeOptions, cgroup)).toBe(oldMiB + 3 * semiMiB);
        const withoutSemi = shipped.nodeOptions.replace(/--max-semi-space-size=\d+/, '').trim();
        expect(heapLimitMiB(withoutSemi, cgroup)).toBe(oldMiB + 3 * 1);
      } finally {
        cgroup.remove();
      }
    },
  );
});
