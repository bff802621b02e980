/**
 * `tokenguard test` throughput: objects evaluated per second on 10,000 generated manifests
 * (a realistic mix of workload kinds, pods, Secrets, ServiceAccounts and other kinds), next to
 * the time merely to parse the same YAML, in the same run. Not a test; run with
 * `tsx bench/cli.bench.ts [count]`.
 *
 * Reported: parse time (yaml.parseAllDocuments + toJS through parseManifests), evaluation time
 * (runDryRun: ServiceAccount plugin simulation, mutating webhook through the server's adapter,
 * patch, validating webhook, report), the three output formats, and the end-to-end rate.
 */
import { join } from 'node:path';
import { formatJson } from '../src/cli/report/json.js';
import { formatJunit } from '../src/cli/report/junit.js';
import { formatSarif } from '../src/cli/report/sarif.js';
import { formatText } from '../src/cli/report/text.js';
import { parseManifests } from '../src/dryrun/manifests.js';
import { runDryRun } from '../src/dryrun/run.js';
import { loadPolicies } from '../src/policy/load.js';

const root = join(import.meta.dirname, '..');
const count = Number(process.argv[2] ?? 10_000);
const policies = loadPolicies([join(root, 'policies'), join(root, 'examples', 'policies')]).policies;

function manifest(i: number): string {
  const ns = ['team-a', 'team-b', 'payments', 'kube-system'][i % 4];
  switch (i % 10) {
    case 0:
      return `apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: sa-${i}\n  namespace: ${ns}\n${i % 20 === 0 ? 'automountServiceAccountToken: false\n' : ''}`;
    case 1:
      return `apiVersion: v1\nkind: Secret\nmetadata:\n  name: token-${i}\n  namespace: ${ns}\n  annotations:\n    kubernetes.io/service-account.name: sa-${i - 1}\ntype: kubernetes.io/service-account-token\n`;
    case 2:
      return `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg-${i}\n  namespace: ${ns}\ndata:\n  key: value\n`;
    case 3:
      return `apiVersion: v1\nkind: Pod\nmetadata:\n  name: pod-${i}\n  namespace: ${ns}\n  annotations:\n    tokenguard.dev/api-access: "true"\nspec:\n  containers:\n    - name: app\n      image: registry.example/app:${i}\n`;
    case 4:
      return `apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: cron-${i}\n  namespace: ${ns}\nspec:\n  schedule: "@hourly"\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: OnFailure\n          containers:\n            - name: job\n              image: registry.example/job:${i}\n`;
    case 5:
      return `apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: sts-${i}\n  namespace: ${ns}\nspec:\n  serviceName: sts-${i}\n  selector:\n    matchLabels: {app: sts-${i}}\n  template:\n    metadata:\n      labels: {app: sts-${i}}\n    spec:\n      serviceAccountName: sa-${i - 5}\n      containers:\n        - name: db\n          image: registry.example/db:${i}\n`;
    default:
      return `# a typical Deployment with a projected token
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web-${i}
  namespace: ${ns}
  labels: {app: web-${i}}
spec:
  replicas: 3
  selector:
    matchLabels: {app: web-${i}}
  template:
    metadata:
      labels: {app: web-${i}}
    spec:
      initContainers:
        - name: init
          image: registry.example/init:${i}
      containers:
        - name: web
          image: registry.example/web:${i}
          ports: [{containerPort: 8080}]
          volumeMounts:
            - name: metrics-token
              mountPath: /var/run/secrets/tokens/metrics
        - name: sidecar
          image: registry.example/sidecar:${i}
      volumes:
        - name: metrics-token
          projected:
            sources:
              - serviceAccountToken:
                  audience: metrics.example.com
                  expirationSeconds: ${i % 3 === 0 ? 172800 : 3600}
                  path: token
`;
  }
}

const text = Array.from({ length: count }, (_, i) => manifest(i)).join('---\n');
const ms = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e6;

// Warm-up on a slice, so the figures are not dominated by JIT compilation.
{
  const warm = parseManifests(Array.from({ length: 300 }, (_, i) => manifest(i)).join('---\n'), 'warm.yaml');
  runDryRun({ policies, objects: warm.objects });
}

let t = process.hrtime.bigint();
const parsed = parseManifests(text, 'bench.yaml');
const parseMs = ms(t);
if (parsed.errors.length > 0) throw new Error(parsed.errors.join('\n'));

t = process.hrtime.bigint();
const report = runDryRun({ policies, objects: parsed.objects, bindingsComplete: true });
const evalMs = ms(t);

const formats: [string, () => string][] = [
  ['text', () => formatText(report, { color: false })],
  ['json', () => formatJson(report, 'bench')],
  ['junit', () => formatJunit(report, { failOnWarn: false })],
  ['sarif', () => formatSarif(report, { toolVersion: 'bench', failOnWarn: false })],
];
const formatMs = formats.map(([name, fn]) => {
  const s = process.hrtime.bigint();
  const bytes = fn().length;
  return { name, ms: ms(s), bytes };
});

const s = report.summary;
const evaluated = s.denied + s.warned + s.mutated + s.passed;
const mb = (text.length / 1024 / 1024).toFixed(1);
const lines = [
  `tokenguard test benchmark: ${count} manifests (${mb} MiB of YAML), node ${process.version}`,
  `  outcomes: ${s.denied} denied, ${s.warned} warned, ${s.mutated} mutated, ${s.passed} passed, ${s.skipped} skipped, ${s.facts} facts, ${s.errors} errors`,
  `  parse only (parseManifests):   ${parseMs.toFixed(0).padStart(6)} ms   ${Math.round((count / parseMs) * 1000)
    .toLocaleString('en-US')
    .padStart(8)} objects/s`,
  `  evaluate (runDryRun):          ${evalMs.toFixed(0).padStart(6)} ms   ${Math.round(
    (parsed.objects.length / evalMs) * 1000,
  )
    .toLocaleString('en-US')
    .padStart(
      8,
    )} objects/s   (${Math.round((evaluated / evalMs) * 1000).toLocaleString('en-US')} judged pods and Secrets/s)`,
  `  evaluate / parse:              ${(evalMs / parseMs).toFixed(2)}x`,
  ...formatMs.map(
    (f) =>
      `  format ${f.name.padEnd(6)}                ${f.ms.toFixed(0).padStart(6)} ms   (${(f.bytes / 1024 / 1024).toFixed(1)} MiB)`,
  ),
  `  end to end (parse + evaluate + text): ${(parseMs + evalMs + formatMs[0]!.ms).toFixed(0)} ms, ${Math.round((count / (parseMs + evalMs + formatMs[0]!.ms)) * 1000).toLocaleString('en-US')} objects/s`,
];
process.stdout.write(`${lines.join('\n')}\n`);
