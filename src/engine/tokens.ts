/**
 * Understanding ServiceAccount tokens without verifying them: decoding a JWT defensively, and
 * telling the kinds apart (docs/tokens.md "Token claims", "Extension to a year").
 *
 * Pure: no I/O, no clock (`now` is passed in), no logging. Nothing here returns or reports the
 * token text or its signature; results carry claims-derived facts only.
 */
import { API_TOKEN_DEFAULT_EXPIRATION_SECONDS, EXTENDED_EXPIRATION_SECONDS } from '../constants.js';
import { quoted } from './messages.js';

/** Tokens longer than this are refused before any decoding. Real ServiceAccount tokens are 1–2 KiB. */
export const MAX_TOKEN_LENGTH = 16 * 1024;

/** `iss` of legacy, Secret-based tokens (docs/tokens.md "Token claims", `LegacyIssuer`). */
export const LEGACY_ISSUER = 'kubernetes/serviceaccount';

/** The private claims of a legacy token (`LegacyClaims`). */
const LEGACY_CLAIMS = {
  namespace: 'kubernetes.io/serviceaccount/namespace',
  secretName: 'kubernetes.io/serviceaccount/secret.name',
  serviceAccountName: 'kubernetes.io/serviceaccount/service-account.name',
  serviceAccountUid: 'kubernetes.io/serviceaccount/service-account.uid',
} as const;

/** The private claim of bound tokens (docs/tokens.md "Token claims"). */
const KUBERNETES_CLAIM = 'kubernetes.io';

/** `sub` prefix of ServiceAccount tokens (`MakeUsername`). */
const SERVICE_ACCOUNT_SUBJECT_PREFIX = 'system:serviceaccount:';

/** A decoded JSON object (JWS header or JWT claims set). */
export type JsonRecord = Record<string, unknown>;

export type DecodeFailure =
  | 'empty'
  | 'too-large'
  | 'not-three-parts'
  | 'bad-base64url'
  | 'bad-utf8'
  | 'header-not-json'
  | 'claims-not-json'
  | 'header-not-object'
  | 'claims-not-object';

export type DecodeResult =
  | {
      readonly ok: true;
      readonly header: JsonRecord;
      readonly claims: JsonRecord;
      /** Whether the third part is non-empty. The signature itself is never returned. */
      readonly signed: boolean;
    }
  | { readonly ok: false; readonly code: DecodeFailure; readonly reason: string };

const BASE64URL = /^[A-Za-z0-9_-]*$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Decodes a compact JWS/JWT (header and claims) without verifying it. Never throws. Refuses
 * anything over {@link MAX_TOKEN_LENGTH} characters before looking at it, anything that is not
 * three base64url parts, and header or claims that are not JSON objects. Surrounding whitespace
 * and a leading `Bearer ` are ignored. Failure reasons never quote the input.
 */
export function decodeToken(token: string): DecodeResult {
  const fail = (code: DecodeFailure, reason: string): DecodeResult => ({ ok: false, code, reason });
  if (typeof token !== 'string') return fail('empty', 'not a string');
  // Cheap refusal first: trimming or splitting a huge input is work an attacker chose.
  if (token.length > MAX_TOKEN_LENGTH + 64) return fail('too-large', `token is over ${MAX_TOKEN_LENGTH} bytes`);
  let t = token.trim();
  if (/^bearer\s+/i.test(t)) t = t.replace(/^bearer\s+/i, '');
  if (t.length === 0) return fail('empty', 'empty token');
  if (t.length > MAX_TOKEN_LENGTH) return fail('too-large', `token is over ${MAX_TOKEN_LENGTH} bytes`);
  const parts = t.split('.');
  if (parts.length !== 3) return fail('not-three-parts', `a JWT has 3 dot-separated parts; this has ${parts.length}`);
  const [h, c, s] = parts as [string, string, string];
  if (!BASE64URL.test(h) || !BASE64URL.test(c) || !BASE64URL.test(s))
    return fail('bad-base64url', 'a part is not base64url');
  if (h.length % 4 === 1 || c.length % 4 === 1 || s.length % 4 === 1)
    return fail('bad-base64url', 'a part has an impossible base64url length');
  const header = parseJsonPart(h);
  if (header === 'bad-utf8') return fail('bad-utf8', 'the header is not UTF-8');
  if (header === 'not-json') return fail('header-not-json', 'the header is not JSON');
  if (header === 'not-object') return fail('header-not-object', 'the header is not a JSON object');
  const claims = parseJsonPart(c);
  if (claims === 'bad-utf8') return fail('bad-utf8', 'the claims are not UTF-8');
  if (claims === 'not-json') return fail('claims-not-json', 'the claims are not JSON');
  if (claims === 'not-object') return fail('claims-not-object', 'the claims are not a JSON object');
  return { ok: true, header, claims, signed: s.length > 0 };
}

