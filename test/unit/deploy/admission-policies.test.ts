/**
 * deploy/admission-policies/ is `tokenguard export vap|map` over the shipped policies, and the two
 * installations built on it (overlays/admission-policies, overlays/admission-policies-only) render
 * with the real `kubectl kustomize`.
 *
 * UPDATE_ADMISSION_POLICIES=1 rewrites deploy/admission-policies/ from a fresh export.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { runExportCommand } from '../../../src/cli/commands/export.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const COMMITTED = join(ROOT, 'deploy', 'admission-policies');
const KUBECTL = ['/usr/bin/kubectl', ...(process.env.PATH ?? '').split(delimiter).map((d) => join(d, 'kubectl'))].find(
  (p) => p && existsSync(p),
);

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  webhooks?: { name: string; failurePolicy: string }[];
}

/** `tokenguard export WHICH --policies policies --out DIR`, run from the repository root as the README says. */
function exportTo(which: 'vap' | 'map', dir: string): void {
  const err: string[] = [];
  const code = runExportCommand(
    [which, '--policies', 'policies', '--out', dir],
    { stdout: { write: () => true }, stderr: { write: (s: string) => err.push(s) } },
    ROOT,
  );
  if (code !== 0) throw new Error(`tokenguard export ${which} exited ${code}: ${err.join('')}`);
}

function files(dir: string): Record<string, string> {
  return Object.fromEntries(
    readdirSync(dir)
      .sort()
      .map((f) => [f, readFileSync(join(dir, f), 'utf8')]),
  );
}

function kustomize(dir: string): K8sObject[] {
  if (!KUBECTL) throw new Error('kubectl not found: install kubectl (kustomize is built into it) to test deploy/');
  const out = execFileSync(KUBECTL, ['kustomize', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return parseAllDocuments(out).map((d) => d.toJS() as K8sObject);
}

const kinds = (objs: readonly K8sObject[], ...want: string[]) => objs.filter((o) => want.includes(o.kind));
const named = (objs: readonly K8sObject[]) => objs.map((o) => `${o.kind}/${o.metadata.name}`).sort();

let fresh: string;
beforeAll(() => {
  fresh = mkdtempSync(join(tmpdir(), 'tokenguard-admission-policies-'));
  for (const which of ['vap', 'map'] as const)
    exportTo(which, process.env.UPDATE_ADMISSION_POLICIES === '1' ? join(COMMITTED, which) : join(fresh, which));
  if (process.env.UPDATE_ADMISSION_POLICIES === '1')
    for (const which of ['vap', 'map'] as const) exportTo(which, join(fresh, which));
});
afterAll(() => rmSync(fresh, { recursive: true, force: true }));

describe('deploy/admission-policies (regenerate with UPDATE_ADMISSION_POLICIES=1)', () => {
  it.each(['vap', 'map'])('%s/ is a fresh `tokenguard export` of policies/', (which) => {
    expect(files(join(COMMITTED, which))).toEqual(files(join(fresh, which)));
  });
});

describe('overlays/admission-policies: the ValidatingAdmissionPolicies next to the webhooks', () => {
  it('holds every exported ValidatingAdmissionPolicy and binding, and the validating webhooks fail open', () => {
    const objs = kustomize(join(ROOT, 'deploy', 'overlays', 'admission-policies'));
    const exported = kustomize(join(fresh, 'vap'));
    expect(exported.length).toBeGreaterThan(0);
    expect(named(kinds(objs, 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding'))).toEqual(
      named(exported),
    );
    expect(kinds(objs, 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding')).toEqual(
      expect.arrayContaining(exported),
    );
    expect(
      kinds(objs, 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding').filter(
        (o) => o.metadata.namespace !== undefined,
      ),
    ).toEqual([]);
    const validating = kinds(objs, 'ValidatingWebhookConfiguration');
    expect(validating).toHaveLength(1);
    expect((validating[0]?.webhooks ?? []).map((w) => [w.name, w.failurePolicy])).toEqual(
      (validating[0]?.webhooks ?? []).map((w) => [w.name, 'Ignore']),
    );
    // The rest of the installation is the cert-manager one.
    expect(named(objs.filter((o) => !o.kind.includes('AdmissionPolicy')))).toEqual(
      named(kustomize(join(ROOT, 'deploy', 'overlays', 'cert-manager'))),
    );
  });
});

describe('overlays/admission-policies-only: no webhook at all', () => {
  it('is exactly the exported ValidatingAdmissionPolicies and MutatingAdmissionPolicies with their bindings', () => {
    const objs = kustomize(join(ROOT, 'deploy', 'overlays', 'admission-policies-only'));
    const exported = [...kustomize(join(fresh, 'vap')), ...kustomize(join(fresh, 'map'))];
    expect(kinds(exported, 'MutatingAdmissionPolicy').length).toBeGreaterThan(0);
    expect(named(objs)).toEqual(named(exported));
    expect(objs).toEqual(expect.arrayContaining(exported));
  });
});
