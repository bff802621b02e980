/**
 * `tokenguard usage` on generated audit logs: events per second and peak RSS, for logs of
 * different lengths over the same identities, and for the same length over ten times as many
 * identities. Memory must follow the identities kept, not the events read.
 *
 *   npm run build && npx tsx bench/usage.ts [--events 5000000] [--small 1000000]
 *       [--sizes 50000,500000,5000000] [--service-accounts 1000] [--pods 5] [--dir DIR] [--keep]
 *
 * Runs (each a log generated into a temporary folder, deleted at the end unless `--keep`):
 *   1. `--small` events, `--service-accounts` x `--pods` identities;
 *   2. `--events` events, the same identities;
 *   3. `--small` events, ten times the ServiceAccounts;
 * and first a one-request log, the process's own RSS. With `--sizes`, runs 1 to 3 are instead
 * one run per listed event count, all over the same identities (memory flat in the events).
 *
 * The log is what the API server's log backend writes at Metadata level: one JSON line per
 * stage (RequestReceived, then ResponseComplete, with up to 64 requests in flight between
 * them, interleaved), pod-bound tokens naming pod, node and credential id, one ServiceAccount
 * in ten using a legacy token Secret (the audit annotations naming it), one request in twenty
 * made by a node or a controller, and one in a hundred a TokenReview logged at RequestResponse
 * with a token in its request body. Every run checks the report: the requests it counts are
 * the requests generated, every ServiceAccount is there, and no token text of the log appears
 * in the output.
 *
 * Peak RSS is the child's `VmHWM` (/proc/PID/status), read every 20 ms until it exits. Linux
 * only. Not part of `npm run bench`.
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values: opts } = parseArgs({
  options: {
    events: { type: 'string', default: '5000000' },
    small: { type: 'string', default: '1000000' },
    sizes: { type: 'string' },
    'service-accounts': { type: 'string', default: '1000' },
    pods: { type: 'string', default: '5' },
    dir: { type: 'string' },
    keep: { type: 'boolean', default: false },
    entry: { type: 'string', default: 'dist/cli/main.js' },
  },
});

const TOKEN_MARK = 'BENCH-TOKEN-VALUE';
const NAMESPACES = 50;
const IN_FLIGHT = 64;
const START = Date.parse('2026-11-24T00:00:00Z');
const SPAN_MS = 7 * 24 * 3600_000;

/** mulberry32: a small seeded generator, so that every run writes the same log. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const hex = (n: number, width: number) => n.toString(16).padStart(width, '0').slice(-width);
const uuid = (a: number, b: number) =>
  `${hex(a, 8)}-${hex(b, 4)}-4${hex(a >>> 4, 3)}-8${hex(b >>> 2, 3)}-${hex(a * 7919 + b, 12)}`;

const RESOURCES: readonly { group: string; version: string; resource: string; verbs: readonly string[] }[] = [
  { group: '', version: 'v1', resource: 'configmaps', verbs: ['get', 'list', 'watch'] },
  { group: '', version: 'v1', resource: 'pods', verbs: ['get', 'list', 'watch', 'patch'] },
  { group: '', version: 'v1', resource: 'secrets', verbs: ['get'] },
  { group: '', version: 'v1', resource: 'endpoints', verbs: ['list', 'watch'] },
  { group: 'coordination.k8s.io', version: 'v1', resource: 'leases', verbs: ['get', 'update'] },
  { group: 'apps', version: 'v1', resource: 'deployments', verbs: ['get', 'list'] },
  { group: 'discovery.k8s.io', version: 'v1', resource: 'endpointslices', verbs: ['list', 'watch'] },
];

interface Shape {
  readonly events: number;
  readonly serviceAccounts: number;
  readonly pods: number;
}

interface Generated {
  readonly file: string;
  readonly bytes: number;
  readonly events: number;
  /** Requests by ServiceAccount tokens (TokenReviews included), each counted once. */
  readonly saRequests: number;
  readonly serviceAccountsSeen: number;
}

