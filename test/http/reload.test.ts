/**
 * Hot reload under load: policies good -> broken -> fixed, and certificate rotation, with
 * requests running throughout. Files change the way the kubelet changes ConfigMap and Secret
 * volumes (an atomic `..data` symlink swap). No timing assertions: phases advance on the
 * server's own reload events, and every loop has a hard bound.
 */
import { X509Certificate } from 'node:crypto';
import { Agent } from 'node:https';
import { join } from 'node:path';
import { type CertificateSet, CLOCK_SKEW_MS, generateCertificates } from '../../src/certs/generate.js';
import { handleReview } from '../../src/admission/review.js';
import { noFacts } from '../../src/facts/types.js';
import { loadPolicies } from '../../src/policy/load.js';
import type { CertReloadEvent } from '../../src/server/tls.js';
import type { PolicyReloadEvent } from '../../src/server/policies.js';
import { pod, review } from '../helpers/pods.js';
import {
  makeCertificates,
  nextEvent,
  postReview,
  request,
  startTestServer,
  type TestServer,
  tempDir,
  VolumeDir,
} from './helpers.js';

const TIMEOUT = 60_000;
/** Requests at least; the loop goes on until every phase has been seen, never past MAX_REQUESTS. */
const MIN_REQUESTS = 300;
const MAX_REQUESTS = 5000;
const WORKERS = 4;

const policy = (mode: string, extra = '') => `apiVersion: tokenguard.dev/v1alpha1
kind: TokenPolicy
metadata:
  name: legacy
spec:
  mode: ${mode}
  legacyTokenSecrets:
    action: Deny
${extra}`;

/** Set A denies legacy token Secrets; set B is Off (allows them). */
const SET_A = { 'legacy.yaml': policy('Enforce') };
const SET_B = { 'legacy.yaml': policy('Off') };
/**
 * Broken: a valid Audit policy plus an invalid document in the same file. Were any part of it
 * used, answers would carry Audit warnings: a third answer, distinguishable from A and B.
 */
const SET_BROKEN = {
  'legacy.yaml': `${policy('Audit')}---\napiVersion: tokenguard.dev/v1alpha1\nkind: TokenPolicy\nmetadata:\n  name: broken\nspec:\n  mode: Sometimes\n`,
};

const legacySecretReview = (uid: string) =>
  review(
    {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/service-account-token',
      metadata: { name: 'ci-token', namespace: 'team-a', annotations: { 'kubernetes.io/service-account.name': 'ci' } },
    },
    { kind: 'Secret', name: 'ci-token', uid },
  );

async function expectedResponse(files: Record<string, string>, uid: string): Promise<unknown> {
  const dir = tempDir('expected');
  new VolumeDir(dir, files);
  const loaded = loadPolicies([dir]);
  if (loaded.errors.length > 0) throw new Error('expected a valid set');
  const r = await handleReview('validate', legacySecretReview(uid), {
    policies: () => loaded.policies,
    facts: noFacts,
  });
  if (!r.ok) throw new Error('unexpected 400');
  return r.outcome.review.response;
}

interface Sent<P extends string> {
  readonly phase: P;
  readonly status: number | 'transport-error';
  readonly body: unknown;
  readonly serial: string | undefined;
}

/**
 * Runs WORKERS request loops until `done()` and at least MIN_REQUESTS have been sent; records
 * the phase each request was sent in. Never sends more than MAX_REQUESTS.
 */
async function load<P extends string>(
  send: (i: number) => Promise<{ status: number; body: string; serial: string | undefined }>,
  phase: () => P,
  done: () => boolean,
  results: Sent<P>[],
) {
  let next = 0;
  const worker = async () => {
    while (next < MAX_REQUESTS && (next < MIN_REQUESTS || !done())) {
      const i = next++;
      const p = phase();
      try {
        const r = await send(i);
        results.push({ phase: p, status: r.status, body: JSON.parse(r.body), serial: r.serial });
      } catch (e) {
        results.push({ phase: p, status: 'transport-error', body: String(e), serial: undefined });
      }
    }
  };
  await Promise.all(Array.from({ length: WORKERS }, worker));
}

/** Polls (5 ms steps, at most 20 s) until `list` has `n` entries. Not a timing assertion. */
async function untilCount(list: readonly unknown[], n: number): Promise<void> {
  for (let i = 0; i < 4000 && list.length < n; i++) await new Promise((r) => setTimeout(r, 5));
}

