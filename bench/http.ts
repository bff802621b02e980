/**
 * The HTTP benchmark: `tokenguard serve` as the image and the Deployment start it (bench/processes.ts:
 * built from src/, shipped policies, `--no-cluster`, logging at info to a pipe this process
 * reads) against baseline A (bench/baseline.mjs: bare node:https, JSON.parse, a canned answer)
 * in the same run. Each server is pinned to CPU 1, this process, the load, to CPU 0.
 *
 *   npx tsx bench/http.ts [--quick] [--rounds N] [--seconds S] [--fixed-rounds N] [--fixed-seconds S] [--ref COMMIT]
 *
 * - Saturation: closed loop (autocannon), 10 and 50 keep-alive connections, each body of
 *   bench/bodies.ts: throughput, the server's CPU per request (/proc), its RSS sampled every 200 ms.
 * - Fixed rate: 1,000 requests/s open loop, typical pod, over a keep-alive agent: request i is
 *   due at t0 + i/rate and its latency counts from then, so a stall delays every request due
 *   during it (no coordinated omission). 30 s at the rate, then 60 s measured, in which the
 *   server's mark-compacts are counted from its own `--trace-gc` lines.
 *
 * Rounds alternate the servers' order; figures are medians, saturation ratios are paired within
 * a round. `--ref COMMIT` adds tokenguard built from that commit's src/ to the same rounds (a
 * before/after). Every body goes once to every server first: an answer tokenguard should not
 * give stops the run. Prints a Markdown report and writes it, with the raw figures, to
 * bench/results/ (git-ignored).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { type BenchBody, benchBodies } from './bodies.js';
import { build, cpuMicros, type Proc, procStatus, REPO, serveCommand, shipped, startProcess } from './processes.js';

const { values: opts } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    seconds: { type: 'string' },
    'fixed-rounds': { type: 'string' },
    'fixed-seconds': { type: 'string' },
    ref: { type: 'string' },
  },
});
const quick = opts.quick === true;
const num = (v: string | undefined, d: number) => (v === undefined ? d : Number(v));
const cfg = {
  rounds: num(opts.rounds, quick ? 1 : 3),
  seconds: num(opts.seconds, quick ? 3 : 5),
  connections: [10, 50],
  rate: 1000,
  fixedRounds: num(opts['fixed-rounds'], quick ? 1 : 2),
  fixedWarmSeconds: quick ? 5 : 30,
  fixedSeconds: num(opts['fixed-seconds'], quick ? 15 : 60),
};
const GOALS = { throughput: 0.5, p99: 2, rss: 1.3 };
const log = (msg: string) => process.stderr.write(`[bench:http ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

interface Server {
  readonly name: string;
  readonly pid: number;
  readonly port: number;
  readonly proc: Proc;
  /** Mark-compacts its `--trace-gc` lines reported so far. */
  readonly markCompacts: number;
}

async function startServer(name: string, argv: string[], env: Record<string, string> = {}): Promise<Server> {
  let markCompacts = 0;
  const onLine = (line: string) => {
    if (/ ms: Mark-Compact/.test(line)) markCompacts += 1;
  };
  const proc = await startProcess(['--trace-gc', ...argv], { env, cpu: pinned ? 1 : undefined, onLine });
  return {
    name,
    pid: proc.pid,
    port: proc.port,
    proc,
    get markCompacts() {
      return markCompacts;
    },
  };
}

// ------------------------------------------------------------------ load
interface Saturation {
  rps: number;
  cpuUsPerRequest: number;
  rssMax: number;
  failures: number;
}

async function saturate(server: Server, body: BenchBody, connections: number, seconds: number): Promise<Saturation> {
  let rssMax = procStatus(server.pid, 'VmRSS');
  const sampler = setInterval(() => {
    rssMax = Math.max(rssMax, procStatus(server.pid, 'VmRSS'));
  }, 200);
  const cpu0 = cpuMicros(server.pid);
  const r = await autocannon({
    url: `https://127.0.0.1:${server.port}${body.path}`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: body.body,
    connections,
    duration: seconds,
    timeout: 10,
  });
  clearInterval(sampler);
  return {
    rps: r['2xx'] / r.duration,
    cpuUsPerRequest: (cpuMicros(server.pid) - cpu0) / r['2xx'],
    rssMax,
    failures: r.non2xx + r.errors,
  };
}

interface Fixed {
  p50: number;
  p99: number;
  p999: number;
  max: number;
  cores: number;
  markCompacts: number;
  failures: number;
}

const agents = new Map<number, Agent>();

