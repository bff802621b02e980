/**
 * Certificates for the webhook's HTTPS endpoint, without openssl: a private CA and a serving
 * certificate signed by it, for the names the API server dials (`<service>.<namespace>.svc`,
 * docs/kubernetes.md "How the API server calls a webhook"). Used by `tokenguard certs generate` (the self-managed overlay) and by
 * {@link ensureDevCertificates} for local development.
 */
import { createHash, generateKeyPair, type KeyObject, randomBytes, sign, X509Certificate } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  bitString,
  type DerElement,
  boolean,
  explicit,
  implicitPrimitive,
  namedBits,
  nullValue,
  octetString,
  oid,
  readChildren,
  readElement,
  sequence,
  setOf,
  smallInteger,
  time,
  unsignedInteger,
  utf8String,
} from './der.js';
import { NOT_A_CERTIFICATE, NOT_A_PRIVATE_KEY, parseCertificate, privateKeyFor } from './keys.js';

/** Key algorithms `tokenguard certs generate --key-type` accepts. */
export const KEY_TYPES = ['ecdsa-p256', 'rsa-2048'] as const;
export type KeyType = (typeof KEY_TYPES)[number];

/** Longest validity accepted, in days (10 years). */
const MAX_DAYS = 3650;

/** Default validity of a new CA, in days (10 years). */
const DEFAULT_CA_DAYS = 3650;

/**
 * How far `notBefore` is set before `now`, so that an API server whose clock is slightly behind
 * the machine that generated the certificate still accepts it.
 */
export const CLOCK_SKEW_MS = 5 * 60 * 1000;

export interface GenerateOptions {
  /** Service name (DNS-1035 label), e.g. `tokenguard`. */
  readonly service: string;
  /** Namespace (DNS-1123 label), e.g. `tokenguard-system`. */
  readonly namespace: string;
  /** Validity of the serving certificate, from `now`. Default 365. */
  readonly days?: number;
  /**
   * Validity of a new CA, from `now`. Default {@link DEFAULT_CA_DAYS} (and never less than
   * `days`): the serving certificate can then be renewed with the same CA, so the caBundle in
   * the webhook configurations does not change.
   */
  readonly caDays?: number;
  /**
   * Sign with this existing CA (PEM certificate and private key) instead of creating one:
   * renews the serving certificate while the caBundle stays the same.
   */
  readonly ca?: { readonly cert: string; readonly key: string };
  /**
   * Exact end of the serving certificate's validity, instead of `days` (the certificate
   * controller's durations are not whole days). Must be after `now`.
   */
  readonly notAfter?: Date;
  /** Exact end of a new CA's validity, instead of `caDays`; not before the serving certificate's end. */
  readonly caNotAfter?: Date;
  /** Default: the current time. */
  readonly now?: Date;
  /** Default `ecdsa-p256`. */
  readonly keyType?: KeyType;
  /** Extra DNS SANs, e.g. `localhost` for local development. */
  readonly dnsNames?: readonly string[];
  /** Extra IP SANs (IPv4 or IPv6), e.g. `127.0.0.1`. */
  readonly ipAddresses?: readonly string[];
}

/** PEM-encoded CA and serving certificate with their PKCS#8 private keys. */
export interface CertificateSet {
  readonly caCert: string;
  readonly caKey: string;
  readonly cert: string;
  readonly key: string;
}

/** A bad option to {@link generateCertificates}; the message names the option. */
export class CertificateOptionsError extends Error {
  override readonly name = 'CertificateOptionsError';
}

const OID = {
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  sha256WithRsa: '1.2.840.113549.1.1.11',
} as const;

/** KeyUsage bit numbers (RFC 5280 4.2.1.3). */
const KEY_USAGE = { digitalSignature: 0, keyEncipherment: 2, keyCertSign: 5, cRLSign: 6 } as const;

