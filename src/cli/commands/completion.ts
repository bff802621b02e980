/** `tokenguard completion bash|zsh|fish`: the shell completion script (src/cli/completion.ts). */
import { type CommandSpec, parseCommand } from '../command.js';
import { completionScript, completionTree, SHELLS, type Shell } from '../completion.js';
import { type CliIo, EXIT_OK, EXIT_USAGE } from '../io.js';
import { COMMANDS } from '../registry.js';

const USAGE = `usage: tokenguard completion bash|zsh|fish

Prints the completion script of a shell: commands, subcommands, flags and their values.
  bash  source <(tokenguard completion bash)    (or save it in /etc/bash_completion.d/tokenguard)
  zsh   source <(tokenguard completion zsh)     (after compinit; or save it as _tokenguard in $fpath)
  fish  tokenguard completion fish | source     (or save it in ~/.config/fish/completions/tokenguard.fish)
The scripts complete kubectl-tokenguard too (the kubectl plugin, docs/cli.md).
`;

/** `tokenguard completion`: its arguments. */
export const COMPLETION_COMMAND: CommandSpec = { name: 'completion', usage: USAGE, flags: {}, words: SHELLS };

export async function runCompletionCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const parsed = parseCommand(COMPLETION_COMMAND, argv, io);
  if (typeof parsed === 'number') return parsed;
  const [shell, ...extra] = parsed.positionals;
  if (shell === undefined || !(SHELLS as readonly string[]).includes(shell) || extra.length > 0) {
    io.stderr.write(
      `tokenguard completion: ${shell === undefined ? 'say which shell' : `give one of ${SHELLS.join(', ')}`}\n${USAGE}`,
    );
    return EXIT_USAGE;
  }
  const commands = [];
  // One at a time: concurrent dynamic imports of modules that share imports trip Jest's ESM loader.
  for (const c of COMMANDS) commands.push({ name: c.name, summary: c.summary, spec: (await c.load()).spec });
  io.stdout.write(completionScript(shell as Shell, completionTree(commands)));
  return EXIT_OK;
}
