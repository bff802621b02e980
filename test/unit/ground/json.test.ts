import fc from 'fast-check';
import { jsonDepth } from '../../../src/json.js';

/** The plain definition: the depth of a scalar is 0, of a container 1 + its deepest child. */
function depth(v: unknown): number {
  if (typeof v !== 'object' || v === null) return 0;
  return 1 + Math.max(0, ...Object.values(v).map(depth));
}

test('jsonDepth agrees with the plain definition up to the limit, and stops just past it', () => {
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 8 }), fc.integer({ min: 1, max: 12 }), (value, limit) => {
      const full = depth(value);
      const bounded = jsonDepth(value, limit);
      if (full <= limit) expect(bounded).toBe(full);
      else expect(bounded).toBe(limit + 1);
    }),
    { numRuns: 500 },
  );
});

test('jsonDepth stops past the limit on input far deeper than the stack allows', () => {
  let deep: unknown = 'leaf';
  for (let i = 0; i < 200_000; i++) deep = i % 2 ? [deep] : { k: deep };
  expect(jsonDepth(deep, 100)).toBe(101);
  expect(jsonDepth({ a: [1, { b: null }], c: 'x' }, 100)).toBe(3);
  expect(jsonDepth('scalar', 100)).toBe(0);
});