const DNS1035_LABEL = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_NAME_LABEL = /^(\*|[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)$/i;

/**
 * The DNS names a serving certificate for a Service must carry: the short name and every
 * qualified form, the API server using `<service>.<namespace>.svc`.
 *
 * @example serviceDnsNames('tokenguard', 'tokenguard-system')[2] === 'tokenguard.tokenguard-system.svc'
 */
export function serviceDnsNames(service: string, namespace: string): string[] {
  return [
    service,
    `${service}.${namespace}`,
    `${service}.${namespace}.svc`,
    `${service}.${namespace}.svc.cluster.local`,
  ];
}

/**
 * Generates a private CA (CA:true, keyCertSign) and a serving certificate signed by it, valid
 * for the Service's DNS names plus any extra names and IPs, with extendedKeyUsage serverAuth.
 * The serving certificate expires `days` after `now`, a new CA `caDays` after `now`; both start
 * {@link CLOCK_SKEW_MS} before `now`. With `ca`, that CA signs and no new one is made.
 *
 * @throws CertificateOptionsError for an invalid service, namespace, days, key type, DNS name or
 *   IP, or a `ca` that is not a usable CA (not CA:true, key mismatch, expiring before the new
 *   certificate would).
 * @example const { caCert, cert, key } = await generateCertificates({ service: 'tokenguard', namespace: 'tokenguard-system' });
 */
export async function generateCertificates(options: GenerateOptions): Promise<CertificateSet> {
  const { service, namespace, days = 365, now = new Date(), keyType = 'ecdsa-p256' } = options;
  const caDays = options.caDays ?? Math.max(DEFAULT_CA_DAYS, days);
  if (!DNS1035_LABEL.test(service)) {
    throw new CertificateOptionsError(`service: "${service}" is not a valid Service name (DNS-1035 label)`);
  }
  if (!DNS1123_LABEL.test(namespace)) {
    throw new CertificateOptionsError(`namespace: "${namespace}" is not a valid namespace name (DNS-1123 label)`);
  }
  if (!Number.isInteger(days) || days < 1 || days > MAX_DAYS) {
    throw new CertificateOptionsError(`days: must be an integer from 1 to ${MAX_DAYS}, got ${days}`);
  }
  if (!Number.isInteger(caDays) || caDays < days || caDays > MAX_DAYS) {
    throw new CertificateOptionsError(`caDays: must be an integer from days (${days}) to ${MAX_DAYS}, got ${caDays}`);
  }
  if (!(KEY_TYPES as readonly string[]).includes(keyType)) {
    throw new CertificateOptionsError(`keyType: must be one of ${KEY_TYPES.join(', ')}, got "${keyType}"`);
  }
  if (!Number.isFinite(now.getTime())) throw new CertificateOptionsError('now: invalid date');
  const dnsNames = unique([...serviceDnsNames(service, namespace), ...(options.dnsNames ?? []).map(checkDnsName)]);
  const ipAddresses = unique((options.ipAddresses ?? []).map(checkIp));

  const notBefore = new Date(now.getTime() - CLOCK_SKEW_MS);
  const notAfter = options.notAfter ?? new Date(now.getTime() + days * DAY_MS);
  const caNotAfter = options.caNotAfter ?? (options.notAfter ? notAfter : new Date(now.getTime() + caDays * DAY_MS));
  if (!Number.isFinite(notAfter.getTime()) || notAfter.getTime() <= now.getTime())
    throw new CertificateOptionsError('notAfter: must be after now');
  if (!Number.isFinite(caNotAfter.getTime()) || caNotAfter.getTime() < notAfter.getTime()) {
    throw new CertificateOptionsError('caNotAfter: must not be before notAfter');
  }
  const [issuer, leaf] = await Promise.all([
    options.ca ? existingCa(options.ca, now, notAfter) : newCa(keyType, notBefore, caNotAfter, now),
    newKeyPair(keyType),
  ]);
  const leafSpki = leaf.publicKey.export({ type: 'spki', format: 'der' });

  const leafUsage: number[] = [KEY_USAGE.digitalSignature];
  if (keyType === 'rsa-2048') leafUsage.push(KEY_USAGE.keyEncipherment);
  const leafDer = signCertificate({
    issuer: issuer.name,
    subject: distinguishedName(`${service}.${namespace}.svc`),
    spki: leafSpki,
    notBefore,
    notAfter,
    signer: issuer.key,
    extensions: [
      extension(OID.basicConstraints, true, sequence()),
      extension(OID.keyUsage, true, namedBits(leafUsage)),
      extension(OID.extKeyUsage, false, sequence(oid(OID.serverAuth))),
      extension(OID.subjectAltName, false, subjectAltName(dnsNames, ipAddresses)),
      extension(OID.subjectKeyIdentifier, false, octetString(keyIdentifier(leafSpki))),
      extension(OID.authorityKeyIdentifier, false, sequence(implicitPrimitive(0, issuer.keyId))),
    ],
  });

  const cert = toPem('CERTIFICATE', leafDer);
  // Defensive self-check: what we hand out must parse and chain.
  const parsedCa = new X509Certificate(issuer.certPem);
  const parsedLeaf = new X509Certificate(cert);
  if (!parsedCa.ca || !parsedLeaf.checkIssued(parsedCa) || !parsedLeaf.verify(parsedCa.publicKey)) {
    throw new Error('internal error: generated certificate does not verify against its CA');
  }
  return {
    caCert: issuer.certPem,
    caKey: issuer.keyPem,
    cert,
    key: leaf.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** What signs the serving certificate. */
interface Issuer {
  /** DER of the CA's subject, used as the serving certificate's issuer. */
  readonly name: Buffer;
  readonly key: KeyObject;
  /** The CA's subjectKeyIdentifier, for the serving certificate's authorityKeyIdentifier. */
  readonly keyId: Buffer;
  readonly certPem: string;
  readonly keyPem: string;
}

async function newCa(keyType: KeyType, notBefore: Date, notAfter: Date, now: Date): Promise<Issuer> {
  const ca = await newKeyPair(keyType);
  const spki = ca.publicKey.export({ type: 'spki', format: 'der' });
  const keyId = keyIdentifier(spki);
  const name = distinguishedName(`tokenguard-ca@${Math.floor(now.getTime() / 1000)}`);
  const der = signCertificate({
    issuer: name,
    subject: name,
    spki,
    notBefore,
    notAfter,
    signer: ca.privateKey,
    extensions: [
      extension(OID.basicConstraints, true, sequence(boolean(true), smallInteger(0))),
      extension(OID.keyUsage, true, namedBits([KEY_USAGE.digitalSignature, KEY_USAGE.keyCertSign, KEY_USAGE.cRLSign])),
      extension(OID.subjectKeyIdentifier, false, octetString(keyId)),
    ],
  });
  return {
    name,
    key: ca.privateKey,
    keyId,
    certPem: toPem('CERTIFICATE', der),
    keyPem: ca.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

function existingCa(ca: { readonly cert: string; readonly key: string }, now: Date, leafNotAfter: Date): Issuer {
  const cert = parseCertificate(ca.cert);
  if (cert === undefined) throw new CertificateOptionsError(`ca.cert: ${NOT_A_CERTIFICATE}`);
  const key = privateKeyFor(cert, ca.key);
  if (key === 'unreadable') throw new CertificateOptionsError(`ca.key: ${NOT_A_PRIVATE_KEY}`);
  if (!cert.ca) throw new CertificateOptionsError('ca.cert: not a CA certificate (basicConstraints CA:true)');
  if (key === 'mismatch') throw new CertificateOptionsError('ca.key: does not match ca.cert');
  signatureAlgorithm(key); // throws for key types we cannot sign with
  const caNotAfter = new Date(cert.validTo);
  if (caNotAfter.getTime() < leafNotAfter.getTime()) {
    const state = caNotAfter.getTime() <= now.getTime() ? 'expired' : 'expires';
    throw new CertificateOptionsError(
      `ca.cert: ${state} on ${caNotAfter.toISOString()}, before the new certificate would (${leafNotAfter.toISOString()}); create a new CA`,
    );
  }
  // TBSCertificate: [0] version (v3), serial, signature, issuer, validity, subject, spki, ..., [3] extensions
  const tbsContent = readElement(readElement(cert.raw).content).content;
  const tbs = readChildren(tbsContent);
  const subject = tbs[(tbs[0]?.tag === 0xa0 ? 1 : 0) + 4];
  if (!subject) throw new CertificateOptionsError('ca.cert: malformed certificate');
  return {
    name: Buffer.from(tbsContent.subarray(subject.start, subject.end)),
    key,
    keyId: subjectKeyIdentifierOf(tbs) ?? keyIdentifier(cert.publicKey.export({ type: 'spki', format: 'der' })),
    certPem: ca.cert.endsWith('\n') ? ca.cert : `${ca.cert}\n`,
    keyPem: ca.key.endsWith('\n') ? ca.key : `${ca.key}\n`,
  };
}

/** The subjectKeyIdentifier extension's value, when the certificate has one. */
function subjectKeyIdentifierOf(tbs: readonly DerElement[]): Buffer | undefined {
  const extensions = tbs.find((e) => e.tag === 0xa3);
  if (!extensions) return undefined;
  const skiOid = oid(OID.subjectKeyIdentifier);
  for (const ext of readChildren(readElement(extensions.content).content)) {
    // Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }
    const parts = readChildren(ext.content);
    const id = parts[0];
    const value = parts[parts.length - 1];
    if (id && value && ext.content.subarray(id.start, id.end).equals(skiOid)) {
      return Buffer.from(readElement(value.content).content); // extnValue wraps an OCTET STRING
    }
  }
  return undefined;
}

/** File names written by {@link writeCertificates}, as a Kubernetes TLS Secret names them. */
export const CERT_FILES = {
  caCert: 'ca.crt',
  caKey: 'ca.key',
  cert: 'tls.crt',
  key: 'tls.key',
  caBundle: 'caBundle',
} as const;

/** What {@link writeCertificates} wrote: absolute or relative paths, as `dir` was given. */
export interface WrittenCertificates {
  readonly caCert: string;
  readonly caKey: string;
  readonly cert: string;
  readonly key: string;
  readonly caBundle: string;
  /** The caBundle value: base64 of ca.crt on one line, no newline. */
  readonly caBundleValue: string;
}

/**
 * The value for a webhook configuration's `clientConfig.caBundle`: the PEM CA certificate(s),
 * base64-encoded on one line.
 */
export function toCaBundle(caCertPem: string): string {
  return Buffer.from(caCertPem, 'utf8').toString('base64');
}

/**
 * Writes `ca.crt`, `ca.key`, `tls.crt`, `tls.key` (keys with mode 0600, certificates 0644) and
 * `caBundle` (base64 of ca.crt on one line, without a trailing newline, ready for kustomize)
 * into `dir`, creating it (mode 0700) if needed. Each file is written to a temporary name and
 * renamed into place, so a server watching the folder never reads half a file, and a key file
 * is never readable by others, not even for a moment.
 */
export async function writeCertificates(dir: string, certs: CertificateSet): Promise<WrittenCertificates> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const caBundleValue = toCaBundle(certs.caCert);
  const files: [string, string, number][] = [
    [CERT_FILES.caKey, certs.caKey, 0o600],
    [CERT_FILES.key, certs.key, 0o600],
    [CERT_FILES.caCert, certs.caCert, 0o644],
    [CERT_FILES.cert, certs.cert, 0o644],
    [CERT_FILES.caBundle, caBundleValue, 0o644],
  ];
  for (const [name, content, mode] of files) await writeFileAtomic(join(dir, name), content, mode);
  return {
    caCert: join(dir, CERT_FILES.caCert),
    caKey: join(dir, CERT_FILES.caKey),
    cert: join(dir, CERT_FILES.cert),
    key: join(dir, CERT_FILES.key),
    caBundle: join(dir, CERT_FILES.caBundle),
    caBundleValue,
  };
}

async function writeFileAtomic(path: string, content: string, mode: number): Promise<void> {
  const tmp = `${path}.tmp-${randomBytes(6).toString('hex')}`;
  try {
    // `wx`: never follow or reuse an existing file; `mode` applies at creation, before any byte is written.
    await writeFile(tmp, content, { mode, flag: 'wx' });
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

interface KeyPair {
  readonly publicKey: KeyObject;
  readonly privateKey: KeyObject;
}

const generateKeyPairAsync = promisify(generateKeyPair);

async function newKeyPair(keyType: KeyType): Promise<KeyPair> {
  if (keyType === 'rsa-2048') return generateKeyPairAsync('rsa', { modulusLength: 2048 });
  return generateKeyPairAsync('ec', { namedCurve: 'prime256v1' });
}

interface CertificateTemplate {
  readonly issuer: Buffer;
  readonly subject: Buffer;
  readonly spki: Buffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly signer: KeyObject;
  readonly extensions: readonly Buffer[];
}

/** Builds and signs an X.509 v3 certificate (RFC 5280 4.1), returning its DER. */
function signCertificate(t: CertificateTemplate): Buffer {
  const algorithm = signatureAlgorithm(t.signer);
  const tbs = sequence(
    explicit(0, smallInteger(2)), // v3
    unsignedInteger(serialNumber()),
    algorithm,
    t.issuer,
    sequence(time(t.notBefore), time(t.notAfter)),
    t.subject,
    t.spki,
    explicit(3, sequence(...t.extensions)),
  );
  // ECDSA signatures come out DER-encoded (dsaEncoding 'der' is the default), as X.509 wants.
  const signature = sign('sha256', tbs, t.signer);
  return sequence(tbs, algorithm, bitString(signature));
}

/** The AlgorithmIdentifier for SHA-256 signatures with `key` (RSA or ECDSA). */
function signatureAlgorithm(key: KeyObject): Buffer {
  if (key.asymmetricKeyType === 'rsa') return sequence(oid(OID.sha256WithRsa), nullValue()); // parameters NULL (RFC 4055)
  if (key.asymmetricKeyType === 'ec') return sequence(oid(OID.ecdsaWithSha256)); // parameters absent (RFC 5758)
  throw new CertificateOptionsError(
    `ca.key: ${key.asymmetricKeyType ?? 'unknown'} keys are not supported (RSA or ECDSA only)`,
  );
}

/** 16 random bytes, positive and minimal as a DER INTEGER (RFC 5280: at most 20 octets). */
function serialNumber(): Buffer {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] as number) & 0x7f) | 0x01;
  return bytes;
}

function distinguishedName(commonName: string): Buffer {
  return sequence(
    setOf(sequence(oid(OID.organization), utf8String('tokenguard'))),
    setOf(sequence(oid(OID.commonName), utf8String(commonName))),
  );
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return critical ? sequence(oid(id), boolean(true), octetString(value)) : sequence(oid(id), octetString(value));
}

function subjectAltName(dnsNames: readonly string[], ipAddresses: readonly string[]): Buffer {
  return sequence(
    ...dnsNames.map((n) => implicitPrimitive(2, Buffer.from(n, 'ascii'))), // dNSName [2] IMPLICIT IA5String
    ...ipAddresses.map((ip) => implicitPrimitive(7, ipBytes(ip))), // iPAddress [7] OCTET STRING
  );
}

/** Key identifier: SHA-1 of the subjectPublicKey BIT STRING contents (RFC 5280 4.2.1.2, method 1). */
function keyIdentifier(spki: Buffer): Buffer {
  const [, key] = readChildren(readElement(spki).content);
  if (!key) throw new Error('internal error: malformed SubjectPublicKeyInfo');
  return createHash('sha1').update(key.content.subarray(1)).digest();
}

function toPem(label: string, der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}

function checkDnsName(name: string): string {
  const lower = name.toLowerCase();
  const labels = lower.split('.');
  const ok =
    lower.length > 0 &&
    lower.length <= 253 &&
    labels.every((l, i) => DNS_NAME_LABEL.test(l) && (l !== '*' || i === 0)) &&
    !(labels[0] === '*' && labels.length < 3);
  if (!ok) throw new CertificateOptionsError(`dnsNames: "${name}" is not a valid DNS name`);
  return lower;
}

function checkIp(ip: string): string {
  if (isIP(ip) === 0) throw new CertificateOptionsError(`ipAddresses: "${ip}" is not an IPv4 or IPv6 address`);
  return ip;
}

/** The 4 or 16 network-order bytes of an IP address already checked by `isIP`. */
export function ipBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split('.').map(Number));
  let text = ip.replace(/%.*$/, ''); // zone id
  const tail: number[] = [];
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4?.[1]) {
    tail.push(...v4[1].split('.').map(Number));
    text = `${text.slice(0, -v4[1].length)}0:0`;
  }
  const [head = '', rest] = text.split('::');
  const groups = (s: string) => (s === '' ? [] : s.split(':').map((g) => Number.parseInt(g, 16)));
  const left = groups(head);
  const right = rest === undefined ? [] : groups(rest);
  const middle = new Array<number>(8 - left.length - right.length).fill(0);
  const all = rest === undefined ? left : [...left, ...middle, ...right];
  const out = Buffer.alloc(16);
  for (const [i, g] of all.entries()) out.writeUInt16BE(g, i * 2);
  if (tail.length === 4) Buffer.from(tail).copy(out, 12);
  return out;
}
