/**
 * The report of `tokenguard scan`: what `--output json` prints, and what the text and
 * PolicyReport formatters render. Its shape is versioned (`schemaVersion`, docs/scan.md).
 */
import type { PolicyMode } from '../policy/types.js';
import type { PodOutcome } from './admission.js';
import type { AuditState } from './audit.js';
import type { CleanerForecast } from './cleaner.js';
import type { ObjectRef } from './inventory.js';
import type { LegacyVerdict } from './legacy.js';
import type { PlanStatus } from './plan.js';
import type { UseKind } from '../engine/secret-uses.js';

/** Version of the JSON shape; bumped only for incompatible changes. */
export const SCAN_REPORT_SCHEMA_VERSION = 1;

/** A result in the PolicyReport vocabulary (`wgpolicyk8s.io`). */
export type ResultStatus = 'pass' | 'fail' | 'warn' | 'error';
export type Severity = 'critical' | 'high' | 'medium' | 'low' | 'info';

/** One finding about one object: what a PolicyReport result says, and what `--fail-on` counts. */
export interface ScanResult {
  /** Namespace of the object; empty for cluster-wide results. */
  readonly namespace: string;
  readonly policy: string;
  readonly rule: string;
  readonly result: ResultStatus;
  readonly severity: Severity;
  readonly message: string;
  readonly resource: ObjectRef | undefined;
  /** Extra facts, as strings (PolicyReport `properties`). */
  readonly properties: Readonly<Record<string, string>>;
}

export interface UseReport {
  readonly kind: UseKind;
  /** How the report says it. */
  readonly text: string;
  readonly container?: string;
  readonly mountPath?: string;
}

export interface ConsumerReport {
  readonly workload: ObjectRef;
  readonly pods: number;
  readonly template: boolean;
  readonly uses: readonly UseReport[];
}

export interface LegacyTokenReport {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly serviceAccount: { readonly name: string | null; readonly exists: boolean; readonly listsSecret: boolean };
  readonly createdAt: string | null;
  readonly ageDays: number | null;
  /** The labels as written, or null. */
  readonly lastUsed: string | null;
  readonly invalidSince: string | null;
  readonly unusedDays: number | null;
  readonly unusedSince: string | null;
  readonly consumers: readonly ConsumerReport[];
  readonly verdict: LegacyVerdict;
  readonly message: string;
  readonly cleaner: CleanerForecast;
  /** How the policies judge creating such a Secret (the engine's legacy-token rule). */
  readonly policy: {
    readonly result: ResultStatus;
    readonly policy: string;
    readonly rule: string;
    readonly message: string;
  };
  /** Its use in the audit log (`--audit-log`); null without one. */
  readonly audit: LegacyAuditReport | null;
}

/** What the audit log says of one legacy token Secret (src/scan/audit.ts). */
export interface LegacyAuditReport {
  readonly state: AuditState;
  readonly requests: number;
  readonly refused: number;
  readonly firstSeen: string | null;
  readonly lastSeen: string | null;
  readonly sourceIPs: readonly string[];
  readonly userAgents: readonly string[];
  /** `secret`: the log names the Secret; `serviceAccount`: only its ServiceAccount (before 1.29); null when not seen. */
  readonly matchedBy: 'secret' | 'serviceAccount' | null;
}

/** The audit log read with `--audit-log`. */
export interface AuditLogReport {
  readonly files: number;
  readonly events: number;
  /** The first and last event's time; null when the log held none. */
  readonly from: string | null;
  readonly to: string | null;
  /** Whether it covers the last `minUnusedDays`, so that "unused" can be said from it. */
  readonly coversMinUnusedDays: boolean;
  /** Lines that held no readable audit event. */
  readonly linesNotRead: number;
}

export interface ServiceAccountReport {
  readonly namespace: string;
  readonly name: string;
  /** Names in `.secrets`, and whether each is a legacy token Secret that exists. */
  readonly secrets: readonly { readonly name: string; readonly tokenSecret: boolean }[];
  readonly message: string;
}

export interface VariantReport {
  readonly pods: number;
  readonly outcome: PodOutcome;
  readonly examplePod: string;
  readonly denials: readonly string[];
  readonly changes: readonly string[];
  readonly warnings: readonly string[];
  readonly reason?: string;
}

export interface PlanReport {
  readonly status: PlanStatus;
  readonly serviceAccount: string;
  readonly expirationSeconds: number;
  readonly changes: readonly string[];
  readonly manual: readonly string[];
  readonly replaces: readonly string[];
  readonly check: {
    readonly outcome: string;
    readonly denials: readonly string[];
    readonly warnings: readonly string[];
  } | null;
}

export interface WorkloadReport {
  readonly workload: ObjectRef;
  readonly serviceAccounts: readonly string[];
  readonly pods: number;
  readonly apiTokenPods: number;
  readonly wouldLoseApiTokenPods: number;
  /** The worst outcome over its pods. */
  readonly outcome: PodOutcome;
  readonly outcomes: Readonly<Record<PodOutcome, number>>;
  readonly variants: readonly VariantReport[];
  readonly otherVariantPods: number;
  readonly legacyTokens: readonly {
    readonly secret: string;
    readonly pods: number;
    readonly template: boolean;
    readonly uses: readonly UseReport[];
  }[];
  readonly plan: PlanReport | null;
}

export interface Counts {
  readonly legacyTokens: number;
  readonly inUse: number;
  readonly safeToDelete: number;
  readonly findClient: number;
  readonly invalidated: number;
  readonly orphaned: number;
  readonly deleting: number;
  /** Secrets the cleaner will invalidate as things stand. */
  readonly scheduledForInvalidation: number;
  readonly serviceAccountsListingTokens: number;
  readonly workloads: number;
  readonly pods: number;
  readonly podsDenied: number;
  readonly podsChanged: number;
  readonly podsWarned: number;
  readonly podsPassed: number;
  readonly podsError: number;
  readonly apiTokenPods: number;
  readonly wouldLoseApiTokenPods: number;
  /** `wouldLoseApiTokenPods / pods`, 0 without pods. */
  readonly wouldLoseApiTokenShare: number;
  readonly oldestUnused: { readonly namespace: string; readonly name: string; readonly days: number } | null;
}

export interface NamespaceSummary extends Counts {
  readonly namespace: string;
}

export interface ScanReport {
  readonly schemaVersion: typeof SCAN_REPORT_SCHEMA_VERSION;
  readonly scannedAt: string;
  readonly cluster: { readonly server: string; readonly version: string | null };
  readonly scope: { readonly namespace: string | null };
  readonly settings: {
    readonly cleanUpPeriodDays: number;
    readonly minUnusedDays: number;
    readonly tracking: { readonly state: string; readonly since: string | null; readonly reason: string | null };
    /** `--audit-log`; null without one. */
    readonly auditLog: AuditLogReport | null;
  };
  readonly policies: readonly { readonly name: string; readonly mode: PolicyMode; readonly file: string }[];
  readonly legacyTokens: readonly LegacyTokenReport[];
  readonly serviceAccounts: readonly ServiceAccountReport[];
  readonly workloads: readonly WorkloadReport[];
  readonly namespaces: readonly NamespaceSummary[];
  readonly summary: Counts & { readonly namespaces: number; readonly results: Readonly<Record<ResultStatus, number>> };
  readonly results: readonly ScanResult[];
  readonly notes: readonly string[];
}
