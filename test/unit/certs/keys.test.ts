/**
 * The shared key and certificate parsing (src/certs/keys.ts), and the wording each of its three
 * callers gives its failures: the server's certificate loader, `certs check`, `certs generate`
 * with an existing CA.
 */
import { createPrivateKey } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkCertificates } from '../../../src/certs/check.js';
import { type CertificateSet, generateCertificates, writeCertificates } from '../../../src/certs/generate.js';
import {
  NOT_A_CERTIFICATE,
  NOT_A_PRIVATE_KEY,
  parseCertificate,
  parsePrivateKey,
  privateKeyFor,
} from '../../../src/certs/keys.js';
import { CertificateError, loadServingCert } from '../../../src/server/tls.js';
import { assertNoKeyMaterial, tempDir } from './helpers.js';

const base = { service: 'tokenguard', namespace: 'tokenguard-system' };
/** Base64 that is no key, to prove no message quotes its input. */
const CANARY = 'TUFURVJJQUwtU0VDUkVULUNBTkFSWQ';
const GARBAGE_KEY = `-----BEGIN PRIVATE KEY-----\n${CANARY}==\n-----END PRIVATE KEY-----\n`;
const GARBAGE_CERT = `-----BEGIN CERTIFICATE-----\n${CANARY}==\n-----END CERTIFICATE-----\n`;

let a: CertificateSet;
let b: CertificateSet;
let encryptedKey: string;
const cleanups: (() => void)[] = [];
beforeAll(async () => {
  [a, b] = await Promise.all([generateCertificates(base), generateCertificates(base)]);
  encryptedKey = createPrivateKey(a.key)
    .export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'secret' })
    .toString();
});
afterAll(() => {
  for (const c of cleanups) c();
});

function dir(): string {
  const t = tempDir('keys');
  cleanups.push(t.cleanup);
  return t.dir;
}

describe('the helpers', () => {
  test('parseCertificate: the certificate, or undefined for anything else', () => {
    expect(parseCertificate(a.cert)?.fingerprint256).toMatch(/^[0-9A-F:]+$/);
    expect(parseCertificate(Buffer.from(a.cert))).toBeDefined();
    for (const text of [GARBAGE_CERT, a.key, '', 'x']) expect(parseCertificate(text)).toBeUndefined();
  });

  test('parsePrivateKey: the key, or undefined for garbage, an encrypted key or a certificate', () => {
    expect(parsePrivateKey(a.key)?.type).toBe('private');
    expect(parsePrivateKey(Buffer.from(a.key))?.type).toBe('private');
    for (const text of [GARBAGE_KEY, encryptedKey, a.cert, '']) expect(parsePrivateKey(text)).toBeUndefined();
  });

  test('privateKeyFor: the key when it belongs to the certificate, else unreadable or mismatch', () => {
    const cert = parseCertificate(a.cert);
    if (cert === undefined) throw new Error('fixture');
    const key = privateKeyFor(cert, a.key);
    expect(typeof key === 'object' && key.type).toBe('private');
    expect(privateKeyFor(cert, Buffer.from(a.key))).not.toBe('mismatch');
    expect(privateKeyFor(cert, b.key)).toBe('mismatch');
    expect(privateKeyFor(cert, a.caKey)).toBe('mismatch'); // the CA's key is not the serving key
    expect(privateKeyFor(cert, GARBAGE_KEY)).toBe('unreadable');
    expect(privateKeyFor(cert, encryptedKey)).toBe('unreadable');
  });
});

