import { RULE_DESCRIPTIONS } from '../../engine/messages.js';
import type { RuleId } from '../../engine/types.js';
import { title } from './text.js';
import type { ObjectReport, Report } from '../../dryrun/report.js';

export interface SarifOptions {
  readonly toolVersion: string;
  /** Warnings count as failures (`--fail-on warn`); only recorded in the invocation. */
  readonly failOnWarn: boolean;
}

/** Where the tool and each rule are documented. */
const INFORMATION_URI = 'https://github.com/tokenguard/tokenguard';
const RULES_DOC = `${INFORMATION_URI}/blob/main/docs/rules.md`;

/** The base every relative artifact URI is resolved against: the working directory, the repository root in CI. */
const SRCROOT = '%SRCROOT%';

type Level = 'error' | 'warning' | 'note';

/**
 * SARIF 2.1.0 (`--output sarif`) for code-scanning upload: one result per rule outcome worth
 * telling, at the file and line of the object, `ruleId` `policy/rule`; level `error` for a
 * denial, `warning` for a warning (Audit findings, look-alike Secrets), `note` for a change the
 * mutating webhook makes. Unreadable documents are tool execution notifications.
 */
export function formatSarif(report: Report, options: SarifOptions): string {
  const rules: Record<string, unknown>[] = [];
  const ruleIndex = new Map<string, number>();
  const ruleFor = (policy: string, rule: string, level: Level): number => {
    const id = `${policy}/${rule}`;
    let i = ruleIndex.get(id);
    if (i === undefined) {
      i = rules.length;
      ruleIndex.set(id, i);
      const d = RULE_DESCRIPTIONS[rule as RuleId];
      const helpUri = `${RULES_DOC}#${rule}`;
      rules.push({
        id,
        name: camel(`${policy}-${rule}`),
        shortDescription: { text: `${d?.summary ?? rule} (policy ${policy})` },
        fullDescription: { text: d?.description ?? `Rule ${rule} of policy ${policy}.` },
        help: {
          text: `${d?.help ?? ''} See ${helpUri}`.trim(),
          markdown: `${d?.help ?? ''} See [${rule}](${helpUri}).`.trim(),
        },
        helpUri,
        defaultConfiguration: { level },
      });
    }
    return i;
  };
  const results: unknown[] = [];
  for (const o of report.objects) {
    for (const p of o.policies) {
      const level: Level | undefined =
        p.status === 'fail' ? 'error' : p.status === 'warn' ? 'warning' : p.status === 'mutate' ? 'note' : undefined;
      if (!level) continue;
      for (const r of p.results) {
        const index = ruleFor(p.policy, r.rule, level);
        results.push({
          ruleId: `${p.policy}/${r.rule}`,
          ruleIndex: index,
          level,
          message: { text: `${title(o)}: ${r.message}` },
          locations: [location(o.file, o.line, o)],
        });
      }
    }
  }
  const notifications = [
    ...report.errors.map((e) => ({
      level: 'error',
      message: { text: e.message },
      locations: [location(e.file, e.line)],
    })),
    ...report.objects
      .filter((o) => o.outcome === 'error')
      .map((o) => ({
        level: 'error',
        message: { text: `${title(o)}: ${o.reason ?? 'could not be evaluated'}` },
        locations: [location(o.file, o.line, o)],
      })),
  ];
  const log = {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'tokenguard',
            version: options.toolVersion,
            informationUri: INFORMATION_URI,
            rules,
          },
        },
        originalUriBaseIds: {
          [SRCROOT]: { description: { text: 'The working directory tokenguard ran in (the repository root in CI).' } },
        },
        invocations: [
          {
            executionSuccessful: report.summary.inputErrors === 0 && report.summary.errors === 0,
            toolExecutionNotifications: notifications,
            properties: { failOnWarn: options.failOnWarn, summary: report.summary },
          },
        ],
        results,
      },
    ],
  };
  return `${JSON.stringify(log, null, 2)}\n`;
}

function location(file: string, line: number, o?: ObjectReport) {
  const loc: Record<string, unknown> = {
    physicalLocation: { artifactLocation: artifact(file), region: { startLine: Math.max(1, line) } },
  };
  if (o) {
    loc.logicalLocations = [
      {
        name: o.name || o.kind,
        fullyQualifiedName: `${o.kind}/${o.namespace ? `${o.namespace}/` : ''}${o.name}`,
        kind: 'object',
      },
    ];
  }
  return loc;
}

/**
 * Where a file is: files under the working directory (shown relative to it) as a relative URI
 * against `%SRCROOT%`, so code scanning maps them to the repository's files; others as an
 * absolute `file:` URI.
 */
function artifact(file: string): { uri: string; uriBaseId?: string } {
  const path = file.replace(/\\/g, '/');
  if (path.startsWith('/')) return { uri: `file://${encodePath(path)}` };
  if (/^[A-Za-z]:\//.test(path)) return { uri: `file:///${path.slice(0, 2)}${encodePath(path.slice(2))}` };
  return { uri: encodePath(path), uriBaseId: SRCROOT };
}

/** A `/`-separated path as a URI reference, each segment percent-encoded. */
function encodePath(path: string): string {
  return path
    .split('/')
    .map((s) => encodeURIComponent(s))
    .join('/');
}

function camel(s: string): string {
  return s.replace(/[-+/]([a-z0-9])/g, (_m, c: string) => c.toUpperCase()).replace(/[^A-Za-z0-9]/g, '');
}
