/**
 * Every command of `tokenguard`, in the order `--help` lists them. Commands are loaded when run
 * (serve's dependencies are not read for a `test`); `--help` on each, the top-level help and
 * shell completion (src/cli/completion.ts) come from these entries and their {@link CommandSpec}s.
 */
import type { CommandSpec } from './command.js';
import type { CliIo } from './io.js';

export type CommandRun = (argv: readonly string[], io: CliIo) => number | Promise<number>;

/** A command's definition and the function that runs it. */
export interface LoadedCommand {
  readonly spec: CommandSpec;
  readonly run: CommandRun;
}

export interface CommandEntry {
  readonly name: string;
  /** How the top-level help lists it: `policy validate`, `export vap|map`. */
  readonly synopsis: string;
  readonly summary: string;
  readonly load: () => Promise<LoadedCommand>;
}

export const COMMANDS: readonly CommandEntry[] = [
  {
    name: 'serve',
    synopsis: 'serve',
    summary: 'run the HTTPS admission webhook',
    load: async () => {
      const m = await import('./commands/serve.js');
      return { spec: m.SERVE_COMMAND, run: m.runServeCommand };
    },
  },
  {
    name: 'review',
    synopsis: 'review',
    summary: 'answer one AdmissionReview as the webhook would (no network)',
    load: async () => {
      const m = await import('./commands/review.js');
      return { spec: m.REVIEW_COMMAND, run: m.runReviewCommand };
    },
  },
  {
    name: 'test',
    synopsis: 'test',
    summary: 'dry-run the policies against manifests (CI)',
    load: async () => {
      const m = await import('./commands/test.js');
      return { spec: m.TEST_COMMAND, run: m.runTestCommand };
    },
  },
  {
    name: 'policy',
    synopsis: 'policy validate',
    summary: 'check policy files',
    load: async () => {
      const m = await import('./commands/policy.js');
      return { spec: m.POLICY_COMMAND, run: m.runPolicyCommand };
    },
  },
  {
    name: 'certs',
    synopsis: 'certs',
    summary: 'generate or check webhook TLS certificates',
    load: async () => {
      const m = await import('./commands/certs.js');
      return { spec: m.CERTS_COMMAND, run: m.runCertsCommand };
    },
  },
  {
    name: 'token',
    synopsis: 'token inspect',
    summary: 'decode, classify and verify a ServiceAccount token (never prints it)',
    load: async () => {
      const m = await import('./commands/token.js');
      return { spec: m.TOKEN_COMMAND, run: m.runTokenCommand };
    },
  },
  {
    name: 'export',
    synopsis: 'export vap|map',
    summary: 'compile the policies to ValidatingAdmissionPolicy / MutatingAdmissionPolicy',
    load: async () => {
      const m = await import('./commands/export.js');
      return { spec: m.EXPORT_COMMAND, run: (argv, io) => m.runExportCommand(argv, io) };
    },
  },
  {
    name: 'scan',
    synopsis: 'scan',
    summary: 'report the tokens already in a cluster, and plan to retire the legacy ones',
    load: async () => {
      const m = await import('./commands/scan.js');
      return { spec: m.SCAN_COMMAND, run: (argv, io) => m.runScanCommand(argv, io) };
    },
  },
  {
    name: 'usage',
    synopsis: 'usage',
    summary: "who used which ServiceAccount token, from the API server's audit log",
    load: async () => {
      const m = await import('./commands/usage.js');
      return { spec: m.USAGE_COMMAND, run: (argv, io) => m.runUsageCommand(argv, io) };
    },
  },
  {
    name: 'version',
    synopsis: 'version',
    summary: 'print the version (-o json: with the Node.js version and platform)',
    load: async () => {
      const m = await import('./commands/version.js');
      return { spec: m.VERSION_COMMAND, run: m.runVersionCommand };
    },
  },
  {
    name: 'completion',
    synopsis: 'completion',
    summary: 'print the shell completion script (bash, zsh or fish)',
    load: async () => {
      const m = await import('./commands/completion.js');
      return { spec: m.COMPLETION_COMMAND, run: m.runCompletionCommand };
    },
  },
];

/** The top-level help, listing {@link COMMANDS}. */
export function topLevelHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.synopsis.length)) + 2;
  return `tokenguard: ServiceAccount token policy for Kubernetes

usage: tokenguard <command> [options]
       kubectl tokenguard <command> [options]   (as a kubectl plugin, docs/cli.md)

commands:
${COMMANDS.map((c) => `  ${c.synopsis.padEnd(width)}${c.summary}\n`).join('')}
Every command takes --help (-h), and --policies PATH (default ./policies) where it reads
policies; -o is short for --output. tokenguard --version (-v) prints the version.
`;
}
