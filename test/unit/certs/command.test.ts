import { createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCertsCommand } from '../../../src/cli/commands/certs.js';
import { ensureDevCertificates } from '../../../src/certs/dev.js';
import { generateCertificates, writeCertificates } from '../../../src/certs/generate.js';
import { assertNoKeyMaterial, captureIo, DAY_MS, tempDir } from './helpers.js';

const tmp = tempDir('cmd');
afterAll(() => tmp.cleanup());
let n = 0;
const newDir = () => join(tmp.dir, String(n++));

async function run(argv: string[]) {
  const io = captureIo();
  const code = await runCertsCommand(argv, io);
  return { code, out: io.out(), err: io.err() };
}

describe('tokenguard certs generate', () => {
  it('writes the files, prints the caBundle on stdout and a summary on stderr', async () => {
    const out = newDir();
    const r = await run(['generate', '--service', 'tokenguard', '--namespace', 'tokenguard-system', '--out', out]);
    expect(r.code).toBe(0);
    const caBundle = readFileSync(join(out, 'caBundle'), 'utf8');
    expect(r.out).toBe(`${caBundle}\n`);
    expect(Buffer.from(caBundle, 'base64').toString()).toBe(readFileSync(join(out, 'ca.crt'), 'utf8'));
    expect(r.err).toContain('tokenguard.tokenguard-system.svc');
    expect(r.err).toContain('ecdsa-p256');
    expect(r.err).toMatch(/valid until \d{4}-/);
    expect(statSync(join(out, 'tls.key')).mode & 0o777).toBe(0o600);
    expect(statSync(join(out, 'ca.key')).mode & 0o777).toBe(0o600);
    assertNoKeyMaterial(r.out + r.err, [
      readFileSync(join(out, 'tls.key'), 'utf8'),
      readFileSync(join(out, 'ca.key'), 'utf8'),
    ]);
  });

  it('honours --days, --key-type, and repeated --dns / --ip', async () => {
    const out = newDir();
    const r = await run([
      'generate',
      '--service',
      'hook',
      '--namespace',
      'ns',
      '--out',
      out,
      '--days',
      '30',
      '--key-type',
      'rsa-2048',
      '--dns',
      'localhost',
      '--dns',
      'hook.example.com',
      '--ip',
      '127.0.0.1',
      '--ip',
      '::1',
    ]);
    expect(r.code).toBe(0);
    const leaf = new X509Certificate(readFileSync(join(out, 'tls.crt')));
    expect(leaf.publicKey.asymmetricKeyType).toBe('rsa');
    expect(leaf.subjectAltName).toBe(
      'DNS:hook, DNS:hook.ns, DNS:hook.ns.svc, DNS:hook.ns.svc.cluster.local, DNS:localhost, DNS:hook.example.com, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1',
    );
    const days = (new Date(leaf.validTo).getTime() - Date.now()) / DAY_MS;
    expect(days).toBeGreaterThan(29.9);
    expect(days).toBeLessThanOrEqual(30);
  });

  it('refuses to overwrite existing certificates unless --force is given', async () => {
    const out = newDir();
    const args = ['generate', '--service', 'tokenguard', '--namespace', 'tokenguard-system', '--out', out];
    expect((await run(args)).code).toBe(0);
    const before = readFileSync(join(out, 'ca.crt'), 'utf8');
    const again = await run(args);
    expect(again.code).toBe(2);
    expect(again.err).toMatch(/already holds .*ca\.crt.*--renew.*--force/);
    expect(readFileSync(join(out, 'ca.crt'), 'utf8')).toBe(before);
    const forced = await run([...args, '--force']);
    expect(forced.code).toBe(0);
    expect(readFileSync(join(out, 'ca.crt'), 'utf8')).not.toBe(before);
  });

  it('renews the serving certificate with the existing CA, keeping the caBundle', async () => {
    const out = newDir();
    const args = ['generate', '--service', 'tokenguard', '--namespace', 'tokenguard-system', '--out', out];
    const first = await run([...args, '--days', '30']);
    const caCert = readFileSync(join(out, 'ca.crt'), 'utf8');
    const caKey = readFileSync(join(out, 'ca.key'), 'utf8');
    const cert = readFileSync(join(out, 'tls.crt'), 'utf8');
    const renewed = await run([...args, '--renew', '--days', '60']);
    expect(renewed.code).toBe(0);
    expect(renewed.out).toBe(first.out); // same caBundle
    expect(renewed.err).toContain('signed by the existing CA (caBundle unchanged)');
    expect(readFileSync(join(out, 'ca.crt'), 'utf8')).toBe(caCert);
    expect(readFileSync(join(out, 'ca.key'), 'utf8')).toBe(caKey);
    expect(statSync(join(out, 'ca.key')).mode & 0o777).toBe(0o600);
    const leaf = new X509Certificate(readFileSync(join(out, 'tls.crt')));
    expect(leaf.toString()).not.toBe(new X509Certificate(cert).toString());
    expect(leaf.verify(new X509Certificate(caCert).publicKey)).toBe(true);
    expect((await run(['check', out])).code).toBe(0);
  });

  it('refuses --renew without a CA, and with --force or --ca-days', async () => {
    const out = newDir();
    const args = ['generate', '--service', 'tokenguard', '--namespace', 'tokenguard-system', '--out', out];
    const r = await run([...args, '--renew']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--renew needs the CA in .*ca\.crt and ca\.key is missing/);
    expect((await run([...args, '--renew', '--force'])).err).toMatch(/exclude each other/);
    expect((await run([...args, '--renew', '--ca-days', '100'])).err).toMatch(/--ca-days does not apply/);
  });

  it.each([
    [['generate', '--namespace', 'ns', '--out', 'x'], /--service is required/],
    [['generate', '--service', 's', '--out', 'x'], /--namespace is required/],
    [['generate', '--service', 's', '--namespace', 'ns'], /--out is required/],
    [['generate', '--service', 's', '--namespace', 'ns', '--out', 'x', '--days', 'ten'], /--days must be an integer/],
    [['generate', '--service', 's', '--namespace', 'ns', '--out', 'x', '--days', '0'], /--days must be an integer/],
    [
      ['generate', '--service', 's', '--namespace', 'ns', '--out', 'x', '--days', '99999'],
      /days: must be an integer from 1 to 3650/,
    ],
    [
      ['generate', '--service', 's', '--namespace', 'ns', '--out', 'x', '--key-type', 'dsa'],
      /--key-type must be one of/,
    ],
    [
      ['generate', '--service', 's', '--namespace', 'ns', '--out', 'x', '--days', '400', '--ca-days', '300'],
      /caDays: must be an integer from days/,
    ],
    [['generate', '--service', 'Bad_Name', '--namespace', 'ns', '--out', 'x'], /not a valid Service name/],
    [['generate', '--service', 's', '--namespace', 'ns', '--out', 'x', '--ip', 'localhost'], /not an IPv4 or IPv6/],
    [['generate', '--service', 's', '--namespace', 'ns', '--out', 'x', '--bogus'], /Unknown option '--bogus'/],
    [['generate', 'extra', '--service', 's', '--namespace', 'ns', '--out', 'x'], /unexpected argument "extra"/],
    [['frobnicate'], /unknown certs subcommand "frobnicate"/],
    [[], /Usage:/],
  ])('exits 2 with a usage error for %j', async (argv, message) => {
    const dir = newDir();
    const r = await run(argv.map((a) => (a === 'x' ? dir : a)));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
    expect(r.out).toBe('');
    expect(existsSync(dir)).toBe(false);
  });

  it('prints usage on stdout for --help', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('tokenguard certs generate');
    expect(r.out).toContain('tokenguard certs check');
  });
});

