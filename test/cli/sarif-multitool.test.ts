/**
 * The SARIF reports against Microsoft's SARIF Multitool with GitHub's ingestion rules
 * (`validate --rule-kind "Sarif;Ghas"`: the SARIF best-practice rules and the GitHub Advanced
 * Security ones code scanning applies on upload). The multitool is a devDependency: a
 * self-contained .NET binary in a per-platform npm package, which needs no network.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from '../helpers/fixtures.js';
import { CLI_FIXTURES, testCli } from './helpers.js';

/** The multitool binary of this platform, or why there is none. */
function multitool(): { bin: string } | { missing: string } {
  try {
    const bin = createRequire(import.meta.url)('@microsoft/sarif-multitool') as string;
    const r = spawnSync(bin, ['--version'], { encoding: 'utf8', env: ENV });
    if (r.status === 0) return { bin };
    return { missing: `${bin} --version failed: ${r.error?.message ?? r.stderr.trim()}` };
  } catch (e) {
    return {
      missing: `@microsoft/sarif-multitool has no binary for ${process.platform}/${process.arch}: ${(e as Error).message}`,
    };
  }
}

// .NET without ICU (absent from minimal images) needs invariant globalization; the rules compare no culture-specific text.
const ENV = { ...process.env, DOTNET_SYSTEM_GLOBALIZATION_INVARIANT: '1', DOTNET_CLI_TELEMETRY_OPTOUT: '1' };
const MT = multitool();
if ('missing' in MT) console.warn(`SARIF Multitool tests skipped: ${MT.missing}`);
const withMultitool = 'bin' in MT ? test : test.skip;

interface Finding {
  readonly file: string;
  readonly rule: string;
  readonly level: string;
  readonly message: string;
}

/** Runs `validate --rule-kind "Sarif;Ghas"` on the files; returns what it flags. */
function validate(files: readonly string[]): Finding[] {
  if (!('bin' in MT)) throw new Error(MT.missing);
  const out = join(mkdtempSync(join(tmpdir(), 'tg-multitool-')), 'validation.sarif');
  const r = spawnSync(MT.bin, ['validate', '--rule-kind', 'Sarif;Ghas', '--output', out, ...files], {
    encoding: 'utf8',
    env: ENV,
  });
  if (r.status !== 0) throw new Error(`sarif-multitool exited ${r.status}: ${r.stdout}${r.stderr}`);
  const log = JSON.parse(readFileSync(out, 'utf8'));
  return (log.runs[0].results ?? []).map(
    (x: {
      ruleId: string;
      level?: string;
      message: { id?: string; text?: string; arguments?: string[] };
      locations?: { physicalLocation: { artifactLocation: { uri: string } } }[];
    }) => ({
      file: x.locations?.[0]?.physicalLocation.artifactLocation.uri ?? '',
      rule: x.ruleId,
      level: x.level ?? 'warning',
      message: x.message.text ?? `${x.message.id}: ${(x.message.arguments ?? []).join(', ')}`,
    }),
  );
}

const goldenSarif = readdirSync(CLI_FIXTURES, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => join(CLI_FIXTURES, d.name, 'expected.sarif.json'));

withMultitool(
  'every golden SARIF report, and the examples’ (findings on files and on standard input), passes GitHub’s ingestion rules',
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tg-sarif-'));
    const args = [
      '--policies',
      'policies',
      '--policies',
      'examples/policies',
      '--bindings-complete',
      '--output',
      'sarif',
    ];
    const examples = join(dir, 'examples.sarif');
    writeFileSync(examples, (await testCli([...args, 'examples/manifests'])).stdout);
    const stdin = join(dir, 'stdin.sarif');
    const secret = readFileSync(join(REPO, 'examples', 'manifests', 'denied-legacy-token-secret.yaml'), 'utf8');
    writeFileSync(stdin, (await testCli([...args, '-'], { stdin: secret })).stdout);
    for (const f of [examples, stdin])
      expect(JSON.parse(readFileSync(f, 'utf8')).runs[0].results.length).toBeGreaterThan(0);
    expect(validate([...goldenSarif, examples, stdin])).toEqual([]);
  },
  120_000,
);

withMultitool(
  'the multitool does apply GitHub’s rules: a report whose rules lack fullDescription and help fails them',
  () => {
    const log = JSON.parse(
      readFileSync(join(CLI_FIXTURES, 'mixed-shipped-all-outcomes', 'expected.sarif.json'), 'utf8'),
    );
    for (const rule of log.runs[0].tool.driver.rules) {
      delete rule.fullDescription;
      delete rule.help;
    }
    const bad = join(mkdtempSync(join(tmpdir(), 'tg-sarif-')), 'bad.sarif');
    writeFileSync(bad, JSON.stringify(log, null, 2));
    const flagged = validate([bad]);
    expect(flagged.length).toBe(2 * log.runs[0].tool.driver.rules.length);
    for (const f of flagged) expect(f).toMatchObject({ rule: 'GH2012', level: 'error' });
  },
  120_000,
);
