import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FixedResult, SaturateResult } from '../../../bench/http-load.js';
import {
  type FixedRound,
  median,
  renderMarkdown,
  renderSoak,
  type Results,
  type SaturationRound,
  type SoakRun,
  slope,
  startLoadText,
  scavengeCell,
  markCompactCell,
  updateDocs,
} from '../../../bench/http-report.js';
import type { WindowStats } from '../../../bench/http-server.js';

const MB = 1e6;

function stats(over: Partial<WindowStats> = {}): WindowStats {
  return {
    wallMs: 5_000,
    cpuUs: 500_000,
    cpuUserUs: 400_000,
    cpuSystemUs: 100_000,
    requests: 5_000,
    rssStart: 90 * MB,
    rssEnd: 92 * MB,
    rssMax: 100 * MB,
    rssMaxParts: { heapTotal: 40 * MB, external: 2 * MB, arrayBuffers: 1 * MB },
    heapUsed: 20 * MB,
    gc: {},
    eld: { mean: 10, p50: 10, p99: 11, max: 12 },
    ...over,
  };
}

function sat(rps: number, over: Partial<SaturateResult> = {}): SaturateResult {
  return {
    ok: rps * 5,
    non2xx: 0,
    errors: 0,
    timeouts: 0,
    seconds: 5,
    rps,
    latencyMs: { mean: 1, p50: 1, p99: 2, max: 3 },
    loadCpuShare: 0.4,
    ...over,
  };
}

/** A saturation round: `rps` requests/s at `cpuUs` µs of server CPU each. */
function round(n: number, server: string, rps: number, cpuUs: number, load: Partial<SaturateResult> = {}): SaturationRound {
  const requests = rps * 5;
  return { round: n, server, load: sat(rps, load), stats: stats({ requests, cpuUs: requests * cpuUs, cpuUserUs: requests * cpuUs * 0.8, cpuSystemUs: requests * cpuUs * 0.2 }) };
}

const lat = (p99: number, p999: number) => ({ count: 60_000, mean: 0.5, p50: 0.4, p90: 0.6, p99, p999, max: p999 * 2 });

function fixed(n: number, server: string, p99: number, p999: number, cores: number, markCompacts: number, load: Partial<FixedResult> = {}): FixedRound {
  return {
    round: n,
    server,
    load: { rate: 1000, seconds: 60, sent: 60_000, ok: 60_000, failed: 0, timedOut: 0, non2xx: 0, errors: 0, latency: lat(p99, p999), sendLag: lat(0.05, 0.2), loadCpuShare: 0.1, ...load },
    stats: stats({ wallMs: 60_000, cpuUs: cores * 60_000 * 1000, requests: 60_000, gc: markCompacts > 0 ? { 'mark-compact': { count: markCompacts, totalMs: 5, maxMs: 5 } } : {} }),
  };
}

const mem = (rss: number) => ({ rss, heapTotal: 40 * MB, heapUsed: 20 * MB, external: 2 * MB, arrayBuffers: 1 * MB });

/**
 * A full run's results. Typical pod, 10 connections: A at 10,000 / 20,000 / 12,000 req/s in its
 * three rounds, tokenguard at 6,500 / 13,000 / 6,600. Paired per round that is 0.65×, 0.65×,
 * 0.55×, median 0.65×; the ratio of the two medians would be 6,600 / 12,000 = 0.55×.
 */
