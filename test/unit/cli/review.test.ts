import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../../src/cli/main.js';
import { REPO } from '../../helpers/fixtures.js';

async function cli(args: string[], stdin?: string) {
  let stdout = '';
  let stderr = '';
  const code = await main(args, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    readStdin: () => stdin ?? '',
  });
  return { code, stdout, stderr };
}

const fixture = (name: string, file: string) => join(REPO, 'test', 'fixtures', 'admission', name, file);

test('review prints exactly the golden response of each endpoint', async () => {
  const name = 'secret-legacy-create-denied';
  for (const endpoint of ['mutate', 'validate']) {
    const r = await cli([
      'review',
      '--endpoint',
      endpoint,
      '--policies',
      join(REPO, 'policies'),
      fixture(name, 'review.json'),
    ]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(JSON.parse(readFileSync(fixture(name, `expected.${endpoint}.json`), 'utf8')));
  }
});

test('review reads standard input and takes facts', async () => {
  const name = 'pod-deployment-unbound-sa-token-removed';
  const facts = join(mkdtempSync(join(tmpdir(), 'tg-')), 'facts.yaml');
  writeFileSync(facts, 'apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: default, namespace: team-a}\n');
  const r = await cli(
    ['review', '--policies', join(REPO, 'policies'), '--facts', facts, '-'],
    readFileSync(fixture(name, 'review.json'), 'utf8'),
  );
  expect(r.code).toBe(0);
  // Bindings from a facts file are not taken as complete, so the token is kept.
  expect(JSON.parse(r.stdout).response.patch).toBeUndefined();
});

test('review: bad input is exit 2 with a message naming it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tg-'));
  writeFileSync(join(dir, 'bad.json'), '{not json');
  expect(await cli(['review', join(dir, 'bad.json')])).toMatchObject({
    code: 2,
    stderr: expect.stringContaining('bad.json: not a JSON AdmissionReview'),
  });
  writeFileSync(join(dir, 'nouid.json'), '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{}}');
  expect(await cli(['review', join(dir, 'nouid.json')])).toMatchObject({
    code: 2,
    stderr: expect.stringContaining('request.uid is missing'),
  });
  expect(await cli(['review', '--endpoint', 'bogus', join(dir, 'bad.json')])).toMatchObject({ code: 2 });
  expect(await cli(['review', '--policies', join(dir, 'nowhere'), join(dir, 'bad.json')])).toMatchObject({
    code: 2,
    stderr: expect.stringContaining('cannot read: ENOENT'),
  });
});

test('policy validate: exit 0 for the shipped policies, 1 with every error listed', async () => {
  const ok = await cli(['policy', 'validate', join(REPO, 'policies')]);
  expect(ok.code).toBe(0);
  expect(ok.stdout).toContain('4 policies in 3 file(s) are valid');
  const dir = mkdtempSync(join(tmpdir(), 'tg-'));
  writeFileSync(
    join(dir, 'bad.yaml'),
    'apiVersion: tokenguard.dev/v1alpha1\nkind: TokenPolicy\nmetadata: {name: x}\nspec: {mode: Maybe, automount: {action: Keep}, extra: 1}\n',
  );
  const bad = await cli(['policy', 'validate', dir]);
  expect(bad.code).toBe(1);
  expect(bad.stderr).toBe(
    `${join(dir, 'bad.yaml')}:1: spec.extra: unknown field (line 4)\n${join(dir, 'bad.yaml')}:1: spec.mode: must be one of Enforce, Audit, Off (line 4)\n2 error(s) in 1 file(s)\n`,
  );
});

test('unknown commands and missing arguments are usage errors', async () => {
  expect((await cli(['frobnicate'])).code).toBe(2);
  expect((await cli([])).code).toBe(2);
  expect((await cli(['--help'])).code).toBe(0);
  expect((await cli(['policy'])).code).toBe(2);
});

test('review and test name a facts file they cannot use, and stop with exit 2', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tg-facts-'));
  const broken = join(dir, 'broken.yaml');
  writeFileSync(broken, 'kind: ServiceAccount\nmetadata: [not, a, map\n');
  const missing = join(dir, 'missing.yaml');
  const review = fixture('secret-legacy-create-denied', 'review.json');
  for (const args of [
    ['review', '--policies', join(REPO, 'policies'), '--facts', missing, review],
    ['test', '--policies', join(REPO, 'policies'), '--facts', missing, join(REPO, 'policies')],
  ]) {
    const r = await cli(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/missing\.yaml: cannot read facts: ENOENT/);
  }
  const r = await cli(['review', '--policies', join(REPO, 'policies'), '--facts', broken, review]);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('broken.yaml');
});

test('policy validate warns about globs that can never match or cost more than a step per character, and files without policies', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tg-'));
  const file = join(dir, 'globs.yaml');
  writeFileSync(
    file,
    [
      'apiVersion: tokenguard.dev/v1alpha1',
      'kind: TokenPolicy',
      'metadata: {name: globs}',
      'spec:',
      '  mode: Enforce',
      '  match:',
      `    namespaces: ["team-*", "${'n'.repeat(4097)}*"]`,
      '  projectedTokens:',
      '    bounds:',
      `      allowedAudiences: ["*.*.*.example.com", "*${'a?'.repeat(20)}*"]`,
      '',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'empty.yaml'), '# nothing yet\n');
  const r = await cli(['policy', 'validate', dir]);
  expect(r.code).toBe(0);
  expect(r.stdout).toContain('1 policies in 2 file(s) are valid');
  expect(r.stderr).toBe(
    [
      `warning: ${file}:1: spec.match.namespaces[1]: can never match: it needs 4097 characters, and values over 4096 match no glob (line 7)`,
      `warning: ${file}:1: spec.projectedTokens.bounds.allowedAudiences[1]: has a run of more than 32 characters between stars: matching it costs 2 steps per character of the value instead of 1 (still linear; values are capped at 4096) (line 10)`,
      `warning: ${join(dir, 'empty.yaml')}: holds no policies (empty, or only comments); a server would refuse it in place of a file that held some`,
      '',
    ].join('\n'),
  );
});
