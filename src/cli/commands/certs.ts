/**
 * `tokenguard certs ...`: generate, check and (for `npm start`) provision serving certificates.
 * The main CLI passes the arguments after `certs`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type CertificateFinding, checkCertificates } from '../../certs/check.js';
import { ensureDevCertificates } from '../../certs/dev.js';
import {
  CERT_FILES,
  CertificateOptionsError,
  generateCertificates,
  KEY_TYPES,
  type KeyType,
  serviceDnsNames,
  writeCertificates,
} from '../../certs/generate.js';
import { type CommandSpec, flagsWithHelp } from '../command.js';

/** Where a command writes; `process.stdout` / `process.stderr` in the CLI, buffers in tests. */
export interface CommandIo {
  readonly stdout: { write(chunk: string): unknown };
  readonly stderr: { write(chunk: string): unknown };
}

/** Exit codes: 0 success / certificates fine, 1 check found a problem, 2 usage or I/O error. */
const EXIT = { ok: 0, problem: 1, usage: 2 } as const;

const CERTS_USAGE = `Usage:
  tokenguard certs generate --service NAME --namespace NS -o|--out DIR [--days N] [--ca-days N]
                            [--key-type ecdsa-p256|rsa-2048] [--dns NAME ...] [--ip ADDR ...]
                            [--renew | --force]
      Create a CA and a serving certificate for NAME.NS.svc (and NAME, NAME.NS,
      NAME.NS.svc.cluster.local). Writes ca.crt, ca.key, tls.crt, tls.key (keys mode 0600) and
      caBundle (base64 of ca.crt) to DIR, prints the caBundle value on stdout.
      The serving certificate lasts --days (default 365), the CA --ca-days (default 3650).
      --renew: sign a new serving certificate with the CA already in DIR (caBundle unchanged).
      --force: replace everything in DIR, the CA too (the caBundle changes).
      Without either, refuses to overwrite existing files.
  tokenguard certs check DIR [--warn-days N] [--service NAME --namespace NS]
      Check tls.crt / tls.key (and ca.crt or caBundle) in DIR: expiry, key match, chain, SANs.
      Exit 0 when fine, 1 when expired, expiring within N days (default 30) or invalid.
  tokenguard certs dev [DIR]
      Create development certificates in DIR (default ./certs) for tokenguard.tokenguard-system.svc,
      localhost and 127.0.0.1, unless valid ones are already there.
`;

class UsageError extends Error {}

/**
 * Runs `tokenguard certs <generate|check|dev> ...` and returns the exit code.
 *
 * @param argv the arguments after `certs`, e.g. `['check', 'certs/', '--warn-days', '14']`
 * @example process.exitCode = await runCertsCommand(process.argv.slice(3), process);
 */
export async function runCertsCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  const [sub, ...rest] = argv;
  try {
    switch (sub) {
      case 'generate':
        return await runGenerate(rest, io);
      case 'check':
        return runCheck(rest, io);
      case 'dev':
        return await runDev(rest, io);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        (sub === undefined ? io.stderr : io.stdout).write(CERTS_USAGE);
        return sub === undefined ? EXIT.usage : EXIT.ok;
      default:
        throw new UsageError(`unknown certs subcommand "${sub}"`);
    }
  } catch (e) {
    if (e instanceof UsageError || e instanceof CertificateOptionsError || isParseArgsError(e)) {
      io.stderr.write(`tokenguard certs: ${(e as Error).message}\n\n${CERTS_USAGE}`);
      return EXIT.usage;
    }
    const err = e as NodeJS.ErrnoException;
    io.stderr.write(`tokenguard certs: ${err.code ? `${err.code}: ` : ''}${err.message}\n`);
    return EXIT.usage;
  }
}

const GENERATE: CommandSpec = {
  name: 'certs generate',
  summary: 'create a CA and a serving certificate',
  usage: CERTS_USAGE,
  flags: {
    service: { type: 'string' },
    namespace: { type: 'string' },
    out: { type: 'string', short: 'o' },
    days: { type: 'string' },
    'ca-days': { type: 'string' },
    'key-type': { type: 'string' },
    dns: { type: 'string', multiple: true },
    ip: { type: 'string', multiple: true },
    force: { type: 'boolean', default: false },
    renew: { type: 'boolean', default: false },
  },
  choices: { 'key-type': KEY_TYPES },
};

const CHECK: CommandSpec = {
  name: 'certs check',
  summary: 'check the certificates in a folder',
  usage: CERTS_USAGE,
  flags: { 'warn-days': { type: 'string' }, service: { type: 'string' }, namespace: { type: 'string' } },
};

const DEV: CommandSpec = {
  name: 'certs dev',
  summary: 'create development certificates',
  usage: CERTS_USAGE,
  flags: {},
};

/** `tokenguard certs generate|check|dev`: their flags. */
export const CERTS_COMMAND: CommandSpec = {
  name: 'certs',
  usage: CERTS_USAGE,
  flags: {},
  subcommands: [GENERATE, CHECK, DEV],
};

/**
 * Parses a subcommand's arguments (a parse error throws, and is reported with the usage); true
 * in `help` when `--help`/`-h` was given.
 */
function parseSub<V>(
  spec: CommandSpec,
  args: readonly string[],
): { values: V & { help?: boolean }; positionals: string[] } {
  return parseArgs({ args: [...args], allowPositionals: true, strict: true, options: flagsWithHelp(spec) }) as {
    values: V & { help?: boolean };
    positionals: string[];
  };
}

