/**
 * Glob matching for policy fields (namespaces, ServiceAccounts, containers, audiences, users,
 * groups): `*` is any run of characters (the empty run included), `?` exactly one character,
 * everything else literal and case-sensitive, as Kubernetes names are. A "character" is one
 * UTF-16 code unit, as JavaScript strings count them: `?` matches one half of a surrogate pair,
 * so an emoji takes `??`. Nothing in a value is special: line breaks are characters too.
 *
 * The matcher takes time linear in the value, whatever the pattern (docs/policies.md, "Globs"):
 *
 * 1. A pattern is cut at its stars into runs. The first run must match at the start of the
 *    value, the last at its end (each compared once, character by character).
 * 2. The runs in between are placed from left to right, each at the first place it fits after
 *    the previous one. The leftmost place is always right: any match could be moved there, and
 *    moving a run left only leaves more room for the runs after it. So no run is ever retried.
 * 3. Each run is searched for with a bit-parallel automaton (Shift-And, Baeza-Yates and Gonnet
 *    1992): one machine-word step per value character per 32 characters of the run, `?`
 *    included. Every value character is read by at most one search.
 *
 * Total work: at most `length(value) × ⌈L / 32⌉` word steps, L the longest run between stars,
 * however many stars there are. A regular expression (what this replaces) backtracks instead: a
 * pattern such as `*.*.example.com` against a long run of dots takes time that grows with the
 * value's length to the power of the number of stars.
 *
 * Values longer than {@link MAX_GLOB_VALUE_LENGTH} match nothing: no name the API server accepts
 * comes near, and for audiences, users and groups a non-match is the strict outcome (not allowed,
 * not exempt).
 */

/**
 * Longest value a glob (or an exact pattern) is matched against, in UTF-16 code units; longer
 * values match nothing, at no cost. Kubernetes names are at most 253 characters (`namespace/name`
 * 317); audiences, user and group names have no API-server limit, and real ones are URLs and
 * identities well under this.
 */
export const MAX_GLOB_VALUE_LENGTH = 4096;

/** Bits per automaton word: JavaScript's bitwise operators work on 32-bit integers. */
const WORD_BITS = 32;

/** A run between stars, compiled for the Shift-And search. */
interface Run {
  /** The run as written; `?` stands for any one code unit. */
  readonly text: string;
  /** 32-bit words per automaton state. */
  readonly words: number;
  /** Per ASCII code unit (`code * words + w`): the run positions that code unit may fill. */
  readonly ascii: Uint32Array;
  /** The same for the other code units that occur in the run. */
  readonly other: ReadonlyMap<number, Uint32Array>;
  /** What every other code unit may fill: the `?` positions. */
  readonly any: Uint32Array;
}

/** A pattern, compiled. Without stars, `head` is the whole pattern and `tail`/`middle` are unused. */
interface CompiledGlob {
  readonly stars: boolean;
  readonly head: string;
  readonly tail: string;
  readonly middle: readonly Run[];
  /** Characters any match needs: the pattern without its stars. */
  readonly minLength: number;
}

const cache = new Map<string, CompiledGlob>();
const CACHE_LIMIT = 10_000;

/**
 * Matches `value` against a glob where `*` is any run of characters and `?` one character.
 * Everything else is literal. Case-sensitive, as Kubernetes names are. Values longer than
 * {@link MAX_GLOB_VALUE_LENGTH} never match.
 *
 * @example globMatch('team-*', 'team-a') // true
 */
export function globMatch(pattern: string, value: string): boolean {
  return matchCounting(pattern, value).matched;
}

/** True when any pattern matches. */
export function anyGlob(patterns: readonly string[] | undefined, value: string): boolean {
  return patterns?.some((p) => globMatch(p, value)) ?? false;
}

/** What a match cost: character comparisons plus automaton word steps. */
export interface GlobMatchWork {
  readonly matched: boolean;
  readonly steps: number;
}

/**
 * {@link globMatch}, also saying how much work it did (for tests and `policy validate`): one
 * step per character compared at the ends, plus one per automaton word per character searched.
 */
