import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { createLogger, turnBatched } from '../../../src/log.js';
import { REPO } from '../../http/helpers.js';

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

  it("carries the logger's lines, review lines and pino lines alike, whole and in order", async () => {
    const writes: string[] = [];
    const logger = createLogger(
      { level: 'info' },
      turnBatched((chunk) => writes.push(chunk)),
    );
    logger.info({ event: 'review', uid: 'u1' }, 'review');
    logger.warn({ event: 'http-error', status: 413 }, 'request rejected');
    logger.debug({ event: 'ignored' }, 'below the level');
    await nextTurn();
    expect(writes).toHaveLength(1);
    const lines = (writes[0] as string)
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      ['info', 'review'],
      ['warn', 'request rejected'],
    ]);
  });

  it('holds its exit hook only while lines are pending: no listener outlives a turn', async () => {
    const before = process.listenerCount('exit');
    const out = turnBatched(() => {}, { flushOnExit: true });
    for (let turn = 0; turn < 20; turn++) {
      out.write('a\n');
      out.write('b\n');
      expect(process.listenerCount('exit')).toBe(before + 1);
      await nextTurn();
      expect(process.listenerCount('exit')).toBe(before);
    }
    out.write('c\n');
    out.flush();
    expect(process.listenerCount('exit')).toBe(before);
  });

  it('a process that ends on an uncaught exception still writes the lines of its last turn', async () => {
    // A real Node process: the line is pending (the turn never ends) when the exception ends it.
    const script = [
      `import { turnBatched } from ${JSON.stringify(join(REPO, 'src', 'log.ts'))};`,
      'const out = turnBatched((chunk) => process.stdout.write(chunk), { flushOnExit: true });',
      "out.write('last line before the crash\\n');",
      "throw new Error('boom');",
    ].join('\n');
    const run = (flushOnExit: boolean) =>
      new Promise<{ code: number | null; stdout: string }>((resolve) => {
        const child = execFile(
          process.execPath,
          [
            '--import',
            'tsx',
            '--input-type=module',
            '-e',
            flushOnExit ? script : script.replace('{ flushOnExit: true }', '{}'),
          ],
          { cwd: REPO, timeout: 30_000 },
          (err, stdout) =>
            resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout: String(stdout) }),
        );
        child.stdin?.end();
      });
    const flushed = await run(true);
    expect(flushed.code).toBe(1);
    expect(flushed.stdout).toBe('last line before the crash\n');
    // Without the hook the line is lost: what the option is for.
    const lost = await run(false);
    expect(lost.code).toBe(1);
    expect(lost.stdout).toBe('');
  }, 60_000);
});
