/**
 * `--output policyreport` and `--apply`: the reports validate against the wgpolicyk8s.io/v1alpha2
 * schema of test/fixtures/crds/policyreports.yaml with every object closed (a field the schema
 * does not know would be pruned by the API server, so it counts as an error here); against the
 * upstream CRDs too when TOKENGUARD_UPSTREAM_CRDS names a folder with
 * `wgpolicyk8s.io_policyreports.yaml` and `wgpolicyk8s.io_clusterpolicyreports.yaml` from
 * kubernetes-sigs/wg-policy-prototypes `policy-report/crd/v1alpha2` (docs/scan.md says how to get
 * them); then the fixture's schema must be a part of the upstream one. `--apply` writes them by
 * server-side apply, and says clearly when the CRDs are missing.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { parseAllDocuments } from 'yaml';
import { runScanCommand } from '../../../src/cli/commands/scan.js';
import { MISSING_CRDS } from '../../../src/scan/apply.js';
import { REPO } from '../../helpers/fixtures.js';
import { FakeCluster } from './fake-cluster.js';
import { addMix, NOW } from './mix.js';

type Schema = Record<string, unknown> & {
  properties?: Record<string, Schema>;
  items?: Schema;
  additionalProperties?: unknown;
  type?: string;
  enum?: unknown[];
};

/** The v1alpha2 schema of each kind in a CRD file. */
function schemas(file: string): Record<string, Schema> {
  const out: Record<string, Schema> = {};
  for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
    const crd = doc.toJS() as {
      spec: { names: { kind: string }; versions: { name: string; schema: { openAPIV3Schema: Schema } }[] };
    };
    const v = crd.spec.versions.find((x) => x.name === 'v1alpha2');
    if (v) out[crd.spec.names.kind] = v.schema.openAPIV3Schema;
  }
  return out;
}

/** The schema with every object that lists properties closed: what the API server would prune becomes an error. */
function closed(s: Schema): Schema {
  const c: Schema = { ...s };
  delete c.description;
  if (s.properties) {
    c.properties = Object.fromEntries(
      Object.entries(s.properties).map(([k, v]) => [k, k === 'metadata' ? v : closed(v)]),
    );
    if (s.additionalProperties === undefined) c.additionalProperties = false;
  }
  if (s.items) c.items = closed(s.items);
  return c;
}

function validator(schema: Schema) {
  return new Ajv({ strict: false, validateFormats: false, allErrors: true }).compile(closed(schema));
}

let cluster: FakeCluster;
beforeEach(async () => {
  cluster = new FakeCluster();
  await cluster.start();
  addMix(cluster);
});
afterEach(() => cluster.stop());

async function run(args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await runScanCommand(
    ['--kubeconfig', cluster.kubeconfigFile(), '--policies', join(REPO, 'policies'), ...args],
    { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) } },
    { now: () => NOW, env: {} },
  );
  return { code, stdout, stderr };
}

async function reports(): Promise<Record<string, unknown>[]> {
  const r = await run(['--output', 'policyreport']);
  expect(r.code).toBe(1);
  return parseAllDocuments(r.stdout).map((d) => d.toJS() as Record<string, unknown>);
}

