/**
 * The HTTP benchmark's report (bench/http.ts): the types of its results JSON, and the Markdown
 * of a run or a soak made from them. Pure functions of the JSON, so `--render FILE` re-renders
 * an earlier run, and older results JSON (fields it predates) shows those fields as unknown.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ExpectedAnswer } from './bodies.js';
import type { FixedResult, Percentiles, SaturateResult } from './http-load.js';
import type { WindowStats } from './http-server.js';
import type { RssParts } from './proc-status.js';
import type { ProfileSummary } from './profile.js';

/** What the report reads of the run's configuration (`meta.config` of the results JSON). */
export interface BenchConfig {
  readonly rounds: number;
  readonly seconds: number;
  readonly fixedRounds: number;
  readonly fixedSeconds: number;
  readonly fixedWarmSeconds: number;
  readonly rate: number;
  readonly connections: readonly number[];
}

/** The median of the finite values; NaN when there is none. */
export const median = (xs: readonly number[]): number => {
  const s = [...xs].filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

/** `baseline`, `tokenguard`, or `tokenguard[<variant>]` / `baseline[<variant>]` for an experiment (--variants). */
export type ServerKind = string;
/** `--variants` entries are `variant` (of tokenguard) or `baseline:variant`. */
export const variantId = (v: string) => (v.startsWith('baseline:') ? `baseline[${v.slice(9)}]` : `tokenguard[${v.replace(/^tokenguard:/, '')}]`);

export interface SaturationRound {
  readonly round: number;
  readonly server: ServerKind;
  readonly load: SaturateResult;
  readonly stats: WindowStats;
}
export interface HandshakeRound {
  readonly round: number;
  readonly cert: string;
  readonly mode: 'new-connection' | 'keep-alive';
  readonly requests: number;
  readonly cpuUs: number;
  readonly p50Ms: number;
}
export interface FixedRound {
  readonly round: number;
  readonly server: ServerKind;
  readonly load: FixedResult;
  readonly stats: WindowStats;
}

/** What one server answered to one body before the measurements: decisions only, no patch, no message. */
export interface AnswerCheck {
  readonly server: ServerKind;
  readonly body: string;
  /** `decision`: status, uid, allowed and patch checked against the body's `expect`; `status+uid`: a canned answer, status and uid only. */
  readonly checked: 'decision' | 'status+uid';
  /** HTTP status; 0 when no answer came. */
  readonly status: number;
  /** `canned`: the canned answer's uid, which only the typical body has. */
  readonly uid: 'echoed' | 'canned' | 'other' | 'missing';
  /** `response.allowed`; undefined when the answer is no AdmissionReview. */
  readonly allowed?: boolean;
  /** Whether the response carries a JSON Patch of at least one operation. */
  readonly patched?: boolean;
  readonly patchType?: string;
}

export const decisionText = (allowed: boolean | undefined, patched: boolean | undefined) =>
  allowed === undefined ? 'no decision' : `${allowed ? 'allowed' : 'denied'}${patched ? ' + patch' : ''}`;

/** One slice of a soak run: the fixed rate for `soakSliceSeconds`, and the server's state at its end. */
export interface SoakSlice {
  readonly minute: number;
  /** The generator's result for the slice (its latency histogram is merged into the run's `latency`, not kept). */
  readonly load: FixedResult;
  readonly stats: WindowStats;
  readonly heapUsed: number;
  readonly heapTotal: number;
  readonly external: number;
}
export interface SoakRun {
  readonly server: ServerKind;
  readonly minutes: number;
  readonly rssBefore: number;
  readonly slices: SoakSlice[];
  /**
   * Latency over the whole run, ms: the percentiles of the slices' histograms merged (at most 1 µs
   * or 0.1% above the exact value; count, mean and max exact). Missing in older soak JSON.
   */
  readonly latency?: Percentiles;
  /** How the run was made. Missing in older soak JSON. */
  readonly meta?: { readonly command: string; readonly date: string; readonly node: string; readonly cpu: string; readonly rate: number; readonly sliceSeconds: number; readonly tokenguardStart?: TokenguardStart };
  /** This server's answers in the check before measuring. Missing in older soak JSON. */
  readonly answers?: AnswerCheck[];
}

/** Least-squares slope of y over x. */
export function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length;
  if (n < 2) return Number.NaN;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += ((xs[i] as number) - mx) * ((ys[i] as number) - my);
    den += ((xs[i] as number) - mx) ** 2;
  }
  return den === 0 ? Number.NaN : num / den;
}

/** A slope with its sign; n/a with fewer than two slices in the second half. */
export const signed = (x: number) => (Number.isFinite(x) ? `${x >= 0 ? '+' : ''}${x.toFixed(2)}` : 'n/a');

/** Slice ends in minutes: 0.5, 1.0, … for 30-s slices; two decimals for shorter ones. */
export const minuteText = (m: number) => (Number.isInteger(m * 2) ? m.toFixed(1) : m.toFixed(2));

