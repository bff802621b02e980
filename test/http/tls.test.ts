/**
 * What the serving side of TLS offers, asked of the real server by `openssl s_client`: every
 * TLS 1.2 cipher suite this OpenSSL knows is offered alone, and only ECDHE with an AEAD is
 * accepted, for an ECDSA and an RSA serving key; TLS 1.3 works, TLS 1.1 does not.
 */
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { generateCertificates } from '../../src/certs/generate.js';
import { CIPHERS } from '../../src/server/tls.js';
import { OPENSSL, startTestServer, type TestServer } from './helpers.js';

const run = promisify(execFile);
const TIMEOUT = 120_000;

/** The suite `openssl s_client` settles on with these arguments, or 'refused'. */
function negotiate(port: number, args: string[]): Promise<string> {
  return new Promise((resolve) => {
    // stdin is /dev/null: s_client ends the connection once the handshake is done.
    const child = spawn(
      OPENSSL as string,
      ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', ...args],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    );
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.on('close', () => {
      const suite = /Cipher is (\S+)/.exec(out)?.[1];
      resolve(suite === undefined || suite === '(NONE)' ? 'refused' : suite);
    });
  });
}

/** Every TLS 1.2 suite this OpenSSL can offer (weak ones included, at security level 0). */
async function allTls12Suites(): Promise<string[]> {
  const { stdout } = await run(OPENSSL as string, ['ciphers', '-s', '-tls1_2', 'ALL:COMPLEMENTOFALL:@SECLEVEL=0']);
  return stdout.trim().split(':');
}

const servers: Record<'ecdsa' | 'rsa', TestServer | undefined> = { ecdsa: undefined, rsa: undefined };
beforeAll(async () => {
  servers.ecdsa = await startTestServer();
  const rsa = await generateCertificates({
    service: 'tokenguard',
    namespace: 'tokenguard-system',
    dnsNames: ['localhost'],
    ipAddresses: ['127.0.0.1'],
    keyType: 'rsa-2048',
  });
  servers.rsa = await startTestServer({ certs: rsa });
}, TIMEOUT);
afterAll(async () => {
  await servers.ecdsa?.close();
  await servers.rsa?.close();
});

(OPENSSL ? describe : describe.skip)('cipher suites offered', () => {
  test.each([
    ['ecdsa', ['ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-CHACHA20-POLY1305']],
    ['rsa', ['ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE-RSA-CHACHA20-POLY1305']],
  ] as const)(
    'TLS 1.2 with a %s key: of every suite OpenSSL knows, only ECDHE with AES-GCM or ChaCha20-Poly1305',
    async (key, expected) => {
      const port = servers[key]?.port as number;
      const accepted: string[] = [];
      for (const suite of await allTls12Suites()) {
        const got = await negotiate(port, ['-tls1_2', '-cipher', `${suite}:@SECLEVEL=0`]);
        if (got !== 'refused') accepted.push(got);
      }
      expect(accepted.sort()).toEqual([...expected].sort());
      // A CBC suite Node's default list offers, by name.
      const cbc = key === 'rsa' ? 'ECDHE-RSA-AES128-SHA256' : 'ECDHE-ECDSA-AES128-SHA256';
      expect(await negotiate(port, ['-tls1_2', '-cipher', cbc])).toBe('refused');
    },
    TIMEOUT,
  );

  test('TLS 1.3 is served with its three suites; TLS 1.1 is refused', async () => {
    const port = servers.ecdsa?.port as number;
    for (const suite of ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256']) {
      expect(await negotiate(port, ['-tls1_3', '-ciphersuites', suite])).toBe(suite);
    }
    expect(await negotiate(port, ['-tls1_1', '-cipher', 'ALL:@SECLEVEL=0'])).toBe('refused');
    expect(CIPHERS.split(':').filter((c) => c.startsWith('TLS_'))).toHaveLength(3);
  });
});
