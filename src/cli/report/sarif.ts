import { title } from './text.js';
import type { ObjectReport, Report } from '../../dryrun/report.js';

export interface SarifOptions {
  readonly toolVersion: string;
  /** Warnings count as failures (`--fail-on warn`); only recorded in the invocation. */
  readonly failOnWarn: boolean;
}

/** What each rule id checks, for `tool.driver.rules[].shortDescription`. */
const RULE_TEXT: Readonly<Record<string, string>> = {
  'legacy-token-secret': 'No new legacy ServiceAccount token Secrets (their tokens never expire)',
  'legacy-token-mount': 'Pods take no token from a legacy ServiceAccount token Secret (it never expires)',
  automount: 'No Kubernetes API token in pods that do not need the API',
  'api-token-expiration': 'The default API token (kube-api-access) has a bounded expiration',
  'token-bounds': 'Projected ServiceAccount tokens expire within the allowed bounds',
  'token-audience': 'Projected ServiceAccount tokens use an allowed audience',
  'inject-token': 'Required projected tokens are mounted',
  'ephemeral-token': 'Ephemeral containers mount no token the policies withhold from them',
  match: 'The policy can be matched against the object',
};

type Level = 'error' | 'warning' | 'note';

/**
 * SARIF 2.1.0 (`--output sarif`) for code-scanning upload: one result per rule outcome worth
 * telling, at the file and line of the object, `ruleId` `policy/rule`; level `error` for a
 * denial, `warning` for a warning (Audit findings, look-alike Secrets), `note` for a change the
 * mutating webhook makes. Unreadable documents are tool execution notifications.
 */
export function formatSarif(report: Report, options: SarifOptions): string {
  const rules: { id: string; name: string; shortDescription: { text: string }; defaultConfiguration: { level: Level } }[] = [];
  const ruleIndex = new Map<string, number>();
  const ruleFor = (policy: string, rule: string, level: Level): number => {
    const id = `${policy}/${rule}`;
    let i = ruleIndex.get(id);
    if (i === undefined) {
      i = rules.length;
      ruleIndex.set(id, i);
      rules.push({
        id,
        name: camel(`${policy}-${rule}`),
        shortDescription: { text: `${RULE_TEXT[rule] ?? rule} (policy ${policy})` },
        defaultConfiguration: { level },
      });
    }
    return i;
  };
  const results: unknown[] = [];
  for (const o of report.objects) {
    for (const p of o.policies) {
      const level: Level | undefined = p.status === 'fail' ? 'error' : p.status === 'warn' ? 'warning' : p.status === 'mutate' ? 'note' : undefined;
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
    ...report.errors.map((e) => ({ level: 'error', message: { text: e.message }, locations: [location(e.file, e.line)] })),
    ...report.objects
      .filter((o) => o.outcome === 'error')
      .map((o) => ({ level: 'error', message: { text: `${title(o)}: ${o.reason ?? 'could not be evaluated'}` }, locations: [location(o.file, o.line, o)] })),
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
            rules,
          },
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
    physicalLocation: { artifactLocation: { uri: uri(file) }, region: { startLine: Math.max(1, line) } },
  };
  if (o) {
    loc.logicalLocations = [
      { name: o.name || o.kind, fullyQualifiedName: `${o.kind}/${o.namespace ? `${o.namespace}/` : ''}${o.name}`, kind: 'object' },
    ];
  }
  return loc;
}

/** A relative path as a URI reference: forward slashes, each segment percent-encoded. */
function uri(file: string): string {
  return file
    .replace(/\\/g, '/')
    .split('/')
    .map((s) => encodeURIComponent(s))
    .join('/');
}

function camel(s: string): string {
  return s.replace(/[-+/]([a-z0-9])/g, (_m, c: string) => c.toUpperCase()).replace(/[^A-Za-z0-9]/g, '');
}
