import fc from 'fast-check';
import { globMatch, globStepsPerCharacter, MAX_GLOB_VALUE_LENGTH, matchCounting } from '../../../src/glob.js';

/**
 * The matcher this one replaced, kept as the reference semantics: a regular expression where
 * `*` is `.*` and `?` is `.` over UTF-16 code units (no `u` flag), `s` so that line breaks count.
 */
function reference(pattern: string, value: string): boolean {
  const body = pattern
    .split('')
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\/-]/g, '\\$&')))
    .join('');
  return new RegExp(`^${body}$`, 's').test(value);
}

// Few distinct characters, so that patterns and values collide often; a surrogate pair (an
// emoji is two code units), a non-ASCII letter, a line break and regex specials.
const alphabet = ['a', 'b', '.', '-', 'é', '\n', '(', '\u{1F600}'];
const textOf = (chars: fc.Arbitrary<string>, maxLength: number) =>
  fc.array(chars, { maxLength }).map((a) => a.join(''));
const valueArb = textOf(fc.constantFrom(...alphabet), 40);
const patternArb = textOf(fc.constantFrom(...alphabet, '*', '?', '*', '?'), 14);

describe('globMatch agrees with the regular expression it replaced', () => {
  test('on generated patterns and values', () => {
    fc.assert(
      fc.property(patternArb, valueArb, (pattern, value) => {
        expect(globMatch(pattern, value)).toBe(reference(pattern, value));
      }),
      { numRuns: 20_000 },
    );
  });

  test('on values built to match: a pattern with its stars and ? filled in', () => {
    const filled = fc.tuple(
      patternArb,
      fc.array(valueArb, { minLength: 16, maxLength: 16 }),
      fc.array(fc.constantFrom(...alphabet.join('').split('')), { minLength: 16, maxLength: 16 }),
    );
    fc.assert(
      fc.property(filled, ([pattern, runs, singles]) => {
        let k = 0;
        const value = [...pattern]
          .map((c) => (c === '*' ? (runs[k++ % 16] ?? '') : c === '?' ? (singles[k++ % 16] ?? 'a') : c))
          .join('');
        expect(globMatch(pattern, value)).toBe(reference(pattern, value));
        expect(globMatch(pattern, value)).toBe(true);
      }),
      { numRuns: 5_000 },
    );
  });

  test('on runs longer than one 32-bit automaton word', () => {
    const longRun = fc
      .tuple(textOf(fc.constantFrom('a', 'b', '?'), 80), valueArb, valueArb)
      .map(([run, x, y]) => ({ pattern: `*${run}*`, value: `${x}${run.replace(/\?/g, 'b')}${y}` }));
    fc.assert(
      fc.property(longRun, textOf(fc.constantFrom('a', 'b'), 200), ({ pattern, value }, noise) => {
        expect(globMatch(pattern, value)).toBe(reference(pattern, value));
        expect(globMatch(pattern, noise)).toBe(reference(pattern, noise));
      }),
      { numRuns: 3_000 },
    );
  });

  test.each([
    ['team-*', 'team-a', true],
    ['*', '', true],
    ['**', 'x', true],
    ['?', '', false],
    ['?', '\u{1F600}', false], // an emoji is two UTF-16 code units
    ['??', '\u{1F600}', true],
    ['a*b*c', 'abc', true],
    ['a*b*c', 'acb', false],
    ['*.example.com', 'x.example.com', true],
    ['*.example.com', '.example.com', true],
    ['*.example.com', 'example.com', false],
    ['a*a', 'a', false],
    ['line*', 'line\nbreak', true],
  ])('%j matches %j: %s', (pattern, value, want) => {
    expect(globMatch(pattern, value)).toBe(want);
    expect(reference(pattern, value)).toBe(want);
  });
});

describe('bounded work', () => {
  // The regular expression took 7 s for `*.*.example.com` against 60,000 dots (quadratic) and
  // grew by another factor of the length with each star. These count the matcher's own steps.
  const hostile = (n: number) => '.'.repeat(n);
  /** Patterns and values that make a backtracking matcher try every split, and do not match. */
  const cases: [string, (n: number) => string][] = [
    ['*.*.example.com', hostile],
    ['*.*.*.example.com', hostile],
    ['*.*x*.example.com', (n) => `${hostile(n - 12)}.example.com`],
    ['*.*.*.*.*.*.*.*x.example.com', (n) => `${hostile(n - 12)}.example.com`],
    ['*a*a*a*a*a*a*a*a*a*a*c*b', (n) => `${'a'.repeat(n - 1)}b`],
    ['a?*?a*??b*?', (n) => 'a'.repeat(n)],
  ];

  test.each(cases)(
    '%s against hostile values up to the cap: at most one step per character (plus the ends)',
    (pattern, make) => {
      for (const n of [100, 1000, MAX_GLOB_VALUE_LENGTH]) {
        const value = make(n);
        expect(value.length).toBe(n);
        const { matched, steps } = matchCounting(pattern, value);
        expect(matched).toBe(false);
        expect(steps).toBeLessThanOrEqual(n + pattern.length);
      }
    },
  );

  test('a value over the cap matches nothing, not even *, and costs nothing', () => {
    const long = hostile(MAX_GLOB_VALUE_LENGTH + 1);
    expect(matchCounting('*.*.example.com', long)).toEqual({ matched: false, steps: 0 });
    expect(matchCounting('*', long)).toEqual({ matched: false, steps: 0 });
    expect(matchCounting(long, long)).toEqual({ matched: false, steps: 0 });
    expect(globMatch('*', hostile(MAX_GLOB_VALUE_LENGTH))).toBe(true);
    expect(matchCounting('*.*.example.com', hostile(60_000))).toEqual({ matched: false, steps: 0 });
  });

  test('the steps per character grow with the longest run between stars, not with the number of stars', () => {
    expect(globStepsPerCharacter('*.*.*.*.*.*.example.com')).toBe(1);
    expect(globStepsPerCharacter(`*${'a'.repeat(32)}*`)).toBe(1);
    expect(globStepsPerCharacter(`*${'a'.repeat(33)}*`)).toBe(2);
    expect(globStepsPerCharacter(`*${'a?'.repeat(64)}*`)).toBe(4);
    const run = `${'a?'.repeat(64)}`;
    const value = 'ab'.repeat(2000);
    const { matched, steps } = matchCounting(`*${run}c*`, value);
    expect(matched).toBe(false);
    expect(steps).toBeLessThanOrEqual(value.length * 5 + 2);
  });
});