/** How the tokenguard processes of a run were started (`meta.tokenguardStart`; bench/image-start.ts). */
export interface TokenguardStart {
  readonly nodeFlags: readonly string[];
  readonly nodeOptions: string;
}

/** How tokenguard was started, for the reports; results from before it was recorded ran plain `node`. */
export function startText(start: unknown): string {
  const s = start as Partial<TokenguardStart> | undefined;
  if (!s?.nodeFlags) return 'tokenguard started with plain `node` (results from before the image set Node.js flags)';
  return `tokenguard started as the image and the Deployment start it (\`node ${[...s.nodeFlags, 'dist/cli/main.js'].join(' ')}\`, NODE_OPTIONS=\`${s.nodeOptions ?? ''}\`; variant \`image=off\` without them)`;
}

/** The soak report. Older soak JSON (without `meta`, `latency`, failure kinds, answers) shows those as unknown. */
export function renderSoak(runs: readonly SoakRun[]): string {
  const out: string[] = [];
  const first = runs[0];
  const meta = first?.meta;
  const rate = meta?.rate ?? first?.slices[0]?.load.rate ?? Number.NaN;
  const sliceSeconds = meta?.sliceSeconds ?? first?.slices[0]?.load.seconds ?? Number.NaN;
  out.push(`### Soak: ${rate.toLocaleString('en-US')} requests/s without pause (\`npx tsx bench/http.ts --soak ${first?.minutes ?? 10}\`)`, '');
  out.push(
    `${meta ? `Node ${meta.node}, ${meta.cpu}` : 'Node and CPU not recorded (older soak JSON)'}; typical pod on /mutate, one pinned server core; ${startText(meta?.tokenguardStart)}; each row is one ${sliceSeconds}-s slice, measured at its end, and the last row the whole run.`,
    '',
  );
  const answers = runs.flatMap((run) => run.answers ?? []);
  out.push(answersLine(runs.some((run) => run.answers) ? answers : undefined), '');
  for (const run of runs) {
    const s = run.slices;
    const half = s.slice(Math.floor(s.length / 2));
    const rssSlope = slope(half.map((x) => x.minute), half.map((x) => x.stats.rssEnd / 1e6));
    const heapSlope = slope(half.map((x) => x.minute), half.map((x) => x.heapUsed / 1e6));
    const rss = s.map((x) => x.stats.rssEnd);
    const mc = s.reduce((a, x) => a + (x.stats.gc['mark-compact']?.count ?? 0), 0);
    const failures = fixedTotal(s.map((x) => x.load));
    const bad = s.filter((x) => fixedBad(x.load));
    out.push(`#### ${run.server}, ${run.minutes} minutes`, '');
    if (bad.length > 0) {
      out.push(
        `> **⚠ WARNING: requests without a 2xx answer in ${bad.length} of ${s.length} slices (minutes ${bad.map((x) => minuteText(x.minute)).join(', ')}): non-2xx / errors / timeouts ${failures}. The latency figures count them at their time to fail.**`,
        '',
      );
    }
    out.push(
      `RSS ${mb(run.rssBefore)} before, ${mb(Math.min(...rss))}–${mb(Math.max(...rss))} during, ${mb(rss[rss.length - 1] ?? 0)} at the end; second half: RSS ${signed(rssSlope)} MB/min, V8 heap used ${signed(heapSlope)} MB/min; ${mc} mark-compacts; ${failuresLine('', failures, bad.length)}`,
      '',
    );
    const l = run.latency;
    out.push(
      l
        ? `Whole run, ${fmt(l.count)} requests: p50 ${l.p50.toFixed(3)} ms, p99 ${l.p99.toFixed(3)} ms, p99.9 ${l.p999.toFixed(3)} ms, max ${l.max.toFixed(2)} ms: percentiles of the slices' latency histograms merged (at most 1 µs or 0.1% above the exact value), not averages of the slices' percentiles.`
        : `Whole run: percentiles not recorded (older soak JSON, before the slices' histograms were merged); the largest slice maximum is ${fmt(Math.max(...s.map((x) => x.load.latency.max)), 2)} ms.`,
      '',
    );
    out.push(
      '| minute | RSS | heap used | p50 ms | p99 ms | p99.9 ms | max ms | CPU (cores) | scavenges (max ms) | mark-compact | non-2xx / errors / timeouts |',
      '|---|---|---|---|---|---|---|---|---|---|---|',
    );
    for (const x of s) {
      out.push(
        `| ${minuteText(x.minute)} | ${mb(x.stats.rssEnd)} | ${mb(x.heapUsed)} | ${x.load.latency.p50.toFixed(3)} | ${x.load.latency.p99.toFixed(3)} | ${x.load.latency.p999.toFixed(3)} | ${x.load.latency.max.toFixed(2)} | ${coreShare(x.stats).toFixed(3)} | ${scavengeCell(x.stats)} | ${x.stats.gc['mark-compact']?.count ?? 0} | ${fixedCell(x.load)} |`,
      );
    }
    const scCount = s.reduce((a, x) => a + (x.stats.gc.scavenge?.count ?? 0), 0);
    const scMax = Math.max(0, ...s.map((x) => x.stats.gc.scavenge?.maxMs ?? 0));
    const cpu = s.reduce((a, x) => a + x.stats.cpuUs, 0) / 1000 / s.reduce((a, x) => a + x.stats.wallMs, 0);
    const pct3 = (v: number | undefined) => (v === undefined ? 'n/a' : v.toFixed(3));
    out.push(
      `| **whole run** | max ${mb(Math.max(...s.map((x) => x.stats.rssMax)))} | | ${pct3(l?.p50)} | ${pct3(l?.p99)} | ${pct3(l?.p999)} | ${fmt(l?.max ?? Math.max(...s.map((x) => x.load.latency.max)), 2)} | ${fmt(cpu, 3)} | ${s.some((x) => gcFromHeap(x.stats)) ? 'not counted' : `${scCount} (${scMax.toFixed(2)})`} | ${mc} | ${failures} |`,
      '',
    );
  }
  return out.join('\n');
}

