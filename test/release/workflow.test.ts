/**
 * The release workflow cannot run here (no registry, no GitHub). What can be checked is checked:
 * actionlint (built from the Go module proxy; it runs shellcheck on every `run:` script when
 * shellcheck is installed, as .ci/run does) on every workflow and on the Actions example; the
 * shape of the release (tag trigger, platforms, SBOM, signatures, chart, manifests, npm
 * provenance, least permissions); and the scripts that need only kubectl and helm run for real:
 * the version check, the chart package and the rendered install.yaml files.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { parse } from 'yaml';
import { copyInstallTree } from '../helpers/deploy-tree.js';
import { helmTemplateText, parseManifests, REPO_ROOT } from '../helpers/render.js';
import { kubectlPath, tool } from '../helpers/tools.js';

interface Step {
  name?: string;
  id?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  env?: Record<string, string>;
}
interface Job {
  needs?: string | string[];
  permissions?: Record<string, string>;
  env?: Record<string, string>;
  steps: Step[];
}
interface Workflow {
  on: { push?: { tags?: string[] } };
  permissions: Record<string, string>;
  env: Record<string, string>;
  jobs: Record<string, Job>;
}

const WORKFLOW_FILE = join(REPO_ROOT, '.github/workflows/release.yaml');
const WORKFLOW = parse(readFileSync(WORKFLOW_FILE, 'utf8')) as Workflow;
const VERSION = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const DIGEST = `sha256:${'ab'.repeat(32)}`;
let work = '';

beforeAll(() => {
  tool('actionlint');
  tool('helm');
  work = mkdtempSync(join(tmpdir(), 'tokenguard-release-'));
}, 30 * 60_000);
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

function step(job: string, name: string): Step {
  const s = WORKFLOW.jobs[job]?.steps.find((x) => x.name === name);
  if (!s?.run) throw new Error(`release.yaml: job ${job} has no run step "${name}"`);
  return s;
}

/** Runs a `run:` script of the workflow with bash in `cwd`, as the runner does (bash -e). */
function runStep(s: Step, cwd: string, env: Record<string, string>) {
  return spawnSync('bash', ['-e', '-c', s.run ?? ''], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, ...WORKFLOW.env, ...env },
  });
}

test('actionlint passes every workflow and the Actions example, with shellcheck on their scripts where installed', () => {
  const files = [
    ...readdirSync(join(REPO_ROOT, '.github/workflows')).map((f) => join(REPO_ROOT, '.github/workflows', f)),
    join(REPO_ROOT, 'examples/github-actions.yaml'),
  ];
  const r = spawnSync(tool('actionlint'), ['-no-color', ...files], { encoding: 'utf8' });
  expect({ code: r.status, out: `${r.stdout}${r.stderr}`.trim() }).toEqual({ code: 0, out: '' });
  // actionlint reports what it finds; a broken workflow fails it (so this test can fail).
  const broken = join(work, 'broken.yaml');
  writeFileSync(
    broken,
    readFileSync(WORKFLOW_FILE, 'utf8').replace('steps.build.outputs.digest', 'steps.biuld.outputs.digest'),
  );
  expect(spawnSync(tool('actionlint'), ['-no-color', broken], { encoding: 'utf8' }).stdout).toMatch(/biuld/);
});

test('releases on a version tag: multi-arch image with SBOM and keyless signature, signed OCI chart, install.yaml files, npm with provenance', () => {
  expect(WORKFLOW.on.push?.tags).toEqual(['v[0-9]+.[0-9]+.[0-9]+']);
  expect(WORKFLOW.env.IMAGE).toBe('ghcr.io/tokenguard/tokenguard');
  const uses = (job: string) => (WORKFLOW.jobs[job]?.steps ?? []).map((s) => s.uses?.split('@')[0]).filter(Boolean);
  const runs = (job: string) => (WORKFLOW.jobs[job]?.steps ?? []).map((s) => s.run ?? '').join('\n');
  const build = WORKFLOW.jobs.image?.steps.find((s) => s.uses?.startsWith('docker/build-push-action'));
  expect(build?.with).toMatchObject({
    platforms: 'linux/amd64,linux/arm64',
    push: true,
    sbom: true,
    provenance: 'mode=max',
  });
  expect(uses('image')).toEqual(
    expect.arrayContaining([
      'docker/setup-qemu-action',
      'docker/setup-buildx-action',
      'sigstore/cosign-installer',
      'anchore/sbom-action',
    ]),
  );
  expect(runs('image')).toMatch(/cosign sign --yes "\$\{IMAGE\}@\$\{DIGEST\}"/);
  expect(runs('image')).toMatch(/cosign attest --yes --type spdxjson/);
  expect(runs('chart')).toMatch(/helm package charts\/tokenguard/);
  expect(runs('chart')).toMatch(/helm push .* "\$\{CHART_REPOSITORY\}"/);
  expect(runs('chart')).toMatch(/cosign sign --yes/);
  expect(runs('npm')).toMatch(/npm publish --provenance --access public/);
  expect(runs('release')).toMatch(/gh release create "\$\{TAG\}" --verify-tag/);
  expect(WORKFLOW.env.HELM_VERSION).toBe(
    /HELM_VERSION="\$\{TOKENGUARD_HELM_VERSION:-(v[0-9.]+)\}"/.exec(
      readFileSync(join(REPO_ROOT, 'test/tools/get-tool.sh'), 'utf8'),
    )?.[1],
  );
});

