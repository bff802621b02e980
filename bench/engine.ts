/**
 * Engine micro-benchmark: evaluations per second of the pure engine, per fixture class, with
 * the shipped and the strict policies. Not a test; run with `npm run bench:engine`.
 * Figures are also given as a ratio to a baseline measured in the same run: JSON.parse of the
 * same AdmissionReview body (the least any webhook must do per request).
 */
import { join } from 'node:path';
import { handleReview } from '../src/admission/review.js';
import { evaluate } from '../src/engine/evaluate.js';
import type { EngineInput } from '../src/engine/types.js';
import { noFacts } from '../src/facts/types.js';
import type { JsonObject } from '../src/json.js';
import { loadPolicies } from '../src/policy/load.js';
import { pod, review } from '../test/helpers/pods.js';

const root = join(import.meta.dirname, '..');
const shipped = loadPolicies([join(root, 'policies')]).policies;
const strict = loadPolicies([join(root, 'test', 'fixtures', 'policies', 'strict')]).policies;
const inject = loadPolicies([join(root, 'test', 'fixtures', 'policies', 'inject')]).policies;

function rate(fn: () => void, ms = 1500): number {
  for (let i = 0; i < 2000; i++) fn(); // warm-up
  let n = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(ms) * 1_000_000n;
  let now = start;
  while (now < end) {
    for (let i = 0; i < 200; i++) fn();
    n += 200;
    now = process.hrtime.bigint();
  }
  return n / (Number(now - start) / 1e9);
}

const typical = pod({
  generateName: 'web-7d4b9c8f5-',
  namespace: null,
  labels: { app: 'web' },
  initContainers: ['init'],
  containers: ['app', 'sidecar'],
});
const body = JSON.stringify(review(typical));
const input = (object: JsonObject): EngineInput => ({
  operation: 'CREATE',
  kind: 'Pod',
  subResource: '',
  object,
  oldObject: undefined,
  namespace: 'team-a',
  dryRun: false,
});
const secret: JsonObject = {
  apiVersion: 'v1',
  kind: 'Secret',
  type: 'kubernetes.io/service-account-token',
  metadata: { name: 's', namespace: 'team-a', annotations: { 'kubernetes.io/service-account.name': 'ci' } },
};

const baseline = rate(() => JSON.parse(body));
const rows: [string, number][] = [
  [
    'engine mutate, typical pod, shipped policies',
    rate(() => evaluate({ policies: shipped, input: input(typical), facts: {}, phase: 'mutate' })),
  ],
  [
    'engine validate, typical pod, shipped policies',
    rate(() => evaluate({ policies: shipped, input: input(typical), facts: {}, phase: 'validate' })),
  ],
  [
    'engine mutate, typical pod, strict policy (token removed)',
    rate(() => evaluate({ policies: strict, input: input(typical), facts: {}, phase: 'mutate' })),
  ],
  [
    'engine mutate, typical pod, injection policy',
    rate(() => evaluate({ policies: inject, input: input(typical), facts: {}, phase: 'mutate' })),
  ],
  [
    'engine validate, legacy Secret',
    rate(() =>
      evaluate({ policies: shipped, input: { ...input(secret), kind: 'Secret' }, facts: {}, phase: 'validate' }),
    ),
  ],
];
let adapter = 0;
{
  // The whole adapter path (parse, decode, evaluate, diff, encode), sequentially awaited.
  const deps = { policies: () => strict, facts: noFacts };
  const t0 = process.hrtime.bigint();
  const N = 20000;
  for (let i = 0; i < N; i++) await handleReview('mutate', JSON.parse(body), deps);
  adapter = N / (Number(process.hrtime.bigint() - t0) / 1e9);
}
rows.push(['adapter: JSON.parse + handleReview mutate, strict policy', adapter]);

console.log(`Node ${process.version}, body ${body.length} bytes`);
console.log(`baseline JSON.parse of the review: ${Math.round(baseline).toLocaleString('en')} /s`);
for (const [name, r] of rows)
  console.log(`${name}: ${Math.round(r).toLocaleString('en')} /s (${(r / baseline).toFixed(2)}x baseline)`);

// The admission path's steps on the HTTP benchmark's bodies, in microseconds per call, in a tight
// loop: the server pays more for each, on caches its TLS and HTTP work leaves cold.
{
  const { benchBodies } = await import('./bodies.js');
  const { decodeAdmissionReview } = await import('../src/admission/decode.js');
  const { respond } = await import('../src/admission/review.js');
  const { jsonDepth, MAX_JSON_DEPTH } = await import('../src/json.js');
  const { diff } = await import('../src/engine/diff.js');
  const { createLogger } = await import('../src/log.js');
  const logger = createLogger({ level: 'info' }, { write: () => {} });
  const us = (fn: () => unknown) => 1e6 / rate(fn, 1000);
  console.log('\nadmission path steps, shipped policies, µs per call:');
  for (const b of benchBodies()) {
    const endpoint = b.path === '/validate' ? 'validate' : 'mutate';
    const parsed = JSON.parse(b.body) as JsonObject;
    const decoded = decodeAdmissionReview(parsed);
    if (!decoded.ok || !decoded.review.input) throw new Error(`${b.id} does not decode`);
    const { review: reviewed } = decoded;
    const engineInput = decoded.review.input;
    const result = evaluate({ policies: shipped, input: engineInput, facts: {}, phase: endpoint });
    const outcome = respond(endpoint, reviewed, shipped, {});
    const s = outcome.summary;
    const line = {
      event: 'review',
      uid: s.uid,
      kind: s.kind,
      namespace: s.namespace,
      name: s.name,
      operation: s.operation,
      subResource: s.subResource,
      user: s.user,
      dryRun: s.dryRun,
      endpoint,
      decision: outcome.decision,
      policies: outcome.policies,
      patchOps: outcome.patchOps,
      durationMs: 0.1,
    };
    const calls: [string, () => unknown][] = [
      ['JSON.parse of the body', () => JSON.parse(b.body)],
      ['decode (depth check included)', () => decodeAdmissionReview(parsed)],
      ['depth check alone', () => jsonDepth(parsed.request, MAX_JSON_DEPTH)],
      [`evaluate (${endpoint})`, () => evaluate({ policies: shipped, input: engineInput, facts: {}, phase: endpoint })],
      ...(result.mutated && engineInput.object
        ? [
            ['served patch (diff)', () => diff(engineInput.object as JsonObject, result.mutated as JsonObject)] as [
              string,
              () => unknown,
            ],
          ]
        : []),
      ['respond + JSON.stringify of the answer', () => JSON.stringify(respond(endpoint, reviewed, shipped, {}).review)],
      ['review log line (pino, redaction, no write)', () => logger.info(line, 'review')],
    ];
    console.log(
      `  ${b.id} (${b.body.length} bytes): ${calls.map(([n, fn]) => `${n} ${us(fn).toFixed(1)}`).join('; ')}`,
    );
  }
}