/** `cfg.rate` requests/s for `seconds`, open loop (see the header); latencies in ms. */
function fixedRate(server: Server, body: BenchBody, seconds: number): Promise<Fixed> {
  const agent =
    agents.get(server.port) ??
    new Agent({ keepAlive: true, maxSockets: 64, rejectUnauthorized: false, scheduling: 'lifo' });
  agents.set(server.port, agent);
  const data = Buffer.from(body.body);
  const total = Math.round(cfg.rate * seconds);
  const latency = new Float64Array(total);
  const t0 = performance.now() + 5;
  const cpu0 = cpuMicros(server.pid);
  const gc0 = server.markCompacts;
  let sent = 0;
  let finished = 0;
  let failures = 0;
  return new Promise((resolve) => {
    const done = () => {
      const sorted = latency.sort();
      const at = (q: number) => sorted[Math.min(total - 1, Math.ceil(q * total) - 1)] as number;
      const wall = performance.now() - t0;
      resolve({
        p50: at(0.5),
        p99: at(0.99),
        p999: at(0.999),
        max: sorted[total - 1] as number,
        cores: (cpuMicros(server.pid) - cpu0) / 1000 / wall,
        markCompacts: server.markCompacts - gc0,
        failures,
      });
    };
    const send = (i: number, due: number) => {
      let settled = false;
      const settle = (ok: boolean) => {
        if (settled) return;
        settled = true;
        latency[i] = performance.now() - due;
        if (!ok) failures += 1;
        if (++finished === total) done();
      };
      const req = request(
        {
          agent,
          host: '127.0.0.1',
          port: server.port,
          path: body.path,
          method: 'POST',
          headers: { 'Content-Type': 'application/json', 'Content-Length': data.length },
        },
        (res) => {
          res.resume();
          res.on('end', () => settle(res.statusCode === 200));
          res.on('error', () => settle(false));
        },
      );
      req.setTimeout(10_000, () => req.destroy());
      req.on('error', () => settle(false));
      req.end(data);
    };
    // This core belongs to the load: spinning on setImmediate sends each request within a few µs of its time.
    const tick = () => {
      const now = performance.now();
      for (; sent < total && t0 + (sent * 1000) / cfg.rate <= now; sent++) send(sent, t0 + (sent * 1000) / cfg.rate);
      if (sent < total) setImmediate(tick);
    };
    setImmediate(tick);
  });
}

/** One POST; what tokenguard must answer is in bench/bodies.ts, A answers its canned review. */
function checkAnswer(server: Server, body: BenchBody, canned: boolean): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: server.port,
        path: body.path,
        method: 'POST',
        agent: false,
        rejectUnauthorized: false,
        headers: { 'Content-Type': 'application/json' },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const r = (
            JSON.parse(Buffer.concat(chunks).toString()) as {
              response?: { uid?: string; allowed?: boolean; patch?: string };
            }
          ).response;
          const expected = canned
            ? r?.allowed === true
            : r?.uid === body.uid &&
              r.allowed === body.expect.allowed &&
              (r.patch !== undefined) === body.expect.patched;
          resolve(
            res.statusCode === 200 && expected
              ? undefined
              : `${server.name}, ${body.id}: HTTP ${res.statusCode}, allowed=${r?.allowed}, patch ${r?.patch ? 'present' : 'absent'}`,
          );
        });
      },
    );
    req.on('error', (e) => resolve(`${server.name}, ${body.id}: ${e.message}`));
    req.end(body.body);
  });
}

