/**
 * The server's structured logger: pino, one JSON object per line.
 *
 * The first defence against leaking Secrets is what we log: allow-listed summaries (uid, kind,
 * namespace, name, operation, user, decision), never an AdmissionReview, an object or a request
 * body (RELIABILITY-NOTES.md 3.1; kyverno#1334, knative/pkg#1397). Redaction is the second layer,
 * for the day someone logs more than they should.
 *
 * Why not pino's `redact` option: it matches exact paths only (a Secret logged one level deeper
 * than a path names is printed in clear), and its wildcard paths are slow. Measured here on
 * Node 20 with the review line the server writes for every request: ~100 us per line with
 * `*.data`-style and `*.*.data`-style paths, ~6 us without redaction, which cut /mutate
 * throughput from ~4,000 to ~2,200 requests/s. So redaction is a `formatters.log` hook instead:
 * it blanks the value of every key named in {@link REDACTED_KEYS} at *any* depth (a superset of
 * the paths `req.headers.authorization`, `*.data`, `*.stringData`, `*.token`, `*.object`,
 * `*.oldObject` and the last-applied annotation), and costs about a microsecond for a flat line.
 */
import pino, { type DestinationStream, type Level, type Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * Keys whose values never reach a log line, whatever object they are part of: Secret payloads,
 * whole objects, tokens, credentials in headers, and the last-applied annotation, which holds a
 * full copy of what `kubectl apply` sent, Secret data included.
 */
export const REDACTED_KEYS: ReadonlySet<string> = new Set([
  'data',
  'stringData',
  'token',
  'object',
  'oldObject',
  'body',
  'password',
  'authorization',
  'cookie',
  'kubectl.kubernetes.io/last-applied-configuration',
]);

/** What a redacted value is replaced with. */
export const CENSOR = '[REDACTED]';

/** Nesting deeper than this is not logged (no log line of ours comes close; cycles end here). */
const MAX_LOG_DEPTH = 8;

/**
 * Whether a key's value is censored: {@link REDACTED_KEYS}, compared case-insensitively.
 * Memoized, since log lines use a small fixed set of keys; the memo is bounded so keys taken
 * from input cannot grow it without limit.
 */
const REDACTED_KEYS_LOWER: ReadonlySet<string> = new Set([...REDACTED_KEYS].map((k) => k.toLowerCase()));
const keyVerdicts = new Map<string, boolean>();
const MAX_KEY_VERDICTS = 4096;
function isRedactedKey(key: string): boolean {
  let verdict = keyVerdicts.get(key);
  if (verdict === undefined) {
    verdict = REDACTED_KEYS_LOWER.has(key.toLowerCase());
    if (keyVerdicts.size < MAX_KEY_VERDICTS) keyVerdicts.set(key, verdict);
  }
  return verdict;
}

/** Whether `value` holds anything {@link redactSecrets} would change. */
function needsRedaction(value: object, depth: number): boolean {
  if (depth >= MAX_LOG_DEPTH || value instanceof Error || isBinary(value)) return true;
  if (Array.isArray(value)) {
    for (const v of value) if (typeof v === 'object' && v !== null && needsRedaction(v, depth + 1)) return true;
    return false;
  }
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    if (isRedactedKey(key)) return true;
    const v = (value as Record<string, unknown>)[key];
    if (typeof v === 'object' && v !== null && needsRedaction(v, depth + 1)) return true;
  }
  return false;
}

/**
 * `value` with every {@link REDACTED_KEYS} value censored, at any depth: a copy when anything
 * is censored (or an Error reduced, or nesting cut), `value` itself when nothing is, which is
 * the case of every line the server writes per request. Never modifies its input; the depth
 * limit also ends cycles.
 */
export function redactSecrets(value: unknown, depth = 0): unknown {
  if (typeof value !== 'object' || value === null) return value;
  return needsRedaction(value, depth) ? redactedCopy(value, depth) : value;
}