function results(over: Partial<Results> = {}): Results {
  return {
    meta: {
      command: 'npx tsx bench/http.ts',
      node: 'v20.20.2',
      cpu: 'AMD EPYC',
      cores: 2,
      date: '2026-12-04T01:00:00.000Z',
      durationMinutes: 12.8,
      loadAverageStart: [0.05, 0.1, 0.1],
      loadAverageEnd: [1.9, 1.8, 1.2],
      pinned: true,
      serverCpu: 1,
      generatorCpu: 0,
      tokenguardLog: 'a pipe',
      config: { rounds: 3, seconds: 5, fixedRounds: 2, fixedSeconds: 60, fixedWarmSeconds: 30, rate: 1000, connections: [10] },
      variants: [],
    },
    bodies: [{ id: 'typical', label: 'typical pod', path: '/mutate', bytes: 7701, expect: { allowed: true, patched: true } }],
    startup: { baseline: 48.9 * MB, tokenguard: 70.8 * MB },
    idle: { baseline: mem(93.9 * MB), tokenguard: mem(106.6 * MB) },
    idleAfter: { baseline: mem(95 * MB), tokenguard: mem(108 * MB) },
    saturation: [
      {
        body: 'typical',
        connections: 10,
        rounds: [
          round(1, 'baseline', 10_000, 60),
          round(1, 'tokenguard', 6_500, 100),
          round(2, 'tokenguard', 13_000, 100),
          round(2, 'baseline', 20_000, 60),
          round(3, 'baseline', 12_000, 60),
          round(3, 'tokenguard', 6_600, 100),
        ],
      },
    ],
    fixed: [
      fixed(1, 'baseline', 0.8, 3, 0.15, 0),
      fixed(1, 'tokenguard', 1.2, 4, 0.19, 0),
      fixed(2, 'tokenguard', 1.4, 6, 0.21, 1),
      fixed(2, 'baseline', 0.9, 3.5, 0.16, 0),
    ],
    engine: { jsonParse: 33_000, evaluateMutate: 123_628, evaluateValidate: 200_000, respondMutate: 60_000 },
    handshakes: [],
    profiles: {},
    answers: [
      { server: 'baseline', body: 'typical', checked: 'status+uid', status: 200, uid: 'echoed' },
      { server: 'tokenguard', body: 'typical', checked: 'decision', status: 200, uid: 'echoed', allowed: true, patched: true, patchType: 'JSONPatch' },
    ],
    ...over,
  };
}

/** The goals table row whose first cell starts with `goal`, as its cells. */
function goalRow(md: string, goal: string): string[] {
  const line = md.split('\n').find((l) => l.startsWith(`| ${goal}`));
  if (!line) throw new Error(`no goals row for ${goal}`);
  return line
    .split('|')
    .slice(1, -1)
    .map((c) => c.trim());
}

describe('median', () => {
  it('takes the middle value, the mean of the two middle ones, and ignores what is not finite', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([Number.NaN, 5, Number.POSITIVE_INFINITY, 1])).toBe(3);
    expect(median([])).toBeNaN();
  });
});

describe('slope', () => {
  it('is the least-squares slope, and NaN without two distinct x values', () => {
    expect(slope([1, 2, 3, 4], [10, 12, 14, 16])).toBeCloseTo(2, 12);
    expect(slope([1, 2, 3], [5, 7, 5])).toBeCloseTo(0, 12);
    expect(slope([1], [1])).toBeNaN();
    expect(slope([2, 2], [1, 3])).toBeNaN();
  });
});

