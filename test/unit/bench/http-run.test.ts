/**
 * bench/http.ts end to end, at the smallest settings: the real children (tokenguard's server,
 * baseline A, the load generator) on loopback, the answer check, a saturation round and a
 * fixed-rate round per server, the results JSON and its report, and `--render` of that JSON.
 * The figures are not asserted (this runs beside other tests); what the run recorded is.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { benchBodies } from '../../../bench/bodies.js';
import { renderMarkdown, type Results } from '../../../bench/http-report.js';
import { REPO } from '../../http/helpers.js';

const run = promisify(execFile);
const root = REPO;
const tsx = join(root, 'node_modules', 'tsx', 'dist', 'cli.mjs');

describe('bench/http.ts, smallest run', () => {
  let dir: string;
  let stderr = '';
  let results: Results;
  let md: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tg-bench-run-'));
    const args = [
      tsx,
      'bench/http.ts',
      '--quick',
      '--rounds=1',
      '--seconds=1',
      '--bodies=typical,secret',
      '--connections=2',
      '--fixed-rounds=1',
      '--fixed-seconds=1',
      '--fixed-warm-seconds=0',
      '--rate=200',
      '--no-handshakes',
      '--no-profile',
      '--no-docs',
      `--results-dir=${dir}`,
    ];
    const out = await run(process.execPath, args, { cwd: root, timeout: 150_000, maxBuffer: 16 * 1024 * 1024 });
    stderr = out.stderr;
    results = JSON.parse(readFileSync(join(dir, 'http-quick-latest.json'), 'utf8')) as Results;
    md = readFileSync(join(dir, 'http-quick-latest.md'), 'utf8');
  }, 180_000);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('checked every body of bench/bodies.ts on both servers before measuring, not only the measured ones', () => {
    const answers = results.answers ?? [];
    const expected = benchBodies();
    for (const server of ['baseline', 'tokenguard']) {
      expect(answers.filter((a) => a.server === server).map((a) => a.body)).toEqual(expected.map((b) => b.id));
    }
    for (const b of expected) {
      const tg = answers.find((a) => a.server === 'tokenguard' && a.body === b.id);
      expect(tg).toMatchObject({ checked: 'decision', status: 200, uid: 'echoed', allowed: b.expect.allowed, patched: b.expect.patched });
      expect(answers.find((a) => a.server === 'baseline' && a.body === b.id)).toMatchObject({ checked: 'status+uid', status: 200 });
    }
    // What the shipped policies do to the two measured bodies.
    expect(answers.find((a) => a.server === 'tokenguard' && a.body === 'typical')).toMatchObject({ allowed: true, patched: true, patchType: 'JSONPatch' });
    expect(answers.find((a) => a.server === 'tokenguard' && a.body === 'secret')).toMatchObject({ allowed: false, patched: false });
  });

  it('measured both servers on both bodies, and every request got a 2xx answer', () => {
    expect(results.saturation.map((s) => `${s.body}/${s.connections}`).sort()).toEqual(['secret/2', 'typical/2']);
    for (const s of results.saturation) {
      expect(s.rounds.map((r) => r.server).sort()).toEqual(['baseline', 'tokenguard']);
      for (const r of s.rounds) {
        expect(r.load.ok).toBeGreaterThan(0);
        expect([r.load.non2xx, r.load.errors, r.load.timeouts]).toEqual([0, 0, 0]);
        // The server counted what the generator sent (the warm-up is outside the window).
        expect(r.stats.requests).toBeGreaterThanOrEqual(r.load.ok);
        expect(r.stats.cpuUs).toBeGreaterThan(0);
      }
    }
    expect(results.fixed.map((f) => f.server).sort()).toEqual(['baseline', 'tokenguard']);
    for (const f of results.fixed) {
      expect(f.load.rate).toBe(200);
      expect(f.load.latency.count).toBe(f.load.sent);
      expect([f.load.failed, f.load.timedOut]).toEqual([0, 0]);
    }
    expect(results.startup.tokenguard).toBeGreaterThan(0);
    expect(results.idle.tokenguard?.rss).toBeGreaterThan(0);
  });

  it('wrote the report of its JSON, which --render reproduces', async () => {
    expect(md).toBe(renderMarkdown(results));
    expect(md).toContain('#### Goals (issue 9)');
    expect(md).not.toContain('WARNING');
    const again = await run(process.execPath, [tsx, 'bench/http.ts', `--render=${join(dir, 'http-quick-latest.json')}`], { cwd: root, timeout: 60_000 });
    expect(again.stdout).toBe(md);
  });

  it('logs progress without request bodies', () => {
    expect(stderr).toContain('answers tokenguard: typical allowed + patch');
    expect(stderr).not.toContain('managedFields');
    expect(stderr).not.toContain('kube-api-access');
  });
});
