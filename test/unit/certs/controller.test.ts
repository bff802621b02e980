import {
  type CertInfo,
  caBundlePatch,
  checkRotationConfig,
  decide,
  type RotationConfig,
  renewRequest,
  type StoredCertificates,
  servingNotAfter,
} from '../../../src/certs/controller.js';
import { leaseStep, microTime } from '../../../src/kube/lease.js';

const DAY = 86_400_000;
const config: RotationConfig = {
  caValidityMs: 365 * DAY,
  caRenewBeforeMs: 30 * DAY,
  certValidityMs: 90 * DAY,
  certRenewBeforeMs: 30 * DAY,
  propagationMs: 60_000,
};
const T0 = Date.UTC(2026, 0, 1);
const ca = (fp: string, from: number, days: number): CertInfo => ({
  fingerprint256: fp,
  notBefore: from,
  notAfter: from + days * DAY,
});
const stored = (
  cas: CertInfo[],
  issuer: string,
  servingFrom: number,
  servingDays = 90,
): Extract<StoredCertificates, { usable: true }> => ({
  usable: true,
  cas,
  caKeyMatches: true,
  serving: {
    fingerprint256: 'leaf',
    notBefore: servingFrom,
    notAfter: servingFrom + servingDays * DAY,
    issuer,
    keyMatches: true,
    namesMatch: true,
  },
});

