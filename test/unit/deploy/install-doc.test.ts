/**
 * What docs/install.md, README.md and the chart's README tell an admin to run names things that
 * exist: every deploy/ folder, every chart value given with --set/--set-file (and the values
 * given with it are accepted by the schema's enum), the objects the certificate controller
 * makes, and README's install section leads to docs/install.md.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { REPO } from '../../helpers/fixtures.js';

const DOCS = ['docs/install.md', 'README.md', 'charts/tokenguard/README.md', 'deploy/README.md'];
const text = (f: string) => readFileSync(join(REPO, f), 'utf8');

interface SchemaNode {
  enum?: unknown[];
  type?: string | string[];
  properties?: Record<string, SchemaNode>;
  additionalProperties?: boolean | SchemaNode;
  patternProperties?: Record<string, SchemaNode>;
}
const SCHEMA = JSON.parse(text('charts/tokenguard/values.schema.json')) as SchemaNode;

/** The schema node of a --set key (`a.b.c`, `\.` for a dot inside a key), or why there is none. */
function schemaNode(key: string): SchemaNode | string {
  const parts = key.split(/(?<!\\)\./).map((p) => p.replace(/\\\./g, '.'));
  let node: SchemaNode = SCHEMA;
  for (const [i, p] of parts.entries()) {
    const next =
      node.properties?.[p] ??
      Object.entries(node.patternProperties ?? {}).find(([re]) => new RegExp(re).test(p))?.[1] ??
      (typeof node.additionalProperties === 'object' ? node.additionalProperties : undefined);
    if (!next) return `no ${parts.slice(0, i + 1).join('.')}`;
    node = next;
  }
  return node;
}

test('every deploy/ overlay, component and transformer the docs name exists', () => {
  const missing: string[] = [];
  for (const f of DOCS) {
    for (const m of text(f).matchAll(/deploy\/(overlays|components|transformers)\/([a-z0-9-]+)/g)) {
      if (!existsSync(join(REPO, 'deploy', m[1] as string, m[2] as string)))
        missing.push(`${f}: deploy/${m[1]}/${m[2]}`);
    }
  }
  expect(missing).toEqual([]);
});

test('every chart value the docs set exists in values.schema.json, with a value its enum allows', () => {
  const problems: string[] = [];
  let seen = 0;
  for (const f of DOCS) {
    for (const m of text(f).matchAll(/--set(?:-file)? '?([A-Za-z][\w.\\-]*)=([^\s'`,]*)/g)) {
      seen++;
      const [, key, value] = m as unknown as [string, string, string];
      const node = schemaNode(key);
      if (typeof node === 'string') problems.push(`${f}: --set ${key}: ${node}`);
      else if (
        node.enum &&
        !node.enum.includes(value) &&
        !node.enum.includes(value === 'true' ? true : value === 'false' ? false : value)
      )
        problems.push(`${f}: --set ${key}=${value}: not one of ${JSON.stringify(node.enum)}`);
      else if (node.type === 'boolean' && !['true', 'false'].includes(value))
        problems.push(`${f}: --set ${key}=${value}: not a boolean`);
    }
  }
  expect(problems).toEqual([]);
  expect(seen).toBeGreaterThan(8);
});

test('the Secret and Lease docs/install.md deletes on uninstall are the ones the certificate controller is given', () => {
  const rbac = readFileSync(join(REPO, 'deploy/overlays/self-managed-controller/rbac.yaml'), 'utf8');
  const role = parse(rbac.split(/^---$/m)[0] ?? '') as { rules: { resources: string[]; resourceNames?: string[] }[] };
  const named = Object.fromEntries(
    role.rules.filter((r) => r.resourceNames).map((r) => [r.resources[0], r.resourceNames?.[0]]),
  );
  const install = text('docs/install.md');
  const deleted = /kubectl -n tokenguard-system delete secret\/(\S+) lease\/(\S+)/.exec(install);
  expect({ secret: deleted?.[1], lease: deleted?.[2] }).toEqual({ secret: named.secrets, lease: named.leases });
  // Webhook configurations go first in every uninstall the docs show.
  const uninstall = install.slice(install.indexOf('## Uninstall'), install.indexOf('## Emergency recovery'));
  const kustomizeDelete = uninstall.indexOf('kubectl delete -k');
  expect(uninstall.indexOf('kubectl delete validatingwebhookconfiguration')).toBeGreaterThan(-1);
  expect(uninstall.indexOf('kubectl delete validatingwebhookconfiguration')).toBeLessThan(kustomizeDelete);
  expect(uninstall.indexOf('kubectl delete mutatingwebhookconfiguration')).toBeLessThan(kustomizeDelete);
});

test("README's install section leads to docs/install.md, and names the default certificates", () => {
  const readme = text('README.md');
  const section = readme.slice(
    readme.indexOf('## Install into a cluster'),
    readme.indexOf('\n## ', readme.indexOf('## Install into a cluster') + 1),
  );
  expect(section).toContain('[docs/install.md](docs/install.md)');
  expect(section).toMatch(/renew themselves/);
});