test(
  'policy reload good -> broken -> fixed under load: no request fails, the broken set is never used',
  async () => {
    const dir = new VolumeDir(tempDir('policies'), SET_A);
    const s = await startTestServer({ policies: [dir.dir] });
    const agent = new Agent({ keepAlive: true, ca: s.ca });
    try {
      const uid = (i: number) => `reload-${i}`;
      const answerA = await expectedResponse(SET_A, 'UID');
      const answerB = await expectedResponse(SET_B, 'UID');
      expect(answerA).not.toEqual(answerB);

      type Phase = 'A' | 'to-broken' | 'broken-rejected' | 'to-B' | 'B';
      let phase: Phase = 'A';
      const results: Sent<Phase>[] = [];
      const store = s.running.policies;
      const controller = (async () => {
        await untilCount(results, 60);
        const failed = nextEvent<PolicyReloadEvent>(store.events, (e) => e.result === 'failure');
        phase = 'to-broken';
        dir.swap(SET_BROKEN);
        const failure = await failed;
        phase = 'broken-rejected';
        await untilCount(results, results.length + 60);
        const succeeded = nextEvent<PolicyReloadEvent>(store.events, (e) => e.result === 'success');
        phase = 'to-B';
        dir.swap(SET_B);
        await succeeded;
        phase = 'B';
        return failure;
      })();
      let controllerDone = false;
      let controllerFailed = false;
      controller.then(
        () => {
          controllerDone = true;
        },
        () => {
          controllerFailed = true;
        },
      );
      await load(
        (i) => postReview({ port: s.port, ca: s.ca, agent, endpoint: 'validate', review: legacySecretReview(uid(i)) }),
        () => phase,
        () => controllerFailed || (controllerDone && results.filter((r) => r.phase === 'B').length >= 60),
        results,
      );
      const failure = await controller;

      expect(results.length).toBeGreaterThanOrEqual(MIN_REQUESTS);
      expect(results.filter((r) => r.status !== 200)).toEqual([]);
      const normalized = results.map((r) => ({
        phase: r.phase,
        response: { ...(r.body as { response: object }).response, uid: 'UID' },
      }));
      for (const r of normalized) {
        if (r.phase === 'A' || r.phase === 'to-broken' || r.phase === 'broken-rejected')
          expect(r.response).toEqual(answerA);
        else if (r.phase === 'B') expect(r.response).toEqual(answerB);
        else expect([answerA, answerB]).toContainEqual(r.response);
      }
      for (const p of ['A', 'to-broken', 'broken-rejected', 'B'] as const)
        expect(normalized.some((r) => r.phase === p)).toBe(true);

      // The broken set was reported with its exact errors, in the log and in metrics.
      expect(failure.errors.length).toBeGreaterThan(0);
      expect(failure.errors.every((e) => e.startsWith(join(dir.dir, 'legacy.yaml')))).toBe(true);
      const logged = s.sink
        .lines()
        .filter((l) => l.event === 'policy-error')
        .map((l) => l.error);
      expect(logged).toEqual(failure.errors);
      const metrics = (await request({ port: s.port, ca: s.ca, path: '/metrics' })).body;
      expect(metrics).toContain('tokenguard_policy_reloads_total{result="failure"} 1');
      expect(metrics).toContain('tokenguard_policy_reloads_total{result="success"} 1');
      expect(metrics).toContain('tokenguard_policy_last_reload_success 1');
      expect(metrics).toContain('tokenguard_policies_loaded 1');
      expect(store.generation()).toBe(2);
    } finally {
      agent.destroy();
      await s.close();
    }
  },
  TIMEOUT,
);

test(
  'a broken set leaves the last good one in force, readiness stays up, and the failure gauge drops to 0',
  async () => {
    const dir = new VolumeDir(tempDir('policies'), SET_A);
    const s = await startTestServer({ policies: [dir.dir] });
    try {
      const failed = nextEvent<PolicyReloadEvent>(s.running.policies.events);
      dir.swap({ 'legacy.yaml': 'this: is: not: yaml: [' });
      expect((await failed).result).toBe('failure');
      expect(s.running.policies.upToDate()).toBe(false);
      const metrics = (await request({ port: s.port, ca: s.ca, path: '/metrics' })).body;
      expect(metrics).toContain('tokenguard_policy_last_reload_success 0');
      expect((await request({ port: s.port, ca: s.ca, path: '/readyz' })).status).toBe(200);
      const r = await postReview({
        port: s.port,
        ca: s.ca,
        endpoint: 'validate',
        review: legacySecretReview('still-a'),
      });
      expect({ ...JSON.parse(r.body).response, uid: 'UID' }).toEqual(await expectedResponse(SET_A, 'UID'));
    } finally {
      await s.close();
    }
  },
  TIMEOUT,
);