function redactedCopy(value: unknown, depth: number): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (depth >= MAX_LOG_DEPTH) return '[TOO DEEP]';
  if (Array.isArray(value)) return value.map((v) => redactedCopy(v, depth + 1));
  if (value instanceof Error) return { type: value.name, message: value.message };
  // A Buffer would be printed byte by byte (its toJSON): it is a body, and may hold Secret data.
  if (isBinary(value)) return `[BINARY ${(value as ArrayBufferView | ArrayBuffer).byteLength} bytes]`;
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    const v = (value as Record<string, unknown>)[key];
    copy[key] = isRedactedKey(key) ? CENSOR : redactedCopy(v, depth + 1);
  }
  return copy;
}

function isBinary(value: object): boolean {
  return ArrayBuffer.isView(value) || value instanceof ArrayBuffer;
}

/** What a flat log line carries: identifiers, counts and flags, never objects. */
export type FlatFields = Readonly<Record<string, string | number | boolean | readonly string[] | undefined>>;

const { lsCacheSym, timeSym, chindingsSym, endSym, streamSym, needsMetadataGsym, hooksSym, mixinSym, serializersSym, stringifiersSym, nestedKeySym, messageKeySym, errorKeySym } = pino.symbols;
/** Not in pino's typings; a child's `msgPrefix`. */
const msgPrefixSym = (pino.symbols as unknown as Record<string, symbol>).msgPrefixSym as symbol;

/**
 * Writes `info` lines of flat fields exactly as `logger.info(fields, msg)` writes them (the same
 * bytes, a test compares both; a lone surrogate alone is escaped, where pino writes it raw), with
 * one `JSON.stringify` of the fields instead of pino's walk of each value and the redaction walk. For the one line written per admission review: in the
 * server, on caches the HTTP and TLS work of each request leaves cold, pino's path cost the
 * Secret review 10× what it costs in a loop (docs/benchmarks.md, decision 21).
 *
 * Redaction still holds: a field whose name is redacted or has a serializer, an object value,
 * or an array with anything but strings goes through `logger.info` and so through
 * {@link redactSecrets}. So does every line when the logger has anything this writer would
 * bypass: a stream that needs pino's metadata (multistream), a mixin, a stream-write hook,
 * per-key stringifiers (pino's `redact`) or a nested key.
 */
export function flatInfoWriter(logger: Logger, msg: string): (fields: FlatFields) => void {
  const internals = logger as unknown as Record<symbol, unknown>;
  const stream = internals[streamSym] as DestinationStream & Record<symbol, unknown>;
  const hooks = internals[hooksSym] as { streamWrite?: unknown } | undefined;
  const serializers = internals[serializersSym] as Record<string, unknown>;
  const stringifiers = internals[stringifiersSym] as object;
  const direct =
    stream?.[needsMetadataGsym] !== true &&
    !hooks?.streamWrite &&
    !internals[mixinSym] &&
    !internals[nestedKeySym] &&
    !internals[msgPrefixSym] &&
    Reflect.ownKeys(stringifiers ?? {}).length === 0;
  const levelString = (internals[lsCacheSym] as Record<number, string>)[logger.levels.values.info as number];
  const time = internals[timeSym] as () => string;
  const errorKey = internals[errorKeySym] as string;
  const end = `,${JSON.stringify(internals[messageKeySym])}:${JSON.stringify(msg)}${internals[endSym] as string}`;
  return (fields) => {
    if (!logger.isLevelEnabled('info')) return;
    if (!direct || levelString === undefined || !isFlat(fields, serializers, errorKey)) {
      logger.info(fields, msg);
      return;
    }
    const props = JSON.stringify(fields);
    const line = `${levelString}${time()}${internals[chindingsSym] as string}${props.length > 2 ? `,${props.slice(1, -1)}` : ''}${end}`;
    stream.write(line);
  };
}

/** True when pino's redaction and serializers would leave `fields` as they are. */
function isFlat(fields: FlatFields, serializers: Record<string, unknown>, errorKey: string): boolean {
  for (const key in fields) {
    if (isRedactedKey(key) || serializers[key] !== undefined || key === errorKey) return false;
    const v = fields[key];
    if (typeof v === 'object' && v !== null) {
      if (!Array.isArray(v)) return false;
      for (const item of v) if (typeof item !== 'string') return false;
    }
  }
  return true;
}

/** A log destination that joins the lines of one event-loop turn into one write. */
export interface TurnBatchedDestination extends DestinationStream {
  /** Writes what is pending now (at exit, before a fatal write). */
  flush(): void;
}

