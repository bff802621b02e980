/**
 * Evidence that every call the API server made to tokenguard worked: scenario 8 checks the whole
 * run so far, other scenarios check their own window. Sources, each read from an offset:
 * - the kubectl transcript (every answer a scenario got): no `Internal error`, no
 *   `failed calling webhook`;
 * - the kube-apiserver log: no `failed calling webhook` / `failing open` (a webhook with
 *   failurePolicy Ignore that errors is only visible there);
 * - the kube-controller-manager log: no failed pod creation through a webhook (Deployments);
 * - tokenguard's log: no internal error, no plain HTTP error, no `error` or `invalid` decision;
 * - the API server's metrics: `apiserver_admission_webhook_rejection_count` with an error type
 *   other than `no_error`, and `apiserver_admission_webhook_fail_open_count`, for our webhooks.
 */
import { type E2EState, fileSize, loadState, readSince } from './env.js';
import { apiGet } from './kube.js';

export interface LogOffsets {
  readonly apiserver: number;
  readonly controllerManager: number;
  readonly tokenguard: number;
  readonly transcript: number;
  readonly metrics: Map<string, number>;
}

/** Start of the run: every log from its beginning, metrics from zero. */
export const FROM_START: LogOffsets = {
  apiserver: 0,
  controllerManager: 0,
  tokenguard: 0,
  transcript: 0,
  metrics: new Map(),
};

export async function offsetsNow(state: E2EState = loadState()): Promise<LogOffsets> {
  return {
    apiserver: fileSize(state.logs.apiserver),
    controllerManager: fileSize(state.logs.controllerManager),
    tokenguard: fileSize(state.serve.log),
    transcript: fileSize(state.logs.transcript),
    metrics: await webhookMetrics(state),
  };
}

const FAILED_CALL = /failed calling webhook|failing open|Internal error occurred|InternalError/i;

/** Metric series of the API server's admission-webhook metrics that name a tokenguard webhook. */
export async function webhookMetrics(state: E2EState = loadState()): Promise<Map<string, number>> {
  const r = await apiGet('/metrics', state);
  if (r.status !== 200) throw new Error(`e2e: GET /metrics of the API server answered ${r.status}`);
  const out = new Map<string, number>();
  for (const line of r.body.split('\n')) {
    if (!line.startsWith('apiserver_admission_webhook_') || !line.includes('tokenguard.dev"')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

/** Increase of each series since `before`. */
function metricDelta(now: Map<string, number>, before: Map<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, v] of now) out.set(k, v - (before.get(k) ?? 0));
  return out;
}

export interface HealthReport {
  /** Every problem found, one line each (empty when all is well). */
  readonly problems: string[];
  /** Successful calls per webhook and outcome in the window, from the API server's metrics. */
  readonly calls: Record<string, number>;
  /** tokenguard's decisions in the window (allowed, patched, denied, ...). */
  readonly decisions: Record<string, number>;
}

export async function webhookHealth(since: LogOffsets, state: E2EState = loadState()): Promise<HealthReport> {
  const problems: string[] = [];

  for (const line of readSince(state.logs.transcript, since.transcript).split('\n')) {
    if (!line) continue;
    const t = JSON.parse(line) as { args: string[]; stderr: string };
    if (FAILED_CALL.test(t.stderr)) problems.push(`kubectl ${t.args.join(' ')}: ${t.stderr.trim()}`);
  }
  for (const [name, file, offset] of [
    ['kube-apiserver', state.logs.apiserver, since.apiserver],
    ['kube-controller-manager', state.logs.controllerManager, since.controllerManager],
  ] as const) {
    for (const line of readSince(file, offset).split('\n'))
      if (FAILED_CALL.test(line)) problems.push(`${name} log: ${line.trim()}`);
  }

  const decisions: Record<string, number> = {};
  for (const line of readSince(state.serve.log, since.tokenguard).split('\n')) {
    if (!line.startsWith('{')) continue;
    const l = JSON.parse(line) as {
      level?: string;
      event?: string;
      decision?: string;
      endpoint?: string;
      msg?: string;
      error?: string;
    };
    if (l.event === 'review' && l.decision)
      decisions[`${l.endpoint}:${l.decision}`] = (decisions[`${l.endpoint}:${l.decision}`] ?? 0) + 1;
    if (
      l.event === 'internal-error' ||
      l.event === 'http-error' ||
      l.decision === 'error' ||
      l.decision === 'invalid' ||
      l.level === 'error' ||
      l.level === 'fatal'
    ) {
      problems.push(`tokenguard log: ${line.trim()}`);
    }
  }

  const calls: Record<string, number> = {};
  const delta = metricDelta(await webhookMetrics(state), since.metrics);
  for (const [series, n] of delta) {
    if (n <= 0) continue;
    if (series.startsWith('apiserver_admission_webhook_fail_open_count'))
      problems.push(`API server metric ${series} rose by ${n}`);
    if (series.startsWith('apiserver_admission_webhook_rejection_count') && !series.includes('error_type="no_error"'))
      problems.push(`API server metric ${series} rose by ${n}`);
    if (series.startsWith('apiserver_admission_webhook_request_total')) {
      const name = /name="([^"]+)"/.exec(series)?.[1] ?? '?';
      const code = /code="([^"]+)"/.exec(series)?.[1] ?? '?';
      const rejected = /rejected="([^"]+)"/.exec(series)?.[1] ?? '?';
      const key = `${name} code=${code} rejected=${rejected}`;
      calls[key] = (calls[key] ?? 0) + n;
    }
  }
  return { problems, calls, decisions };
}
