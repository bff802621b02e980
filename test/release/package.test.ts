/**
 * The npm package as users get it: `npm pack` of the package (dist/ compiled here into a private
 * folder, as the release's `npm publish` compiles it with prepack), installed from the tarball
 * into an empty folder, then `tokenguard --version` and `tokenguard test` run from another
 * empty folder on an example manifest, through node_modules/.bin as npx runs it.
 *
 * Tests send nothing beyond loopback, so the install is `npm ci --offline`: its lockfile pins
 * the package's runtime dependencies at the versions of the repository's package-lock.json,
 * which `npm ci` has put in npm's cache. Every other step is what a user's `npm install` does.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from '../helpers/fixtures.js';

interface Pkg {
  name: string;
  version: string;
  bin: Record<string, string>;
  files: string[];
  dependencies: Record<string, string>;
  engines?: Record<string, string>;
  license?: string;
  repository?: { url: string };
}
interface LockEntry {
  version?: string;
  dev?: boolean;
  [k: string]: unknown;
}

const PKG = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as Pkg;
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
let work = '';
let tarball = '';
let packed: { files: { path: string }[]; integrity: string; filename: string };
let app = '';

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'tokenguard-package-'));
  // The package folder: package.json, README, policies/ and dist/ compiled from src/.
  const pkgDir = join(work, 'package');
  mkdirSync(pkgDir);
  for (const f of ['package.json', 'README.md', 'LICENSE'])
    if (existsSync(join(REPO, f))) cpSync(join(REPO, f), join(pkgDir, f));
  cpSync(join(REPO, 'policies'), join(pkgDir, 'policies'), { recursive: true });
  execFileSync(
    process.execPath,
    [
      join(REPO, 'node_modules/typescript/bin/tsc'),
      '-p',
      join(REPO, 'tsconfig.build.json'),
      '--outDir',
      join(pkgDir, 'dist'),
    ],
    { stdio: 'pipe' },
  );
  const out = execFileSync(NPM, ['pack', '--json', '--ignore-scripts', '--pack-destination', work], {
    cwd: pkgDir,
    encoding: 'utf8',
  });
  packed = (JSON.parse(out) as (typeof packed)[])[0] as typeof packed;
  tarball = join(work, packed.filename);

  // An empty project that depends on the tarball, locked to the repository's runtime dependencies.
  app = join(work, 'app');
  mkdirSync(app);
  const spec = `file:../${packed.filename}`;
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify({ name: 'app', private: true, dependencies: { [PKG.name]: spec } }, null, 2),
  );
  const repoLock = JSON.parse(readFileSync(join(REPO, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, LockEntry>;
  };
  const packages: Record<string, unknown> = { '': { name: 'app', dependencies: { [PKG.name]: spec } } };
  for (const [path, entry] of Object.entries(repoLock.packages))
    if (path.startsWith('node_modules/') && !entry.dev) packages[path] = entry;
  packages[`node_modules/${PKG.name}`] = {
    version: PKG.version,
    resolved: spec,
    integrity: packed.integrity,
    license: PKG.license,
    dependencies: PKG.dependencies,
    bin: PKG.bin,
    engines: PKG.engines,
  };
  writeFileSync(
    join(app, 'package-lock.json'),
    JSON.stringify({ name: 'app', lockfileVersion: 3, requires: true, packages }, null, 2),
  );
  const r = spawnSync(NPM, ['ci', '--offline', '--no-audit', '--no-fund', '--ignore-scripts'], {
    cwd: app,
    encoding: 'utf8',
  });
  if (r.status !== 0)
    throw new Error(
      `npm ci --offline of the tarball failed (is npm's cache filled by the repository's npm ci?): ${r.stderr.trim().split('\n').slice(-5).join('\n')}`,
    );
}, 300_000);
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Runs the installed command the way npx does: node_modules/.bin on PATH, from `cwd`. */
function installed(args: string[], cwd: string) {
  return spawnSync('tokenguard', args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, PATH: `${join(app, 'node_modules/.bin')}:${process.env.PATH ?? ''}` },
  });
}

