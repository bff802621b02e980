/**
 * Every CEL function the exporter emits is one the offline evaluator (src/export/evaluate.ts,
 * `tokenguard test --engine vap`) has: the expressions of every exported object of the shipped
 * policies and of every golden policy set are parsed and each call in them (name, method or
 * global, number of arguments) is looked up in the evaluator's functions. Evaluating the
 * expressions on fixtures would not do: a call in a branch no fixture takes is never made. A
 * function the evaluator lacks (say `optional.of`, `isSorted` or `cel.bind`) fails here with the
 * object and expression that emit it (docs/vap.md "Which CEL evaluator, and what it lacks").
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from '@bufbuild/cel';
import type { Expr } from '@bufbuild/cel-spec/cel/expr/syntax_pb.js';
import { celFunctionKnown, rewriteJsonPatch } from '../../../src/export/evaluate.js';
import { exportedObjects, exportPolicies } from '../../../src/export/export.js';
import { policySet, REPO } from '../../helpers/fixtures.js';

/** Operators the evaluator's planner evaluates itself, not through its function table. */
const BUILT_INTO_THE_PLANNER = new Set(['_&&_', '_||_', '_?_:_', '_[_]', '@not_strictly_false']);

interface Call {
  readonly name: string;
  readonly member: boolean;
  readonly arity: number;
}

/** Every call in an expression tree (macros are already expanded into comprehensions by the parser). */
function calls(e: Expr | undefined, out: Call[] = []): Call[] {
  if (!e) return out;
  const k = e.exprKind;
  switch (k.case) {
    case 'callExpr':
      out.push({ name: k.value.function, member: k.value.target !== undefined, arity: k.value.args.length });
      calls(k.value.target, out);
      for (const a of k.value.args) calls(a, out);
      break;
    case 'selectExpr':
      calls(k.value.operand, out);
      break;
    case 'listExpr':
      for (const x of k.value.elements) calls(x, out);
      break;
    case 'structExpr':
      for (const x of k.value.entries) {
        if (x.keyKind.case === 'mapKey') calls(x.keyKind.value, out);
        calls(x.value, out);
      }
      break;
    case 'comprehensionExpr':
      for (const x of [k.value.iterRange, k.value.accuInit, k.value.loopCondition, k.value.loopStep, k.value.result])
        calls(x, out);
      break;
    default:
      break;
  }
  return out;
}

/** Every CEL expression in an exported object, with where it is. */
function expressions(
  o: unknown,
  path: string,
  out: { where: string; expression: string }[] = [],
): { where: string; expression: string }[] {
  if (Array.isArray(o)) {
    for (const [i, x] of o.entries()) expressions(x, `${path}[${i}]`, out);
  } else if (o !== null && typeof o === 'object') {
    for (const [k, v] of Object.entries(o)) {
      if (typeof v === 'string' && /^(expression|messageExpression|valueExpression)$/.test(k))
        out.push({ where: `${path}.${k}`, expression: v });
      else expressions(v, `${path}.${k}`, out);
    }
  }
  return out;
}

const SETS = ['shipped', ...readdirSync(join(REPO, 'test', 'fixtures', 'policies')).sort()];

function exported(set: string): { where: string; expression: string }[] {
  const result = exportPolicies(policySet(set));
  return [...exportedObjects(result, 'validating'), ...exportedObjects(result, 'mutating')].flatMap((o) =>
    expressions(o.spec, `${set}: ${o.kind} ${o.metadata.name}.spec`),
  );
}

test.each(SETS)(
  'policy set %s: every CEL function the exported objects call is one the offline evaluator has',
  (set) => {
    const all = exported(set);
    const missing: string[] = [];
    for (const { where, expression } of all) {
      for (const c of calls(parse(rewriteJsonPatch(expression)).expr)) {
        if (BUILT_INTO_THE_PLANNER.has(c.name) || celFunctionKnown(c.name, c.member, c.arity)) continue;
        missing.push(`${c.member ? `<target>.${c.name}` : c.name}(${c.arity} arguments) in ${where}`);
      }
    }
    expect(missing).toEqual([]);
  },
);

test('the walk sees the calls the exporter is known to emit (a walk that finds nothing proves nothing)', () => {
  const seen = new Set(
    SETS.flatMap(exported).flatMap(({ expression }) =>
      calls(parse(rewriteJsonPatch(expression)).expr).map((c) => `${c.member ? '.' : ''}${c.name}/${c.arity}`),
    ),
  );
  // Kubernetes' list indexOf, the strings extension's join and replace, and standard functions.
  for (const c of ['.indexOf/1', '.join/1', '.replace/2', '.matches/1', '.startsWith/1', 'size/1', '@in/2', '_==_/2'])
    expect(seen).toContain(c);
});

test('a function the evaluator lacks is reported, and the planner operators are really the planner own', () => {
  expect(celFunctionKnown('isSorted', true, 0)).toBe(false);
  expect(celFunctionKnown('of', true, 1)).toBe(false);
  expect(celFunctionKnown('indexOf', true, 1)).toBe(true);
  expect(calls(parse('[1].all(x, x > 0) && (true || false) ? [2][0] : 3').expr).map((c) => c.name)).toEqual(
    expect.arrayContaining([...BUILT_INTO_THE_PLANNER]),
  );
});
