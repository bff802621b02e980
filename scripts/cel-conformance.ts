/**
 * The cel-spec conformance tests (the simple-test files of `@bufbuild/cel-spec`, cel-spec
 * v0.25.1) run through the two CEL evaluators on npm: `@bufbuild/cel` (the one
 * `tokenguard test --engine vap` uses, src/export/evaluate.ts) and `@marcbachmann/cel-js` (a
 * devDependency for this comparison only). docs/vap.md "Which CEL evaluator, and what it lacks"
 * has the figures.
 *
 *   npx tsx scripts/cel-conformance.ts [--sections] [--json FILE]
 *
 * Per test file (and per section with --sections): passed, failed (a value other than the
 * expected one, or a value where an error was expected), errored (an error or exception where a
 * value was expected, including expressions the evaluator cannot parse), and skipped (tests of
 * the type checker only, or of unknowns, which neither evaluator has). Each evaluator gets what it
 * offers for the extension files: `@bufbuild/cel` its `strings` extension and the test protobuf
 * registry; cel-js its defaults with optional types on, heterogeneous literals allowed and
 * undeclared variables as `dyn`. cel-js has no protobuf messages: tests that bind or expect one
 * count as errored for it, and the "no protobuf" total leaves them out for both.
 *
 * Values are compared after normalization: integers, uints, doubles (NaN equal to NaN), strings,
 * bytes, lists, maps (keys by their text: cel-js returns maps with integer keys as objects),
 * timestamps and durations as nanoseconds, types by name, messages by their JSON.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  type CelInput,
  type CelValue,
  celEnv,
  isCelError,
  isCelList,
  isCelMap,
  isCelType,
  isCelUint,
  parse,
  plan,
} from '@bufbuild/cel';
import { strings } from '@bufbuild/cel/ext';
import type { Value } from '@bufbuild/cel-spec/cel/expr/value_pb.js';
import type { SimpleTest } from '@bufbuild/cel-spec/cel/expr/conformance/test/simple_pb.js';
import { getTestRegistry } from '@bufbuild/cel-spec/testdata/registry.js';
import { getConformanceSuite, type IncrementalTestSuite } from '@bufbuild/cel-spec/testdata/tests.js';
import { type DescMessage, type Message, type Registry, toJson } from '@bufbuild/protobuf';
import { anyUnpack } from '@bufbuild/protobuf/wkt';
import { Environment, evaluate as celJsEvaluate } from '@marcbachmann/cel-js';

const { values: args } = parseArgs({
  options: { sections: { type: 'boolean', default: false }, json: { type: 'string' } },
});

type Outcome = 'passed' | 'failed' | 'errored' | 'skipped';
type Evaluator = 'bufbuild' | 'celjs';
const EVALUATORS: Record<Evaluator, string> = { bufbuild: '@bufbuild/cel 0.6.1', celjs: '@marcbachmann/cel-js 8.0.0' };

const registry: Registry = getTestRegistry();

/** Thrown when a test needs what an evaluator cannot be given (cel-js: protobuf messages). */
class Unsupported extends Error {}

// ------------------------------------------------------------------ normalized values

type Norm = string | boolean | null | Norm[] | { map: [string, Norm][] };

function nanos(seconds: bigint, n: number): string {
  return `${seconds * 1_000_000_000n + BigInt(n)}`;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const double = (n: number) => `double:${Number.isNaN(n) ? 'NaN' : Object.is(n, -0) ? '0' : String(n)}`;
const mapNorm = (entries: [unknown, Norm][]): Norm => ({
  map: entries
    .map(([k, v]) => [String(k), v] as [string, Norm])
    .sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0)),
});

