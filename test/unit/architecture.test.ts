import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { REPO } from '../helpers/fixtures.js';

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

function imports(file: string): { spec: string; typeOnly: boolean }[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/^\s*(import|export)\s+(type\s+)?[^'"]*?from\s+'([^']+)'/gm)].map((m) => ({
    spec: m[3] as string,
    typeOnly: Boolean(m[2]),
  }));
}

/** The file a relative import names (`./x.js` is `x.ts` on disk), or undefined for a package or `node:` module. */
function target(file: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  return resolve(dirname(file), spec).replace(/\.js$/, '.ts');
}

const SRC = join(REPO, 'src');

/** The code of a file without its comments (examples in doc comments are not code). */
function code(file: string): string {
  return readFileSync(file, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
}
const rel = (file: string) => relative(REPO, file);

/** The files every part of src/ may import, which import nothing of src/ themselves. */
const GROUND = ['json.ts', 'glob.ts', 'constants.ts', 'duration.ts'].map((f) => join(SRC, f));

test('the ground files exist and import nothing of src/', () => {
  const offending = GROUND.flatMap((file) =>
    existsSync(file)
      ? imports(file)
          .filter(({ spec }) => spec.startsWith('.'))
          .map(({ spec }) => `${rel(file)} imports ${spec}`)
      : [`${rel(file)} is missing`],
  );
  expect(offending).toEqual([]);
});

// The engine is a pure function of (policies, input, facts): no I/O, no clock, no framework.
test('src/engine imports, of src/, only itself, the ground files and src/policy/types.ts; of packages only fast-json-patch', () => {
  const engine = join(SRC, 'engine');
  const allowed = new Set([...GROUND, join(SRC, 'policy', 'types.ts')]);
  const offending = sources(engine).flatMap((file) =>
    imports(file)
      .filter(({ spec }) => {
        const to = target(file, spec);
        if (to === undefined) return spec !== 'fast-json-patch';
        return !to.startsWith(`${engine}/`) && !allowed.has(to);
      })
      .map(({ spec }) => `${rel(file)} imports ${spec}`),
  );
  expect(offending).toEqual([]);
});

test('src/engine and src/policy (except load.ts) use no clock, randomness, environment or console', () => {
  const pure = [
    ...sources(join(SRC, 'engine')),
    ...sources(join(SRC, 'policy')).filter((f) => !/load\.ts$|write-schema\.ts$/.test(f)),
  ];
  const offending: string[] = [];
  for (const file of pure) {
    for (const { spec } of imports(file)) {
      if (spec.startsWith('node:') || ['express', 'pino', 'prom-client', '@kubernetes/client-node'].includes(spec))
        offending.push(`${rel(file)} imports ${spec}`);
    }
    const text = readFileSync(file, 'utf8');
    for (const banned of ['Date.now(', 'new Date(', 'Math.random(', 'process.env', 'console.']) {
      if (text.includes(banned)) offending.push(`${rel(file)} uses ${banned}`);
    }
  }
  expect(offending).toEqual([]);
});

/**
 * Everything `file` runs with, through its value imports (type-only imports vanish at runtime):
 * the src/ files reached, and the packages and `node:` modules they import.
 */
function closure(file: string, seen = new Map<string, string[]>()): Map<string, string[]> {
  if (seen.has(file)) return seen;
  const external: string[] = [];
  seen.set(file, external);
  for (const { spec, typeOnly } of imports(file)) {
    if (typeOnly) continue;
    const to = target(file, spec);
    if (to === undefined) external.push(spec);
    else closure(to, seen);
  }
  return seen;
}

/** `node:` modules that compute without I/O (hashing for reproducible names). */
const NO_IO_NODE = ['node:crypto'];
/** Packages that compute without I/O. */
const NO_IO_PACKAGES = ['fast-json-patch', 'yaml', '@bufbuild/cel', '@bufbuild/cel/ext'];

test('src/admission, src/dryrun and src/export do no I/O, through anything they import: no file system, network, process, clock or console', () => {
  const offending = new Set<string>();
  for (const start of [
    ...sources(join(SRC, 'admission')),
    ...sources(join(SRC, 'dryrun')),
    ...sources(join(SRC, 'export')),
  ]) {
    for (const [file, external] of closure(start)) {
      for (const spec of external) {
        const ok = spec.startsWith('node:') ? NO_IO_NODE.includes(spec) : NO_IO_PACKAGES.includes(spec);
        if (!ok) offending.add(`${rel(start)} reaches ${rel(file)}, which imports ${spec}`);
      }
      const text = code(file);
      for (const banned of [
        'process.',
        'console.',
        'fetch(',
        'Date.now(',
        'new Date(',
        'setTimeout(',
        'setInterval(',
      ]) {
        if (text.includes(banned)) offending.add(`${rel(start)} reaches ${rel(file)}, which uses ${banned}`);
      }
    }
  }
  expect([...offending]).toEqual([]);
});

// Library internals change in minor releases without notice: only packages' public entry points.
test('no file imports a path inside pino/ or prom-client/, statically, dynamically or with require', () => {
  const files = ['src', 'test', 'bench'].flatMap((d) => sources(join(REPO, d)));
  const offending = files.filter((file) =>
    /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*)['"`](?:pino|prom-client)\//.test(readFileSync(file, 'utf8')),
  );
  expect(offending.map(rel)).toEqual([]);
});

// @kubernetes/client-node multiplies the server's RSS (its config.js loads every generated model): the
// serve path talks to the API server through src/kube instead. Tests and benchmarks may still use it.
test('nothing under src/ imports @kubernetes/client-node, statically or dynamically', () => {
  const offending = sources(SRC).filter((file) =>
    /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|^\s*import\s+)['"]@kubernetes\/client-node(?:\/[^'"]*)?['"]/m.test(
      readFileSync(file, 'utf8'),
    ),
  );
  expect(offending.map(rel)).toEqual([]);
});

test('src/kube is built on node: modules, yaml and the ground files only', () => {
  const kube = join(SRC, 'kube');
  const offending = sources(kube).flatMap((file) =>
    imports(file)
      .filter(({ spec, typeOnly }) => {
        const to = target(file, spec);
        if (to === undefined) return !(spec.startsWith('node:') || spec === 'yaml');
        return !(to.startsWith(`${kube}/`) || GROUND.includes(to) || typeOnly);
      })
      .map(({ spec }) => `${rel(file)} imports ${spec}`),
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
      if (spec.startsWith('node:') || ['express', 'pino', 'prom-client', '@kubernetes/client-node'].includes(spec))
        offending.push(`${relative(REPO, file)} imports ${spec}`);
      if (!typeOnly && /\.\.\/(server|kube)\/|\.\/(collect|apply)\.js$/.test(spec))
        offending.push(`${relative(REPO, file)} imports ${spec}`);
    }
    const text = readFileSync(file, 'utf8');
    for (const banned of ['Date.now(', 'new Date()', 'Math.random(', 'process.', 'console.', 'performance.']) {
      if (text.includes(banned)) offending.push(`${relative(REPO, file)} uses ${banned}`);
    }
  }
  expect(offending).toEqual([]);
});