describe('--output policyreport', () => {
  test('one PolicyReport per namespace and a ClusterPolicyReport, results per object', async () => {
    const docs = await reports();
    expect(
      docs.map(
        (d) =>
          `${d.kind} ${(d.metadata as { namespace?: string }).namespace ?? ''}/${(d.metadata as { name: string }).name}`,
      ),
    ).toEqual([
      'PolicyReport kube-system/tokenguard-scan',
      'PolicyReport team-a/tokenguard-scan',
      'PolicyReport team-b/tokenguard-scan',
      'ClusterPolicyReport /tokenguard-scan',
    ]);
    const teamB = docs[2] as { summary: unknown; results: Record<string, unknown>[] };
    expect(teamB.summary).toEqual({ pass: 1, fail: 3, warn: 0, error: 0, skip: 0 });
    expect(teamB.results.find((r) => (r.resources as { name: string }[])[0]?.name === 'orphan-token')).toEqual({
      source: 'tokenguard',
      policy: 'legacy-token-secrets',
      rule: 'legacy-token-secret',
      category: 'ServiceAccount tokens',
      result: 'fail',
      severity: 'low',
      scored: true,
      message:
        'orphaned: ServiceAccount ghost does not exist: the token authenticates nothing, and nothing uses it; safe to delete.',
      resources: [
        {
          apiVersion: 'v1',
          kind: 'Secret',
          name: 'orphan-token',
          namespace: 'team-b',
          uid: 'uid-secrets-team-b-orphan-token',
        },
      ],
      properties: { verdict: 'orphaned', serviceAccount: 'ghost', unusedDays: '343', consumers: '0' },
      timestamp: { seconds: NOW / 1000, nanos: 0 },
    });
    const cluster = docs[3] as { results: { rule: string; result: string; resources?: unknown }[] };
    expect(cluster.results.map((r) => [r.rule, r.result])).toEqual([
      ['namespace-summary', 'pass'],
      ['namespace-summary', 'fail'],
      ['namespace-summary', 'fail'],
      ['cluster-summary', 'fail'],
    ]);
  });

  test('valid against the v1alpha2 schema of the fixture CRDs, nothing the API server would prune', async () => {
    const s = schemas(join(REPO, 'test/fixtures/crds/policyreports.yaml'));
    for (const doc of await reports()) {
      const validate = validator(s[doc.kind as string] as Schema);
      expect([doc.kind, validate(doc) ? [] : validate.errors]).toEqual([doc.kind, []]);
    }
  });

  test('the check catches what the schema does not know', () => {
    const validate = validator(schemas(join(REPO, 'test/fixtures/crds/policyreports.yaml')).PolicyReport as Schema);
    expect(
      validate({
        apiVersion: 'wgpolicyk8s.io/v1alpha2',
        kind: 'PolicyReport',
        metadata: {},
        results: [{ policy: 'p', result: 'mutate' }],
      }),
    ).toBe(false);
    expect(
      validate({
        apiVersion: 'wgpolicyk8s.io/v1alpha2',
        kind: 'PolicyReport',
        metadata: {},
        results: [{ policy: 'p', resource: {} }],
      }),
    ).toBe(false);
  });

  const upstream = process.env.TOKENGUARD_UPSTREAM_CRDS;
  (upstream ? describe : describe.skip)('against the upstream CRDs (TOKENGUARD_UPSTREAM_CRDS)', () => {
    const files = ['wgpolicyk8s.io_policyreports.yaml', 'wgpolicyk8s.io_clusterpolicyreports.yaml'].map((f) =>
      join(upstream ?? '', f),
    );

    test('the files are there', () => {
      for (const f of files) expect(existsSync(f)).toBe(true);
    });

    test('the reports validate against them, nothing pruned', async () => {
      const s = Object.assign({}, ...files.map(schemas)) as Record<string, Schema>;
      for (const doc of await reports()) {
        const validate = validator(s[doc.kind as string] as Schema);
        expect([doc.kind, validate(doc) ? [] : validate.errors]).toEqual([doc.kind, []]);
      }
    });

    test('every field of the fixture CRDs is an upstream field of the same type and values', () => {
      const mine = schemas(join(REPO, 'test/fixtures/crds/policyreports.yaml'));
      const theirs = Object.assign({}, ...files.map(schemas)) as Record<string, Schema>;
      const missing: string[] = [];
      const walk = (a: Schema, b: Schema | undefined, path: string) => {
        if (!b) return missing.push(path);
        if (a.type !== b.type) missing.push(`${path}: type ${a.type} vs ${b.type}`);
        if (a.enum && JSON.stringify([...a.enum].sort()) !== JSON.stringify([...(b.enum ?? [])].sort()))
          missing.push(`${path}: enum`);
        for (const [k, v] of Object.entries(a.properties ?? {})) walk(v, b.properties?.[k], `${path}.${k}`);
        if (a.items) walk(a.items, b.items, `${path}[]`);
      };
      for (const kind of ['PolicyReport', 'ClusterPolicyReport']) walk(mine[kind] as Schema, theirs[kind], kind);
      expect(missing).toEqual([]);
    });
  });
});

describe('--apply', () => {
  test('server-side apply of every report, after checking the CRDs are served', async () => {
    const r = await run(['--apply', '--output', 'json']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('tokenguard scan: applied 4 report(s) (wgpolicyk8s.io/v1alpha2)\n');
    const writes = cluster.requests.filter((x) => x.method !== 'GET');
    expect(writes.map((w) => w.path).sort()).toEqual([
      '/apis/wgpolicyk8s.io/v1alpha2/clusterpolicyreports/tokenguard-scan',
      '/apis/wgpolicyk8s.io/v1alpha2/namespaces/kube-system/policyreports/tokenguard-scan',
      '/apis/wgpolicyk8s.io/v1alpha2/namespaces/team-a/policyreports/tokenguard-scan',
      '/apis/wgpolicyk8s.io/v1alpha2/namespaces/team-b/policyreports/tokenguard-scan',
    ]);
    for (const w of writes) {
      expect(w).toMatchObject({
        method: 'PATCH',
        contentType: 'application/apply-patch+yaml',
        query: { fieldManager: 'tokenguard', force: 'true' },
      });
    }
    expect(cluster.objects('policyreports').map((o) => o.metadata.namespace)).toEqual([
      'kube-system',
      'team-a',
      'team-b',
    ]);
  });

  test('a clear error, exit 2 and nothing printed, when the CRDs are missing', async () => {
    cluster.reportCrds = false;
    const r = await run(['--apply']);
    expect(r).toEqual({ code: 2, stdout: '', stderr: `tokenguard scan: ${MISSING_CRDS}\n` });
    expect(cluster.requests.filter((x) => x.method !== 'GET')).toEqual([]);
  });
});
