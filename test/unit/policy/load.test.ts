import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { emptiedFiles, loadPolicies } from '../../../src/policy/load.js';
import { formatPolicyError } from '../../../src/policy/types.js';
import { contentFingerprint } from '../../../src/server/watch.js';

const policy = (name: string) =>
  `apiVersion: tokenguard.dev/v1alpha1\nkind: TokenPolicy\nmetadata:\n  name: ${name}\nspec:\n  mode: Enforce\n  legacyTokenSecrets: {action: Deny}\n`;

const dirs: string[] = [];
function folder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tg-load-'));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('symlink loops in a policy folder', () => {
  test('one loop: one error naming the link, the policies read once', () => {
    const dir = folder();
    writeFileSync(join(dir, 'a.yaml'), policy('a'));
    symlinkSync('.', join(dir, 'loop'));
    const r = loadPolicies([dir]);
    expect(r.errors.map(formatPolicyError)).toEqual([
      `${join(dir, 'loop')}:0: symlink loop: leads back to ${realpathSync(dir)}, a folder it is in; not followed`,
    ]);
    expect(r.policies.map((p) => p.name)).toEqual(['a']);
    expect(r.files).toEqual([join(dir, 'a.yaml')]);
  });

  test('two loops, one of them through a subfolder: two errors, no stack overflow', () => {
    const dir = folder();
    mkdirSync(join(dir, 'team'));
    writeFileSync(join(dir, 'team', 'b.yaml'), policy('b'));
    symlinkSync('..', join(dir, 'team', 'up'));
    symlinkSync('.', join(dir, 'self'));
    const r = loadPolicies([dir]);
    expect(r.errors.map((e) => [e.file, e.message.replace(/ .*/, '')])).toEqual([
      [join(dir, 'self'), 'symlink'],
      [join(dir, 'team', 'up'), 'symlink'],
    ]);
    expect(r.policies.map((p) => p.name)).toEqual(['b']);
  });

  test('links between two folders that point at each other: one error for the loop', () => {
    const dir = folder();
    mkdirSync(join(dir, 'x'));
    mkdirSync(join(dir, 'y'));
    writeFileSync(join(dir, 'x', 'x.yaml'), policy('x'));
    writeFileSync(join(dir, 'y', 'y.yaml'), policy('y'));
    symlinkSync('../y', join(dir, 'x', 'to-y'));
    symlinkSync('../x', join(dir, 'y', 'to-x'));
    const r = loadPolicies([dir]);
    expect(r.errors.map((e) => e.file)).toEqual([join(dir, 'x', 'to-y', 'to-x')]);
    expect(r.policies.map((p) => p.name).sort()).toEqual(['x', 'y']);
  });

  test('a link that resolves to itself is one error; a second link to a folder is read once, silently', () => {
    const dir = folder();
    mkdirSync(join(dir, 'shared'));
    writeFileSync(join(dir, 'shared', 's.yaml'), policy('s'));
    symlinkSync('shared', join(dir, 'also-shared'));
    symlinkSync('itself', join(dir, 'itself'));
    const r = loadPolicies([dir]);
    expect(r.errors.map(formatPolicyError)).toEqual([
      `${join(dir, 'itself')}:0: symlink loop: the link resolves to itself; not followed`,
    ]);
    expect(r.policies.map((p) => p.name)).toEqual(['s']);
  });

  test('the change watcher fingerprints such a folder in bounded work, and still sees changes', () => {
    const dir = folder();
    writeFileSync(join(dir, 'a.yaml'), policy('a'));
    // Ten loops: followed blindly to the fingerprint's depth limit, that is 10^8 folders.
    for (let i = 0; i < 10; i++) symlinkSync('.', join(dir, `loop${i}`));
    const before = contentFingerprint([dir]);
    expect(contentFingerprint([dir])).toBe(before);
    writeFileSync(join(dir, 'a.yaml'), policy('changed'));
    expect(contentFingerprint([dir])).not.toBe(before);
  });
});

describe('emptied files', () => {
  test('a file that held policies and now holds none is named with its policies; a deleted one is not', () => {
    const before = new Map([
      ['a.yaml', ['one', 'two']],
      ['b.yaml', ['three']],
      ['c.yaml', []],
      ['d.yaml', ['p1', 'p2', 'p3', 'p4', 'p5']],
    ]);
    const now = new Map([
      ['a.yaml', []],
      ['c.yaml', []],
      ['d.yaml', []],
    ]);
    expect(emptiedFiles(before, now).map((e) => `${e.file}: ${e.message.replace(/;.*/, '')}`)).toEqual([
      'a.yaml: held 2 policies (one, two) and now holds none (empty, or only comments)',
      'd.yaml: held 5 policies (p1, p2, p3 and 2 more) and now holds none (empty, or only comments)',
    ]);
  });

  test('the loader says which policies each file holds', () => {
    const dir = folder();
    writeFileSync(join(dir, 'a.yaml'), `${policy('a1')}---\n${policy('a2')}`);
    writeFileSync(join(dir, 'b.yaml'), '# nothing yet\n');
    const r = loadPolicies([dir]);
    expect(r.errors).toEqual([]);
    expect([...r.byFile]).toEqual([
      [join(dir, 'a.yaml'), ['a1', 'a2']],
      [join(dir, 'b.yaml'), []],
    ]);
  });
});
