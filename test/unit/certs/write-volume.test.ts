import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { writeVolume } from '../../../src/server/cert-manager.js';
import { tempDir } from './helpers.js';

const read = (dir: string) => ({
  cert: readFileSync(join(dir, 'tls.crt'), 'utf8'),
  key: readFileSync(join(dir, 'tls.key'), 'utf8'),
});

test('writes the kubelet layout: visible links through ..data to one timestamped folder, the older one removed', async () => {
  const { dir, cleanup } = tempDir('volume');
  try {
    await writeVolume(dir, { 'tls.crt': 'cert 1', 'tls.key': 'key 1' });
    expect(read(dir)).toEqual({ cert: 'cert 1', key: 'key 1' });
    const first = readlinkSync(join(dir, '..data'));
    await writeVolume(dir, { 'tls.crt': 'cert 2', 'tls.key': 'key 2' });
    expect(read(dir)).toEqual({ cert: 'cert 2', key: 'key 2' });
    expect(readlinkSync(join(dir, 'tls.crt'))).toBe(join('..data', 'tls.crt'));
    expect(readdirSync(dir).sort()).toEqual([readlinkSync(join(dir, '..data')), '..data', 'tls.crt', 'tls.key'].sort());
    expect(readdirSync(dir)).not.toContain(first);
  } finally {
    cleanup();
  }
});

test('two writes at once leave a readable pair, one or the other, never a dangling ..data', async () => {
  const { dir, cleanup } = tempDir('volume');
  try {
    for (let round = 0; round < 20; round++) {
      await Promise.all([
        writeVolume(dir, { 'tls.crt': `a${round}`, 'tls.key': `ka${round}` }),
        writeVolume(dir, { 'tls.crt': `b${round}`, 'tls.key': `kb${round}` }),
      ]);
      const pair = read(dir);
      expect([
        { cert: `a${round}`, key: `ka${round}` },
        { cert: `b${round}`, key: `kb${round}` },
      ]).toContainEqual(pair);
    }
  } finally {
    cleanup();
  }
});
