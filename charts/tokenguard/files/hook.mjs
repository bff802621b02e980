// The chart's hook and test pods run this file with the tokenguard image's node:
//
//   node hook.mjs delete-webhooks   (pre-delete hook) deletes the release's two webhook
//                                   configurations, so that no webhook is left calling a Service
//                                   that uninstall is about to remove.
//   node hook.mjs check-admission   (`helm test`) creates a pod as a server-side dry run
//                                   (nothing is stored) and checks that tokenguard answered.
//
// It talks to the API server as the pod's ServiceAccount, with node:https only. It never prints
// the token. Environment:
//   KUBERNETES_SERVICE_HOST, KUBERNETES_SERVICE_PORT   set by the kubelet
//   TOKENGUARD_SA_DIR          folder with token and ca.crt (default: the pod's mounted one)
//   MUTATING_WEBHOOK_CONFIGURATION, VALIDATING_WEBHOOK_CONFIGURATION   names (delete-webhooks)
//   TEST_NAMESPACE, TEST_IMAGE                                          (check-admission)
import { readFileSync } from 'node:fs';
import { request } from 'node:https';

const SA_DIR = process.env.TOKENGUARD_SA_DIR || '/var/run/secrets/kubernetes.io/serviceaccount';

function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

function apiServer() {
  const host = env('KUBERNETES_SERVICE_HOST');
  const port = process.env.KUBERNETES_SERVICE_PORT || '443';
  // node:https takes an IPv6 address without brackets.
  return { hostname: host.replace(/^\[|\]$/g, ''), port };
}

/** One API call; resolves with status, headers and the parsed JSON body (or text). */
function call(method, path, body) {
  const { hostname, port } = apiServer();
  const token = readFileSync(`${SA_DIR}/token`, 'utf8').trim();
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        method,
        hostname,
        port,
        path,
        ca: readFileSync(`${SA_DIR}/ca.crt`),
        headers: {
          authorization: `Bearer ${token}`,
          accept: 'application/json',
          ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
        },
        timeout: 30_000,
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, json, text });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer in 30 s`)));
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

function message(r) {
  return r.json?.message ?? r.text.slice(0, 300);
}

async function deleteWebhooks() {
  const targets = [
    ['validatingwebhookconfigurations', process.env.VALIDATING_WEBHOOK_CONFIGURATION],
    ['mutatingwebhookconfigurations', process.env.MUTATING_WEBHOOK_CONFIGURATION],
  ].filter(([, name]) => name);
  if (targets.length === 0) throw new Error('neither MUTATING_WEBHOOK_CONFIGURATION nor VALIDATING_WEBHOOK_CONFIGURATION is set');
  // Validating first: it is the one that fails closed.
  for (const [resource, name] of targets) {
    const path = `/apis/admissionregistration.k8s.io/v1/${resource}/${encodeURIComponent(name)}`;
    const r = await call('DELETE', path);
    if (r.status === 404) console.log(`${resource}/${name}: already gone`);
    else if (r.status >= 200 && r.status < 300) console.log(`${resource}/${name}: deleted`);
    else throw new Error(`DELETE ${resource}/${name}: HTTP ${r.status}: ${message(r)}`);
  }
  return 0;
}

// Longer than any shipped or sensible bound (48 h): the shipped token-bounds policy shortens it to 24 h.
const REQUESTED_SECONDS = 172800;

async function checkAdmission() {
  const namespace = env('TEST_NAMESPACE');
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { generateName: 'tokenguard-helm-test-', namespace, labels: { 'app.kubernetes.io/name': 'tokenguard-helm-test' } },
    spec: {
      automountServiceAccountToken: false,
      containers: [{ name: 'probe', image: env('TEST_IMAGE'), volumeMounts: [{ name: 'probe-token', mountPath: '/var/run/secrets/tokens/probe', readOnly: true }] }],
      volumes: [{ name: 'probe-token', projected: { sources: [{ serviceAccountToken: { audience: 'tokenguard-helm-test', expirationSeconds: REQUESTED_SECONDS, path: 'token' } }] } }],
    },
  };
  const r = await call('POST', `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods?dryRun=All&fieldManager=tokenguard-helm-test`, pod);
  const warnings = [r.headers.warning ?? []].flat().flatMap((w) => String(w).split(/,(?=\s*\d{3} )/));
  const fromTokenguard = warnings.filter((w) => w.includes('tokenguard'));
  if (r.status === 201) {
    const seconds = r.json?.spec?.volumes?.find((v) => v.name === 'probe-token')?.projected?.sources?.[0]?.serviceAccountToken?.expirationSeconds;
    if (seconds !== undefined && seconds !== REQUESTED_SECONDS) {
      console.log(`ok: a dry-run pod in ${namespace} asked for a ${REQUESTED_SECONDS} s token and the API server returned ${seconds} s (mutated by tokenguard)`);
      return 0;
    }
    if (fromTokenguard.length > 0) {
      console.log(`ok: a dry-run pod in ${namespace} was admitted with tokenguard's warning: ${fromTokenguard.join('; ')}`);
      return 0;
    }
    console.error(
      `FAIL: a dry-run pod in ${namespace} was admitted unchanged (token ${seconds} s) and without a warning from tokenguard: ` +
        'the webhooks were not called, failed open, or no policy bounds projected tokens there',
    );
    return 1;
  }
  if (r.status >= 400 && r.status < 500 && /admission webhook "[^"]*tokenguard\.dev" denied the request/.test(message(r))) {
    console.log(`ok: tokenguard denied the dry-run pod in ${namespace}: ${message(r)}`);
    return 0;
  }
  console.error(`FAIL: dry-run pod in ${namespace}: HTTP ${r.status}: ${message(r)}`);
  return 1;
}

const commands = { 'delete-webhooks': deleteWebhooks, 'check-admission': checkAdmission };
const command = commands[process.argv[2] ?? ''];
if (!command) {
  console.error(`usage: node hook.mjs ${Object.keys(commands).join('|')}`);
  process.exitCode = 2;
} else {
  command().then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      console.error(`FAIL: ${err instanceof Error ? err.message : String(err)}`);
      process.exitCode = 1;
    },
  );
}
