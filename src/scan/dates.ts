/**
 * UTC calendar days, as the legacy-token labels and the cleaner count them. Pure: every function
 * takes the instant it works on (milliseconds since the epoch); none reads the clock.
 */

/** Milliseconds in a day. */
export const DAY_MS = 86_400_000;

/**
 * Midnight UTC of a `YYYY-MM-DD` date, or undefined when the text is not exactly such a date:
 * the rule of Go's `time.Parse("2006-01-02", s)`, which the API server and the cleaner use (four
 * digit year, two digit month and day, a day that exists in that month, nothing else).
 *
 * @example parseDay('2024-02-29') // 1709164800000
 * @example parseDay('2023-02-29') // undefined
 */
export function parseDay(text: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (!m) return undefined;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (mo < 1 || mo > 12 || d < 1) return undefined;
  const ms = Date.UTC(y, mo - 1, d);
  // Date.UTC rolls 2023-02-29 over to March 1st: a day that does not exist comes back different.
  return formatDay(ms) === text ? ms : undefined;
}

/** The UTC date of an instant, `YYYY-MM-DD`. */
export function formatDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** Midnight UTC of the day an instant falls on. */
export function startOfDay(ms: number): number {
  return Math.floor(ms / DAY_MS) * DAY_MS;
}

/** Whole days from `from` to `to` (both instants), rounded down; negative when `to` is earlier. */
export function daysBetween(from: number, to: number): number {
  return Math.floor((to - from) / DAY_MS);
}

/** An RFC 3339 timestamp of the API (`2024-05-01T10:00:00Z`) as milliseconds, or undefined. */
export function parseTimestamp(text: string | undefined): number | undefined {
  if (!text || !/^\d{4}-\d{2}-\d{2}T/.test(text)) return undefined;
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? ms : undefined;
}
