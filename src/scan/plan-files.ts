/**
 * The files of `tokenguard scan --plan DIR`, as a map from relative path to content. Pure: the
 * command writes them.
 *
 * | path                                  | what                                                            |
 * |---------------------------------------|-----------------------------------------------------------------|
 * | `README.md`                           | the plan in order, with the commands                            |
 * | `workloads/<ns>/<kind>-<name>.yaml`    | each workload as it would be (for review, `tokenguard test`, `kubectl apply`) |
 * | `json-patch/<ns>/<kind>-<name>.json`   | JSON Patch of the live object (`kubectl patch --type=json --patch-file`) |
 * | `kustomize/<ns>/<kind>-<name>.yaml`    | strategic-merge patch for a kustomization's `patches:`           |
 * | `facts.yaml`                          | the Namespaces, ServiceAccounts and bindings the workloads' pods use (`tokenguard test --facts`) |
 * | `delete-secrets.sh`                   | `kubectl delete secret` for the Secrets nothing uses                  |
 */
import { stringify } from 'yaml';
import type { JsonObject } from '../json.js';
import type { FactsIndex } from './facts-index.js';
import { DELETABLE } from './legacy.js';
import type { WorkloadPlan } from './plan.js';
import type { ScanReport } from './report.js';

/** The marker that makes a folder a plan folder (and lets the next `--plan` replace it). */
export const PLAN_MARKER = '.tokenguard-plan';

/** Sub-folders a new plan replaces whole. */
export const PLAN_FOLDERS = ['workloads', 'json-patch', 'kustomize'] as const;

export interface PlanFilesInput {
  readonly report: ScanReport;
  readonly plans: readonly WorkloadPlan[];
  readonly facts: FactsIndex;
  /** How to name the policies in the README's `tokenguard test` line. */
  readonly policyArgs: readonly string[];
}

/** Every file of the plan folder. */
export function planFiles(input: PlanFilesInput): Map<string, string> {
  const files = new Map<string, string>();
  const { report } = input;
  const patched = input.plans.filter((p) => p.patched);
  const factObjects: JsonObject[] = [];
  const seen = new Set<string>();
  for (const p of patched) {
    const base = `${p.workload.namespace}/${p.workload.kind.toLowerCase()}-${p.workload.name}`;
    files.set(`workloads/${base}.yaml`, yaml(p.patched as JsonObject));
    files.set(`json-patch/${base}.json`, `${JSON.stringify(p.jsonPatch, null, 2)}\n`);
    if (p.strategicMerge) files.set(`kustomize/${base}.yaml`, yaml(p.strategicMerge));
    for (const f of input.facts.factsFor(p.workload.namespace, p.serviceAccount)) {
      const md = f.metadata as JsonObject | undefined;
      const id = `${f.kind}/${md?.namespace ?? ''}/${md?.name ?? ''}`;
      if (seen.has(id)) continue;
      seen.add(id);
      factObjects.push(f);
    }
  }
  if (factObjects.length > 0) files.set('facts.yaml', factObjects.map(yaml).join('---\n'));
  files.set('delete-secrets.sh', deleteScript(report, input.plans));
  files.set('README.md', readme(input, patched));
  files.set(PLAN_MARKER, `written by tokenguard scan at ${report.scannedAt}\n`);
  return files;
}

function yaml(o: JsonObject): string {
  return stringify(o, { lineWidth: 0 });
}

/** The delete lines: now for the deletable Secrets, commented for those a plan frees. */
function deleteScript(report: ScanReport, plans: readonly WorkloadPlan[]): string {
  const lines = [
    '#!/bin/sh',
    `# Legacy token Secrets, from tokenguard scan of ${report.cluster.server} at ${report.scannedAt}.`,
    '# Run tokenguard scan again right before, and read every line before running it.',
    'set -eu',
    '',
  ];
  const now = report.legacyTokens.filter((t) => DELETABLE.has(t.verdict));
  lines.push(`# Used by nothing in the cluster (${now.length}):`);
  for (const t of now) {
    lines.push(`# ${t.namespace}/${t.name}: ${t.verdict}: ${oneLine(t.message)}`);
    lines.push(`kubectl delete secret ${t.name} -n ${t.namespace}`);
  }
  lines.push("# kube-controller-manager's token controller then removes each from its ServiceAccount's .secrets.");
  // Secrets that only workloads with a ready plan use: deletable once those are rolled out.
  const freed = report.legacyTokens.filter((t) => {
    if (t.verdict !== 'migrate-first' || t.consumers.length === 0) return false;
    return t.consumers.every((c) =>
      plans.some(
        (p) =>
          p.status === 'ready' &&
          p.workload.kind === c.workload.kind &&
          p.workload.namespace === c.workload.namespace &&
          p.workload.name === c.workload.name &&
          p.replaces.includes(t.name),
      ),
    );
  });
  lines.push(
    '',
    `# Once the planned workloads are rolled out and tokenguard scan shows no consumer (${freed.length}):`,
  );
  for (const t of freed) lines.push(`# kubectl delete secret ${t.name} -n ${t.namespace}`);
  return `${lines.join('\n')}\n`;
}

function readme(input: PlanFilesInput, patched: readonly WorkloadPlan[]): string {
  const { report } = input;
  const out: string[] = [
    '# Migration off legacy token Secrets',
    '',
    `Written by \`tokenguard scan\` of ${report.cluster.server} at ${report.scannedAt}${report.scope.namespace ? `, namespace ${report.scope.namespace}` : ''}.`,
    'Each workload below gets a projected ServiceAccount token in place of the legacy token Secret,',
    'at the same mount path and file names, living as long as the policies allow.',
    '',
    '1. Review `workloads/` (each workload as it would be), and check it against the policies:',
    '',
    '   ```sh',
    `   tokenguard test ${input.policyArgs.map((p) => `--policies ${p}`).join(' ')} --facts facts.yaml --bindings-complete workloads/`,
    '   ```',
    '',
    '2. Change each workload: in its source, with the kustomize patch (`patches: [{path: kustomize/<ns>/<kind>-<name>.yaml}]`),',
    '   or live with `kubectl patch <kind> <name> -n <ns> --type=json --patch-file json-patch/<ns>/<kind>-<name>.json`',
    '   (a bare Pod cannot change its volumes: recreate it from `workloads/`).',
    '3. Once rolled out, run `tokenguard scan` again: the Secrets should have no consumer left.',
    '4. Read and run `delete-secrets.sh`.',
    '',
    '## Workloads',
    '',
  ];
  const all = input.plans;
  if (all.length === 0) out.push('No workload uses a legacy token Secret.');
  for (const p of all) {
    const base = `${p.workload.namespace}/${p.workload.kind.toLowerCase()}-${p.workload.name}`;
    out.push(`### ${p.workload.kind} ${p.workload.namespace}/${p.workload.name}: ${p.status}`, '');
    for (const c of p.changes) out.push(`- ${c}`);
    for (const m of p.manual) out.push(`- **by hand:** ${m}`);
    if (p.check)
      out.push(
        `- check (tokenguard test of \`workloads/${base}.yaml\`): ${p.check.outcome}${p.check.denials.length > 0 ? `: ${p.check.denials.join('; ')}` : ''}`,
      );
    out.push('');
  }
  if (patched.length === 0 && all.length > 0)
    out.push('Nothing here can be patched automatically; see the notes above.', '');
  return `${out.join('\n')}`;
}

function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}