/** A message as CEL sees it: well-known types as their CEL value, others by JSON. */
function messageNorm(desc: DescMessage, message: Message): Norm {
  const m = message as unknown as Record<string, unknown>;
  switch (desc.typeName) {
    case 'google.protobuf.Timestamp':
      return `ts:${nanos(BigInt(m.seconds as bigint), Number(m.nanos ?? 0))}`;
    case 'google.protobuf.Duration':
      return `dur:${nanos(BigInt(m.seconds as bigint), Number(m.nanos ?? 0))}`;
    case 'google.protobuf.Int32Value':
    case 'google.protobuf.Int64Value':
      return `int:${m.value}`;
    case 'google.protobuf.UInt32Value':
    case 'google.protobuf.UInt64Value':
      return `uint:${m.value}`;
    case 'google.protobuf.FloatValue':
    case 'google.protobuf.DoubleValue':
      return double(Number(m.value));
    case 'google.protobuf.StringValue':
      return `string:${m.value}`;
    case 'google.protobuf.BoolValue':
      return m.value as boolean;
    case 'google.protobuf.BytesValue':
      return `bytes:${hex(m.value as Uint8Array)}`;
    case 'google.protobuf.Value':
    case 'google.protobuf.Struct':
    case 'google.protobuf.ListValue':
      return jsonNorm(toJson(desc, message, { registry }));
    default:
      return `msg:${desc.typeName}:${JSON.stringify(jsonNorm(toJson(desc, message, { registry })))}`;
  }
}

function jsonNorm(j: unknown): Norm {
  if (j === null) return null;
  if (typeof j === 'number') return double(j);
  if (typeof j === 'string') return `string:${j}`;
  if (typeof j === 'boolean') return j;
  if (Array.isArray(j)) return j.map(jsonNorm);
  return mapNorm(Object.entries(j as Record<string, unknown>).map(([k, v]) => [k, jsonNorm(v)]));
}

/** The expected value of a test. */
function expectedNorm(v: Value): Norm {
  const k = v.kind;
  switch (k.case) {
    case 'nullValue':
      return null;
    case 'boolValue':
      return k.value;
    case 'int64Value':
      return `int:${k.value}`;
    case 'uint64Value':
      return `uint:${k.value}`;
    case 'doubleValue':
      return double(k.value);
    case 'stringValue':
      return `string:${k.value}`;
    case 'bytesValue':
      return `bytes:${hex(k.value)}`;
    case 'enumValue':
      return `int:${k.value.value}`;
    case 'objectValue': {
      const m = anyUnpack(k.value, registry);
      if (!m) throw new Error(`no type for ${k.value.typeUrl}`);
      const desc = registry.getMessage(m.$typeName);
      if (!desc) throw new Error(`no type for ${m.$typeName}`);
      return messageNorm(desc, m);
    }
    case 'mapValue':
      return mapNorm(k.value.entries.map((e) => [stringKey(e.key as Value), expectedNorm(e.value as Value)]));
    case 'listValue':
      return k.value.values.map(expectedNorm);
    case 'typeValue':
      return `type:${k.value}`;
    default:
      throw new Error(`value kind ${String(k.case)}`);
  }
}

/** A map key's text: a string as itself, any other scalar as CEL prints it. */
function stringKey(v: Value): string {
  const k = v.kind;
  return k.case === 'stringValue' ? k.value : String(k.value);
}

// ------------------------------------------------------------------ @bufbuild/cel

function bufInput(v: Value): CelInput {
  const k = v.kind;
  switch (k.case) {
    case 'nullValue':
      return null;
    case 'boolValue':
    case 'int64Value':
    case 'doubleValue':
    case 'stringValue':
    case 'bytesValue':
      return k.value as CelInput;
    case 'uint64Value':
      return { __celUint: k.value } as unknown as CelInput;
    case 'enumValue':
      return BigInt(k.value.value);
    case 'objectValue': {
      const m = anyUnpack(k.value, registry);
      if (!m) throw new Error(`no type for ${k.value.typeUrl}`);
      return m as CelInput;
    }
    case 'mapValue':
      return new Map(k.value.entries.map((e) => [bufInput(e.key as Value), bufInput(e.value as Value)])) as CelInput;
    case 'listValue':
      return k.value.values.map(bufInput);
    default:
      throw new Unsupported(`binding of kind ${String(k.case)}`);
  }
}

