/**
 * Prometheus metrics of one server. Each server gets its own Registry (never prom-client's
 * global default), so tests can run several servers in one process without "already
 * registered" errors (the EKS webhook's `init()` registration is the anti-pattern avoided).
 */
import { Counter, Gauge, Registry } from 'prom-client';
import { registerProcessMetrics } from './process-metrics.js';
import { ScrapedCounter, ScrapedHistogram } from './request-metrics.js';

/** Latency buckets, 0.5 ms to 5 s: a review takes well under a millisecond; 5 s is half the API server's default timeout. */
export const DURATION_BUCKETS: readonly number[] = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
];

/**
 * Kinds and operations used as label values as they are; anything else is `other`. The body is
 * caller-controlled, and a label per distinct string would let one caller grow the registry
 * without bound.
 */
const KNOWN_KINDS = new Set([
  'Pod',
  'Secret',
  'ServiceAccount',
  'TokenRequest',
  'Namespace',
  'Deployment',
  'ConfigMap',
]);
const KNOWN_OPERATIONS = new Set(['CREATE', 'UPDATE', 'DELETE', 'CONNECT']);

export type ReloadResult = 'success' | 'failure';

export interface Metrics {
  readonly registry: Registry;
  /** Counts one answered AdmissionReview and its latency. */
  observeReview(endpoint: string, kind: string, operation: string, decision: string, seconds: number): void;
  /** Counts a request answered with a plain HTTP error (no AdmissionReview: 400, 403, 413, 415, 429, 500). */
  observeHttpError(endpoint: string, code: number): void;
  /**
   * Counts an admission request whose client went away before its body was read: nothing was
   * answered.
   */
  observeAborted(endpoint: string): void;
  /** Records a policy reload attempt; `loaded` is the size of the set in force afterwards. */
  observePolicyReload(result: ReloadResult, loaded: number): void;
  /** Sets the policy gauges without counting a reload (start-up). */
  setPoliciesLoaded(loaded: number): void;
  /** Records a certificate reload attempt. */
  observeCertificateReload(result: ReloadResult): void;
  /** The serving certificate's notAfter. */
  setCertificateExpiry(notAfter: Date): void;
  /** Counts a connection closed by one of the connection limits (limits.ts). */
  observeConnectionClosed(reason: ConnectionCloseReason): void;
  /** Where the load gauges read from at each scrape: open connections, memory charged to requests in flight. */
  setLoadSources(sources: LoadSources): void;
}

/**
 * Why the server closed a connection itself: `limit` (refused on accept, `MAX_CONNECTIONS`
 * open), `handshake-timeout` (no TLS handshake within 10 s), `idle` (no request within 10 s of
 * the handshake).
 */
export type ConnectionCloseReason = 'limit' | 'handshake-timeout' | 'idle';

export interface LoadSources {
  connections(): number;
  chargedBytes(): number;
}

export interface MetricsOptions {
  /**
   * Also register `nodejs_gc_duration_seconds` (`tokenguard serve --gc-metrics`). Off by
   * default: timing GCs takes a `PerformanceObserver` of `gc` entries, and the object Node builds
   * for each entry made review objects survive into the old generation, hence a mark-compact
   * every minute or two at 1,000 reviews/s (docs/decisions.md "Performance", the paragraph *No GC
   * histogram by default*). GC pauses also show in `nodejs_eventloop_lag_*`.
   */
  readonly gcMetrics?: boolean;
}

/**
 * Registers every tokenguard metric, plus the process and Node.js metrics (process-metrics.ts), in `registry`.
 *
 * @example const metrics = createMetrics(); res.end(await metrics.registry.metrics());
 */
