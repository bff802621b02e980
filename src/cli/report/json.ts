import { describeEdit } from '../../dryrun/write-back.js';
import type { ObjectReport, Report } from '../../dryrun/report.js';

/**
 * The machine-readable report (`--output json`), documented in docs/ci.md and described by
 * {@link reportJsonSchema}. Fields are only ever added within a `schemaVersion`; anything
 * incompatible bumps it.
 */
export function formatJson(report: Report, toolVersion: string): string {
  const doc = {
    schemaVersion: report.schemaVersion,
    tool: { name: 'tokenguard', version: toolVersion },
    summary: report.summary,
    policies: report.policies,
    errors: report.errors.map((e) => ({ file: e.file, line: e.line, message: e.message })),
    objects: report.objects.map(jsonObject),
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

function jsonObject(o: ObjectReport) {
  return {
    file: o.file,
    document: o.document,
    item: o.item ?? null,
    line: o.line,
    source: o.source ?? null,
    apiVersion: o.apiVersion,
    kind: o.kind,
    namespace: o.namespace,
    name: o.name,
    pod: o.pod ?? null,
    outcome: o.outcome,
    mutated: o.mutated,
    reason: o.reason ?? null,
    denials: o.denials,
    warnings: o.warnings,
    changes: o.changes,
    patch: o.patch,
    manifestChanges: o.manifestEdits.map(describeEdit),
    plugin: o.plugin ? { ...o.plugin, tokenVolume: o.plugin.tokenVolume ?? null } : null,
    tokens: o.tokens ?? [],
    policies: o.policies,
    notes: o.notes,
  };
}

const str = { type: 'string' } as const;
const int = { type: 'integer' } as const;
const bool = { type: 'boolean' } as const;
const strings = { type: 'array', items: str } as const;
const nullable = (s: object) => ({ anyOf: [s, { type: 'null' }] });
const closed = (properties: Record<string, unknown>, required = Object.keys(properties)) => ({
  type: 'object',
  additionalProperties: false,
  required,
  properties,
});
const finding = closed({ policy: str, rule: str, mode: { enum: ['Enforce', 'Audit'] }, message: str });

/** JSON Schema (draft-07) of `--output json`, schemaVersion 1. */
export const reportJsonSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://tokenguard.dev/schemas/test-report-v1.json',
  title: 'tokenguard test report',
  ...closed({
    schemaVersion: { const: 1 },
    tool: closed({ name: { const: 'tokenguard' }, version: str }),
    summary: closed({
      objects: int,
      denied: int,
      warned: int,
      mutated: int,
      passed: int,
      skipped: int,
      facts: int,
      errors: int,
      inputErrors: int,
    }),
    policies: {
      type: 'array',
      items: closed({ name: str, mode: { enum: ['Enforce', 'Audit', 'Off'] }, file: str, document: int }),
    },
    errors: { type: 'array', items: closed({ file: str, line: int, message: str }) },
    objects: {
      type: 'array',
      items: closed({
        file: str,
        document: int,
        item: nullable(int),
        line: int,
        source: nullable(str),
        apiVersion: str,
        kind: str,
        namespace: str,
        name: str,
        pod: nullable(closed({ name: str, generateName: str })),
        outcome: { enum: ['denied', 'warned', 'mutated', 'passed', 'skipped', 'fact', 'error'] },
        mutated: bool,
        reason: nullable(str),
        denials: { type: 'array', items: finding },
        warnings: strings,
        changes: { type: 'array', items: finding },
        patch: {
          type: 'array',
          items: {
            type: 'object',
            required: ['op', 'path'],
            properties: { op: { enum: ['add', 'remove', 'replace'] }, path: str },
          },
        },
        manifestChanges: strings,
        plugin: nullable(
          closed({
            mirror: bool,
            serviceAccountName: str,
            serviceAccountKnown: bool,
            automount: bool,
            automountFrom: { enum: ['pod', 'serviceAccount', 'default'] },
            tokenVolume: nullable(str),
            changes: strings,
          }),
        ),
        tokens: {
          type: 'array',
          items: closed({
            volume: str,
            audience: str,
            expirationSeconds: int,
            lifetimeSeconds: int,
            extended: bool,
            apiToken: bool,
            containers: strings,
            note: str,
          }),
        },
        policies: {
          type: 'array',
          items: closed({
            policy: str,
            mode: { enum: ['Enforce', 'Audit', 'Off'] },
            status: { enum: ['fail', 'warn', 'mutate', 'pass', 'skip'] },
            results: { type: 'array', items: closed({ rule: str, message: str }) },
          }),
        },
        notes: strings,
      }),
    },
  }),
} as const;
