import { createHash } from 'node:crypto';
import { title } from './text.js';
import type { Report } from '../../dryrun/report.js';

/** GitLab's severities, lowest first. */
type Severity = 'info' | 'minor' | 'major' | 'critical' | 'blocker';

/** One issue of a GitLab Code Quality report (a subset of the Code Climate issue). */
interface Issue {
  readonly type: 'issue';
  readonly check_name: string;
  readonly description: string;
  readonly categories: readonly string[];
  readonly severity: Severity;
  readonly fingerprint: string;
  readonly location: { readonly path: string; readonly lines: { readonly begin: number } };
}

/**
 * GitLab Code Quality (`--output gitlab`, alias `codeclimate`): the JSON array GitLab reads
 * from an `artifacts:reports:codequality` file (docs/ci.md "gitlab"), one issue per rule
 * outcome worth telling, as in SARIF: `check_name` `tokenguard/policy/rule`, severity
 * `critical` for a denial, `major` for a warning (Audit findings, look-alike Secrets), `info`
 * for a change the mutating webhook makes; unreadable documents and objects that could not be
 * evaluated are `critical` issues of `tokenguard/input`. `location.path` is the file as the
 * report shows it (relative to the working directory when under it).
 *
 * The fingerprint hashes what the finding is (file, object, policy, rule, message), not its
 * line, so a finding keeps it when lines above it move and GitLab's merge request widget does
 * not report it as fixed and new again; findings that would hash alike get an occurrence
 * number, since GitLab shows findings with one fingerprint as one.
 */
export function formatGitlab(report: Report): string {
  const issues: Issue[] = [];
  const seen = new Map<string, number>();
  const add = (i: Omit<Issue, 'type' | 'categories' | 'fingerprint'>, identity: readonly (string | number)[]) => {
    const base = hash([i.location.path, i.check_name, i.severity, ...identity]);
    const n = (seen.get(base) ?? 0) + 1;
    seen.set(base, n);
    issues.push({
      type: 'issue',
      check_name: i.check_name,
      description: i.description,
      categories: ['Security'],
      severity: i.severity,
      fingerprint: n === 1 ? base : hash([base, n]),
      location: i.location,
    });
  };
  for (const e of report.errors) {
    add(
      { check_name: 'tokenguard/input', description: e.message, severity: 'critical', location: at(e.file, e.line) },
      [e.message],
    );
  }
  for (const o of report.objects) {
    const who = title(o);
    const identity = [o.kind, o.namespace, o.name, o.item ?? ''];
    if (o.outcome === 'error') {
      const why = o.reason ?? 'could not be evaluated';
      add(
        {
          check_name: 'tokenguard/input',
          description: `${who}: ${why}`,
          severity: 'critical',
          location: at(o.file, o.line),
        },
        [...identity, why],
      );
      continue;
    }
    for (const p of o.policies) {
      const severity: Severity | undefined =
        p.status === 'fail' ? 'critical' : p.status === 'warn' ? 'major' : p.status === 'mutate' ? 'info' : undefined;
      if (!severity) continue;
      for (const r of p.results) {
        add(
          {
            check_name: `tokenguard/${p.policy}/${r.rule}`,
            description: `${who}: ${r.message}`,
            severity,
            location: at(o.file, o.line),
          },
          [...identity, r.message],
        );
      }
    }
  }
  return `${JSON.stringify(issues, null, 2)}\n`;
}

function at(file: string, line: number) {
  return { path: file.replace(/\\/g, '/'), lines: { begin: Math.max(1, line) } };
}

/** A hex SHA-256 of the parts, each length-prefixed so no two lists hash alike. */
function hash(parts: readonly (string | number)[]): string {
  const h = createHash('sha256');
  for (const p of parts) {
    const s = String(p);
    h.update(`${s.length}:${s}`);
  }
  return h.digest('hex');
}
