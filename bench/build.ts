/**
 * Compiles the sources the benchmark's child processes run to plain JavaScript, file by file
 * (TypeScript's transpileModule: no type check, so another engineer's half-finished file
 * elsewhere cannot stop a benchmark), into node_modules/.cache/tokenguard-bench/ (out of the
 * linter's way), mirroring the repository layout so that the relative `.js` imports resolve as
 * in dist/, with a package.json that makes the files ES modules. The
 * children then run without a loader hook, as `node dist/cli/main.js serve` does in production:
 * tsx's loader thread would add memory and start-up work that production does not have.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import ts from 'typescript';

/** Folders (relative to the repository) compiled whole, and single files. */
const SOURCES = ['src', 'bench', 'test/helpers/pods.ts'];

function tsFiles(path: string): string[] {
  const st = statSync(path);
  if (st.isFile()) return path.endsWith('.ts') && !path.endsWith('.d.ts') ? [path] : [];
  const out: string[] = [];
  for (const name of readdirSync(path)) {
    if (name === 'results' || name === 'node_modules' || name.startsWith('.')) continue;
    out.push(...tsFiles(join(path, name)));
  }
  return out;
}

/**
 * Returns the output folder; its layout mirrors the repository (`<out>/bench/http-server.js`).
 * With `ref` (a commit such as `HEAD`, or an absolute folder holding a copy of src/), src/ comes
 * from there instead of the working tree: the benchmark can then run the committed server beside
 * the edited one, in the same rounds.
 */
export function compileForChildren(root: string, ref?: string): string {
  const out = join(root, 'node_modules', '.cache', ref ? `tokenguard-bench-${ref.replace(/[^\w.-]/g, '_')}` : 'tokenguard-bench');
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  // Above this folder the nearest package scope ends at node_modules: declare the type here.
  writeFileSync(join(out, 'package.json'), '{ "type": "module", "private": true }\n');
  const compilerOptions: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    verbatimModuleSyntax: true,
    sourceMap: false,
  };
  const sources = new Map<string, () => string>();
  for (const file of SOURCES.flatMap((s) => tsFiles(join(root, s)))) sources.set(relative(root, file), () => readFileSync(file, 'utf8'));
  if (ref?.startsWith('/')) {
    // A folder holding a copy of src/ (a snapshot taken with `cp -r src /tmp/x/`).
    for (const rel of [...sources.keys()]) if (rel.startsWith('src/')) sources.delete(rel);
    for (const file of tsFiles(join(ref, 'src'))) sources.set(relative(ref, file), () => readFileSync(file, 'utf8'));
  } else if (ref) {
    for (const rel of [...sources.keys()]) if (rel.startsWith('src/')) sources.delete(rel);
    const git = (...args: string[]) => execFileSync('git', args, { cwd: root, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    for (const rel of git('ls-tree', '-r', '--name-only', ref, '--', 'src').split('\n')) {
      if (rel.endsWith('.ts') && !rel.endsWith('.d.ts')) sources.set(rel, () => git('show', `${ref}:${rel}`));
    }
  }
  for (const [rel, read] of sources) {
    const { outputText } = ts.transpileModule(read(), { compilerOptions, fileName: rel });
    const target = join(out, rel.replace(/\.ts$/, '.js'));
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, outputText);
  }
  return out;
}