describe('renderMarkdown', () => {
  it('gives throughput and CPU as the median of ratios paired within each round, not the ratio of the medians', () => {
    const md = renderMarkdown(results());
    const rps = goalRow(md, '/mutate throughput, typical pod, 10 connections');
    expect(rps).toEqual(['/mutate throughput, typical pod, 10 connections', '≥ 0.6× A', '6,600 req/s', '12,000 req/s', '0.65×', 'yes']);
    const cpu = goalRow(md, 'CPU per typical request, 10 connections');
    expect(cpu).toEqual(['CPU per typical request, 10 connections', '≤ 80 µs', '100.0 µs', '60.0 µs', '1.67×', '**no**']);
  });

  it('fails the throughput goal when the paired ratio is below 0.6', () => {
    const r = results();
    // Paired: 0.59×, 0.59×, 0.49×.
    const slower: Record<number, number> = { 1: 5_900, 2: 11_800, 3: 5_900 };
    const rounds = (r.saturation[0]?.rounds ?? []).map((x) => (x.server === 'tokenguard' ? round(x.round, x.server, slower[x.round] ?? 0, 100) : x));
    const md = renderMarkdown({ ...r, saturation: [{ body: 'typical', connections: 10, rounds }] });
    expect(goalRow(md, '/mutate throughput, typical pod, 10 connections').slice(4)).toEqual(['0.59×', '**no**']);
  });

  it('judges the fixed-rate goals on the median round, and counts every mark-compact', () => {
    const md = renderMarkdown(results());
    expect(goalRow(md, 'p99 at 1,000 req/s').slice(2)).toEqual(['1.30 ms', '0.85 ms', '1.53×', 'yes']);
    expect(goalRow(md, 'p99.9 at 1,000 req/s').slice(2)).toEqual(['5.00 ms', '3.25 ms', '1.54×', 'yes']);
    expect(goalRow(md, 'CPU at 1,000 req/s').slice(2)).toEqual(['0.200 core', '0.155 core', '1.29×', 'yes']);
    expect(goalRow(md, 'mark-compact GCs at 1,000 req/s').slice(2)).toEqual(['1', '0', '', '**no**']);
  });

  it('reports memory and the engine against their limits', () => {
    const md = renderMarkdown(results());
    expect(goalRow(md, 'RSS idle after warm-up').slice(2)).toEqual(['106.6 MB', '93.9 MB', '1.14×', '**no**']);
    expect(goalRow(md, 'RSS at saturation, typical pod').slice(2)).toEqual(['100.0 MB', '100.0 MB', '1.00×', 'yes']);
    expect(goalRow(md, 'RSS idle after the whole run').slice(2)).toEqual(['108.0 MB', '95.0 MB', '1.14×', 'yes (+1.4 MB)']);
    expect(goalRow(md, 'engine alone').slice(2)).toEqual(['123,628 /s', 'JSON.parse of the body: 33,000 /s', '3.75× of JSON.parse', 'yes']);
    expect(md).toContain('| at start-up, before any request | 48.9 MB | 70.8 MB | 1.45× |');
  });

  it('says whether other work was running as the run started, from the load average before it', () => {
    expect(renderMarkdown(results())).toContain('the machine was idle as the run started');
    const busy = renderMarkdown(results({ meta: { ...results().meta, loadAverageStart: [1.2, 0.9, 0.5] } }));
    expect(busy).toContain('Load average 1.20 0.90 0.50 at the start');
    expect(busy).toContain('other work was running as the run started');
    expect(startLoadText(undefined)).toBe('the load at the start was not recorded');
    expect(startLoadText([0.49])).toBe('the machine was idle as the run started');
    expect(startLoadText([0.5])).toBe('other work was running as the run started');
  });

  it('warns at the top, naming the measurement, when requests got no 2xx answer', () => {
    const r = results();
    const rounds = [...(r.saturation[0]?.rounds ?? [])];
    rounds[4] = round(3, 'baseline', 12_000, 60, { non2xx: 3, timeouts: 1 });
    const md = renderMarkdown({ ...r, saturation: [{ body: 'typical', connections: 10, rounds }] });
    const warning = md.split('\n').find((l) => l.includes('WARNING'));
    expect(warning).toContain('1 measurement(s)');
    expect(warning).toContain('saturation, baseline, typical, 10 connections, round 3: 3 / 0 / 1');
    expect(md.indexOf('WARNING')).toBeLessThan(md.indexOf('#### Goals'));
    expect(md).toContain('**⚠ 1 measurement(s) with failed requests:** non-2xx / errors / timeouts, every saturation test, server and round: 3 / 0 / 1.');
    expect(renderMarkdown(results())).not.toContain('WARNING');
  });

  it('shows what older results JSON did not record as unknown, not as zero', () => {
    const r = results();
    const old = r.fixed.map((f, i) => {
      const { non2xx: _n, errors: _e, ...load } = f.load;
      return { ...f, load: { ...load, failed: i === 1 ? 4 : 0 } };
    });
    const { answers: _a, ...rest } = r;
    const md = renderMarkdown({ ...rest, fixed: old });
    expect(md).toContain('Answers: not checked (results JSON from before bench/http.ts checked them).');
    expect(md).toContain('fixed rate, tokenguard, round 1: ? / ? / 0 (4 failed)');
    expect(md).toContain('? = not recorded');
  });

  it('names the checked answers of each server', () => {
    expect(renderMarkdown(results())).toContain(
      'Answers checked before measuring, every body once per server: tokenguard as bench/bodies.ts expects (HTTP 200, uid echoed): typical allowed + patch; A (canned answers) HTTP 200 with an AdmissionReview and a uid.',
    );
  });

  it('puts variants in the experiments table with their CPU against A and against tokenguard, and the compact report is only that', () => {
    const r = results();
    const base = r.saturation[0]?.rounds ?? [];
    const rounds = [...base, round(1, 'tokenguard[log=silent]', 7_000, 90), round(2, 'tokenguard[log=silent]', 14_000, 90), round(3, 'tokenguard[log=silent]', 7_100, 90)];
    const withVariant = { ...r, meta: { ...r.meta, variants: ['log=silent'] }, saturation: [{ body: 'typical', connections: 10, rounds }] };
    const md = renderMarkdown(withVariant);
    const row = md.split('\n').find((l) => l.startsWith('| tokenguard[log=silent] |'));
    expect(row).toContain('| 90.0 (72 + 18) | 1.50× | 0.90× |');
    const compact = renderMarkdown(withVariant, true);
    expect(compact).toContain('#### Experiments');
    expect(compact).not.toContain('#### Goals');
    expect(compact).not.toContain('#### Fixed rate');
  });
});