/** A server started on a fresh certificate from a kubelet-style volume folder, closed after `body`. */
async function withCertVolume(
  body: (t: { first: CertificateSet; certDir: VolumeDir; s: TestServer }) => Promise<void>,
): Promise<void> {
  const first = await makeCertificates();
  const certDir = new VolumeDir(tempDir('tls'), { 'tls.crt': first.cert, 'tls.key': first.key });
  const s = await startTestServer({ certs: first, certDir: certDir.dir });
  try {
    await body({ first, certDir, s });
  } finally {
    await s.close();
  }
}

const serialOf = (pem: string) => new X509Certificate(pem).serialNumber;

test(
  'certificate rotation under load: zero failed requests, and new connections get the new certificate',
  () =>
    withCertVolume(async ({ first, certDir, s }) => {
      const keepAlive = new Agent({ keepAlive: true, ca: s.ca });
      try {
        const second = await makeCertificates({ cert: first.caCert, key: first.caKey });
        const oldSerial = serialOf(first.cert);
        const newSerial = serialOf(second.cert);
        expect(newSerial).not.toBe(oldSerial);

        type Phase = 'old' | 'rotating' | 'new';
        let phase: Phase = 'old';
        // `answeredIn`: the phase when the answer came. A request sent before the swap may still
        // open its connection after it (the agent's pool grows under load) and rightly get the new one.
        const results: (Sent<Phase> & { fresh: boolean; answeredIn: Phase })[] = [];
        const raw: Sent<Phase>[] = [];
        let rotated = false;
        let controllerFailed = false;
        const controller = (async () => {
          await untilCount(raw, 50);
          const reloaded = nextEvent<CertReloadEvent>(s.running.certificate.events);
          phase = 'rotating';
          certDir.swap({ 'tls.crt': second.cert, 'tls.key': second.key });
          const event = await reloaded;
          phase = 'new';
          rotated = true;
          return event;
        })();
        controller.catch(() => {
          controllerFailed = true;
        });
        await load(
          async (i) => {
            // Half the requests reuse kept-alive connections, half open a new one.
            const fresh = i % 2 === 0;
            const sentIn = phase;
            const r = await postReview({
              port: s.port,
              ca: s.ca,
              agent: fresh ? false : keepAlive,
              endpoint: 'mutate',
              review: review(pod({ name: `p${i}` }), { uid: `tls-${i}` }),
            });
            results.push({ phase: sentIn, status: r.status, body: null, serial: r.serial, fresh, answeredIn: phase });
            return r;
          },
          () => phase,
          () => controllerFailed || (rotated && raw.filter((r) => r.phase === 'new').length >= 50),
          raw,
        );
        const event = await controller;
        expect(event).toEqual({ result: 'success', serialNumber: newSerial });
        expect(raw.length).toBeGreaterThanOrEqual(MIN_REQUESTS);
        expect(raw.filter((r) => r.status !== 200)).toEqual([]);
        const freshAfter = results.filter((r) => r.fresh && r.phase === 'new');
        expect(freshAfter.length).toBeGreaterThan(0);
        expect(new Set(freshAfter.map((r) => r.serial))).toEqual(new Set([newSerial]));
        const answeredBeforeSwap = results.filter((r) => r.answeredIn === 'old');
        expect(answeredBeforeSwap.length).toBeGreaterThan(0);
        expect(new Set(answeredBeforeSwap.map((r) => r.serial))).toEqual(new Set([oldSerial]));

        const metrics = (await request({ port: s.port, ca: s.ca, path: '/metrics' })).body;
        expect(metrics).toContain('tokenguard_certificate_reloads_total{result="success"} 1');
        expect(metrics).toContain(
          `tokenguard_certificate_expiry_timestamp_seconds ${Math.floor(new Date(new X509Certificate(second.cert).validTo).getTime() / 1000)}`,
        );
      } finally {
        keepAlive.destroy();
      }
    }),
  TIMEOUT,
);

