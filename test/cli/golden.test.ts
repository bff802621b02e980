import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import AjvDraft04 from 'ajv-draft-04';
import addFormats from 'ajv-formats';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { reportJsonSchema } from '../../src/cli/report/json.js';
import { REPO } from '../helpers/fixtures.js';
import { CLI_FIXTURES, goldenText, testCli } from './helpers.js';

interface CliCase {
  readonly name: string;
  readonly dir: string;
  readonly description: string;
  readonly policies: readonly string[];
  readonly args: readonly string[];
  readonly inputs?: readonly string[];
  readonly stdin?: string;
  readonly exit: number;
}

const cases: CliCase[] = readdirSync(CLI_FIXTURES, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort()
  .map((name) => {
    const dir = join(CLI_FIXTURES, name);
    return {
      name,
      dir,
      ...(JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8')) as Omit<CliCase, 'name' | 'dir'>),
    };
  });

function argv(c: CliCase, extra: readonly string[] = []): string[] {
  return [
    ...c.policies.flatMap((p) => ['--policies', join(REPO, p)]),
    ...c.args,
    ...extra,
    ...(c.stdin ? ['-'] : (c.inputs ?? []).map((i) => join(c.dir, i))),
  ];
}

const run = (c: CliCase, extra: readonly string[] = []) =>
  testCli(argv(c, extra), c.stdin ? { stdin: readFileSync(join(c.dir, c.stdin), 'utf8') } : {});

// SARIF 2.1.0's official schema (draft-04), vendored from @microsoft/jest-sarif; see test/fixtures/cli/README.md.
// unicodeRegExp off: the schema's `language` pattern has a stray `]` that only non-unicode regular expressions accept.
const sarifAjv = new AjvDraft04.default({ allErrors: true, strict: false, unicodeRegExp: false });
addFormats.default(sarifAjv);
const validateSarif = sarifAjv.compile(JSON.parse(readFileSync(join(CLI_FIXTURES, 'sarif-schema-2.1.0.json'), 'utf8')));
/**
 * xmllint --schema on a JUnit report, against the JUnit schema of Jenkins' xunit plugin
 * (test/fixtures/cli/junit-10.xsd; see test/fixtures/cli/README.md).
 */
function xmllintJunit(xml: string): { status: number | null; stderr: string } {
  const r = spawnSync('xmllint', ['--noout', '--schema', join(CLI_FIXTURES, 'junit-10.xsd'), '-'], {
    input: xml,
    encoding: 'utf8',
  });
  if (r.error)
    throw new Error(
      `xmllint could not run (${r.error.message}): install it (Debian: apt-get install libxml2-utils); .ci/run does`,
    );
  return { status: r.status, stderr: r.stderr };
}

// GitLab's schema for one Code Quality entry (vendored; see test/fixtures/cli/README.md).
const validateCodeClimate = new Ajv({ allErrors: true, strict: false }).compile(
  JSON.parse(readFileSync(join(CLI_FIXTURES, 'gitlab-codeclimate.json'), 'utf8')),
);
const validateReport = new Ajv({ allErrors: true, strict: true }).compile(reportJsonSchema);

test('there are CLI fixture cases', () => {
  expect(cases.length).toBeGreaterThanOrEqual(5);
});

describe.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
  test('text output equals expected.txt, exit code as expected', async () => {
    const r = await run(c);
    expect(r.code).toBe(c.exit);
    expect(r.stdout).toBe(goldenText(join(c.dir, 'expected.txt'), r.stdout));
    // No colour codes when stdout is not a terminal.
    expect(r.stdout).not.toContain('\u001b[');
  });

  test('json output equals expected.json and matches the published report schema', async () => {
    const r = await run(c, ['--output', 'json']);
    expect(r.code).toBe(c.exit);
    expect(r.stdout).toBe(goldenText(join(c.dir, 'expected.json'), r.stdout));
    const doc = JSON.parse(r.stdout);
    expect(validateReport(doc) ? [] : validateReport.errors).toEqual([]);
    expect(doc.schemaVersion).toBe(1);
  });

  test('junit output equals expected.junit.xml, is valid against the Jenkins xunit JUnit schema, one testcase per judged object and policy', async () => {
    const r = await run(c, ['--output', 'junit']);
    expect(r.code).toBe(c.exit);
    expect(r.stdout).toBe(goldenText(join(c.dir, 'expected.junit.xml'), r.stdout));
    expect(XMLValidator.validate(r.stdout)).toBe(true);
    expect(xmllintJunit(r.stdout)).toEqual({ status: 0, stderr: '- validates\n' });
    const xml = new XMLParser({
      ignoreAttributes: false,
      attributeNamePrefix: '',
      isArray: (n) => n === 'testsuite' || n === 'testcase',
    }).parse(r.stdout);
    const report = JSON.parse((await run(c, ['--output', 'json'])).stdout);
    const suites = xml.testsuites.testsuite as {
      name: string;
      file: string;
      tests: string;
      failures: string;
      testcase?: Record<string, unknown>[];
    }[];
    const testcases = suites.flatMap((s) => s.testcase ?? []);
    const judged = report.objects.filter((o: { outcome: string }) => !['skipped', 'fact', 'error'].includes(o.outcome));
    const unevaluable = report.objects.filter((o: { outcome: string }) => o.outcome === 'error').length;
    // Facts and kinds not evaluated are no test; a policy that does not apply passes.
    expect(testcases).toHaveLength(judged.length * report.policies.length + unevaluable + report.errors.length);
    expect(testcases.filter((t) => t.skipped !== undefined)).toEqual([]);
    const failures = testcases.filter((t) => t.failure !== undefined).length;
    const denials = judged.reduce(
      (n: number, o: { policies: { status: string }[] }) => n + o.policies.filter((p) => p.status === 'fail').length,
      0,
    );
    expect(failures).toBe(denials);
    expect(Number(xml.testsuites.failures)).toBe(failures);
    expect(Number(xml.testsuites.tests)).toBe(testcases.length);
    expect(Number(xml.testsuites.errors)).toBe(unevaluable + report.errors.length);
    for (const s of suites) {
      expect(Number(s.tests)).toBe((s.testcase ?? []).length);
      expect(s.file).toBe(s.name);
    }
    // Each case says where its object is, as file:line (GitHub reporters read it from the body).
    for (const o of judged) expect(r.stdout).toContain(`at ${o.file}:${o.line}<`);
  });

  test('sarif output equals expected.sarif.json and is valid SARIF 2.1.0', async () => {
    const r = await run(c, ['--output', 'sarif']);
    expect(r.code).toBe(c.exit);
    expect(r.stdout).toBe(goldenText(join(c.dir, 'expected.sarif.json'), r.stdout));
    const log = JSON.parse(r.stdout);
    expect(validateSarif(log) ? [] : validateSarif.errors).toEqual([]);
    const run0 = log.runs[0];
    expect(run0.tool.driver.name).toBe('tokenguard');
    expect(run0.tool.driver.informationUri).toMatch(/^https:\/\//);
    // GitHub code scanning refuses rules without fullDescription and help.
    for (const rule of run0.tool.driver.rules) {
      expect(rule.fullDescription.text.length).toBeGreaterThan(20);
      expect(rule.help.text.length).toBeGreaterThan(20);
      expect(rule.helpUri).toMatch(/^https:\/\/.*docs\/rules\.md#[a-z-]+$/);
    }
    const ids = run0.tool.driver.rules.map((x: { id: string }) => x.id);
    const report = JSON.parse((await run(c, ['--output', 'json'])).stdout);
    for (const res of run0.results) {
      expect(ids[res.ruleIndex]).toBe(res.ruleId);
      expect(res.ruleId).toMatch(/^[a-z0-9.-]+\/[a-z-]+$/);
      const loc = res.locations[0].physicalLocation;
      // Files under the working directory are relative to %SRCROOT%, so they map to repository files.
      expect(loc.artifactLocation.uriBaseId).toBe('%SRCROOT%');
      expect(run0.originalUriBaseIds['%SRCROOT%']).toBeDefined();
      expect(
        report.objects.some(
          (o: { file: string; line: number }) => o.file === loc.artifactLocation.uri && o.line === loc.region.startLine,
        ),
      ).toBe(true);
    }
    const errors = run0.results.filter((x: { level: string }) => x.level === 'error').length;
    expect(errors).toBe(report.objects.reduce((n: number, o: { denials: unknown[] }) => n + o.denials.length, 0));
  });

  test('gitlab output equals expected.gitlab.json: a Code Quality report GitLab accepts, one issue per SARIF result and notification', async () => {
    const r = await run(c, ['--output', 'gitlab']);
    expect(r.code).toBe(c.exit);
    expect(r.stdout).toBe(goldenText(join(c.dir, 'expected.gitlab.json'), r.stdout));
    expect((await run(c, ['--output', 'codeclimate'])).stdout).toBe(r.stdout);
    const issues = JSON.parse(r.stdout) as {
      check_name: string;
      severity: string;
      fingerprint: string;
      location: { path: string; lines: { begin: number } };
    }[];
    expect(Array.isArray(issues)).toBe(true);
    // GitLab's own schema, which its parser checks every entry against (stopping at the first that fails).
    for (const i of issues) expect(validateCodeClimate(i) ? [] : validateCodeClimate.errors).toEqual([]);
    // And what GitLab's documentation asks for beyond it.
    for (const i of issues) {
      expect(i.check_name).toMatch(/^tokenguard\/[a-z0-9.-]+(\/[a-z-]+)?$/);
      expect(['info', 'minor', 'major', 'critical', 'blocker']).toContain(i.severity);
      expect(i.location.path).not.toMatch(/^\//);
      expect(Number.isInteger(i.location.lines.begin) && i.location.lines.begin >= 1).toBe(true);
    }
    // GitLab keys issues by fingerprint: one per finding.
    expect(new Set(issues.map((i) => i.fingerprint)).size).toBe(issues.length);
    const sarif = JSON.parse((await run(c, ['--output', 'sarif'])).stdout).runs[0];
    expect(issues).toHaveLength(sarif.results.length + sarif.invocations[0].toolExecutionNotifications.length);
  });

  test('--mutated writes the inputs with tokenguard changes (expected.mutated.*), and fed back they need no further change', async () => {
    const out = mkdtempSync(join(tmpdir(), 'tg-mutated-'));
    const r = await run(c, ['--mutated', out]);
    expect(r.code).toBe(c.exit);
    const written = c.stdin
      ? [join(out, c.stdin.endsWith('.json') ? 'stdin.json' : 'stdin.yaml')]
      : (c.inputs ?? []).map((i) => join(out, 'test', 'fixtures', 'cli', c.name, i));
    for (const f of written) {
      expect(existsSync(f)).toBe(true);
      const ext = f.endsWith('.json') ? 'json' : 'yaml';
      const text = readFileSync(f, 'utf8');
      expect(text).toBe(goldenText(join(c.dir, `expected.mutated.${ext}`), text));
    }
    const again = await testCli([
      ...c.policies.flatMap((p) => ['--policies', join(REPO, p)]),
      ...c.args,
      '--output',
      'json',
      ...written,
    ]);
    const report = JSON.parse(again.stdout);
    for (const o of report.objects)
      expect({ name: o.name, manifestChanges: o.manifestChanges }).toEqual({ name: o.name, manifestChanges: [] });
    // Only changes no manifest can express (to the plugin's own volume) may remain.
    for (const o of report.objects) if (o.mutated) expect(o.notes.join('\n')).toContain('made at admission only');
  });
});
