import { title } from './text.js';
import type { ObjectReport, PolicyVerdict, Report } from '../../dryrun/report.js';

export interface JunitOptions {
  /** Warnings fail too (`--fail-on warn`). */
  readonly failOnWarn: boolean;
}

interface Case {
  readonly name: string;
  /** `file:line` of the object, told in the body (the schema has no attribute for it). */
  readonly at: string;
  readonly failure?: { readonly type: string; readonly message: string; readonly body: string };
  readonly error?: { readonly type: string; readonly message: string };
  readonly out?: string;
}

interface Suite {
  readonly cases: Case[];
  /** Objects read but not judged (facts, kinds tokenguard does not evaluate). */
  readonly notJudged: string[];
}

/**
 * JUnit XML (`--output junit`) valid against the JUnit schema Jenkins' xunit plugin checks
 * (`junit-10.xsd`, docs/ci.md "junit"), and read by GitLab and GitHub test reporters: one
 * `<testsuite>` per input file (`file` attribute), one `<testcase>` per judged object and
 * policy. A denial is a `<failure type="denied">` (a warning is one too with `--fail-on
 * warn`); a policy that does not apply to the object passes; unreadable documents and objects
 * that could not be evaluated are `<error>`. The object's `file:line` ends every body, the
 * schema having no attribute for it on `<testcase>`. Objects that are only read (facts, kinds
 * not evaluated) are no test: the suite's `<system-out>` lists them.
 */
export function formatJunit(report: Report, options: JunitOptions): string {
  const suites = new Map<string, Suite>();
  const suite = (file: string): Suite => {
    const s = suites.get(file) ?? { cases: [], notJudged: [] };
    suites.set(file, s);
    return s;
  };
  for (const e of report.errors) {
    suite(e.file).cases.push({
      name: `line ${e.line}`,
      at: `${e.file}:${e.line}`,
      error: { type: 'unreadable', message: e.message },
    });
  }
  for (const o of report.objects) {
    const s = suite(o.file);
    if (o.outcome === 'skipped' || o.outcome === 'fact')
      s.notJudged.push(
        `${o.outcome === 'fact' ? 'fact' : 'not evaluated'}: ${title(o)} (line ${o.line}): ${o.reason ?? o.outcome}`,
      );
    else s.cases.push(...casesFor(o, options));
  }
  const count = (list: readonly Case[]) => ({
    tests: list.length,
    failures: list.filter((c) => c.failure).length,
    errors: list.filter((c) => c.error).length,
  });
  // No timings: reports are reproducible, and evaluating an object takes no measurable time.
  const attrs = (c: ReturnType<typeof count>) =>
    `tests="${c.tests}" failures="${c.failures}" errors="${c.errors}" time="0"`;
  const all = [...suites.values()].flatMap((s) => s.cases);
  const out: string[] = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="tokenguard test" ${attrs(count(all))}>`,
  ];
  for (const [file, s] of suites) {
    out.push(`  <testsuite name="${esc(file)}" ${attrs(count(s.cases))} file="${esc(file)}">`);
    for (const c of s.cases) {
      const head = `    <testcase classname="${esc(file)}" name="${esc(c.name)}" time="0">`;
      const inner: string[] = [];
      if (c.failure)
        inner.push(
          `      <failure type="${esc(c.failure.type)}" message="${esc(c.failure.message)}">${esc(`${c.failure.body}\nat ${c.at}`)}</failure>`,
        );
      if (c.error)
        inner.push(
          `      <error type="${esc(c.error.type)}" message="${esc(c.error.message)}">${esc(`${c.error.message}\nat ${c.at}`)}</error>`,
        );
      if (c.out !== undefined) inner.push(`      <system-out>${esc(`${c.out}\nat ${c.at}`)}</system-out>`);
      out.push(`${head}\n${inner.join('\n')}\n    </testcase>`);
    }
    if (s.notJudged.length > 0) out.push(`    <system-out>${esc(s.notJudged.join('\n'))}</system-out>`);
    out.push('  </testsuite>');
  }
  out.push('</testsuites>');
  return `${out.join('\n')}\n`;
}

function casesFor(o: ObjectReport, options: JunitOptions): Case[] {
  const who = title(o);
  const at = `${o.file}:${o.line}`;
  if (o.outcome === 'error')
    return [{ name: who, at, error: { type: 'not evaluated', message: o.reason ?? 'could not be evaluated' } }];
  return o.policies.map((p) => policyCase(o, p, who, at, options));
}

function policyCase(o: ObjectReport, p: PolicyVerdict, who: string, at: string, options: JunitOptions): Case {
  const name = `${who}: ${p.policy}`;
  const lines = p.results.map((r) => `${p.policy}/${r.rule}: ${r.message}`);
  if (p.status === 'fail') {
    return { name, at, failure: { type: 'denied', message: lines[0] ?? 'denied', body: lines.join('\n') } };
  }
  if (p.status === 'warn' && options.failOnWarn) {
    return { name, at, failure: { type: 'warning', message: lines[0] ?? 'warning', body: lines.join('\n') } };
  }
  // A policy with nothing against the object passes it; saying "skipped" would make a clean run look untested.
  if (p.status === 'skip') return { name, at, out: `passed: ${p.results.map((r) => r.message).join('; ')}` };
  const extra = [
    ...(o.tokens ?? []).map((t) => `token ${t.volume}: lifetime ${t.lifetimeSeconds} s (${t.note})`),
    ...o.notes,
  ];
  const verb = p.status === 'mutate' ? 'mutated' : p.status === 'warn' ? 'warned' : 'passed';
  return { name, at, out: [verb, ...lines, ...extra].join('\n') };
}

/** Escapes text for XML attributes and content, and drops characters XML 1.0 cannot carry. */
function esc(s: string): string {
  return (
    s
      // biome-ignore lint/suspicious/noControlCharactersInRegex: removing characters XML 1.0 forbids
      .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '')
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;')
      .replace(/'/g, '&apos;')
  );
}
