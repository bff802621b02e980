import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Path of the openssl binary, or undefined when it is not installed (its assertions are then skipped). */
export const OPENSSL = ['/usr/bin/openssl', '/usr/local/bin/openssl'].find((p) => existsSync(p));

/** Runs openssl with the given arguments; returns stdout and stderr. Throws on a non-zero exit. */
export function openssl(args: readonly string[], input?: string): string {
  if (!OPENSSL) throw new Error('openssl not installed');
  return execFileSync(OPENSSL, [...args], { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], input: input ?? '' });
}

/** A fresh temporary folder and its cleanup. */
export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `tokenguard-${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Collects what a command writes. */
export function captureIo(): {
  stdout: { write(s: string): boolean };
  stderr: { write(s: string): boolean };
  out: () => string;
  err: () => string;
} {
  let out = '';
  let err = '';
  return {
    stdout: {
      write: (s: string) => {
        out += s;
        return true;
      },
    },
    stderr: {
      write: (s: string) => {
        err += s;
        return true;
      },
    },
    out: () => out,
    err: () => err,
  };
}

export const DAY_MS = 24 * 60 * 60 * 1000;

/** No line of base64 from any key may appear in `text`. */
export function assertNoKeyMaterial(text: string, keys: readonly string[]): void {
  for (const key of keys) {
    for (const line of key.split('\n').filter((l) => l.length > 16 && !l.startsWith('-----'))) {
      expect(text).not.toContain(line);
    }
  }
}
