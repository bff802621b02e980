/**
 * `tokenguard test --facts` with a TokenUsage document (tokenguard usage --output facts):
 * `automount.needed.observedWithin` judges each pod by its ServiceAccount's observed use,
 * measured against the injected clock, one document at a time as the command streams them.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTestCommand } from '../../../src/cli/commands/test.js';

const NOW = Date.parse('2026-12-07T12:00:00Z');

const POLICY = `apiVersion: tokenguard.dev/v1alpha1
kind: TokenPolicy
metadata: {name: observed}
spec:
  mode: Enforce
  automount:
    action: DisableUnlessNeeded
    needed:
      observedWithin: 30d
`;

const PODS = ['api', 'web']
  .map(
    (sa) =>
      `apiVersion: v1\nkind: Pod\nmetadata: {name: ${sa}, namespace: shop}\nspec:\n  serviceAccountName: ${sa}\n  containers: [{name: c, image: nginx}]\n`,
  )
  .join('---\n');

const usageDoc = (from: string) => `apiVersion: tokenguard.dev/v1alpha1
kind: TokenUsage
metadata: {name: token-usage}
spec:
  window: {from: "${from}", to: "2026-12-07T11:00:00Z"}
  serviceAccounts:
    - {namespace: shop, name: api, lastSeen: "2026-12-06T12:00:00Z", requests: 12}
`;

async function run(usage: string | undefined) {
  const dir = mkdtempSync(join(tmpdir(), 'tg-test-usage-'));
  writeFileSync(join(dir, 'policy.yaml'), POLICY);
  writeFileSync(join(dir, 'app.yaml'), PODS);
  const args = ['--policies', 'policy.yaml', '--output', 'json', 'app.yaml'];
  if (usage !== undefined) {
    writeFileSync(join(dir, 'usage.yaml'), usage);
    args.unshift('--facts', 'usage.yaml');
  }
  let stdout = '';
  let stderr = '';
  const io = { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) } };
  const code = await runTestCommand(args, io, { cwd: dir, version: '0.0.0-test', now: () => NOW });
  const report = stdout ? (JSON.parse(stdout) as { objects: { name: string; outcome: string }[] }) : undefined;
  const outcome = (name: string) => report?.objects.find((o) => o.name === name)?.outcome;
  return { code, stdout, stderr, outcome };
}

test('a log covering the window: the ServiceAccount seen keeps its token, the one not seen loses it', async () => {
  const r = await run(usageDoc('2026-10-01T00:00:00Z'));
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(r.outcome('api')).toBe('passed');
  expect(r.outcome('web')).toBe('mutated');
  expect(r.stdout).toContain('ServiceAccount shop/web used no token in the last 30d of audit log (observed use)');
});

test('a log shorter than the window, or none: observed use is unknown and both keep their tokens (whenUnknown Needed)', async () => {
  const short = await run(usageDoc('2026-12-01T00:00:00Z'));
  expect(short.code).toBe(0);
  expect([short.outcome('api'), short.outcome('web')]).toEqual(['passed', 'passed']);
  const none = await run(undefined);
  expect([none.outcome('api'), none.outcome('web')]).toEqual(['passed', 'passed']);
});

test('an invalid TokenUsage document among --facts is exit 2, named by file, line and field', async () => {
  const r = await run(usageDoc('yesterday'));
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('usage.yaml:1: spec.window.from: must be an RFC 3339 time');
});
