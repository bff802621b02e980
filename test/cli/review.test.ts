/**
 * `tokenguard review`: one AdmissionReview in, the webhook's answer out; `--api-audience` tells
 * it the cluster's API audiences (docs/tokens.md), as `serve --api-audience` does.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import { ADMISSION_FIXTURES, REPO } from '../helpers/fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'tokenguard-review-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function review(args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await main(['review', ...args], {
    stdout: { write: (t: string) => (stdout += t) },
    stderr: { write: (t: string) => (stderr += t) },
  });
  return {
    code,
    stderr,
    response: stdout
      ? (JSON.parse(stdout) as { response: { allowed: boolean; status?: { message: string } } }).response
      : undefined,
  };
}

test('a TokenRequest for the cluster issuer is denied under allowedAudiences [vault] unless --api-audience names it', async () => {
  const body = JSON.parse(
    readFileSync(join(ADMISSION_FIXTURES, 'tokenrequest-defaulted-audience-allowed', 'review.json'), 'utf8'),
  );
  body.request.object.spec.audiences = ['https://oidc.eks.eu-west-1.amazonaws.com/id/ABC'];
  const file = join(dir, 'eks.json');
  writeFileSync(file, JSON.stringify(body));
  const policies = join(REPO, 'test', 'fixtures', 'policies', 'token-requests-vault');
  const plain = await review(['--endpoint', 'validate', '--policies', policies, file]);
  expect(plain.code).toBe(0);
  expect(plain.response?.allowed).toBe(false);
  expect(plain.response?.status?.message).toContain(
    '"https://oidc.eks.eu-west-1.amazonaws.com/id/ABC" not allowed (allowed: vault)',
  );
  const told = await review([
    '--endpoint',
    'validate',
    '--policies',
    policies,
    '--api-audience',
    'https://oidc.eks.*.amazonaws.com/id/*',
    file,
  ]);
  expect(told.response?.allowed).toBe(true);
});
