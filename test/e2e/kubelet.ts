/**
 * Plays the kubelet for the chart's hook and test pods. The suite has no kubelet (no node), so a
 * pod stays Pending; `helm test` and `helm uninstall` wait for theirs to finish. This runs the
 * pod's one container on this host as the kubelet would: its command (`node /scripts/hook.mjs
 * ...`, with the image's node being this node), its env values, its ConfigMap volumes as files,
 * a token of its ServiceAccount bound to the pod and the cluster CA in a folder the script reads
 * (TOKENGUARD_SA_DIR) instead of the mounted one, and KUBERNETES_SERVICE_HOST/PORT pointing at the
 * API server. Then it records the exit in the pod's status (phase Succeeded or Failed, the
 * container terminated with its exit code), which is what helm, and the Job controller for a
 * hook Job, wait for. Only what those pods use is supported; anything else throws.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadState, waitFor } from './env.js';
import { type K8sObject, kubectl, kubectlJson, kubectlOk } from './kube.js';

interface HookPod extends K8sObject {
  metadata: { name: string; namespace: string; uid: string; labels?: Record<string, string> };
  spec: {
    serviceAccountName?: string;
    containers: {
      name: string;
      image: string;
      command?: string[];
      args?: string[];
      env?: { name: string; value?: string }[];
      volumeMounts?: { name: string; mountPath: string }[];
    }[];
    volumes?: {
      name: string;
      configMap?: { name: string };
      projected?: { sources?: { serviceAccountToken?: unknown }[] };
    }[];
  };
  status?: { phase?: string };
}

export interface PodRun {
  readonly code: number;
  readonly output: string;
}

/**
 * Runs `node ARGS` on this host as ServiceAccount `namespace/serviceAccount` would run in a pod:
 * a token of it (bound to `boundPod` when given) and the cluster CA in TOKENGUARD_SA_DIR, and
 * KUBERNETES_SERVICE_HOST/PORT pointing at the API server. The token never leaves `dir`.
 */
export async function runNodeAs(
  dir: string,
  namespace: string,
  serviceAccount: string,
  args: readonly string[],
  env: Record<string, string>,
  boundPod?: { name: string; uid: string },
): Promise<PodRun> {
  const state = loadState();
  const bound = boundPod
    ? ['--bound-object-kind', 'Pod', '--bound-object-name', boundPod.name, '--bound-object-uid', boundPod.uid]
    : [];
  const token = await kubectlOk(['create', 'token', serviceAccount, '-n', namespace, ...bound, '--duration', '10m']);
  const saDir = join(dir, 'serviceaccount');
  mkdirSync(saDir, { recursive: true, mode: 0o700 });
  writeFileSync(join(saDir, 'token'), token.stdout.trim(), { mode: 0o600 });
  copyFileSync(state.caFile, join(saDir, 'ca.crt'));
  const url = new URL(state.apiserverUrl);
  const r = spawnSync(process.execPath, [...args], {
    cwd: dir,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      ...env,
      KUBERNETES_SERVICE_HOST: url.hostname,
      KUBERNETES_SERVICE_PORT: url.port,
      TOKENGUARD_SA_DIR: saDir,
    },
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: r.status ?? 1, output: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

/** The pod `selector` picks in `namespace`, once it exists (a Job's pod appears shortly after the Job). */
export async function waitForPod(
  namespace: string,
  selector: { name?: string; label?: string },
  timeoutMs = 60_000,
): Promise<string> {
  return waitFor(`a pod ${selector.name ?? selector.label} in ${namespace}`, timeoutMs, async () => {
    if (selector.name) {
      const r = await kubectl(['get', 'pod', selector.name, '-n', namespace, '-o', 'name']);
      return r.code === 0 ? selector.name : undefined;
    }
    const list = await kubectlJson<{ items: HookPod[] }>(['get', 'pods', '-n', namespace, '-l', selector.label ?? '']);
    return list.items.find((p) => !p.status?.phase || p.status.phase === 'Pending')?.metadata.name;
  });
}

/** Runs pod `name` of `namespace` on this host and records its exit in the pod's status. */
export async function runPodOnHost(namespace: string, name: string): Promise<PodRun> {
  const state = loadState();
  const pod = await kubectlJson<HookPod>(['get', 'pod', name, '-n', namespace]);
  if (pod.spec.containers.length !== 1)
    throw new Error(
      `e2e: pod ${namespace}/${name} has ${pod.spec.containers.length} containers; the host runner takes one`,
    );
  const c = pod.spec.containers[0] as HookPod['spec']['containers'][number];
  const argv = [...(c.command ?? []), ...(c.args ?? [])];
  if (argv[0] !== 'node')
    throw new Error(`e2e: pod ${namespace}/${name} runs ${argv[0]}; the host runner runs node only`);

  const dir = mkdtempSync(join(state.workDir, `pod-${name}-`));
  try {
    // ConfigMap volumes become folders; the command's paths under their mount paths point there.
    const rewrites: [string, string][] = [];
    for (const m of c.volumeMounts ?? []) {
      const volume = pod.spec.volumes?.find((v) => v.name === m.name);
      // The API token the ServiceAccount admission plugin added: given below as TOKENGUARD_SA_DIR.
      if (volume?.projected?.sources?.some((p) => p.serviceAccountToken)) continue;
      if (!volume?.configMap)
        throw new Error(
          `e2e: pod ${namespace}/${name} mounts ${m.name}, not a ConfigMap; the host runner mounts ConfigMaps only`,
        );
      const cm = await kubectlJson<{ data?: Record<string, string> }>([
        'get',
        'configmap',
        volume.configMap.name,
        '-n',
        namespace,
      ]);
      const target = join(dir, 'volumes', m.name);
      mkdirSync(target, { recursive: true });
      for (const [file, text] of Object.entries(cm.data ?? {})) writeFileSync(join(target, file), text);
      rewrites.push([m.mountPath.replace(/\/$/, ''), target]);
    }
    const args = argv
      .slice(1)
      .map((a) =>
        rewrites.reduce((s, [from, to]) => (s === from || s.startsWith(`${from}/`) ? to + s.slice(from.length) : s), a),
      );

    const env: Record<string, string> = {};
    for (const e of c.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
    const startedAt = new Date().toISOString();
    // The ServiceAccount's token, bound to this pod, as the kubelet projects it.
    const { code, output } = await runNodeAs(dir, namespace, pod.spec.serviceAccountName ?? 'default', args, env, {
      name,
      uid: pod.metadata.uid,
    });

    const terminated = {
      exitCode: code,
      reason: code === 0 ? 'Completed' : 'Error',
      startedAt,
      finishedAt: new Date().toISOString(),
    };
    const status = {
      status: {
        phase: code === 0 ? 'Succeeded' : 'Failed',
        containerStatuses: [
          {
            name: c.name,
            image: c.image,
            imageID: '',
            ready: false,
            restartCount: 0,
            started: false,
            state: { terminated },
          },
        ],
      },
    };
    await kubectlOk([
      'patch',
      'pod',
      name,
      '-n',
      namespace,
      '--subresource',
      'status',
      '--type',
      'merge',
      '-p',
      JSON.stringify(status),
    ]);
    return { code, output };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
