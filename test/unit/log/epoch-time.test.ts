/**
 * The `time` field of every log line: the bytes of pino's default, written without leaving a
 * string in the old generation per line (log.ts, epochTime; docs/benchmarks.md, decision 26).
 */
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import pino from 'pino';
import { createLogger, epochTime, type FlatFields, flatInfoWriter } from '../../../src/log.js';

const oldSpaceUsed = (): number => getHeapSpaceStatistics().find((s) => s.space_name === 'old_space')?.space_used_size ?? 0;

/** Runs `body` with Date.now counting up by one millisecond per call, as a busy server sees it. */
function withTicking<T>(body: () => T): T {
  const real = Date.now;
  let now = real();
  Date.now = () => ++now;
  try {
    return body();
  } finally {
    Date.now = real;
  }
}

const fields: FlatFields = { event: 'review', uid: '705ab4f5-6393-11e8-b7cc-42010a800002', kind: 'Pod', decision: 'patched', durationMs: 0.412 };

/**
 * Old-generation bytes per review line: the growth over `lines` lines minus that over a quarter
 * as many, each counted from a full GC with no GC of the old generation in between, so what
 * does not grow with the lines (the compilers' data, the test framework's objects promoted by
 * the scavenges the lines cause) cancels out.
 */
function oldBytesPerLine(timestamp: () => string, lines: number): number {
  const logger = pino({ base: { pid: process.pid }, timestamp }, { write: () => {} });
  const write = flatInfoWriter(logger, 'review');
  const collect = runInNewContext('gc') as () => void;
  const growth = (n: number): number => {
    collect();
    const before = oldSpaceUsed();
    withTicking(() => {
      for (let i = 0; i < n; i++) write(fields);
    });
    return oldSpaceUsed() - before;
  };
  growth(lines / 4); // warm: compiled and optimized before measuring
  const few = growth(lines / 4);
  const many = growth(lines);
  return (many - few) / (lines - lines / 4);
}

describe('epochTime', () => {
  beforeAll(() => setFlagsFromString('--expose-gc'));

  it('writes what pino writes by default: the milliseconds since the epoch', () => {
    const real = Date.now;
    try {
      for (const t of [0, 1, 999, 1796355416456, 8.64e15]) {
        Date.now = () => t;
        expect(epochTime()).toBe(pino.stdTimeFunctions.epochTime());
      }
    } finally {
      Date.now = real;
    }
    const lines: string[] = [];
    const before = Date.now();
    createLogger({}, { write: (l: string) => lines.push(l) }).info({ event: 'x' }, 'm');
    const time = JSON.parse(lines[0] as string).time as number;
    expect(time).toBeGreaterThanOrEqual(before);
    expect(time).toBeLessThanOrEqual(Date.now());
  });

  it('leaves no string in the old generation per line, where a template literal of the time leaves ~32 bytes', () => {
    const lines = 40_000;
    // The control: pino's own time function, on the same path, shows what is being measured.
    expect(oldBytesPerLine(pino.stdTimeFunctions.epochTime, lines)).toBeGreaterThan(16);
    expect(oldBytesPerLine(epochTime, lines)).toBeLessThan(4);
  });

  it('is the time function of the loggers createLogger makes, so the review line uses it too', () => {
    const logger = createLogger({}, { write: () => {} }) as unknown as Record<symbol, unknown>;
    expect(logger[pino.symbols.timeSym]).toBe(epochTime);
  });
});