// ------------------------------------------------------------------ run
let pinned = cpus().length >= 2;
try {
  if (pinned) execFileSync('taskset', ['-cp', '0', String(process.pid)], { stdio: 'ignore' });
} catch {
  pinned = false;
}
if (!pinned) log('! taskset or a second core is missing: processes are NOT pinned; figures mean less');
const load0 = loadavg();
const started = Date.now();
const bodies = benchBodies();
const typical = bodies.find((b) => b.id === 'typical') as BenchBody;
const builds = [await build(), ...(opts.ref ? [await build(opts.ref)] : [])];
const servers: Server[] = [];
try {
  const certs = join(builds[0] as string, 'certs');
  servers.push(
    await startServer('A', [join(REPO, 'bench', 'baseline.mjs'), join(certs, 'tls.crt'), join(certs, 'tls.key')]),
  );
  for (const [i, dir] of builds.entries()) {
    const { argv, env } = serveCommand(dir);
    servers.push(await startServer(i === 0 ? 'tokenguard' : `tokenguard@${opts.ref}`, argv, env));
  }
  const startupRss = servers.map((s) => procStatus(s.pid, 'VmRSS'));
  log(
    `Node ${process.version}, load average ${load0.map((x) => x.toFixed(2)).join(' ')}; servers ${servers.map((s) => `${s.name} pid ${s.pid}`).join(', ')}`,
  );
  const wrong = (await Promise.all(servers.flatMap((s, i) => bodies.map((b) => checkAnswer(s, b, i === 0))))).filter(
    Boolean,
  );
  if (wrong.length > 0) throw new Error(`unexpected answers, nothing measured:\n  ${wrong.join('\n  ')}`);

  log('warm-up');
  for (const s of servers) for (const b of bodies) await saturate(s, b, 10, quick ? 1 : 2);
  const sat = new Map<string, Saturation[]>(); // `${server}|${body}|${connections}` -> one per round
  const satKey = (s: string, b: string, c: number) => `${s}|${b}|${c}`;
  for (let round = 1; round <= cfg.rounds; round++) {
    for (const b of bodies) {
      for (const c of cfg.connections) {
        for (const s of round % 2 ? servers : [...servers].reverse()) {
          const r = await saturate(s, b, c, cfg.seconds);
          sat.set(satKey(s.name, b.id, c), [...(sat.get(satKey(s.name, b.id, c)) ?? []), r]);
          log(
            `saturation r${round} ${s.name} ${b.id} c=${c}: ${Math.round(r.rps)} req/s, ${r.cpuUsPerRequest.toFixed(0)} µs/req${r.failures ? `, ${r.failures} failed` : ''}`,
          );
        }
      }
    }
  }
  const fixed = new Map<string, Fixed[]>();
  for (let round = 1; round <= cfg.fixedRounds; round++) {
    for (const s of round % 2 ? servers : [...servers].reverse()) {
      await fixedRate(s, typical, cfg.fixedWarmSeconds);
      const r = await fixedRate(s, typical, cfg.fixedSeconds);
      fixed.set(s.name, [...(fixed.get(s.name) ?? []), r]);
      log(
        `fixed r${round} ${s.name}: p99 ${r.p99.toFixed(2)} ms, ${r.cores.toFixed(3)} core, ${r.markCompacts} mark-compacts${r.failures ? `, ${r.failures} failed` : ''}`,
      );
    }
  }
  await sleep(3000);
  const afterRss = servers.map((s) => procStatus(s.pid, 'VmRSS'));

  // ---------------------------------------------------------------- report
  const mb = (b: number) => `${(b / 1048576).toFixed(1)} MB`;
  const x = (r: number) => `${r.toFixed(2)}×`;
  const pairedRatio = (s: string, b: string, c: number, f: (r: Saturation) => number) => {
    const a = sat.get(satKey('A', b, c)) ?? [];
    return median((sat.get(satKey(s, b, c)) ?? []).map((r, i) => f(r) / f(a[i] as Saturation)));
  };
  const med = (s: string, b: string, c: number, f: (r: Saturation) => number) =>
    median((sat.get(satKey(s, b, c)) ?? []).map(f));
  const fixedMed = (s: string, f: (r: Fixed) => number) => median((fixed.get(s) ?? []).map(f));
  const rssSat = (s: string) =>
    Math.max(...[...sat].filter(([k]) => k.startsWith(`${s}|`)).flatMap(([, rs]) => rs.map((r) => r.rssMax)));
  const lines = [
    `Command: \`npx tsx bench/http.ts ${process.argv.slice(2).join(' ')}\` · Node ${process.version} · ${cpus()[0]?.model ?? 'unknown CPU'} (${cpus().length} cores) · ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC · ${((Date.now() - started) / 60_000).toFixed(1)} min`,
    '',
    `Servers pinned to CPU 1, the load to CPU 0 (${pinned ? 'taskset' : 'NOT pinned'}); load average ${load0.map((v) => v.toFixed(2)).join(' ')} at the start, ${loadavg()
      .map((v) => v.toFixed(2))
      .join(
        ' ',
      )} at the end. tokenguard started as \`node ${shipped.nodeFlags.join(' ')} dist/cli/main.js serve --no-cluster\` with NODE_OPTIONS=\`${shipped.nodeOptions}\`. Saturation: ${cfg.rounds} round(s) of ${cfg.seconds} s per test; fixed rate: ${cfg.fixedRounds} round(s) of ${cfg.fixedSeconds} s after ${cfg.fixedWarmSeconds} s at the rate.`,
    '',
    '| goal | A | server | server / A | met |',
    '|---|---|---|---|---|',
  ];
  for (const s of servers.slice(1)) {
    const name = s.name === 'tokenguard' ? '' : ` (${s.name})`;
    for (const c of cfg.connections) {
      const ratio = pairedRatio(s.name, 'typical', c, (r) => r.rps);
      lines.push(
        `| /mutate throughput, typical pod, ${c} connections${name} ≥ ${GOALS.throughput}× A | ${Math.round(med('A', 'typical', c, (r) => r.rps))} req/s | ${Math.round(med(s.name, 'typical', c, (r) => r.rps))} req/s | ${x(ratio)} | ${ratio >= GOALS.throughput ? 'yes' : '**no**'} |`,
      );
    }
    const p99 = fixedMed(s.name, (r) => r.p99) / fixedMed('A', (r) => r.p99);
    lines.push(
      `| p99 at ${cfg.rate} req/s${name} ≤ ${GOALS.p99}× A's | ${fixedMed('A', (r) => r.p99).toFixed(2)} ms | ${fixedMed(s.name, (r) => r.p99).toFixed(2)} ms | ${x(p99)} | ${p99 <= GOALS.p99 ? 'yes' : '**no**'} |`,
    );
    const gcs = (fixed.get(s.name) ?? []).reduce((n, r) => n + r.markCompacts, 0);
    lines.push(
      `| mark-compact GCs in the fixed-rate windows${name}: none | ${(fixed.get('A') ?? []).reduce((n, r) => n + r.markCompacts, 0)} | ${gcs} | | ${gcs === 0 ? 'yes' : '**no**'} |`,
    );
    const rss = rssSat(s.name) / rssSat('A');
    lines.push(
      `| RSS at saturation (max sampled)${name} ≤ ${GOALS.rss}× A's | ${mb(rssSat('A'))} | ${mb(rssSat(s.name))} | ${x(rss)} | ${rss <= GOALS.rss ? 'yes' : '**no**'} |`,
    );
  }
  lines.push(
    '',
    '#### Saturation (closed loop, keep-alive), medians',
    '',
    '| body | connections | server | req/s | / A | CPU µs per request | / A |',
    '|---|---|---|---|---|---|---|',
  );
  for (const b of bodies) {
    for (const c of cfg.connections) {
      for (const s of servers) {
        const rel = (f: (r: Saturation) => number) => (s.name === 'A' ? '' : x(pairedRatio(s.name, b.id, c, f)));
        lines.push(
          `| ${b.label} | ${c} | ${s.name} | ${Math.round(med(s.name, b.id, c, (r) => r.rps))} | ${rel((r) => r.rps)} | ${med(s.name, b.id, c, (r) => r.cpuUsPerRequest).toFixed(1)} | ${rel((r) => r.cpuUsPerRequest)} |`,
        );
      }
    }
  }
  lines.push(
    '',
    `#### Fixed rate ${cfg.rate} req/s, open loop, typical pod (latency from the intended send time, ms)`,
    '',
    '| server | round | p50 | p99 | p99.9 | max | CPU (cores) | mark-compacts |',
    '|---|---|---|---|---|---|---|---|',
  );
  for (const s of servers)
    for (const [i, r] of (fixed.get(s.name) ?? []).entries())
      lines.push(
        `| ${s.name} | ${i + 1} | ${r.p50.toFixed(3)} | ${r.p99.toFixed(3)} | ${r.p999.toFixed(3)} | ${r.max.toFixed(2)} | ${r.cores.toFixed(3)} | ${r.markCompacts} |`,
      );
  lines.push(
    '',
    '#### Memory (RSS)',
    '',
    `| | ${servers.map((s) => s.name).join(' | ')} |`,
    `|---|${servers.map(() => '---|').join('')}`,
  );
  lines.push(
    `| at start-up | ${startupRss.map(mb).join(' | ')} |`,
    `| max at saturation | ${servers.map((s) => mb(rssSat(s.name))).join(' | ')} |`,
    `| idle after the run | ${afterRss.map(mb).join(' | ')} |`,
  );
  const failed = [...sat.values(), ...fixed.values()].flat().reduce((n, r) => n + r.failures, 0);
  if (failed > 0)
    lines.push(
      '',
      `**${failed} requests failed** (non-2xx, errors or timeouts) over the run: the figures above include them.`,
    );
  const report = `${lines.join('\n')}\n`;
  process.stdout.write(report);
  const dir = join(REPO, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  writeFileSync(join(dir, `http-${stamp}.md`), report);
  writeFileSync(
    join(dir, `http-${stamp}.json`),
    `${JSON.stringify({ cfg, saturation: Object.fromEntries(sat), fixed: Object.fromEntries(fixed), startupRss, afterRss }, null, 2)}\n`,
  );
  log(`done in ${((Date.now() - started) / 60_000).toFixed(1)} min; bench/results/http-${stamp}.md`);
} finally {
  for (const a of agents.values()) a.destroy();
  await Promise.all(servers.map((s) => s.proc.stop()));
  for (const dir of builds) rmSync(dir, { recursive: true, force: true });
}
