/**
 * Names and numbers of Kubernetes' legacy-token tracking and clean-up, written down once. Each
 * is explained, with its upstream source, in docs/scan.md ("What the labels mean").
 */

/**
 * Label the API server sets on a token Secret when its token authenticates a request: the UTC
 * date (`YYYY-MM-DD`), rewritten at most once a day (docs/scan.md).
 */
export const LAST_USED_LABEL = 'kubernetes.io/legacy-token-last-used';

/**
 * Label kube-controller-manager's legacy-token cleaner sets to the UTC date on which it
 * invalidated the token; the API server refuses the token from then on (docs/scan.md).
 */
export const INVALID_SINCE_LABEL = 'kubernetes.io/legacy-token-invalid-since';

/** Annotation on a token Secret with the UID of its ServiceAccount (set by the token controller). */
export const SERVICE_ACCOUNT_UID_ANNOTATION = 'kubernetes.io/service-account.uid';

/** Namespace and name of the ConfigMap whose `since` key dates the start of last-used tracking. */
export const TRACKING_CONFIGMAP = {
  namespace: 'kube-system',
  name: 'kube-apiserver-legacy-service-account-token-tracking',
  key: 'since',
} as const;

/** kube-controller-manager's `--legacy-service-account-token-clean-up-period` default: 365 days. */
export const DEFAULT_CLEAN_UP_PERIOD_DAYS = 365;

/** How often the cleaner looks at every token Secret: once a day (`DefaultCleanerSyncInterval`). */
export const CLEANER_SYNC_HOURS = 24;

/**
 * A token Secret nothing in the cluster consumes, used within this many days (by something
 * outside the cluster, then), is not called safe to delete (`--min-unused-days`).
 */
export const DEFAULT_MIN_UNUSED_DAYS = 30;

export { METADATA_LIST_ACCEPT, TOKEN_SECRET_FIELD_SELECTOR } from '../constants.js';

/** Items per list page (`limit`). */
export const DEFAULT_PAGE_SIZE = 500;

/** `source` of every PolicyReport result, and the field manager of `--apply`. */
export const REPORT_SOURCE = 'tokenguard';

/** Name of the PolicyReport written per namespace, and of the ClusterPolicyReport. */
export const REPORT_NAME = 'tokenguard-scan';

/** Policy name of the scan's own findings (those no TokenPolicy rule makes). */
export const SCAN_POLICY = 'tokenguard-scan';