export const cpuPerRequest = (s: WindowStats) => (s.requests > 0 ? s.cpuUs / s.requests : Number.NaN);
export const coreShare = (s: WindowStats) => s.cpuUs / 1000 / s.wallMs;

/** Whether the window's GC counts are falls of the old generation's size (`gc=heap`): mark-compacts only, no durations. */
const gcFromHeap = (s: WindowStats): boolean => s.gcSource === 'old-generation';
/** The scavenges cell: count (max ms), or why there is none. */
export const scavengeCell = (s: WindowStats): string => {
  if (gcFromHeap(s)) return 'not counted';
  const sc = s.gc.scavenge;
  return sc ? `${sc.count} (${fmt(sc.maxMs, 2)})` : '0';
};
/** The mark-compact cell: count (max ms), the count alone when durations were not measured. */
export const markCompactCell = (s: WindowStats): string => {
  const mc = s.gc['mark-compact'];
  if (!mc) return '0';
  return gcFromHeap(s) ? `${mc.count} (duration not measured)` : `${mc.count} (${fmt(mc.maxMs, 1)} ms)`;
};

/** Rows of the memory table for the private and file-backed parts of an RSS figure; none where unknown (older JSON, no /proc). */
export function rssPartRows(when: string, a: Partial<RssParts> | undefined, t: Partial<RssParts> | undefined): string[] {
  const known = (v: number | undefined): v is number => typeof v === 'number' && Number.isFinite(v);
  const rows: string[] = [];
  for (const [key, label] of [['rssAnon', 'private (RssAnon)'], ['rssFile', 'file-backed (RssFile: the node binary and modules, shared)']] as const) {
    const av = a?.[key];
    const tv = t?.[key];
    if (known(av) && known(tv)) rows.push(`| ${when}, of which ${label} | ${mb(av)} | ${mb(tv)} | ${ratio(tv / av)} |`);
  }
  return rows;
}


export interface Results {
  readonly meta: Record<string, unknown>;
  /** `expect`: tokenguard's answer (missing in older results JSON). */
  readonly bodies: { id: string; label: string; path: string; bytes: number; expect?: ExpectedAnswer }[];
  /** RSS right after start-up, before any request. */
  readonly startup: Record<ServerKind, number>;
  /** The same split into private and file-backed pages (missing in older results JSON). */
  readonly startupParts?: Record<ServerKind, Partial<RssParts>>;
  /** With the RSS split since it was added (missing in older results JSON). */
  readonly idle: Record<ServerKind, NodeJS.MemoryUsage & Partial<RssParts>>;
  readonly idleAfter: Record<ServerKind, NodeJS.MemoryUsage>;
  readonly saturation: { body: string; connections: number; rounds: SaturationRound[] }[];
  readonly fixed: FixedRound[];
  readonly engine: Record<string, number> | undefined;
  readonly handshakes: HandshakeRound[];
  readonly profiles: Partial<Record<ServerKind, { file: string; summary: ProfileSummary }>>;
  /** The answer check before measuring (missing in older results JSON). */
  readonly answers?: AnswerCheck[];
}

export const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
export const fmt = (x: number, digits = 0) => (Number.isFinite(x) ? x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : 'n/a');
export const ratio = (x: number) => (Number.isFinite(x) ? `${x.toFixed(2)}×` : 'n/a');
export const yes = (ok: boolean) => (ok ? 'yes' : '**no**');
export const pct = (x: number) => `${(x * 100).toFixed(0)}%`;

/**
 * Requests of one or more measurements that got no 2xx answer, by kind. `undefined` is unknown,
 * not zero: the results JSON predates the count (fixed-rate results before non2xx and errors).
 */