export interface TurnBatchedOptions {
  /**
   * Also write what is pending when the process exits (`process.exit`, an uncaught exception).
   * The `exit` hook is held only while lines are pending, so no listener outlives a turn.
   */
  readonly flushOnExit?: boolean;
}

/**
 * Joins the lines written during one event-loop turn into one `write` at the end of the turn
 * (`setImmediate`), in order. Standard output of a container is a pipe, and every write to a
 * pipe wakes its reader: one write per review line cost 9-23 % more CPU per request at
 * saturation (docs/benchmarks.md, decision 24). A process that dies without running its `exit`
 * handlers (SIGKILL, an OOM kill) loses the lines of that one turn.
 *
 * @example const out = turnBatched((chunk) => process.stdout.write(chunk), { flushOnExit: true });
 */
export function turnBatched(write: (chunk: string) => unknown, options: TurnBatchedOptions = {}): TurnBatchedDestination {
  let pending: string[] = [];
  let scheduled: NodeJS.Immediate | undefined;
  const onExit = (): void => flush();
  const flush = (): void => {
    if (scheduled !== undefined) {
      clearImmediate(scheduled);
      scheduled = undefined;
      if (options.flushOnExit) process.removeListener('exit', onExit);
    }
    if (pending.length === 0) return;
    const lines = pending;
    pending = [];
    write(lines.length === 1 ? (lines[0] as string) : lines.join(''));
  };
  return {
    write(line: string) {
      pending.push(line);
      if (scheduled === undefined) {
        scheduled = setImmediate(flush);
        if (options.flushOnExit) process.once('exit', onExit);
      }
    },
    flush,
  };
}

/**
 * The `time` field as pino's default writes it (`,"time":<ms since the epoch>`), without going
 * through V8's number-to-string cache. A template literal or `String(n)` of a number the cache
 * does not hold puts the new string in the cache, and V8 allocates cached strings in the old
 * generation: some 32 bytes there per log line, since every millisecond is a new number. At
 * 1,000 reviews/s that alone grew the old generation by ~2 MB/min, to be reclaimed by
 * mark-compacts (docs/benchmarks.md, decision 26). `toFixed(0)` writes the same digits for an
 * integer and leaves the string in the young generation.
 */
export const epochTime = (): string => `,"time":${Date.now().toFixed(0)}`;

/** Log levels `--log-level` accepts. */
export const LOG_LEVELS: readonly string[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

export interface LoggerOptions {
  /** Default `info`. */
  readonly level?: string;
}

/**
 * Creates the logger. Without `destination` it writes to standard output synchronously, so no
 * line is lost when the process exits; tests pass a sink and parse the lines.
 *
 * @example const log = createLogger({ level: 'debug' }, { write: (line) => lines.push(line) });
 */
export function createLogger(options: LoggerOptions = {}, destination?: DestinationStream): Logger {
  const level = options.level ?? 'info';
  if (!LOG_LEVELS.includes(level)) throw new Error(`unknown log level "${level}" (one of ${LOG_LEVELS.join(', ')})`);
  const logger = pino(
    {
      level: level as Level,
      base: { pid: process.pid },
      timestamp: epochTime,
      formatters: {
        level: (label) => ({ level: label }),
        log: (object) => redactSecrets(object) as Record<string, unknown>,
      },
      // Error objects are reduced to type and message (`redactSecrets` does it first): stacks
      // can quote input in some engines.
      serializers: { err: (e: unknown) => (e instanceof Error ? { type: e.name, message: e.message } : e) },
      // printf-style arguments (`log.info('%j', obj)`) would put objects into msg, past the
      // redaction: they are dropped, only the merging object and the message are logged.
      hooks: {
        logMethod(args, method) {
          const keep = typeof args[0] === 'object' && args[0] !== null ? 2 : 1;
          return method.apply(this, args.slice(0, keep) as Parameters<typeof method>);
        },
      },
    },
    destination ?? pino.destination({ dest: 1, sync: true }),
  );
  // pino applies no formatter to a child's bindings: redact them when the child is made.
  const child = logger.child;
  logger.child = function redactedChild(this: Logger, bindings, childOptions) {
    return child.call(this, redactSecrets(bindings) as typeof bindings, childOptions);
  } as typeof logger.child;
  return logger;
}
