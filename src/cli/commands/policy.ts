import { type CommandSpec, parseCommand, pickSubcommand } from '../command.js';
import { loadPolicies } from '../../policy/load.js';
import { formatPolicyError } from '../../policy/types.js';
import { type CliIo, EXIT_DENIED, EXIT_OK } from '../io.js';

const USAGE = `usage: tokenguard policy validate PATH...

Checks policy files (default ./policies): every problem as file:document: field: message (line).
Exit 0: valid; 1: errors; 2: usage. Warnings do not change the exit code.
`;

const VALIDATE: CommandSpec = { name: 'policy validate', summary: 'check policy files', usage: USAGE, flags: {} };

/** `tokenguard policy validate`. */
export const POLICY_COMMAND: CommandSpec = { name: 'policy', usage: USAGE, flags: {}, subcommands: [VALIDATE] };

/**
 * `tokenguard policy validate PATH...`: every problem as `file:document: field: message`; exit 0
 * or 1. Warnings (`warning: ...` on standard error) do not change the exit code: globs that can
 * never match or cost more than one step per character, files that hold no policy.
 */
export function runPolicyCommand(argv: readonly string[], io: CliIo): number {
  const picked = pickSubcommand(POLICY_COMMAND, argv, io);
  if (typeof picked === 'number') return picked;
  const parsed = parseCommand(picked.sub, picked.rest, io);
  if (typeof parsed === 'number') return parsed;
  let paths = parsed.positionals;
  if (paths.length === 0) paths = ['policies'];
  const { policies, errors, warnings, files, byFile } = loadPolicies(paths);
  for (const w of warnings) io.stderr.write(`warning: ${formatPolicyError(w)}\n`);
  for (const [file, names] of byFile) {
    if (names.length === 0)
      io.stderr.write(
        `warning: ${file}: holds no policies (empty, or only comments); a server would refuse it in place of a file that held some\n`,
      );
  }
  if (errors.length > 0) {
    for (const e of errors) io.stderr.write(`${formatPolicyError(e)}\n`);
    io.stderr.write(`${errors.length} error(s) in ${files.length} file(s)\n`);
    return EXIT_DENIED;
  }
  for (const p of policies) io.stdout.write(`ok  ${p.name} (${p.spec.mode}) ${p.source.file}:${p.source.document}\n`);
  io.stdout.write(`${policies.length} policies in ${files.length} file(s) are valid\n`);
  return EXIT_OK;
}