export interface Failures {
  readonly non2xx: number | undefined;
  readonly errors: number | undefined;
  readonly timeouts: number | undefined;
}
export const known = (x: unknown) => (typeof x === 'number' && Number.isFinite(x) ? x : undefined);
export const satFailures = (l: SaturateResult): Failures => ({ non2xx: known(l.non2xx), errors: known(l.errors), timeouts: known(l.timeouts) });
export const fixedFailures = (l: FixedResult): Failures => ({ non2xx: known(l.non2xx), errors: known(l.errors), timeouts: known(l.timedOut) });
export function sumFailures(fs: readonly Failures[]): Failures {
  const sum = (k: keyof Failures) => fs.reduce<number | undefined>((a, f) => (a === undefined || f[k] === undefined ? undefined : a + f[k]), 0);
  return { non2xx: sum('non2xx'), errors: sum('errors'), timeouts: sum('timeouts') };
}
export const fmtFailures = (f: Failures) => `${f.non2xx ?? '?'} / ${f.errors ?? '?'} / ${f.timeouts ?? '?'}`;
/** Whether a measurement lost requests, from counters every results JSON has (also the older ones). */
export const satBad = (l: SaturateResult) => (known(l.non2xx) ?? 0) + (known(l.errors) ?? 0) + (known(l.timeouts) ?? 0) > 0;
export const fixedBad = (l: FixedResult) => (known(l.failed) ?? 0) + (known(l.timedOut) ?? 0) > 0;
/** A fixed-rate measurement's cell; older JSON only has `failed` (non-2xx and errors together) besides the timeouts. */
export const fixedCell = (l: FixedResult) => `${fmtFailures(fixedFailures(l))}${known(l.non2xx) === undefined && l.failed > 0 ? ` (${l.failed} failed)` : ''}`;
/** Totals of fixed-rate measurements, as fixedCell. */
export function fixedTotal(loads: readonly FixedResult[]): string {
  const f = sumFailures(loads.map(fixedFailures));
  const failed = loads.reduce((a, l) => a + (known(l.failed) ?? 0), 0);
  return `${fmtFailures(f)}${f.non2xx === undefined && failed > 0 ? ` (${failed} failed)` : ''}`;
}
/** The line under a table: totals of its measurements (`total`: fmtFailures or fixedTotal), flagged when any is not zero. */
export function failuresLine(what: string, total: string, bad: number): string {
  return `${bad > 0 ? `**⚠ ${bad} measurement(s) with failed requests:** ` : ''}non-2xx / errors / timeouts${what}: ${total}${total.includes('?') ? ' (? = not recorded: results JSON from before bench/http.ts counted it)' : ''}.`;
}

/** The answer check of a run, in one sentence (a run with a wrong answer stops, so every recorded answer matched). */
export function answersLine(answers: readonly AnswerCheck[] | undefined): string {
  if (answers === undefined) return 'Answers: not checked (results JSON from before bench/http.ts checked them).';
  const decided = answers.filter((a) => a.checked === 'decision');
  const canned = answers.filter((a) => a.checked === 'status+uid');
  const servers = (xs: readonly AnswerCheck[]) => [...new Set(xs.map((a) => (a.server === 'baseline' ? 'A' : a.server)))].join(', ');
  const perBody = [...new Map(decided.map((a) => [a.body, decisionText(a.allowed, a.patched)])).entries()].map(([b, d]) => `${b} ${d}`).join(', ');
  const parts: string[] = [];
  if (decided.length > 0) parts.push(`${servers(decided)} as bench/bodies.ts expects (HTTP 200, uid echoed): ${perBody}`);
  if (canned.length > 0) parts.push(`${servers(canned)} (canned answers) HTTP 200 with an AdmissionReview and a uid`);
  return `Answers checked before measuring, every body once per server: ${parts.join('; ')}.`;
}

/** Medians per server, and ratios paired within each round (both servers measured back to back). */
export class SatSummary {
  constructor(private readonly rounds: readonly SaturationRound[]) {}
  private of(k: ServerKind): SaturationRound[] {
    return this.rounds.filter((r) => r.server === k);
  }
  private med(k: ServerKind, f: (r: SaturationRound) => number): number {
    return median(this.of(k).map(f));
  }
  private paired(k: ServerKind, base: ServerKind, f: (r: SaturationRound) => number): number {
    return median(
      this.of(k).map((t) => {
        const a = this.of(base).find((x) => x.round === t.round);
        return a ? f(t) / f(a) : Number.NaN;
      }),
    );
  }
  has(k: ServerKind): boolean {
    return this.of(k).length > 0;
  }
  rps(k: ServerKind): number {
    return this.med(k, (r) => r.load.rps);
  }
  cpuUs(k: ServerKind): number {
    return this.med(k, (r) => cpuPerRequest(r.stats));
  }
  userUs(k: ServerKind): number {
    return this.med(k, (r) => r.stats.cpuUserUs / r.stats.requests);
  }
  systemUs(k: ServerKind): number {
    return this.med(k, (r) => r.stats.cpuSystemUs / r.stats.requests);
  }
  serverShare(k: ServerKind): number {
    return this.med(k, (r) => coreShare(r.stats));
  }
  genShare(k: ServerKind): number {
    return this.med(k, (r) => r.load.loadCpuShare);
  }
  rpsRatio(k: ServerKind, base: ServerKind = 'baseline'): number {
    return this.paired(k, base, (r) => r.load.rps);
  }
  cpuRatio(k: ServerKind, base: ServerKind = 'baseline'): number {
    return this.paired(k, base, (r) => cpuPerRequest(r.stats));
  }
}