function bufNorm(v: unknown): Norm {
  if (v === null) return null;
  if (typeof v === 'bigint') return `int:${v}`;
  if (typeof v === 'number') return double(v);
  if (typeof v === 'string') return `string:${v}`;
  if (typeof v === 'boolean') return v;
  if (v instanceof Uint8Array) return `bytes:${hex(v)}`;
  const c = v as CelValue;
  if (isCelUint(c)) return `uint:${c.value}`;
  if (isCelType(c)) return `type:${c.name}`;
  if (isCelList(c)) return [...c].map(bufNorm);
  if (isCelMap(c))
    return mapNorm(
      [...c.entries()].map(([key, x]) => [
        isCelUint(key as CelValue) ? (key as { value: bigint }).value : key,
        bufNorm(x),
      ]),
    );
  const r = v as { kind?: string; desc?: DescMessage; message?: Message };
  if (r.desc?.kind === 'message' && r.message) return messageNorm(r.desc, r.message);
  throw new Error(`result of an unknown shape: ${String(v)}`);
}

/** The uint bindings, which @bufbuild/cel takes as its own uint values. */
async function bufBindings(t: SimpleTest): Promise<Record<string, CelInput>> {
  const { celUint } = await import('@bufbuild/cel');
  const fix = (x: unknown): unknown => {
    if (x && typeof x === 'object' && '__celUint' in x) return celUint((x as { __celUint: bigint }).__celUint);
    if (Array.isArray(x)) return x.map(fix);
    if (x instanceof Map) return new Map([...x.entries()].map(([k, y]) => [fix(k), fix(y)]));
    return x;
  };
  const out: Record<string, CelInput> = {};
  for (const [name, ev] of Object.entries(t.bindings)) {
    if (ev.kind.case !== 'value') throw new Unsupported(`binding ${name} is an ${ev.kind.case ?? 'empty'} ExprValue`);
    out[name] = fix(bufInput(ev.kind.value)) as CelInput;
  }
  return out;
}

async function runBufbuild(t: SimpleTest): Promise<{ value?: Norm; error?: string }> {
  const env = celEnv({ namespace: t.container, registry, funcs: [...strings] });
  try {
    const bindings = await bufBindings(t);
    const r = plan(env, parse(t.expr))(bindings);
    if (isCelError(r as CelValue)) return { error: (r as { message: string }).message };
    return { value: bufNorm(r) };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

// ------------------------------------------------------------------ @marcbachmann/cel-js

const celJs = new Environment({
  unlistedVariablesAreDyn: true,
  enableOptionalTypes: true,
  homogeneousAggregateLiterals: false,
});
// Its uint class is not exported: taken from a value.
const CelJsUint = (celJsEvaluate('1u') as object).constructor as new (v: bigint) => unknown;

function celJsInput(v: Value): unknown {
  const k = v.kind;
  switch (k.case) {
    case 'nullValue':
      return null;
    case 'boolValue':
    case 'int64Value':
    case 'doubleValue':
    case 'stringValue':
    case 'bytesValue':
      return k.value;
    case 'uint64Value':
      return new CelJsUint(k.value);
    case 'enumValue':
      return BigInt(k.value.value);
    case 'mapValue':
      return new Map(k.value.entries.map((e) => [celJsInput(e.key as Value), celJsInput(e.value as Value)]));
    case 'listValue':
      return k.value.values.map(celJsInput);
    default:
      throw new Unsupported(`a ${String(k.case)} binding (cel-js has no protobuf messages)`);
  }
}

function celJsNorm(v: unknown): Norm {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return `int:${v}`;
  if (typeof v === 'number') return double(v);
  if (typeof v === 'string') return `string:${v}`;
  if (typeof v === 'boolean') return v;
  if (v instanceof Uint8Array) return `bytes:${hex(v)}`;
  if (v instanceof Date) return `ts:${BigInt(v.getTime()) * 1_000_000n}`;
  if (Array.isArray(v)) return v.map(celJsNorm);
  if (v instanceof Map)
    return mapNorm([...v.entries()].map(([k, x]) => [k instanceof CelJsUint ? String(k) : k, celJsNorm(x)]));
  const name = (v as object).constructor?.name;
  if (name === 'UnsignedInt') return `uint:${String(v)}`;
  if (name === 'Duration') {
    const d = v as { seconds: bigint; nanos: number };
    return `dur:${nanos(d.seconds, d.nanos)}`;
  }
  if (name === 'Type') return `type:${String(v).replace(/^Type<(.*)>$/, '$1')}`;
  if (name === 'Object')
    return mapNorm(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, celJsNorm(x)]));
  throw new Error(`result of an unknown shape: ${name}`);
}

