/** `byName`, the one order policies are composed and reported in (engine plans, CLI reports). */
import { byName } from '../../../src/policy/types.js';

const named = (...names: string[]) => names.map((name, i) => ({ name, i }));

test('orders by UTF-16 code unit, not by locale', () => {
  const sorted = named('token-bounds', 'b', 'Zeta', 'a-b', 'ab', 'a', 'automount', 'A').sort(byName);
  expect(sorted.map((p) => p.name)).toEqual(['A', 'Zeta', 'a', 'a-b', 'ab', 'automount', 'b', 'token-bounds']);
});

test('is a consistent comparator: 0 for equal names, antisymmetric otherwise', () => {
  expect(byName({ name: 'same' }, { name: 'same' })).toBe(0);
  expect(byName({ name: 'a' }, { name: 'b' })).toBe(-1);
  expect(byName({ name: 'b' }, { name: 'a' })).toBe(1);
});

test('equal names keep their input order (Array.prototype.sort is stable)', () => {
  const sorted = named('b', 'dup', 'a', 'dup', 'dup').sort(byName);
  expect(sorted.map((p) => `${p.name}#${p.i}`)).toEqual(['a#2', 'b#0', 'dup#1', 'dup#3', 'dup#4']);
});
