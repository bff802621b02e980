/**
 * Shell completion scripts for bash, zsh and fish, generated from the command definitions
 * (src/cli/registry.ts): commands, subcommands, flags, and the values of flags that take one of
 * a fixed set (`--output`). Each script finds the command path typed so far (skipping flags and
 * the values of flags that take one), then offers the values of the flag before the cursor,
 * the flags of the command (after `-`), its subcommands, or files. Pure: text in, text out.
 */
import { type CommandSpec, flagsWithHelp } from './command.js';

/** A flag as completion sees it. */
export interface CompletionFlag {
  /** `--output` and `-o`. */
  readonly names: readonly string[];
  /** Takes no value, a file (any string), or one of these. */
  readonly value: 'none' | 'file' | readonly string[];
}

/** One command path (`''` for tokenguard itself, `certs generate`). */
export interface CompletionNode {
  readonly path: string;
  /** Subcommands, or the fixed words of its first argument; with a line of help for fish. */
  readonly words: readonly { readonly name: string; readonly summary: string }[];
  readonly flags: readonly CompletionFlag[];
  /** Its arguments are files. */
  readonly files: boolean;
}

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

/** The names a script is installed for: the command, and the kubectl plugin's executable. */
const PROGRAMS = ['tokenguard', 'kubectl-tokenguard'] as const;

/** The top-level commands with their definitions, in help order. */
export interface CompletionCommand {
  readonly name: string;
  readonly summary: string;
  readonly spec: CommandSpec;
}

/** Every command path of `commands`, the top level first. */
export function completionTree(commands: readonly CompletionCommand[]): CompletionNode[] {
  const nodes: CompletionNode[] = [
    {
      path: '',
      words: [
        ...commands.map((c) => ({ name: c.name, summary: c.summary })),
        { name: 'help', summary: 'the help of a command' },
      ],
      flags: [
        { names: ['--help', '-h'], value: 'none' },
        { names: ['--version', '-v'], value: 'none' },
      ],
      files: false,
    },
    { path: 'help', words: commands.map((c) => ({ name: c.name, summary: c.summary })), flags: [], files: false },
  ];
  const visit = (spec: CommandSpec) => {
    const subs = spec.subcommands ?? [];
    const words =
      subs.length > 0
        ? subs.map((s) => ({ name: lastWord(s.name), summary: s.summary ?? '' }))
        : (spec.words ?? []).map((w) => ({ name: w, summary: '' }));
    const flags = Object.entries(flagsWithHelp(spec)).map(([long, o]): CompletionFlag => {
      const names = [`--${long}`, ...(o.short ? [`-${o.short}`] : [])];
      return { names, value: o.type === 'boolean' ? 'none' : (spec.choices?.[long] ?? 'file') };
    });
    nodes.push({
      path: spec.name,
      words,
      flags,
      files: subs.length === 0 && words.length === 0 && spec.positionals !== false,
    });
    for (const s of subs) visit(s);
  };
  for (const c of commands) visit(c.spec);
  for (const n of nodes)
    for (const w of [
      ...n.words.map((x) => x.name),
      ...n.flags.flatMap((f) => [...f.names, ...(Array.isArray(f.value) ? f.value : [])]),
      ...n.path.split(' ').filter(Boolean),
    ])
      checkWord(w);
  return nodes;
}

/** The completion script for `shell`. */
export function completionScript(shell: Shell, nodes: readonly CompletionNode[]): string {
  switch (shell) {
    case 'bash':
      return bashScript(nodes);
    case 'zsh':
      return zshScript(nodes);
    case 'fish':
      return fishScript(nodes);
  }
}

/** The words are written into scripts unquoted: only these characters. */
function checkWord(w: string): void {
  if (!/^-{0,2}[A-Za-z0-9][A-Za-z0-9._-]*$/.test(w))
    throw new Error(`completion: "${w}" cannot be written into a shell script unquoted`);
}

function lastWord(name: string): string {
  return name.slice(name.lastIndexOf(' ') + 1);
}

