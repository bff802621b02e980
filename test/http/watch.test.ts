/**
 * File change detection behind hot reload: a folder watch, a poll that works without it, and a
 * content fingerprint that sees a `..data` symlink swap and ignores mere touches.
 */
import { utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { contentFingerprint, watchForChanges } from '../../src/server/watch.js';
import { EVENT_WAIT_LIMIT_MS, tempDir, VolumeDir } from './helpers.js';

/** Resolves on the next call of the returned callback; rejects after the guard limit. */
function changeCounter() {
  let count = 0;
  let waiter: (() => void) | undefined;
  return {
    onChange: () => {
      count += 1;
      waiter?.();
    },
    count: () => count,
    next: () =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no change noticed')), EVENT_WAIT_LIMIT_MS);
        waiter = () => {
          clearTimeout(timer);
          waiter = undefined;
          resolve();
        };
      }),
  };
}

test('the folder watch alone notices a ConfigMap-style swap (poll effectively off)', async () => {
  const vol = new VolumeDir(tempDir('watch'), { 'a.yaml': 'one' });
  const c = changeCounter();
  const w = watchForChanges({
    dirs: [vol.dir],
    fingerprint: () => contentFingerprint([vol.dir]),
    onChange: c.onChange,
    pollIntervalMs: 3_600_000,
  });
  try {
    const next = c.next();
    vol.swap({ 'a.yaml': 'two' });
    await next;
    expect(c.count()).toBe(1);
  } finally {
    w.close();
  }
});

test('the poll alone notices a change (no folder watch), once per distinct content', async () => {
  const dir = tempDir('poll');
  const file = join(dir, 'tls.crt');
  writeFileSync(file, 'one');
  const c = changeCounter();
  let polls = 0;
  const fingerprint = () => {
    polls += 1;
    return contentFingerprint([file]);
  };
  /** Lets the poll run `n` more times (bounded). */
  const pollsPass = async (n: number) => {
    const target = polls + n;
    for (let i = 0; i < 1000 && polls < target; i++) await new Promise((r) => setTimeout(r, 5));
    expect(polls).toBeGreaterThanOrEqual(target); // the poll did run: "no change seen" means something
  };
  const w = watchForChanges({ dirs: [], fingerprint, onChange: c.onChange, pollIntervalMs: 20 });
  try {
    const next = c.next();
    writeFileSync(file, 'two');
    await next;
    // The same content again with a new mtime is no change, however many polls see it.
    writeFileSync(file, 'two');
    utimesSync(file, new Date(), new Date(Date.now() + 5000));
    await pollsPass(3);
    expect(c.count()).toBe(1);
    const again = c.next();
    writeFileSync(file, 'three');
    await again;
    expect(c.count()).toBe(2);
  } finally {
    w.close();
  }
});

test('the fingerprint follows the visible files through ..data and ignores dot entries', () => {
  const vol = new VolumeDir(tempDir('fp'), { 'a.yaml': 'one', 'b.yaml': 'x' });
  const first = contentFingerprint([vol.dir]);
  writeFileSync(join(vol.dir, '.hidden'), 'ignored');
  expect(contentFingerprint([vol.dir])).toBe(first);
  vol.swap({ 'a.yaml': 'one', 'b.yaml': 'x' });
  expect(contentFingerprint([vol.dir])).toBe(first);
  vol.swap({ 'a.yaml': 'one', 'b.yaml': 'y' });
  expect(contentFingerprint([vol.dir])).not.toBe(first);
  expect(contentFingerprint([join(vol.dir, 'missing.yaml')])).not.toBe(
    contentFingerprint([join(vol.dir, 'other-missing.yaml')]),
  );
});

test('a missing folder is no error: the poll notices when it appears', async () => {
  const base = tempDir('later');
  const dir = join(base, 'policies');
  const c = changeCounter();
  const w = watchForChanges({
    dirs: [dir],
    fingerprint: () => contentFingerprint([dir]),
    onChange: c.onChange,
    pollIntervalMs: 20,
  });
  try {
    const next = c.next();
    new VolumeDir(dir, { 'p.yaml': 'content' });
    await next;
    expect(c.count()).toBeGreaterThanOrEqual(1);
  } finally {
    w.close();
  }
});