test(
  'a certificate that is not valid now (expired, or not yet valid) is refused on reload; the one in use stays',
  () =>
    withCertVolume(async ({ first, certDir, s }) => {
      const day = 86_400_000;
      const base = {
        service: 'tokenguard',
        namespace: 'tokenguard-system',
        dnsNames: ['localhost'],
        ipAddresses: ['127.0.0.1'],
        ca: { cert: first.caCert, key: first.caKey },
        days: 1,
      };
      const expired = await generateCertificates({ ...base, now: new Date(Date.now() - 3 * day) });
      const future = await generateCertificates({ ...base, now: new Date(Date.now() + 3 * day) });
      for (const bad of [expired, future]) {
        const failed = nextEvent<CertReloadEvent>(s.running.certificate.events);
        certDir.swap({ 'tls.crt': bad.cert, 'tls.key': bad.key });
        const event = await failed;
        expect(event.result).toBe('failure');
        expect(event.error).toMatch(
          /^the new certificate is not valid now \(valid .* to .*\); keeping the one in use$/,
        );
        const r = await request({ port: s.port, ca: s.ca, path: '/healthz' });
        expect(r.serial).toBe(serialOf(first.cert));
      }
      // A valid one after that is taken.
      const good = await makeCertificates({ cert: first.caCert, key: first.caKey });
      const ok = nextEvent<CertReloadEvent>(s.running.certificate.events);
      certDir.swap({ 'tls.crt': good.cert, 'tls.key': good.key });
      expect((await ok).result).toBe('success');
    }),
  TIMEOUT,
);

test(
  'a certificate refused as not yet valid is taken once it is valid, though the files do not change again',
  () =>
    withCertVolume(async ({ first, certDir, s }) => {
      // notBefore about 2 s from now (the generator backdates notBefore by CLOCK_SKEW_MS).
      const soon = await generateCertificates({
        service: 'tokenguard',
        namespace: 'tokenguard-system',
        dnsNames: ['localhost'],
        ipAddresses: ['127.0.0.1'],
        ca: { cert: first.caCert, key: first.caKey },
        days: 1,
        now: new Date(Date.now() + CLOCK_SKEW_MS + 2000),
      });
      const events: CertReloadEvent[] = [];
      s.running.certificate.events.on('reload', (e) => events.push(e));
      const taken = nextEvent<CertReloadEvent>(s.running.certificate.events, (e) => e.result === 'success');
      certDir.swap({ 'tls.crt': soon.cert, 'tls.key': soon.key });
      expect(await taken).toEqual({ result: 'success', serialNumber: serialOf(soon.cert) });
      expect(events.map((e) => e.result)).toEqual(['failure', 'success']);
      expect((await request({ port: s.port, ca: s.ca, path: '/healthz' })).serial).toBe(serialOf(soon.cert));
    }),
  TIMEOUT,
);

test(
  'a mismatched certificate and key keep the certificate in use, and the failure is counted',
  () =>
    withCertVolume(async ({ first, certDir, s }) => {
      const second = await makeCertificates({ cert: first.caCert, key: first.caKey });
      const failed = nextEvent<CertReloadEvent>(s.running.certificate.events);
      certDir.swap({ 'tls.crt': second.cert, 'tls.key': first.key });
      const event = await failed;
      expect(event.result).toBe('failure');
      expect(event.error).toBe(
        `${join(certDir.dir, 'tls.key')}: the private key does not belong to the certificate in ${join(certDir.dir, 'tls.crt')}`,
      );
      const r = await request({ port: s.port, ca: s.ca, path: '/healthz' });
      expect(r.status).toBe(200);
      expect(r.serial).toBe(serialOf(first.cert));
      const metrics = (await request({ port: s.port, ca: s.ca, path: '/metrics' })).body;
      expect(metrics).toContain('tokenguard_certificate_reloads_total{result="failure"} 1');
      // Key material never reaches the log.
      const keyLines = first.key.split('\n').filter((l) => l.length > 16 && !l.startsWith('-----'));
      for (const line of keyLines) expect(s.sink.text()).not.toContain(line);
    }),
  TIMEOUT,
);
