/** `tokenguard version` (also `tokenguard --version` and `-v`): the package version. */
import { type CommandSpec, parseCommand } from '../command.js';
import { type CliIo, EXIT_OK, EXIT_USAGE, packageVersion } from '../io.js';

const USAGE = `usage: tokenguard version [-o|--output text|json]

Prints the version of tokenguard (text: the version alone, as tokenguard --version does); json
adds the Node.js version and the platform it runs on.
`;

/** `tokenguard version`: its flags. */
export const VERSION_COMMAND: CommandSpec = {
  name: 'version',
  usage: USAGE,
  positionals: false,
  flags: { output: { type: 'string', short: 'o', default: 'text' } },
  choices: { output: ['text', 'json'] },
};

export function runVersionCommand(argv: readonly string[], io: CliIo): number {
  const parsed = parseCommand(VERSION_COMMAND, argv, io);
  if (typeof parsed === 'number') return parsed;
  const output = parsed.values.output as string;
  if (output === 'text') {
    io.stdout.write(`${packageVersion()}\n`);
    return EXIT_OK;
  }
  if (output === 'json') {
    io.stdout.write(
      `${JSON.stringify({ version: packageVersion(), node: process.version, platform: `${process.platform}/${process.arch}` }, null, 2)}\n`,
    );
    return EXIT_OK;
  }
  io.stderr.write(`--output must be text or json\n${USAGE}`);
  return EXIT_USAGE;
}