/** The case arms shared by bash and zsh: one `pattern) body ;;` per node or flag. */
function shellCases(nodes: readonly CompletionNode[], assign: (words: readonly string[]) => string) {
  const words = nodes
    .filter((n) => n.words.length > 0)
    .map((n) => `    '${n.path}') ${assign(n.words.map((w) => w.name))} ;;`);
  const flags = nodes.map((n) => `    '${n.path}') ${assign(n.flags.flatMap((f) => f.names))} ;;`);
  const values: string[] = [];
  const fileFlags: string[] = [];
  for (const n of nodes) {
    for (const f of n.flags) {
      const pattern = f.names.map((name) => `'${n.path} ${name}'`).join('|');
      if (f.value === 'file') fileFlags.push(pattern);
      else if (f.value !== 'none') values.push(`    ${pattern}) ${assign(f.value)}; return 0 ;;`);
    }
  }
  const files = nodes.filter((n) => n.files).map((n) => `'${n.path}'`);
  return { words, flags, values, fileFlags, files };
}

function bashScript(nodes: readonly CompletionNode[]): string {
  const c = shellCases(nodes, (ws) => `echo '${ws.join(' ')}'`);
  return `# bash completion for tokenguard, generated by \`tokenguard completion bash\`.
# Load it in the current shell: source <(tokenguard completion bash)
# or install it: tokenguard completion bash > /etc/bash_completion.d/tokenguard

# The subcommands (or fixed arguments) of a command path.
_tokenguard_words() {
  case "$1" in
${c.words.join('\n')}
  esac
}

# The flags of a command path.
_tokenguard_flags() {
  case "$1" in
${c.flags.join('\n')}
  esac
}

# The values of flag $2 of command path $1. Status 0: prints them; 1: takes no value; 2: a file.
_tokenguard_flag() {
  case "$1 $2" in
${c.values.join('\n')}
    ${c.fileFlags.join('|')}) return 2 ;;
  esac
  return 1
}

_tokenguard() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" cmd='' word values rc i
  COMPREPLY=()
  for (( i = 1; i < COMP_CWORD; i++ )); do
    word="\${COMP_WORDS[i]}"
    if [[ $word == -* ]]; then
      if [[ $word != *=* ]]; then
        _tokenguard_flag "$cmd" "$word" > /dev/null
        [[ $? -ne 1 ]] && (( i += 1 ))
      fi
    elif [[ " $(_tokenguard_words "$cmd") " == *" $word "* ]]; then
      cmd="\${cmd:+$cmd }$word"
    fi
  done
  if (( COMP_CWORD > 1 )) && [[ \${COMP_WORDS[COMP_CWORD-1]} == -* ]]; then
    values="$(_tokenguard_flag "$cmd" "\${COMP_WORDS[COMP_CWORD-1]}")"
    rc=$?
    if (( rc == 0 )); then
      COMPREPLY=( $(compgen -W "$values" -- "$cur") )
      return 0
    fi
    # A file: bash's own completion (-o default) offers them.
    (( rc == 2 )) && return 0
  fi
  if [[ $cur == -* ]]; then
    COMPREPLY=( $(compgen -W "$(_tokenguard_flags "$cmd")" -- "$cur") )
    return 0
  fi
  values="$(_tokenguard_words "$cmd")"
  [[ -n $values ]] && COMPREPLY=( $(compgen -W "$values" -- "$cur") )
  return 0
}

complete -o bashdefault -o default -F _tokenguard ${PROGRAMS.join(' ')}
`;
}

