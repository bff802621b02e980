/**
 * Every `docs/<file>.md "Section"` a comment (or a doc) cites exists, and nothing cites notes that
 * are not in the repository.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { REPO } from '../helpers/fixtures.js';

function files(dir: string, ext: RegExp): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (e.name === 'node_modules' || e.name === 'fixtures' || e.name.startsWith('.')) return [];
    const full = join(dir, e.name);
    return e.isDirectory() ? files(full, ext) : ext.test(e.name) ? [full] : [];
  });
}

const SOURCES = /\.(ts|mjs|sh|ya?ml|md)$/;
const cited = [
  ...['src', 'test', 'bench', 'deploy', 'charts', 'docs'].flatMap((d) => files(join(REPO, d), SOURCES)),
  join(REPO, 'README.md'),
].filter((f) => !f.endsWith('doc-references.test.ts'));

/** The headings of a markdown file, without the leading `#`s. */
function headings(file: string): Set<string> {
  return new Set([...readFileSync(file, 'utf8').matchAll(/^#{1,6}\s+(.+?)\s*$/gm)].map((m) => m[1] as string));
}

/** `docs/x.md "A", "B"`, `docs/x.md, "A"`, and in docs/ itself `[x.md](x.md), "A"`: the file and the sections. */
function references(text: string, inDocs: boolean): { file: string; sections: string[] }[] {
  const out: { file: string; sections: string[] }[] = [];
  const pattern = inDocs
    ? /(?:docs\/|\]\()([a-z0-9-]+\.md)\)?((?:,? "[^"\n]+")*)/g
    : /docs\/([a-z0-9-]+\.md)((?:,? "[^"\n]+")*)/g;
  for (const m of text.matchAll(pattern)) {
    out.push({ file: m[1] as string, sections: [...(m[2] ?? '').matchAll(/"([^"\n]+)"/g)].map((s) => s[1] as string) });
  }
  return out;
}

test('every docs/ file and section cited exists', () => {
  const missing: string[] = [];
  const cache = new Map<string, Set<string>>();
  for (const file of cited) {
    const inDocs = relative(REPO, file).startsWith('docs/');
    for (const ref of references(readFileSync(file, 'utf8'), inDocs)) {
      const target = join(REPO, 'docs', ref.file);
      if (!existsSync(target)) {
        // Links inside docs/ may point elsewhere (deploy/README.md); only docs/ files are checked.
        if (!inDocs) missing.push(`${relative(REPO, file)}: docs/${ref.file} does not exist`);
        continue;
      }
      const h = cache.get(target) ?? headings(target);
      cache.set(target, h);
      for (const s of ref.sections)
        if (!h.has(s)) missing.push(`${relative(REPO, file)}: docs/${ref.file} has no section "${s}"`);
    }
  }
  expect(missing).toEqual([]);
});

test('nothing cites notes that are not in the repository', () => {
  const offending = cited
    .map((f) => relative(REPO, f))
    .filter((f) =>
      /KUBERNETES-FACTS|RELIABILITY-NOTES|PRODUCT\.md|\bfacts? \d+\.\d+/.test(readFileSync(join(REPO, f), 'utf8')),
    );
  expect(offending).toEqual([]);
});
