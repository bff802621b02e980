import { createLogger, turnBatched } from '../../../src/log.js';

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('turnBatched (the log destination of tokenguard serve)', () => {
  it('joins the lines of one event-loop turn into one write, in order, at the end of the turn', async () => {
    const writes: string[] = [];
    const out = turnBatched((chunk) => writes.push(chunk));
    out.write('a\n');
    out.write('b\n');
    out.write('c\n');
    expect(writes).toEqual([]); // nothing yet: the turn is not over
    await nextTurn();
    expect(writes).toEqual(['a\nb\nc\n']);
    out.write('d\n');
    await nextTurn();
    expect(writes).toEqual(['a\nb\nc\n', 'd\n']);
    await nextTurn();
    expect(writes).toHaveLength(2); // no empty writes when nothing is pending
  });

  it('flush() writes what is pending at once, and the scheduled write then has nothing left', async () => {
    const writes: string[] = [];
    const out = turnBatched((chunk) => writes.push(chunk));
    out.write('x\n');
    out.write('y\n');
    out.flush();
    expect(writes).toEqual(['x\ny\n']);
    out.flush();
    await nextTurn();
    expect(writes).toEqual(['x\ny\n']);
    out.write('z\n'); // after a flush, a new turn is scheduled
    await nextTurn();
    expect(writes).toEqual(['x\ny\n', 'z\n']);
  });

  it('carries the logger\'s lines, review lines and pino lines alike, whole and in order', async () => {
    const writes: string[] = [];
    const logger = createLogger({ level: 'info' }, turnBatched((chunk) => writes.push(chunk)));
    logger.info({ event: 'review', uid: 'u1' }, 'review');
    logger.warn({ event: 'http-error', status: 413 }, 'request rejected');
    logger.debug({ event: 'ignored' }, 'below the level');
    await nextTurn();
    expect(writes).toHaveLength(1);
    const lines = (writes[0] as string).split('\n').filter(Boolean).map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      ['info', 'review'],
      ['warn', 'request rejected'],
    ]);
  });
});
