import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { checkPolicySet, parsePolicyDocuments } from './parse.js';
import type { PolicyError, TokenPolicy } from './types.js';

export interface LoadResult {
  readonly policies: TokenPolicy[];
  readonly errors: PolicyError[];
  /** Every file read, in the order read. */
  readonly files: string[];
}

/**
 * Reads policy files and folders (recursively; `*.yaml` and `*.yml`), the one loader shared by
 * the server and every CLI command. Entries starting with `.` are skipped, which also skips the
 * `..data` and timestamped folders of a ConfigMap volume (their files appear once, through the
 * top-level symlinks). Returns every error of every file; a set with errors must not be used.
 */
export function loadPolicies(paths: readonly string[]): LoadResult {
  const files: string[] = [];
  const errors: PolicyError[] = [];
  const policies: TokenPolicy[] = [];
  for (const p of paths) {
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(p);
    } catch (e) {
      errors.push({ file: p, document: 0, path: '', message: `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` });
      continue;
    }
    if (st.isDirectory()) {
      const found = policyFilesIn(p);
      if (found.length === 0) errors.push({ file: p, document: 0, path: '', message: 'no policy files (*.yaml, *.yml) found' });
      files.push(...found);
    } else files.push(p);
  }
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      errors.push({ file, document: 0, path: '', message: `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` });
      continue;
    }
    const r = parsePolicyDocuments(text, file);
    policies.push(...r.policies);
    errors.push(...r.errors);
  }
  errors.push(...checkPolicySet(policies));
  if (errors.length === 0 && policies.length === 0) {
    errors.push({ file: paths.join(', '), document: 0, path: '', message: 'no policies found' });
  }
  return { policies, errors, files };
}

function policyFilesIn(dir: string): string[] {
  const out: string[] = [];
  const entries = readdirSync(dir).filter((n) => !n.startsWith('.')).sort();
  for (const name of entries) {
    const full = join(dir, name);
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(full);
    } catch {
      continue; // a dangling symlink, e.g. mid-swap of a ConfigMap volume
    }
    if (st.isDirectory()) out.push(...policyFilesIn(full));
    else if (/\.ya?ml$/.test(name)) out.push(full);
  }
  return out;
}
