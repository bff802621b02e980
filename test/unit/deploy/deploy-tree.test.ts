/**
 * The copies of deploy/ that tests render leave out the certificates a user generated into
 * deploy/overlays/self-managed (the documented install step): the e2e suite used to copy them
 * and then be refused by `tokenguard certs generate`, which will not overwrite them.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { copyInstallTree, generatedCertificateFiles } from '../../helpers/deploy-tree.js';
import { REPO } from '../../helpers/fixtures.js';

test('names exactly the files deploy/overlays/self-managed/.gitignore keeps out of git', () => {
  expect(
    generatedCertificateFiles(REPO)
      .map((f) => f.split('/').pop())
      .sort(),
  ).toEqual(['ca.crt', 'ca.key', 'caBundle', 'tls.crt', 'tls.key']);
});

test('copies deploy/ and policies/ without generated certificates and half-written files, with everything else', () => {
  const root = mkdtempSync(join(tmpdir(), 'tokenguard-tree-'));
  try {
    const repo = join(root, 'repo');
    cpSync(join(REPO, 'deploy'), join(repo, 'deploy'), { recursive: true });
    cpSync(join(REPO, 'policies'), join(repo, 'policies'), { recursive: true });
    const selfManaged = join(repo, 'deploy/overlays/self-managed');
    for (const f of ['tls.crt', 'tls.key', 'ca.crt', 'ca.key', 'caBundle', 'tls.key.tmp-1234'])
      writeFileSync(join(selfManaged, f), 'generated\n');
    mkdirSync(join(repo, 'charts'));
    writeFileSync(join(repo, 'charts', 'Chart.yaml'), 'name: x\n');
    const dest = join(root, 'copy');
    copyInstallTree(repo, dest, ['charts']);
    expect(readdirSync(join(dest, 'deploy/overlays/self-managed')).sort()).toEqual([
      '.gitignore',
      'kustomization.yaml',
    ]);
    expect(readdirSync(join(dest, 'policies')).sort()).toEqual(readdirSync(join(REPO, 'policies')).sort());
    expect(existsSync(join(dest, 'deploy/base/deployment.yaml'))).toBe(true);
    expect(existsSync(join(dest, 'charts/Chart.yaml'))).toBe(true);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
