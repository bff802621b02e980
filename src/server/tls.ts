/**
 * The serving certificate: loading, validation and hot reload.
 *
 * cert-manager (or `tokenguard certs`) renews the certificate in a Secret; the kubelet swaps the
 * mounted files through a `..data` symlink. We watch the folder (plus a poll), read both files,
 * check that they parse and that the key belongs to the certificate, and only then call
 * `server.setSecureContext()`: new connections get the new certificate, established ones keep
 * theirs, and a bad pair (half-written, mismatched) keeps the old context and is logged.
 * Node's `setSecureContext` is nodejs/node#4464 / #15115; a runtime can accept it and keep serving
 * the old certificate (docs/reliability.md "Certificate reload"), so the test checks that the *served*
 * certificate changes, which test/http/reload.test.ts does.
 */
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import type { Server } from 'node:https';
import type { SecureContextOptions } from 'node:tls';
import { NOT_A_CERTIFICATE, NOT_A_PRIVATE_KEY, parseCertificate, privateKeyFor } from '../certs/keys.js';
import type { Logger } from '../log.js';
import type { Metrics } from './metrics.js';
import { contentFingerprint, dirsToWatch, safeFingerprint, type Watch, watchForChanges } from './watch.js';

/** TLS versions below this are refused (SIG Security threat model, mitigation 4). */
export const MIN_TLS_VERSION = 'TLSv1.2';

/**
 * The cipher suites offered: TLS 1.3's three, and for TLS 1.2 only ECDHE with an AEAD (AES-GCM,
 * ChaCha20-Poly1305), for ECDSA and RSA keys alike. Node's default list also offers CBC suites
 * (`ECDHE-RSA-AES128-SHA256` and more through `HIGH`). Every Kubernetes component is a Go
 * client, which offers these AEAD suites first and speaks TLS 1.3 (docs/reliability.md).
 */
export const CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/** A validated certificate and key, ready for a secure context. */
export interface ServingCert {
  readonly cert: string;
  readonly key: string;
  /** PEM bundle of CAs client certificates must chain to, when client authentication is on. */
  readonly clientCa: string | undefined;
  readonly serialNumber: string;
  readonly subject: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly fingerprint256: string;
}

/** The certificate files: `tls.crt` may hold the chain (leaf first). */
export interface CertFiles {
  readonly certFile: string;
  readonly keyFile: string;
  readonly clientCaFile?: string | undefined;
}

/** A certificate or key that cannot be used; the message names the file, never quotes key material. */
export class CertificateError extends Error {
  override readonly name = 'CertificateError';
}

/**
 * Reads and validates the serving certificate and key (and the client CA, if any).
 *
 * @throws CertificateError when a file is missing, does not parse, or the key does not match.
 */
export function loadServingCert(files: CertFiles): ServingCert {
  const cert = readText(files.certFile, 'certificate');
  const key = readText(files.keyFile, 'private key');
  const x509 = parseCertificate(cert);
  if (x509 === undefined) throw new CertificateError(`${files.certFile}: ${NOT_A_CERTIFICATE}`);
  const privateKey = privateKeyFor(x509, key);
  if (privateKey === 'unreadable') throw new CertificateError(`${files.keyFile}: ${NOT_A_PRIVATE_KEY}`);
  if (privateKey === 'mismatch') {
    throw new CertificateError(
      `${files.keyFile}: the private key does not belong to the certificate in ${files.certFile}`,
    );
  }
  let clientCa: string | undefined;
  if (files.clientCaFile !== undefined) {
    clientCa = readText(files.clientCaFile, 'client CA bundle');
    const first = parseCertificate(clientCa);
    if (first === undefined) throw new CertificateError(`${files.clientCaFile}: ${NOT_A_CERTIFICATE}`);
    if (!first.ca)
      throw new CertificateError(`${files.clientCaFile}: the first certificate is not a CA (basicConstraints CA:true)`);
  }
  return {
    cert,
    key,
    clientCa,
    serialNumber: x509.serialNumber,
    subject: x509.subject.replace(/\n/g, ', '),
    notBefore: new Date(x509.validFrom),
    notAfter: new Date(x509.validTo),
    fingerprint256: x509.fingerprint256,
  };
}