describe('GC cells', () => {
  it('shows counts with durations from the observer, and from gc=heap the mark-compacts alone, scavenges not counted', () => {
    const observed = stats({ gc: { scavenge: { count: 12, totalMs: 6, maxMs: 1.234 }, 'mark-compact': { count: 2, totalMs: 9, maxMs: 5.54 } } });
    expect(scavengeCell(observed)).toBe('12 (1.23)');
    expect(markCompactCell(observed)).toBe('2 (5.5 ms)');
    expect(scavengeCell(stats())).toBe('0');
    expect(markCompactCell(stats())).toBe('0');
    const fromHeap = stats({ gcSource: 'old-generation', gc: { 'mark-compact': { count: 3, totalMs: 0, maxMs: 0 } } });
    expect(scavengeCell(fromHeap)).toBe('not counted');
    expect(markCompactCell(fromHeap)).toBe('3 (duration not measured)');
    expect(scavengeCell(stats({ gcSource: 'old-generation' }))).toBe('not counted');
  });
});

describe('renderSoak', () => {
  const slice = (minute: number, rssMb: number, heapMb: number, load: Partial<FixedResult> = {}) => ({
    minute,
    load: { ...fixed(1, 'tokenguard', 1, 3, 0.15, 0).load, seconds: 30, ...load },
    stats: stats({ wallMs: 30_000, cpuUs: 0.15 * 30_000 * 1000, rssEnd: rssMb * MB, rssMax: (rssMb + 1) * MB }),
    heapUsed: heapMb * MB,
    heapTotal: 40 * MB,
    external: 2 * MB,
  });

  it('gives the trend of the second half in MB per minute, and the whole run from the merged histogram', () => {
    // RSS climbs 2 MB/min in the first half, then is flat; the heap climbs 1 MB/min throughout.
    const run: SoakRun = {
      server: 'tokenguard',
      minutes: 2,
      rssBefore: 80 * MB,
      slices: [slice(0.5, 90, 20.5), slice(1, 91, 21), slice(1.5, 91, 21.5), slice(2, 91, 22)],
      latency: { count: 120_000, mean: 0.5, p50: 0.41, p90: 0.6, p99: 1.234, p999: 4.5, max: 12.3 },
      meta: { command: 'npx tsx bench/http.ts --soak 2', date: '2026-12-04T01:00:00Z', node: 'v24.11.1', cpu: 'AMD EPYC', rate: 1000, sliceSeconds: 30 },
      answers: [],
    };
    const md = renderSoak([run]);
    expect(md).toContain('### Soak: 1,000 requests/s without pause (`npx tsx bench/http.ts --soak 2`)');
    expect(md).toContain('Node v24.11.1, AMD EPYC');
    expect(md).toContain('RSS 80.0 MB before, 90.0 MB–91.0 MB during, 91.0 MB at the end; second half: RSS +0.00 MB/min, V8 heap used +1.00 MB/min; 0 mark-compacts');
    expect(md).toContain('Whole run, 120,000 requests: p50 0.410 ms, p99 1.234 ms, p99.9 4.500 ms, max 12.30 ms');
    expect(md).toContain('| **whole run** | max 92.0 MB | | 0.410 | 1.234 | 4.500 | 12.30 | 0.150 |');
    expect(md).not.toContain('WARNING');
  });

  it('warns about slices with failed requests and reads older soak JSON', () => {
    const run: SoakRun = {
      server: 'tokenguard',
      minutes: 1,
      rssBefore: 80 * MB,
      slices: [slice(0.5, 90, 20), slice(1, 90, 20, { non2xx: 2, failed: 2 })],
    };
    const md = renderSoak([run]);
    expect(md).toContain('Node and CPU not recorded (older soak JSON)');
    expect(md).toContain('Answers: not checked');
    expect(md).toContain('requests without a 2xx answer in 1 of 2 slices (minutes 1.0): non-2xx / errors / timeouts 2 / 0 / 0');
    expect(md).toContain('Whole run: percentiles not recorded');
  });
});

