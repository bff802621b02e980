import type { ObjectReport, Outcome, Report, TokenLifetime } from '../../dryrun/report.js';

export interface TextOptions {
  /** ANSI colours (only when stdout is a terminal and NO_COLOR is unset). */
  readonly color: boolean;
}

const LABEL: Readonly<Record<Outcome, string>> = {
  denied: 'DENIED',
  warned: 'WARNED',
  mutated: 'MUTATED',
  passed: 'PASSED',
  skipped: 'SKIPPED',
  fact: 'FACT',
  error: 'ERROR',
};

const COLOR: Readonly<Record<Outcome, string>> = {
  denied: '31;1',
  warned: '33;1',
  mutated: '36;1',
  passed: '32',
  skipped: '2',
  fact: '2',
  error: '31;1',
};

/**
 * The human report: grouped by file in input order; per object its verdict, the denial
 * reasons, the warnings as kubectl would print them, each change the webhook makes, and the
 * real lifetime of each token; then one summary line.
 */
export function formatText(report: Report, options: TextOptions): string {
  const paint = (code: string, s: string) => (options.color ? `\u001b[${code}m${s}\u001b[0m` : s);
  const lines: string[] = [];
  // Objects and unreadable documents, grouped by file (files in input order), by line within one.
  type Entry = { line: number; object?: ObjectReport; error?: string };
  const groups = new Map<string, Entry[]>();
  const entry = (file: string, e: Entry) => {
    const list = groups.get(file) ?? [];
    list.push(e);
    groups.set(file, list);
  };
  for (const o of report.objects) entry(o.file, { line: o.line, object: o });
  for (const e of report.errors) entry(e.file, { line: e.line, error: e.message });
  for (const [file, entries] of groups) {
    if (lines.length > 0) lines.push('');
    lines.push(paint('1', file));
    for (const e of [...entries].sort((a, b) => a.line - b.line)) {
      if (e.object) lines.push(...objectLines(e.object, paint));
      else lines.push(`  ${paint(COLOR.error, 'ERROR'.padEnd(8))} ${e.line > 0 ? `line ${e.line}: ` : ''}${e.error}`);
    }
  }
  if (lines.length > 0) lines.push('');
  lines.push(summaryLine(report));
  return `${lines.join('\n')}\n`;
}

function objectLines(o: ObjectReport, paint: (code: string, s: string) => string): string[] {
  const lines: string[] = [];
  const label = LABEL[o.outcome] + (o.mutated && o.outcome !== 'mutated' ? '+MUTATED' : '');
  const where = `line ${o.line}${o.source ? `, ${o.source}` : ''}`;
  const reason = o.reason ? `: ${o.reason}` : '';
  lines.push(`  ${paint(COLOR[o.outcome], label.padEnd(8))} ${title(o)} (${where})${reason}`);
  const pad = '           ';
  for (const d of o.denials)
    lines.push(`${pad}${paint('31', 'x')} ${d.policy ? `${d.policy}/${d.rule}: ` : ''}${d.message}`);
  for (const w of o.warnings) lines.push(`${pad}${paint('33', '!')} ${w}`);
  for (const c of o.changes) lines.push(`${pad}${paint('36', '~')} ${c.policy}/${c.rule}: ${c.message}`);
  const pluginChanges = (o.plugin?.changes ?? []).filter((c) => !c.startsWith('serviceAccountName defaulted'));
  if (pluginChanges.length > 0)
    lines.push(`${pad}${paint('2', `> before the webhook, the ServiceAccount plugin ${pluginChanges.join('; ')}`)}`);
  for (const t of o.tokens ?? []) lines.push(`${pad}${paint('2', '*')} ${tokenLine(t, paint)}`);
  // A legacy token Secret the pod takes a token from: said in full unless a denial says it (a warning is cut at 120 characters).
  const legacy = [
    ...new Set(
      o.policies.flatMap((p) => p.results.filter((r) => r.rule === 'legacy-token-mount').map((r) => r.message)),
    ),
  ];
  for (const m of legacy)
    if (!o.denials.some((d) => d.message === m)) lines.push(`${pad}${paint('33', '*')} never-expiring token: ${m}`);
  if (o.tokens?.length === 0 && o.plugin && legacy.length === 0) {
    const why = o.plugin.mirror
      ? 'a mirror pod may not have one'
      : o.changes.some((c) => c.rule === 'automount')
        ? 'the webhook removes the API token'
        : o.plugin.automount
          ? 'no container takes one'
          : `automountServiceAccountToken is false (set on the ${automountWhere(o.plugin.automountFrom)})`;
    lines.push(`${pad}${paint('2', '*')} no ServiceAccount token: ${why}`);
  }
  for (const n of o.notes) lines.push(`${pad}${paint('2', 'i')} ${n}`);
  return lines;
}

function automountWhere(from: string): string {
  return from === 'serviceAccount' ? 'ServiceAccount' : 'pod';
}

/** `Deployment team-a/web (pod web-7d9c-*)`. */
export function title(o: ObjectReport): string {
  const id = o.namespace ? `${o.namespace}/${o.name}` : o.name;
  const pod = o.pod ? ` -> pod ${o.pod.name || `${o.pod.generateName}*`}` : '';
  return `${o.kind || '(no kind)'} ${id || '(no name)'}${pod}`;
}

function tokenLine(t: TokenLifetime, paint: (code: string, s: string) => string): string {
  const aud = t.audience ? `audience ${t.audience}` : 'API server audience';
  const where = t.containers.length > 0 ? ` in ${t.containers.join(', ')}` : '';
  const life = t.extended ? paint('33', `lives 1 year (${t.lifetimeSeconds} s)`) : `lives ${t.lifetimeSeconds} s`;
  const why = t.extended
    ? `: ${t.note}`
    : t.containers.length === 0
      ? `: ${t.note.split('; ').slice(1).join('; ')}`
      : '';
  return `token ${t.volume} (${aud}, ${t.expirationSeconds} s)${where}: ${life}${why}`;
}

/** `12 objects: 1 denied, 2 warned, 3 mutated, 4 passed, 1 skipped, 1 facts, 0 errors; 0 input errors`. */
function summaryLine(report: Report): string {
  const s = report.summary;
  return `${s.objects} objects: ${s.denied} denied, ${s.warned} warned, ${s.mutated} mutated, ${s.passed} passed, ${s.skipped} skipped, ${s.facts} facts, ${s.errors} errors; ${s.inputErrors} input errors`;
}
