import { type Endpoint, handleReview } from '../../admission/review.js';
import { staticFacts } from '../../facts/static.js';
import { withObservedUse } from '../../facts/usage.js';
import { loadPolicies } from '../../policy/load.js';
import { formatPolicyError } from '../../policy/types.js';
import { type CommandSpec, parseCommand } from '../command.js';
import { type CliIo, EXIT_OK, EXIT_USAGE, readFacts, readInput } from '../io.js';

const USAGE =
  'usage: tokenguard review [--endpoint mutate|validate] [--policies PATH] [--facts FILE] [--api-audience A]... FILE|-\n';

/** `tokenguard review`: its flags. */
export const REVIEW_COMMAND: CommandSpec = {
  name: 'review',
  usage: USAGE,
  flags: {
    endpoint: { type: 'string', default: 'mutate' },
    policies: { type: 'string', multiple: true },
    facts: { type: 'string', multiple: true },
    'api-audience': { type: 'string', multiple: true },
  },
  choices: { endpoint: ['mutate', 'validate'] },
};

/**
 * `tokenguard review`: one AdmissionReview in, the exact AdmissionReview the server's endpoint
 * would answer, out. Same engine, same adapter, facts from `--facts` (ServiceAccounts,
 * Namespaces, bindings as YAML or JSON).
 */
export async function runReviewCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const parsed = parseCommand(REVIEW_COMMAND, argv, io);
  if (typeof parsed === 'number') return parsed;
  const values = parsed.values as {
    endpoint?: string;
    policies?: string[];
    facts?: string[];
    'api-audience'?: string[];
  };
  const positionals = parsed.positionals;
  const endpoint = values.endpoint as Endpoint;
  if (endpoint !== 'mutate' && endpoint !== 'validate') {
    io.stderr.write(`--endpoint must be mutate or validate\n${USAGE}`);
    return EXIT_USAGE;
  }
  if (positionals.length !== 1) {
    io.stderr.write(USAGE);
    return EXIT_USAGE;
  }
  const loaded = loadPolicies(values.policies ?? ['policies']);
  if (loaded.errors.length > 0) {
    for (const e of loaded.errors) io.stderr.write(`${formatPolicyError(e)}\n`);
    return EXIT_USAGE;
  }
  const factFiles = readFacts(values.facts ?? [], io, process.cwd());
  if (!factFiles) return EXIT_USAGE;
  const source = positionals[0] as string;
  let text: string;
  try {
    text = readInput(source, io);
  } catch (e) {
    io.stderr.write(`${source}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}\n`);
    return EXIT_USAGE;
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (e) {
    // V8's message quotes the input around the error, and a review may carry Secret data: only the position.
    const position = /at position (\d+)/.exec((e as Error).message)?.[1];
    io.stderr.write(
      `${source}: not a JSON AdmissionReview${position !== undefined ? ` (invalid at character ${position})` : ''}\n`,
    );
    return EXIT_USAGE;
  }
  // The cluster's API audiences, as `serve --api-audience` takes them (docs/tokens.md).
  const apiAudiences = values['api-audience'];
  const fromObjects = staticFacts(factFiles.objects, apiAudiences ? { apiAudiences } : {});
  // A TokenUsage document among --facts: observed use, against the clock now (as serve --usage does).
  const usage = factFiles.usage;
  const facts = usage ? withObservedUse(fromObjects, { usage: () => usage, now: Date.now }) : fromObjects;
  const result = await handleReview(endpoint, body, { policies: () => loaded.policies, facts });
  if (!result.ok) {
    io.stderr.write(`${source}: ${result.message} (the server answers HTTP 400)\n`);
    return EXIT_USAGE;
  }
  io.stdout.write(`${JSON.stringify(result.outcome.review, null, 2)}\n`);
  return EXIT_OK;
}
