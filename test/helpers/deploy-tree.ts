/**
 * Copies of the repository's install manifests for tests that render them: deploy/ and policies/
 * (and charts/, on request), without the files `tokenguard certs generate --out
 * deploy/overlays/self-managed` writes there. Those are the user's own keys: a test must neither
 * read them nor trip over them (a test that generates its own certificates there would find the
 * folder taken and be refused).
 */
import { cpSync, existsSync, readFileSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';

/** The files deploy/overlays/self-managed/.gitignore keeps out of git, relative to the repository. */
export function generatedCertificateFiles(repoRoot: string): string[] {
  const dir = join('deploy', 'overlays', 'self-managed');
  const ignore = join(repoRoot, dir, '.gitignore');
  if (!existsSync(ignore)) return [];
  return readFileSync(ignore, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#') && !l.includes('*'))
    .map((f) => join(dir, f));
}

/** Copies deploy/, policies/ and the given extra folders of `repoRoot` into `dest`, leaving generated certificates behind. */
export function copyInstallTree(repoRoot: string, dest: string, extra: readonly string[] = []): void {
  const root = resolve(repoRoot);
  const skip = new Set(generatedCertificateFiles(root).map((f) => join(root, f)));
  const temporary = /\.tmp-[^/]*$/; // certs generate's half-written files
  for (const dir of ['deploy', 'policies', ...extra]) {
    cpSync(join(root, dir), join(dest, dir), {
      recursive: true,
      filter: (src) => !skip.has(resolve(src)) && !temporary.test(relative(root, src).split(sep).join('/')),
    });
  }
}
