import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { REPO } from '../helpers/fixtures.js';

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

function imports(file: string): { spec: string; typeOnly: boolean }[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/^\s*(import|export)\s+(type\s+)?[^'"]*?from\s+'([^']+)'/gm)].map((m) => ({ spec: m[3] as string, typeOnly: Boolean(m[2]) }));
}

// The engine is a pure function of (policies, input, facts): no I/O, no clock, no framework.
test('src/engine, src/policy (except load.ts) and the token classifier import nothing with side effects', () => {
  const pure = [
    ...sources(join(REPO, 'src', 'engine')),
    ...sources(join(REPO, 'src', 'policy')).filter((f) => !/load\.ts$|write-schema\.ts$/.test(f)),
    join(REPO, 'src', 'tokens', 'classify.ts'),
  ];
  const offending: string[] = [];
  for (const file of pure) {
    for (const { spec, typeOnly } of imports(file)) {
      const bad =
        spec.startsWith('node:') ||
        ['express', 'pino', 'prom-client', '@kubernetes/client-node'].includes(spec) ||
        (!typeOnly && /\.\.\/(admission|server|cli|facts|certs|kube)\//.test(spec)) ||
        (!typeOnly && spec.startsWith('../tokens/') && spec !== '../tokens/classify.js');
      if (bad) offending.push(`${relative(REPO, file)} imports ${spec}`);
    }
    const text = readFileSync(file, 'utf8');
    for (const banned of ['Date.now(', 'new Date(', 'Math.random(', 'process.env', 'console.']) {
      if (text.includes(banned)) offending.push(`${relative(REPO, file)} uses ${banned}`);
    }
  }
  expect(offending).toEqual([]);
});

test('the admission adapter does no I/O either', () => {
  const offending = sources(join(REPO, 'src', 'admission')).flatMap((file) =>
    imports(file)
      .filter(({ spec }) => spec.startsWith('node:') || ['express', 'pino', '@kubernetes/client-node'].includes(spec))
      .map(({ spec }) => `${relative(REPO, file)} imports ${spec}`),
  );
  expect(offending).toEqual([]);
});

// @kubernetes/client-node costs 55-75 MB of RSS (its config.js loads every generated model): the
// serve path talks to the API server through src/kube instead. Tests and benchmarks may still use it.
test('nothing under src/ imports @kubernetes/client-node, statically or dynamically', () => {
  const offending = sources(join(REPO, 'src')).filter((file) =>
    /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|^\s*import\s+)['"]@kubernetes\/client-node(?:\/[^'"]*)?['"]/m.test(readFileSync(file, 'utf8')),
  );
  expect(offending.map((f) => relative(REPO, f))).toEqual([]);
});

test('src/kube is built on node: modules and yaml only', () => {
  const offending = sources(join(REPO, 'src', 'kube')).flatMap((file) =>
    imports(file)
      .filter(({ spec, typeOnly }) => !(spec.startsWith('node:') || spec === 'yaml' || spec.startsWith('./') || (typeOnly && spec.startsWith('../'))))
      .map(({ spec }) => `${relative(REPO, file)} imports ${spec}`),
  );
  expect(offending).toEqual([]);
});

// tokenguard scan keeps its judgement apart from its I/O, as the engine does: only collect.ts and
// apply.ts talk to the API server; everything else is a function of what they read and the clock given.
test('src/scan: pure except collect.ts and apply.ts', () => {
  const io = new Set(['collect.ts', 'apply.ts']);
  const offending: string[] = [];
  for (const file of sources(join(REPO, 'src', 'scan'))) {
    if (io.has(file.split('/').pop() ?? '')) continue;
    for (const { spec, typeOnly } of imports(file)) {
      if (spec.startsWith('node:') || ['express', 'pino', 'prom-client', '@kubernetes/client-node'].includes(spec)) offending.push(`${relative(REPO, file)} imports ${spec}`);
      if (!typeOnly && /\.\.\/(server|kube)\/|\.\/(collect|apply)\.js$/.test(spec)) offending.push(`${relative(REPO, file)} imports ${spec}`);
    }
    const text = readFileSync(file, 'utf8');
    for (const banned of ['Date.now(', 'new Date()', 'Math.random(', 'process.', 'console.', 'performance.']) {
      if (text.includes(banned)) offending.push(`${relative(REPO, file)} uses ${banned}`);
    }
  }
  expect(offending).toEqual([]);
});
