/**
 * The report model of `tokenguard test`: what it says about each manifest object, and the
 * summary; every output format (src/cli/report/) renders this. Pure.
 */
import type { PatchOperation } from '../engine/types.js';
import type { JsonObject } from '../json.js';
import type { PolicyMode } from '../policy/types.js';
import type { ManifestError } from './manifests.js';
import type { PluginSimulation } from './plugin.js';
import type { ManifestEdit } from './write-back.js';

/** Version of the report's JSON shape; bumped only for incompatible changes (docs/ci.md). */
export const REPORT_SCHEMA_VERSION = 1;

/**
 * The verdict on one object, most severe first: `denied` (the validating webhook would reject
 * it), `warned` (admitted, with warnings), `mutated` (admitted, changed), `passed`; `skipped`
 * (a kind tokenguard does not judge), `fact` (read as cluster knowledge), `error` (could not be
 * evaluated).
 */
export type Outcome = 'denied' | 'warned' | 'mutated' | 'passed' | 'skipped' | 'fact' | 'error';

/** One rule outcome worth telling: a denial, or a change the webhook makes. */
export interface Finding {
  readonly policy: string;
  readonly rule: string;
  readonly mode: 'Enforce' | 'Audit';
  readonly message: string;
}

/** How one policy came out for one object, over both webhook phases. */
export type PolicyStatus = 'fail' | 'warn' | 'mutate' | 'pass' | 'skip';

export interface PolicyVerdict {
  readonly policy: string;
  readonly mode: PolicyMode;
  readonly status: PolicyStatus;
  /** The rule results that made the status (every result for `pass`; why, for `skip`). */
  readonly results: readonly { readonly rule: string; readonly message: string }[];
}

/** What a projected ServiceAccount token in the admitted pod will really be. */
export interface TokenLifetime {
  readonly volume: string;
  /** Empty for the API server's own audience. */
  readonly audience: string;
  readonly expirationSeconds: number;
  /** What the issued JWT's `exp - iat` will be. */
  readonly lifetimeSeconds: number;
  /** True when `--service-account-extend-token-expiration` (on by default) stretches it to a year. */
  readonly extended: boolean;
  /** True for the ServiceAccount plugin's `kube-api-access-*` token. */
  readonly apiToken: boolean;
  /** `field/name` of the containers that mount it. */
  readonly containers: readonly string[];
  readonly note: string;
}

/** What the ServiceAccount admission plugin did before the webhook ran. */
export interface PluginReport {
  /** True for mirror pods, which neither the plugin nor tokenguard change. */
  readonly mirror: boolean;
  readonly serviceAccountName: string;
  readonly serviceAccountKnown: boolean;
  readonly automount: boolean;
  readonly automountFrom: PluginSimulation['automountFrom'];
  readonly tokenVolume: string | undefined;
  readonly changes: readonly string[];
}

/** Everything the report says about one manifest object. */
export interface ObjectReport {
  readonly file: string;
  readonly document: number;
  readonly item?: number;
  readonly line: number;
  /** The helm template the document came from (`# Source:`), when known. */
  readonly source?: string;
  readonly apiVersion: string;
  readonly kind: string;
  /** Empty for cluster-scoped kinds, and for skipped kinds that name none. */
  readonly namespace: string;
  readonly name: string;
  /** The pod a workload creates, as evaluated; absent for pods, Secrets and non-evaluated kinds. */
  readonly pod?: { readonly name: string; readonly generateName: string };
  readonly outcome: Outcome;
  /** True when the webhook changes the object (also for denied and warned objects). */
  readonly mutated: boolean;
  /** Why a skipped, fact or error object was not judged. */
  readonly reason?: string;
  readonly denials: readonly Finding[];
  /** Warnings exactly as the API server passes them to the client. */
  readonly warnings: readonly string[];
  /** Changes the mutating webhook makes (Enforce policies). */
  readonly changes: readonly Finding[];
  /** The webhook's JSON Patch on the pod it is given (after the ServiceAccount plugin). */
  readonly patch: readonly PatchOperation[];
  readonly plugin?: PluginReport;
  readonly tokens?: readonly TokenLifetime[];
  readonly policies: readonly PolicyVerdict[];
  readonly notes: readonly string[];
  /** Edits that carry tokenguard's changes into this manifest object (for `--mutated`). */
  readonly manifestEdits: readonly ManifestEdit[];
  /**
   * The object as the mutating webhook was first given it (a pod: after the ServiceAccount
   * plugin), and as the validating webhook judged it. Not part of the JSON report.
   */
  readonly admission?: { readonly given: JsonObject; readonly judged: JsonObject };
}

export interface ReportSummary {
  readonly objects: number;
  readonly denied: number;
  readonly warned: number;
  readonly mutated: number;
  readonly passed: number;
  readonly skipped: number;
  readonly facts: number;
  readonly errors: number;
  /** Documents or files that could not be read. */
  readonly inputErrors: number;
}

export interface Report {
  readonly schemaVersion: typeof REPORT_SCHEMA_VERSION;
  readonly policies: readonly {
    readonly name: string;
    readonly mode: PolicyMode;
    readonly file: string;
    readonly document: number;
  }[];
  readonly objects: readonly ObjectReport[];
  readonly errors: readonly ManifestError[];
  readonly summary: ReportSummary;
}

/** Exit code of `tokenguard test`: 2 for unreadable input or unevaluable objects, 1 for denials (and warnings with `failOnWarn`), else 0. */
export function exitCode(report: Report, options: { readonly failOnWarn: boolean }): 0 | 1 | 2 {
  const s = report.summary;
  if (s.inputErrors > 0 || s.errors > 0) return 2;
  if (s.denied > 0) return 1;
  if (options.failOnWarn && report.objects.some((o) => o.warnings.length > 0)) return 1;
  return 0;
}

/** Counts the objects by outcome. */
export function summarize(objects: readonly ObjectReport[], errors: readonly ManifestError[]): ReportSummary {
  const count = (o: Outcome) => objects.filter((x) => x.outcome === o).length;
  return {
    objects: objects.length,
    denied: count('denied'),
    warned: count('warned'),
    mutated: count('mutated'),
    passed: count('passed'),
    skipped: count('skipped'),
    facts: count('fact'),
    errors: count('error'),
    inputErrors: errors.length,
  };
}
