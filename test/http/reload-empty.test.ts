/**
 * Policy files that come back empty, and files caught while a slow writer rewrites them in
 * place, against the real server. No timing assertions: the tests wait for the server's reload
 * events, and the slow writer's pauses are far below the settle time only to keep the test
 * short (a slower writer would only make the server wait longer).
 */
import { writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { PolicyReloadEvent } from '../../src/server/policies.js';
import { nextEvent, postReview, request, startTestServer, tempDir, VolumeDir } from './helpers.js';

const TIMEOUT = 60_000;

const policy = (name: string, body: string) => `apiVersion: tokenguard.dev/v1alpha1
kind: TokenPolicy
metadata:
  name: ${name}
spec:
  mode: Enforce
${body}`;
const LEGACY = policy('legacy', '  legacyTokenSecrets:\n    action: Deny\n');
const AUTOMOUNT = policy('automount', '  automount:\n    action: Keep\n');

const legacySecret = (uid: string) => ({
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  request: {
    uid,
    kind: { group: '', version: 'v1', kind: 'Secret' },
    resource: { group: '', version: 'v1', resource: 'secrets' },
    namespace: 'team-a',
    operation: 'CREATE',
    userInfo: { username: 'alice' },
    object: {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/service-account-token',
      metadata: { name: 'ci-token', namespace: 'team-a', annotations: { 'kubernetes.io/service-account.name': 'ci' } },
    },
  },
});

async function legacySecretAllowed(s: { port: number; ca: string }, uid: string): Promise<boolean> {
  const r = await postReview({ port: s.port, ca: s.ca, endpoint: 'validate', review: legacySecret(uid) });
  expect(r.status).toBe(200);
  return (JSON.parse(r.body) as { response: { allowed: boolean } }).response.allowed;
}

async function metric(s: { port: number; ca: string }, name: string): Promise<string | undefined> {
  const r = await request({ port: s.port, ca: s.ca, path: '/metrics' });
  return r.body.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
}

test.each([
  ['empty', ''],
  ['comments only', '# policies moved elsewhere\n# (nothing here)\n'],
  ['a lone document marker', '---\n'],
])(
  'a policy file that comes back %s is an error: the last good set stays, the log and metrics say so',
  async (_what, content) => {
    const dir = new VolumeDir(tempDir('emptied'), { 'legacy.yaml': LEGACY, 'automount.yaml': AUTOMOUNT });
    const s = await startTestServer({ policies: [dir.dir] });
    try {
      expect(await legacySecretAllowed(s, 'before')).toBe(false);
      const failed = nextEvent<PolicyReloadEvent>(s.running.policies.events);
      dir.swap({ 'legacy.yaml': content, 'automount.yaml': AUTOMOUNT });
      const event = await failed;
      expect(event).toMatchObject({ result: 'failure', loaded: 2, emptied: [join(dir.dir, 'legacy.yaml')] });
      expect(event.errors).toEqual([
        `${join(dir.dir, 'legacy.yaml')}:0: held 1 policy (legacy) and now holds none (empty, or only comments); delete the file to remove policies, or start the server with --allow-empty-policy-files`,
      ]);
      expect(s.running.policies.current().map((p) => p.name)).toEqual(['automount', 'legacy']);
      expect(s.running.policies.upToDate()).toBe(false);
      expect(await legacySecretAllowed(s, 'emptied')).toBe(false);
      expect(await metric(s, 'tokenguard_policy_last_reload_success')).toBe('tokenguard_policy_last_reload_success 0');
      const logged = s.sink.lines();
      expect(logged).toContainEqual(expect.objectContaining({ event: 'policy-error', error: event.errors[0] }));
      expect(logged).toContainEqual(expect.objectContaining({ event: 'policy-reload', result: 'failure', inForce: 2 }));
      const ready = await request({ port: s.port, ca: s.ca, path: '/readyz' });
      expect(ready.status).toBe(200); // the last good set still serves

      // Deleting the file is how its policies are removed on purpose.
      const removed = nextEvent<PolicyReloadEvent>(s.running.policies.events);
      dir.swap({ 'automount.yaml': AUTOMOUNT });
      expect(await removed).toMatchObject({ result: 'success', loaded: 1, emptied: [] });
      expect(await legacySecretAllowed(s, 'deleted')).toBe(true);
      expect(await metric(s, 'tokenguard_policy_last_reload_success')).toBe('tokenguard_policy_last_reload_success 1');
    } finally {
      await s.close();
    }
  },
  TIMEOUT,
);

test(
  'with allowEmptyPolicyFiles (--allow-empty-policy-files) an emptied file drops its policies, with a warning',
  async () => {
    const dir = new VolumeDir(tempDir('allowed'), { 'legacy.yaml': LEGACY, 'automount.yaml': AUTOMOUNT });
    const s = await startTestServer({ policies: [dir.dir], allowEmptyPolicyFiles: true });
    try {
      const reloaded = nextEvent<PolicyReloadEvent>(s.running.policies.events);
      dir.swap({ 'legacy.yaml': '# off for now\n', 'automount.yaml': AUTOMOUNT });
      expect(await reloaded).toMatchObject({ result: 'success', loaded: 1, emptied: [join(dir.dir, 'legacy.yaml')] });
      expect(await legacySecretAllowed(s, 'allowed')).toBe(true);
      expect(s.sink.lines()).toContainEqual(
        expect.objectContaining({ level: 'warn', event: 'policy-file-emptied', file: join(dir.dir, 'legacy.yaml') }),
      );
    } finally {
      await s.close();
    }
  },
  TIMEOUT,
);

test(
  'a file rewritten in place by a slow writer is loaded once, whole, after it stops changing',
  async () => {
    const dir = tempDir('slow');
    const file = join(dir, 'policies.yaml');
    writeFileSync(file, LEGACY);
    const s = await startTestServer({ policies: [dir], pollIntervalMs: 50 });
    const events: PolicyReloadEvent[] = [];
    s.running.policies.events.on('reload', (e) => events.push(e));
    try {
      // Truncate, then write the new content (two policies) a few bytes at a time. Every prefix
      // is either empty, broken YAML, or a valid set with the second policy missing.
      const next = `${AUTOMOUNT}---\n${policy('legacy', '  legacyTokenSecrets:\n    action: Deny\n')}`;
      const done = nextEvent<PolicyReloadEvent>(s.running.policies.events);
      const handle = await open(file, 'w');
      for (let i = 0; i < next.length; i += 24) {
        await handle.write(next.slice(i, i + 24));
        await handle.sync();
        await new Promise((r) => setTimeout(r, 15));
      }
      await handle.close();
      const event = await done;
      expect(event).toMatchObject({ result: 'success', loaded: 2, generation: 2 });
      expect(s.running.policies.current().map((p) => p.name)).toEqual(['automount', 'legacy']);
      // Nothing was loaded while the file was being written: one reload, of the whole file.
      expect(events).toEqual([event]);
      expect(s.sink.lines().filter((l) => l.event === 'policy-reload')).toHaveLength(1);
    } finally {
      await s.close();
    }
  },
  TIMEOUT,
);
