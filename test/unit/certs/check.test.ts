import { chmodSync, copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkCertificates } from '../../../src/certs/check.js';
import {
  type CertificateSet,
  generateCertificates,
  toCaBundle,
  writeCertificates,
} from '../../../src/certs/generate.js';
import { assertNoKeyMaterial, DAY_MS, openssl, tempDir } from './helpers.js';

// openssl is a test dependency (.ci/run installs it when missing): these tests always run.
const itOpenssl = it;
const NOW = new Date('2030-06-01T12:00:00.000Z');
const at = (days: number) => new Date(NOW.getTime() + days * DAY_MS);

describe('checkCertificates', () => {
  const tmp = tempDir('check');
  let year: CertificateSet;
  let shortLived: CertificateSet;
  let other: CertificateSet;
  let n = 0;

  /** A new folder with `certs` written into it. */
  async function folder(certs: CertificateSet): Promise<string> {
    const dir = join(tmp.dir, String(n++));
    await writeCertificates(dir, certs);
    return dir;
  }

  beforeAll(async () => {
    [year, shortLived, other] = await Promise.all([
      generateCertificates({ service: 'tokenguard', namespace: 'tokenguard-system', now: NOW }),
      generateCertificates({ service: 'tokenguard', namespace: 'tokenguard-system', now: NOW, days: 10 }),
      generateCertificates({ service: 'tokenguard', namespace: 'tokenguard-system', now: NOW }),
    ]);
  });
  afterAll(() => tmp.cleanup());

  it('accepts freshly generated certificates, with only info findings', async () => {
    const dir = await folder(year);
    const result = checkCertificates(dir, { now: NOW, service: 'tokenguard', namespace: 'tokenguard-system' });
    expect(result.ok).toBe(true);
    expect(result.findings.every((f) => f.level === 'info')).toBe(true);
    expect(result.findings).toContainEqual({
      file: 'tls.crt',
      level: 'info',
      message: `serving certificate valid until ${at(365).toISOString()} (365 days left)`,
    });
    expect(result.notAfter?.toISOString()).toBe(at(365).toISOString());
  });

  it('warns about certificates expiring within warnDays (days=10, warnDays 30)', async () => {
    const dir = await folder(shortLived);
    const result = checkCertificates(dir, { now: NOW, warnDays: 30 });
    expect(result.ok).toBe(false);
    expect(result.findings).toContainEqual({
      file: 'tls.crt',
      level: 'warn',
      message: `serving certificate expires on ${at(10).toISOString()}, in 10 days (warning at 30)`,
    });
    expect(result.findings).toContainEqual(expect.objectContaining({ file: 'ca.crt', level: 'info' })); // the CA lasts 10 years
    expect(result.findings.some((f) => f.level === 'error')).toBe(false);
    // ...and not with a shorter warning window.
    expect(checkCertificates(dir, { now: NOW, warnDays: 5 }).ok).toBe(true);
  });

  it('defaults warnDays to 30', async () => {
    const dir = await folder(year);
    expect(checkCertificates(dir, { now: at(340) }).ok).toBe(false);
    expect(checkCertificates(dir, { now: at(330) }).ok).toBe(true);
  });

  it('reports expired certificates as errors when now is past notAfter', async () => {
    const dir = await folder(year);
    const result = checkCertificates(dir, { now: at(400) });
    expect(result.ok).toBe(false);
    expect(result.findings).toContainEqual({
      file: 'tls.crt',
      level: 'error',
      message: `serving certificate expired on ${at(365).toISOString()} (35 days ago)`,
    });
    expect(result.findings.filter((f) => f.file === 'ca.crt').map((f) => f.level)).toEqual(['info']);
  });

  it('reports an expiring or expired CA, even while the serving certificate is fine', async () => {
    const certs = await generateCertificates({
      service: 'tokenguard',
      namespace: 'tokenguard-system',
      now: NOW,
      days: 100,
      caDays: 100,
    });
    const dir = await folder(certs);
    expect(checkCertificates(dir, { now: at(80) }).findings).toContainEqual({
      file: 'ca.crt',
      level: 'warn',
      message: `CA certificate expires on ${at(100).toISOString()}, in 20 days (warning at 30)`,
    });
    const renewed = await generateCertificates({
      service: 'tokenguard',
      namespace: 'tokenguard-system',
      now: at(50),
      days: 50,
      ca: { cert: certs.caCert, key: certs.caKey },
    });
    const dir2 = await folder(renewed);
    writeFileSync(join(dir2, 'ca.crt'), certs.caCert);
    expect(checkCertificates(dir2, { now: at(101) }).findings).toContainEqual(
      expect.objectContaining({
        file: 'ca.crt',
        level: 'error',
        message: expect.stringMatching(/^CA certificate expired on/),
      }),
    );
  });

  it('reports certificates that are not valid yet', async () => {
    const dir = await folder(year);
    const result = checkCertificates(dir, { now: at(-1) });
    expect(result.ok).toBe(false);
    expect(result.findings).toContainEqual(
      expect.objectContaining({ file: 'tls.crt', level: 'error', message: expect.stringMatching(/not valid before/) }),
    );
  });

  it('reports a tls.key that does not match tls.crt, without printing key material', async () => {
    const dir = await folder(year);
    writeFileSync(join(dir, 'tls.key'), other.key, { mode: 0o600 });
    const result = checkCertificates(dir, { now: NOW });
    expect(result.ok).toBe(false);
    expect(result.findings).toContainEqual({
      file: 'tls.key',
      level: 'error',
      message: 'private key does not match the certificate in tls.crt',
    });
    assertNoKeyMaterial(JSON.stringify(result), [other.key, year.key, year.caKey]);
  });

  it('reports an unreadable key without quoting it', async () => {
    const dir = await folder(year);
    const garbage = '-----BEGIN PRIVATE KEY-----\nTUFURVJJQUwtU0VDUkVULUNBTkFSWQ==\n-----END PRIVATE KEY-----\n';
    writeFileSync(join(dir, 'tls.key'), garbage, { mode: 0o600 });
    const result = checkCertificates(dir, { now: NOW });
    expect(result.findings).toContainEqual({
      file: 'tls.key',
      level: 'error',
      message: 'is not a readable unencrypted PEM private key',
    });
    expect(JSON.stringify(result)).not.toContain('TUFURVJJQUwtU0VDUkVULUNBTkFSWQ');
  });

  it('reports a chain that does not verify against ca.crt', async () => {
    const dir = await folder(year);
    writeFileSync(join(dir, 'ca.crt'), other.caCert);
    rmSync(join(dir, 'caBundle'));
    const result = checkCertificates(dir, { now: NOW });
    expect(result.ok).toBe(false);
    expect(result.findings).toContainEqual({
      file: 'tls.crt',
      level: 'error',
      message: 'does not verify against the CA certificate(s) in ca.crt',
    });
  });

  it('accepts a ca.crt bundle holding an old and a new CA (rotation)', async () => {
    const dir = await folder(year);
    writeFileSync(join(dir, 'ca.crt'), other.caCert + year.caCert);
    writeFileSync(join(dir, 'caBundle'), toCaBundle(other.caCert + year.caCert));
    expect(checkCertificates(dir, { now: NOW }).ok).toBe(true);
  });

  it('reports a caBundle that does not hold the issuing CA', async () => {
    const dir = await folder(year);
    writeFileSync(join(dir, 'caBundle'), toCaBundle(other.caCert));
    const result = checkCertificates(dir, { now: NOW });
    expect(result.ok).toBe(false);
    expect(result.findings).toContainEqual(expect.objectContaining({ file: 'caBundle', level: 'error' }));
  });

  it('verifies against caBundle when there is no ca.crt, and says when there is neither', async () => {
    const dir = await folder(year);
    rmSync(join(dir, 'ca.crt'));
    expect(checkCertificates(dir, { now: NOW }).ok).toBe(true);
    writeFileSync(join(dir, 'caBundle'), toCaBundle(other.caCert));
    expect(checkCertificates(dir, { now: NOW }).findings).toContainEqual(
      expect.objectContaining({
        file: 'tls.crt',
        message: 'does not verify against the CA certificate(s) in caBundle',
      }),
    );
    rmSync(join(dir, 'caBundle'));
    const result = checkCertificates(dir, { now: NOW });
    expect(result.ok).toBe(true);
    expect(result.findings).toContainEqual(
      expect.objectContaining({ file: 'ca.crt', level: 'info', message: expect.stringMatching(/not checked/) }),
    );
  });

  it('reports a serving certificate that lacks the expected service name', async () => {
    const dir = await folder(year);
    const result = checkCertificates(dir, { now: NOW, service: 'other', namespace: 'tokenguard-system' });
    expect(result.ok).toBe(false);
    expect(result.findings).toContainEqual({
      file: 'tls.crt',
      level: 'error',
      message: 'subjectAltName does not cover other.tokenguard-system.svc, the name the API server dials',
    });
  });

  itOpenssl('reports a certificate without SANs, and one without a .svc name', () => {
    const dir = join(tmp.dir, String(n++));
    mkdirSync(dir);
    const req = (extra: string[]) =>
      openssl([
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-days',
        '30',
        '-subj',
        '/CN=tokenguard.tokenguard-system.svc',
        '-keyout',
        join(dir, 'tls.key'),
        '-out',
        join(dir, 'tls.crt'),
        ...extra,
      ]);
    req([]);
    const noSan = checkCertificates(dir, { warnDays: 1 });
    expect(noSan.ok).toBe(false);
    expect(noSan.findings).toContainEqual(
      expect.objectContaining({
        file: 'tls.crt',
        level: 'error',
        message: expect.stringMatching(/has no subjectAltName/),
      }),
    );
    req(['-addext', 'subjectAltName=DNS:example.com']);
    const noSvc = checkCertificates(dir, { warnDays: 1 });
    expect(noSvc.findings).toContainEqual(
      expect.objectContaining({
        file: 'tls.crt',
        level: 'warn',
        message: expect.stringMatching(/no <service>.<namespace>.svc/),
      }),
    );
  });

  it('reports missing files', async () => {
    const dir = join(tmp.dir, String(n++));
    mkdirSync(dir);
    const empty = checkCertificates(dir, { now: NOW });
    expect(empty.ok).toBe(false);
    expect(empty.notAfter).toBeUndefined();
    expect(empty.findings).toEqual([{ file: 'tls.crt', level: 'error', message: 'missing' }]);
    copyFileSync(join(await folder(year), 'tls.crt'), join(dir, 'tls.crt'));
    expect(checkCertificates(dir, { now: NOW }).findings).toContainEqual({
      file: 'tls.key',
      level: 'error',
      message: 'missing',
    });
  });

  it('reports a tls.crt that is not a certificate', async () => {
    const dir = await folder(year);
    writeFileSync(join(dir, 'tls.crt'), 'hello');
    expect(checkCertificates(dir, { now: NOW }).findings).toContainEqual({
      file: 'tls.crt',
      level: 'error',
      message: 'contains no PEM certificate',
    });
    writeFileSync(join(dir, 'tls.crt'), '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    expect(checkCertificates(dir, { now: NOW }).findings).toContainEqual({
      file: 'tls.crt',
      level: 'error',
      message: 'certificate 1 cannot be parsed',
    });
  });

  it('rejects a CA certificate used as the serving certificate', async () => {
    const dir = await folder(year);
    writeFileSync(join(dir, 'tls.crt'), year.caCert);
    writeFileSync(join(dir, 'tls.key'), year.caKey);
    const result = checkCertificates(dir, { now: NOW });
    expect(result.findings).toContainEqual(
      expect.objectContaining({
        file: 'tls.crt',
        level: 'error',
        message: expect.stringMatching(/is a CA certificate/),
      }),
    );
  });

  it('mentions world-readable key files without failing', async () => {
    const dir = await folder(year);
    chmodSync(join(dir, 'tls.key'), 0o644);
    const result = checkCertificates(dir, { now: NOW });
    expect(result.ok).toBe(true);
    expect(result.findings).toContainEqual({
      file: 'tls.key',
      level: 'info',
      message: 'is readable by every user (mode 0644); chmod 600 it',
    });
  });
});