function runCelJs(t: SimpleTest): { value?: Norm; error?: string; unsupported?: boolean } {
  try {
    const ctx: Record<string, unknown> = {};
    for (const [name, ev] of Object.entries(t.bindings)) {
      if (ev.kind.case !== 'value') throw new Unsupported(`binding ${name} is an ${ev.kind.case ?? 'empty'} ExprValue`);
      ctx[name] = celJsInput(ev.kind.value);
    }
    return { value: celJsNorm(celJs.evaluate(t.expr, ctx)) };
  } catch (e) {
    return { error: (e as Error).message, ...(e instanceof Unsupported ? { unsupported: true } : {}) };
  }
}

// ------------------------------------------------------------------ the suite

/** What the test expects: a value, an error, or nothing to evaluate (skipped). */
function expectation(t: SimpleTest): { value: Norm } | { error: true } | { skip: string } {
  if (t.checkOnly) return { skip: 'type checking only' };
  const m = t.resultMatcher;
  switch (m.case) {
    case undefined:
      return { value: true };
    case 'value':
      return { value: expectedNorm(m.value) };
    case 'typedResult':
      return m.value.result ? { value: expectedNorm(m.value.result) } : { skip: 'type only' };
    case 'evalError':
    case 'anyEvalErrors':
      return { error: true };
    default:
      return { skip: 'unknowns' };
  }
}

/** True when the test binds or expects a protobuf message, or constructs one. */
function usesProtobuf(t: SimpleTest): boolean {
  const anyObject = (v: Value | undefined): boolean => {
    if (!v) return false;
    const k = v.kind;
    if (k.case === 'objectValue') return !/google\.protobuf\.(Timestamp|Duration)$/.test(k.value.typeUrl);
    if (k.case === 'listValue') return k.value.values.some(anyObject);
    if (k.case === 'mapValue') return k.value.entries.some((e) => anyObject(e.key) || anyObject(e.value));
    return false;
  };
  if (Object.values(t.bindings).some((b) => b.kind.case === 'value' && anyObject(b.kind.value))) return true;
  const m = t.resultMatcher;
  if (m.case === 'value' && anyObject(m.value)) return true;
  if (m.case === 'typedResult' && anyObject(m.value.result)) return true;
  return /\b(TestAllTypes|NestedTestAllTypes|google\.protobuf\.|proto2|proto3)\b/.test(t.expr) || t.container !== '';
}

const equal = (a: Norm, b: Norm) => JSON.stringify(a) === JSON.stringify(b);

interface Tally {
  passed: number;
  failed: number;
  errored: number;
  skipped: number;
}
const zero = (): Tally => ({ passed: 0, failed: 0, errored: 0, skipped: 0 });

interface Row {
  readonly file: string;
  readonly section: string;
  readonly protobuf: boolean;
  readonly outcomes: Record<Evaluator, Outcome>;
  /** What each evaluator answered when it did not pass (the --json output). */
  readonly details?: Partial<Record<Evaluator, string>>;
  readonly name?: string;
  readonly expr?: string;
}