test('the tarball holds the CLI, its policies and the README, and no sources, tests or keys', () => {
  const files = packed.files.map((f) => f.path);
  expect(files).toEqual(
    expect.arrayContaining([
      'package.json',
      'README.md',
      'dist/cli/main.js',
      'policies/automount.yaml',
      'policies/legacy-token-secrets.yaml',
      'policies/token-bounds.yaml',
      'policies/schema.json',
    ]),
  );
  for (const f of files) expect(f).toMatch(/^(package\.json|README\.md|LICENSE|dist\/.*\.js(\.map)?|policies\/[^/]+)$/);
  expect(files.filter((f) => /\.(key|crt)$|caBundle|^src\/|^test\//.test(f))).toEqual([]);
  expect(existsSync(tarball)).toBe(true);
});

test('package.json names the repository, as npm publish --provenance needs', () => {
  expect(PKG.repository?.url).toMatch(/github\.com\/tokenguard\/tokenguard/);
  expect(PKG.bin).toEqual({ tokenguard: 'dist/cli/main.js', 'kubectl-tokenguard': 'dist/cli/main.js' });
});

test('the kubectl plugin: kubectl finds kubectl-tokenguard on PATH, and kubectl tokenguard runs it', () => {
  const clean = mkdtempSync(join(work, 'clean-'));
  const bin = join(app, 'node_modules/.bin');
  const env = { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}`, KUBECONFIG: join(clean, 'no-kubeconfig') };
  const list = spawnSync('kubectl', ['plugin', 'list'], { cwd: clean, encoding: 'utf8', env });
  expect(list.stdout).toContain(`${join(bin, 'kubectl-tokenguard')}\n`);
  const version = spawnSync('kubectl', ['tokenguard', 'version'], { cwd: clean, encoding: 'utf8', env });
  expect({ code: version.status, stdout: version.stdout, stderr: version.stderr }).toEqual({
    code: 0,
    stdout: `${PKG.version}\n`,
    stderr: '',
  });
  const help = spawnSync('kubectl', ['tokenguard', 'test', '--help'], { cwd: clean, encoding: 'utf8', env });
  expect(help.status).toBe(0);
  expect(help.stdout).toContain('usage: tokenguard test');
});

test('tokenguard --version, installed from the tarball, prints the package version', () => {
  const clean = mkdtempSync(join(work, 'clean-'));
  const r = installed(['--version'], clean);
  expect({ code: r.status, stdout: r.stdout, stderr: r.stderr }).toEqual({
    code: 0,
    stdout: `${PKG.version}\n`,
    stderr: '',
  });
});

test('tokenguard test, from an empty folder, judges an example manifest with the installed shipped policies as the repository does', () => {
  const clean = mkdtempSync(join(work, 'clean-'));
  cpSync(join(REPO, 'examples/manifests/mutated-deployment.yaml'), join(clean, 'deployment.yaml'));
  const policies = join(app, 'node_modules', PKG.name, 'policies');
  // As docs/ci.md runs it: every binding is in the manifests (none here), so the API token goes.
  const r = installed(['test', '--policies', policies, '--bindings-complete', 'deployment.yaml'], clean);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(r.stdout).toContain('MUTATED  Deployment team-a/web');
  expect(r.stdout).toContain('automount/automount: removed API token');
  expect(r.stdout).toContain('token-bounds/token-bounds: metrics-token: expirationSeconds 172800 -> 86400');
  // The same verdict as the repository's own CLI on the same file.
  const repo = spawnSync(
    process.execPath,
    [
      join(REPO, 'node_modules/tsx/dist/cli.mjs'),
      join(REPO, 'src/cli/main.ts'),
      'test',
      '--policies',
      join(REPO, 'policies'),
      '--bindings-complete',
      'deployment.yaml',
    ],
    { cwd: clean, encoding: 'utf8' },
  );
  expect(r.stdout).toBe(repo.stdout);
});
