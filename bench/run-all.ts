/**
 * Every benchmark, one after the other (`npm run bench`): the engine micro-benchmark, the CLI
 * benchmark, the cluster-facts benchmark (when bench/facts.ts exists), then the HTTP benchmark
 * (which writes bench/results/ and, in a full run, docs/benchmarks.md).
 *
 *   npx tsx bench/run-all.ts            full run (~15 min)
 *   npx tsx bench/run-all.ts --quick    a quick look (~3 min): smaller inputs, bench/http.ts --quick
 *   npx tsx bench/run-all.ts --only http,engine
 *
 * Each benchmark runs in its own process with a time limit; a failure is reported and the others
 * still run; the exit code is 1 if any failed.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const root = join(import.meta.dirname, '..');
const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, only: { type: 'string' } }, strict: true });
const quick = values.quick === true;
const only = values.only?.split(',');

interface Bench {
  readonly id: string;
  readonly file: string;
  readonly args: readonly string[];
  readonly env?: Record<string, string>;
  readonly timeoutMinutes: number;
}

const benches: Bench[] = [
  { id: 'engine', file: 'bench/engine.ts', args: [], timeoutMinutes: 5 },
  { id: 'cli', file: 'bench/cli.bench.ts', args: quick ? ['2000'] : [], timeoutMinutes: 10 },
  { id: 'facts', file: 'bench/facts.ts', args: [], env: quick ? { LOOKUPS: '100000' } : {}, timeoutMinutes: 10 },
  { id: 'http', file: 'bench/http.ts', args: quick ? ['--quick'] : [], timeoutMinutes: quick ? 10 : 40 },
];

function run(b: Bench): Promise<number | string> {
  return new Promise((resolve) => {
    process.stderr.write(`\n=== ${b.id}: ${b.file} ${b.args.join(' ')}\n`);
    const child = spawn(process.execPath, ['--import', 'tsx', b.file, ...b.args], { cwd: root, stdio: 'inherit', env: { ...process.env, ...b.env } });
    const timer = setTimeout(() => {
      process.stderr.write(`=== ${b.id}: no end after ${b.timeoutMinutes} min, stopping it\n`);
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
    }, b.timeoutMinutes * 60_000);
    const stop = () => child.kill('SIGTERM');
    process.once('SIGINT', stop);
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve(e.message);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      process.off('SIGINT', stop);
      resolve(code ?? String(signal));
    });
  });
}

const outcomes: [string, number | string][] = [];
for (const b of benches) {
  if (only && !only.includes(b.id)) continue;
  if (!existsSync(join(root, b.file))) {
    outcomes.push([b.id, 'skipped (no file)']);
    continue;
  }
  const started = Date.now();
  const code = await run(b);
  outcomes.push([b.id, code === 0 ? `ok in ${((Date.now() - started) / 1000).toFixed(0)} s` : `FAILED (${code})`]);
}
process.stderr.write(`\n=== summary\n${outcomes.map(([id, o]) => `  ${id.padEnd(7)} ${o}`).join('\n')}\n`);
process.exitCode = outcomes.some(([, o]) => String(o).startsWith('FAILED')) ? 1 : 0;