describe('updateDocs', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tg-report-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const start = (s: string) => `<!-- bench:${s}:start (generated by bench/http.ts; edit outside these markers) -->`;
  const end = (s: string) => `<!-- bench:${s}:end -->`;

  it('replaces only its own section, leaving the text around it and other sections as they were', () => {
    const file = join(dir, 'benchmarks.md');
    writeFileSync(file, `# Benchmarks\n\nprose before\n\n${start('http')}\nold run\n${end('http')}\n\nprose between\n\n${start('soak')}\nold soak\n${end('soak')}\n\nprose after\n`);
    updateDocs(file, 'new run\n', 'http');
    updateDocs(file, 'newer run\n', 'http');
    expect(readFileSync(file, 'utf8')).toBe(
      `# Benchmarks\n\nprose before\n\n${start('http')}\nnewer run\n${end('http')}\n\nprose between\n\n${start('soak')}\nold soak\n${end('soak')}\n\nprose after\n`,
    );
  });

  it('appends the section when its markers are missing, and makes the file when there is none', () => {
    const file = join(dir, 'docs', 'benchmarks.md');
    updateDocs(file, 'first\n', 'soak');
    expect(readFileSync(file, 'utf8')).toBe(`# Benchmarks\n\n## HTTP benchmark: latest full run\n\n${start('soak')}\nfirst\n${end('soak')}\n`);
    updateDocs(file, 'run\n', 'http');
    const text = readFileSync(file, 'utf8');
    expect(text.endsWith(`${end('soak')}\n\n${start('http')}\nrun\n${end('http')}\n`)).toBe(true);
  });

  it('does not take an end marker before its start marker for the section', () => {
    const file = join(dir, 'benchmarks.md');
    writeFileSync(file, `${end('http')}\nnote\n\n${start('http')}\nold\n${end('http')}\n`);
    updateDocs(file, 'new\n', 'http');
    expect(readFileSync(file, 'utf8')).toBe(`${end('http')}\nnote\n\n${start('http')}\nnew\n${end('http')}\n`);
  });
});
