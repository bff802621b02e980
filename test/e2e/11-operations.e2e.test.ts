/**
 * Scenario 11: operating tokenguard behind the real API server.
 * - Caller authentication: tokenguard runs with `--client-ca`, and the API server presents a
 *   client certificate from it (AdmissionConfiguration `kubeConfigFile`, set up by the suite);
 *   every scenario's webhook call went through that. A caller without one gets 403.
 * - A broken policy update keeps the last good set in force (the API server keeps getting the
 *   same answers) and shows in tokenguard's metrics.
 * - A renewed serving certificate (`tokenguard certs generate --renew`) is picked up without a
 *   restart, and the API server keeps calling with the same caBundle.
 */
import { execFile } from 'node:child_process';
import { request } from 'node:https';
import { join } from 'node:path';
import { connect, type PeerCertificate } from 'node:tls';
import { readFileSync } from 'node:fs';
import { fileSize, loadState, readSince, waitFor } from './env.js';
import { create, ensureNamespace, type Pod, podManifest } from './kube.js';
import { CLI, httpsGet, policyFiles, setPolicies } from './tokenguard.js';

const NS = 'e2e-operations';

beforeAll(async () => {
  await setPolicies(policyFiles('test/fixtures/policies/strict'));
  await ensureNamespace(NS);
});

afterAll(async () => {
  await setPolicies(policyFiles('test/fixtures/policies/strict'));
});

function post(path: string, body: string): Promise<{ status: number; body: string }> {
  const state = loadState();
  return new Promise((resolve, reject) => {
    const req = request(
      {
        method: 'POST',
        hostname: '127.0.0.1',
        port: state.serve.port,
        path,
        ca: readFileSync(join(state.serve.certDir, 'ca.crt')),
        headers: { 'Content-Type': 'application/json' },
        agent: false,
        timeout: 5000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function servingSerial(): Promise<string> {
  const state = loadState();
  return new Promise((resolve, reject) => {
    const socket = connect(
      {
        host: '127.0.0.1',
        port: state.serve.port,
        ca: readFileSync(join(state.serve.certDir, 'ca.crt')),
        servername: 'localhost',
      },
      () => {
        const cert: PeerCertificate = socket.getPeerCertificate();
        socket.end();
        resolve(cert.serialNumber.toUpperCase());
      },
    );
    socket.on('error', reject);
  });
}

describe('scenario 11: operations', () => {
  test('admission calls need the client certificate the API server presents; without one: 403', async () => {
    const review = JSON.stringify({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: {
        uid: 'e2e-no-client-cert',
        kind: { group: '', version: 'v1', kind: 'Pod' },
        operation: 'CREATE',
        object: podManifest(NS, 'x'),
      },
    });
    const r = await post('/validate', review);
    expect(r.status).toBe(403);
    expect(r.body).toContain('client certificate');
    // while the API server's own calls succeed (every pod in this suite was mutated that way)
    const { stored } = await create(podManifest(NS, 'with-client-cert'));
    expect((stored as Pod).spec.automountServiceAccountToken).toBe(false);
  });

  test('a broken policy update is refused; the last good set stays in force', async () => {
    const broken = {
      'broken.yaml':
        'apiVersion: tokenguard.dev/v1alpha1\nkind: TokenPolicy\nmetadata:\n  name: broken\nspec:\n  mode: Sometimes\n',
    };
    await expect(setPolicies({ ...policyFiles('test/fixtures/policies/strict'), ...broken })).rejects.toThrow(
      /refused the policy set/,
    );
    const { stored } = await create(podManifest(NS, 'after-broken-update'));
    expect((stored as Pod).spec.automountServiceAccountToken).toBe(false);
    const state = loadState();
    const metrics = await httpsGet(
      `https://127.0.0.1:${state.serve.port}/metrics`,
      join(state.serve.certDir, 'ca.crt'),
    );
    expect(metrics.body).toMatch(/^tokenguard_policy_last_reload_success 0$/m);
    await setPolicies(policyFiles('test/fixtures/policies/audit'));
    const after = await httpsGet(`https://127.0.0.1:${state.serve.port}/metrics`, join(state.serve.certDir, 'ca.crt'));
    expect(after.body).toMatch(/^tokenguard_policy_last_reload_success 1$/m);
  });

  test('a renewed serving certificate is served without a restart, and the API server keeps calling', async () => {
    await setPolicies(policyFiles('test/fixtures/policies/strict'));
    const state = loadState();
    const before = await servingSerial();
    const offset = fileSize(state.serve.log);
    await new Promise<void>((resolve, reject) =>
      execFile(
        process.execPath,
        [
          CLI,
          'certs',
          'generate',
          '--renew',
          '--service',
          'tokenguard',
          '--namespace',
          'tokenguard-system',
          '--dns',
          'localhost',
          '--ip',
          '127.0.0.1',
          '--out',
          state.serve.certDir,
        ],
        (err, _stdout, stderr) => (err ? reject(new Error(String(stderr))) : resolve()),
      ),
    );
    const renewed = await waitFor('tokenguard to reload its certificate', 20_000, async () => {
      for (const line of readSince(state.serve.log, offset).split('\n')) {
        if (!line.startsWith('{')) continue;
        const l = JSON.parse(line) as { event?: string; result?: string; serialNumber?: string };
        if (l.event === 'certificate-reload' && l.result === 'success' && l.serialNumber)
          return l.serialNumber.toUpperCase();
      }
      return undefined;
    });
    expect(renewed).not.toBe(before);
    expect(await servingSerial()).toBe(renewed);
    const { stored } = await create(podManifest(NS, 'after-renewal'));
    expect((stored as Pod).spec.automountServiceAccountToken).toBe(false);
  });
});