describe('tokenguard certs check', () => {
  let fresh: string;
  let expiring: string;

  beforeAll(async () => {
    fresh = newDir();
    expiring = newDir();
    await writeCertificates(
      fresh,
      await generateCertificates({ service: 'tokenguard', namespace: 'tokenguard-system' }),
    );
    await writeCertificates(
      expiring,
      await generateCertificates({ service: 'tokenguard', namespace: 'tokenguard-system', days: 10 }),
    );
  });

  it('exits 0 for valid certificates', async () => {
    const r = await run(['check', fresh]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^info {2}tls\.crt: serving certificate valid until/m);
    expect(r.out).toMatch(/ok: .*\n$/);
  });

  it('exits 1 for certificates expiring within --warn-days (default 30), 0 with a shorter window', async () => {
    const r = await run(['check', expiring]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^warn {2}tls\.crt: serving certificate expires on .* in 10 days \(warning at 30\)$/m);
    expect(r.out).toMatch(/not ok: /);
    expect((await run(['check', expiring, '--warn-days', '5'])).code).toBe(0);
    expect((await run(['check', fresh, '--warn-days', '400'])).code).toBe(1);
  });

  it('exits 1 for a mismatched key and never prints the keys', async () => {
    const dir = newDir();
    await writeCertificates(dir, await generateCertificates({ service: 'tokenguard', namespace: 'tokenguard-system' }));
    const otherKey = readFileSync(join(fresh, 'tls.key'), 'utf8');
    writeFileSync(join(dir, 'tls.key'), otherKey);
    const r = await run(['check', dir]);
    expect(r.code).toBe(1);
    expect(r.out).toContain('error tls.key: private key does not match the certificate in tls.crt');
    assertNoKeyMaterial(r.out + r.err, [otherKey, readFileSync(join(dir, 'ca.key'), 'utf8')]);
  });

  it('checks the expected service name with --service and --namespace', async () => {
    expect((await run(['check', fresh, '--service', 'tokenguard', '--namespace', 'tokenguard-system'])).code).toBe(0);
    const wrong = await run(['check', fresh, '--service', 'other', '--namespace', 'tokenguard-system']);
    expect(wrong.code).toBe(1);
    expect(wrong.out).toContain('does not cover other.tokenguard-system.svc');
  });

  it('exits 1 for a folder without certificates', async () => {
    const r = await run(['check', newDir()]);
    expect(r.code).toBe(1);
    expect(r.out).toContain('error tls.crt: missing');
  });

  it.each([
    [['check'], /needs a DIR/],
    [['check', 'a', 'b'], /unexpected argument "b"/],
    [['check', 'a', '--warn-days', '-1'], /--warn-days/],
    [['check', 'a', '--warn-days', 'soon'], /--warn-days must be an integer >= 0/],
    [['check', 'a', '--service', 'x'], /--service and --namespace go together/],
  ])('exits 2 for %j', async (argv, message) => {
    const r = await run(argv);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
  });
});

