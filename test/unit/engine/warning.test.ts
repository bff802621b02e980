import fc from 'fast-check';
import { warning } from '../../../src/engine/messages.js';

/** The rule, said plainly: one line, the product prefix, at most 120 characters (code points). */
function reference(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the same control characters as the engine
  const clean = `tokenguard: ${text}`.replace(/[\u0000-\u001f\u007f]+/g, ' ');
  const chars = Array.from(clean);
  return chars.length <= 120 ? clean : `${chars.slice(0, 119).join('')}…`;
}

describe('warning', () => {
  test('short text is kept as it is, with the prefix', () => {
    expect(warning('x')).toBe('tokenguard: x');
    expect(warning('a\nb\u0007c')).toBe('tokenguard: a b c');
  });

  test('at most 120 characters, cut on a character boundary, surrogate pairs counted as one', () => {
    const w = warning('😀'.repeat(200));
    expect(Array.from(w)).toHaveLength(120);
    expect(w.endsWith('😀…')).toBe(true);
    // 108 emoji after the 12-character prefix are 120 characters but 228 UTF-16 units: not cut.
    expect(warning('😀'.repeat(108))).toBe(`tokenguard: ${'😀'.repeat(108)}`);
    expect(warning('😀'.repeat(109)).endsWith('…')).toBe(true);
  });

  test('agrees with the plain rule on any text', () => {
    const char = fc.constantFrom('a', 'é', '😀', '𝔘', '\n', '\u007f', ' ', 'z');
    fc.assert(
      fc.property(fc.array(char, { maxLength: 260 }), (chars) => {
        const text = chars.join('');
        expect(warning(text)).toBe(reference(text));
      }),
      { numRuns: 2000 },
    );
  });
});