function parseJsonPart(part: string): JsonRecord | 'bad-utf8' | 'not-json' | 'not-object' {
  let text: string;
  try {
    text = utf8.decode(Buffer.from(part, 'base64url'));
  } catch {
    return 'bad-utf8';
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'not-json';
  }
  return isRecord(value) ? value : 'not-object';
}

function isRecord(v: unknown): v is JsonRecord {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export type TokenKind = 'legacy' | 'bound-pod' | 'bound-secret' | 'bound-node' | 'unbound' | 'not-kubernetes';

export interface ObjectRef {
  readonly name: string;
  readonly uid?: string;
}

export interface BoundObject {
  readonly kind: 'Pod' | 'Secret' | 'Node';
  readonly name: string;
  readonly uid: string;
}

/**
 * What a token is, from its claims. Times are NumericDate (seconds since the epoch), as in the
 * JWT; durations are seconds. `remainingSeconds` is negative once the token has expired.
 */
export interface TokenClassification {
  readonly kind: TokenKind;
  readonly issuer?: string;
  readonly subject?: string;
  readonly namespace?: string;
  readonly serviceAccount?: ObjectRef;
  /** The object a bound token dies with: its pod, secret, or (for node-bound tokens) node. */
  readonly boundObject?: BoundObject;
  /** The node of a pod-bound token (ServiceAccountTokenPodNodeInfo), or of a node-bound one. */
  readonly node?: ObjectRef;
  /** The Secret a legacy token was minted for (`kubernetes.io/serviceaccount/secret.name`). */
  readonly secretName?: string;
  readonly issuedAt?: number;
  readonly notBefore?: number;
  readonly expiresAt?: number;
  readonly remainingSeconds?: number;
  /** `exp - iat` (or `exp - nbf`): how long the token is accepted. */
  readonly lifetimeSeconds?: number;
  readonly audiences: string[];
  /** `kubernetes.io.warnafter`: after it, use of the token is audited as stale. */
  readonly warnAfter?: number;
  /**
   * The API server stretched a 3607 s token to a year (docs/tokens.md "Extension to a year"). Such a token is accepted
   * until `exp`; its intended bound is `warnAfter` (`intendedLifetimeSeconds`).
   */
  readonly extended: boolean;
  /** For an extended token: `warnafter - iat`, normally 3607. */
  readonly intendedLifetimeSeconds?: number;
  /** Seconds until `warnafter`; negative once past it. */
  readonly warnRemainingSeconds?: number;
  readonly jti?: string;
  /** The header's `alg` and `kid` (public; the `kid` is a hash of the signing key, docs/tokens.md "Signatures and discovery"). */
  readonly algorithm?: string;
  readonly keyId?: string;
  /** Inconsistencies in the claims (the API server would reject or mistrust such a token). */
  readonly problems: string[];
}

export interface ClassifyOptions {
  readonly now: Date;
}

/**
 * Classifies a decoded token (docs/tokens.md "Token claims"). A token is
 * `legacy` when its issuer is `kubernetes/serviceaccount` or it carries the legacy private
 * claims; bound kinds follow the `kubernetes.io` claim (pod wins over node: a pod-bound token
 * may also name its node); a `kubernetes.io` claim with no bound object is `unbound` (a plain
 * `kubectl create token`); anything else is `not-kubernetes`.
 */
export function classifyToken(claims: JsonRecord, header: JsonRecord, options: ClassifyOptions): TokenClassification {
  const nowSeconds = Math.floor(options.now.getTime() / 1000);
  const problems: string[] = [];
  const issuer = str(claims.iss);
  const subject = str(claims.sub);
  const audiences = audiencesOf(claims.aud);
  const iat = numericDate(claims, 'iat', problems);
  const nbf = numericDate(claims, 'nbf', problems);
  const exp = numericDate(claims, 'exp', problems);
  const jti = str(claims.jti);
  const times = timing(iat, nbf, exp, nowSeconds);
  const algorithm = str(header.alg);
  const keyId = str(header.kid);
  if (algorithm === undefined) problems.push('the header has no alg');
  else if (algorithm.toLowerCase() === 'none') problems.push('unsigned token (alg none)');
  const base = { issuer, subject, audiences, jti, algorithm, keyId, ...times };

  const legacyNamespace = str(claims[LEGACY_CLAIMS.namespace]);
  const legacySaName = str(claims[LEGACY_CLAIMS.serviceAccountName]);
  const legacySaUid = str(claims[LEGACY_CLAIMS.serviceAccountUid]);
  const legacySecret = str(claims[LEGACY_CLAIMS.secretName]);
  const hasLegacyClaims = [legacyNamespace, legacySaName, legacySaUid, legacySecret].some((v) => v !== undefined);
  const k8s = claims[KUBERNETES_CLAIM];

  if (issuer === LEGACY_ISSUER || (hasLegacyClaims && !isRecord(k8s))) {
    if (issuer !== LEGACY_ISSUER)
      problems.push(`legacy claims with issuer ${quoted(issuer ?? null)}, not ${LEGACY_ISSUER}`);
    for (const [what, key] of Object.entries(LEGACY_CLAIMS)) {
      if (str(claims[key]) === undefined) problems.push(`legacy claim ${key} (${what}) is missing`);
    }
    if (exp !== undefined) problems.push('a legacy token has no exp, but this one does');
    checkSubject(subject, legacyNamespace, legacySaName, problems);
    return {
      kind: 'legacy',
      ...base,
      namespace: legacyNamespace,
      serviceAccount: legacySaName !== undefined ? ref(legacySaName, legacySaUid) : undefined,
      secretName: legacySecret,
      extended: false,
      problems,
    };
  }

  if (!isRecord(k8s)) {
    if (subject?.startsWith(SERVICE_ACCOUNT_SUBJECT_PREFIX)) {
      problems.push(`subject is a ServiceAccount but the ${KUBERNETES_CLAIM} claim is missing`);
    }
    return { kind: 'not-kubernetes', ...base, extended: false, problems };
  }

  const namespace = str(k8s.namespace);
  const sa = objectRef(k8s.serviceaccount);
  const pod = objectRef(k8s.pod);
  const secret = objectRef(k8s.secret);
  const node = objectRef(k8s.node);
  if (namespace === undefined) problems.push(`${KUBERNETES_CLAIM}.namespace is missing`);
  if (sa === undefined) problems.push(`${KUBERNETES_CLAIM}.serviceaccount is missing`);
  checkSubject(subject, namespace, sa?.name, problems);
  if (secret && (pod || node)) problems.push('bound to a secret and to a pod or node at once');

  let kind: TokenKind = 'unbound';
  let boundObject: BoundObject | undefined;
  if (pod) {
    kind = 'bound-pod';
    boundObject = { kind: 'Pod', name: pod.name, uid: pod.uid ?? '' };
  } else if (secret) {
    kind = 'bound-secret';
    boundObject = { kind: 'Secret', name: secret.name, uid: secret.uid ?? '' };
  } else if (node) {
    kind = 'bound-node';
    boundObject = { kind: 'Node', name: node.name, uid: node.uid ?? '' };
  }
  if (boundObject && boundObject.uid === '')
    problems.push(`${KUBERNETES_CLAIM}.${boundObject.kind.toLowerCase()}.uid is missing`);

  let warnAfter: number | undefined;
  const rawWarn = k8s.warnafter;
  if (rawWarn !== undefined) {
    if (typeof rawWarn === 'number' && Number.isFinite(rawWarn)) warnAfter = Math.floor(rawWarn);
    else problems.push(`${KUBERNETES_CLAIM}.warnafter is not a NumericDate`);
  }
  const extended = warnAfter !== undefined;
  let intendedLifetimeSeconds: number | undefined;
  let warnRemainingSeconds: number | undefined;
  if (warnAfter !== undefined) {
    const start = iat ?? nbf;
    if (start !== undefined) intendedLifetimeSeconds = warnAfter - start;
    warnRemainingSeconds = warnAfter - nowSeconds;
    if (kind !== 'bound-pod')
      problems.push('warnafter on a token that is not pod-bound (only pod-bound tokens are extended)');
    if (exp !== undefined && warnAfter > exp) problems.push('warnafter is after exp');
    if (intendedLifetimeSeconds !== undefined && intendedLifetimeSeconds !== API_TOKEN_DEFAULT_EXPIRATION_SECONDS) {
      problems.push(
        `warnafter is ${intendedLifetimeSeconds} s after issue, not ${API_TOKEN_DEFAULT_EXPIRATION_SECONDS} s`,
      );
    }
    if (times.lifetimeSeconds !== undefined && times.lifetimeSeconds !== EXTENDED_EXPIRATION_SECONDS) {
      problems.push(
        `extended token lives ${times.lifetimeSeconds} s, not ${EXTENDED_EXPIRATION_SECONDS} s (an external signer, or a newer API server, may differ)`,
      );
    }
  }
  if (exp === undefined) problems.push('a bound token always has exp, but this one has none');

  return {
    kind,
    ...base,
    namespace,
    serviceAccount: sa,
    boundObject,
    node: node ?? undefined,
    warnAfter,
    extended,
    intendedLifetimeSeconds,
    warnRemainingSeconds,
    problems,
  };
}

function timing(iat: number | undefined, nbf: number | undefined, exp: number | undefined, now: number) {
  const start = iat ?? nbf;
  return {
    issuedAt: iat,
    notBefore: nbf,
    expiresAt: exp,
    remainingSeconds: exp !== undefined ? exp - now : undefined,
    lifetimeSeconds: exp !== undefined && start !== undefined ? exp - start : undefined,
  };
}

function checkSubject(
  subject: string | undefined,
  namespace: string | undefined,
  name: string | undefined,
  problems: string[],
): void {
  if (subject === undefined) {
    problems.push('sub is missing');
    return;
  }
  if (
    namespace !== undefined &&
    name !== undefined &&
    subject !== `${SERVICE_ACCOUNT_SUBJECT_PREFIX}${namespace}:${name}`
  ) {
    problems.push(`sub does not name ServiceAccount ${namespace}/${name}`);
  }
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function ref(name: string, uid: string | undefined): ObjectRef {
  return uid !== undefined ? { name, uid } : { name };
}

function objectRef(v: unknown): ObjectRef | undefined {
  if (!isRecord(v)) return undefined;
  const name = str(v.name);
  if (name === undefined) return undefined;
  return ref(name, str(v.uid));
}

function audiencesOf(aud: unknown): string[] {
  if (typeof aud === 'string') return [aud];
  if (Array.isArray(aud)) return aud.filter((a): a is string => typeof a === 'string');
  return [];
}

function numericDate(claims: JsonRecord, key: 'iat' | 'nbf' | 'exp', problems: string[]): number | undefined {
  const v = claims[key];
  if (v === undefined) return undefined;
  if (typeof v === 'number' && Number.isFinite(v)) return Math.floor(v);
  problems.push(`${key} is not a NumericDate`);
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Finding legacy tokens inside arbitrary data (smuggled tokens in Secrets).
// ---------------------------------------------------------------------------------------------

/**
 * Candidates decoded per scan, whatever the input size. Only JWT-shaped runs whose payload
 * passes a cheap substring test (it encodes `/serviceaccount`, which both the legacy issuer and
 * the legacy claim names contain, and bound tokens do not) count, so ordinary data and bound
 * tokens never use it up. A scan that reaches the cap is reported as incomplete.
 */
export const MAX_SCAN_CANDIDATES = 64;

/** Maximal runs of JWT characters. Linear: the class includes the dot, so no backtracking between parts. */
const JWT_CHAR_RUN = /[A-Za-z0-9_.-]{30,}/g;
/** Maximal runs of base64 (either alphabet) that may hide an encoded JWT one level down. */
const BASE64_RUN = /[A-Za-z0-9+/_-]{40,}={0,2}/g;
/**
 * Lines that hold nothing but base64 (after any indentation), for base64 wrapped over several
 * lines (docs/policies.md): GNU `base64` writes 76 characters a line, `openssl base64` and PEM 64, with `\n` or
 * `\r\n` between them. Only a line's start can begin a match and the line is read once, so
 * this is linear too.
 */
const BASE64_LINE = /(?:^|\n)[ \t]*([A-Za-z0-9+/_-]+={0,2})\r?(?=\n|$)/g;

/**
 * The base64url text that `needle` encodes to at each of the three byte alignments, trimmed to
 * the characters that depend on the needle alone: a payload that contains the needle contains
 * one of these.
 */
function base64urlFragments(needle: string): string[] {
  const bytes = Buffer.from(needle, 'utf8');
  return [0, 1, 2].map((k) => {
    const encoded = Buffer.concat([Buffer.alloc(k), bytes]).toString('base64url');
    return encoded.slice(Math.ceil((4 * k) / 3), Math.floor((4 * (k + bytes.length)) / 3));
  });
}
const SERVICEACCOUNT_FRAGMENTS = base64urlFragments('/serviceaccount');

/** What a scan found: subjects only, and whether it looked at every candidate. */
export interface LegacyTokenScan {
  readonly subjects: string[];
  /** False when the candidate cap was reached: the rest of the input was not examined. */
  readonly complete: boolean;
}

interface ScanBudget {
  candidates: number;
  exhausted: boolean;
  /** Base64 characters decoded so far (for the work bound; see {@link ScanStats}). */
  decoded: number;
}

/** What a scan did, for tests of its work bound. */
export interface ScanStats {
  /** Base64 characters decoded: at most twice the text's length (single lines, then wrapped blocks). */
  decodedCharacters: number;
}

/**
 * True when `text` contains a Kubernetes legacy ServiceAccount JWT (docs/tokens.md "Token claims": issuer
 * `kubernetes/serviceaccount` or the legacy claims, no `exp`) anywhere: bare, inside a
 * kubeconfig, an `.env` file, a JSON document, or base64-encoded one level down (a pasted token
 * Secret's YAML). Linear in the text; at most {@link MAX_SCAN_CANDIDATES} candidates are decoded.
 * Fails closed: a text with more suspicious candidates than that is reported as holding one.
 * Returns only a boolean; the token is neither returned nor logged.
 */
export function isLegacyServiceAccountJwt(text: string): boolean {
  const scan = scanForLegacyTokens(text, 1);
  return scan.subjects.length > 0 || !scan.complete;
}

/** The subjects of the legacy tokens in `text` (at most `limit`), never the tokens. */
export function scanForLegacyTokens(text: string, limit = 16, stats?: ScanStats): LegacyTokenScan {
  const budget: ScanBudget = { candidates: MAX_SCAN_CANDIDATES, exhausted: false, decoded: 0 };
  const subjects = scanLegacyTokens(text, budget, limit);
  if (stats) stats.decodedCharacters = budget.decoded;
  return { subjects, complete: !budget.exhausted };
}

function scanLegacyTokens(text: string, budget: ScanBudget, limit: number): string[] {
  const hits: string[] = [];
  if (typeof text !== 'string') return hits;
  scanText(text, budget, limit, hits);
  // One level of base64 below: a Secret value holding, e.g., `kubectl get secret -o yaml` output.
  const decode = (b64: string) => {
    budget.decoded += b64.length;
    scanText(Buffer.from(b64.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('latin1'), budget, limit, hits);
  };
  for (const m of text.matchAll(BASE64_RUN)) {
    if (hits.length >= limit || budget.exhausted) return hits;
    decode(m[0]);
  }
  if (!text.includes('\n')) return hits;
  // The same, wrapped over lines: consecutive base64-only lines form one block while each line
  // but the last has a whole number of 4-character groups and no padding (a wrapped encoding
  // keeps that alignment; a line that breaks it is the block's last).
  let block: string[] = [];
  let blockEnd = -1;
  let open = false;
  const flush = () => {
    if (block.length > 1) decode(block.join(''));
    block = [];
  };
  for (const m of text.matchAll(BASE64_LINE)) {
    if (hits.length >= limit || budget.exhausted) return hits;
    const line = m[1] as string;
    if (!open || m.index !== blockEnd) flush();
    block.push(line);
    blockEnd = m.index + m[0].length;
    open = line.length % 4 === 0 && !line.endsWith('=');
    if (!open) flush();
  }
  if (!budget.exhausted && hits.length < limit) flush();
  return hits;
}

function scanText(text: string, budget: ScanBudget, limit: number, hits: string[]): void {
  if (!text.includes('eyJ')) return;
  for (const m of text.matchAll(JWT_CHAR_RUN)) {
    if (hits.length >= limit || budget.exhausted) return;
    const run = m[0];
    const start = run.indexOf('eyJ');
    if (start < 0) continue;
    // segments[0] holds the header (possibly after junk glued in front); the payload is exactly
    // segments[1]. One candidate per run keeps the work linear.
    const segments = run.slice(start).split('.', 4);
    if (segments.length < 3) continue;
    const [h, p, s] = segments as [string, string, string];
    if (!p.startsWith('eyJ') || !SERVICEACCOUNT_FRAGMENTS.some((f) => p.includes(f))) continue;
    if (h.length + p.length + s.length + 2 > MAX_TOKEN_LENGTH) continue;
    if (budget.candidates <= 0) {
      budget.exhausted = true;
      return;
    }
    budget.candidates--;
    const subject = legacySubject(h, p);
    if (subject !== undefined && !hits.includes(subject)) hits.push(subject);
  }
}

function legacySubject(headerPart: string, payloadPart: string): string | undefined {
  const claims = parseJsonPart(payloadPart);
  if (typeof claims === 'string') return undefined;
  if (claims.exp !== undefined) return undefined;
  if (claims.iss !== LEGACY_ISSUER && typeof claims[LEGACY_CLAIMS.namespace] !== 'string') return undefined;
  if (isRecord(claims[KUBERNETES_CLAIM])) return undefined;
  // The header must be a JSON object too (junk may be glued before it: try the last "eyJ" as well).
  if (typeof parseJsonPart(headerPart) === 'string') {
    const last = headerPart.lastIndexOf('eyJ');
    if (last <= 0 || typeof parseJsonPart(headerPart.slice(last)) === 'string') return undefined;
  }
  const sub = str(claims.sub);
  if (sub !== undefined) return sub;
  const ns = str(claims[LEGACY_CLAIMS.namespace]) ?? '?';
  const name = str(claims[LEGACY_CLAIMS.serviceAccountName]) ?? '?';
  return `${SERVICE_ACCOUNT_SUBJECT_PREFIX}${ns}:${name}`;
}

export interface LegacyTokenFinding {
  /** The data (or stringData) key whose value holds the token. */
  readonly key: string;
  /** `system:serviceaccount:<ns>:<name>` as the token claims it; `unknown` when `incomplete`. */
  readonly subject: string;
  /**
   * The value held more suspicious token-like strings than are examined
   * ({@link MAX_SCAN_CANDIDATES}); reported so that a policy fails closed on it.
   */
  readonly incomplete?: true;
}

/** Findings returned per Secret, at most. */
const MAX_SECRET_FINDINGS = 32;

/**
 * Legacy ServiceAccount tokens inside a Secret's `data` (base64 values, as the API carries them)
 * and `stringData`. Returns keys and subjects only, never token text; at most
 * {@link MAX_SECRET_FINDINGS}. Each value is scanned as {@link isLegacyServiceAccountJwt} does,
 * with one candidate budget for the whole Secret; when it runs out, the value being scanned is
 * reported with `incomplete: true` and the rest is not scanned. Non-string values are ignored.
 */
export function findLegacyTokens(
  data: Readonly<Record<string, unknown>> | undefined,
  stringData?: Readonly<Record<string, unknown>>,
): LegacyTokenFinding[] {
  const out: LegacyTokenFinding[] = [];
  const budget: ScanBudget = { candidates: MAX_SCAN_CANDIDATES, exhausted: false, decoded: 0 };
  const scan = (key: string, text: string): boolean => {
    for (const subject of scanLegacyTokens(text, budget, MAX_SECRET_FINDINGS - out.length)) {
      if (!out.some((f) => f.key === key && f.subject === subject)) out.push({ key, subject });
    }
    if (budget.exhausted) out.push({ key, subject: 'unknown', incomplete: true });
    return !budget.exhausted && out.length < MAX_SECRET_FINDINGS;
  };
  for (const [key, value] of entries(data)) {
    if (typeof value === 'string' && !scan(key, Buffer.from(value, 'base64').toString('latin1'))) return out;
  }
  for (const [key, value] of entries(stringData)) {
    if (typeof value === 'string' && !scan(key, value)) return out;
  }
  return out;
}

function entries(o: Readonly<Record<string, unknown>> | undefined): [string, unknown][] {
  return isRecord(o) ? Object.entries(o) : [];
}
