/**
 * Peak memory of `tokenguard test` on one large input: a generated manifest file of `--mb`
 * megabytes (default 500) in a realistic mix (Deployments, ServiceAccounts, ConfigMaps with
 * data, Secrets, RoleBindings; ~7.5 kB an object, as a real 56.7 MB bundle of 7,560 objects),
 * run through the built CLI (`dist/cli/main.js`, or `--entry FILE`) with `--output json` to a
 * pipe that is drained. Reported: input size, objects, wall time and peak RSS (VmHWM, polled
 * from /proc every 50 ms; Linux only). Not a test.
 *
 *   npm run build && npx tsx bench/cli-memory.ts [--mb 500] [--entry dist/cli/main.js] [--keep]
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const root = join(import.meta.dirname, '..');
const { values } = parseArgs({
  options: {
    mb: { type: 'string', default: '500' },
    entry: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
  strict: true,
});
const megabytes = Number(values.mb);
const entry = values.entry ?? join(root, 'dist', 'cli', 'main.js');
if (!existsSync(entry)) {
  process.stderr.write(`${entry} is missing: run npm run build first\n`);
  process.exit(1);
}

const filler = 'x'.repeat(64);
function document(i: number): string {
  const ns = ['team-a', 'team-b', 'payments', 'kube-system'][i % 4];
  switch (i % 6) {
    case 0:
      return `apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: sa-${i}\n  namespace: ${ns}\n${i % 12 === 0 ? 'automountServiceAccountToken: false\n' : ''}`;
    case 1: {
      const lines = Array.from({ length: 150 }, (_, k) => `    key-${k}: "${filler}"`).join('\n');
      return `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg-${i}\n  namespace: ${ns}\ndata:\n${lines}\n`;
    }
    case 2:
      return `apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: rb-${i}\n  namespace: ${ns}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}\nsubjects:\n  - kind: ServiceAccount\n    name: sa-${i - 2}\n    namespace: ${ns}\n`;
    case 3:
      return `apiVersion: v1\nkind: Secret\nmetadata:\n  name: s-${i}\n  namespace: ${ns}\ntype: Opaque\nstringData:\n  config: "${filler}"\n`;
    default: {
      const env = Array.from({ length: 60 }, (_, k) => `            - {name: ENV_${k}, value: "${filler}"}`).join('\n');
      return `# a Deployment with a long environment
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web-${i}
  namespace: ${ns}
  labels: {app: web-${i}}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web-${i}}
  template:
    metadata:
      labels: {app: web-${i}}
    spec:
      serviceAccountName: sa-${i - (i % 6)}
      containers:
        - name: web
          image: registry.example/web:${i}
          env:
${env}
          volumeMounts:
            - {name: token, mountPath: /var/run/secrets/tokens}
      volumes:
        - name: token
          projected:
            defaultMode: 0440
            sources:
              - serviceAccountToken: {path: token, audience: vault, expirationSeconds: 3600}
`;
    }
  }
}

const dir = mkdtempSync(join(tmpdir(), 'tg-cli-memory-'));
const input = join(dir, 'manifests.yaml');
const fd = openSync(input, 'w');
let bytes = 0;
let objects = 0;
let batch = '';
while (bytes < megabytes * 1_000_000) {
  const d = `---\n${document(objects++)}`;
  bytes += Buffer.byteLength(d);
  batch += d;
  if (batch.length > 1_000_000) {
    writeSync(fd, batch);
    batch = '';
  }
}
writeSync(fd, batch);
closeSync(fd);

const started = process.hrtime.bigint();
const child = spawn(
  process.execPath,
  [entry, 'test', '--policies', join(root, 'policies'), '--output', 'json', input],
  { stdio: ['ignore', 'pipe', 'pipe'] },
);
let outBytes = 0;
let stderr = '';
child.stdout.on('data', (b: Buffer) => (outBytes += b.length));
child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
let peak = 0;
const poll = setInterval(() => {
  try {
    const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
    if (m) peak = Math.max(peak, Number(m[1]) * 1024);
  } catch {
    // the process has just ended
  }
}, 50);
const code: number | null = await new Promise((resolve) => child.on('exit', (c) => resolve(c)));
clearInterval(poll);
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
const size = statSync(input).size;
if (!values.keep) rmSync(dir, { recursive: true, force: true });
else process.stderr.write(`input kept: ${input}\n`);
if (code !== 0 && code !== 1) {
  process.stderr.write(`tokenguard test exited ${code}\n${stderr.slice(0, 2000)}\n`);
  process.exit(1);
}
const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
process.stdout.write(
  `tokenguard test on ${mb(size)} (${objects} objects): peak RSS ${mb(peak)} (${(peak / size).toFixed(2)}x the input), ${seconds.toFixed(1)} s, report ${mb(outBytes)}, exit ${code}\n`,
);
