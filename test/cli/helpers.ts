import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseManifests } from '../../src/dryrun/manifests.js';
import { type TestCommandOptions, runTestCommand } from '../../src/cli/commands/test.js';
import type { Report } from '../../src/dryrun/report.js';
import { type DryRunArgs, runDryRun } from '../../src/dryrun/run.js';
import { policySet, REPO, UPDATE_GOLDEN } from '../helpers/fixtures.js';

export const CLI_FIXTURES = join(REPO, 'test', 'fixtures', 'cli');

/** runDryRun on YAML text, with a named policy set (`shipped` or test/fixtures/policies/<name>). */
export function dryRun(
  text: string,
  o: { policies?: string; file?: string } & Partial<Omit<DryRunArgs, 'policies' | 'objects'>> = {},
): Report {
  const { policies = 'shipped', file = 'manifests.yaml', ...rest } = o;
  const parsed = parseManifests(text, file);
  return runDryRun({ policies: policySet(policies), objects: parsed.objects, errors: parsed.problems, ...rest });
}

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `tokenguard test` in-process, with buffers for stdout and stderr. */
export async function testCli(
  args: readonly string[],
  o: { stdin?: string; stdoutTTY?: boolean; stderrTTY?: boolean } & TestCommandOptions = {},
): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const { stdin, stdoutTTY, stderrTTY, ...options } = o;
  const code = await runTestCommand(
    args,
    {
      stdout: { write: (s: string) => (stdout += s), isTTY: stdoutTTY === true } as { write(s: string): unknown },
      stderr: { write: (s: string) => (stderr += s), isTTY: stderrTTY === true } as { write(s: string): unknown },
      readStdin: () => stdin ?? '',
    },
    { version: '0.0.0-test', cwd: REPO, env: {}, ...options },
  );
  return { code, stdout, stderr };
}

/** The object reports of a kind, in order. */
export function objectsOf(report: Report, kind: string) {
  return report.objects.filter((o) => o.kind === kind);
}

/** Compares with, or (UPDATE_GOLDEN=1, or when missing) rewrites, a golden text file; returns the expected text. */
export function goldenText(file: string, actual: string): string {
  if (UPDATE_GOLDEN || !existsSync(file)) writeFileSync(file, actual);
  return readFileSync(file, 'utf8');
}
