/**
 * The server's structured logger: pino, one JSON object per line, through pino's public options
 * only.
 *
 * The first defence against leaking Secrets is what we log: allow-listed summaries (uid, kind,
 * namespace, name, operation, user, decision), never an AdmissionReview, an object or a request
 * body (docs/reliability.md "No Secret data in logs"; kyverno#1334, knative/pkg#1397). Redaction
 * is the second layer, for the day someone logs more than they should.
 *
 * Why not pino's `redact` option: it matches exact paths only (a Secret logged one level deeper
 * than a path names is printed in clear), and its wildcard paths are slow. So redaction is a
 * `formatters.log` hook instead: it blanks the value of every key named in {@link REDACTED_KEYS}
 * at *any* depth (a superset of the paths `req.headers.authorization`, `*.data`, `*.stringData`,
 * `*.token`, `*.object`, `*.oldObject` and the last-applied annotation), and returns a clean line
 * as it is. pino applies no formatter to a child logger's bindings, so child loggers are made by
 * {@link childLogger}, which redacts them first.
 */
import pino, { type Bindings, type DestinationStream, type Level, type Logger } from 'pino';

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
 * pipe wakes its reader, so one write per line costs every request more CPU at saturation
 * (docs/decisions.md "Performance"). A process that dies without running its `exit` handlers
 * (SIGKILL, an OOM kill) loses the lines of that one turn.
 *
 * @example const out = turnBatched((chunk) => process.stdout.write(chunk), { flushOnExit: true });
 */
export function turnBatched(
  write: (chunk: string) => unknown,
  options: TurnBatchedOptions = {},
): TurnBatchedDestination {
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
  return pino(
    {
      level: level as Level,
      base: { pid: process.pid },
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
}

/**
 * A child logger of `parent` whose bindings are written on each of its lines, redacted as log
 * lines are ({@link redactSecrets}): pino's `formatters.log` does not see bindings. The only way
 * src/ makes child loggers (the architecture test holds it to that).
 *
 * @example const log = childLogger(logger, { component: 'facts' });
 */
export function childLogger(parent: Logger, bindings: Bindings): Logger {
  return parent.child(redactSecrets(bindings) as Bindings);
}
