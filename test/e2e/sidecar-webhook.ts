/**
 * A second, independent mutating webhook for scenario 7: a tiny HTTPS server on its own loopback
 * port that adds a `sidecar` container to every pod it sees, like a service-mesh injector. It is
 * registered as MutatingWebhookConfiguration `zz-sidecar` (after `tokenguard` in name order, so
 * the API server calls it after tokenguard) with reinvocationPolicy Never.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { IMAGE, type K8sObject } from './kube.js';
import { generateServingCerts } from './tokenguard.js';

export const SIDECAR = 'sidecar';

export interface SidecarCall {
  readonly uid: string;
  readonly namespace: string;
  readonly name: string;
  readonly patched: boolean;
}

export interface SidecarWebhook {
  readonly port: number;
  readonly caBundle: string;
  readonly calls: SidecarCall[];
  configuration(namespace: string): K8sObject;
  close(): Promise<void>;
}

export async function startSidecarWebhook(certDir: string): Promise<SidecarWebhook> {
  const { caBundle } = await generateServingCerts(certDir, 'sidecar-injector', 'e2e');
  const calls: SidecarCall[] = [];
  const server: Server = createServer(
    { cert: readFileSync(join(certDir, 'tls.crt')), key: readFileSync(join(certDir, 'tls.key')) },
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        try {
          const review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
            request: {
              uid: string;
              namespace?: string;
              name?: string;
              object: { metadata?: { name?: string; generateName?: string }; spec: { containers: { name: string }[] } };
            };
          };
          const { request } = review;
          const pod = request.object;
          const needed = !pod.spec.containers.some((c) => c.name === SIDECAR);
          const patch = needed
            ? [{ op: 'add', path: '/spec/containers/-', value: { name: SIDECAR, image: IMAGE } }]
            : [];
          calls.push({
            uid: request.uid,
            namespace: request.namespace ?? '',
            name: pod.metadata?.name ?? pod.metadata?.generateName ?? '',
            patched: needed,
          });
          const response = {
            apiVersion: 'admission.k8s.io/v1',
            kind: 'AdmissionReview',
            response: {
              uid: request.uid,
              allowed: true,
              ...(needed
                ? { patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64') }
                : {}),
            },
          };
          res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(response));
        } catch (e) {
          res
            .writeHead(400, { 'Content-Type': 'application/json' })
            .end(JSON.stringify({ error: (e as Error).message }));
        }
      });
    },
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    caBundle,
    calls,
    configuration: (namespace) => ({
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: 'zz-sidecar' },
      webhooks: [
        {
          name: 'zz-sidecar.example.com',
          admissionReviewVersions: ['v1'],
          sideEffects: 'None',
          failurePolicy: 'Fail',
          reinvocationPolicy: 'Never',
          timeoutSeconds: 5,
          clientConfig: { url: `https://127.0.0.1:${port}/mutate`, caBundle },
          rules: [
            { apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'], scope: 'Namespaced' },
          ],
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespace } },
        },
      ],
    }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
