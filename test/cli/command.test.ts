import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import { REPO } from '../helpers/fixtures.js';
import { testCli } from './helpers.js';

const SHIPPED = ['--policies', join(REPO, 'policies')];
const PASSING_POD =
  'apiVersion: v1\nkind: Pod\nmetadata: {name: ok, namespace: team-a}\nspec: {automountServiceAccountToken: false, containers: [{name: a, image: b}]}\n';
const LEGACY_SECRET =
  'apiVersion: v1\nkind: Secret\nmetadata: {name: t, namespace: team-a, annotations: {kubernetes.io/service-account.name: ci}}\ntype: kubernetes.io/service-account-token\n';
const WARNED_POD =
  'apiVersion: v1\nkind: Pod\nmetadata: {name: w, namespace: team-a}\nspec: {containers: [{name: a, image: b}]}\n';

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'tg-test-'));
}

test('main dispatches `test`; exit 0 when nothing is denied', async () => {
  const dir = tmp();
  writeFileSync(join(dir, 'ok.yaml'), PASSING_POD);
  let out = '';
  const code = await main(['test', ...SHIPPED, join(dir, 'ok.yaml')], {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: () => 0 },
  });
  expect(code).toBe(0);
  expect(out).toContain('PASSED   Pod team-a/ok');
});

test('exit 1 when something is denied; --fail-on warn makes warnings exit 1 too', async () => {
  expect((await testCli([...SHIPPED, '-'], { stdin: LEGACY_SECRET })).code).toBe(1);
  expect((await testCli([...SHIPPED, '-'], { stdin: WARNED_POD })).code).toBe(0);
  expect((await testCli([...SHIPPED, '--fail-on', 'warn', '-'], { stdin: WARNED_POD })).code).toBe(1);
  expect((await testCli([...SHIPPED, '--fail-on', 'warn', '-'], { stdin: PASSING_POD })).code).toBe(0);
});

test('broken policies: exit 2, each error as file:line, nothing evaluated', async () => {
  const dir = tmp();
  mkdirSync(join(dir, 'policies'));
  writeFileSync(
    join(dir, 'policies', 'bad.yaml'),
    'apiVersion: tokenguard.dev/v1alpha1\nkind: TokenPolicy\nmetadata: {name: bad}\nspec:\n  mode: Enforce\n  automount:\n    action: Sometimes\n',
  );
  writeFileSync(join(dir, 'ok.yaml'), PASSING_POD);
  const r = await testCli(['--policies', join(dir, 'policies'), join(dir, 'ok.yaml')], { cwd: dir });
  expect(r.code).toBe(2);
  expect(r.stdout).toBe('');
  expect(r.stderr).toContain(
    'policies/bad.yaml:7: spec.automount.action: must be one of DisableUnlessNeeded, Keep (document 1)\n',
  );
  expect(r.stderr).toContain('nothing was evaluated');
});

test('unreadable inputs: exit 2 with the name; the readable ones are still reported', async () => {
  const dir = tmp();
  writeFileSync(join(dir, 'ok.yaml'), PASSING_POD);
  mkdirSync(join(dir, 'empty'));
  const r = await testCli([...SHIPPED, join(dir, 'missing.yaml'), join(dir, 'empty'), join(dir, 'ok.yaml')], {
    cwd: dir,
  });
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('missing.yaml: cannot read: ENOENT\n');
  expect(r.stderr).toContain('empty: no manifests (*.yaml, *.yml, *.json) found\n');
  expect(r.stdout).toContain('PASSED   Pod team-a/ok');
  expect(r.stdout).toContain(
    '1 objects: 0 denied, 0 warned, 0 mutated, 1 passed, 0 skipped, 0 facts, 0 errors; 2 input errors',
  );
});

test('folders are searched recursively for *.yaml, *.yml and *.json, in name order; hidden entries and other files are not read', async () => {
  const dir = tmp();
  mkdirSync(join(dir, 'k8s', 'nested'), { recursive: true });
  mkdirSync(join(dir, 'k8s', '.git'));
  writeFileSync(join(dir, 'k8s', 'b.yml'), PASSING_POD.replace('name: ok', 'name: b'));
  writeFileSync(join(dir, 'k8s', 'a.yaml'), PASSING_POD.replace('name: ok', 'name: a'));
  writeFileSync(
    join(dir, 'k8s', 'nested', 'c.json'),
    JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } }),
  );
  writeFileSync(join(dir, 'k8s', 'README.md'), '# not a manifest: {');
  writeFileSync(join(dir, 'k8s', '.git', 'x.yaml'), 'not: [valid');
  const r = await testCli([...SHIPPED, '--output', 'json', 'k8s'], { cwd: dir });
  expect(r.code).toBe(0);
  expect(JSON.parse(r.stdout).objects.map((o: { file: string; name: string }) => `${o.file} ${o.name}`)).toEqual([
    'k8s/a.yaml a',
    'k8s/b.yml b',
    'k8s/nested/c.json c',
  ]);
});