/** Writes a log of about `shape.events` events (whole requests: two events each). */
function generate(file: string, shape: Shape, seed: number): Generated {
  const rnd = random(seed);
  const pick = (n: number) => Math.floor(rnd() * n);
  const fd = openSync(file, 'w');
  let buffer: string[] = [];
  let bufferLength = 0;
  let bytes = 0;
  const write = (line: string) => {
    buffer.push(line);
    bufferLength += line.length + 1;
    if (bufferLength >= 1 << 20) flush();
  };
  const flush = () => {
    const chunk = `${buffer.join('\n')}\n`;
    bytes += writeSync(fd, chunk);
    buffer = [];
    bufferLength = 0;
  };
  const requests = Math.floor(shape.events / 2);
  const open: { id: string; head: string; tail: string }[] = [];
  const seen = new Set<number>();
  let saRequests = 0;
  let events = 0;
  for (let i = 0; i < requests || open.length > 0; ) {
    // Start a request while fewer than IN_FLIGHT are open (and some are left), else finish one.
    if (i < requests && (open.length < IN_FLIGHT ? rnd() < 0.6 || open.length === 0 : false)) {
      const t = START + Math.floor((i / requests) * SPAN_MS);
      const at = new Date(t).toISOString().replace('Z', `${String(i % 1000).padStart(3, '0')}Z`);
      const done = new Date(t + 3).toISOString();
      const id = uuid(i, seed);
      const r = rnd();
      let user: string;
      let uri: string;
      let objectRef: string;
      let verb: string;
      let annotations = '"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":""';
      let level = 'Metadata';
      let request = '';
      let response = '';
      let userAgent: string;
      if (r < 0.05) {
        // A node or a controller: not a ServiceAccount.
        const node = pick(100);
        user = `{"username":"system:node:node-${node}","groups":["system:nodes","system:authenticated"]}`;
        const ns = `team-${pick(NAMESPACES)}`;
        uri = `/api/v1/namespaces/${ns}/pods/app-${pick(1000)}/status`;
        objectRef = `{"resource":"pods","namespace":"${ns}","name":"app","apiVersion":"v1","subresource":"status"}`;
        verb = 'patch';
        userAgent = 'kubelet/v1.34.4 (linux/amd64) kubernetes/abcdef0';
      } else {
        const sa = pick(shape.serviceAccounts);
        seen.add(sa);
        saRequests++;
        const ns = `team-${sa % NAMESPACES}`;
        const name = `app-${sa}`;
        const groups = `"groups":["system:serviceaccounts","system:serviceaccounts:${ns}","system:authenticated"]`;
        if (sa % 10 === 9) {
          // A legacy token Secret.
          user = `{"username":"system:serviceaccount:${ns}:${name}","uid":"${uuid(sa, 1)}",${groups}}`;
          annotations += `,"authentication.k8s.io/legacy-token":"system:serviceaccount:${ns}:${name}","authentication.k8s.io/legacy-token-manual-secret":"${name}-token"`;
        } else {
          const pod = pick(shape.pods);
          const node = (sa * 31 + pod) % 100;
          user =
            `{"username":"system:serviceaccount:${ns}:${name}","uid":"${uuid(sa, 1)}",${groups},"extra":{` +
            `"authentication.kubernetes.io/credential-id":["JTI=${uuid(sa, pod + 7)}"],` +
            `"authentication.kubernetes.io/node-name":["node-${node}"],"authentication.kubernetes.io/node-uid":["${uuid(node, 3)}"],` +
            `"authentication.kubernetes.io/pod-name":["${name}-5d8f7c9b4-${hex(pod * 104729 + sa, 5)}"],"authentication.kubernetes.io/pod-uid":["${uuid(sa, pod + 11)}"]}}`;
        }
        userAgent = `${name}/v1.${sa % 7}.0 (linux/amd64) kubernetes/v0.31.0`;
        if (r < 0.06) {
          // A TokenReview, at RequestResponse: the presented token is in the request body.
          level = 'RequestResponse';
          uri = '/apis/authentication.k8s.io/v1/tokenreviews';
          objectRef = '{"resource":"tokenreviews","apiGroup":"authentication.k8s.io","apiVersion":"v1"}';
          verb = 'create';
          const presented = pick(shape.serviceAccounts);
          const pns = `team-${presented % NAMESPACES}`;
          request = `,"requestObject":{"kind":"TokenReview","apiVersion":"authentication.k8s.io/v1","spec":{"token":"eyJhbGciOiJSUzI1NiJ9.${TOKEN_MARK}-${i}.c2ln"}}`;
          response = `,"responseObject":{"kind":"TokenReview","apiVersion":"authentication.k8s.io/v1","spec":{"token":"eyJhbGciOiJSUzI1NiJ9.${TOKEN_MARK}-${i}.c2ln"},"status":{"authenticated":true,"user":{"username":"system:serviceaccount:${pns}:app-${presented}","groups":["system:serviceaccounts","system:authenticated"]},"audiences":["https://kubernetes.default.svc"]}}`;
        } else if (r < 0.1) {
          uri = '/version';
          objectRef = '';
          verb = 'get';
        } else {
          const res = RESOURCES[pick(RESOURCES.length)] as (typeof RESOURCES)[number];
          verb = res.verbs[pick(res.verbs.length)] as string;
          const base = res.group === '' ? `/api/${res.version}` : `/apis/${res.group}/${res.version}`;
          const named = verb === 'get' || verb === 'update' || verb === 'patch';
          uri = `${base}/namespaces/${ns}/${res.resource}${named ? `/${name}-${res.resource}` : verb === 'watch' ? '?watch=true&resourceVersion=123456' : '?limit=500'}`;
          objectRef = `{"resource":"${res.resource}","namespace":"${ns}",${named ? `"name":"${name}-${res.resource}",` : ''}${res.group ? `"apiGroup":"${res.group}",` : ''}"apiVersion":"${res.version}"}`;
        }
      }
      const common =
        `"level":"${level}","auditID":"${id}",` +
        `"requestURI":"${uri}","verb":"${verb}","user":${user},"sourceIPs":["10.244.${pick(50)}.${pick(250)}"],"userAgent":"${userAgent}"` +
        (objectRef ? `,"objectRef":${objectRef}` : '');
      write(
        `{"kind":"Event","apiVersion":"audit.k8s.io/v1",${common.replace(`"auditID":"${id}",`, `"auditID":"${id}","stage":"RequestReceived",`)}${request},"requestReceivedTimestamp":"${at}","stageTimestamp":"${at}"}`,
      );
      events++;
      open.push({
        id,
        head: `{"kind":"Event","apiVersion":"audit.k8s.io/v1",${common.replace(`"auditID":"${id}",`, `"auditID":"${id}","stage":"ResponseComplete",`)}${request}`,
        tail: `,"responseStatus":{"metadata":{},"code":200}${response},"requestReceivedTimestamp":"${at}","stageTimestamp":"${done}","annotations":{${annotations}}}`,
      });
      i++;
    } else {
      const k = pick(open.length);
      const r = open[k] as (typeof open)[number];
      open[k] = open[open.length - 1] as (typeof open)[number];
      open.pop();
      write(r.head + r.tail);
      events++;
    }
  }
  flush();
  closeSync(fd);
  return { file, bytes, events, saRequests, serviceAccountsSeen: seen.size };
}