/** The experiments table (--variants): every server of the run, per body. */
export function experimentsTable(r: Results): string[] {
  const out: string[] = [];
  const m = r.meta;
  const A = 'baseline';
  const T = 'tokenguard';
  const rss = (mem: Record<ServerKind, NodeJS.MemoryUsage>, k: ServerKind) => mem[k]?.rss ?? Number.NaN;
  const variants = (m.variants as string[] | undefined) ?? [];
  if (variants.length > 0) {
    out.push(
      '',
      '#### Experiments (variants of the tokenguard process, same rounds)',
      '',
      '| server | body | conns | req/s | CPU µs/req (user + system) | vs A (CPU) | vs tokenguard (CPU) | RSS idle after warm-up | RSS at start-up |',
      '|---|---|---|---|---|---|---|---|---|',
    );
    for (const e of r.saturation) {
      const s = new SatSummary(e.rounds);
      for (const id of [A, T, ...variants.map(variantId)]) {
        if (!s.has(id)) continue;
        out.push(
          `| ${id} | ${e.body} | ${e.connections} | ${fmt(s.rps(id))} | ${fmt(s.cpuUs(id), 1)} (${fmt(s.userUs(id))} + ${fmt(s.systemUs(id))}) | ${ratio(s.cpuRatio(id))} | ${id === A ? '' : ratio(s.cpuRatio(id, T))} | ${mb(rss(r.idle, id))} | ${mb(r.startup[id] ?? Number.NaN)} |`,
        );
      }
    }
    const rounds = r.saturation.flatMap((e) => e.rounds);
    out.push('', failuresLine(' (every server and round above)', fmtFailures(sumFailures(rounds.map((x) => satFailures(x.load)))), rounds.filter((x) => satBad(x.load)).length));
  }

  return out;
}

/** Load average (1 minute) at the start above which the report says other work was running. */
export const BUSY_START_LOAD = 0.5;

/** What the load average at the start, before the run's own processes, says about the machine. */
export function startLoadText(load: unknown): string {
  const first = Array.isArray(load) ? load[0] : undefined;
  if (typeof first !== 'number' || !Number.isFinite(first)) return 'the load at the start was not recorded';
  return first >= BUSY_START_LOAD ? 'other work was running as the run started' : 'the machine was idle as the run started';
}

