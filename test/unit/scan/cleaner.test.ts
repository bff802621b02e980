/**
 * The legacy-token cleaner's dates (docs/scan.md "What the labels mean, and when the cleaner acts"), case by case, from
 * the rules of kube-controller-manager's legacy_serviceaccount_token_cleaner.go, and the verdicts
 * built on them.
 */
import { type CleanerInput, forecast, type Tracking } from '../../../src/scan/cleaner.js';
import { DAY_MS, daysBetween, formatDay, parseDay } from '../../../src/scan/dates.js';
import type { ServiceAccountInfo, TokenSecret } from '../../../src/scan/inventory.js';
import { assessLegacyToken, type Consumer } from '../../../src/scan/legacy.js';

const NOW = Date.parse('2026-12-10T12:00:00Z');
const SINCE: Tracking = { state: 'since', since: '2024-01-01' };

function secret(o: Partial<TokenSecret> = {}): TokenSecret {
  return {
    namespace: 'ns',
    name: 'tok',
    uid: 'u1',
    createdAt: Date.parse('2024-06-01T10:00:00Z'),
    deleting: false,
    serviceAccountName: 'sa',
    serviceAccountUid: 'sa-uid',
    lastUsed: undefined,
    invalidSince: undefined,
    ...o,
  };
}

function account(o: Partial<ServiceAccountInfo> = {}): ServiceAccountInfo {
  return { namespace: 'ns', name: 'sa', uid: 'sa-uid', secrets: ['tok'], fact: {}, ...o };
}

function input(o: Partial<CleanerInput> = {}): CleanerInput {
  return {
    secret: secret(),
    serviceAccount: account(),
    referencedByPod: false,
    now: NOW,
    periodDays: 365,
    tracking: SINCE,
    ...o,
  };
}

describe('dates: what Go time.Parse("2006-01-02") accepts', () => {
  test.each([
    ['2024-02-29', true],
    ['2023-02-29', false],
    ['2026-12-31', true],
    ['2026-13-01', false],
    ['2026-1-05', false],
    ['2026-01-05 ', false],
    ['2026-01-00', false],
    ['', false],
    ['20260105', false],
  ])('%j -> %s', (text, ok) => {
    expect(parseDay(text) !== undefined).toBe(ok);
    if (ok) expect(formatDay(parseDay(text) as number)).toBe(text);
  });

  test('days are whole UTC days', () => {
    expect(daysBetween(Date.parse('2026-12-09T23:59:59Z'), Date.parse('2026-12-10T00:00:00Z'))).toBe(0);
    expect(daysBetween(parseDay('2026-12-01') as number, NOW)).toBe(9);
    expect(DAY_MS).toBe(86_400_000);
  });
});

describe('when the cleaner invalidates and deletes', () => {
  test('eligible long ago: invalidated at its next daily run (today), deleted a period and a day later', () => {
    expect(forecast(input())).toEqual({
      state: 'scheduled',
      invalidateOn: '2026-12-10',
      deleteOn: '2027-12-11',
      reason: 'auto-generated, unused for a period and mounted by no pod',
    });
  });

  test('the latest of: tracking start + 1 day + period, creation + period, last use + 1 day + period', () => {
    // Tracking began 2026-06-01: nothing happens before 2027-06-02.
    expect(forecast(input({ tracking: { state: 'since', since: '2026-06-01' } }))).toMatchObject({
      invalidateOn: '2027-06-02',
      deleteOn: '2028-06-02',
    });
    // Created 2026-03-15 10:00 UTC: "created before now - period" first holds on 2027-03-15 after 10:00.
    expect(forecast(input({ secret: secret({ createdAt: Date.parse('2026-03-15T10:00:00Z') }) }))).toMatchObject({
      invalidateOn: '2027-03-15',
    });
    // Last used 2026-05-20: the label must be a day older than today minus the period.
    expect(forecast(input({ secret: secret({ lastUsed: '2026-05-20' }) }))).toMatchObject({
      invalidateOn: '2027-05-21',
      deleteOn: '2028-05-21',
    });
  });

  test('a shorter --legacy-service-account-token-clean-up-period moves every date', () => {
    expect(forecast(input({ periodDays: 30, secret: secret({ lastUsed: '2026-12-01' }) }))).toMatchObject({
      invalidateOn: '2027-01-01',
      deleteOn: '2027-02-01',
    });
  });

  test.each([
    ['a pod refers to it', input({ referencedByPod: true }), 'a pod refers to it'],
    [
      'not listed in .secrets',
      input({ serviceAccount: account({ secrets: [] }) }),
      'ServiceAccount sa does not list it in .secrets (the cleaner handles auto-generated tokens only)',
    ],
    ['no ServiceAccount', input({ serviceAccount: undefined }), 'its ServiceAccount sa does not exist'],
    [
      'a recreated ServiceAccount',
      input({ serviceAccount: account({ uid: 'other' }) }),
      'ServiceAccount sa was recreated (another UID)',
    ],
    [
      'a last-used label that is no date',
      input({ secret: secret({ lastUsed: 'yesterday' }) }),
      'its kubernetes.io/legacy-token-last-used label ("yesterday") is not a date, so the cleaner skips it',
    ],
    ['tracking off', input({ tracking: { state: 'off', reason: 'tracking is off' } }), 'tracking is off'],
  ])('never while %s', (_name, i, reason) => {
    expect(forecast(i)).toEqual({ state: 'never', reason });
  });

  test('invalidated: deleted a period and a day after the label date, unless something still blocks it', () => {
    expect(forecast(input({ secret: secret({ invalidSince: '2026-11-01' }) }))).toMatchObject({
      state: 'invalidated',
      invalidSince: '2026-11-01',
      deleteOn: '2027-11-02',
    });
    // A refused attempt to use it still stamps last-used, which postpones the deletion.
    expect(forecast(input({ secret: secret({ invalidSince: '2026-11-01', lastUsed: '2026-12-09' }) }))).toMatchObject({
      deleteOn: '2027-12-10',
    });
    expect(forecast(input({ secret: secret({ invalidSince: '2026-11-01' }), referencedByPod: true }))).toEqual({
      state: 'invalidated',
      invalidSince: '2026-11-01',
      reason: 'not deleted by the cleaner while a pod refers to it',
    });
    // Not a date: the API server still refuses the token; the cleaner writes today and counts from there.
    expect(forecast(input({ secret: secret({ invalidSince: 'soon' }) }))).toMatchObject({
      state: 'invalidated',
      deleteOn: '2027-12-11',
    });
  });

  test('a Secret being deleted is left alone', () => {
    expect(forecast(input({ secret: secret({ deleting: true }) })).state).toBe('deleting');
  });
});

