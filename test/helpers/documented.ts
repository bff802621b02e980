/**
 * The examples the docs show users, as the tests run them: the kustomizations of deploy/README.md
 * ("Your own kustomization") and the first policy of README.md.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { REPO_ROOT } from './render.js';

function yamlBlocks(file: string): string[] {
  const text = readFileSync(join(REPO_ROOT, file), 'utf8');
  return [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
}

/** The one `kind: Kustomization` example of deploy/README.md that `pick` selects. */
export function documentedKustomization(pick: (block: string) => boolean, what: string): string {
  const blocks = yamlBlocks('deploy/README.md').filter((b) => /^kind: Kustomization$/m.test(b) && pick(b));
  if (blocks.length !== 1)
    throw new Error(`deploy/README.md has ${blocks.length} kustomization examples for ${what}, expected 1`);
  return blocks[0] ?? '';
}

export const DOCUMENTED = {
  ownPolicies: (b: string) => b.includes('configMapGenerator:') && b.includes('behavior: merge'),
  excludedNamespaces: (b: string) => b.includes('kind: ExcludedNamespaces'),
  image: (b: string) => /^images:$/m.test(b),
  networkPolicy: (b: string) => b.includes('deploy/components/network-policy'),
  clientAuth: (b: string) => b.includes('deploy/components/client-auth'),
  existingSecret: (b: string) => /- \.\.\/tokenguard\/deploy\/base$/m.test(b) && b.includes('replacements:'),
} as const;

/** The example policy of README.md ("A first policy"): what a user saves as policies/vault.yaml. */
export function readmePolicy(): string {
  const block = yamlBlocks('README.md').find((b) => /^kind: TokenPolicy$/m.test(b));
  if (!block) throw new Error('README.md has no TokenPolicy example');
  return block;
}

/**
 * Writes a user's kustomization folder `dir` (its kustomization.yaml and other files). The
 * examples refer to the tokenguard checkout as ../tokenguard, so `dir` sits beside one.
 */
export function writeUserOverlay(dir: string, kustomization: string, files: Record<string, string> = {}): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'kustomization.yaml'), kustomization);
  for (const [f, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    writeFileSync(join(dir, f), text);
  }
  return dir;
}
