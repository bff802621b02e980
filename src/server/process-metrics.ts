/**
 * Process and Node.js metrics under the names, help texts and types of prom-client's default
 * metrics (so dashboards made for them work), built on prom-client's public Gauge, Counter and
 * Histogram. prom-client's own `collectDefaultMetrics` cannot leave out its GC observer, which
 * costs the old generation (docs/decisions.md "Performance", *No GC histogram by default*), so
 * the GC histogram is added only when asked for.
 */
import { readdirSync, readFileSync } from 'node:fs';
import {
  constants,
  type IntervalHistogram,
  monitorEventLoopDelay,
  type PerformanceEntry,
  PerformanceObserver,
} from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The GC pause histogram, registered only with `--gc-metrics`. */
export const GC_METRIC = 'nodejs_gc_duration_seconds';

const GC_BUCKETS = [0.001, 0.01, 0.1, 1, 2, 5];

/** Event loop delay resolution, ms (prom-client's default). */
const EVENT_LOOP_RESOLUTION_MS = 10;

/** Node's internal list functions behind `nodejs_active_handles` and `nodejs_active_requests`. */
interface ProcessLists {
  _getActiveHandles?: () => unknown[];
  _getActiveRequests?: () => unknown[];
}

/** The process start, in whole seconds since the epoch. */
const startSeconds = Math.round(Date.now() / 1000 - process.uptime());

