/**
 * Local development certificates: `npm start` serves HTTPS on loopback with certificates that
 * are created on first use and renewed when they are about to expire.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { checkCertificates } from './check.js';
import { CERT_FILES, generateCertificates, type WrittenCertificates, writeCertificates } from './generate.js';

/** The Service the development certificates are issued for, as in deploy/base. */
const DEV_SERVICE = 'tokenguard';
const DEV_NAMESPACE = 'tokenguard-system';
/** Certificates expiring within this many days are replaced. */
const DEV_RENEW_DAYS = 7;

export interface EnsureDevOptions {
  /** Default: the current time. */
  readonly now?: Date;
}

export interface EnsureDevResult {
  /** True when new certificates were written. */
  readonly generated: boolean;
  /** Why they were (or were not) generated, for one line of output. */
  readonly reason: string;
  readonly caCert: string;
  readonly cert: string;
  readonly key: string;
}

/**
 * Makes sure `dir` holds a usable serving certificate for local development. Generates a new
 * CA and serving certificate (service `tokenguard`, namespace `tokenguard-system`, plus
 * `localhost` and `127.0.0.1`, valid 365 days) when `tls.crt` or `tls.key` is missing, cannot
 * be read, does not match, or expires within {@link DEV_RENEW_DAYS} days. Otherwise leaves the
 * folder alone, so certificates a developer put there themselves are kept.
 */
export async function ensureDevCertificates(dir: string, options: EnsureDevOptions = {}): Promise<EnsureDevResult> {
  const now = options.now ?? new Date();
  const paths = {
    caCert: join(dir, CERT_FILES.caCert),
    cert: join(dir, CERT_FILES.cert),
    key: join(dir, CERT_FILES.key),
  };
  const reason = renewalReason(dir, now);
  if (reason === undefined) return { generated: false, reason: 'existing certificates are valid', ...paths };
  const certs = await generateCertificates({
    service: DEV_SERVICE,
    namespace: DEV_NAMESPACE,
    now,
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1'],
  });
  const written: WrittenCertificates = await writeCertificates(dir, certs);
  return { generated: true, reason, caCert: written.caCert, cert: written.cert, key: written.key };
}

function renewalReason(dir: string, now: Date): string | undefined {
  if (!existsSync(join(dir, CERT_FILES.cert)) || !existsSync(join(dir, CERT_FILES.key))) {
    return 'no tls.crt / tls.key yet';
  }
  const result = checkCertificates(dir, { now, warnDays: DEV_RENEW_DAYS });
  const tlsProblem = result.findings.find(
    (f) =>
      (f.file === CERT_FILES.cert || f.file === CERT_FILES.key) &&
      (f.level === 'error' || f.level === 'warn') &&
      // SAN findings are no reason: a developer may have put certificates for other names there.
      !/subjectAltName/.test(f.message),
  );
  return tlsProblem ? `${tlsProblem.file} ${tlsProblem.message}` : undefined;
}