describe('tokenguard certs dev / ensureDevCertificates', () => {
  it('creates certificates once and then reuses them', async () => {
    const dir = newDir();
    const first = await run(['dev', dir]);
    expect(first.code).toBe(0);
    expect(first.err).toMatch(/^generated development certificates in .* \(no tls\.crt \/ tls\.key yet\)\n$/);
    const cert = readFileSync(join(dir, 'tls.crt'), 'utf8');
    const leaf = new X509Certificate(cert);
    expect(leaf.checkHost('localhost')).toBe('localhost');
    expect(leaf.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(leaf.checkHost('tokenguard.tokenguard-system.svc')).toBe('tokenguard.tokenguard-system.svc');
    expect(statSync(join(dir, 'tls.key')).mode & 0o777).toBe(0o600);
    const second = await run(['dev', dir]);
    expect(second.err).toMatch(/^using development certificates/);
    expect(readFileSync(join(dir, 'tls.crt'), 'utf8')).toBe(cert);
  });

  it('renews certificates that expire within 7 days, and keeps ones that do not', async () => {
    const dir = newDir();
    const created = await ensureDevCertificates(dir);
    expect(created.generated).toBe(true);
    const cert = readFileSync(created.cert, 'utf8');
    const notAfter = new Date(new X509Certificate(cert).validTo).getTime();
    const kept = await ensureDevCertificates(dir, { now: new Date(notAfter - 8 * DAY_MS) });
    expect(kept.generated).toBe(false);
    expect(readFileSync(created.cert, 'utf8')).toBe(cert);
    const renewed = await ensureDevCertificates(dir, { now: new Date(notAfter - 6 * DAY_MS) });
    expect(renewed.generated).toBe(true);
    expect(renewed.reason).toMatch(/^tls\.crt serving certificate expires on/);
    expect(readFileSync(created.cert, 'utf8')).not.toBe(cert);
  });

  it('replaces a key that does not match, and regenerates when a file is missing', async () => {
    const dir = newDir();
    await ensureDevCertificates(dir);
    const other = await generateCertificates({ service: 'x', namespace: 'y' });
    writeFileSync(join(dir, 'tls.key'), other.key);
    const r = await ensureDevCertificates(dir);
    expect(r.generated).toBe(true);
    expect(r.reason).toMatch(/tls\.key private key does not match/);
    expect(new X509Certificate(readFileSync(r.cert)).checkPrivateKey(createPrivateKey(readFileSync(r.key)))).toBe(true);
    writeFileSync(join(dir, 'tls.crt'), '');
    expect((await ensureDevCertificates(dir)).generated).toBe(true);
  });

  it('keeps a developer’s own valid certificates for other names', async () => {
    const dir = newDir();
    await writeCertificates(dir, await generateCertificates({ service: 'mine', namespace: 'dev' }));
    const cert = readFileSync(join(dir, 'tls.crt'), 'utf8');
    expect((await ensureDevCertificates(dir)).generated).toBe(false);
    expect(readFileSync(join(dir, 'tls.crt'), 'utf8')).toBe(cert);
  });
});
