import { bytesPerCall } from '../../../bench/allocation.js';

describe('bytesPerCall (allocation per admission step in npm run bench:engine)', () => {
  it('counts an array of 1,000 numbers as about its backing store (8 KB)', () => {
    let keep: unknown;
    const bytes = bytesPerCall(() => {
      keep = new Array(1000).fill(1.5);
    });
    expect(keep).toBeDefined();
    expect(bytes).toBeGreaterThan(7_900);
    expect(bytes).toBeLessThan(9_000);
  });

  it('counts nothing for a call that allocates nothing', () => {
    let n = 0;
    expect(
      bytesPerCall(() => {
        n += 1;
      }),
    ).toBeLessThan(50);
    expect(n).toBeGreaterThan(0);
  });

  it('grows with what a call allocates', () => {
    const small = bytesPerCall(() => JSON.parse('{"a":[1,2,3]}'));
    const large = bytesPerCall(() => JSON.parse(JSON.stringify({ a: Array.from({ length: 200 }, (_, i) => ({ i })) })));
    expect(large).toBeGreaterThan(20 * small);
  });
});
