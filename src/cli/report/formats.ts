/**
 * The output formats of `tokenguard test --output`: one pure formatter each, registered here
 * once. Adding a format is adding a file and a line below.
 */
import type { Report } from '../../dryrun/report.js';
import { formatGitlab } from './gitlab.js';
import { formatJson } from './json.js';
import { formatJunit } from './junit.js';
import { formatSarif } from './sarif.js';
import { formatText } from './text.js';

/** What every formatter may use besides the report. */
export interface FormatOptions {
  /** The tool version written into json and sarif. */
  readonly version: string;
  /** Warnings fail too (`--fail-on warn`). */
  readonly failOnWarn: boolean;
  /** ANSI colours (text on a terminal, NO_COLOR unset). */
  readonly color: boolean;
}

export const REPORT_FORMATS = {
  text: (report, o) => formatText(report, { color: o.color }),
  json: (report, o) => formatJson(report, o.version),
  junit: (report, o) => formatJunit(report, { failOnWarn: o.failOnWarn }),
  sarif: (report, o) => formatSarif(report, { toolVersion: o.version, failOnWarn: o.failOnWarn }),
  gitlab: (report) => formatGitlab(report),
  /** The same report: GitLab reads a subset of the Code Climate issue format. */
  codeclimate: (report) => formatGitlab(report),
} as const satisfies Record<string, (report: Report, options: FormatOptions) => string>;

export type ReportFormat = keyof typeof REPORT_FORMATS;

/** True for the name of a registered format. */
export function isReportFormat(name: string): name is ReportFormat {
  return Object.hasOwn(REPORT_FORMATS, name);
}
