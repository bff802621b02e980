import { readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { checkPolicySet, parsePolicyDocuments } from './parse.js';
import type { PolicyError, TokenPolicy } from './types.js';

export interface LoadResult {
  readonly policies: TokenPolicy[];
  readonly errors: PolicyError[];
  /** Problems that do not make the set invalid (`policy validate` prints them, the server logs them). */
  readonly warnings: PolicyError[];
  /** Every file read, in the order read. */
  readonly files: string[];
  /** For each file read without errors: the names of the policies it holds (none for an empty or comments-only file). */
  readonly byFile: ReadonlyMap<string, readonly string[]>;
}

/**
 * Reads policy files and folders (recursively; `*.yaml` and `*.yml`), the one loader shared by
 * the server and every CLI command. Entries starting with `.` are skipped, which also skips the
 * `..data` and timestamped folders of a ConfigMap volume (their files appear once, through the
 * top-level symlinks). A folder reached twice through symlinks is read once; a symlink back to
 * a folder it is inside (a loop) is one error, and not followed. Returns every error of every
 * file; a set with errors must not be used.
 */
export function loadPolicies(paths: readonly string[]): LoadResult {
  const files: string[] = [];
  const errors: PolicyError[] = [];
  const warnings: PolicyError[] = [];
  const policies: TokenPolicy[] = [];
  const byFile = new Map<string, readonly string[]>();
  const visited = new Set<string>();
  const fail = (file: string, message: string) => errors.push({ file, document: 0, path: '', message });
  for (const p of paths) {
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(p);
    } catch (e) {
      fail(p, `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      continue;
    }
    if (st.isDirectory()) {
      const real = realpathOf(p);
      if (visited.has(real)) continue;
      visited.add(real);
      const walk = { files: [] as string[], loops: [] as PolicyError[], visited };
      policyFilesIn(p, [real], walk);
      if (walk.files.length === 0 && walk.loops.length === 0) fail(p, 'no policy files (*.yaml, *.yml) found');
      files.push(...walk.files);
      errors.push(...walk.loops);
    } else files.push(p);
  }
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      fail(file, `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      continue;
    }
    const r = parsePolicyDocuments(text, file);
    policies.push(...r.policies);
    errors.push(...r.errors);
    warnings.push(...r.warnings);
    if (r.errors.length === 0)
      byFile.set(
        file,
        r.policies.map((x) => x.name),
      );
  }
  errors.push(...checkPolicySet(policies));
  if (errors.length === 0 && policies.length === 0) {
    fail(paths.join(', '), 'no policies found');
  }
  return { policies, errors, warnings, files, byFile };
}

/**
 * Policy files that held policies in `before` (a good set) and hold none now: an empty or
 * comments-only file put in place of a policy file, or one caught in the middle of being
 * rewritten. One error per file, naming the policies it took away. A file that is gone is not
 * reported: deleting a file is how policies are removed on purpose.
 */
export function emptiedFiles(before: LoadResult['byFile'], now: LoadResult['byFile']): PolicyError[] {
  const errors: PolicyError[] = [];
  for (const [file, names] of before) {
    if (names.length === 0 || now.get(file)?.length !== 0) continue;
    const list = names.length > 3 ? `${names.slice(0, 3).join(', ')} and ${names.length - 3} more` : names.join(', ');
    errors.push({
      file,
      document: 0,
      path: '',
      message: `held ${names.length} ${names.length === 1 ? 'policy' : 'policies'} (${list}) and now holds none (empty, or only comments); delete the file to remove policies, or start the server with --allow-empty-policy-files`,
    });
  }
  return errors;
}

interface Walk {
  readonly files: string[];
  readonly loops: PolicyError[];
  /** Real paths of every folder entered, for this whole load. */
  readonly visited: Set<string>;
}

/**
 * Collects the policy files below `dir`, sorted, in depth-first order. `chain` holds the real
 * paths of `dir` and the folders above it: a subfolder that resolves to one of them is a loop.
 */
function policyFilesIn(dir: string, chain: readonly string[], walk: Walk): void {
  let names: string[];
  try {
    names = readdirSync(dir)
      .filter((n) => !n.startsWith('.'))
      .sort();
  } catch (e) {
    walk.loops.push({
      file: dir,
      document: 0,
      path: '',
      message: `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    });
    return;
  }
  for (const name of names) {
    const full = join(dir, name);
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(full);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ELOOP') {
        walk.loops.push({
          file: full,
          document: 0,
          path: '',
          message: 'symlink loop: the link resolves to itself; not followed',
        });
      }
      continue; // a dangling symlink, e.g. mid-swap of a ConfigMap volume
    }
    if (st.isDirectory()) {
      const real = realpathOf(full);
      if (chain.includes(real)) {
        walk.loops.push({
          file: full,
          document: 0,
          path: '',
          message: `symlink loop: leads back to ${real}, a folder it is in; not followed`,
        });
        continue;
      }
      if (walk.visited.has(real)) continue; // already read through another link
      walk.visited.add(real);
      policyFilesIn(full, [...chain, real], walk);
    } else if (/\.ya?ml$/.test(name)) walk.files.push(full);
  }
}

function realpathOf(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return p;
  }
}