test('least privilege: read-only by default; packages, id-token and contents: write only where needed', () => {
  expect(WORKFLOW.permissions).toEqual({ contents: 'read' });
  const granted = Object.fromEntries(Object.entries(WORKFLOW.jobs).map(([name, job]) => [name, job.permissions ?? {}]));
  expect(granted).toEqual({
    verify: {},
    image: { contents: 'read', packages: 'write', 'id-token': 'write' },
    chart: { contents: 'read', packages: 'write', 'id-token': 'write' },
    manifests: {},
    npm: { contents: 'read', 'id-token': 'write' },
    release: { contents: 'write' },
  });
  // Secrets reach scripts through env only, never expanded into the script text.
  for (const [name, job] of Object.entries(WORKFLOW.jobs))
    for (const s of job.steps)
      expect({ job: name, step: s.name, run: /\$\{\{\s*secrets\./.test(s.run ?? '') }).toEqual({
        job: name,
        step: s.name,
        run: false,
      });
});

test('the version check passes for the tag of package.json and refuses any other', () => {
  const s = step('verify', 'The tag, package.json and the chart agree');
  const out = join(work, 'github-output');
  writeFileSync(out, '');
  const ok = runStep(s, REPO_ROOT, { TAG: `v${VERSION}`, GITHUB_OUTPUT: out });
  expect({ code: ok.status, stderr: ok.stderr }).toEqual({ code: 0, stderr: '' });
  expect(readFileSync(out, 'utf8')).toBe(`version=${VERSION}\n`);
  const bad = runStep(s, REPO_ROOT, { TAG: 'v9.9.9', GITHUB_OUTPUT: out });
  expect(bad.status).toBe(1);
  expect(bad.stdout).toMatch(/::error::tag v9\.9\.9 but package\.json/);
});

test('the chart job packages a chart that renders as the source folder does, files included', () => {
  const dir = join(work, 'chart');
  copyInstallTree(REPO_ROOT, dir, ['charts']);
  const helmDir = dirname(tool('helm'));
  const r = runStep(step('chart', 'Package'), dir, {
    VERSION,
    PATH: `${helmDir}${delimiter}${process.env.PATH ?? ''}`,
  });
  expect({ code: r.status, stderr: r.stderr.replace(/^walk\.go.*\n/gm, '') }).toEqual({ code: 0, stderr: '' });
  // The binary is named helm in the workflow; tool('helm') is that binary.
  const tgz = join(dir, 'dist-chart', `tokenguard-${VERSION}.tgz`);
  expect(existsSync(tgz)).toBe(true);
  const fromPackage = helmTemplateText({ chart: tgz, args: ['--set', 'certificates.source=certManager'] });
  const fromSource = helmTemplateText({ args: ['--set', 'certificates.source=certManager'] });
  expect(fromPackage).toBe(fromSource);
  const listed = execFileSync('tar', ['-tzf', tgz], { encoding: 'utf8' }).split('\n');
  for (const f of [
    'tokenguard/files/hook.mjs',
    'tokenguard/files/webhooks/validating.yaml',
    'tokenguard/files/policies/automount.yaml',
    'tokenguard/values.schema.json',
    'tokenguard/README.md',
  ])
    expect(listed).toContain(f);
});

test('install.yaml per overlay: every overlay but the two whose certificates are generated per cluster, with the released image pinned by digest', () => {
  const dir = join(work, 'manifests');
  copyInstallTree(REPO_ROOT, dir);
  const r = runStep(step('manifests', 'Render'), dir, {
    VERSION,
    DIGEST,
    PATH: `${dirname(kubectlPath())}${delimiter}${process.env.PATH ?? ''}`,
  });
  expect({ code: r.status, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  const all = readdirSync(join(REPO_ROOT, 'deploy/overlays')).filter(
    (o) => o !== 'self-managed' && o !== 'self-managed-audit-only',
  );
  expect(readdirSync(join(dir, 'dist-manifests')).sort()).toEqual(all.map((o) => `install-${o}.yaml`).sort());
  // No webhook, no image: only the admission policies and their bindings.
  const policiesOnly = parseManifests(
    readFileSync(join(dir, 'dist-manifests', 'install-admission-policies-only.yaml'), 'utf8'),
    'admission-policies-only',
  );
  expect([...new Set(policiesOnly.map((x) => x.kind))].sort()).toEqual([
    'MutatingAdmissionPolicy',
    'MutatingAdmissionPolicyBinding',
    'ValidatingAdmissionPolicy',
    'ValidatingAdmissionPolicyBinding',
  ]);
  const overlays = all.filter((o) => o !== 'admission-policies-only');
  for (const o of overlays) {
    const objects = parseManifests(readFileSync(join(dir, 'dist-manifests', `install-${o}.yaml`), 'utf8'), o);
    const images = objects
      .filter((x) => x.kind === 'Deployment')
      .map((d) => JSON.stringify(d).match(/"image":"([^"]+)"/)?.[1]);
    expect({ o, images }).toEqual({ o, images: [`ghcr.io/tokenguard/tokenguard:${VERSION}@${DIGEST}`] });
    expect(objects.filter((x) => x.kind === 'Secret')).toEqual([]);
    // cert-manager issues the certificate, or the webhook itself (a Role for its Secret and Lease).
    const issuer = o.startsWith('self-managed-controller') ? 'Role' : 'Certificate';
    expect(objects.map((x) => x.kind)).toEqual(
      expect.arrayContaining(['Namespace', issuer, 'ValidatingWebhookConfiguration']),
    );
  }
});

test('the image builds from a base pinned by digest', () => {
  expect(readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8')).toMatch(
    /^ARG NODE_IMAGE=node:24-bookworm-slim@sha256:[0-9a-f]{64}$/m,
  );
});
