import { title } from './text.js';
import type { ObjectReport, PolicyVerdict, Report } from '../../dryrun/report.js';

export interface JunitOptions {
  /** Warnings fail too (`--fail-on warn`). */
  readonly failOnWarn: boolean;
}

interface Case {
  readonly name: string;
  readonly classname: string;
  readonly file: string;
  readonly line: number;
  readonly failure?: { readonly type: string; readonly message: string; readonly body: string };
  readonly error?: { readonly message: string };
  readonly skipped?: string;
  readonly out?: string;
}

/**
 * JUnit XML (`--output junit`): one `<testsuite>` per input file, one `<testcase>` per object
 * and policy. A denial is a `<failure type="denied">` (a warning is one too with
 * `--fail-on warn`); policies that do not apply, skipped kinds and fact objects are
 * `<skipped>`; unreadable documents and objects that could not be evaluated are `<error>`.
 */
export function formatJunit(report: Report, options: JunitOptions): string {
  const suites = new Map<string, Case[]>();
  const suite = (file: string) => {
    const list = suites.get(file) ?? [];
    suites.set(file, list);
    return list;
  };
  for (const e of report.errors) {
    suite(e.file).push({ name: `line ${e.line}`, classname: e.file, file: e.file, line: e.line, error: { message: e.message } });
  }
  for (const o of report.objects) suite(o.file).push(...casesFor(o, options));
  const all = [...suites.values()].flat();
  const count = (list: Case[]) => ({
    tests: list.length,
    failures: list.filter((c) => c.failure).length,
    errors: list.filter((c) => c.error).length,
    skipped: list.filter((c) => c.skipped !== undefined).length,
  });
  const attrs = (c: ReturnType<typeof count>) => `tests="${c.tests}" failures="${c.failures}" errors="${c.errors}" skipped="${c.skipped}"`;
  const out: string[] = ['<?xml version="1.0" encoding="UTF-8"?>', `<testsuites name="tokenguard test" ${attrs(count(all))}>`];
  for (const [file, cases] of suites) {
    out.push(`  <testsuite name="${esc(file)}" ${attrs(count(cases))}>`);
    for (const c of cases) {
      const head = `    <testcase classname="${esc(c.classname)}" name="${esc(c.name)}" file="${esc(c.file)}" line="${c.line}"`;
      const inner: string[] = [];
      if (c.failure) inner.push(`      <failure type="${esc(c.failure.type)}" message="${esc(c.failure.message)}">${esc(c.failure.body)}</failure>`);
      if (c.error) inner.push(`      <error message="${esc(c.error.message)}">${esc(c.error.message)}</error>`);
      if (c.skipped !== undefined) inner.push(`      <skipped message="${esc(c.skipped)}"/>`);
      if (c.out) inner.push(`      <system-out>${esc(c.out)}</system-out>`);
      out.push(inner.length === 0 ? `${head}/>` : `${head}>\n${inner.join('\n')}\n    </testcase>`);
    }
    out.push('  </testsuite>');
  }
  out.push('</testsuites>');
  return `${out.join('\n')}\n`;
}

function casesFor(o: ObjectReport, options: JunitOptions): Case[] {
  const who = title(o);
  const at = { classname: o.file, file: o.file, line: o.line };
  if (o.outcome === 'skipped' || o.outcome === 'fact') return [{ name: who, ...at, skipped: o.reason ?? o.outcome }];
  if (o.outcome === 'error') return [{ name: who, ...at, error: { message: o.reason ?? 'could not be evaluated' } }];
  return o.policies.map((p) => policyCase(o, p, who, at, options));
}

function policyCase(o: ObjectReport, p: PolicyVerdict, who: string, at: Pick<Case, 'classname' | 'file' | 'line'>, options: JunitOptions): Case {
  const name = `${who}: ${p.policy}`;
  const lines = p.results.map((r) => `${p.policy}/${r.rule}: ${r.message}`);
  const extra = [...(o.tokens ?? []).map((t) => `token ${t.volume}: lifetime ${t.lifetimeSeconds} s (${t.note})`), ...o.notes];
  if (p.status === 'fail') {
    return { name, ...at, failure: { type: 'denied', message: lines[0] ?? 'denied', body: lines.join('\n') } };
  }
  if (p.status === 'warn' && options.failOnWarn) {
    return { name, ...at, failure: { type: 'warning', message: lines[0] ?? 'warning', body: lines.join('\n') } };
  }
  if (p.status === 'skip') return { name, ...at, skipped: p.results.map((r) => r.message).join('; ') };
  const verb = p.status === 'mutate' ? 'mutated' : p.status === 'warn' ? 'warned' : 'passed';
  return { name, ...at, out: [`${verb}`, ...lines, ...extra].join('\n') };
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
