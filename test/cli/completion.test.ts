/**
 * `tokenguard completion bash|zsh|fish`: each script parses in its real shell (`bash -n`,
 * `zsh -n`, `fish --no-execute`), and completes in it: bash through COMP_WORDS/COMP_CWORD and
 * the script's function, as `complete -F` calls it; fish through `complete -C`; zsh through the
 * script's function with compadd and _files stood in for (they need a terminal). zsh and fish
 * tests are skipped, saying so, where the shell is not installed.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import { REPORT_FORMATS } from '../../src/cli/report/formats.js';
import { COMMANDS } from '../../src/cli/registry.js';

const dir = mkdtempSync(join(tmpdir(), 'tg-completion-'));

function installed(shell: string): boolean {
  return spawnSync(shell, ['-c', 'exit 0']).status === 0;
}
const HAS = { zsh: installed('zsh'), fish: installed('fish') };
for (const [shell, has] of Object.entries(HAS)) {
  if (!has) process.stderr.write(`completion.test: ${shell} is not installed; its tests are skipped\n`);
}

async function script(shell: string): Promise<string> {
  let out = '';
  let err = '';
  const code = await main(['completion', shell], {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
  });
  expect({ code, err }).toEqual({ code: 0, err: '' });
  const file = join(dir, `tokenguard.${shell}`);
  writeFileSync(file, out);
  return file;
}

function sh(command: string, args: string[]) {
  const r = spawnSync(command, args, {
    encoding: 'utf8',
    cwd: dir,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** What the bash script offers for each command line (the word at the cursor last; a trailing space starts a new one). */
function bashComplete(file: string, lines: readonly string[]): string[][] {
  const program = `source "$1"; shift
for line in "$@"; do
  read -ra COMP_WORDS <<< "$line"
  [[ $line == *' ' ]] && COMP_WORDS+=('')
  COMP_CWORD=$(( \${#COMP_WORDS[@]} - 1 ))
  COMPREPLY=()
  _tokenguard
  echo "\${COMPREPLY[*]}"
done`;
  const r = sh('bash', ['--norc', '--noprofile', '-c', program, 'bash', file, ...lines]);
  expect(r.stderr).toBe('');
  return r.stdout
    .split('\n')
    .slice(0, lines.length)
    .map((l) => (l === '' ? [] : l.split(' ')));
}

test('the bash script parses (bash -n) and is generated from the registry', async () => {
  const file = await script('bash');
  expect(sh('bash', ['-n', file])).toEqual({ code: 0, stdout: '', stderr: '' });
  const [top] = bashComplete(file, ['tokenguard ']);
  expect(top).toEqual([...COMMANDS.map((c) => c.name), 'help']);
});

test('bash: tokenguard te<TAB> gives test; subcommands, flags and --output values complete', async () => {
  const file = await script('bash');
  const cases: [string, string[]][] = [
    ['tokenguard te', ['test']],
    ['kubectl-tokenguard te', ['test']],
    ['tokenguard certs ge', ['generate']],
    ['tokenguard export ', ['vap', 'map']],
    ['tokenguard test --output ', Object.keys(REPORT_FORMATS)],
    ['tokenguard test -o j', Object.keys(REPORT_FORMATS).filter((f) => f.startsWith('j'))],
    ['tokenguard test --policies x --fail', ['--fail-on']],
    ['tokenguard test --fail-on ', ['deny', 'warn']],
    ['tokenguard scan -n team-a -o ', ['text', 'json', 'policyreport']],
    ['tokenguard token inspect --out', ['--output']],
    ['tokenguard certs generate --key-type ', ['ecdsa-p256', 'rsa-2048']],
    ['tokenguard completion ', ['bash', 'zsh', 'fish']],
    ['tokenguard help us', ['usage']],
    // A value of a flag is not a command: `--policies test` stays at the top level.
    ['tokenguard --help te', ['test']],
    // Files: left to bash's own completion (-o default).
    ['tokenguard test --policies ', []],
    ['tokenguard test ', []],
  ];
  const got = bashComplete(
    file,
    cases.map(([line]) => line),
  );
  expect(cases.map(([line], i) => [line, got[i]])).toEqual(cases);
  // Registered for both names, as complete -p shows.
  const registered = sh('bash', ['--norc', '-c', `source "${file}"; complete -p tokenguard kubectl-tokenguard`]);
  expect(registered.stdout).toBe(
    'complete -o bashdefault -o default -F _tokenguard tokenguard\ncomplete -o bashdefault -o default -F _tokenguard kubectl-tokenguard\n',
  );
});

(HAS.zsh ? test : test.skip)(
  `the zsh script parses (zsh -n) and completes${HAS.zsh ? '' : ' (skipped: zsh is not installed)'}`,
  async () => {
    const file = await script('zsh');
    expect(sh('zsh', ['-n', file])).toEqual({ code: 0, stdout: '', stderr: '' });
    // compadd and _files are zle's (they need a terminal): stand-ins print what they were given, by prefix.
    const program = `compdef() { }
compadd() { local w; for w in "\${(@P)2}"; do [[ $w == "\${words[CURRENT]}"* ]] && print -r -- "$w"; done; }
_files() { print -r -- '<files>'; }
source "$1"
words=(\${(z)2}); [[ $2 == *' ' ]] && words+=('')
CURRENT=\${#words}
_tokenguard`;
    const complete = (line: string) =>
      sh('zsh', ['-f', '-c', program, 'zsh', file, line]).stdout.split('\n').filter(Boolean);
    expect(complete('tokenguard te')).toEqual(['test']);
    expect(complete('tokenguard certs ')).toEqual(['generate', 'check', 'dev']);
    expect(complete('tokenguard test -o ')).toEqual(Object.keys(REPORT_FORMATS));
    expect(complete('tokenguard test --policies x --fail')).toEqual(['--fail-on']);
    expect(complete('tokenguard test --policies ')).toEqual(['<files>']);
    expect(complete('tokenguard version ')).toEqual([]);
  },
);

(HAS.fish ? test : test.skip)(
  `the fish script parses (fish --no-execute) and completes${HAS.fish ? '' : ' (skipped: fish is not installed)'}`,
  async () => {
    const file = await script('fish');
    expect(sh('fish', ['--no-execute', file])).toEqual({ code: 0, stdout: '', stderr: '' });
    const complete = (line: string) => {
      const r = sh('fish', ['--no-config', '-c', `source '${file}'; complete -C '${line}'`]);
      expect(r.stderr).toBe('');
      return r.stdout
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split('\t')[0]);
    };
    expect(complete('tokenguard te')).toEqual(['test']);
    expect(complete('kubectl-tokenguard te')).toEqual(['test']);
    expect(complete('tokenguard certs ')).toEqual(['check', 'dev', 'generate']);
    expect(complete('tokenguard test -o ')).toEqual(Object.keys(REPORT_FORMATS).sort());
    expect(complete('tokenguard test --policies x --fail')).toEqual(['--fail-on']);
  },
);

test('completion without a shell, or another one: exit 2 with the usage', async () => {
  for (const argv of [['completion'], ['completion', 'powershell'], ['completion', 'bash', 'zsh']]) {
    let err = '';
    let out = '';
    const code = await main(argv, {
      stdout: { write: (s: string) => (out += s) },
      stderr: { write: (s: string) => (err += s) },
    });
    expect({ argv, code, out }).toEqual({ argv, code: 2, out: '' });
    expect(err).toContain('usage: tokenguard completion bash|zsh|fish');
  }
});
