import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import { REPO } from '../helpers/fixtures.js';

test('tokenguard --version (and -v, version) prints the version of package.json and exits 0', async () => {
  const { version } = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };
  for (const arg of ['--version', '-v', 'version']) {
    const out: string[] = [];
    const err: string[] = [];
    const code = await main([arg], {
      stdout: { write: (s: string) => out.push(s) > 0 },
      stderr: { write: (s: string) => err.push(s) > 0 },
    });
    expect({ arg, code, out: out.join(''), err: err.join('') }).toEqual({ arg, code: 0, out: `${version}\n`, err: '' });
  }
});
