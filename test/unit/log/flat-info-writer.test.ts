/**
 * The review line's direct writer (flatInfoWriter) writes the bytes pino writes for the same
 * fields, and hands anything it cannot write exactly as pino would, redaction included, to pino.
 */
import pino from 'pino';
import { CENSOR, createLogger, type FlatFields, flatInfoWriter } from '../../../src/log.js';

class Lines {
  readonly lines: string[] = [];
  write(line: string): void {
    this.lines.push(line);
  }
}

/** The `time` field is the only one that differs between two calls: pin it. */
const sameTime = (line: string) => line.replace(/"time":\d+/, '"time":0');

function both(fields: FlatFields, msg = 'review', level = 'info', child?: Record<string, unknown>): { direct: string[]; pino: string[] } {
  const a = new Lines();
  const b = new Lines();
  const la = child ? createLogger({ level }, a).child(child) : createLogger({ level }, a);
  const lb = child ? createLogger({ level }, b).child(child) : createLogger({ level }, b);
  flatInfoWriter(la, msg)(fields);
  lb.info(fields, msg);
  return { direct: a.lines.map(sameTime), pino: b.lines.map(sameTime) };
}

const review: FlatFields = {
  event: 'review',
  uid: '705ab4f5-6393-11e8-b7cc-42010a800002',
  kind: 'Pod',
  namespace: 'team-a',
  name: 'web-7d4b9c8f5-x2xkq',
  operation: 'CREATE',
  subResource: '',
  user: 'system:serviceaccount:kube-system:replicaset-controller',
  dryRun: false,
  endpoint: 'mutate',
  decision: 'patched',
  policies: ['api-token-expiration', 'token-bounds'],
  patchOps: 1,
  durationMs: 0.412,
  error: undefined,
};

describe('flatInfoWriter', () => {
  it('writes the line pino writes for a review', () => {
    const { direct, pino: expected } = both(review);
    expect(direct).toHaveLength(1);
    expect(direct).toEqual(expected);
    expect(JSON.parse(direct[0] as string)).toMatchObject({ level: 'info', pid: process.pid, event: 'review', policies: ['api-token-expiration', 'token-bounds'], msg: 'review' });
  });

  it('escapes strings as pino does: quotes, backslashes, control characters, non-ASCII, long strings', () => {
    const hostile = ['"quoted"', 'back\\slash', 'tab\tnew\nline\u0000\u001f', 'zażółć 名前 🙂', 'x'.repeat(300), '\u2028\u2029', '</script>'];
    for (const s of hostile) {
      const { direct, pino: expected } = both({ ...review, name: s, user: s, error: s, policies: [s, 'b'] });
      expect(direct).toEqual(expected);
    }
  });

  it('escapes a lone surrogate (\\udXXX), which pino writes raw and UTF-8 then turns into U+FFFD', () => {
    for (const s of ['lone \ud800 high', 'lone \udc00 low']) {
      const { direct, pino: expected } = both({ ...review, name: s, policies: [s] });
      const escaped = (expected[0] as string).replace(/[\ud800-\udfff]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
      expect(direct).toEqual([escaped]);
      expect(JSON.parse(direct[0] as string).name).toBe(s);
    }
  });

  it('writes numbers, booleans and empty values as pino does', () => {
    for (const v of [0, -0, 1e21, 1.5e-7, Number.NaN, Number.POSITIVE_INFINITY, true, false, '', []]) {
      const { direct, pino: expected } = both({ event: 'review', value: v as FlatFields[string] });
      expect(direct).toEqual(expected);
    }
    expect(both({}).direct).toEqual(both({}).pino);
  });

  it('writes a child logger\'s bindings and another message as pino does', () => {
    const { direct, pino: expected } = both(review, 'a "quoted" message', 'info', { component: 'facts' });
    expect(direct).toEqual(expected);
    expect(direct[0]).toContain('"component":"facts"');
  });

  it('writes nothing below its level, and follows a level changed later', () => {
    const sink = new Lines();
    const logger = createLogger({ level: 'warn' }, sink);
    const write = flatInfoWriter(logger, 'review');
    write(review);
    expect(sink.lines).toHaveLength(0);
    logger.level = 'info';
    write(review);
    expect(sink.lines).toHaveLength(1);
    logger.level = 'silent';
    write(review);
    expect(sink.lines).toHaveLength(1);
  });

  it('hands redacted field names, the error key, objects and non-string arrays to pino, which redacts them', () => {
    const cases: Record<string, unknown>[] = [
      { event: 'review', data: 'c2VjcmV0' },
      { event: 'review', Token: 'abc' },
      { event: 'review', nested: { password: 'hunter2' } },
      { event: 'review', list: [{ token: 'abc' }] },
      { event: 'review', err: 'plain string' },
    ];
    for (const fields of cases) {
      const { direct, pino: expected } = both(fields as FlatFields);
      expect(direct).toEqual(expected);
    }
    const { direct } = both({ event: 'review', data: 'c2VjcmV0', nested: { password: 'hunter2' } } as unknown as FlatFields);
    expect(direct[0]).not.toContain('c2VjcmV0');
    expect(direct[0]).not.toContain('hunter2');
    expect(direct[0]).toContain(CENSOR);
  });

  it('leaves loggers it cannot mirror to pino: a mixin, a stream-write hook, a multistream', () => {
    const lines = new Lines();
    const mixed = pino({ mixin: () => ({ extra: 1 }) }, lines);
    flatInfoWriter(mixed, 'review')(review);
    expect(JSON.parse(lines.lines[0] as string)).toMatchObject({ extra: 1, event: 'review' });

    const hooked = new Lines();
    const withHook = pino({ hooks: { streamWrite: (s) => s.replace('review', 'REVIEW') } }, hooked);
    flatInfoWriter(withHook, 'review')(review);
    expect(hooked.lines[0]).toContain('REVIEW');

    const out = new Lines();
    const multi = pino({}, pino.multistream([{ stream: out }]));
    flatInfoWriter(multi, 'review')(review);
    expect(out.lines).toHaveLength(1);
    expect(JSON.parse(out.lines[0] as string)).toMatchObject({ event: 'review', msg: 'review' });
  });
});
