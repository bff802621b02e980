/**
 * Summarizes a V8 CPU profile (the `.cpuprofile` JSON the inspector's Profiler.stop returns):
 * self time per function and per category (node's TLS and HTTP, JSON, pino, the engine, ...),
 * as shares of the busy (non-idle) time. Used by bench/http.ts; also runnable on a file:
 * `npx tsx bench/profile.ts file.cpuprofile [top]`.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}
interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
}
export interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples?: readonly number[];
  readonly timeDeltas?: readonly number[];
}

export interface ProfileRow {
  readonly name: string;
  readonly selfMs: number;
  /** Share of busy time, 0-1. */
  readonly share: number;
}

export interface ProfileSummary {
  readonly totalMs: number;
  readonly busyMs: number;
  readonly functions: readonly ProfileRow[];
  readonly categories: readonly ProfileRow[];
}

/** Where bench/build.ts puts the compiled children (inside node_modules: checked first). */
const BUILD_DIR = '/node_modules/.cache/tokenguard-bench/';

/** Where a frame's code lives, in a few words. */
export function category(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (functionName === '(garbage collector)') return 'GC';
  if (functionName === '(program)') return 'V8/native, unattributed';
  if (functionName === '(idle)') return 'idle';
  if (url === '') return `builtin ${functionName || '(anonymous)'}`;
  const build = url.indexOf(BUILD_DIR);
  if (build !== -1) {
    const rel = url.slice(build + BUILD_DIR.length);
    return rel.startsWith('src/') ? `tokenguard ${rel.slice(4).split('/')[0]?.replace(/\.js$/, '')}` : 'benchmark harness';
  }
  const nm = url.lastIndexOf('/node_modules/');
  if (nm !== -1) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return `npm ${rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]}`;
  }
  if (url.startsWith('node:')) {
    if (/tls|crypto/.test(url)) return 'node TLS';
    if (/http|llhttp/.test(url)) return 'node HTTP';
    if (/stream/.test(url)) return 'node streams';
    if (/buffer/.test(url)) return 'node Buffer';
    return 'node other';
  }
  const src = url.indexOf('/src/');
  if (src !== -1) return `tokenguard ${url.slice(src + 5).split('/')[0]?.replace(/\.js$/, '')}`;
  const bench = url.indexOf('/bench/');
  if (bench !== -1) return 'benchmark harness';
  return 'other';
}

function shortLocation(frame: CallFrame): string {
  const { url, lineNumber } = frame;
  if (url === '') return '';
  const nm = url.lastIndexOf('/node_modules/');
  const build = url.indexOf(BUILD_DIR);
  const path = build !== -1 ? url.slice(build + BUILD_DIR.length) : nm !== -1 ? url.slice(nm + 14) : url.replace(/^file:\/\//, '');
  return `${path}:${lineNumber + 1}`;
}

export function summarize(profile: CpuProfile, top = 25): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    const id = samples[i] as number;
    // timeDeltas[i] is the time before sample i; the time a sample stands for is the next delta.
    const us = deltas[i + 1] ?? deltas[i] ?? 0;
    self.set(id, (self.get(id) ?? 0) + us);
  }
  const fns = new Map<string, number>();
  const cats = new Map<string, number>();
  let totalUs = 0;
  let idleUs = 0;
  for (const [id, us] of self) {
    const frame = byId.get(id)?.callFrame;
    if (!frame) continue;
    totalUs += us;
    const cat = category(frame);
    if (cat === 'idle') {
      idleUs += us;
      continue;
    }
    const loc = shortLocation(frame);
    const name = `${frame.functionName || '(anonymous)'}${loc ? ` ${loc}` : ''}`;
    fns.set(name, (fns.get(name) ?? 0) + us);
    const c = cat.startsWith('builtin ') ? 'builtins (JSON, Buffer, RegExp, ...)' : cat;
    cats.set(c, (cats.get(c) ?? 0) + us);
  }
  const busyUs = totalUs - idleUs;
  const rows = (m: Map<string, number>, n: number): ProfileRow[] =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, us]) => ({ name, selfMs: us / 1000, share: busyUs > 0 ? us / busyUs : 0 }));
  return { totalMs: totalUs / 1000, busyMs: busyUs / 1000, functions: rows(fns, top), categories: rows(cats, 40) };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: tsx bench/profile.ts file.cpuprofile [top]\n');
    process.exit(2);
  }
  const s = summarize(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, Number(process.argv[3] ?? 30));
  const pct = (x: number) => `${(x * 100).toFixed(1).padStart(5)}%`;
  process.stdout.write(`busy ${s.busyMs.toFixed(0)} ms of ${s.totalMs.toFixed(0)} ms\n\ncategories:\n`);
  for (const r of s.categories) process.stdout.write(`  ${pct(r.share)}  ${r.name}\n`);
  process.stdout.write('\nfunctions (self time):\n');
  for (const r of s.functions) process.stdout.write(`  ${pct(r.share)}  ${r.name}\n`);
}
