/**
 * Jest global setup of the e2e suite (run by test/e2e/run.sh): ONE control plane and ONE
 * tokenguard for every scenario file.
 *
 * 1. startCluster() from the binaries in TOKENGUARD_E2E_BIN_DIR, with an AdmissionConfiguration
 *    that gives the API server a client certificate for webhook calls;
 * 2. `tokenguard certs generate` for 127.0.0.1, then `tokenguard serve` on a free loopback port
 *    with `--client-ca`, `--kubeconfig` (cluster facts) and a hot-reloaded policy folder;
 * 3. the Mutating- and ValidatingWebhookConfiguration of deploy/base, pointed at it;
 * 4. a bounded wait until the API server really calls the webhooks.
 *
 * Everything is described in a state file (env.ts) for the scenarios and the teardown. On any
 * failure, everything started so far is stopped and the log tails are printed.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Cluster } from './cluster.js';
import { freePorts, startCluster } from './cluster.js';
import { type E2EState, PROBE_NAMESPACE, REPO_ROOT, STATE_ENV, saveState, tailFile } from './env.js';
import { ensureNamespace } from './kube.js';
import {
  generateServingCerts,
  initPolicyDir,
  makeWebhookClientAuth,
  policyFiles,
  serveArgs,
  startServe,
  stopServe,
} from './tokenguard.js';
import { registerWebhooks, renderWebhookConfigs } from './webhooks.js';

/** What the teardown needs that a JSON file cannot hold. */
export interface E2EGlobals {
  cluster?: Cluster;
  statePath?: string;
  startedAt: number;
}

declare global {
  var __TOKENGUARD_E2E__: E2EGlobals | undefined;
}

function log(message: string): void {
  process.stderr.write(`e2e: ${message}\n`);
}

export default async function globalSetup(): Promise<void> {
  const startedAt = Date.now();
  const globals: E2EGlobals = { startedAt };
  globalThis.__TOKENGUARD_E2E__ = globals;

  const binDir = process.env.TOKENGUARD_E2E_BIN_DIR;
  if (!binDir)
    throw new Error('e2e: TOKENGUARD_E2E_BIN_DIR is not set; run the suite with test/e2e/run.sh (npm run test:e2e)');
  const root = process.env.TOKENGUARD_E2E_WORKDIR ?? join(REPO_ROOT, '.e2e-work');
  mkdirSync(root, { recursive: true });
  const workDir = mkdtempSync(join(root, `run-${new Date().toISOString().replace(/[:.]/g, '')}-`));
  log(`work dir (logs): ${workDir}`);
  const tgDir = join(workDir, 'tokenguard');
  mkdirSync(tgDir, { recursive: true });

  let state: E2EState | undefined;
  try {
    const clientAuth = await makeWebhookClientAuth(join(workDir, 'webhook-client'));
    const t0 = Date.now();
    const cluster = await startCluster({
      binDir,
      workDir: join(workDir, 'cluster'),
      admissionConfigFile: clientAuth.admissionConfigFile,
    });
    globals.cluster = cluster;
    log(`control plane up in ${((Date.now() - t0) / 1000).toFixed(1)} s at ${cluster.apiserverUrl}`);

    const certDir = join(tgDir, 'certs');
    const { caBundle } = await generateServingCerts(certDir);
    const [port] = await freePorts(1);
    if (port === undefined) throw new Error('e2e: no free port');
    const policyDir = join(tgDir, 'policies');
    initPolicyDir(policyDir, policyFiles('test/fixtures/policies/strict'));
    // tokenguard watches ServiceAccounts, Namespaces and RBAC bindings of this cluster (read-only).
    const serve = {
      port,
      pid: 0,
      certDir,
      clientCaFile: clientAuth.caFile,
      policyDir,
      kubeconfig: cluster.kubeconfig,
      log: join(tgDir, 'tokenguard.log'),
    };
    state = {
      workDir,
      binDir,
      kubeconfig: cluster.kubeconfig,
      apiserverUrl: cluster.apiserverUrl,
      caFile: cluster.caFile,
      adminCertFile: cluster.adminCertFile,
      adminKeyFile: cluster.adminKeyFile,
      logs: { ...cluster.logs, transcript: join(workDir, 'kubectl-transcript.jsonl') },
      serve: { ...serve, args: serveArgs(serve) },
      webhookBaseUrl: `https://127.0.0.1:${port}`,
      caBundle,
    };
    const statePath = join(workDir, 'state.json');
    process.env[STATE_ENV] = statePath;
    globals.statePath = statePath;
    writeFileSync(state.logs.transcript, '');
    saveState(state, statePath);

    const t1 = Date.now();
    state = await startServe(state);
    log(
      `tokenguard serve ready on 127.0.0.1:${port} in ${((Date.now() - t1) / 1000).toFixed(1)} s (pid ${state.serve.pid})`,
    );

    await ensureNamespace(PROBE_NAMESPACE);
    const t2 = Date.now();
    await registerWebhooks(await renderWebhookConfigs(state.webhookBaseUrl, caBundle));
    log(
      `webhooks from deploy/base registered and effective in ${((Date.now() - t2) / 1000).toFixed(1)} s; setup took ${((Date.now() - startedAt) / 1000).toFixed(1)} s`,
    );
  } catch (err) {
    const logs = state
      ? [
          ['kube-apiserver', state.logs.apiserver],
          ['tokenguard', state.serve.log],
        ]
      : globals.cluster
        ? [['kube-apiserver', globals.cluster.logs.apiserver]]
        : [];
    for (const [name, file] of logs)
      process.stderr.write(`--- last lines of ${name} (${file}):\n${tailFile(file as string, 30)}\n`);
    if (state) await stopServe(state).catch(() => undefined);
    await globals.cluster?.stop();
    log(`setup failed; work dir kept: ${workDir}`);
    throw err;
  }
}
