/**
 * Parsing PEM certificates and private keys, and checking that a key belongs to a certificate:
 * shared by the server's certificate loader (src/server/tls.ts), `tokenguard certs check` and
 * `tokenguard certs generate --ca-*`. Each caller words its own errors (they name its files or
 * options); what they share is that a parser's message is never passed on, since it could quote
 * key material.
 */
import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';

/** The wording for text that {@link parseCertificate} rejects. */
export const NOT_A_CERTIFICATE = 'not a PEM certificate';

/** The wording for text that {@link parsePrivateKey} rejects. */
export const NOT_A_PRIVATE_KEY = 'not an unencrypted PEM private key';

/** The first certificate in `pem`, or undefined when it does not parse. */
export function parseCertificate(pem: string | Buffer): X509Certificate | undefined {
  try {
    return new X509Certificate(pem);
  } catch {
    return undefined;
  }
}

/**
 * The private key in `pem`, or undefined when it does not parse (or is encrypted). The parser's
 * error is dropped on purpose: it could quote part of the key.
 */
export function parsePrivateKey(pem: string | Buffer): KeyObject | undefined {
  try {
    return createPrivateKey(pem);
  } catch {
    return undefined;
  }
}

/**
 * The private key in `pem` if it belongs to `cert`; `'unreadable'` when it does not parse,
 * `'mismatch'` when it is the key of another certificate. A caller with checks of its own can
 * report `'unreadable'` before them and `'mismatch'` after them.
 *
 * @example const key = privateKeyFor(cert, pem); if (key === 'unreadable') ...; if (key === 'mismatch') ...
 */
export function privateKeyFor(cert: X509Certificate, pem: string | Buffer): KeyObject | 'unreadable' | 'mismatch' {
  const key = parsePrivateKey(pem);
  if (key === undefined) return 'unreadable';
  return cert.checkPrivateKey(key) ? key : 'mismatch';
}