describe('verdicts', () => {
  const assess = (
    o: { secret?: Partial<TokenSecret>; sa?: ServiceAccountInfo | undefined; consumers?: Consumer[] } = {},
  ) =>
    assessLegacyToken({
      secret: secret(o.secret),
      serviceAccount: 'sa' in o ? o.sa : account(),
      consumers: o.consumers ?? [],
      now: NOW,
      periodDays: 365,
      minUnusedDays: 30,
      tracking: SINCE,
    });
  const consumer: Consumer = {
    workload: { apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'ns', name: 'app' },
    pods: 2,
    template: true,
    uses: [{ secret: 'tok', kind: 'volume', volume: 'v', container: 'containers/app', mountPath: '/t' }],
  };

  test('used by a workload: migrate first, even when its token is already refused', () => {
    expect(assess({ consumers: [consumer] }).message).toBe(
      'used by Deployment ns/app (2 pods): volume v at /t in containers/app: migrate first.',
    );
    expect(assess({ consumers: [consumer], secret: { invalidSince: '2026-11-01' } }).message).toBe(
      'used by Deployment ns/app (2 pods): volume v at /t in containers/app: migrate first. Its token is already refused (invalidated on 2026-11-01): those pods fail to authenticate with it. The cleaner will not delete it: a pod refers to it.',
    );
  });

  test('unused: safe to delete, counted from the last use, or from creation or the start of tracking', () => {
    expect(assess({ secret: { lastUsed: '2026-01-10' } })).toMatchObject({
      verdict: 'safe-to-delete',
      unusedDays: 334,
      unusedSince: '2026-01-10',
    });
    // No label: no use since it was created (after tracking began).
    expect(assess()).toMatchObject({ verdict: 'safe-to-delete', unusedDays: 922, unusedSince: '2024-06-01' });
    expect(
      assessLegacyToken({
        secret: secret({ createdAt: Date.parse('2020-01-01T00:00:00Z') }),
        serviceAccount: account(),
        consumers: [],
        now: NOW,
        periodDays: 365,
        minUnusedDays: 30,
        tracking: { state: 'since', since: '2026-11-20' },
      }),
    ).toMatchObject({ verdict: 'find-client', unusedDays: 20, unusedSince: '2026-11-20' });
  });

  test('recently used by nothing in the cluster: find the client', () => {
    expect(assess({ secret: { lastUsed: '2026-12-08' } }).message).toBe(
      'used 2 days ago (2026-12-08), by nothing in the cluster: find the client that holds it (a CI system, a kubeconfig) before deleting it. The API server will invalidate it on or after 2027-12-09 and delete it on or after 2028-12-09 (legacy-token cleaner).',
    );
    expect(assess({ secret: { lastUsed: 'not-a-date' } })).toMatchObject({ verdict: 'find-client', unusedDays: null });
  });

  test('orphaned: its ServiceAccount is gone or was recreated', () => {
    expect(assess({ sa: undefined }).verdict).toBe('orphaned');
    expect(assess({ sa: account({ uid: 'new' }) }).message).toBe(
      'ServiceAccount sa was recreated: the token authenticates nothing, and nothing uses it; safe to delete.',
    );
  });
});