async function runGenerate(args: readonly string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseSub<{
    service?: string;
    namespace?: string;
    out?: string;
    days?: string;
    'ca-days'?: string;
    'key-type'?: string;
    dns?: string[];
    ip?: string[];
    force?: boolean;
    renew?: boolean;
  }>(GENERATE, args);
  if (values.help) return help(io);
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const service = required(values.service, '--service');
  const namespace = required(values.namespace, '--namespace');
  const out = required(values.out, '--out');
  const keyType = values['key-type'] ?? 'ecdsa-p256';
  if (!(KEY_TYPES as readonly string[]).includes(keyType)) {
    throw new UsageError(`--key-type must be one of ${KEY_TYPES.join(', ')}`);
  }
  const days = values.days === undefined ? 365 : integer(values.days, '--days');
  const caDays = values['ca-days'] === undefined ? undefined : integer(values['ca-days'], '--ca-days');
  if (values.renew && values.force) throw new UsageError('--renew and --force exclude each other');
  if (values.renew && caDays !== undefined)
    throw new UsageError('--ca-days does not apply to --renew (the CA is kept)');
  let ca: { cert: string; key: string } | undefined;
  if (values.renew) {
    const missing = [CERT_FILES.caCert, CERT_FILES.caKey].filter((f) => !existsSync(join(out, f)));
    if (missing.length > 0)
      throw new UsageError(`--renew needs the CA in ${out}, but ${missing.join(' and ')} is missing`);
    ca = {
      cert: readFileSync(join(out, CERT_FILES.caCert), 'utf8'),
      key: readFileSync(join(out, CERT_FILES.caKey), 'utf8'),
    };
  } else {
    const existing = Object.values(CERT_FILES).filter((f) => existsSync(join(out, f)));
    if (existing.length > 0 && !values.force) {
      throw new UsageError(
        `${out} already holds ${existing.join(', ')}; pass --renew to keep the CA and renew the serving certificate, or --force to replace everything (a new CA too)`,
      );
    }
  }
  const certs = await generateCertificates({
    service,
    namespace,
    days,
    ...(caDays !== undefined ? { caDays } : {}),
    ...(ca ? { ca } : {}),
    keyType: keyType as KeyType,
    dnsNames: values.dns ?? [],
    ipAddresses: values.ip ?? [],
  });
  const written = await writeCertificates(out, certs);
  const names = [...serviceDnsNames(service, namespace), ...(values.dns ?? []), ...(values.ip ?? [])];
  const result = checkCertificates(out, { service, namespace });
  io.stdout.write(`${written.caBundleValue}\n`);
  io.stderr.write(
    `wrote ${written.caCert}, ${written.caKey} (0600), ${written.cert}, ${written.key} (0600), ${written.caBundle}\n` +
      `serving certificate (${keyType}) for ${names.join(', ')}\n` +
      `valid until ${result.notAfter?.toISOString() ?? 'unknown'}${ca ? ', signed by the existing CA (caBundle unchanged)' : ''}; ` +
      `check it with: tokenguard certs check ${out}\n`,
  );
  return EXIT.ok;
}

function runCheck(args: readonly string[], io: CommandIo): number {
  const { values, positionals } = parseSub<{ 'warn-days'?: string; service?: string; namespace?: string }>(CHECK, args);
  if (values.help) return help(io);
  const [dir, extra] = positionals;
  if (dir === undefined) throw new UsageError('certs check needs a DIR');
  if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}"`);
  if ((values.service === undefined) !== (values.namespace === undefined)) {
    throw new UsageError('--service and --namespace go together');
  }
  const warnDays = values['warn-days'] === undefined ? 30 : integer(values['warn-days'], '--warn-days', 0);
  const result = checkCertificates(dir, {
    warnDays,
    ...(values.service !== undefined ? { service: values.service } : {}),
    ...(values.namespace !== undefined ? { namespace: values.namespace } : {}),
  });
  for (const f of result.findings) io.stdout.write(formatFinding(f));
  io.stdout.write(result.ok ? `ok: ${dir}\n` : `not ok: ${dir}\n`);
  return result.ok ? EXIT.ok : EXIT.problem;
}

async function runDev(args: readonly string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseSub<object>(DEV, args);
  if (values.help) return help(io);
  if (positionals.length > 1) throw new UsageError(`unexpected argument "${positionals[1]}"`);
  const dir = positionals[0] ?? 'certs';
  const result = await ensureDevCertificates(dir);
  io.stderr.write(
    result.generated
      ? `generated development certificates in ${dir} (${result.reason})\n`
      : `using development certificates in ${dir} (${result.reason})\n`,
  );
  return EXIT.ok;
}

function help(io: CommandIo): number {
  io.stdout.write(CERTS_USAGE);
  return EXIT.ok;
}

/** One line per finding: `error tls.crt: message`. */
function formatFinding(f: CertificateFinding): string {
  return `${f.level.padEnd(5)} ${f.file}: ${f.message}\n`;
}

function required(value: string | undefined, flag: string): string {
  if (value === undefined || value === '') throw new UsageError(`${flag} is required`);
  return value;
}

function integer(text: string, flag: string, min = 1): number {
  if (!/^\d+$/.test(text) || Number(text) < min)
    throw new UsageError(`${flag} must be an integer >= ${min}, got "${text}"`);
  return Number(text);
}

function isParseArgsError(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_');
}