function zshScript(nodes: readonly CompletionNode[]): string {
  const c = shellCases(nodes, (ws) => `reply=(${ws.join(' ')})`);
  return `#compdef ${PROGRAMS.join(' ')}
# zsh completion for tokenguard, generated by \`tokenguard completion zsh\`.
# Load it in the current shell: source <(tokenguard completion zsh)   (after compinit)
# or install it as _tokenguard in a folder of $fpath.

# The subcommands (or fixed arguments) of a command path, in $reply.
_tokenguard_words() {
  reply=()
  case "$1" in
${c.words.join('\n')}
  esac
}

# The flags of a command path, in $reply.
_tokenguard_flags() {
  reply=()
  case "$1" in
${c.flags.join('\n')}
  esac
}

# The values of flag $2 of command path $1. Status 0: in $reply; 1: takes no value; 2: a file.
_tokenguard_flag() {
  reply=()
  case "$1 $2" in
${c.values.join('\n')}
    ${c.fileFlags.join('|')}) return 2 ;;
  esac
  return 1
}

# Whether the arguments of a command path are files.
_tokenguard_files() {
  case "$1" in
    ${c.files.join('|')}) return 0 ;;
  esac
  return 1
}

_tokenguard() {
  local cmd='' word rc i
  local -a reply
  for (( i = 2; i < CURRENT; i++ )); do
    word=\${words[i]}
    if [[ $word == -* ]]; then
      if [[ $word != *=* ]]; then
        _tokenguard_flag "$cmd" "$word"
        (( $? != 1 )) && (( i += 1 ))
      fi
    else
      _tokenguard_words "$cmd"
      (( \${reply[(Ie)$word]} )) && cmd="\${cmd:+$cmd }$word"
    fi
  done
  if (( CURRENT > 2 )) && [[ \${words[CURRENT-1]} == -* ]]; then
    _tokenguard_flag "$cmd" "\${words[CURRENT-1]}"
    rc=$?
    if (( rc == 0 )); then
      compadd -a reply
      return
    fi
    if (( rc == 2 )); then
      _files
      return
    fi
  fi
  if [[ \${words[CURRENT]} == -* ]]; then
    _tokenguard_flags "$cmd"
    compadd -a reply
    return
  fi
  _tokenguard_words "$cmd"
  if (( \${#reply} )); then
    compadd -a reply
    return
  fi
  _tokenguard_files "$cmd" && _files
}

if [[ $funcstack[1] == _tokenguard ]]; then
  _tokenguard "$@"
else
  compdef _tokenguard ${PROGRAMS.join(' ')}
fi
`;
}

function fishScript(nodes: readonly CompletionNode[]): string {
  const q = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  const takesValue = nodes.flatMap((n) =>
    n.flags.filter((f) => f.value !== 'none').flatMap((f) => f.names.map((name) => `'${n.path} ${name}'`)),
  );
  const wordCases = nodes
    .filter((n) => n.words.length > 0)
    .map((n) => `    case '${n.path}'\n      printf '%s\\n' ${n.words.map((w) => w.name).join(' ')}`);
  const lines: string[] = [];
  for (const n of nodes) {
    const when = `-n "__tokenguard_at '${n.path}'"`;
    for (const w of n.words)
      lines.push(`complete -c tokenguard ${when} -a ${w.name}${w.summary ? ` -d ${q(w.summary)}` : ''}`);
    for (const f of n.flags) {
      const names = f.names
        .map((name) => (name.startsWith('--') ? `-l ${name.slice(2)}` : `-s ${name.slice(1)}`))
        .join(' ');
      const value = f.value === 'none' ? '' : f.value === 'file' ? ' -r -F' : ` -x -a ${q(f.value.join(' '))}`;
      lines.push(`complete -c tokenguard ${when} ${names}${value}`);
    }
    if (n.files) lines.push(`complete -c tokenguard ${when} -F`);
  }
  return `# fish completion for tokenguard, generated by \`tokenguard completion fish\`.
# Load it in the current shell: tokenguard completion fish | source
# or install it: tokenguard completion fish > ~/.config/fish/completions/tokenguard.fish

# Whether flag $argv[2] of command path $argv[1] takes a value.
function __tokenguard_takes_value
  switch "$argv[1] $argv[2]"
    case ${takesValue.join(' ')}
      return 0
  end
  return 1
end

# The subcommands (or fixed arguments) of a command path.
function __tokenguard_words
  switch "$argv[1]"
${wordCases.join('\n')}
  end
end

# The command path typed so far: tokenguard's subcommands, without flags and their values.
function __tokenguard_command
  set -l cmd ''
  set -l skip 0
  for word in (commandline -opc)[2..-1]
    if test $skip = 1
      set skip 0
    else if string match -q -- '-*' $word
      if not string match -q -- '*=*' $word; and __tokenguard_takes_value "$cmd" $word
        set skip 1
      end
    else if contains -- $word (__tokenguard_words "$cmd")
      if test -z "$cmd"
        set cmd $word
      else
        set cmd "$cmd $word"
      end
    end
  end
  echo $cmd
end

# Whether the command path typed so far is $argv[1].
function __tokenguard_at
  set -l cmd (__tokenguard_command)
  test "$cmd" = "$argv[1]"
end

complete -c tokenguard -f
${lines.join('\n')}
complete -c kubectl-tokenguard -w tokenguard
`;
}
