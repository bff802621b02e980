/**
 * The V8 heap the Deployment's NODE_OPTIONS give: the old generation capped and the young
 * generation fixed, whatever memory Node reads off the machine or the container (decision 28 of
 * docs/benchmarks.md). V8's `heap_size_limit` is the old generation's cap plus three semi-spaces.
 * Where this process may create a cgroup v1 memory group (root), the same is checked inside
 * the Deployment's memory limit, where V8 on its own picks 1 MiB semi-spaces.
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { imageStart } from '../../../bench/image-start.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const MIB = 1024 * 1024;
const PRINT_LIMIT = 'process.stdout.write(String(require("node:v8").getHeapStatistics().heap_size_limit))';

/** V8's heap limit, in MiB, of a node process started with `nodeOptions` (in a memory cgroup when given). */
function heapLimitMiB(nodeOptions: string, cgroup?: string): number {
  const env = { ...process.env, NODE_OPTIONS: nodeOptions };
  const out = cgroup
    ? execFileSync('sh', ['-c', `echo $$ > ${cgroup}/cgroup.procs && exec "$0" -e "$1"`, process.execPath, PRINT_LIMIT], { env, encoding: 'utf8' })
    : execFileSync(process.execPath, ['-e', PRINT_LIMIT], { env, encoding: 'utf8' });
  return Number(out) / MIB;
}

const option = (options: string, name: string): number => {
  const m = new RegExp(`(?:^|\\s)--${name}=(\\d+)(?:\\s|$)`).exec(options);
  if (!m) throw new Error(`NODE_OPTIONS of deploy/base has no --${name}: ${options}`);
  return Number(m[1]);
};

const deployment = imageStart(ROOT).nodeOptions;
const oldMiB = option(deployment, 'max-old-space-size');
const semiMiB = option(deployment, 'max-semi-space-size');

/** The memory limit of the tokenguard container in deploy/base, in bytes (e.g. `256Mi`). */
function containerMemoryLimit(): number {
  const m = /^\s+memory:\s*(\d+)Mi\s*$/m.exec(readFileSync(join(ROOT, 'deploy/base/deployment.yaml'), 'utf8').split('limits:')[1] ?? '');
  if (!m) throw new Error('deploy/base/deployment.yaml: no limits.memory in Mi');
  return Number(m[1]) * MIB;
}

describe("the Deployment's NODE_OPTIONS", () => {
  it('cap the old generation and fix 16 MiB semi-spaces, whatever memory the machine has', () => {
    expect(semiMiB).toBe(16);
    expect(heapLimitMiB(deployment)).toBe(oldMiB + 3 * semiMiB);
    // The heap fits the container's memory limit with room for what lies outside it.
    expect((oldMiB + 3 * semiMiB) * MIB).toBeLessThan(containerMemoryLimit() * 0.85);
  });

  const base = '/sys/fs/cgroup/memory';
  const canCgroup = existsSync(base) && (() => {
    try {
      accessSync(base, constants.W_OK);
      return true;
    } catch {
      return false;
    }
  })();
  (canCgroup ? it : it.skip)('inside the container memory limit (a cgroup v1 memory group): the same heap; without --max-semi-space-size V8 would pick 1 MiB semi-spaces', () => {
    const cgroup = join(base, `tokenguard-test-${process.pid}`);
    mkdirSync(cgroup);
    try {
      writeFileSync(join(cgroup, 'memory.limit_in_bytes'), String(containerMemoryLimit()));
      expect(heapLimitMiB(deployment, cgroup)).toBe(oldMiB + 3 * semiMiB);
      const withoutSemi = deployment.replace(/--max-semi-space-size=\d+/, '').trim();
      expect(heapLimitMiB(withoutSemi, cgroup)).toBe(oldMiB + 3 * 1);
    } finally {
      rmdirSync(cgroup);
    }
  });
});
