/** Public surface of the certificate tools (`tokenguard certs`, dev certificates, tests). */
export { type CertificateFinding, type CheckOptions, type CheckResult, checkCertificates, type FindingLevel } from './check.js';
export { CERTS_USAGE, type CommandIo, runCertsCommand } from './command.js';
export { DEV_NAMESPACE, DEV_SERVICE, type EnsureDevResult, ensureDevCertificates } from './dev.js';
export {
  CERT_FILES,
  type CertificateSet,
  CertificateOptionsError,
  type GenerateOptions,
  generateCertificates,
  KEY_TYPES,
  type KeyType,
  serviceDnsNames,
  toCaBundle,
  type WrittenCertificates,
  writeCertificates,
} from './generate.js';