function readText(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new CertificateError(
      `${file}: cannot read the ${what}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
}

/** The secure context options for a certificate: TLS 1.2 or newer, {@link CIPHERS} only, in our order. */
export function secureContextOptions(c: ServingCert): SecureContextOptions {
  return {
    cert: c.cert,
    key: c.key,
    minVersion: MIN_TLS_VERSION,
    ciphers: CIPHERS,
    honorCipherOrder: true,
    ...(c.clientCa !== undefined ? { ca: c.clientCa } : {}),
  };
}

/** The longest delay `setTimeout` takes (a longer one fires at once). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** What a certificate reload attempt did; emitted as the `reload` event. */
export interface CertReloadEvent {
  readonly result: 'success' | 'failure';
  /** Serial number in use after the attempt. */
  readonly serialNumber: string;
  readonly error?: string;
}

export interface CertWatcher {
  /** The certificate in use. */
  current(): ServingCert;
  /** Reads the files again now and applies them if valid. */
  reload(): CertReloadEvent;
  close(): void;
  readonly events: EventEmitter<{ reload: [CertReloadEvent] }>;
}

export interface WatchCertOptions {
  readonly files: CertFiles;
  /** The certificate the server was started with. */
  readonly initial: ServingCert;
  /** The fingerprint of the files taken before `initial` was loaded. */
  readonly baseline?: string;
  readonly server: Pick<Server, 'setSecureContext'>;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Default 2000 ms. */
  readonly pollIntervalMs?: number;
}

/** The files of a certificate set, for fingerprints and watches. */
export function certPaths(files: CertFiles): string[] {
  return [files.certFile, files.keyFile, ...(files.clientCaFile !== undefined ? [files.clientCaFile] : [])];
}

/** Fingerprint of the certificate files' content. */
export function certFingerprint(files: CertFiles): string {
  return safeFingerprint(() => contentFingerprint(certPaths(files)));
}

/**
 * Watches the certificate files and swaps the server's secure context when they change to a
 * valid pair; an invalid pair is logged and counted, and the certificate in use stays (one that
 * is only not valid yet is read again once it is).
 */
export function watchServingCert(options: WatchCertOptions): CertWatcher {
  const { files, server, logger, metrics } = options;
  let current = options.initial;
  const events = new EventEmitter<{ reload: [CertReloadEvent] }>();
  metrics.setCertificateExpiry(current.notAfter);

  // A refused certificate that is not valid yet is tried again when it becomes valid: the files
  // may not change again before the one in use expires.
  let retry: NodeJS.Timeout | undefined;

  const reload = (): CertReloadEvent => {
    clearTimeout(retry);
    retry = undefined;
    let event: CertReloadEvent;
    try {
      const next = loadServingCert(files);
      // A rotation to a certificate that is not valid now (expired, or not yet valid: a clock
      // or issuer mistake) would break every call; keep the one in use, unless it is no better.
      const now = Date.now();
      const usable = (c: ServingCert) => c.notBefore.getTime() <= now && now < c.notAfter.getTime();
      if (!usable(next) && usable(current)) {
        const wait = next.notBefore.getTime() - now;
        if (wait > 0) retry = setTimeout(reload, Math.min(wait + 1000, MAX_TIMER_MS)).unref();
        throw new CertificateError(
          `the new certificate is not valid now (valid ${next.notBefore.toISOString()} to ${next.notAfter.toISOString()}); keeping the one in use`,
        );
      }
      server.setSecureContext(secureContextOptions(next));
      const previous = current.serialNumber;
      current = next;
      metrics.observeCertificateReload('success');
      metrics.setCertificateExpiry(next.notAfter);
      logger.info(
        {
          event: 'certificate-reload',
          result: 'success',
          serialNumber: next.serialNumber,
          previousSerialNumber: previous,
          notAfter: next.notAfter.toISOString(),
        },
        'serving certificate reloaded',
      );
      event = { result: 'success', serialNumber: next.serialNumber };
    } catch (e) {
      const error =
        e instanceof CertificateError ? e.message : `cannot use the new certificate: ${(e as Error).message}`;
      metrics.observeCertificateReload('failure');
      logger.error(
        { event: 'certificate-reload', result: 'failure', error, serialNumber: current.serialNumber },
        'certificate files are invalid; keeping the certificate in use',
      );
      event = { result: 'failure', serialNumber: current.serialNumber, error };
    }
    events.emit('reload', event);
    return event;
  };

  const watch: Watch = watchForChanges({
    dirs: dirsToWatch(certPaths(files)),
    fingerprint: () => contentFingerprint(certPaths(files)),
    onChange: () => {
      reload();
    },
    ...(options.baseline !== undefined ? { baseline: options.baseline } : {}),
    ...(options.pollIntervalMs !== undefined ? { pollIntervalMs: options.pollIntervalMs } : {}),
  });

  const close = () => {
    clearTimeout(retry);
    watch.close();
  };
  return { current: () => current, reload, close, events };
}
