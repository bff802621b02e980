import { readFileSync } from 'node:fs';
import { parseProcStatusMemory } from '../../../bench/proc-status.js';

describe('parseProcStatusMemory (the benchmark memory split)', () => {
  const linux = process.platform === 'linux' ? it : it.skip;

  linux('reads this process: the parts add up to VmRSS', () => {
    const m = parseProcStatusMemory(readFileSync('/proc/self/status', 'utf8'));
    expect(m.vmRss).toBeGreaterThan(10 * 1024 * 1024);
    expect(m.rssAnon).toBeGreaterThan(0);
    expect(m.rssFile).toBeGreaterThan(0);
    // The kernel reports VmRSS as the sum of the three, each rounded to kB.
    expect(m.rssAnon + m.rssFile + m.rssShmem).toBe(m.vmRss);
  });

  it('converts kB to bytes and takes each field at the start of its own line', () => {
    const text = 'Name:\tnode\nVmHWM:\t  90000 kB\nVmRSS:\t  70000 kB\nRssAnon:\t  25000 kB\nRssFile:\t  44000 kB\nRssShmem:\t   1000 kB\n';
    expect(parseProcStatusMemory(text)).toEqual({ vmRss: 70000 * 1024, rssAnon: 25000 * 1024, rssFile: 44000 * 1024, rssShmem: 1000 * 1024 });
  });

  it('gives NaN for a field the text lacks (kernels before 4.5 have no RssAnon)', () => {
    const m = parseProcStatusMemory('VmRSS:\t  70000 kB\n');
    expect(m.vmRss).toBe(70000 * 1024);
    expect(m.rssAnon).toBeNaN();
    expect(m.rssFile).toBeNaN();
  });
});
