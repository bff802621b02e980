/**
 * Renders the install manifests the way a user does: `kubectl kustomize DIR` and
 * `helm template RELEASE charts/tokenguard`, parsed into objects.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { kubectlPath, tool } from './tools.js';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const CHART_DIR = join(REPO_ROOT, 'charts', 'tokenguard');

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    [k: string]: unknown;
  };
  [k: string]: unknown;
}

export function parseManifests(text: string, what: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((d) => {
      if (d.errors.length > 0) throw new Error(`${what} does not parse: ${d.errors[0]?.message}`);
      return d.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null && typeof o === 'object');
}

export function kustomize(dir: string): K8sObject[] {
  const out = execFileSync(kubectlPath(), ['kustomize', dir], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 32 * 1024 * 1024,
  });
  return parseManifests(out, `kubectl kustomize ${dir}`);
}

export interface ChartRender {
  release?: string;
  namespace?: string;
  /** Written to a values file (-f). */
  values?: Record<string, unknown>;
  /** --set-file KEY=PATH */
  setFile?: Record<string, string>;
  /** More helm template arguments (e.g. --no-hooks, --skip-tests). */
  args?: string[];
  chart?: string;
}

/** The arguments of `helm template` for a render, with its values in `dir`. */
export function helmTemplateArgs(r: ChartRender, dir: string): string[] {
  const args = [
    'template',
    r.release ?? 'tokenguard',
    r.chart ?? CHART_DIR,
    '--namespace',
    r.namespace ?? 'tokenguard-system',
  ];
  if (r.values) {
    const file = join(dir, 'values.json');
    writeFileSync(file, JSON.stringify(r.values));
    args.push('-f', file);
  }
  for (const [k, v] of Object.entries(r.setFile ?? {})) args.push('--set-file', `${k}=${v}`);
  return [...args, ...(r.args ?? [])];
}

/** `helm template`; throws with helm's own message when it refuses. */
export function helmTemplateText(r: ChartRender = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'tokenguard-helm-'));
  try {
    return execFileSync(tool('helm'), helmTemplateArgs(r, dir), {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 32 * 1024 * 1024,
    });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`helm template failed: ${String(err.stderr ?? err.message).trim()}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function helmTemplate(r: ChartRender = {}): K8sObject[] {
  return parseManifests(helmTemplateText(r), 'helm template');
}
