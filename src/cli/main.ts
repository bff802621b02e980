#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type CliIo, EXIT_USAGE } from './io.js';
import { COMMANDS, topLevelHelp } from './registry.js';

/** Runs the CLI with `argv` (without node and script) and returns the exit code. */
export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || (name === 'help' && rest.length === 0)) {
    io.stdout.write(topLevelHelp());
    return name ? 0 : EXIT_USAGE;
  }
  // `tokenguard help test` is `tokenguard test --help`.
  if (name === 'help') return main([...rest, '--help'], io);
  const entry = COMMANDS.find((c) => c.name === (name === '--version' || name === '-v' ? 'version' : name));
  if (!entry) {
    io.stderr.write(`unknown command "${name}"\n\n${topLevelHelp()}`);
    return EXIT_USAGE;
  }
  return (await entry.load()).run(rest, io);
}

function isEntryPoint(): boolean {
  if (process.argv[1] === undefined) return false;
  try {
    return realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

const isEntry = isEntryPoint();
if (isEntry) {
  main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr }).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`tokenguard: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = EXIT_USAGE;
    },
  );
}
