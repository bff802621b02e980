/**
 * Every benchmark, one after the other (`npm run bench`): the engine micro-benchmark, the CLI
 * benchmark, the cluster-facts memory, the HTTP benchmark against baseline A, then the peak memory
 * of `tokenguard test` on a 500 MB input (built CLI).
 *
 *   npx tsx bench/run-all.ts            full run (~15 min)
 *   npx tsx bench/run-all.ts --quick    a quick look (~3 min): smaller inputs, bench/http.ts --quick
 *
 * Each runs in its own process; a failure is reported and the others still run; the exit code
 * is 1 if any failed.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const quick = process.argv.includes('--quick');
const benches: [string, string[], Record<string, string>][] = [
  ['bench/engine.ts', [], {}],
  ['bench/cli.bench.ts', quick ? ['2000'] : [], {}],
  ['bench/facts.ts', [], quick ? { LOOKUPS: '100000' } : {}],
  ['bench/http.ts', quick ? ['--quick'] : [], {}],
  ['bench/cli-memory.ts', quick ? ['--mb', '50'] : [], {}],
];
const failed: string[] = [];
const built = spawnSync('npm', ['run', 'build', '--silent'], {
  cwd: join(import.meta.dirname, '..'),
  stdio: 'inherit',
});
if (built.status !== 0) failed.push('npm run build');
for (const [file, args, env] of benches) {
  process.stderr.write(`\n=== ${file} ${args.join(' ')}\n`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', file, ...args], {
    cwd: join(import.meta.dirname, '..'),
    stdio: 'inherit',
    env: { ...process.env, ...env },
  });
  if (r.status !== 0) failed.push(`${file} (${r.status ?? r.signal})`);
}
process.stderr.write(`\n=== ${failed.length === 0 ? 'all benchmarks ran' : `FAILED: ${failed.join(', ')}`}\n`);
process.exitCode = failed.length === 0 ? 0 : 1;
