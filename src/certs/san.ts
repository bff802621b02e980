/**
 * The DNS names of a certificate's subjectAltName as Node renders it
 * (`X509Certificate.subjectAltName`, `getPeerCertificate().subjectaltname`:
 * `DNS:a, DNS:b, IP Address:127.0.0.1`; a comma inside a value is escaped, so splitting is safe).
 */
export function subjectAltDnsNames(subjectAltName: string | undefined): string[] {
  if (!subjectAltName) return [];
  return subjectAltName
    .split(', ')
    .filter((e) => e.startsWith('DNS:'))
    .map((e) => e.slice(4));
}
