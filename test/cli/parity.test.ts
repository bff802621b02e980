/**
 * The "one engine" guarantee for the CLI: for the same object, `tokenguard test` reaches the
 * decision and the patch the server's review path (`handleReview`) gives for the AdmissionReview
 * the API server would send.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fastJsonPatch from 'fast-json-patch';
import { handleReview } from '../../src/admission/review.js';
import { parseManifests } from '../../src/dryrun/manifests.js';
import { classify } from '../../src/dryrun/objects.js';
import { applyTokenDefaults } from '../../src/dryrun/plugin.js';
import type { ObjectReport } from '../../src/dryrun/report.js';
import { runDryRun } from '../../src/dryrun/run.js';
import type { JsonObject } from '../../src/json.js';
import { staticFacts } from '../../src/facts/static.js';
import type { TokenPolicy } from '../../src/policy/types.js';
import { admissionFixtures, policySet, REPO } from '../helpers/fixtures.js';
import { toAdmissionReview } from '../helpers/pods.js';
import { CLI_FIXTURES } from './helpers.js';

function decoded(review: JsonObject): unknown[] {
  const patch = (review.response as JsonObject).patch;
  return typeof patch === 'string' ? JSON.parse(Buffer.from(patch, 'base64').toString('utf8')) : [];
}

async function serverSays(o: ObjectReport, policies: readonly TokenPolicy[], facts: ReturnType<typeof staticFacts>) {
  const kind = o.kind === 'Secret' ? 'Secret' : 'Pod';
  const deps = { policies: () => policies, facts };
  const given = o.admission!.given;
  const m = await handleReview('mutate', toAdmissionReview(given, { kind, namespace: o.namespace }), deps);
  if (!m.ok) throw new Error(m.message);
  const mutateReview = m.outcome.review as unknown as JsonObject;
  const patch = decoded(mutateReview);
  const patched =
    patch.length > 0
      ? (fastJsonPatch.applyPatch(structuredClone(given), patch as fastJsonPatch.Operation[], true, false)
          .newDocument as JsonObject)
      : given;
  const judged = kind === 'Pod' ? applyTokenDefaults(patched) : patched;
  const v = await handleReview('validate', toAdmissionReview(judged, { kind, namespace: o.namespace }), deps);
  if (!v.ok) throw new Error(v.message);
  return { patch, mutate: m.outcome.review.response, validate: v.outcome.review.response, judged };
}

const cases: { name: string; file: string; policies: TokenPolicy[]; bindingsComplete: boolean }[] = [
  {
    name: 'mixed-shipped-all-outcomes',
    file: 'manifests.yaml',
    policies: policySet('shipped'),
    bindingsComplete: true,
  },
  { name: 'workloads-strict-clamped', file: 'workloads.yaml', policies: policySet('strict'), bindingsComplete: false },
  {
    name: 'broken-yaml-others-evaluated',
    file: 'manifests.yaml',
    policies: policySet('shipped'),
    bindingsComplete: false,
  },
];

describe.each(cases.map((c) => [c.name, c] as const))('CLI fixture %s', (_n, c) => {
  const parsed = parseManifests(readFileSync(join(CLI_FIXTURES, c.name, c.file), 'utf8'), c.file);
  const report = runDryRun({ policies: c.policies, objects: parsed.objects, bindingsComplete: c.bindingsComplete });
  const factObjects = parsed.objects.map((m) => m.object).filter((o) => classify(o, 'default').role === 'fact');
  const facts = staticFacts(factObjects, { bindingsComplete: c.bindingsComplete });
  const judged = report.objects.filter((o) => o.admission);

  test('there is something to compare', () => {
    expect(judged.length).toBeGreaterThan(0);
  });

  test.each(judged.map((o) => [`${o.kind} ${o.name}`, o] as const))(
    '%s: same patch, same warnings, same decision as handleReview',
    async (_w, o) => {
      const server = await serverSays(o, c.policies, facts);
      expect(o.patch).toEqual(server.patch);
      expect(o.admission!.judged).toEqual(server.judged);
      expect(o.outcome === 'denied').toBe(server.validate.allowed === false);
      if (o.outcome === 'denied')
        expect(server.validate.status?.message).toBe(
          `tokenguard: ${o.denials.map((d) => `${d.policy}/${d.rule}: ${d.message}`).join('; ')}`,
        );
      const serverWarnings = [...new Set([...(server.mutate.warnings ?? []), ...(server.validate.warnings ?? [])])];
      expect(o.warnings).toEqual(serverWarnings);
    },
  );
});

/**
 * The admission fixtures hold requests as the API server sends them: pods already through the
 * ServiceAccount plugin. Taken as manifests, the CLI's own plugin pass changes nothing, and the
 * CLI's patch must be exactly the server's golden one.
 */
/** Fixtures that model a pod the API server never sends: automount unset, yet no token mounted. */
const NOT_FROM_A_CLUSTER = ['pod-no-token-untouched'];

describe('admission fixtures taken as manifests', () => {
  const creates = admissionFixtures().filter((f) => {
    const req = (f.body as JsonObject).request as JsonObject | undefined;
    const obj = req?.object as JsonObject | undefined;
    return (
      !f.name.startsWith('malformed-') &&
      req?.operation === 'CREATE' &&
      !req.subResource &&
      (obj?.kind === 'Pod' || obj?.kind === 'Secret')
    );
  });

  test('there are enough of them', () => {
    expect(creates.length).toBeGreaterThanOrEqual(30);
  });

  test.each(creates.map((f) => [f.name, f] as const))('%s', (_n, f) => {
    const req = (f.body as JsonObject).request as JsonObject;
    const meta = JSON.parse(readFileSync(join(f.dir, 'case.json'), 'utf8')) as { bindingsComplete?: boolean };
    const factsFile = join(f.dir, 'facts.yaml');
    const facts = existsSync(factsFile)
      ? parseManifests(readFileSync(factsFile, 'utf8'), factsFile).objects.map((o) => o.object)
      : [];
    const object = req.object as JsonObject;
    const report = runDryRun({
      policies: f.policies,
      objects: [{ object, file: `${f.name}.json`, document: 1, line: 1 }],
      facts,
      namespace: req.namespace as string,
      bindingsComplete: meta.bindingsComplete === true,
    });
    const o = report.objects[0]!;
    // The CLI's plugin pass finds the pod as the API server sent it: nothing to add. A fixture
    // whose pod the real plugin would have changed is not a request a cluster sends.
    const pluginChanges = o.plugin?.changes ?? [];
    if (NOT_FROM_A_CLUSTER.includes(f.name)) {
      expect(pluginChanges.length).toBeGreaterThan(0);
      return;
    }
    expect(pluginChanges).toEqual([]);
    const expectedMutate = JSON.parse(readFileSync(join(f.dir, 'expected.mutate.json'), 'utf8')) as JsonObject;
    expect(o.patch).toEqual(decoded(expectedMutate));
    const expectedWarnings = ((expectedMutate.response as JsonObject).warnings as string[] | undefined) ?? [];
    for (const w of expectedWarnings) expect(o.warnings).toContain(w);
  });
});

test('REPO is the repository root', () => {
  expect(existsSync(join(REPO, 'package.json'))).toBe(true);
});
