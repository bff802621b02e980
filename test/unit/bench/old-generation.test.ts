/**
 * The benchmark's `gc=heap` count of mark-compacts (bench/old-generation.ts), against V8 itself:
 * a full GC makes the old generation's used size fall, scavenges of short-lived objects do not.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { OldGenerationFalls, oldGenerationUsed } from '../../../bench/old-generation.js';

/** Where objects wait long enough to be promoted, and short-lived ones for the compiler not to elide them. */
let kept: unknown[] = [];

describe('OldGenerationFalls', () => {
  beforeAll(() => setFlagsFromString('--expose-gc'));

  it('sees the fall a full GC makes after objects were promoted', () => {
    const collect = runInNewContext('gc') as () => void;
    collect();
    const falls = new OldGenerationFalls();
    // Survivors of several scavenges: promoted into the old generation, then dropped.
    for (let i = 0; i < 300_000; i++) kept.push({ i, a: [i] });
    kept = [];
    expect(falls.sample()).toBe(false);
    collect();
    expect(falls.sample()).toBe(true);
    expect(falls.sample()).toBe(false);
  });

  it('sees no fall while only short-lived objects come and go', () => {
    const falls = new OldGenerationFalls();
    const young: unknown[] = [];
    for (let i = 0; i < 1_000_000; i++) {
      young.push({ i });
      if (young.length >= 1_000) young.length = 0;
    }
    expect(falls.sample()).toBe(false);
    expect(oldGenerationUsed()).toBeGreaterThan(0);
  });

  it('compares each sample with the one before, and reset starts again', () => {
    const falls = new OldGenerationFalls(100);
    expect(falls.sample(120)).toBe(false);
    expect(falls.sample(90)).toBe(true);
    expect(falls.sample(90)).toBe(false);
    falls.reset(50);
    expect(falls.sample(60)).toBe(false);
  });
});