async function judge(
  t: SimpleTest,
): Promise<{ outcomes: Record<Evaluator, Outcome>; protobuf: boolean; details: Partial<Record<Evaluator, string>> }> {
  let want: ReturnType<typeof expectation>;
  try {
    want = expectation(t);
  } catch {
    want = { skip: 'expected value not representable' };
  }
  const protobuf = usesProtobuf(t);
  if ('skip' in want) return { outcomes: { bufbuild: 'skipped', celjs: 'skipped' }, protobuf, details: {} };
  const verdict = (got: { value?: Norm; error?: string }): Outcome => {
    if ('error' in want) return got.error !== undefined ? 'passed' : 'failed';
    if (got.error !== undefined) return 'errored';
    return equal(got.value as Norm, want.value) ? 'passed' : 'failed';
  };
  const got = { bufbuild: await runBufbuild(t), celjs: runCelJs(t) };
  const outcomes = { bufbuild: verdict(got.bufbuild), celjs: verdict(got.celjs) };
  const details: Partial<Record<Evaluator, string>> = {};
  for (const e of Object.keys(got) as Evaluator[])
    if (outcomes[e] !== 'passed') details[e] = got[e].error ?? JSON.stringify(got[e].value);
  return { outcomes, protobuf, details };
}

async function main(): Promise<void> {
  const suite = getConformanceSuite();
  const rows: Row[] = [];
  const walk = async (s: IncrementalTestSuite, path: string[]) => {
    for (const t of s.tests) {
      const { outcomes, protobuf, details } = await judge(t.original);
      rows.push({
        file: path[0] ?? s.name,
        section: path.slice(1).join('/') || s.name,
        protobuf,
        outcomes,
        ...(Object.keys(details).length > 0 ? { name: t.name, expr: t.original.expr, details } : {}),
      });
    }
    for (const sub of s.suites) await walk(sub, [...path, sub.name]);
  };
  for (const file of suite.suites) await walk(file, [file.name]);

  const tally = (rs: Row[], e: Evaluator) => {
    const t = zero();
    for (const r of rs) t[r.outcomes[e]] += 1;
    return t;
  };
  const cell = (t: Tally) => `${t.passed} / ${t.failed} / ${t.errored}`;
  const out: string[] = [
    `cel-spec conformance (simple tests of @bufbuild/cel-spec 0.6.1): passed / failed / errored`,
    '',
    `| file${args.sections ? ' / section' : ''} | tests | skipped | ${EVALUATORS.bufbuild} | ${EVALUATORS.celjs} |`,
    '|---|---:|---:|---:|---:|',
  ];
  const files = [...new Set(rows.map((r) => r.file))];
  for (const f of files) {
    const rs = rows.filter((r) => r.file === f);
    out.push(
      `| ${f} | ${rs.length} | ${tally(rs, 'bufbuild').skipped} | ${cell(tally(rs, 'bufbuild'))} | ${cell(tally(rs, 'celjs'))} |`,
    );
    if (args.sections) {
      for (const sec of [...new Set(rs.map((r) => r.section))]) {
        const ss = rs.filter((r) => r.section === sec);
        out.push(
          `| ${f} / ${sec} | ${ss.length} | ${tally(ss, 'bufbuild').skipped} | ${cell(tally(ss, 'bufbuild'))} | ${cell(tally(ss, 'celjs'))} |`,
        );
      }
    }
  }
  const plain = rows.filter((r) => !r.protobuf);
  out.push(
    `| **all** | ${rows.length} | ${tally(rows, 'bufbuild').skipped} | ${cell(tally(rows, 'bufbuild'))} | ${cell(tally(rows, 'celjs'))} |`,
  );
  out.push(
    `| **no protobuf messages** | ${plain.length} | ${tally(plain, 'bufbuild').skipped} | ${cell(tally(plain, 'bufbuild'))} | ${cell(tally(plain, 'celjs'))} |`,
  );
  process.stdout.write(`${out.join('\n')}\n`);
  if (args.json) writeFileSync(args.json, `${JSON.stringify(rows, null, 1)}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`cel-conformance: ${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 1;
});
