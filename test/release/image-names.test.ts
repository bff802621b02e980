/**
 * One image name everywhere: the README, docs/, deploy/, the chart, examples/, the Dockerfile and
 * the release workflow name tokenguard's image as it is published, ghcr.io/tokenguard/tokenguard,
 * with the version of package.json when they give a tag, and the chart as
 * oci://ghcr.io/tokenguard/charts/tokenguard. A stray name (an old registry, a bare `tokenguard`
 * image, another tag) fails here with its file and line.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { REPO_ROOT } from '../helpers/render.js';

const VERSION = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const IMAGE = 'ghcr.io/tokenguard/tokenguard';
const CHART = 'ghcr.io/tokenguard/charts';
/** Tags that stand for "the version" in commands and templates: TAG, or a shell or Actions variable. */
const isPlaceholder = (tag: string) => tag === 'TAG' || /^"?\$/.test(tag);

/** The text files users read or run (tracked or new, not ignored): everything but tests, benchmarks and lockfiles. */
function files(): string[] {
  const out = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
  });
  return out
    .split('\n')
    .filter((f) => f && /(\.(md|ya?ml|json|ts|mjs|sh|tpl|txt)|Dockerfile|Kustomization|\/run)$/.test(f))
    .filter((f) => !/^(test|bench)\/|package-lock\.json$/.test(f));
}

interface Hit {
  file: string;
  line: number;
  text: string;
}

function scan(pattern: RegExp): Hit[] {
  const hits: Hit[] = [];
  for (const file of files()) {
    let text: string;
    try {
      text = readFileSync(join(REPO_ROOT, file), 'utf8');
    } catch {
      continue; // listed but deleted in the work tree
    }
    text.split('\n').forEach((line, i) => {
      for (const m of line.matchAll(pattern)) hits.push({ file, line: i + 1, text: m[0] });
    });
  }
  return hits;
}

test('every ghcr.io name is the image or the chart repository', () => {
  const stray = scan(/ghcr\.io\/[\w.-]+(?:\/[\w.-]+)*/g).filter(
    (h) => h.text !== IMAGE && h.text !== CHART && h.text !== `${CHART}/tokenguard`,
  );
  expect(stray).toEqual([]);
});

test(`the image's tag, where one is given, is ${VERSION} (package.json) or a placeholder`, () => {
  const tags = scan(/ghcr\.io\/tokenguard\/tokenguard:(\S+?)(?=[\s`'")\]]|$)/g)
    .map((h) => ({ ...h, tag: h.text.slice(`${IMAGE}:`.length) }))
    .filter((h) => h.tag !== VERSION && !isPlaceholder(h.tag));
  expect(tags).toEqual([]);
});

test('no other image name for tokenguard: no bare `image: tokenguard`, no other registry, kustomize edit set image for the published name', () => {
  const bare = [
    ...scan(/image:\s*["']?tokenguard(?::[\w.-]+)?["']?\s*$/g),
    ...scan(/set image (?!ghcr\.io\/tokenguard\/tokenguard=)\S+=\S*/g),
  ];
  const otherRegistry = scan(
    /\b(?:docker\.io|quay\.io|gcr\.io|registry\.k8s\.io|[\w-]+\.azurecr\.io|[\w.-]+\.amazonaws\.com)\/[\w.-]*\/?tokenguard\b/g,
  );
  expect({ bare, otherRegistry }).toEqual({ bare: [], otherRegistry: [] });
});

test('deploy/, the chart, the Actions example and the release workflow agree on the image', () => {
  const values = parse(readFileSync(join(REPO_ROOT, 'charts/tokenguard/values.yaml'), 'utf8')) as {
    image: { repository: string };
  };
  const chart = parse(readFileSync(join(REPO_ROOT, 'charts/tokenguard/Chart.yaml'), 'utf8')) as { appVersion: string };
  const workflow = parse(readFileSync(join(REPO_ROOT, '.github/workflows/release.yaml'), 'utf8')) as {
    env: Record<string, string>;
  };
  const deployment = /^\s+image: (\S+)$/m.exec(
    readFileSync(join(REPO_ROOT, 'deploy/base/deployment.yaml'), 'utf8'),
  )?.[1];
  const example = /TOKENGUARD_IMAGE: (\S+)/.exec(
    readFileSync(join(REPO_ROOT, 'examples/github-actions.yaml'), 'utf8'),
  )?.[1];
  expect({
    values: values.image.repository,
    appVersion: chart.appVersion,
    workflow: workflow.env.IMAGE,
    deployment,
    example,
  }).toEqual({
    values: IMAGE,
    appVersion: VERSION,
    workflow: IMAGE,
    deployment: `${IMAGE}:${VERSION}`,
    example: `${IMAGE}:${VERSION}`,
  });
});
