import { join } from 'node:path';
import fastJsonPatch from 'fast-json-patch';
import type { JsonObject } from '../../src/json.js';
import { admissionFixtures, answer, golden } from '../helpers/fixtures.js';
import { podProblems } from '../helpers/pod-validation.js';

const fixtures = admissionFixtures();

function decodedPatch(review: JsonObject): fastJsonPatch.Operation[] | undefined {
  const patch = (review.response as JsonObject | undefined)?.patch;
  return typeof patch === 'string' ? JSON.parse(Buffer.from(patch, 'base64').toString('utf8')) : undefined;
}

test('there are fixtures', () => {
  expect(fixtures.length).toBeGreaterThanOrEqual(50);
});

describe.each(fixtures.map((f) => [f.name, f] as const))('%s', (_name, f) => {
  test('mutate answer equals expected.mutate.json', async () => {
    const actual = await answer(f, 'mutate');
    const patch = decodedPatch(actual);
    const expected = golden(join(f.dir, 'expected.mutate.json'), actual);
    expect(actual).toEqual(expected);
    // The decoded patch, kept beside it so a reviewer can read what changes.
    if (patch) expect(patch).toEqual(golden(join(f.dir, 'expected.patch.json'), patch));
  });

  test('validate answer equals expected.validate.json', async () => {
    const actual = await answer(f, 'validate');
    expect(actual).toEqual(golden(join(f.dir, 'expected.validate.json'), actual));
    expect((actual.response as JsonObject | undefined)?.patch).toBeUndefined();
    expect((actual.response as JsonObject | undefined)?.patchType).toBeUndefined();
  });

  test('responses echo uid and version; warnings are single lines of at most 120 characters', async () => {
    for (const endpoint of ['mutate', 'validate'] as const) {
      const actual = await answer(f, endpoint);
      if ('httpStatus' in actual) continue;
      const req = (f.body as JsonObject).request as JsonObject;
      const res = actual.response as JsonObject;
      expect(res.uid).toBe(req.uid);
      expect(actual.kind).toBe('AdmissionReview');
      for (const w of (res.warnings as string[] | undefined) ?? []) {
        expect(Array.from(w).length).toBeLessThanOrEqual(120);
        // biome-ignore lint/suspicious/noControlCharactersInRegex: checking there are none
        expect(w).not.toMatch(/[\u0000-\u001f]/);
      }
      if (res.allowed === false) expect((res.status as JsonObject).code).toBeGreaterThanOrEqual(400);
    }
  });

  test('no answer repeats Secret data, encoded or decoded', async () => {
    const req = (f.body as JsonObject | undefined)?.request as JsonObject | undefined;
    const values: string[] = [];
    for (const o of [req?.object, req?.oldObject] as (JsonObject | undefined)[]) {
      if (o?.kind !== 'Secret') continue;
      for (const v of Object.values((o.data as Record<string, string>) ?? {}))
        values.push(v, Buffer.from(v, 'base64').toString());
      for (const v of Object.values((o.stringData as Record<string, string>) ?? {})) values.push(v);
    }
    for (const endpoint of ['mutate', 'validate'] as const) {
      const text = JSON.stringify(await answer(f, endpoint));
      for (const v of values) {
        for (const piece of v.split(/[\s.:]+/).filter((p) => p.length >= 12)) expect(text).not.toContain(piece);
      }
      expect(text).not.toContain('CANARY');
    }
  });

  test('a mutated object: the patch applies, a mutated pod is a valid pod, a second pass changes nothing, and validation admits it', async () => {
    const actual = await answer(f, 'mutate');
    const patch = decodedPatch(actual);
    if (!patch) return;
    const request = (f.body as JsonObject).request as JsonObject;
    const original = request.object as JsonObject;
    // Malformed fixtures carry invalid pods on purpose; the engine must still not break them further.
    const malformed = f.name.startsWith('malformed-') || (request.kind as JsonObject).kind !== 'Pod';
    if (!malformed) expect(podProblems(original)).toEqual([]);
    const result = fastJsonPatch.applyPatch(structuredClone(original), patch, true, false).newDocument as JsonObject;
    if (!malformed) expect(podProblems(result)).toEqual([]);
    expect(patch.every((op) => op.path.startsWith('/spec/'))).toBe(true); // never metadata or status

    const again = { ...(f.body as JsonObject), request: { ...request, object: result } };
    const second = await answer({ ...f, body: again }, 'mutate');
    expect(decodedPatch(second)).toBeUndefined();

    const verdict = await answer({ ...f, body: again }, 'validate');
    const warnedDenial = ((actual.response as JsonObject).warnings as string[] | undefined)?.some((w) =>
      w.includes('not fixed'),
    );
    if (!warnedDenial) expect((verdict.response as JsonObject).allowed).toBe(true);
  });
});
