import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI_FIXTURES, testCli } from './helpers.js';

interface Issue {
  readonly check_name: string;
  readonly description: string;
  readonly fingerprint: string;
  readonly location: { readonly path: string; readonly lines: { readonly begin: number } };
}

const MIXED = readFileSync(join(CLI_FIXTURES, 'mixed-shipped-all-outcomes', 'manifests.yaml'), 'utf8');

async function gitlab(stdin: string, args: readonly string[] = []): Promise<Issue[]> {
  const r = await testCli(['--output', 'gitlab', ...args, '-'], { stdin });
  expect(r.code).toBeLessThan(2);
  return JSON.parse(r.stdout);
}

test('a finding keeps its fingerprint when lines above it move, and run after run', async () => {
  const before = await gitlab(MIXED);
  expect(before.length).toBeGreaterThanOrEqual(5);
  expect(await gitlab(MIXED)).toEqual(before);
  // Three comment lines at the top move every object down by three.
  const after = await gitlab(`# one\n# two\n# three\n${MIXED}`);
  expect(after.map((i) => i.fingerprint)).toEqual(before.map((i) => i.fingerprint));
  expect(after.map((i) => i.location.lines.begin)).toEqual(before.map((i) => i.location.lines.begin + 3));
});

test('the same finding twice (an object defined twice) gets two fingerprints, as GitLab shows one per fingerprint', async () => {
  const secret = MIXED.split('\n---\n').find((d) => d.includes('kind: Secret'));
  expect(secret).toBeDefined();
  const issues = await gitlab(`${secret}\n---\n${secret}\n`);
  const denials = issues.filter((i) => i.check_name === 'tokenguard/legacy-token-secrets/legacy-token-secret');
  expect(denials).toHaveLength(2);
  expect(denials[0]?.description).toBe(denials[1]?.description);
  expect(new Set(denials.map((i) => i.fingerprint)).size).toBe(2);
});

test('different findings on the same object get different fingerprints', async () => {
  const issues = await gitlab(MIXED);
  const byLine = new Map<number, Issue[]>();
  for (const i of issues) byLine.set(i.location.lines.begin, [...(byLine.get(i.location.lines.begin) ?? []), i]);
  const several = [...byLine.values()].filter((list) => list.length > 1);
  expect(several.length).toBeGreaterThan(0);
  for (const list of several) expect(new Set(list.map((i) => i.fingerprint)).size).toBe(list.length);
});

test('paths are relative to the working directory', async () => {
  const r = await testCli(['--output', 'gitlab', join(CLI_FIXTURES, 'mixed-shipped-all-outcomes', 'manifests.yaml')]);
  const issues: Issue[] = JSON.parse(r.stdout);
  expect(issues.length).toBeGreaterThan(0);
  for (const i of issues) expect(i.location.path).toBe('test/fixtures/cli/mixed-shipped-all-outcomes/manifests.yaml');
});