export function matchCounting(pattern: string, value: string): GlobMatchWork {
  if (value.length > MAX_GLOB_VALUE_LENGTH) return { matched: false, steps: 0 };
  if (!pattern.includes('*') && !pattern.includes('?'))
    return { matched: pattern === value, steps: Math.min(pattern.length, value.length) };
  const g = compile(pattern);
  if (!g.stars) return { matched: value.length === g.head.length && fixedAt(g.head, value, 0), steps: value.length };
  if (value.length < g.minLength) return { matched: false, steps: 0 };
  let steps = g.head.length + g.tail.length;
  if (!fixedAt(g.head, value, 0) || !fixedAt(g.tail, value, value.length - g.tail.length))
    return { matched: false, steps };
  let from = g.head.length;
  const end = value.length - g.tail.length;
  for (const run of g.middle) {
    const found = search(run, value, from, end);
    steps += (found < 0 ? end - from : found - from) * run.words;
    if (found < 0) return { matched: false, steps };
    from = found;
  }
  return { matched: true, steps };
}

/**
 * The most word steps a match of `pattern` can take per value character: ⌈L / 32⌉ for the
 * longest run L between stars, 1 for a pattern without inner runs.
 */
export function globStepsPerCharacter(pattern: string): number {
  if (!pattern.includes('*')) return 1;
  return Math.max(1, ...compile(pattern).middle.map((r) => r.words));
}

/** The characters any value matching `pattern` must have (its length without the stars). */
export function globMinLength(pattern: string): number {
  let n = 0;
  for (let i = 0; i < pattern.length; i++) if (pattern.charCodeAt(i) !== STAR) n++;
  return n;
}

const STAR = 42; // '*'
const QUESTION = 63; // '?'

function compile(pattern: string): CompiledGlob {
  const hit = cache.get(pattern);
  if (hit) return hit;
  const parts = pattern.split('*');
  const stars = parts.length > 1;
  const head = parts[0] ?? '';
  const tail = stars ? (parts.at(-1) ?? '') : '';
  const middle = stars
    ? parts
        .slice(1, -1)
        .filter((p) => p !== '')
        .map(compileRun)
    : [];
  const g: CompiledGlob = { stars, head, tail, middle, minLength: globMinLength(pattern) };
  if (cache.size < CACHE_LIMIT) cache.set(pattern, g);
  return g;
}

function compileRun(text: string): Run {
  const words = Math.ceil(text.length / WORD_BITS);
  const any = new Uint32Array(words);
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === QUESTION) any[i >>> 5]! |= 1 << (i & 31);
  const ascii = new Uint32Array(128 * words);
  for (let c = 0; c < 128; c++) ascii.set(any, c * words);
  const other = new Map<number, Uint32Array>();
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUESTION) continue;
    const bit = 1 << (i & 31);
    if (c < 128) ascii[c * words + (i >>> 5)]! |= bit;
    else {
      let m = other.get(c);
      if (!m) {
        m = Uint32Array.from(any);
        other.set(c, m);
      }
      m[i >>> 5]! |= bit;
    }
  }
  return { text, words, ascii, other, any };
}

/** True when `fixed` (literal characters and `?`) matches `value` at `at`. */
function fixedAt(fixed: string, value: string, at: number): boolean {
  if (at < 0 || at + fixed.length > value.length) return false;
  for (let i = 0; i < fixed.length; i++) {
    const c = fixed.charCodeAt(i);
    if (c !== QUESTION && c !== value.charCodeAt(at + i)) return false;
  }
  return true;
}

/**
 * Where the first occurrence of `run` in `value[from, end)` ends (exclusive), or -1. Reads each
 * character of the range once, until the occurrence ends.
 */
function search(run: Run, value: string, from: number, end: number): number {
  const len = run.text.length;
  if (end - from < len) return -1;
  if (run.words === 1) {
    const accept = 1 << (len - 1);
    let state = 0;
    for (let i = from; i < end; i++) {
      const c = value.charCodeAt(i);
      const mask = c < 128 ? run.ascii[c]! : (run.other.get(c)?.[0] ?? run.any[0]!);
      state = ((state << 1) | 1) & mask;
      if (state & accept) return i + 1;
    }
    return -1;
  }
  const words = run.words;
  const state = new Uint32Array(words);
  const lastWord = words - 1;
  const accept = 1 << ((len - 1) & 31);
  for (let i = from; i < end; i++) {
    const c = value.charCodeAt(i);
    const other = c < 128 ? undefined : (run.other.get(c) ?? run.any);
    const base = c < 128 ? c * words : 0;
    // Shift the whole state left by one bit (from the top word down, carrying), add the start bit.
    for (let w = lastWord; w > 0; w--) state[w] = (state[w]! << 1) | (state[w - 1]! >>> 31);
    state[0] = (state[0]! << 1) | 1;
    for (let w = 0; w < words; w++) state[w]! &= other ? other[w]! : run.ascii[base + w]!;
    if (state[lastWord]! & accept) return i + 1;
  }
  return -1;
}