export function renderMarkdown(r: Results, compact = false): string {
  const m = r.meta;
  const cfgUsed = m.config as BenchConfig;
  const out: string[] = [];
  const T = 'tokenguard';
  const A = 'baseline';
  const rss = (mem: Record<ServerKind, NodeJS.MemoryUsage>, k: ServerKind) => mem[k]?.rss ?? Number.NaN;
  const heap = (mem: Record<ServerKind, NodeJS.MemoryUsage>, k: ServerKind) => mem[k]?.heapUsed ?? Number.NaN;
  const typicalId = r.bodies.find((b) => b.id === 'typical') ? 'typical' : r.bodies[0]?.id;
  const sat = (body: string | undefined, c: number) => {
    const e = r.saturation.find((s) => s.body === body && s.connections === c);
    return e && e.rounds.length > 0 ? new SatSummary(e.rounds) : undefined;
  };
  const fixedOf = (k: ServerKind) => r.fixed.filter((f) => f.server === k);
  const fx = (k: ServerKind, f: (x: FixedRound) => number) => median(fixedOf(k).map(f));
  const fxRatio = (f: (x: FixedRound) => number) => fx(T, f) / fx(A, f);
  const markCompact = (k: ServerKind) => fixedOf(k).reduce((n, x) => n + (x.stats.gc['mark-compact']?.count ?? 0), 0);
  const rssSat = (k: ServerKind, body?: string) =>
    Math.max(...r.saturation.filter((s) => body === undefined || s.body === body).flatMap((s) => s.rounds.filter((x) => x.server === k).map((x) => x.stats.rssMax)));
  const loadAvg = (x: unknown) => (x as number[]).map((v) => v.toFixed(2)).join(' ');

  out.push(
    `Command: \`${m.command}\` · Node ${m.node} · CPU: ${m.cpu} (${m.cores} cores) · ${String(m.date).slice(0, 16).replace('T', ' ')} UTC · ${fmt(Number(m.durationMinutes), 1)} min`,
    '',
    `Server processes pinned to CPU ${m.serverCpu ?? '-'} and the load generator to CPU ${m.generatorCpu ?? '-'} (taskset: ${m.pinned ? 'yes' : '**no**'}); ECDSA P-256 certificate; tokenguard with the shipped policies, no cluster facts, logging at info to ${m.tokenguardLog}; ${startText(m.tokenguardStart)}. ` +
      `Load average ${loadAvg(m.loadAverageStart)} at the start and ${loadAvg(m.loadAverageEnd)} at the end (the run's own two busy processes count up to 2 of it): ${startLoadText(m.loadAverageStart)}. Absolute figures drift with other work on the machine, so the ratios to A (measured back to back in each round) are the figures to trust. ` +
      `Saturation: ${cfgUsed.rounds} interleaved round(s) of ${cfgUsed.seconds} s per test, medians. Fixed rate: ${cfgUsed.fixedRounds} round(s) of ${cfgUsed.fixedSeconds} s per server at ${fmt(cfgUsed.rate)} req/s after ${cfgUsed.fixedWarmSeconds} s of warm-up.`,
  );
  out.push('', answersLine(r.answers));
  const offenders = [
    ...r.saturation.flatMap((e) =>
      e.rounds.filter((x) => satBad(x.load)).map((x) => `saturation, ${x.server}, ${e.body}, ${e.connections} connections, round ${x.round}: ${fmtFailures(satFailures(x.load))}`),
    ),
    ...r.fixed.filter((f) => fixedBad(f.load)).map((f) => `fixed rate, ${f.server}, round ${f.round}: ${fixedCell(f.load)}`),
  ];
  if (offenders.length > 0) {
    out.push(
      '',
      `> **⚠ WARNING: requests without a 2xx answer in ${offenders.length} measurement(s) (non-2xx / errors / timeouts): ${offenders.slice(0, 12).join('; ')}${offenders.length > 12 ? `; and ${offenders.length - 12} more` : ''}. Their figures count those requests (throughput counts 2xx answers only; latency counts failures at their time to fail).**`,
    );
  }
  if (compact) return `${[...out, ...experimentsTable(r)].join('\n')}\n`;
  out.push('', '#### Goals (issue 9)', '', '| goal | target | tokenguard | A (same run) | tokenguard / A | met |', '|---|---|---|---|---|---|');
  for (const c of cfgUsed.connections) {
    const s = sat(typicalId, c);
    if (!s?.has(T)) continue;
    out.push(
      `| /mutate throughput, typical pod, ${c} connections | ≥ 0.6× A | ${fmt(s.rps(T))} req/s | ${fmt(s.rps(A))} req/s | ${ratio(s.rpsRatio(T))} | ${yes(s.rpsRatio(T) >= 0.6)} |`,
      `| CPU per typical request, ${c} connections | ≤ 80 µs | ${fmt(s.cpuUs(T), 1)} µs | ${fmt(s.cpuUs(A), 1)} µs | ${ratio(s.cpuRatio(T))} | ${yes(s.cpuUs(T) <= 80)} |`,
    );
  }
  if (r.fixed.length > 0) {
    const p99 = fx(T, (x) => x.load.latency.p99);
    const p999 = fx(T, (x) => x.load.latency.p999);
    const share = fx(T, (x) => coreShare(x.stats));
    out.push(
      `| p99 at ${fmt(cfgUsed.rate)} req/s | ≤ 1.5 ms | ${fmt(p99, 2)} ms | ${fmt(fx(A, (x) => x.load.latency.p99), 2)} ms | ${ratio(fxRatio((x) => x.load.latency.p99))} | ${yes(p99 <= 1.5)} |`,
      `| p99.9 at ${fmt(cfgUsed.rate)} req/s | ≤ 5 ms | ${fmt(p999, 2)} ms | ${fmt(fx(A, (x) => x.load.latency.p999), 2)} ms | ${ratio(fxRatio((x) => x.load.latency.p999))} | ${yes(p999 <= 5)} |`,
      `| CPU at ${fmt(cfgUsed.rate)} req/s | ≤ 0.2 core | ${fmt(share, 3)} core | ${fmt(fx(A, (x) => coreShare(x.stats)), 3)} core | ${ratio(fxRatio((x) => coreShare(x.stats)))} | ${yes(share <= 0.2)} |`,
      `| mark-compact GCs at ${fmt(cfgUsed.rate)} req/s | 0 | ${markCompact(T)} | ${markCompact(A)} | | ${yes(markCompact(T) === 0)} |`,
    );
  }
  const drift = rss(r.idleAfter, T) - rss(r.idle, T);
  out.push(
    `| RSS idle after warm-up, every dependency loaded | ≤ 70 MB | ${mb(rss(r.idle, T))} | ${mb(rss(r.idle, A))} | ${ratio(rss(r.idle, T) / rss(r.idle, A))} | ${yes(rss(r.idle, T) <= 70e6)} |`,
    `| RSS at saturation, typical pod (max sampled) | ≤ 150 MB | ${mb(rssSat(T, typicalId))} | ${mb(rssSat(A, typicalId))} | ${ratio(rssSat(T, typicalId) / rssSat(A, typicalId))} | ${yes(rssSat(T, typicalId) <= 150e6)} |`,
    `| RSS at saturation, any body run (${r.bodies.map((b) => b.id).join(', ')}) | ≤ 150 MB | ${mb(rssSat(T))} | ${mb(rssSat(A))} | ${ratio(rssSat(T) / rssSat(A))} | ${yes(rssSat(T) <= 150e6)} |`,
    `| RSS idle after the whole run (flatness) | ≈ idle before | ${mb(rss(r.idleAfter, T))} | ${mb(rss(r.idleAfter, A))} | ${ratio(rss(r.idleAfter, T) / rss(r.idleAfter, A))} | ${Math.abs(drift) <= 15e6 ? 'yes' : '**check**'} (${drift >= 0 ? '+' : ''}${mb(drift)}) |`,
  );
  if (r.engine) {
    const e = r.engine;
    out.push(
      `| engine alone, typical pod (evaluate, mutate phase) | ≥ 50,000 /s | ${fmt(e.evaluateMutate ?? Number.NaN)} /s | JSON.parse of the body: ${fmt(e.jsonParse ?? Number.NaN)} /s | ${ratio((e.evaluateMutate ?? Number.NaN) / (e.jsonParse ?? Number.NaN))} of JSON.parse | ${yes((e.evaluateMutate ?? 0) >= 50_000)} |`,
    );
  }

  out.push(
    '',
    `#### Saturation (closed loop, keep-alive), medians of ${cfgUsed.rounds} round(s)`,
    '',
    'CPU µs per request is the server process’s CPU time (user + system) over the requests it answered. Server core busy near 100% means the server was the limit; below that with the generator also below 100%, other processes on the shared machine took the difference.',
    '',
    '| body | bytes | conns | A req/s | tokenguard req/s | ratio | A CPU µs/req | tokenguard CPU µs/req | ratio | server core busy A / tg | generator core busy A / tg |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  );
  for (const e of r.saturation) {
    const s = new SatSummary(e.rounds);
    if (!s.has(T)) continue;
    const b = r.bodies.find((x) => x.id === e.body);
    out.push(
      `| ${b?.label ?? e.body} → ${b?.path} | ${fmt(b?.bytes ?? 0)} | ${e.connections} | ${fmt(s.rps(A))} | ${fmt(s.rps(T))} | ${ratio(s.rpsRatio(T))} | ${fmt(s.cpuUs(A), 1)} | ${fmt(s.cpuUs(T), 1)} | ${ratio(s.cpuRatio(T))} | ${pct(s.serverShare(A))} / ${pct(s.serverShare(T))} | ${pct(s.genShare(A))} / ${pct(s.genShare(T))} |`,
    );
  }
  {
    const rounds = r.saturation.flatMap((e) => e.rounds);
    out.push('', failuresLine(', every saturation test, server and round', fmtFailures(sumFailures(rounds.map((x) => satFailures(x.load)))), rounds.filter((x) => satBad(x.load)).length));
  }

  out.push(...experimentsTable(r));

  if (r.fixed.length > 0) {
    out.push(
      '',
      `#### Fixed rate ${fmt(cfgUsed.rate)} req/s, open loop, typical pod (latency from the intended send time, ms)`,
      '',
      '| server | round | p50 | p90 | p99 | p99.9 | max | non-2xx / errors / timeouts | CPU (cores) | scavenges (max ms) | mark-compact | event-loop delay p99 / max | generator send lag p99 / max | RSS start → end |',
      '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    );
    for (const f of [...r.fixed].sort((a, b) => a.server.localeCompare(b.server) || a.round - b.round)) {
      const l = f.load.latency;
      out.push(
        `| ${f.server === A ? 'A' : f.server} | ${f.round} | ${fmt(l.p50, 3)} | ${fmt(l.p90, 3)} | ${fmt(l.p99, 3)} | ${fmt(l.p999, 3)} | ${fmt(l.max, 2)} | ${fixedCell(f.load)} | ${fmt(coreShare(f.stats), 3)} | ${scavengeCell(f.stats)} | ${markCompactCell(f.stats)} | ${fmt(f.stats.eld.p99, 1)} / ${fmt(f.stats.eld.max, 1)} | ${fmt(f.load.sendLag.p99, 3)} / ${fmt(f.load.sendLag.max, 1)} | ${fmt(f.stats.rssStart / 1e6, 1)} → ${fmt(f.stats.rssEnd / 1e6, 1)} MB |`,
      );
    }
    const ratioRow = (name: string, f: (x: FixedRound) => number) => `${name} ${ratio(fxRatio(f))}`;
    out.push(
      '',
      failuresLine(', every fixed-rate round', fixedTotal(r.fixed.map((f) => f.load)), r.fixed.filter((f) => fixedBad(f.load)).length),
      '',
      `tokenguard / A (medians): ${[
        ratioRow('p50', (x) => x.load.latency.p50),
        ratioRow('p99', (x) => x.load.latency.p99),
        ratioRow('p99.9', (x) => x.load.latency.p999),
        ratioRow('max', (x) => x.load.latency.max),
        ratioRow('CPU', (x) => coreShare(x.stats)),
      ].join(', ')}. A generator send lag well above the server latencies means the generator's core was taken by other processes at that moment: those requests count late, as they would for any client.`,
    );
  }

  out.push(
    '',
    '#### Memory (RSS)',
    '',
    '| | A | tokenguard | ratio |',
    '|---|---|---|---|',
    `| at start-up, before any request | ${mb(r.startup[A] ?? Number.NaN)} | ${mb(r.startup[T] ?? Number.NaN)} | ${ratio((r.startup[T] ?? Number.NaN) / (r.startup[A] ?? Number.NaN))} |`,
    ...rssPartRows('at start-up', r.startupParts?.[A], r.startupParts?.[T]),
    `| idle after warm-up | ${mb(rss(r.idle, A))} | ${mb(rss(r.idle, T))} | ${ratio(rss(r.idle, T) / rss(r.idle, A))} |`,
    ...rssPartRows('idle after warm-up', r.idle[A], r.idle[T]),
    `| V8 heap used, idle | ${mb(heap(r.idle, A))} | ${mb(heap(r.idle, T))} | ${ratio(heap(r.idle, T) / heap(r.idle, A))} |`,
    `| max at saturation | ${mb(rssSat(A))} | ${mb(rssSat(T))} | ${ratio(rssSat(T) / rssSat(A))} |`,
    `| idle after the run | ${mb(rss(r.idleAfter, A))} | ${mb(rss(r.idleAfter, T))} | ${ratio(rss(r.idleAfter, T) / rss(r.idleAfter, A))} |`,
  );

  if (r.engine) {
    const e = r.engine;
    out.push(
      '',
      '#### Engine alone, typical pod, pinned core (per second)',
      '',
      `JSON.parse of the review ${fmt(e.jsonParse ?? Number.NaN)}; evaluate (mutate) ${fmt(e.evaluateMutate ?? Number.NaN)}; evaluate (validate) ${fmt(e.evaluateValidate ?? Number.NaN)}; respond (mutate: evaluate + patch + response) ${fmt(e.respondMutate ?? Number.NaN)}.`,
    );
  }

  if (r.handshakes.length > 0) {
    const hm = (cert: string, mode: string, f: (h: HandshakeRound) => number) => median(r.handshakes.filter((h) => h.cert === cert && h.mode === mode).map(f));
    out.push(
      '',
      '#### TLS handshakes by certificate type (baseline A server, Secret review, 4 clients, medians)',
      '',
      '| certificate | server CPU µs/req, new connection each time | server CPU µs/req, keep-alive | handshake ≈ difference | latency, new connection (p50) / keep-alive (mean) |',
      '|---|---|---|---|---|',
    );
    for (const cert of ['ecdsa-p256', 'rsa-2048']) {
      const fresh = hm(cert, 'new-connection', (h) => h.cpuUs);
      const kept = hm(cert, 'keep-alive', (h) => h.cpuUs);
      out.push(`| ${cert} | ${fmt(fresh)} | ${fmt(kept)} | ${fmt(fresh - kept)} µs | ${fmt(hm(cert, 'new-connection', (h) => h.p50Ms), 2)} / ${fmt(hm(cert, 'keep-alive', (h) => h.p50Ms), 2)} ms |`);
    }
  }

  const profs = r.profiles;
  const tp = profs[T];
  if (tp) {
    const t = tp.summary;
    const a = profs[A]?.summary;
    out.push(
      '',
      `#### CPU profile at saturation (typical pod, 50 connections; self time as a share of busy time)`,
      '',
      `Profiles: \`${tp.file}\`${profs[A] ? `, \`${profs[A].file}\`` : ''} (open in Chrome DevTools or speedscope). Builtins such as JSON.parse are often charged to their caller (A's JSON.parse shows as "benchmark harness").`,
      '',
      '| category | A | tokenguard |',
      '|---|---|---|',
    );
    const cats = new Set([...t.categories.map((c) => c.name), ...(a?.categories.map((c) => c.name) ?? [])]);
    const share = (s: ProfileSummary | undefined, name: string) => {
      const row = s?.categories.find((c) => c.name === name);
      return row ? `${(row.share * 100).toFixed(1)}%` : '';
    };
    const tShare = (name: string) => t.categories.find((c) => c.name === name)?.share ?? 0;
    for (const c of [...cats].sort((x, y) => tShare(y) - tShare(x))) out.push(`| ${c} | ${share(a, c)} | ${share(t, c)} |`);
    out.push('', 'Top self-time functions in tokenguard:', '', '| self | function |', '|---|---|');
    for (const f of t.functions.slice(0, 20)) out.push(`| ${(f.share * 100).toFixed(1)}% | \`${f.name}\` |`);
  }
  return `${out.join('\n')}\n`;
}

/**
 * Writes `md` into `file` (docs/benchmarks.md) between the markers of `section`, leaving the rest
 * of the file as it was; without those markers the block is appended, and without the file one
 * is made.
 */
export function updateDocs(file: string, md: string, section: string): void {
  const START = `<!-- bench:${section}:start (generated by bench/http.ts; edit outside these markers) -->`;
  const END = `<!-- bench:${section}:end -->`;
  const block = `${START}\n${md}${END}`;
  let text = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n\n## HTTP benchmark: latest full run\n\n';
  const s = text.indexOf(START);
  const e = text.indexOf(END, s);
  text = s !== -1 && e > s ? `${text.slice(0, s)}${block}${text.slice(e + END.length)}` : `${text.trimEnd()}\n\n${block}\n`;
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
}
