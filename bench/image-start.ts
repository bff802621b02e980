/**
 * How the shipped image starts tokenguard: the Node.js flags of the Dockerfile's `ENTRYPOINT`
 * (exec form, `["node", <flags>..., "dist/cli/main.js"]`), and the `NODE_OPTIONS` and memory
 * limit the Deployment in deploy/base gives it. The HTTP benchmark starts its tokenguard servers with both, and a test
 * starts `tokenguard serve` with both, so that what they measure is the process that ships.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

export interface ImageStart {
  /** Flags between `node` and the script in the image's ENTRYPOINT. */
  readonly nodeFlags: readonly string[];
  /** `NODE_OPTIONS` of the tokenguard container in deploy/base/deployment.yaml ('' when unset). */
  readonly nodeOptions: string;
  /** That container's `resources.limits.memory`, in bytes. */
  readonly memoryLimitBytes: number;
}

type ContainerSpec = { name?: string; env?: { name?: string; value?: string }[]; resources?: { limits?: { memory?: string | number } } };

/** The flags of a Dockerfile's last exec-form `ENTRYPOINT ["node", ...flags, script]`. */
export function entrypointNodeFlags(dockerfile: string, source = 'Dockerfile'): string[] {
  const lines = dockerfile.split('\n').filter((l) => /^ENTRYPOINT\s/.test(l));
  const last = lines.at(-1);
  if (last === undefined) throw new Error(`${source}: no ENTRYPOINT`);
  let argv: unknown;
  try {
    argv = JSON.parse(last.replace(/^ENTRYPOINT\s+/, ''));
  } catch {
    throw new Error(`${source}: ENTRYPOINT is not in exec form (a JSON array): ${last}`);
  }
  if (!Array.isArray(argv) || argv[0] !== 'node' || !argv.every((a) => typeof a === 'string')) {
    throw new Error(`${source}: ENTRYPOINT does not start with "node": ${last}`);
  }
  const script = argv.findIndex((a, i) => i > 0 && !(a as string).startsWith('-'));
  if (script === -1) throw new Error(`${source}: ENTRYPOINT names no script: ${last}`);
  return argv.slice(1, script) as string[];
}

/** The container named `container` of the first Deployment in a manifest. */
function deploymentContainer(manifest: string, container: string, source: string): ContainerSpec {
  for (const doc of parseAllDocuments(manifest)) {
    const d = doc.toJS() as { kind?: string; spec?: { template?: { spec?: { containers?: ContainerSpec[] } } } };
    if (d?.kind !== 'Deployment') continue;
    const c = d.spec?.template?.spec?.containers?.find((x) => x.name === container);
    if (!c) throw new Error(`${source}: no container named ${container}`);
    return c;
  }
  throw new Error(`${source}: no Deployment`);
}

/** `NODE_OPTIONS` of the container named `container` in a Deployment manifest ('' when unset). */
export function deploymentNodeOptions(manifest: string, container = 'tokenguard', source = 'deployment.yaml'): string {
  return deploymentContainer(manifest, container, source).env?.find((e) => e.name === 'NODE_OPTIONS')?.value ?? '';
}

const QUANTITY_UNITS: Record<string, number> = { '': 1, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, k: 1e3, M: 1e6, G: 1e9 };

/** `resources.limits.memory` of that container in bytes (Kubernetes quantities: 256Mi, 1Gi, 500M, 1048576). */
export function deploymentMemoryLimit(manifest: string, container = 'tokenguard', source = 'deployment.yaml'): number {
  const q = deploymentContainer(manifest, container, source).resources?.limits?.memory;
  const m = /^(\d+)(Ki|Mi|Gi|k|M|G)?$/.exec(String(q ?? ''));
  if (!m) throw new Error(`${source}: container ${container} has no resources.limits.memory this reads (${q ?? 'none'})`);
  return Number(m[1]) * (QUANTITY_UNITS[m[2] ?? ''] as number);
}

/** {@link ImageStart} read from the repository at `root`. */
export function imageStart(root: string): ImageStart {
  const deployment = readFileSync(join(root, 'deploy', 'base', 'deployment.yaml'), 'utf8');
  return {
    nodeFlags: entrypointNodeFlags(readFileSync(join(root, 'Dockerfile'), 'utf8')),
    nodeOptions: deploymentNodeOptions(deployment),
    memoryLimitBytes: deploymentMemoryLimit(deployment),
  };
}
