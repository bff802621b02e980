/**
 * What every command shares: its definition (flags, usage text, subcommands) and the preamble
 * that parses arguments with node:util `parseArgs`, answers `--help`/`-h` with the usage on
 * standard output (exit 0) and an unknown flag with the message and usage on standard error
 * (exit 2). Shell completion (src/cli/completion.ts) is generated from the same definitions.
 */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { type CliIo, EXIT_OK, EXIT_USAGE } from './io.js';

/** Flags as `parseArgs` takes them. */
export type Flags = NonNullable<ParseArgsConfig['options']>;

/** A command or subcommand. */
export interface CommandSpec {
  /** The words that run it after `tokenguard`: `test`, `certs generate`. */
  readonly name: string;
  /** A line about it, for a subcommand (completion shows it). */
  readonly summary?: string;
  /** Its help text (`--help`), also written after a usage error. */
  readonly usage: string;
  /** Its flags; `--help`/`-h` is added to every command. */
  readonly flags: Flags;
  /** The values a string flag takes, that completion offers (the command checks them itself). */
  readonly choices?: Readonly<Record<string, readonly string[]>>;
  /** Whether it takes positional arguments (default true); completion offers files for them. */
  readonly positionals?: boolean;
  /** Fixed words its first positional is one of (`completion bash|zsh|fish`). */
  readonly words?: readonly string[];
  /** For a command made of subcommands (`certs generate|check|dev`). */
  readonly subcommands?: readonly CommandSpec[];
}

/** The values and positionals `parseArgs` found. */
export interface ParsedCommand {
  // biome-ignore lint/suspicious/noExplicitAny: each command reads its values into its own typed record
  readonly values: Record<string, any>;
  readonly positionals: string[];
}

const HELP_FLAG = { help: { type: 'boolean', short: 'h' } } as const satisfies Flags;

/** A command's flags with `--help`/`-h`, as completion lists them. */
export function flagsWithHelp(spec: CommandSpec): Flags {
  return { ...spec.flags, ...HELP_FLAG };
}

/**
 * Parses `argv` by `spec`. Returns the exit code instead when the command is done: 0 after
 * writing the usage for `--help`, 2 after writing the parse error and the usage to standard error.
 */
export function parseCommand(spec: CommandSpec, argv: readonly string[], io: CliIo): ParsedCommand | number {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: spec.positionals ?? true,
      strict: true,
      options: flagsWithHelp(spec),
    });
  } catch (e) {
    // parseArgs messages name options, never the values of positionals.
    io.stderr.write(`${(e as Error).message}\n${spec.usage}`);
    return EXIT_USAGE;
  }
  const { help, ...values } = parsed.values;
  if (help === true) {
    io.stdout.write(spec.usage);
    return EXIT_OK;
  }
  return { values, positionals: parsed.positionals };
}

/**
 * For a command made of subcommands: the subcommand `argv` names and the arguments after it, or
 * the exit code when the command is done (`--help`, `-h` or `help`: usage on standard output,
 * 0; none or an unknown one: usage on standard error, 2).
 */
export function pickSubcommand(
  spec: CommandSpec,
  argv: readonly string[],
  io: CliIo,
): { readonly sub: CommandSpec; readonly rest: readonly string[] } | number {
  const [word, ...rest] = argv;
  if (word === '--help' || word === '-h' || word === 'help') {
    io.stdout.write(spec.usage);
    return EXIT_OK;
  }
  const sub = spec.subcommands?.find((s) => s.name === `${spec.name} ${word}`);
  if (!sub) {
    const names = (spec.subcommands ?? []).map((s) => s.name.slice(spec.name.length + 1)).join(', ');
    io.stderr.write(
      `tokenguard ${spec.name}: ${word === undefined ? `say one of ${names}` : `unknown subcommand "${word}" (one of ${names})`}\n${spec.usage}`,
    );
    return EXIT_USAGE;
  }
  return { sub, rest };
}
