import { readFileSync } from 'node:fs';

/** Where a command writes; tests pass buffers. */
export interface CliIo {
  readonly stdout: { write(s: string): unknown };
  readonly stderr: { write(s: string): unknown };
  /** Reads standard input whole (for `-`). */
  readonly readStdin?: () => string;
}

/** Reads a file, or standard input for `-`. */
export function readInput(path: string, io: CliIo): string {
  if (path === '-') return io.readStdin ? io.readStdin() : readFileSync(0, 'utf8');
  return readFileSync(path, 'utf8');
}

/** Exit codes shared by every command: 0 fine, 1 something denied or failed a check, 2 bad input or usage. */
export const EXIT_OK = 0;
export const EXIT_DENIED = 1;
export const EXIT_USAGE = 2;
