import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import type { AuditRecord } from '../../../src/usage/decode.js';
import { AuditLogError, expandPaths, type LineProblem, readAuditLogs } from '../../../src/usage/read.js';
import { line } from './events.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'tg-usage-'));

async function read(files: string[], options: { stdin?: Readable; maxLineBytes?: number; chunkBytes?: number } = {}) {
  const records: AuditRecord[] = [];
  const problems: LineProblem[] = [];
  const stats = await readAuditLogs(files, {
    onRecord: (r) => records.push(r),
    onProblem: (p) => problems.push(p),
    display: (f) => f.split('/').pop() ?? f,
    ...options,
  });
  return { ids: records.map((r) => r.auditID), problems, stats };
}

test('plain and gzip files (told by content, not name), CRLF line ends, a last line without newline', async () => {
  const dir = tmp();
  writeFileSync(join(dir, 'a.log'), `${line({ auditID: 'a1' })}\r\n${line({ auditID: 'a2' })}`);
  writeFileSync(join(dir, 'b.log'), gzipSync(`${line({ auditID: 'b1' })}\n${line({ auditID: 'b2' })}\n`));
  writeFileSync(join(dir, 'c.gz'), `${line({ auditID: 'c1' })}\n`);
  const r = await read([join(dir, 'a.log'), join(dir, 'b.log'), join(dir, 'c.gz')]);
  expect(r.ids).toEqual(['a1', 'a2', 'b1', 'b2', 'c1']);
  expect(r.problems).toEqual([]);
  expect(r.stats).toMatchObject({ files: 3, lines: 5 });
});

test('lines split across small read buffers are joined; lines count from 1 in every file', async () => {
  const dir = tmp();
  const text = [line({ auditID: 'x1' }), '{"kind":"Ev', line({ auditID: 'x2' })].join('\n');
  writeFileSync(join(dir, 'x.log'), text);
  const r = await read([join(dir, 'x.log')], { chunkBytes: 7 });
  expect(r.ids).toEqual(['x1', 'x2']);
  expect(r.problems).toEqual([
    { file: 'x.log', line: 2, reason: expect.stringMatching(/^not JSON \(cut short or corrupt/) },
  ]);
});

test('a line longer than the limit is reported and skipped, the next one is read', async () => {
  const dir = tmp();
  writeFileSync(join(dir, 'l.log'), `${line({ auditID: 'l1' })}\n${'x'.repeat(5000)}\n${line({ auditID: 'l2' })}\n`);
  for (const chunkBytes of [64, 100_000]) {
    const r = await read([join(dir, 'l.log')], { maxLineBytes: 1000, chunkBytes });
    expect(r.ids).toEqual(['l1', 'l2']);
    expect(r.problems).toEqual([{ file: 'l.log', line: 2, reason: 'line longer than 1000 bytes, not read' }]);
  }
});

test('a gzip file cut short: what was read counts, the rest is one problem, the next file is read', async () => {
  const dir = tmp();
  const body = Array.from({ length: 200 }, (_, i) => line({ auditID: `g${i}` })).join('\n');
  const gz = gzipSync(body);
  writeFileSync(join(dir, 'cut.log.gz'), gz.subarray(0, Math.floor(gz.length / 2)));
  writeFileSync(join(dir, 'next.log'), line({ auditID: 'n1' }));
  const r = await read([join(dir, 'cut.log.gz'), join(dir, 'next.log')]);
  expect(r.ids.length).toBeGreaterThan(0);
  expect(r.ids.at(-1)).toBe('n1');
  expect(r.problems).toHaveLength(1);
  expect(r.problems[0]?.file).toBe('cut.log.gz');
  expect(r.problems[0]?.reason).toMatch(/^reading stopped: (gzip data is corrupt or cut short|unexpected end of file)/);
});

test('standard input, plain or gzip', async () => {
  const plain = await read(['-'], { stdin: Readable.from([Buffer.from(`${line({ auditID: 's1' })}\n`)]) });
  expect(plain.ids).toEqual(['s1']);
  const gz = gzipSync(`${line({ auditID: 's2' })}\n${line({ auditID: 's3' })}\n`);
  const zipped = await read(['-'], { stdin: Readable.from([gz.subarray(0, 5), gz.subarray(5)]) });
  expect(zipped.ids).toEqual(['s2', 's3']);
  expect((await read(['-'], { stdin: Readable.from([]) })).ids).toEqual([]);
});

test('folders: rotated logs oldest first (name order), hidden files skipped, a file named twice read once', () => {
  const dir = tmp();
  mkdirSync(join(dir, 'logs'));
  for (const n of ['audit.log', 'audit-2026-12-01T10-00-00.000.log.gz', 'audit-2026-11-30T10-00-00.000.log', '.hidden'])
    writeFileSync(join(dir, 'logs', n), '');
  symlinkSync(join(dir, 'logs', 'audit.log'), join(dir, 'link.log'));
  const files = expandPaths(['logs', 'link.log', 'logs/audit.log', '-', '-'], dir).map((f) => f.replace(`${dir}/`, ''));
  expect(files).toEqual([
    'logs/audit-2026-11-30T10-00-00.000.log',
    'logs/audit-2026-12-01T10-00-00.000.log.gz',
    'logs/audit.log',
    '-',
  ]);
});

test('a file that cannot be opened is an error naming it', async () => {
  await expect(read([join(tmp(), 'missing.log')])).rejects.toThrow(AuditLogError);
  await expect(read([join(tmp(), 'missing.log')])).rejects.toThrow(/missing\.log: cannot read: ENOENT/);
});
