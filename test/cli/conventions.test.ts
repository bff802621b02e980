/**
 * The conventions every command keeps (docs/cli.md): `--help` and `-h` answer with the usage on
 * standard output and exit 0, on every command and subcommand of the registry; an unknown flag
 * exits 2 with the usage on standard error; `-o` is short for `--output` wherever there is one;
 * `tokenguard version` and `--version`. The walk runs the commands in-process through `main`,
 * the CLI's entry; one real process checks that the entry's exit code is the one `main` returns.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CommandSpec } from '../../src/cli/command.js';
import { main } from '../../src/cli/main.js';
import { COMMANDS, topLevelHelp } from '../../src/cli/registry.js';
import { REPO } from '../helpers/fixtures.js';

const VERSION = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;

async function run(argv: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    readStdin: () => '',
  });
  return { code, stdout, stderr };
}

/** Every command and subcommand of the registry, with its definition. */
async function everySpec(): Promise<CommandSpec[]> {
  const out: CommandSpec[] = [];
  const visit = (s: CommandSpec) => {
    out.push(s);
    for (const sub of s.subcommands ?? []) visit(sub);
  };
  for (const c of COMMANDS) visit((await c.load()).spec);
  return out;
}

test('--help and -h on every command and subcommand: the usage on standard output, exit 0', async () => {
  const specs = await everySpec();
  // The registry is walked whole: a command added without a definition would be missed.
  expect(specs.map((s) => s.name)).toEqual(
    expect.arrayContaining([
      'test',
      'certs generate',
      'certs check',
      'certs dev',
      'export vap',
      'export map',
      'policy validate',
      'token inspect',
      'version',
      'completion',
    ]),
  );
  const results = [];
  for (const spec of specs) {
    for (const flag of ['--help', '-h']) {
      const r = await run([...spec.name.split(' '), flag]);
      results.push({
        command: `${spec.name} ${flag}`,
        code: r.code,
        stdoutIsUsage: r.stdout === spec.usage,
        stderr: r.stderr,
      });
    }
  }
  expect(results).toEqual(
    specs.flatMap((s) =>
      ['--help', '-h'].map((flag) => ({ command: `${s.name} ${flag}`, code: 0, stdoutIsUsage: true, stderr: '' })),
    ),
  );
});

test('an unknown flag on every command and subcommand: exit 2, the message and the usage on standard error', async () => {
  const results = [];
  for (const spec of await everySpec()) {
    const r = await run([...spec.name.split(' '), '--no-such-flag']);
    results.push({
      command: spec.name,
      code: r.code,
      stdout: r.stdout,
      usageOnStderr: r.stderr.includes(spec.usage),
      named: r.stderr.includes('--no-such-flag'),
    });
  }
  expect(results).toEqual(
    results.map((r) => ({ command: r.command, code: 2, stdout: '', usageOnStderr: true, named: true })),
  );
});

test('a command of subcommands without one, or with an unknown one: exit 2, the subcommands named', async () => {
  for (const [argv, words] of [
    [['certs'], 'tokenguard certs dev [DIR]'],
    [['export', 'vcp'], 'vap, map'],
    [['token', 'decode'], 'inspect'],
    [['policy'], 'validate'],
  ] as const) {
    const r = await run([...argv]);
    expect({ argv, code: r.code, stdout: r.stdout }).toEqual({ argv, code: 2, stdout: '' });
    expect(r.stderr).toContain(words);
  }
});

test('tokenguard --help, -h and help list every command of the registry and exit 0; help COMMAND is COMMAND --help', async () => {
  for (const arg of ['--help', '-h', 'help']) {
    const r = await run([arg]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    for (const c of COMMANDS) expect(r.stdout).toContain(`  ${c.synopsis.padEnd(17)}${c.summary}\n`);
  }
  const help = await run(['help', 'scan']);
  const direct = await run(['scan', '--help']);
  expect(help).toEqual({ ...direct, code: 0 });
  const unknown = await run(['frobnicate']);
  expect(unknown).toEqual({ code: 2, stdout: '', stderr: `unknown command "frobnicate"\n\n${topLevelHelp()}` });
});

test('-o is short for --output on every command that has --output, and every --output lists its values', async () => {
  const withOutput = (await everySpec()).filter((s) => 'output' in s.flags);
  expect(withOutput.map((s) => s.name).sort()).toEqual(['scan', 'test', 'token inspect', 'usage', 'version']);
  for (const s of withOutput) {
    expect({ command: s.name, short: s.flags.output?.short, choices: (s.choices?.output ?? []).length > 0 }).toEqual({
      command: s.name,
      short: 'o',
      choices: true,
    });
  }
  // And it works: -o json is --output json.
  expect(await run(['version', '-o', 'json'])).toEqual(await run(['version', '--output', 'json']));
});

test('tokenguard version, --version and -v print the package version; -o json adds Node.js and the platform', async () => {
  for (const argv of [['version'], ['--version'], ['-v']])
    expect(await run(argv)).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: '' });
  const json = await run(['version', '-o', 'json']);
  expect(json.code).toBe(0);
  expect(JSON.parse(json.stdout)).toEqual({
    version: VERSION,
    node: process.version,
    platform: `${process.platform}/${process.arch}`,
  });
  expect(await run(['--version', '-o', 'json'])).toEqual(json);
  const bad = await run(['version', '-o', 'yaml']);
  expect({ code: bad.code, stdout: bad.stdout }).toEqual({ code: 2, stdout: '' });
  expect(bad.stderr).toContain('--output must be text or json');
});

test('as a process: the exit code and streams are the ones main returns (--help 0, an unknown flag 2)', () => {
  const cli = (args: string[]) => {
    const r = spawnSync(
      process.execPath,
      [join(REPO, 'node_modules/tsx/dist/cli.mjs'), join(REPO, 'src/cli/main.ts'), ...args],
      { cwd: REPO, encoding: 'utf8' },
    );
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const help = cli(['certs', 'generate', '--help']);
  expect({ code: help.code, stderr: help.stderr }).toEqual({ code: 0, stderr: '' });
  expect(help.stdout).toContain('tokenguard certs generate --service NAME');
  const bad = cli(['policy', 'validate', '--bogus']);
  expect({ code: bad.code, stdout: bad.stdout }).toEqual({ code: 2, stdout: '' });
  expect(bad.stderr).toContain("Unknown option '--bogus'");
  expect(cli(['version'])).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: '' });
});
