/**
 * How the image, the Deployment and `npm start` start node: the flags the process tests and
 * bench/ start `tokenguard serve` with (test/helpers/image-start.ts) are the shipped ones.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { imageStart } from '../../helpers/image-start.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');

test('the image gives V8 an initial old generation, the Deployment caps the heap in 256Mi, and npm start runs serve with the same flags', () => {
  const shipped = imageStart(ROOT);
  expect(shipped.nodeFlags).toContainEqual(expect.stringMatching(/^--initial-old-space-size=\d+$/));
  expect(shipped.nodeOptions).toMatch(/--max-old-space-size=\d+/);
  expect(shipped.memoryLimitBytes).toBe(256 * 1024 * 1024);
  const start =
    (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts
      .start ?? '';
  expect(start).toContain(`node ${shipped.nodeFlags.join(' ')} dist/cli/main.js serve`);
});