export function createMetrics(registry: Registry = new Registry(), options: MetricsOptions = {}): Metrics {
  registerProcessMetrics(registry, options.gcMetrics === true);
  const requests = new ScrapedCounter(registry, {
    name: 'tokenguard_admission_requests_total',
    help: 'AdmissionReviews answered, by endpoint, object kind, operation and decision (allowed, patched, denied, invalid, error).',
    labelNames: ['endpoint', 'kind', 'operation', 'decision'] as const,
  });
  const duration = new ScrapedHistogram(
    registry,
    'tokenguard_admission_duration_seconds',
    'Time from the request to the AdmissionReview answer, body reading included.',
    'endpoint',
    DURATION_BUCKETS,
  );
  const httpErrors = new Counter({
    name: 'tokenguard_http_errors_total',
    help: 'Admission requests answered with a plain HTTP error instead of an AdmissionReview, by endpoint and status code.',
    labelNames: ['endpoint', 'code'] as const,
    registers: [registry],
  });
  // A series of its own rather than a `code` on the errors above: no status was sent, and
  // `code` stays numeric for queries such as `code=~"5..|4.."`. When the client was the API
  // server, it applied the webhook's failurePolicy to these requests; a rate above zero points
  // at the network between the two (or a client that sends half a request and leaves).
  const aborted = new Counter({
    name: 'tokenguard_admission_aborted_total',
    help: 'Admission requests whose client closed the connection before the whole request body arrived, left unanswered, by endpoint.',
    labelNames: ['endpoint'] as const,
    registers: [registry],
  });
  const policyReloads = new Counter({
    name: 'tokenguard_policy_reloads_total',
    help: 'Policy reloads after a file change, by result; a failed reload keeps the last good set.',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const policiesLoaded = new Gauge({
    name: 'tokenguard_policies_loaded',
    help: 'Policies in the set in force.',
    registers: [registry],
  });
  const lastReloadSuccess = new Gauge({
    name: 'tokenguard_policy_last_reload_success',
    help: '1 when the last policy load succeeded, 0 when the files on disk are broken and an older set is in force.',
    registers: [registry],
  });
  const lastReloadTime = new Gauge({
    name: 'tokenguard_policy_last_reload_timestamp_seconds',
    help: 'When policies were last loaded or a reload was last attempted.',
    registers: [registry],
  });
  const certReloads = new Counter({
    name: 'tokenguard_certificate_reloads_total',
    help: 'Serving certificate reloads after a file change, by result; a failed reload keeps the certificate in use.',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const certExpiry = new Gauge({
    name: 'tokenguard_certificate_expiry_timestamp_seconds',
    help: 'notAfter of the serving certificate in use, as a Unix time.',
    registers: [registry],
  });
  const connectionsClosed = new Counter({
    name: 'tokenguard_connections_closed_total',
    help: 'Connections the server closed itself, by reason: limit (refused on accept at the connection cap), handshake-timeout, idle (no request after the handshake).',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  let load: LoadSources = { connections: () => 0, chargedBytes: () => 0 };
  new Gauge({
    name: 'tokenguard_connections_open',
    help: 'TCP connections open to the server, handshakes in progress included.',
    registers: [registry],
    collect() {
      this.set(load.connections());
    },
  });
  new Gauge({
    name: 'tokenguard_admission_charged_bytes',
    help: 'Memory charged to the admission requests in flight (4 bytes per body byte, 64 per JSON value), against a budget of 64 MiB.',
    registers: [registry],
    collect() {
      this.set(load.chargedBytes());
    },
  });
  for (const reason of ['limit', 'handshake-timeout', 'idle'] as const) connectionsClosed.inc({ reason }, 0);
  for (const endpoint of ['mutate', 'validate'] as const) aborted.inc({ endpoint }, 0);
  for (const result of ['success', 'failure'] as const) {
    policyReloads.inc({ result }, 0);
    certReloads.inc({ result }, 0);
  }
  const kindLabel = (kind: string) => (KNOWN_KINDS.has(kind) ? kind : kind === '' ? 'unknown' : 'other');
  const operationLabel = (op: string) => (KNOWN_OPERATIONS.has(op) ? op : op === '' ? 'unknown' : 'other');
  return {
    registry,
    observeReview(endpoint, kind, operation, decision, seconds) {
      requests.inc(endpoint, kindLabel(kind), operationLabel(operation), decision);
      duration.observe(endpoint, seconds);
    },
    observeHttpError(endpoint, code) {
      httpErrors.inc({ endpoint, code: String(code) });
    },
    observeAborted(endpoint) {
      aborted.inc({ endpoint });
    },
    observePolicyReload(result, loaded) {
      policyReloads.inc({ result });
      lastReloadSuccess.set(result === 'success' ? 1 : 0);
      lastReloadTime.set(Date.now() / 1000);
      policiesLoaded.set(loaded);
    },
    setPoliciesLoaded(loaded) {
      policiesLoaded.set(loaded);
      lastReloadSuccess.set(1);
      lastReloadTime.set(Date.now() / 1000);
    },
    observeCertificateReload(result) {
      certReloads.inc({ result });
    },
    setCertificateExpiry(notAfter) {
      certExpiry.set(notAfter.getTime() / 1000);
    },
    observeConnectionClosed(reason) {
      connectionsClosed.inc({ reason });
    },
    setLoadSources(sources) {
      load = sources;
    },
  };
}