interface Measured {
  readonly seconds: number;
  readonly peakRss: number;
  readonly output: string;
}

/** Runs `tokenguard usage --output json` on `file`; peak RSS from VmHWM, polled. */
function measure(file: string): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(process.execPath, [opts.entry as string, 'usage', '--audit-log', file, '--output', 'json'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    let peak = 0;
    const poll = () => {
      try {
        const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (m) peak = Math.max(peak, Number(m[1]) * 1024);
      } catch {
        // gone
      }
    };
    const timer = setInterval(poll, 20);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearInterval(timer);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (code !== 0) reject(new Error(`tokenguard usage exited ${code}`));
      else resolve({ seconds, peakRss: peak, output: Buffer.concat(chunks).toString('utf8') });
    });
  });
}

interface Row {
  readonly shape: Shape;
  readonly generated: Generated;
  readonly measured: Measured;
}

function check(row: Row): void {
  const { generated, measured } = row;
  if (measured.output.includes(TOKEN_MARK)) throw new Error('the output holds token text of the log');
  const body = JSON.parse(measured.output) as { serviceAccounts: { requests: number }[]; problems: { count: number } };
  const requests = body.serviceAccounts.reduce((n, s) => n + s.requests, 0);
  if (body.problems.count !== 0) throw new Error(`${body.problems.count} lines were not read`);
  if (requests !== generated.saRequests)
    throw new Error(`counted ${requests} ServiceAccount requests, generated ${generated.saRequests}`);
  if (body.serviceAccounts.length < generated.serviceAccountsSeen)
    throw new Error(
      `${body.serviceAccounts.length} ServiceAccounts reported, ${generated.serviceAccountsSeen} made requests`,
    );
}

