/**
 * The Go tools the chart and release tests run (helm, actionlint, kustomize), built once from the
 * Go module proxy and cached outside the repository by test/tools/get-tool.sh. A cached call
 * returns at once; a cold one builds the tool (minutes for helm).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const found = new Map<string, string>();

/** The path of `name`, built by test/tools/get-tool.sh when not cached yet. */
export function tool(name: 'helm' | 'helm3' | 'actionlint' | 'kustomize'): string {
  const known = found.get(name);
  if (known) return known;
  let out: string;
  try {
    out = execFileSync('bash', [join(ROOT, 'test/tools/get-tool.sh'), name], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      timeout: 30 * 60_000,
    });
  } catch (e) {
    throw new Error(`test/tools/get-tool.sh ${name} failed (see its message above): ${(e as Error).message}`);
  }
  const path = out.trim().split('\n').pop() ?? '';
  if (!existsSync(path)) throw new Error(`test/tools/get-tool.sh ${name} named '${path}', which does not exist`);
  found.set(name, path);
  return path;
}

/** kubectl on PATH (kustomize is built into it). */
export function kubectlPath(): string {
  const candidates = [
    process.env.KUBECTL,
    ...(process.env.PATH ?? '').split(delimiter).map((d) => join(d, 'kubectl')),
    '/usr/bin/kubectl',
  ];
  const path = candidates.find((p): p is string => !!p && existsSync(p));
  if (!path) throw new Error('kubectl not found: install kubectl (kustomize is built into it)');
  return path;
}
