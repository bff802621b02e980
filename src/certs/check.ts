/**
 * Health check of a folder of webhook serving certificates (as written by `tokenguard certs
 * generate`, or a Kubernetes TLS Secret copied to disk): expiry, key match, chain, SANs.
 * Findings name files and dates only; no key material ever reaches a message.
 */
import type { X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CERT_FILES } from './generate.js';
import { parseCertificate, privateKeyFor } from './keys.js';
import { subjectAltDnsNames } from './san.js';

export type FindingLevel = 'error' | 'warn' | 'info';

export interface CertificateFinding {
  /** File name inside the checked folder (`tls.crt`, `tls.key`, `ca.crt`, `caBundle`). */
  readonly file: string;
  readonly level: FindingLevel;
  readonly message: string;
}

export interface CheckOptions {
  /** Default: the current time. */
  readonly now?: Date;
  /** Certificates expiring within this many days are reported as `warn`. Default 30. */
  readonly warnDays?: number;
  /** With `namespace`: require the SAN `<service>.<namespace>.svc` the API server dials. */
  readonly service?: string;
  readonly namespace?: string;
}

export interface CheckResult {
  /** True when there is no `error` and no `warn` finding. */
  readonly ok: boolean;
  readonly findings: CertificateFinding[];
  /** Expiry of the serving certificate (`tls.crt`); undefined when it could not be read. */
  readonly notAfter: Date | undefined;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/**
 * Checks `tls.crt` / `tls.key` in `dir`, and the chain against `ca.crt` (or, without it, the
 * decoded `caBundle`) when present. Reports, per file:
 * - error: unreadable or unparsable files, tls.key not matching tls.crt, expired or not yet
 *   valid certificates, a chain that does not verify, no SANs (or not the expected
 *   `<service>.<namespace>.svc`), a CA certificate without CA:true, a certificate not usable
 *   for serverAuth, a `caBundle` that does not hold the CA that issued tls.crt;
 * - warn: a certificate expiring within `warnDays`, a serving certificate with no `*.svc` name;
 * - info: validity summary, world-readable key files, chain not checked (no CA file).
 *
 * @example const { ok, findings } = checkCertificates('certs', { warnDays: 30 });
 */
export function checkCertificates(dir: string, options: CheckOptions = {}): CheckResult {
  const now = options.now ?? new Date();
  const warnDays = options.warnDays ?? 30;
  const findings: CertificateFinding[] = [];
  const add = (file: string, level: FindingLevel, message: string) => findings.push({ file, level, message });

  const tls = readCertificates(dir, CERT_FILES.cert, add, true);
  const leaf = tls?.[0];
  if (leaf) {
    checkValidity(CERT_FILES.cert, 'serving certificate', leaf, now, warnDays, add);
    checkServing(leaf, options, add);
    checkKey(dir, CERT_FILES.key, leaf, add);
  }

  let anchors: X509Certificate[] | undefined;
  let anchorFile: string = CERT_FILES.caCert;
  if (exists(join(dir, CERT_FILES.caCert))) anchors = readCertificates(dir, CERT_FILES.caCert, add, true);
  const bundle = readCaBundle(dir, add);
  if (!anchors && bundle) {
    anchors = bundle;
    anchorFile = CERT_FILES.caBundle;
  }
  if (!anchors) {
    if (leaf) add(CERT_FILES.caCert, 'info', 'no ca.crt or caBundle: the certificate chain was not checked');
  } else if (leaf && tls) {
    const anchor = verifyChain(leaf, tls.slice(1), anchors);
    if (!anchor) {
      add(CERT_FILES.cert, 'error', `does not verify against the CA certificate(s) in ${anchorFile}`);
    } else {
      if (!anchor.ca)
        add(anchorFile, 'error', 'the issuing certificate is not a CA (basicConstraints CA:true missing)');
      checkValidity(anchorFile, 'CA certificate', anchor, now, warnDays, add);
      if (
        bundle &&
        anchorFile !== CERT_FILES.caBundle &&
        !bundle.some((c) => c.fingerprint256 === anchor.fingerprint256)
      ) {
        add(
          CERT_FILES.caBundle,
          'error',
          'does not contain the CA certificate that issued tls.crt; regenerate it from ca.crt',
        );
      }
    }
  }

  for (const keyFile of [CERT_FILES.key, CERT_FILES.caKey]) {
    const mode = fileMode(join(dir, keyFile));
    if (mode !== undefined && process.platform !== 'win32' && (mode & 0o004) !== 0) {
      add(keyFile, 'info', `is readable by every user (mode ${mode.toString(8).padStart(4, '0')}); chmod 600 it`);
    }
  }

  const ok = !findings.some((f) => f.level === 'error' || f.level === 'warn');
  return { ok, findings, notAfter: leaf ? validTo(leaf) : undefined };
}

type Add = (file: string, level: FindingLevel, message: string) => void;

function readCertificates(dir: string, file: string, add: Add, required: boolean): X509Certificate[] | undefined {
  let text: string;
  try {
    text = readFileSync(join(dir, file), 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !required) return undefined;
    add(file, 'error', code === 'ENOENT' ? 'missing' : `cannot read (${code ?? 'unknown error'})`);
    return undefined;
  }
  return parsePemCertificates(text, file, add);
}

function parsePemCertificates(text: string, file: string, add: Add): X509Certificate[] | undefined {
  const blocks = text.match(PEM_CERT) ?? [];
  if (blocks.length === 0) {
    add(file, 'error', 'contains no PEM certificate');
    return undefined;
  }
  const certs: X509Certificate[] = [];
  for (const [i, block] of blocks.entries()) {
    const cert = parseCertificate(block);
    if (cert === undefined) {
      add(file, 'error', `certificate ${i + 1} cannot be parsed`);
      return undefined;
    }
    certs.push(cert);
  }
  return certs;
}

/** Reads the private key in `file` and reports when it is unreadable or not the key of `leaf`. */
function checkKey(dir: string, file: string, leaf: X509Certificate, add: Add): void {
  let pem: Buffer;
  try {
    pem = readFileSync(join(dir, file));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    add(file, 'error', code === 'ENOENT' ? 'missing' : `cannot read (${code ?? 'unknown error'})`);
    return;
  }
  try {
    const key = privateKeyFor(leaf, pem);
    if (key === 'unreadable') add(file, 'error', 'is not a readable unencrypted PEM private key');
    else if (key === 'mismatch') add(file, 'error', 'private key does not match the certificate in tls.crt');
  } finally {
    pem.fill(0);
  }
}

function readCaBundle(dir: string, add: Add): X509Certificate[] | undefined {
  let text: string;
  try {
    text = readFileSync(join(dir, CERT_FILES.caBundle), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    add(CERT_FILES.caBundle, 'error', `cannot read (${(e as NodeJS.ErrnoException).code ?? 'unknown error'})`);
    return undefined;
  }
  const value = text.trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(value)) {
    add(CERT_FILES.caBundle, 'error', 'is not a single line of base64');
    return undefined;
  }
  return parsePemCertificates(Buffer.from(value, 'base64').toString('utf8'), CERT_FILES.caBundle, add);
}

/** Walks leaf → intermediates → one of `anchors`; returns the anchor reached, if any. */
function verifyChain(
  leaf: X509Certificate,
  intermediates: readonly X509Certificate[],
  anchors: readonly X509Certificate[],
): X509Certificate | undefined {
  const issues = (child: X509Certificate, parent: X509Certificate) =>
    child.checkIssued(parent) && child.verify(parent.publicKey);
  let current = leaf;
  for (let depth = 0; depth <= intermediates.length; depth++) {
    const anchor = anchors.find((a) => issues(current, a));
    if (anchor) return anchor;
    const next = intermediates.find((c) => c !== current && c.ca && issues(current, c));
    if (!next) return undefined;
    current = next;
  }
  return undefined;
}

function checkValidity(file: string, what: string, cert: X509Certificate, now: Date, warnDays: number, add: Add): void {
  const notBefore = validFrom(cert);
  const notAfter = validTo(cert);
  const daysLeft = Math.ceil((notAfter.getTime() - now.getTime()) / DAY_MS);
  if (notAfter.getTime() <= now.getTime()) {
    const daysAgo = Math.floor((now.getTime() - notAfter.getTime()) / DAY_MS);
    add(file, 'error', `${what} expired on ${notAfter.toISOString()} (${daysAgo} days ago)`);
  } else if (notBefore.getTime() > now.getTime()) {
    add(file, 'error', `${what} is not valid before ${notBefore.toISOString()}`);
  } else if (notAfter.getTime() - now.getTime() <= warnDays * DAY_MS) {
    add(file, 'warn', `${what} expires on ${notAfter.toISOString()}, in ${daysLeft} days (warning at ${warnDays})`);
  } else {
    add(file, 'info', `${what} valid until ${notAfter.toISOString()} (${daysLeft} days left)`);
  }
}

function checkServing(leaf: X509Certificate, options: CheckOptions, add: Add): void {
  const file = CERT_FILES.cert;
  if (leaf.ca) add(file, 'error', 'serving certificate is a CA certificate (basicConstraints CA:true)');
  const eku = extendedKeyUsage(leaf);
  if (eku && !eku.includes(SERVER_AUTH)) {
    add(file, 'error', 'extendedKeyUsage does not include serverAuth; TLS clients will reject it');
  }
  const san = leaf.subjectAltName;
  if (!san) {
    add(file, 'error', 'has no subjectAltName; the API server requires a DNS SAN <service>.<namespace>.svc');
    return;
  }
  const dnsNames = subjectAltDnsNames(san);
  if (options.service && options.namespace) {
    const expected = `${options.service}.${options.namespace}.svc`;
    if (leaf.checkHost(expected, { subject: 'never' }) === undefined) {
      add(file, 'error', `subjectAltName does not cover ${expected}, the name the API server dials`);
    }
  } else if (!dnsNames.some((n) => n.endsWith('.svc'))) {
    add(file, 'warn', 'subjectAltName has no <service>.<namespace>.svc name; the API server dials that name');
  }
}

function extendedKeyUsage(cert: X509Certificate): string[] | undefined {
  // Node >= 22.? names it extKeyUsage; keyUsage (the EKU OIDs, despite its name) is older.
  const c = cert as X509Certificate & { extKeyUsage?: string[] };
  return c.extKeyUsage ?? c.keyUsage;
}

function validTo(cert: X509Certificate): Date {
  const c = cert as X509Certificate & { validToDate?: Date };
  return c.validToDate ?? new Date(cert.validTo);
}

function validFrom(cert: X509Certificate): Date {
  const c = cert as X509Certificate & { validFromDate?: Date };
  return c.validFromDate ?? new Date(cert.validFrom);
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

function fileMode(path: string): number | undefined {
  try {
    return statSync(path).mode & 0o777;
  } catch {
    return undefined;
  }
}