const mib = (b: number) => `${(b / 1024 / 1024).toFixed(0)} MiB`;
const count = (n: number) => n.toLocaleString('en-US');

async function main(): Promise<void> {
  const root = opts.dir ?? tmpdir();
  mkdirSync(root, { recursive: true });
  const dir = mkdtempSync(join(root, 'tokenguard-usage-bench-'));
  const sas = Number(opts['service-accounts']);
  const pods = Number(opts.pods);
  const sizes = opts.sizes?.split(',').map((n) => Number(n.trim()));
  if (sizes?.some((n) => !Number.isInteger(n) || n < 2))
    throw new Error(`--sizes: whole event counts of 2 or more, comma-separated, got "${opts.sizes}"`);
  const shapes: Shape[] = [
    { events: 2, serviceAccounts: 1, pods: 1 },
    ...(sizes
      ? sizes.map((events) => ({ events, serviceAccounts: sas, pods }))
      : [
          { events: Number(opts.small), serviceAccounts: sas, pods },
          { events: Number(opts.events), serviceAccounts: sas, pods },
          { events: Number(opts.small), serviceAccounts: sas * 10, pods },
        ]),
  ];
  const rows: Row[] = [];
  try {
    for (const [n, shape] of shapes.entries()) {
      const file = join(dir, `audit-${n}.log`);
      const g0 = Date.now();
      const generated = generate(file, shape, n + 1);
      process.stderr.write(
        `generated ${count(generated.events)} events (${mib(statSync(file).size)}) in ${((Date.now() - g0) / 1000).toFixed(0)} s\n`,
      );
      const measured = await measure(file);
      const row = { shape, generated, measured };
      check(row);
      rows.push(row);
      process.stderr.write(`read in ${measured.seconds.toFixed(1)} s, peak RSS ${mib(measured.peakRss)}\n`);
      if (!opts.keep) rmSync(file);
    }
  } finally {
    if (!opts.keep) rmSync(dir, { recursive: true, force: true });
  }
  const lines = [
    `Node ${process.version}, ${new Date().toISOString().slice(0, 10)}`,
    '',
    '| events | log size | ServiceAccounts x pods | time | events/s | MB/s | peak RSS |',
    '|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map(({ shape, generated, measured }) =>
      [
        '',
        count(generated.events),
        mib(generated.bytes),
        `${count(shape.serviceAccounts)} x ${shape.pods}`,
        `${measured.seconds.toFixed(1)} s`,
        count(Math.round(generated.events / measured.seconds)),
        (generated.bytes / 1e6 / measured.seconds).toFixed(0),
        mib(measured.peakRss),
        '',
      ]
        .join(' | ')
        .trim(),
    ),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
