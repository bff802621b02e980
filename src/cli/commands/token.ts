import { readFileSync, statSync } from 'node:fs';
import type { JSONWebKeySet } from 'jose';
import { DEFAULT_API_AUDIENCES } from '../../constants.js';
import { isApiAudience } from '../../engine/api-token.js';
import {
  duration,
  judgeToken,
  type TokenFinding,
  type TokenLimit,
  tokenApiAudiences,
  tokenLimits,
} from '../../engine/token-limits.js';
import {
  classifyToken,
  decodeToken,
  LEGACY_ISSUER,
  MAX_TOKEN_LENGTH,
  type TokenClassification,
} from '../../engine/tokens.js';
import { loadPolicies } from '../../policy/load.js';
import { formatPolicyError, type TokenPolicy } from '../../policy/types.js';
import { readKeysFile, type VerifyResult, verifyToken } from '../../tokens/verify.js';
import { type CommandSpec, parseCommand, pickSubcommand } from '../command.js';
import { type CliIo, EXIT_DENIED, EXIT_OK, EXIT_USAGE, readInput } from '../io.js';

const USAGE = `usage: tokenguard token inspect [TOKEN|FILE|-] [options]

Decodes and classifies a ServiceAccount token, verifies its signature when keys are given, and
flags what policy would not allow. The token and its signature are never printed.

options:
  --jwks FILE|URL            keys: a JWKS or PEM public key file (e.g. the cluster's sa.pub), or
                             a URL serving a JWKS (https://<apiserver>/openid/v1/jwks), an OpenID
                             discovery document, or an issuer to discover
  --issuer URL               expected issuer; an https issuer is discovered when --jwks is absent
  --audience A               expected audience (repeatable)
  --ca-file FILE             CA bundle for https to the cluster
  --bearer-token-file FILE   bearer token for fetching keys over https
  --max-expiration SECONDS   flag tokens that live longer
  --allowed-audience A       flag other audiences (repeatable; globs); the API server's own
                             audiences (the issuer, --api-audience) are always allowed
  --api-audience A           an audience of the API server itself (repeatable; globs); default
                             https://kubernetes.default.svc and https://kubernetes.default.svc.*
  --policies PATH            take the maximum and audiences from these policies (Enforce: errors,
                             Audit: warnings)
  -o, --output text|json     default text
  --now ISO                  the time to judge at (default: now)

The cluster's keys: \`kubectl get --raw /openid/v1/jwks > jwks.json\`, then --jwks jwks.json; or
--jwks https://<apiserver>/openid/v1/jwks --ca-file ca.crt --bearer-token-file FILE, where any
ServiceAccount token will do as the bearer (system:service-account-issuer-discovery).

exit: 0 no error-level findings, 1 findings, 2 unreadable input or usage
`;

/** Largest input file (or stdin) read; a token is found in it when it is not a bare token. */
const MAX_INPUT_BYTES = 1024 * 1024;

interface Options {
  jwks?: string;
  issuer?: string;
  audience?: string[];
  'ca-file'?: string;
  'bearer-token-file'?: string;
  'max-expiration'?: string;
  'allowed-audience'?: string[];
  'api-audience'?: string[];
  policies?: string[];
  output?: string;
  now?: string;
}

const INSPECT: CommandSpec = {
  name: 'token inspect',
  summary: 'decode, classify and verify a token (never prints it)',
  usage: USAGE,
  flags: {
    jwks: { type: 'string' },
    issuer: { type: 'string' },
    audience: { type: 'string', multiple: true },
    'ca-file': { type: 'string' },
    'bearer-token-file': { type: 'string' },
    'max-expiration': { type: 'string' },
    'allowed-audience': { type: 'string', multiple: true },
    'api-audience': { type: 'string', multiple: true },
    policies: { type: 'string', multiple: true },
    output: { type: 'string', short: 'o', default: 'text' },
    now: { type: 'string' },
  },
  choices: { output: ['text', 'json'] },
};

/** `tokenguard token inspect`: its flags. */
export const TOKEN_COMMAND: CommandSpec = { name: 'token', usage: USAGE, flags: {}, subcommands: [INSPECT] };

class UsageError extends Error {}

/**
 * `tokenguard token inspect`: decode, classify, verify and judge one token. Returns the exit
 * code: 0 no error-level finding, 1 findings, 2 unreadable input (token, keys, policies) or usage.
 */
