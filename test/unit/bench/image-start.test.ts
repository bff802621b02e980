import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { deploymentMemoryLimit, deploymentNodeOptions, entrypointNodeFlags, imageStart } from '../../../bench/image-start.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');

describe('entrypointNodeFlags (how the image starts node)', () => {
  it('returns the flags between node and the script of the last exec-form ENTRYPOINT', () => {
    const dockerfile = [
      'FROM node:24 AS build',
      'ENTRYPOINT ["node", "old.js"]',
      'FROM node:24',
      '# ENTRYPOINT ["node", "--commented", "x.js"]',
      'ENTRYPOINT ["node", "--initial-old-space-size=48", "--stack-trace-limit=20", "dist/cli/main.js"]',
      'CMD ["serve"]',
    ].join('\n');
    expect(entrypointNodeFlags(dockerfile)).toEqual(['--initial-old-space-size=48', '--stack-trace-limit=20']);
    expect(entrypointNodeFlags('ENTRYPOINT ["node", "dist/cli/main.js"]\n')).toEqual([]);
  });

  it('names the file and the line when the ENTRYPOINT cannot be read as node flags', () => {
    expect(() => entrypointNodeFlags('FROM node:24\n', 'x/Dockerfile')).toThrow('x/Dockerfile: no ENTRYPOINT');
    expect(() => entrypointNodeFlags('ENTRYPOINT node dist/cli/main.js\n')).toThrow('Dockerfile: ENTRYPOINT is not in exec form (a JSON array): ENTRYPOINT node dist/cli/main.js');
    expect(() => entrypointNodeFlags('ENTRYPOINT ["/bin/sh", "-c", "node x.js"]\n')).toThrow('does not start with "node"');
    expect(() => entrypointNodeFlags('ENTRYPOINT ["node", "--inspect"]\n')).toThrow('ENTRYPOINT names no script');
  });
});

describe('deploymentNodeOptions', () => {
  const manifest = (env: string) =>
    `apiVersion: v1\nkind: Service\nmetadata: {name: s}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n    spec:\n      containers:\n        - name: sidecar\n          env: [{name: NODE_OPTIONS, value: --other}]\n        - name: tokenguard\n${env}`;

  it("reads the tokenguard container's NODE_OPTIONS, not another container's", () => {
    expect(deploymentNodeOptions(manifest('          env:\n            - name: NODE_ENV\n              value: production\n            - name: NODE_OPTIONS\n              value: --max-old-space-size=160\n'))).toBe(
      '--max-old-space-size=160',
    );
    expect(deploymentNodeOptions(manifest('          image: x\n'))).toBe('');
  });

  it('says what is missing', () => {
    expect(() => deploymentNodeOptions('kind: Service\n', 'tokenguard', 'd.yaml')).toThrow('d.yaml: no Deployment');
    expect(() => deploymentNodeOptions(manifest('          image: x\n'), 'webhook')).toThrow('deployment.yaml: no container named webhook');
  });
});

describe('deploymentMemoryLimit', () => {
  const manifest = (memory: string) =>
    `kind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n        - name: tokenguard\n          resources:\n            requests: {memory: 1Gi}\n${memory}`;

  it('reads limits.memory in the quantities a Deployment uses', () => {
    expect(deploymentMemoryLimit(manifest('            limits: {memory: 256Mi}\n'))).toBe(256 * 1024 * 1024);
    expect(deploymentMemoryLimit(manifest('            limits: {memory: 1Gi}\n'))).toBe(1024 ** 3);
    expect(deploymentMemoryLimit(manifest('            limits: {memory: 500M}\n'))).toBe(500e6);
    expect(deploymentMemoryLimit(manifest('            limits: {memory: 1048576}\n'))).toBe(1048576);
  });

  it('says when there is none it can read', () => {
    expect(() => deploymentMemoryLimit(manifest(''))).toThrow('deployment.yaml: container tokenguard has no resources.limits.memory this reads (none)');
    expect(() => deploymentMemoryLimit(manifest('            limits: {memory: 1.5Gi}\n'))).toThrow('(1.5Gi)');
  });
});

describe("the repository's own start commands", () => {
  it('the image gives V8 an initial old generation (decision 27), and npm start runs serve with the same flags', () => {
    const shipped = imageStart(ROOT);
    expect(shipped.nodeFlags).toContainEqual(expect.stringMatching(/^--initial-old-space-size=\d+$/));
    expect(shipped.nodeOptions).toMatch(/--max-old-space-size=\d+/);
    expect(shipped.memoryLimitBytes).toBe(256 * 1024 * 1024);
    const start = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts.start ?? '';
    expect(start).toContain(`node ${shipped.nodeFlags.join(' ')} dist/cli/main.js serve`);
  });
});
