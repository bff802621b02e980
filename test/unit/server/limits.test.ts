import fc from 'fast-check';
import {
  ADMISSION_LIMITS,
  type AdmissionLimits,
  CHARGE_PER_BYTE,
  CHARGE_PER_VALUE,
  createAdmissionBudget,
  JsonValueCounter,
  MAX_BODY_BYTES,
  MAX_JSON_VALUES,
  MEMORY_BUDGET_BYTES,
} from '../../../src/server/limits.js';

const MiB = 1024 * 1024;

/** What `JSON.parse` allocates for: objects, arrays, and every array item or property but each container's first. */
function valuesOf(v: unknown): number {
  if (Array.isArray(v)) return 1 + Math.max(0, v.length - 1) + v.reduce((n: number, x) => n + valuesOf(x), 0);
  if (v !== null && typeof v === 'object') {
    const entries = Object.values(v as Record<string, unknown>);
    return 1 + Math.max(0, entries.length - 1) + entries.reduce((n: number, x) => n + valuesOf(x), 0);
  }
  return 0;
}

const count = (text: string, chunkSize = text.length || 1) => {
  const counter = new JsonValueCounter();
  const bytes = Buffer.from(text);
  for (let i = 0; i < bytes.length; i += chunkSize) counter.add(bytes.subarray(i, i + chunkSize));
  return counter.count();
};

describe('JsonValueCounter', () => {
  test.each([
    ['{}', 1],
    ['[]', 1],
    ['[{},{},{}]', 6],
    ['{"a":1,"b":[1,2]}', 4],
    ['"just a string"', 0],
    ['{"k":"a,b{c[d"}', 1],
    ['{"k":"quote \\" then , { ["}', 1],
    ['{"k":"backslash \\\\","n":[1]}', 3],
    ['  [ 1 , 2 ]  ', 2],
  ])('%s holds %d', (text, expected) => {
    expect(count(text)).toBe(expected);
  });

  test('counts the same whatever the chunks, escapes split across them included', () => {
    fc.assert(
      fc.property(fc.json(), fc.integer({ min: 1, max: 7 }), (text, chunkSize) => {
        expect(count(text, chunkSize)).toBe(count(text));
      }),
    );
    expect(count('["a\\"b",1]', 3)).toBe(2); // the backslash ends the first chunk
  });

  test('is at least the values JSON.parse builds containers and slots for', () => {
    fc.assert(
      fc.property(fc.json(), (text) => {
        expect(count(text)).toBeGreaterThanOrEqual(valuesOf(JSON.parse(text)));
      }),
    );
  });
});

describe('the limits', () => {
  test('3 MiB bodies (the API server limit), one value per 24 bytes of a full body', () => {
    expect(MAX_BODY_BYTES).toBe(3 * MiB);
    expect(MAX_JSON_VALUES).toBe(MAX_BODY_BYTES / 24);
  });

  test('the largest request the limits allow is charged well inside the budget, and a full-size body fits with room to spare', () => {
    const largest = CHARGE_PER_BYTE * MAX_BODY_BYTES + CHARGE_PER_VALUE * MAX_JSON_VALUES;
    expect(largest).toBeLessThan(ADMISSION_LIMITS.largeShareBytes);
    expect(ADMISSION_LIMITS.largeShareBytes).toBeLessThan(MEMORY_BUDGET_BYTES);
    const budget = createAdmissionBudget();
    const ticket = budget.admit();
    expect(ticket?.grow(largest)).toBe(true);
  });
});

describe('createAdmissionBudget', () => {
  const small: AdmissionLimits = {
    ...ADMISSION_LIMITS,
    memoryBudgetBytes: 100,
    largeRequestBytes: 20,
    largeShareBytes: 60,
    maxReviewsInFlight: 4,
  };

  test('refuses a growth past the budget, charging nothing for it, and gives it back on release', () => {
    const budget = createAdmissionBudget(small);
    const a = budget.admit()!;
    const b = budget.admit()!;
    expect(a.grow(15)).toBe(true);
    expect(b.grow(15)).toBe(true);
    // Small requests may take the whole budget.
    const c = budget.admit()!;
    expect(c.grow(20)).toBe(true);
    expect(budget.inUse()).toBe(50);
    a.release();
    a.release(); // twice is once
    expect(budget.inUse()).toBe(35);
    expect(a.grow(1)).toBe(false); // a released ticket takes nothing
    expect(budget.inFlight()).toBe(2);
  });

  test('large requests share at most largeShareBytes; small ones keep the rest', () => {
    const budget = createAdmissionBudget(small);
    const big1 = budget.admit()!;
    const big2 = budget.admit()!;
    expect(big1.grow(35)).toBe(true);
    expect(big2.grow(21)).toBe(true); // large share 56
    const big3 = budget.admit()!;
    expect(big3.grow(10)).toBe(true); // small so far
    expect(big3.grow(11)).toBe(false); // would make it large: 77 > 60
    expect(big3.charged()).toBe(10);
    expect(big3.grow(10)).toBe(true); // 20 is not large
    expect(budget.inUse()).toBe(76);
    big3.release();
    const smallOne = budget.admit()!;
    expect(smallOne.grow(20)).toBe(true);
    expect(smallOne.grow(25)).toBe(false); // 101 > 100
    big1.release();
    expect(big2.grow(30)).toBe(true); // 51 alone in the large share
    expect(budget.inUse()).toBe(71);
  });

  test('at most maxReviewsInFlight tickets', () => {
    const budget = createAdmissionBudget(small);
    const tickets = Array.from({ length: 4 }, () => budget.admit());
    expect(tickets.every((t) => t !== undefined)).toBe(true);
    expect(budget.admit()).toBeUndefined();
    tickets[0]?.release();
    expect(budget.admit()).toBeDefined();
  });

  test('whatever the order of grows and releases, the charges add up and never pass the limits', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(5), fc.oneof(fc.constant(-1), fc.nat(40))), { maxLength: 60 }), (steps) => {
        const budget = createAdmissionBudget(small);
        const tickets = Array.from({ length: 6 }, () => budget.admit());
        const charged = new Map<number, number>();
        for (const [i, amount] of steps) {
          const t = tickets[i];
          if (!t) continue;
          if (amount === -1) {
            t.release();
            charged.set(i, 0);
            continue;
          }
          if (t.grow(amount)) charged.set(i, (charged.get(i) ?? 0) + amount);
          const values = [...charged.values()];
          expect(budget.inUse()).toBe(values.reduce((a, b) => a + b, 0));
          expect(budget.inUse()).toBeLessThanOrEqual(small.memoryBudgetBytes);
          expect(values.filter((v) => v > small.largeRequestBytes).reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(
            small.largeShareBytes,
          );
        }
      }),
    );
  });
});