export async function runTokenCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const picked = pickSubcommand(TOKEN_COMMAND, argv, io);
  if (typeof picked === 'number') return picked;
  try {
    return await inspect(picked.rest, io);
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr.write(`token inspect: ${e.message}\n`);
      return EXIT_USAGE;
    }
    throw e;
  }
}

async function inspect(argv: readonly string[], io: CliIo): Promise<number> {
  const parsed = parseCommand(INSPECT, argv, io);
  if (typeof parsed === 'number') return parsed;
  const values = parsed.values as Options;
  const positionals = parsed.positionals;
  if (positionals.length !== 1)
    throw new UsageError(`give exactly one TOKEN, FILE or - (got ${positionals.length})\n${USAGE}`);
  const output = values.output;
  if (output !== 'text' && output !== 'json') throw new UsageError('--output must be text or json');
  const now = values.now !== undefined ? new Date(values.now) : new Date();
  if (Number.isNaN(now.getTime())) throw new UsageError('--now must be an ISO date, e.g. 2024-01-01T00:00:00Z');
  let maxFlag: number | undefined;
  if (values['max-expiration'] !== undefined) {
    maxFlag = Number(values['max-expiration']);
    if (!Number.isInteger(maxFlag) || maxFlag <= 0)
      throw new UsageError('--max-expiration must be a positive whole number of seconds');
  }

  let policies: TokenPolicy[] = [];
  if (values.policies) {
    const loaded = loadPolicies(values.policies);
    if (loaded.errors.length > 0) {
      for (const e of loaded.errors) io.stderr.write(`${formatPolicyError(e)}\n`);
      return EXIT_USAGE;
    }
    policies = loaded.policies;
  }

  const input = readTokenInput(positionals[0] as string, io);
  if (!input.ok) {
    io.stderr.write(`${input.message}\n`);
    return EXIT_USAGE;
  }
  const decoded = decodeToken(input.token);
  if (!decoded.ok) {
    io.stderr.write(`${input.source}: not a readable JWT: ${decoded.reason}\n`);
    return EXIT_USAGE;
  }
  const token = classifyToken(decoded.claims, decoded.header, { now });

  // Signature verification, when keys (or an https issuer to discover them from) are given.
  let verification: (VerifyResult & { checked: boolean }) | undefined;
  const wantsVerify = values.jwks !== undefined || (values.issuer !== undefined && /^https:\/\//i.test(values.issuer));
  if (wantsVerify) {
    let jwks: JSONWebKeySet | URL | undefined;
    if (values.jwks !== undefined) {
      if (/^https?:\/\//i.test(values.jwks)) {
        try {
          jwks = new URL(values.jwks);
        } catch {
          throw new UsageError('--jwks is not a valid URL');
        }
      } else {
        try {
          jwks = readKeysFile(values.jwks);
        } catch (e) {
          io.stderr.write(`--jwks ${(e as Error).message}\n`);
          return EXIT_USAGE;
        }
      }
    }
    let bearerToken: string | undefined;
    if (values['bearer-token-file'] !== undefined) {
      try {
        bearerToken = readFileSync(values['bearer-token-file'], 'utf8').trim();
      } catch (e) {
        io.stderr.write(
          `${values['bearer-token-file']}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}\n`,
        );
        return EXIT_USAGE;
      }
    }
    const result = await verifyToken(input.token, {
      now,
      ...(jwks !== undefined ? { jwks } : {}),
      ...(values.issuer !== undefined ? { issuer: values.issuer } : {}),
      ...(values.audience !== undefined ? { audience: values.audience } : {}),
      ...(values['ca-file'] !== undefined ? { caFile: values['ca-file'] } : {}),
      ...(bearerToken !== undefined ? { bearerToken } : {}),
    });
    const keySource = result.keySource === 'inline' ? values.jwks : result.keySource;
    verification = { ...result, ...(keySource !== undefined ? { keySource } : {}), checked: !result.keysUnavailable };
  }

  // Which limits apply, and what the token breaks, the engine decides; the signature is checked here.
  const apiAudiences = tokenApiAudiences(token, values['api-audience'] ?? DEFAULT_API_AUDIENCES);
  const limits = tokenLimits({
    token,
    policies,
    apiAudiences,
    ...(maxFlag !== undefined ? { maxExpirationSeconds: maxFlag } : {}),
    ...(values['allowed-audience'] !== undefined ? { allowedAudiences: values['allowed-audience'] } : {}),
  });
  const findings = [
    ...judgeToken({
      token,
      signed: decoded.signed,
      limits,
      apiAudiences,
      nowSeconds: Math.floor(now.getTime() / 1000),
    }),
    ...signatureFindings(token, verification, values),
  ];

  const report = { source: input.source, token, verification, limits, apiAudiences, findings };
  io.stdout.write(output === 'json' ? `${JSON.stringify(jsonReport(report), null, 2)}\n` : textReport(report));
  if (input.note) io.stderr.write(`${input.note}\n`);
  if (verification?.keysUnavailable) {
    io.stderr.write(`token inspect: cannot get the keys: ${verification.reason ?? 'unknown error'}\n`);
    return EXIT_USAGE;
  }
  return findings.some((f) => f.level === 'error') ? EXIT_DENIED : EXIT_OK;
}

// ---------------------------------------------------------------------------------------------
// Input
// ---------------------------------------------------------------------------------------------

type TokenInput = { ok: true; token: string; source: string; note?: string } | { ok: false; message: string };

/** A JWT as the whole argument: three base64url parts (the third may be empty). */
const BARE_JWT = /^\s*(?:bearer\s+)?[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\s*$/i;

/**
 * Reads the token from the argument itself, a file, or stdin. Messages name the file but never
 * echo an argument that may be a token.
 */
function readTokenInput(arg: string, io: CliIo): TokenInput {
  if (arg === '-') {
    let text: string;
    try {
      text = readInput('-', io);
    } catch (e) {
      return { ok: false, message: `-: cannot read standard input: ${(e as Error).message}` };
    }
    return fromText(text, 'stdin');
  }
  let isFile = false;
  try {
    isFile = arg.length <= 4096 && statSync(arg).isFile();
  } catch {
    // not a file: maybe the token itself
  }
  if (!isFile && (BARE_JWT.test(arg) || (arg.length > 512 && !arg.includes('/')))) {
    return {
      ok: true,
      token: arg,
      source: 'argument',
      note: 'note: a token on the command line stays in shell history and process lists; prefer a file or -',
    };
  }
  let size: number;
  try {
    const st = statSync(arg);
    if (!st.isFile()) return { ok: false, message: `${shown(arg)}: not a file` };
    size = st.size;
  } catch (e) {
    // Nothing exists by that name, so the argument may well be a token or password pasted in
    // the wrong place (a short one, not a JWT): say so without echoing it.
    const code = (e as NodeJS.ErrnoException).code ?? 'unreadable';
    return {
      ok: false,
      message: `the argument (${arg.length} characters) is neither a readable file (${code}) nor a well-formed JWT (three base64url parts); it is not shown, as it may be a secret`,
    };
  }
  if (size > MAX_INPUT_BYTES)
    return { ok: false, message: `${shown(arg)}: over ${MAX_INPUT_BYTES} bytes; not a token file` };
  let text: string;
  try {
    text = readFileSync(arg, 'utf8');
  } catch (e) {
    return {
      ok: false,
      message: `${shown(arg)}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    };
  }
  return fromText(text, arg);
}

function shown(arg: string): string {
  return arg.length > 256 || arg.includes('eyJ') ? '(input)' : arg;
}

/** A file's (or stdin's) token: the whole text, or the one JWT found inside it (a kubeconfig). */
function fromText(text: string, source: string): TokenInput {
  if (text.length > MAX_INPUT_BYTES)
    return { ok: false, message: `${source}: over ${MAX_INPUT_BYTES} bytes; not a token file` };
  const trimmed = text.trim();
  if (trimmed.length === 0) return { ok: false, message: `${source}: empty` };
  if (BARE_JWT.test(trimmed) || (!/\s/.test(trimmed) && trimmed.length > MAX_TOKEN_LENGTH))
    return { ok: true, token: trimmed, source };
  const found = embeddedJwts(trimmed, 8);
  if (found.length === 1)
    return { ok: true, token: found[0] as string, source, note: `note: inspected the token found inside ${source}` };
  if (found.length > 1)
    return {
      ok: false,
      message: `${source}: holds ${found.length >= 8 ? '8 or more' : found.length} tokens; give one`,
    };
  if (!/\s/.test(trimmed)) return { ok: true, token: trimmed, source }; // let the decoder say what is wrong
  return { ok: false, message: `${source}: no JWT found` };
}

/** JWT-shaped substrings, in linear time (runs of JWT characters, cut at the first "eyJ"). */
function embeddedJwts(text: string, max: number): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/[A-Za-z0-9_.-]{30,}/g)) {
    const run = m[0];
    const start = run.indexOf('eyJ');
    if (start < 0) continue;
    const parts = run.slice(start).split('.', 4);
    if (parts.length < 3 || !(parts[1] as string).startsWith('eyJ')) continue;
    const candidate = parts.slice(0, 3).join('.');
    if (!decodeToken(candidate).ok) continue;
    if (!out.includes(candidate)) out.push(candidate);
    if (out.length >= max) break;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Signature findings (the policy limits and findings are the engine's: engine/token-limits.ts)
// ---------------------------------------------------------------------------------------------

/**
 * What the signature check found, or (without keys) whether the claims match the `--issuer` and
 * `--audience` asked about.
 */
function signatureFindings(
  token: TokenClassification,
  verification: (VerifyResult & { checked: boolean }) | undefined,
  values: Options,
): TokenFinding[] {
  const findings: TokenFinding[] = [];
  const add = (code: string, message: string) => findings.push({ level: 'error', code, message });
  if (verification?.checked) {
    if (!verification.verified)
      add('not-verified', `signature verification failed: ${verification.reason ?? 'unknown reason'}`);
  } else if (verification === undefined) {
    if (
      values.issuer !== undefined &&
      token.issuer !== values.issuer &&
      !(token.kind === 'legacy' && token.issuer === LEGACY_ISSUER)
    ) {
      add('issuer-mismatch', `issuer is not ${values.issuer}`);
    }
    if (values.audience !== undefined && !token.audiences.some((a) => values.audience?.includes(a))) {
      add('audience-mismatch', `aud does not include ${values.audience.join(' or ')}`);
    }
  }
  return findings;
}

// ---------------------------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------------------------

interface Report {
  readonly source: string;
  readonly token: TokenClassification;
  readonly verification: (VerifyResult & { checked: boolean }) | undefined;
  readonly limits: readonly TokenLimit[];
  readonly apiAudiences: readonly string[];
  readonly findings: readonly TokenFinding[];
}

function iso(seconds: number | undefined): string | undefined {
  if (seconds === undefined) return undefined;
  const d = new Date(seconds * 1000);
  return Number.isNaN(d.getTime()) ? String(seconds) : d.toISOString().replace('.000Z', 'Z');
}

function jsonReport(r: Report) {
  const t = r.token;
  return {
    source: r.source,
    kind: t.kind,
    issuer: t.issuer,
    subject: t.subject,
    namespace: t.namespace,
    serviceAccount: t.serviceAccount,
    boundObject: t.boundObject,
    node: t.node,
    secretName: t.secretName,
    algorithm: t.algorithm,
    keyId: t.keyId,
    jti: t.jti,
    audiences: t.audiences,
    apiAudiences: r.apiAudiences,
    issuedAt: iso(t.issuedAt),
    notBefore: iso(t.notBefore),
    expiresAt: iso(t.expiresAt),
    remainingSeconds: t.remainingSeconds,
    lifetimeSeconds: t.lifetimeSeconds,
    warnAfter: iso(t.warnAfter),
    extended: t.extended,
    intendedLifetimeSeconds: t.intendedLifetimeSeconds,
    warnRemainingSeconds: t.warnRemainingSeconds,
    signature: r.verification
      ? {
          checked: r.verification.checked,
          verified: r.verification.verified,
          reason: r.verification.reason,
          keySource: r.verification.keySource,
        }
      : { checked: false, verified: false, reason: 'no keys given (--jwks or an https --issuer)' },
    limits: r.limits,
    problems: t.problems,
    findings: r.findings,
  };
}

function textReport(r: Report): string {
  const t = r.token;
  const lines: [string, string | undefined][] = [];
  const refText = (o: { name: string; uid?: string } | undefined) =>
    o ? `${o.name}${o.uid ? ` (uid ${o.uid})` : ''}` : undefined;
  lines.push(['source', r.source]);
  lines.push(['kind', kindText(t)]);
  lines.push(['issuer', t.issuer]);
  lines.push(['subject', t.subject]);
  lines.push(['namespace', t.namespace]);
  lines.push(['service account', refText(t.serviceAccount)]);
  if (t.boundObject)
    lines.push([
      'bound object',
      `${t.boundObject.kind} ${t.boundObject.name}${t.boundObject.uid ? ` (uid ${t.boundObject.uid})` : ''}`,
    ]);
  if (t.node && t.boundObject?.kind !== 'Node') lines.push(['node', refText(t.node)]);
  if (t.secretName !== undefined) lines.push(['secret', t.secretName]);
  lines.push(['algorithm', t.algorithm ? `${t.algorithm}${t.keyId ? ` (kid ${t.keyId})` : ''}` : undefined]);
  lines.push(['issued', iso(t.issuedAt)]);
  if (t.notBefore !== undefined && t.notBefore !== t.issuedAt) lines.push(['not before', iso(t.notBefore)]);
  if (t.expiresAt === undefined) lines.push(['expires', 'never (no exp)']);
  else {
    const rem = t.remainingSeconds ?? 0;
    lines.push([
      'expires',
      `${iso(t.expiresAt)} (${rem > 0 ? `in ${duration(rem)}` : `expired ${duration(-rem)} ago`})`,
    ]);
  }
  if (t.lifetimeSeconds !== undefined)
    lines.push(['lifetime', `${t.lifetimeSeconds} s (${duration(t.lifetimeSeconds)})`]);
  if (t.warnAfter !== undefined) {
    const wr = t.warnRemainingSeconds ?? 0;
    lines.push([
      'warnafter',
      `${iso(t.warnAfter)} (${wr > 0 ? `in ${duration(wr)}` : `${duration(-wr)} ago`}): extended; requested for ${t.intendedLifetimeSeconds ?? '?'} s, accepted until exp, ${duration(t.lifetimeSeconds ?? 0)} after issue (later use is only audited as stale)`,
    ]);
  }
  lines.push([
    'audiences',
    t.audiences.length === 0
      ? '(none)'
      : t.audiences.map((a) => (isApiAudience(a, r.apiAudiences) ? `${a} (API server)` : a)).join(', '),
  ]);
  if (t.jti !== undefined) lines.push(['token id (jti)', t.jti]);
  const v = r.verification;
  lines.push([
    'signature',
    !v
      ? 'not checked (give --jwks FILE|URL or an https --issuer)'
      : v.verified
        ? `verified${v.keySource ? ` with keys from ${v.keySource}` : ''}`
        : v.checked
          ? `NOT verified: ${v.reason ?? 'unknown reason'}`
          : `not checked: ${v.reason ?? 'keys unavailable'}`,
  ]);
  for (const l of r.limits) {
    const parts: string[] = [];
    if (l.maxExpirationSeconds !== undefined) parts.push(`max ${l.maxExpirationSeconds} s`);
    if (l.allowedAudiences !== undefined) parts.push(`audiences ${l.allowedAudiences.join(', ') || '(none)'}`);
    lines.push(['limit', `${parts.join('; ')} from ${l.source}${l.level === 'warning' ? ' (Audit)' : ''}`]);
  }
  const width = Math.max(...lines.map(([k]) => k.length)) + 2;
  let out = '';
  for (const [k, val] of lines) if (val !== undefined) out += `${`${k}:`.padEnd(width)}${val}\n`;
  if (r.findings.length === 0) out += 'findings: none\n';
  else {
    out += 'findings:\n';
    for (const f of r.findings)
      out += `  ${f.level.toUpperCase().padEnd(8)}${f.code}: ${f.message}${f.source ? ` [${f.source}]` : ''}\n`;
  }
  return out;
}

function kindText(t: TokenClassification): string {
  switch (t.kind) {
    case 'legacy':
      return 'legacy (Secret-based, never expires)';
    case 'bound-pod':
      return 'bound to a pod';
    case 'bound-secret':
      return 'bound to a secret';
    case 'bound-node':
      return 'bound to a node';
    case 'unbound':
      return 'unbound (TokenRequest without a bound object)';
    default:
      return 'not a Kubernetes ServiceAccount token';
  }
}
