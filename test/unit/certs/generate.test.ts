import { createPrivateKey as createKey, X509Certificate } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as der from '../../../src/certs/der.js';
import {
  CertificateOptionsError,
  type CertificateSet,
  generateCertificates,
  ipBytes,
  type KeyType,
  toCaBundle,
  writeCertificates,
} from '../../../src/certs/generate.js';
import { DAY_MS, openssl, tempDir } from './helpers.js';

// openssl is a test dependency (.ci/run installs it when missing): these tests always run.
const itOpenssl = it;
const NOW = new Date('2030-01-15T10:00:00.000Z');
const SERVICE_NAMES = [
  'tokenguard',
  'tokenguard.tokenguard-system',
  'tokenguard.tokenguard-system.svc',
  'tokenguard.tokenguard-system.svc.cluster.local',
];

describe.each<KeyType>(['ecdsa-p256', 'rsa-2048'])('generateCertificates (%s)', (keyType) => {
  let certs: CertificateSet;
  let ca: X509Certificate;
  let leaf: X509Certificate;
  const tmp = tempDir(`gen-${keyType}`);

  beforeAll(async () => {
    certs = await generateCertificates({
      service: 'tokenguard',
      namespace: 'tokenguard-system',
      days: 90,
      now: NOW,
      keyType,
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1', '::1'],
    });
    ca = new X509Certificate(certs.caCert);
    leaf = new X509Certificate(certs.cert);
    await writeCertificates(tmp.dir, certs);
  });
  afterAll(() => tmp.cleanup());

  it('issues a CA and a serving certificate signed by it', () => {
    expect(ca.ca).toBe(true);
    expect(leaf.ca).toBe(false);
    expect(leaf.checkIssued(ca)).toBe(true);
    expect(leaf.verify(ca.publicKey)).toBe(true);
    expect(ca.verify(ca.publicKey)).toBe(true); // self-signed
    expect(leaf.serialNumber).not.toBe(ca.serialNumber);
  });

  it('carries every service name plus the extra names and IPs as SANs', () => {
    const sans = leaf.subjectAltName?.split(', ') ?? [];
    expect(sans).toEqual([
      ...SERVICE_NAMES.map((n) => `DNS:${n}`),
      'DNS:localhost',
      'IP Address:127.0.0.1',
      'IP Address:0:0:0:0:0:0:0:1',
    ]);
    expect(leaf.checkHost('tokenguard.tokenguard-system.svc')).toBe('tokenguard.tokenguard-system.svc');
    expect(leaf.checkHost('evil.example')).toBeUndefined();
    expect(leaf.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(leaf.subject).toContain('CN=tokenguard.tokenguard-system.svc');
  });

  it('is valid from just before now for the requested days', () => {
    const notBefore = new Date(leaf.validFrom).getTime();
    const notAfter = new Date(leaf.validTo).getTime();
    expect(notBefore).toBeLessThanOrEqual(NOW.getTime());
    expect(NOW.getTime() - notBefore).toBeLessThanOrEqual(10 * 60 * 1000);
    expect(notAfter).toBe(NOW.getTime() + 90 * DAY_MS);
    // The CA outlives the serving certificate (10 years by default), so renewals can keep it.
    expect(new Date(ca.validTo).getTime()).toBe(NOW.getTime() + 3650 * DAY_MS);
    expect(new Date(ca.validFrom).getTime()).toBe(notBefore);
  });

  it('restricts the serving certificate to serverAuth', () => {
    const eku = (leaf as X509Certificate & { extKeyUsage?: string[] }).extKeyUsage ?? leaf.keyUsage;
    expect(eku).toEqual(['1.3.6.1.5.5.7.3.1']);
  });

  it('returns PKCS#8 keys that match their certificates', () => {
    expect(certs.key).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(certs.caKey).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(leaf.checkPrivateKey(createKey(certs.key))).toBe(true);
    expect(ca.checkPrivateKey(createKey(certs.caKey))).toBe(true);
    expect(leaf.checkPrivateKey(createKey(certs.caKey))).toBe(false);
    expect(leaf.publicKey.asymmetricKeyType).toBe(keyType === 'rsa-2048' ? 'rsa' : 'ec');
    if (keyType === 'rsa-2048') expect(leaf.publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
    else expect(leaf.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
  });

  it('writes the four PEM files and a one-line caBundle, keys readable by the owner only', () => {
    const mode = (f: string) => statSync(join(tmp.dir, f)).mode & 0o777;
    expect(mode('tls.key')).toBe(0o600);
    expect(mode('ca.key')).toBe(0o600);
    expect(mode('tls.crt') & 0o600).toBe(0o600);
    expect(readFileSync(join(tmp.dir, 'tls.crt'), 'utf8')).toBe(certs.cert);
    expect(readFileSync(join(tmp.dir, 'ca.crt'), 'utf8')).toBe(certs.caCert);
    expect(readFileSync(join(tmp.dir, 'tls.key'), 'utf8')).toBe(certs.key);
    expect(readFileSync(join(tmp.dir, 'ca.key'), 'utf8')).toBe(certs.caKey);
    const bundle = readFileSync(join(tmp.dir, 'caBundle'), 'utf8');
    expect(bundle).toMatch(/^[A-Za-z0-9+/]+=*$/);
    expect(Buffer.from(bundle, 'base64').toString('utf8')).toBe(certs.caCert);
    expect(bundle).toBe(toCaBundle(certs.caCert));
  });

  itOpenssl('has the extensions openssl expects of a CA and a TLS server certificate', () => {
    const caText = openssl(['x509', '-noout', '-text', '-in', join(tmp.dir, 'ca.crt')]);
    expect(caText).toMatch(/X509v3 Basic Constraints: critical\s+CA:TRUE/);
    expect(caText).toMatch(/X509v3 Key Usage: critical\s+Digital Signature, Certificate Sign, CRL Sign/);
    const leafText = openssl(['x509', '-noout', '-text', '-in', join(tmp.dir, 'tls.crt')]);
    expect(leafText).toMatch(/X509v3 Basic Constraints: critical\s+CA:FALSE/);
    expect(leafText).toMatch(
      keyType === 'rsa-2048'
        ? /X509v3 Key Usage: critical\s+Digital Signature, Key Encipherment\n/
        : /X509v3 Key Usage: critical\s+Digital Signature\n/,
    );
    expect(leafText).toMatch(/X509v3 Extended Key Usage:\s*\n\s+TLS Web Server Authentication\n/);
    expect(leafText).toContain('DNS:tokenguard.tokenguard-system.svc.cluster.local');
    expect(leafText).toMatch(/X509v3 Authority Key Identifier/);
    expect(leafText).toContain(keyType === 'rsa-2048' ? 'sha256WithRSAEncryption' : 'ecdsa-with-SHA256');
  });

  itOpenssl('verifies with openssl verify -CAfile ca.crt (strict, as a TLS server)', () => {
    // openssl checks validity against the real clock: use certificates valid now.
    const out = openssl([
      'verify',
      '-x509_strict',
      '-purpose',
      'sslserver',
      '-attime',
      String(Math.floor(NOW.getTime() / 1000)),
      '-CAfile',
      join(tmp.dir, 'ca.crt'),
      join(tmp.dir, 'tls.crt'),
    ]);
    expect(out.trim()).toBe(`${join(tmp.dir, 'tls.crt')}: OK`);
  });

  itOpenssl('fails openssl verify against another CA', async () => {
    const other = await generateCertificates({
      service: 'tokenguard',
      namespace: 'tokenguard-system',
      keyType,
      now: NOW,
    });
    const otherCa = join(tmp.dir, 'other-ca.crt');
    writeFileSync(otherCa, other.caCert);
    expect(() =>
      openssl([
        'verify',
        '-attime',
        String(Math.floor(NOW.getTime() / 1000)),
        '-CAfile',
        otherCa,
        join(tmp.dir, 'tls.crt'),
      ]),
    ).toThrow();
  });
});

describe('generateCertificates defaults and options', () => {
  it('defaults to ECDSA P-256, 365 days from the current time', async () => {
    const before = Date.now();
    const certs = await generateCertificates({ service: 'webhook', namespace: 'ns' });
    const leaf = new X509Certificate(certs.cert);
    expect(leaf.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    const notAfter = new Date(leaf.validTo).getTime();
    expect(notAfter).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + 365 * DAY_MS - 1000);
    expect(notAfter).toBeLessThanOrEqual(Date.now() + 365 * DAY_MS);
    expect(leaf.subjectAltName).toBe(
      'DNS:webhook, DNS:webhook.ns, DNS:webhook.ns.svc, DNS:webhook.ns.svc.cluster.local',
    );
  });

  it('creates a new CA and serial every time', async () => {
    const a = await generateCertificates({ service: 'webhook', namespace: 'ns', now: NOW });
    const b = await generateCertificates({ service: 'webhook', namespace: 'ns', now: NOW });
    expect(a.caCert).not.toBe(b.caCert);
    expect(new X509Certificate(a.cert).serialNumber).not.toBe(new X509Certificate(b.cert).serialNumber);
    expect(new X509Certificate(a.cert).verify(new X509Certificate(b.caCert).publicKey)).toBe(false);
  });

  it('encodes validity past 2049 as GeneralizedTime that parses back', async () => {
    const certs = await generateCertificates({
      service: 'webhook',
      namespace: 'ns',
      now: new Date('2049-12-01T00:00:00Z'),
      days: 60,
    });
    expect(new Date(new X509Certificate(certs.cert).validTo).toISOString()).toBe('2050-01-30T00:00:00.000Z');
  });

  it.each([
    [{ service: 'Bad_Name', namespace: 'ns' }, /service/],
    [{ service: '1webhook', namespace: 'ns' }, /service/],
    [{ service: 'webhook', namespace: 'ns.with.dots' }, /namespace/],
    [{ service: 'webhook', namespace: 'ns', days: 0 }, /days/],
    [{ service: 'webhook', namespace: 'ns', days: 1.5 }, /days/],
    [{ service: 'webhook', namespace: 'ns', days: 100000 }, /days/],
    [{ service: 'webhook', namespace: 'ns', keyType: 'dsa' as KeyType }, /keyType/],
    [{ service: 'webhook', namespace: 'ns', dnsNames: ['bad name'] }, /dnsNames/],
    [{ service: 'webhook', namespace: 'ns', dnsNames: ['a.*.example'] }, /dnsNames/],
    [{ service: 'webhook', namespace: 'ns', ipAddresses: ['300.1.1.1'] }, /ipAddresses/],
    [{ service: 'webhook', namespace: 'ns', now: new Date('nope') }, /now/],
  ])('rejects bad options %#', async (options, message) => {
    await expect(generateCertificates(options)).rejects.toThrow(CertificateOptionsError);
    await expect(generateCertificates(options)).rejects.toThrow(message);
  });

  it('accepts a wildcard DNS name and lower-cases names', async () => {
    const certs = await generateCertificates({ service: 'webhook', namespace: 'ns', dnsNames: ['*.Example.COM'] });
    expect(new X509Certificate(certs.cert).subjectAltName).toContain('DNS:*.example.com');
  });
});

describe('CA validity and reuse', () => {
  it('honours caDays, and refuses a CA shorter than the serving certificate', async () => {
    const certs = await generateCertificates({ service: 'webhook', namespace: 'ns', now: NOW, days: 30, caDays: 60 });
    expect(new Date(new X509Certificate(certs.caCert).validTo).getTime()).toBe(NOW.getTime() + 60 * DAY_MS);
    await expect(generateCertificates({ service: 'webhook', namespace: 'ns', days: 30, caDays: 20 })).rejects.toThrow(
      /caDays/,
    );
    // days beyond the default CA validity stretch the default CA with them
    const long = await generateCertificates({ service: 'webhook', namespace: 'ns', now: NOW, days: 3650 });
    expect(new X509Certificate(long.caCert).validTo).toBe(new X509Certificate(long.cert).validTo);
  });

  describe.each<KeyType>(['ecdsa-p256', 'rsa-2048'])('signing with an existing %s CA', (caType) => {
    let first: CertificateSet;
    let renewed: CertificateSet;
    const tmp = tempDir(`renew-${caType}`);
    beforeAll(async () => {
      first = await generateCertificates({
        service: 'tokenguard',
        namespace: 'tokenguard-system',
        now: NOW,
        keyType: caType,
      });
      renewed = await generateCertificates({
        service: 'tokenguard',
        namespace: 'tokenguard-system',
        now: new Date(NOW.getTime() + 300 * DAY_MS),
        ca: { cert: first.caCert, key: first.caKey },
      });
      await writeCertificates(tmp.dir, renewed);
    });
    afterAll(() => tmp.cleanup());

    it('keeps the CA and issues a new serving certificate that chains to it', () => {
      expect(renewed.caCert).toBe(first.caCert);
      expect(renewed.caKey).toBe(first.caKey);
      expect(toCaBundle(renewed.caCert)).toBe(toCaBundle(first.caCert));
      expect(renewed.cert).not.toBe(first.cert);
      expect(renewed.key).not.toBe(first.key);
      const ca = new X509Certificate(first.caCert);
      const leaf = new X509Certificate(renewed.cert);
      expect(leaf.issuer).toBe(ca.subject);
      expect(leaf.checkIssued(ca)).toBe(true);
      expect(leaf.verify(ca.publicKey)).toBe(true);
      expect(new Date(leaf.validTo).getTime()).toBe(NOW.getTime() + 665 * DAY_MS);
    });

    itOpenssl('verifies with openssl, authority key identifier matching the CA', () => {
      const at = String(Math.floor(NOW.getTime() / 1000) + 301 * 86400);
      expect(
        openssl([
          'verify',
          '-x509_strict',
          '-purpose',
          'sslserver',
          '-attime',
          at,
          '-CAfile',
          join(tmp.dir, 'ca.crt'),
          join(tmp.dir, 'tls.crt'),
        ]).trim(),
      ).toBe(`${join(tmp.dir, 'tls.crt')}: OK`);
      const ski = /Subject Key Identifier:\s*\n\s*([0-9A-F:]+)/.exec(
        openssl(['x509', '-noout', '-text', '-in', join(tmp.dir, 'ca.crt')]),
      )?.[1];
      const aki = /Authority Key Identifier:\s*\n\s*(?:keyid:)?([0-9A-F:]+)/.exec(
        openssl(['x509', '-noout', '-text', '-in', join(tmp.dir, 'tls.crt')]),
      )?.[1];
      expect(ski).toBeDefined();
      expect(aki).toBe(ski);
    });
  });

  it('rejects a CA that expires before the new certificate would, or that is no CA, or whose key does not match', async () => {
    const shortCa = await generateCertificates({ service: 'webhook', namespace: 'ns', now: NOW, days: 10, caDays: 10 });
    const base = { service: 'webhook', namespace: 'ns', now: NOW };
    await expect(
      generateCertificates({ ...base, days: 30, ca: { cert: shortCa.caCert, key: shortCa.caKey } }),
    ).rejects.toThrow(/ca\.cert: expires on .* before the new certificate would/);
    await expect(
      generateCertificates({ ...base, days: 5, ca: { cert: shortCa.cert, key: shortCa.key } }),
    ).rejects.toThrow(/not a CA certificate/);
    await expect(
      generateCertificates({ ...base, days: 5, ca: { cert: shortCa.caCert, key: shortCa.key } }),
    ).rejects.toThrow(/does not match/);
    await expect(generateCertificates({ ...base, days: 5, ca: { cert: 'nope', key: shortCa.caKey } })).rejects.toThrow(
      CertificateOptionsError,
    );
    const garbage = '-----BEGIN PRIVATE KEY-----\nU0VDUkVU\n-----END PRIVATE KEY-----\n';
    const err = await generateCertificates({ ...base, days: 5, ca: { cert: shortCa.caCert, key: garbage } }).catch(
      (e: Error) => e,
    );
    expect(err).toBeInstanceOf(CertificateOptionsError);
    expect((err as Error).message).not.toContain('U0VDUkVU');
  });
});

describe('ipBytes', () => {
  it.each([
    ['127.0.0.1', '7f000001'],
    ['::1', '00000000000000000000000000000001'],
    ['::', '00000000000000000000000000000000'],
    ['fe80::1:2', 'fe800000000000000000000000010002'],
    ['2001:db8:0:0:1:0:0:1', '20010db8000000000001000000000001'],
    ['::ffff:10.0.0.1', '00000000000000000000ffff0a000001'],
    ['1::', '00010000000000000000000000000000'],
  ])('%s', (ip, hex) => {
    expect(ipBytes(ip).toString('hex')).toBe(hex);
  });
});

describe('der', () => {
  it('encodes integers minimally and positive', () => {
    expect(der.smallInteger(0).toString('hex')).toBe('020100');
    expect(der.smallInteger(127).toString('hex')).toBe('02017f');
    expect(der.smallInteger(128).toString('hex')).toBe('02020080');
    expect(der.unsignedInteger(Buffer.from([0, 0, 1])).toString('hex')).toBe('020101');
  });

  it('encodes OIDs and long lengths', () => {
    expect(der.oid('1.2.840.113549.1.1.11').toString('hex')).toBe('06092a864886f70d01010b');
    expect(der.oid('2.5.29.17').toString('hex')).toBe('0603551d11');
    expect(der.octetString(Buffer.alloc(200)).subarray(0, 3).toString('hex')).toBe('0481c8');
    expect(der.octetString(Buffer.alloc(300)).subarray(0, 4).toString('hex')).toBe('0482012c');
    expect(() => der.oid('3.1')).toThrow(RangeError);
  });

  it('encodes named bits without trailing zero bits', () => {
    expect(der.namedBits([0]).toString('hex')).toBe('03020780'); // digitalSignature
    expect(der.namedBits([0, 2]).toString('hex')).toBe('030205a0'); // + keyEncipherment
    expect(der.namedBits([0, 5, 6]).toString('hex')).toBe('03020186'); // CA usages
  });

  it('reads back what it writes', () => {
    const seq = der.sequence(der.smallInteger(5), der.octetString(Buffer.alloc(300, 1)));
    const top = der.readElement(seq);
    expect(top.tag).toBe(0x30);
    expect(top.end).toBe(seq.length);
    const [a, b] = der.readChildren(top.content);
    expect(a?.content.toString('hex')).toBe('05');
    expect(b?.content.length).toBe(300);
    expect(() => der.readElement(seq.subarray(0, 10))).toThrow(RangeError);
  });
});