describe('decide', () => {
  test('a missing or garbage Secret is created anew', () => {
    expect(decide({ usable: false, problem: 'ca.crt is missing' }, T0, config, undefined).plan).toEqual({
      action: 'create',
      reason: 'ca.crt is missing',
    });
  });
  test('nothing to do in the middle of both validities; next check is capped', () => {
    const d = decide(stored([ca('A', T0, 365)], 'A', T0), T0 + DAY, config, T0);
    expect(d.plan.action).toBe('none');
    expect(d.nextCheck).toBe(T0 + DAY + 60_000);
  });
  test('the serving certificate is renewed renew-before its expiry, not earlier', () => {
    const s = stored([ca('A', T0, 365)], 'A', T0);
    expect(decide(s, T0 + 60 * DAY - 1, config, T0).plan.action).toBe('none');
    expect(decide(s, T0 + 60 * DAY, config, T0).plan).toMatchObject({ action: 'issue', keep: ['A'] });
  });
  test('CA rotation: stage, wait for the bundle in every configuration plus propagation, promote, prune after expiry', () => {
    const stageAt = T0 + 335 * DAY;
    expect(decide(stored([ca('A', T0, 365)], 'A', T0 + 300 * DAY), stageAt - 1, config, T0).plan.action).toBe('none');
    expect(decide(stored([ca('A', T0, 365)], 'A', T0 + 300 * DAY), stageAt, config, T0).plan).toMatchObject({
      action: 'stage-ca',
      keep: ['A'],
    });
    // Staged: the bundle is [A, B]; the certificate is still A's.
    const staged = stored([ca('A', T0, 365), ca('B', stageAt, 365)], 'A', T0 + 300 * DAY);
    expect(decide(staged, stageAt + 1000, config, undefined).plan).toMatchObject({ action: 'none' });
    const published = stageAt + 2000;
    expect(decide(staged, published + 59_999, config, published).plan.action).toBe('none');
    expect(decide(staged, published + 60_000, config, published).plan).toMatchObject({
      action: 'issue',
      keep: ['A', 'B'],
    });
    // Promoted: B signs; A stays in the bundle until it expires, then leaves.
    const promoted = stored([ca('A', T0, 365), ca('B', stageAt, 365)], 'B', published + 60_000);
    expect(decide(promoted, T0 + 365 * DAY - 1, config, published).plan.action).toBe('none');
    expect(decide(promoted, T0 + 365 * DAY, config, published).plan).toMatchObject({ action: 'prune', keep: ['B'] });
  });
  test('a serving certificate of no bundle CA, with a wrong key or wrong names is replaced at once', () => {
    const s = stored([ca('A', T0, 365)], 'X', T0);
    expect(decide(s, T0 + DAY, config, undefined).plan.action).toBe('issue');
  });
  test('the renew annotation: "ca" stages a new CA at once (then the usual wait), "certificate" issues at once from the newest CA', () => {
    const s = stored([ca('A', T0, 365)], 'A', T0);
    expect(decide({ ...s, renew: 'ca' }, T0 + DAY, config, T0).plan).toEqual({
      action: 'stage-ca',
      reason: "the Secret's tokenguard.dev/renew annotation asks for a new CA",
      keep: ['A'],
    });
    expect(decide({ ...s, renew: 'certificate' }, T0 + DAY, config, T0).plan).toEqual({
      action: 'issue',
      reason: "the Secret's tokenguard.dev/renew annotation asks for a new serving certificate",
      keep: ['A'],
    });
    // While a staged CA waits to be trusted, a certificate request waits for the promotion (which answers it).
    const staged = { ...stored([ca('A', T0, 365), ca('B', T0 + DAY, 365)], 'A', T0), renew: 'certificate' as const };
    expect(decide(staged, T0 + DAY + 1000, config, undefined).plan.action).toBe('none');
    expect(decide(staged, T0 + DAY + 1000, config, T0 + DAY).plan.action).toBe('none');
    expect(decide(staged, T0 + DAY + 60_000, config, T0 + DAY).plan).toMatchObject({
      action: 'issue',
      reason: 'the bundle with the new CA is in every webhook configuration',
    });
  });
  test('renewRequest takes "ca" and "certificate" only', () => {
    expect(['ca', 'certificate', 'CA', '', undefined, 1].map(renewRequest)).toEqual([
      'ca',
      'certificate',
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
  });
  test('a new serving certificate never outlives its CA', () => {
    expect(servingNotAfter(T0, config, T0 + 10 * DAY)).toBe(T0 + 10 * DAY);
    expect(servingNotAfter(T0, config, T0 + 365 * DAY)).toBe(T0 + 90 * DAY);
  });
});

test('checkRotationConfig refuses loops and overlaps shorter than the propagation', () => {
  const flags = {
    caValidityMs: 'ca-v',
    caRenewBeforeMs: 'ca-r',
    certValidityMs: 'c-v',
    certRenewBeforeMs: 'c-r',
    propagationMs: 'p',
  };
  expect(checkRotationConfig(config, flags)).toEqual([]);
  expect(checkRotationConfig({ ...config, caRenewBeforeMs: 10 * DAY }, flags)).toEqual([
    'ca-r must not be shorter than c-r',
  ]);
  expect(checkRotationConfig({ ...config, propagationMs: 20 * DAY }, flags)).toEqual(['ca-r must be at least twice p']);
});

test('caBundlePatch fixes missing and wrong bundles only, guarded by the webhook name', () => {
  const config = {
    webhooks: [
      { name: 'a', clientConfig: { caBundle: 'OK' } },
      { name: 'b', clientConfig: {} },
      { name: 'c', clientConfig: { caBundle: 'OLD' } },
    ],
  };
  expect(caBundlePatch(config, 'OK')).toEqual([
    { op: 'test', path: '/webhooks/1/name', value: 'b' },
    { op: 'add', path: '/webhooks/1/clientConfig/caBundle', value: 'OK' },
    { op: 'test', path: '/webhooks/2/name', value: 'c' },
    { op: 'add', path: '/webhooks/2/clientConfig/caBundle', value: 'OK' },
  ]);
});

describe('leaseStep', () => {
  const timing = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };
  const held = {
    holderIdentity: 'other',
    leaseDurationSeconds: 15,
    acquireTime: microTime(T0),
    renewTime: microTime(T0),
    leaseTransitions: 0,
  };
  test('no Lease: create it', () => {
    expect(leaseStep(undefined, undefined, T0, 'me', timing)).toMatchObject({
      kind: 'write',
      spec: { holderIdentity: 'me', leaseTransitions: 0 },
    });
  });
  test('another holder is taken over only after the lease duration unchanged on our own clock', () => {
    const first = leaseStep(held, undefined, T0 + 3_600_000, 'me', timing); // its renewTime is old, but we just saw it
    expect(first.kind).toBe('held');
    expect(leaseStep(held, first.observation, T0 + 3_600_000 + 14_999, 'me', timing).kind).toBe('held');
    expect(leaseStep(held, first.observation, T0 + 3_600_000 + 15_000, 'me', timing)).toMatchObject({
      kind: 'write',
      spec: { holderIdentity: 'me', leaseTransitions: 1 },
    });
  });
  test('a released Lease is taken at once', () => {
    expect(leaseStep({ ...held, holderIdentity: '', leaseDurationSeconds: 1 }, undefined, T0, 'me', timing).kind).toBe(
      'write',
    );
  });
});
