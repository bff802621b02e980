import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Endpoint, handleReview } from '../../src/admission/review.js';
import type { JsonObject } from '../../src/json.js';
import { staticFacts } from '../../src/facts/static.js';
import type { FactsProvider } from '../../src/facts/types.js';
import { parseManifests } from '../../src/dryrun/manifests.js';
import { loadPolicies } from '../../src/policy/load.js';
import type { TokenPolicy } from '../../src/policy/types.js';

export const REPO = join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..', '..');
export const ADMISSION_FIXTURES = join(REPO, 'test', 'fixtures', 'admission');
export const UPDATE_GOLDEN = process.env.UPDATE_GOLDEN === '1';

export interface AdmissionFixture {
  readonly name: string;
  readonly dir: string;
  readonly description: string;
  readonly body: unknown;
  readonly policies: readonly TokenPolicy[];
  readonly facts: FactsProvider;
}

const policyCache = new Map<string, TokenPolicy[]>();

/** Loads a named policy set: `shipped` is the repository's policies/, others test/fixtures/policies/<name>/. */
export function policySet(name: string): TokenPolicy[] {
  let set = policyCache.get(name);
  if (!set) {
    const dir = name === 'shipped' ? join(REPO, 'policies') : join(REPO, 'test', 'fixtures', 'policies', name);
    const r = loadPolicies([dir]);
    if (r.errors.length > 0) throw new Error(`fixture policy set ${name}: ${JSON.stringify(r.errors)}`);
    set = r.policies;
    policyCache.set(name, set);
  }
  return set;
}

/** Every fixture case under test/fixtures/admission, in name order. */
export function admissionFixtures(): AdmissionFixture[] {
  return readdirSync(ADMISSION_FIXTURES)
    .sort()
    .map((name) => {
      const dir = join(ADMISSION_FIXTURES, name);
      const meta = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8')) as {
        description: string;
        policies: string;
        bindingsComplete?: boolean;
      };
      const factsFile = join(dir, 'facts.yaml');
      const objects: JsonObject[] = existsSync(factsFile)
        ? parseManifests(readFileSync(factsFile, 'utf8'), factsFile).objects.map((o) => o.object)
        : [];
      return {
        name,
        dir,
        description: meta.description,
        body: JSON.parse(readFileSync(join(dir, 'review.json'), 'utf8')) as unknown,
        policies: policySet(meta.policies),
        facts: staticFacts(objects, { bindingsComplete: meta.bindingsComplete === true }),
      };
    });
}

/** What an endpoint answers for a fixture: the AdmissionReview, or the HTTP 400 the server sends. */
export async function answer(
  f: Pick<AdmissionFixture, 'body' | 'policies' | 'facts'>,
  endpoint: Endpoint,
): Promise<JsonObject> {
  const r = await handleReview(endpoint, f.body, { policies: () => f.policies, facts: f.facts });
  return r.ok ? (r.outcome.review as unknown as JsonObject) : { httpStatus: r.status, error: r.message };
}

/** Compares with, or (UPDATE_GOLDEN=1) rewrites, a golden JSON file. */
export function golden(file: string, actual: unknown): unknown {
  const text = `${JSON.stringify(actual, null, 2)}\n`;
  if (UPDATE_GOLDEN || !existsSync(file)) writeFileSync(file, text);
  return JSON.parse(readFileSync(file, 'utf8'));
}