/** `VmRSS`, `VmSize` and `VmData` of /proc/self/status, in bytes; undefined off Linux. */
function procStatus(): { rss: number; size: number; data: number } | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/self/status', 'utf8');
  } catch {
    return undefined;
  }
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s*(\\d+) kB$`, 'm').exec(text)?.[1] ?? Number.NaN) * 1024;
  return { rss: kib('VmRSS'), size: kib('VmSize'), data: kib('VmData') };
}

/** The soft limit of open files from /proc/self/limits; undefined off Linux. */
function maxOpenFiles(): number | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const value = line === undefined ? Number.NaN : Number(line.split(/ {2,}/)[1]);
    return Number.isFinite(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** Counts of the items of `list` by `key`. */
function countBy<T>(list: readonly T[], key: (item: T) => string | undefined): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of list) {
    const k = key(item);
    if (k !== undefined) counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return counts;
}

/** Sets a `type`-labelled gauge to exactly `counts` (types gone since the last scrape disappear). */
function setByType(gauge: Gauge<'type'>, counts: Map<string, number>): void {
  gauge.reset();
  for (const [type, n] of counts) gauge.set({ type }, n);
}

const className = (o: unknown): string | undefined =>
  typeof o === 'object' && o !== null ? (o.constructor as { name?: string } | undefined)?.name : undefined;

function registerCpu(registers: Registry[]): void {
  let last = process.cpuUsage();
  new Counter({
    name: 'process_cpu_user_seconds_total',
    help: 'Total user CPU time spent in seconds.',
    registers,
    collect() {
      const now = process.cpuUsage();
      const user = (now.user - last.user) / 1e6;
      const sys = (now.system - last.system) / 1e6;
      last = now;
      this.inc(user);
      system.inc(sys);
      total.inc(user + sys);
    },
  });
  const system = new Counter({
    name: 'process_cpu_system_seconds_total',
    help: 'Total system CPU time spent in seconds.',
    registers,
  });
  const total = new Counter({
    name: 'process_cpu_seconds_total',
    help: 'Total user and system CPU time spent in seconds.',
    registers,
  });
}

function registerMemory(registers: Registry[]): void {
  new Gauge({
    name: 'process_start_time_seconds',
    help: 'Start time of the process since unix epoch in seconds.',
    registers,
    collect() {
      this.set(startSeconds);
    },
  });
  if (process.platform === 'linux') {
    new Gauge({
      name: 'process_resident_memory_bytes',
      help: 'Resident memory size in bytes.',
      registers,
      collect() {
        const status = procStatus();
        if (status === undefined) return;
        this.set(status.rss);
        virtual.set(status.size);
        heap.set(status.data);
      },
    });
    const virtual = new Gauge({
      name: 'process_virtual_memory_bytes',
      help: 'Virtual memory size in bytes.',
      registers,
    });
    const heap = new Gauge({ name: 'process_heap_bytes', help: 'Process heap size in bytes.', registers });
    new Gauge({
      name: 'process_open_fds',
      help: 'Number of open file descriptors.',
      registers,
      collect() {
        try {
          // The listing itself holds one descriptor open while it reads.
          this.set(readdirSync('/proc/self/fd').length - 1);
        } catch {
          // Not readable: no sample this scrape.
        }
      },
    });
    const maxFds = maxOpenFiles();
    if (maxFds !== undefined) {
      new Gauge({
        name: 'process_max_fds',
        help: 'Maximum number of open file descriptors.',
        registers,
        collect() {
          this.set(maxFds);
        },
      });
    }
  } else {
    new Gauge({
      name: 'process_resident_memory_bytes',
      help: 'Resident memory size in bytes.',
      registers,
      collect() {
        this.set(process.memoryUsage.rss());
      },
    });
  }
}

function registerEventLoop(registers: Registry[]): void {
  const delay: IntervalHistogram = monitorEventLoopDelay({ resolution: EVENT_LOOP_RESOLUTION_MS });
  delay.enable();
  const gauge = (name: string, help: string) => new Gauge({ name, help, registers });
  new Gauge({
    name: 'nodejs_eventloop_lag_seconds',
    help: 'Lag of event loop in seconds.',
    registers,
    collect() {
      // The time one turn of the loop takes from this scrape, set when it comes (the next scrape shows it).
      const start = process.hrtime.bigint();
      setImmediate(() => this.set(Number(process.hrtime.bigint() - start) / 1e9));
      min.set(delay.min / 1e9);
      max.set(delay.max / 1e9);
      mean.set(delay.mean / 1e9);
      stddev.set(delay.stddev / 1e9);
      for (const [p, g] of percentiles) g.set(delay.percentile(p) / 1e9);
      delay.reset();
    },
  });
  const min = gauge('nodejs_eventloop_lag_min_seconds', 'The minimum recorded event loop delay.');
  const max = gauge('nodejs_eventloop_lag_max_seconds', 'The maximum recorded event loop delay.');
  const mean = gauge('nodejs_eventloop_lag_mean_seconds', 'The mean of the recorded event loop delays.');
  const stddev = gauge(
    'nodejs_eventloop_lag_stddev_seconds',
    'The standard deviation of the recorded event loop delays.',
  );
  const percentiles = ([50, 90, 99] as const).map(
    (p) =>
      [
        p,
        gauge(`nodejs_eventloop_lag_p${p}_seconds`, `The ${p}th percentile of the recorded event loop delays.`),
      ] as const,
  );
}

function registerActive(registers: Registry[]): void {
  const lists = process as unknown as ProcessLists;
  const pair = (name: string, what: string, help: string, list: () => unknown[]) => {
    new Gauge({
      name,
      help,
      labelNames: ['type'],
      registers,
      collect() {
        setByType(this, countBy(list(), className));
      },
    });
    new Gauge({
      name: `${name}_total`,
      help: `Total number of active ${what}.`,
      registers,
      collect() {
        this.set(list().length);
      },
    });
  };
  new Gauge({
    name: 'nodejs_active_resources',
    help: 'Number of active resources that are currently keeping the event loop alive, grouped by async resource type.',
    labelNames: ['type'],
    registers,
    collect() {
      setByType(
        this,
        countBy(process.getActiveResourcesInfo(), (t) => t),
      );
    },
  });
  new Gauge({
    name: 'nodejs_active_resources_total',
    help: 'Total number of active resources.',
    registers,
    collect() {
      this.set(process.getActiveResourcesInfo().length);
    },
  });
  const handles = lists._getActiveHandles;
  if (typeof handles === 'function') {
    pair(
      'nodejs_active_handles',
      'handles',
      'Number of active libuv handles grouped by handle type. Every handle type is C++ class name.',
      () => handles.call(process),
    );
  }
  const requests = lists._getActiveRequests;
  if (typeof requests === 'function') {
    pair(
      'nodejs_active_requests',
      'requests',
      'Number of active libuv requests grouped by request type. Every request type is C++ class name.',
      () => requests.call(process),
    );
  }
}

function registerHeap(registers: Registry[]): void {
  new Gauge({
    name: 'nodejs_heap_size_total_bytes',
    help: 'Process heap size from Node.js in bytes.',
    registers,
    collect() {
      const m = process.memoryUsage();
      this.set(m.heapTotal);
      used.set(m.heapUsed);
      external.set(m.external);
    },
  });
  const used = new Gauge({
    name: 'nodejs_heap_size_used_bytes',
    help: 'Process heap size used from Node.js in bytes.',
    registers,
  });
  const external = new Gauge({
    name: 'nodejs_external_memory_bytes',
    help: 'Node.js external memory size in bytes.',
    registers,
  });
  const space = (kind: string, collect?: () => void) =>
    new Gauge({
      name: `nodejs_heap_space_size_${kind}_bytes`,
      help: `Process heap space size ${kind} from Node.js in bytes.`,
      labelNames: ['space'],
      registers,
      ...(collect ? { collect } : {}),
    });
  const total = space('total', () => {
    for (const s of getHeapSpaceStatistics()) {
      const name = s.space_name.replace(/_space$/, '');
      total.set({ space: name }, s.space_size);
      spaceUsed.set({ space: name }, s.space_used_size);
      available.set({ space: name }, s.space_available_size);
    }
  });
  const spaceUsed = space('used');
  const available = space('available');
}

function registerVersion(registers: Registry[]): void {
  const [major, minor, patch] = process.version.slice(1).split('.');
  new Gauge({
    name: 'nodejs_version_info',
    help: 'Node.js version info.',
    labelNames: ['version', 'major', 'minor', 'patch'],
    registers,
    collect() {
      this.set({ version: process.version, major, minor, patch }, 1);
    },
  });
}

const GC_KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

function registerGc(registers: Registry[]): void {
  const pauses = new Histogram({
    name: GC_METRIC,
    help: 'Garbage collection duration by kind, one of major, minor, incremental or weakcb.',
    labelNames: ['kind'],
    buckets: GC_BUCKETS,
    registers,
  });
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = GC_KINDS[(entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind ?? -1];
      pauses.observe(kind === undefined ? {} : { kind }, entry.duration / 1000);
    }
  }).observe({ entryTypes: ['gc'] });
}

/**
 * Registers the process and Node.js metrics in `registry`; the GC pause histogram only with
 * `gc` (its observer lives as long as the process).
 */
export function registerProcessMetrics(registry: Registry, gc: boolean): void {
  const registers = [registry];
  registerCpu(registers);
  registerMemory(registers);
  registerEventLoop(registers);
  registerActive(registers);
  registerHeap(registers);
  registerVersion(registers);
  if (gc) registerGc(registers);
}
