import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { REPO } from '../helpers/fixtures.js';
import { goldenText, testCli } from './helpers.js';

const EXAMPLES = join(REPO, 'examples');
/** The command docs/ci.md and examples/github-actions.yaml run on the examples. */
const ARGS = ['--policies', 'policies', '--policies', 'examples/policies', '--bindings-complete', 'examples/manifests'];

test('the examples give the documented result (examples/expected-output.txt), exit 1 for the denied Secret', async () => {
  const r = await testCli(ARGS);
  expect(r.code).toBe(1);
  expect(r.stderr).toBe('');
  expect(r.stdout).toBe(goldenText(join(EXAMPLES, 'expected-output.txt'), r.stdout));
  // docs/ci.md shows the same output.
  expect(readFileSync(join(REPO, 'docs', 'ci.md'), 'utf8')).toContain(r.stdout.trim());
});

test('each example file shows the outcome its first comment names', async () => {
  const report = JSON.parse((await testCli([...ARGS, '--output', 'json'])).stdout);
  const files = readdirSync(join(EXAMPLES, 'manifests')).sort();
  expect(files.length).toBeGreaterThanOrEqual(6);
  for (const f of files) {
    const claimed = /^# ([A-Z]+):/.exec(readFileSync(join(EXAMPLES, 'manifests', f), 'utf8'))?.[1]?.toLowerCase();
    const outcomes = report.objects
      .filter((o: { file: string }) => o.file === `examples/manifests/${f}`)
      .map((o: { outcome: string }) => o.outcome);
    expect({ f, outcome: outcomes.filter((x: string) => x !== 'fact') }).toEqual({ f, outcome: [claimed] });
  }
  const all = new Set(report.objects.map((o: { outcome: string }) => o.outcome));
  for (const outcome of ['denied', 'warned', 'mutated', 'passed', 'skipped', 'fact']) expect(all).toContain(outcome);
});

test('the mutated examples, fed back, need no further change', async () => {
  const out = mkdtempSync(join(tmpdir(), 'tg-examples-'));
  await testCli([...ARGS, '--mutated', out]);
  const again = JSON.parse(
    (await testCli([...ARGS.slice(0, -1), '--output', 'json', join(out, 'examples', 'manifests')])).stdout,
  );
  expect(again.objects.length).toBeGreaterThan(0);
  for (const o of again.objects)
    expect({ name: o.name, mutated: o.mutated, manifestChanges: o.manifestChanges }).toEqual({
      name: o.name,
      mutated: false,
      manifestChanges: [],
    });
});

test('the GitHub Actions recipe runs tokenguard test on real paths and uploads SARIF', () => {
  const wf = parse(readFileSync(join(EXAMPLES, 'github-actions.yaml'), 'utf8'));
  const steps = Object.values(
    wf.jobs as Record<string, { steps: { run?: string; uses?: string; with?: Record<string, string> }[] }>,
  ).flatMap((j) => j.steps);
  const runs = steps.map((s) => s.run ?? '').join('\n');
  expect(runs).toContain('tokenguard test');
  expect(runs).toContain('--output sarif');
  expect(runs).toContain('--output junit');
  // v4 (v3 is deprecated); one upload per input, each with its own category, even after a failed step.
  const uploads = steps.filter((s) => s.uses?.startsWith('github/codeql-action/upload-sarif@'));
  expect(uploads.map((s) => s.uses)).toEqual(uploads.map(() => 'github/codeql-action/upload-sarif@v4'));
  expect(uploads.map((s) => s.with?.category)).toEqual([
    'tokenguard-manifests',
    'tokenguard-helm',
    'tokenguard-kustomize',
  ]);
  for (const u of uploads) expect((u as { if?: string }).if).toBe('always()');
  expect(runs).toMatch(/helm template[^\n]*--output sarif/);
  expect(runs).toMatch(/kubectl kustomize[^\n]*--output sarif/);
  // docs/ci.md carries the same workflow.
  expect(readFileSync(join(REPO, 'docs', 'ci.md'), 'utf8')).toContain(
    readFileSync(join(EXAMPLES, 'github-actions.yaml'), 'utf8').trim(),
  );
});
