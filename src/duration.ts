/**
 * Durations as policies and flags write them: a sequence of numbers with units, like Go's
 * `time.ParseDuration` (`1h30m`, `720h`) plus days and weeks (`30d`, `2w`), which Go lacks and
 * audit windows need. Imports nothing.
 */

const UNIT_SECONDS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };
const PART = /(\d+(?:\.\d+)?)([smhdw])/y;

/** The largest duration accepted: 100 years, so that the seconds stay exact. */
export const MAX_DURATION_SECONDS = 100 * 365 * 86_400;

/**
 * Parses a duration into whole seconds, or returns why it is not one.
 *
 * @example parseDuration('1d12h') // 129600
 */
export function parseDuration(text: string): number | { readonly error: string } {
  if (text === '') return { error: 'empty duration' };
  let total = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < text.length) {
    const at = PART.lastIndex;
    const m = PART.exec(text);
    if (!m)
      return {
        error: `${JSON.stringify(text.slice(0, 40))} is not a duration (at character ${at + 1}; e.g. 30d, 12h, 1h30m; units s, m, h, d, w)`,
      };
    total += Number(m[1]) * (UNIT_SECONDS[m[2] as string] as number);
  }
  const seconds = Math.round(total);
  if (seconds <= 0) return { error: `${JSON.stringify(text)} is not longer than zero` };
  if (seconds > MAX_DURATION_SECONDS) return { error: `${JSON.stringify(text)} is longer than 100 years` };
  return seconds;
}

/** Seconds as the shortest duration text that reads back the same: `30d`, `1h30m`, `90s`. */
export function formatDuration(seconds: number): string {
  let rest = Math.round(seconds);
  if (rest <= 0) return '0s';
  let out = '';
  for (const [unit, size] of [
    ['w', 604_800],
    ['d', 86_400],
    ['h', 3600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    const n = Math.floor(rest / size);
    if (n > 0 && !(unit === 'w' && rest % size !== 0)) {
      out += `${n}${unit}`;
      rest -= n * size;
    }
  }
  return out;
}
