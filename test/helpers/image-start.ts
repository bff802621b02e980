/**
 * How the shipped image starts tokenguard: the Node.js flags of the Dockerfile's `ENTRYPOINT`
 * (exec form, `["node", <flags>..., "dist/cli/main.js"]`), and the `NODE_OPTIONS` and memory
 * limit the Deployment in deploy/base gives its container. The process tests and bench/ start
 * `tokenguard serve` with both, so that what they check is the process that ships.
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

type ContainerSpec = {
  name?: string;
  env?: { name?: string; value?: string }[];
  resources?: { limits?: { memory?: string | number } };
};

const UNITS: Record<string, number> = { '': 1, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, k: 1e3, M: 1e6, G: 1e9 };

/** {@link ImageStart} read from the repository at `root`; throws naming the file when it cannot. */
export function imageStart(root: string): ImageStart {
  const entrypoint = readFileSync(join(root, 'Dockerfile'), 'utf8')
    .split('\n')
    .filter((l) => /^ENTRYPOINT\s/.test(l))
    .at(-1);
  const argv: unknown = entrypoint === undefined ? undefined : JSON.parse(entrypoint.replace(/^ENTRYPOINT\s+/, ''));
  if (!Array.isArray(argv) || argv[0] !== 'node')
    throw new Error(`Dockerfile: the last ENTRYPOINT is not ["node", ...]: ${entrypoint}`);
  const script = argv.findIndex((a: string, i) => i > 0 && !a.startsWith('-'));
  const deployment = readFileSync(join(root, 'deploy', 'base', 'deployment.yaml'), 'utf8');
  const container = parseAllDocuments(deployment)
    .map((d) => d.toJS() as { kind?: string; spec?: { template?: { spec?: { containers?: ContainerSpec[] } } } })
    .find((d) => d?.kind === 'Deployment')
    ?.spec?.template?.spec?.containers?.find((c) => c.name === 'tokenguard');
  const memory = /^(\d+)(Ki|Mi|Gi|k|M|G)?$/.exec(String(container?.resources?.limits?.memory ?? ''));
  if (!container || !memory)
    throw new Error('deploy/base/deployment.yaml: no tokenguard container with resources.limits.memory');
  return {
    nodeFlags: argv.slice(1, script) as string[],
    nodeOptions: container.env?.find((e) => e.name === 'NODE_OPTIONS')?.value ?? '',
    memoryLimitBytes: Number(memory[1]) * (UNITS[memory[2] ?? ''] as number),
  };
}
