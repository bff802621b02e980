import { Pod } from 'kubernetes-models/v1/Pod';
import type { JsonObject } from '../../src/json.js';

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const VOLUME_TYPES = [
  'hostPath',
  'emptyDir',
  'gcePersistentDisk',
  'awsElasticBlockStore',
  'gitRepo',
  'secret',
  'nfs',
  'iscsi',
  'glusterfs',
  'persistentVolumeClaim',
  'rbd',
  'flexVolume',
  'cinder',
  'cephfs',
  'flocker',
  'downwardAPI',
  'fc',
  'azureFile',
  'configMap',
  'vsphereVolume',
  'quobyte',
  'azureDisk',
  'photonPersistentDisk',
  'projected',
  'portworxVolume',
  'scaleIO',
  'storageos',
  'csi',
  'ephemeral',
  'image',
];
const SOURCE_TYPES = ['secret', 'configMap', 'downwardAPI', 'serviceAccountToken', 'clusterTrustBundle'];

const arr = (v: unknown): JsonObject[] => (Array.isArray(v) ? (v as JsonObject[]) : []);

/**
 * The pod validation rules a token webhook can break (docs/kubernetes.md "Pod validation"), as the API
 * server's `ValidatePodCreate` words them, plus the OpenAPI schema check of kubernetes-models.
 * Returns every problem; an empty list means the API server would accept these parts.
 */
export function podProblems(pod: JsonObject): string[] {
  const problems: string[] = [];
  try {
    new Pod(pod as never).validate();
  } catch (e) {
    problems.push(`schema: ${(e as Error).message.slice(0, 300)}`);
  }
  const spec = (pod.spec ?? {}) as JsonObject;
  const names = new Set<string>();
  arr(spec.volumes).forEach((v, i) => {
    const name = v.name;
    const f = `spec.volumes[${i}]`;
    if (typeof name !== 'string' || name === '') problems.push(`${f}.name: Required value`);
    else {
      if (!DNS1123_LABEL.test(name) || name.length > 63)
        problems.push(`${f}.name: Invalid value: not a DNS-1123 label`);
      if (names.has(name)) problems.push(`${f}.name: Duplicate value: "${name}"`);
      names.add(name);
    }
    const types = VOLUME_TYPES.filter((t) => t in v);
    if (types.length !== 1)
      problems.push(
        `${f}: ${types.length === 0 ? 'must specify a volume type' : 'may not specify more than 1 volume type'}`,
      );
    const projected = v.projected as JsonObject | undefined;
    if (projected) {
      const mode = projected.defaultMode;
      if (mode !== undefined && (typeof mode !== 'number' || mode < 0 || mode > 0o777))
        problems.push(`${f}.projected.defaultMode: Invalid value`);
      const paths = new Set<string>();
      arr(projected.sources).forEach((s, j) => {
        const sf = `${f}.projected.sources[${j}]`;
        const st = SOURCE_TYPES.filter((t) => t in s);
        if (st.length !== 1) problems.push(`${sf}: may not specify more than 1 volume type`);
        const token = s.serviceAccountToken as JsonObject | undefined;
        if (token) {
          const exp = token.expirationSeconds;
          if (exp !== undefined && (typeof exp !== 'number' || exp < 600))
            problems.push(
              `${sf}.serviceAccountToken.expirationSeconds: may not specify a duration less than 10 minutes`,
            );
          if (typeof exp === 'number' && exp > 2 ** 32)
            problems.push(
              `${sf}.serviceAccountToken.expirationSeconds: may not specify a duration larger than 2^32 seconds`,
            );
          const p = token.path;
          if (typeof p !== 'string' || p === '') problems.push(`${f}.projected.path: Required value`);
          else if (p.startsWith('/')) problems.push(`${sf}.serviceAccountToken.path: must be a relative path`);
          else if (p.split('/').includes('..')) problems.push(`${sf}.serviceAccountToken.path: must not contain '..'`);
          else if (p.startsWith('..')) problems.push(`${sf}.serviceAccountToken.path: must not start with '..'`);
        }
        for (const t of ['secret', 'configMap', 'downwardAPI'] as const) {
          for (const item of arr((s[t] as JsonObject | undefined)?.items)) {
            const p = item.path as string;
            if (paths.has(p)) problems.push(`${sf}: conflicting duplicate paths`);
            paths.add(p);
          }
        }
      });
    }
  });
  for (const field of ['initContainers', 'containers', 'ephemeralContainers']) {
    arr(spec[field]).forEach((c, i) => {
      const seen = new Set<string>();
      arr(c.volumeMounts).forEach((m, j) => {
        const f = `spec.${field}[${i}].volumeMounts[${j}]`;
        if (typeof m.name !== 'string' || m.name === '') problems.push(`${f}.name: Required value`);
        else if (!names.has(m.name)) problems.push(`${f}.name: Not found: "${m.name}"`);
        if (typeof m.mountPath !== 'string' || m.mountPath === '') problems.push(`${f}.mountPath: Required value`);
        else {
          if (seen.has(m.mountPath)) problems.push(`${f}.mountPath: Invalid value: "${m.mountPath}": must be unique`);
          seen.add(m.mountPath);
        }
        if (field === 'ephemeralContainers' && (m.subPath || m.subPathExpr)) problems.push(`${f}.subPath: Forbidden`);
      });
    });
  }
  return problems;
}
