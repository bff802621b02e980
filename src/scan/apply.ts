/**
 * `tokenguard scan --apply`: the PolicyReports written to the cluster with server-side apply
 * (field manager `tokenguard`), so each scan replaces the last one's results in place. The
 * `wgpolicyk8s.io/v1alpha2` CRDs must be installed; the API server's discovery says so first.
 */
import { type JsonObject, objectAt, objectsAt, stringAt } from '../json.js';
import { KubeApiError, type KubeClient } from '../kube/client.js';
import { ScanError } from './collect.js';
import { REPORT_SOURCE } from './constants.js';
import { POLICY_REPORT_API_VERSION } from './format-policyreport.js';

const GROUP_VERSION_PATH = `/apis/${POLICY_REPORT_API_VERSION}`;

/** The message when the CRDs are missing (kept word for word: docs/scan.md quotes it). */
export const MISSING_CRDS =
  'the PolicyReport CRDs (policyreports and clusterpolicyreports of wgpolicyk8s.io/v1alpha2) are not installed in this cluster: install them (Kyverno and Policy Reporter ship them; the definitions are in kubernetes-sigs/wg-policy-prototypes), or print the reports with --output policyreport';

export interface ApplyOptions {
  readonly client: KubeClient;
  readonly requestTimeoutMs: number;
  /** Writes in flight at once (default 4). */
  readonly concurrency?: number;
  readonly signal?: AbortSignal;
}

/** Checks that both report kinds are served, then applies every report; resolves with how many were written. */
export async function applyReports(reports: readonly JsonObject[], options: ApplyOptions): Promise<number> {
  const { client } = options;
  let served: Set<string>;
  try {
    const discovery = await client.getJson(
      GROUP_VERSION_PATH,
      {},
      { timeoutMs: options.requestTimeoutMs, ...(options.signal ? { signal: options.signal } : {}) },
    );
    served = new Set(objectsAt(discovery, 'resources').map((r) => stringAt(r, 'name') ?? ''));
  } catch (e) {
    if (e instanceof KubeApiError && e.statusCode === 404) throw new ScanError(MISSING_CRDS);
    throw new ScanError(
      `cannot read the API server's discovery of ${POLICY_REPORT_API_VERSION}: ${(e as Error).message}`,
    );
  }
  if (!served.has('policyreports') || !served.has('clusterpolicyreports')) throw new ScanError(MISSING_CRDS);

  const queue = [...reports];
  let written = 0;
  const worker = async () => {
    for (let r = queue.shift(); r; r = queue.shift()) {
      const md = objectAt(r, 'metadata');
      const name = encodeURIComponent(stringAt(md, 'name') ?? '');
      const ns = stringAt(md, 'namespace');
      const path = ns
        ? `${GROUP_VERSION_PATH}/namespaces/${encodeURIComponent(ns)}/policyreports/${name}`
        : `${GROUP_VERSION_PATH}/clusterpolicyreports/${name}`;
      try {
        await client.sendJson('PATCH', path, JSON.stringify(r), {
          query: { fieldManager: REPORT_SOURCE, force: 'true' },
          contentType: 'application/apply-patch+yaml',
          timeoutMs: options.requestTimeoutMs,
          ...(options.signal ? { signal: options.signal } : {}),
        });
        written++;
      } catch (e) {
        queue.length = 0; // the other writers stop after their current report
        const what = ns ? `PolicyReport ${ns}/${stringAt(md, 'name')}` : `ClusterPolicyReport ${stringAt(md, 'name')}`;
        const hint =
          e instanceof KubeApiError && e.statusCode === 403
            ? ' (grant the ClusterRole tokenguard-scan-reports of deploy/scan)'
            : '';
        throw new ScanError(`cannot write ${what}: ${(e as Error).message}${hint}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency ?? 4, Math.max(1, reports.length)) }, worker));
  return written;
}