test('usage errors exit 2', async () => {
  expect((await testCli([...SHIPPED, '--output', 'xml', '-'])).code).toBe(2);
  expect((await testCli([...SHIPPED, '--fail-on', 'never', '-'])).code).toBe(2);
  expect((await testCli([...SHIPPED])).stderr).toContain('no manifests given');
  expect((await testCli(['--bogus'])).code).toBe(2);
  const help = await testCli(['--help']);
  expect(help).toMatchObject({ code: 0, stdout: expect.stringContaining('usage: tokenguard test') });
});

test('colour only when stdout is a terminal and NO_COLOR is unset', async () => {
  const input = { stdin: `${LEGACY_SECRET}---\n${PASSING_POD}` };
  expect((await testCli([...SHIPPED, '-'], { ...input, stdoutTTY: true })).stdout).toContain('\u001b[31;1mDENIED');
  expect(
    (await testCli([...SHIPPED, '-'], { ...input, stdoutTTY: true, env: { NO_COLOR: '1' } })).stdout,
  ).not.toContain('\u001b[');
  expect((await testCli([...SHIPPED, '-'], { ...input, stdoutTTY: false })).stdout).not.toContain('\u001b[');
  // Never in machine-readable formats.
  expect((await testCli([...SHIPPED, '--output', 'json', '-'], { ...input, stdoutTTY: true })).stdout).not.toContain(
    '\u001b[',
  );
});

test('a progress bar on stderr only for more than 200 documents, and only when stderr is a terminal', async () => {
  const many = Array.from({ length: 201 }, (_, i) => PASSING_POD.replace('name: ok', `name: p${i}`)).join('---\n');
  const tty = await testCli([...SHIPPED, '-'], { stdin: many, stderrTTY: true });
  expect(tty.code).toBe(0);
  expect(tty.stderr).toContain('\r[');
  expect(tty.stderr).toContain('201/201 documents');
  expect(tty.stdout).not.toContain('\r');
  expect((await testCli([...SHIPPED, '-'], { stdin: many, stderrTTY: false })).stderr).toBe('');
  const few = Array.from({ length: 200 }, (_, i) => PASSING_POD.replace('name: ok', `name: p${i}`)).join('---\n');
  expect((await testCli([...SHIPPED, '-'], { stdin: few, stderrTTY: true })).stderr).toBe('');
});

test('--mutated keeps relative paths, writes unchanged files verbatim, and names standard input stdin.yaml', async () => {
  const dir = tmp();
  mkdirSync(join(dir, 'apps', 'web'), { recursive: true });
  const deployment = `# keep me
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: team-a}
spec:
  template:
    spec:
      containers: [{name: web, image: w}]
`;
  writeFileSync(join(dir, 'apps', 'web', 'deploy.yaml'), deployment);
  writeFileSync(join(dir, 'apps', 'ok.yaml'), PASSING_POD);
  const r = await testCli([...SHIPPED, '--bindings-complete', '--mutated', 'out', 'apps', '-'], {
    cwd: dir,
    stdin: WARNED_POD,
  });
  expect(r.code).toBe(0);
  expect(r.stderr).toContain('wrote 3 file(s) to out (2 changed)');
  const out = join(dir, 'out');
  expect(readFileSync(join(out, 'apps', 'ok.yaml'), 'utf8')).toBe(PASSING_POD);
  const web = readFileSync(join(out, 'apps', 'web', 'deploy.yaml'), 'utf8');
  expect(web.startsWith('# keep me\n')).toBe(true);
  expect(web).toContain('automountServiceAccountToken: false');
  expect(readFileSync(join(out, 'stdin.yaml'), 'utf8')).toContain('automountServiceAccountToken: false');
});

test('--mutated for inputs outside the working directory: their path from the argument', async () => {
  const dir = tmp();
  mkdirSync(join(dir, 'k8s'));
  writeFileSync(join(dir, 'k8s', 'pod.yaml'), WARNED_POD);
  const out = tmp();
  const r = await testCli([...SHIPPED, '--bindings-complete', '--mutated', out, join(dir, 'k8s')], { cwd: tmp() });
  expect(r.code).toBe(0);
  expect(readFileSync(join(out, 'k8s', 'pod.yaml'), 'utf8')).toContain('automountServiceAccountToken: false');
});

test('an unrendered Helm template is an error at its line, and the YAML parser prints no process warning', async () => {
  const warnings: string[] = [];
  const listen = (w: Error) => warnings.push(w.message);
  process.on('warning', listen);
  try {
    const template =
      'apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ .Values.name }}\n  labels: !custom {app: x}\nspec:\n  containers: [{name: app, image: "{{ .Values.image }}"}]\n';
    const r = await testCli([...SHIPPED, '-'], { stdin: template });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^stdin:4: YAML: /m);
    // Warnings are emitted on the next tick.
    await new Promise((resolve) => setImmediate(resolve));
    expect(warnings).toEqual([]);
  } finally {
    process.off('warning', listen);
  }
});
