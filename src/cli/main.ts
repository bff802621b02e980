#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runPolicyCommand } from './commands/policy.js';
import { runReviewCommand } from './commands/review.js';
import { type CliIo, EXIT_USAGE, packageVersion } from './io.js';

const HELP = `tokenguard: ServiceAccount token policy for Kubernetes

usage: tokenguard <command> [options]

commands:
  serve            run the HTTPS admission webhook
  review           answer one AdmissionReview as the webhook would (no network)
  test             dry-run the policies against manifests (CI)
  policy validate  check policy files
  certs            generate or check webhook TLS certificates
  token inspect    decode, classify and verify a ServiceAccount token (never prints it)
  export vap|map   compile the policies to ValidatingAdmissionPolicy / MutatingAdmissionPolicy
  scan             report the tokens already in a cluster, and plan to retire the legacy ones
  usage            who used which ServiceAccount token, from the API server's audit log

Every command takes --policies PATH (default ./policies). tokenguard --version prints the version.
`;

type Command = (argv: readonly string[], io: CliIo) => number | Promise<number>;

const commands: Record<string, () => Promise<Command>> = {
  review: async () => runReviewCommand,
  policy: async () => runPolicyCommand,
  test: async () => (await import('./commands/test.js')).runTestCommand,
  serve: async () => (await import('./commands/serve.js')).runServeCommand,
  certs: async () => (await import('./commands/certs.js')).runCertsCommand,
  token: async () => (await import('./commands/token.js')).runTokenCommand,
  export: async () => (await import('./commands/export.js')).runExportCommand,
  scan: async () => (await import('./commands/scan.js')).runScanCommand,
  usage: async () => (await import('./commands/usage.js')).runUsageCommand,
};

/** Runs the CLI with `argv` (without node and script) and returns the exit code. */
export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(HELP);
    return name ? 0 : EXIT_USAGE;
  }
  if (name === '--version' || name === '-v' || name === 'version') {
    io.stdout.write(`${packageVersion()}\n`);
    return 0;
  }
  const load = commands[name];
  if (!load) {
    io.stderr.write(`unknown command "${name}"\n\n${HELP}`);
    return EXIT_USAGE;
  }
  return (await load())(rest, io);
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
