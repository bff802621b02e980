import fc from 'fast-check';
import { jsonDepth } from '../../../src/engine/json.js';

test('jsonDepth with a limit (recursive) agrees with the unbounded walk (explicit stack)', () => {
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 8 }), fc.integer({ min: 1, max: 12 }), (value, limit) => {
      const full = jsonDepth(value);
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