describe('the server certificate loader keeps its wording', () => {
  const load = (files: { cert?: string; key?: string; clientCa?: string }) => {
    const d = dir();
    const certFile = join(d, 'tls.crt');
    const keyFile = join(d, 'tls.key');
    writeFileSync(certFile, files.cert ?? a.cert);
    writeFileSync(keyFile, files.key ?? a.key);
    let clientCaFile: string | undefined;
    if (files.clientCa !== undefined) {
      clientCaFile = join(d, 'client-ca.crt');
      writeFileSync(clientCaFile, files.clientCa);
    }
    try {
      return { loaded: loadServingCert({ certFile, keyFile, clientCaFile }), certFile, keyFile, clientCaFile };
    } catch (e) {
      expect(e).toBeInstanceOf(CertificateError);
      return { error: (e as Error).message, certFile, keyFile, clientCaFile };
    }
  };

  test('a matching pair loads, with a client CA', () => {
    const r = load({ clientCa: a.caCert });
    expect(r.error).toBeUndefined();
    expect(r.loaded).toMatchObject({ cert: a.cert, key: a.key, clientCa: a.caCert });
  });

  test('each failure names the file and quotes nothing', () => {
    const cases: [Parameters<typeof load>[0], (r: ReturnType<typeof load>) => string][] = [
      [{ cert: GARBAGE_CERT }, (r) => `${r.certFile}: not a PEM certificate`],
      [{ key: GARBAGE_KEY }, (r) => `${r.keyFile}: not an unencrypted PEM private key`],
      [{ key: encryptedKey }, (r) => `${r.keyFile}: not an unencrypted PEM private key`],
      [{ key: b.key }, (r) => `${r.keyFile}: the private key does not belong to the certificate in ${r.certFile}`],
      [{ clientCa: GARBAGE_CERT }, (r) => `${r.clientCaFile}: not a PEM certificate`],
      [{ clientCa: a.cert }, (r) => `${r.clientCaFile}: the first certificate is not a CA (basicConstraints CA:true)`],
    ];
    for (const [files, expected] of cases) {
      const r = load(files);
      expect(r.error).toBe(expected(r));
      expect(r.error).not.toContain(CANARY);
      assertNoKeyMaterial(r.error ?? '', [a.key, b.key]);
    }
  });
});

describe('certs check keeps its wording', () => {
  const findingsWithKey = async (key: string) => {
    const d = dir();
    await writeCertificates(d, a);
    writeFileSync(join(d, 'tls.key'), key, { mode: 0o600 });
    return checkCertificates(d).findings.filter((f) => f.file === 'tls.key' && f.level === 'error');
  };

  test('unreadable, encrypted and mismatched keys', async () => {
    expect(await findingsWithKey(a.key)).toEqual([]);
    expect(await findingsWithKey(GARBAGE_KEY)).toEqual([
      { file: 'tls.key', level: 'error', message: 'is not a readable unencrypted PEM private key' },
    ]);
    expect(await findingsWithKey(encryptedKey)).toEqual([
      { file: 'tls.key', level: 'error', message: 'is not a readable unencrypted PEM private key' },
    ]);
    expect(await findingsWithKey(b.key)).toEqual([
      { file: 'tls.key', level: 'error', message: 'private key does not match the certificate in tls.crt' },
    ]);
  });
});

describe('certs generate with an existing CA keeps its wording and its order of checks', () => {
  const withCa = (ca: { cert: string; key: string }) => generateCertificates({ ...base, days: 5, ca });

  test('each failure, in the order cert, key, CA:true, match', async () => {
    await expect(withCa({ cert: GARBAGE_CERT, key: GARBAGE_KEY })).rejects.toThrow(`ca.cert: ${NOT_A_CERTIFICATE}`);
    await expect(withCa({ cert: a.caCert, key: GARBAGE_KEY })).rejects.toThrow(`ca.key: ${NOT_A_PRIVATE_KEY}`);
    await expect(withCa({ cert: a.caCert, key: encryptedKey })).rejects.toThrow(
      'ca.key: not an unencrypted PEM private key',
    );
    // Not a CA and not its key either: the CA check comes first.
    await expect(withCa({ cert: a.cert, key: b.key })).rejects.toThrow(
      'ca.cert: not a CA certificate (basicConstraints CA:true)',
    );
    await expect(withCa({ cert: a.caCert, key: b.caKey })).rejects.toThrow('ca.key: does not match ca.cert');
    const renewed = await withCa({ cert: a.caCert, key: a.caKey });
    expect(renewed.caCert).toBe(a.caCert);
  });
});
