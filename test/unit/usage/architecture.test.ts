import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from '../../helpers/fixtures.js';

// The counting is pure: records in, a summary out. Only the readers (read.ts, load.ts; and the command, in
// src/cli/commands/usage.ts) touch files, the clock and the network, so the aggregation is tested (and benchmarked) without them.
const IO_FILES = new Set(['read.ts', 'load.ts']);

test('src/usage: everything but read.ts and load.ts is pure (no node:, no clock, no process)', () => {
  const dir = join(REPO, 'src', 'usage');
  const offending: string[] = [];
  for (const name of readdirSync(dir).filter((n) => n.endsWith('.ts') && !IO_FILES.has(n))) {
    const text = readFileSync(join(dir, name), 'utf8');
    for (const m of text.matchAll(/^\s*(?:import|export)\s+(type\s+)?[^'"]*?from\s+'([^']+)'/gm)) {
      const spec = m[2] as string;
      const typeOnly = Boolean(m[1]);
      if (
        spec.startsWith('node:') ||
        (!typeOnly && (spec === './read.js' || spec === './load.js' || /^\.\.\/(cli|server|facts|kube)\//.test(spec)))
      ) {
        offending.push(`${name} imports ${spec}`);
      }
    }
    for (const banned of ['Date.now(', 'Math.random(', 'process.', 'console.'])
      if (text.includes(banned)) offending.push(`${name} uses ${banned}`);
  }
  expect(offending).toEqual([]);
});
