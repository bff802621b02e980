/**
 * Verifying ServiceAccount token signatures with jose, against a JWKS given inline, read from a
 * file, or fetched from a cluster (its `/openid/v1/jwks`, or OIDC discovery from the issuer).
 * Only the algorithms Kubernetes signs with are accepted (docs/tokens.md "Signatures and discovery"): never `none`,
 * never an HMAC. Nothing here logs, and no result or error message quotes the token.
 */
import { createHash, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import {
  type CompactVerifyGetKey,
  type CryptoKey,
  compactVerify,
  createLocalJWKSet,
  errors,
  type JSONWebKeySet,
  type JWK,
  jwtVerify,
  type KeyObject,
} from 'jose';
import { decodeToken, LEGACY_ISSUER } from '../engine/tokens.js';

/** RSA keys sign RS256, ECDSA keys ES256/ES384/ES512 (docs/tokens.md "Signatures and discovery"). */
const ALLOWED_ALGORITHMS = ['RS256', 'ES256', 'ES384', 'ES512'] as const;

/** OIDC discovery path (docs/tokens.md "Signatures and discovery"). */
const OPENID_CONFIG_PATH = '/.well-known/openid-configuration';

/** Largest JWKS or discovery document read from the network or a file. */
const MAX_KEYS_DOCUMENT_BYTES = 1024 * 1024;

export interface VerifyOptions {
  /**
   * The keys: a JWKS object, or a URL that serves a JWKS (`https://<apiserver>/openid/v1/jwks`),
   * an OIDC discovery document, or is an issuer (then `<issuer>/.well-known/openid-configuration`
   * is read and its `jwks_uri` followed). Without it, an `https` `issuer` is discovered.
   */
  readonly jwks?: JSONWebKeySet | URL;
  /** Expected `iss`. Legacy tokens (issuer `kubernetes/serviceaccount`) are accepted with any. */
  readonly issuer?: string;
  /** Expected audience: the token's `aud` must contain one. */
  readonly audience?: string | readonly string[];
  readonly now: Date;
  /** CA bundle (PEM file) for https to a cluster. */
  readonly caFile?: string;
  /** CA bundle (PEM) for https to a cluster, in place of `caFile`. */
  readonly ca?: string;
  /**
   * Bearer token for the JWKS/discovery requests: sent over https only, and only to the origin of
   * `jwks` (or `issuer`), not to a `jwks_uri` elsewhere.
   */
  readonly bearerToken?: string;
  /** Per-request network timeout. Default 5000 ms. */
  readonly timeoutMs?: number;
  /** Allowed clock skew for exp/nbf/iat. Default 0. */
  readonly clockToleranceSeconds?: number;
}

export interface VerifyResult {
  readonly verified: boolean;
  /** Why verification failed (never quotes the token). */
  readonly reason?: string;
  /** True when the keys could not be obtained (unreadable file, network error): nothing was checked. */
  readonly keysUnavailable?: boolean;
  /** Where the keys came from: `inline`, or the URL actually fetched (without credentials). */
  readonly keySource?: string;
  readonly algorithm?: string;
  readonly keyId?: string;
}

/**
 * Verifies a token's signature and standard claims at `now`. Tokens with `exp` go through
 * `jwtVerify` (exp, nbf, iss, aud); tokens without it (legacy ones, docs/tokens.md "Token claims") through
 * `compactVerify`, with iss, aud and nbf checked here. Never throws.
 */
export async function verifyToken(token: string, options: VerifyOptions): Promise<VerifyResult> {
  const decoded = decodeToken(token);
  if (!decoded.ok) return { verified: false, reason: `not a JWT: ${decoded.reason}` };
  const alg = typeof decoded.header.alg === 'string' ? decoded.header.alg : undefined;
  const keyId = typeof decoded.header.kid === 'string' ? decoded.header.kid : undefined;
  const meta = { algorithm: alg, keyId };
  if (alg === undefined) return { verified: false, reason: 'the header has no alg', ...meta };
  if (!(ALLOWED_ALGORITHMS as readonly string[]).includes(alg)) {
    return {
      verified: false,
      reason: `algorithm ${JSON.stringify(alg)} is not accepted (only ${ALLOWED_ALGORITHMS.join(', ')})`,
      ...meta,
    };
  }
  if (!decoded.signed) return { verified: false, reason: 'the token has no signature', ...meta };

  let keys: { jwks: JSONWebKeySet; source: string };
  try {
    keys = await resolveKeys(options);
  } catch (e) {
    return { verified: false, keysUnavailable: true, reason: errorMessage(e), ...meta };
  }
  let keySet: CompactVerifyGetKey;
  try {
    keySet = createLocalJWKSet(keys.jwks);
  } catch (e) {
    return {
      verified: false,
      keysUnavailable: true,
      keySource: keys.source,
      reason: `invalid key set: ${errorMessage(e)}`,
      ...meta,
    };
  }
  const withSource = { keySource: keys.source, ...meta };
  const tolerance = options.clockToleranceSeconds ?? 0;
  const nowSeconds = Math.floor(options.now.getTime() / 1000);
  const audience =
    options.audience === undefined
      ? undefined
      : typeof options.audience === 'string'
        ? options.audience
        : [...options.audience];
  const trimmed = token.trim().replace(/^bearer\s+/i, '');
  const hasExp = decoded.claims.exp !== undefined;
  const iat = decoded.claims.iat;
  if (typeof iat === 'number' && iat > nowSeconds + tolerance) {
    return { verified: false, reason: 'issued in the future (iat is after now)', ...withSource };
  }
  try {
    if (hasExp) {
      const jwtOptions = {
        algorithms: [...ALLOWED_ALGORITHMS],
        currentDate: options.now,
        clockTolerance: tolerance,
        ...(options.issuer !== undefined ? { issuer: options.issuer } : {}),
        ...(audience !== undefined ? { audience } : {}),
      };
      await withEachKey(keySet, (key) =>
        typeof key === 'function' ? jwtVerify(trimmed, key, jwtOptions) : jwtVerify(trimmed, key, jwtOptions),
      );
    } else {
      // No exp: a legacy token. jwtVerify would pass it too, but its claim rules are not the
      // legacy ones (any issuer configured for the cluster accepts kubernetes/serviceaccount).
      const jwsOptions = { algorithms: [...ALLOWED_ALGORITHMS] };
      await withEachKey(keySet, (key) =>
        typeof key === 'function' ? compactVerify(trimmed, key, jwsOptions) : compactVerify(trimmed, key, jwsOptions),
      );
      const claims = decoded.claims;
      if (options.issuer !== undefined && claims.iss !== options.issuer && claims.iss !== LEGACY_ISSUER) {
        return { verified: false, reason: `signature valid, but iss is not ${options.issuer}`, ...withSource };
      }
      if (audience !== undefined) {
        const want = typeof audience === 'string' ? [audience] : audience;
        const have = typeof claims.aud === 'string' ? [claims.aud] : Array.isArray(claims.aud) ? claims.aud : [];
        if (!have.some((a) => want.includes(a))) {
          return {
            verified: false,
            reason:
              have.length === 0
                ? 'signature valid, but the token has no aud claim (legacy tokens carry none)'
                : 'signature valid, but aud does not include the expected audience',
            ...withSource,
          };
        }
      }
      if (typeof claims.nbf === 'number' && claims.nbf > nowSeconds + tolerance) {
        return { verified: false, reason: 'signature valid, but the token is not yet valid (nbf)', ...withSource };
      }
    }
  } catch (e) {
    return { verified: false, reason: joseReason(e), ...withSource };
  }
  return { verified: true, ...withSource };
}

type Key = CryptoKey | KeyObject | Uint8Array;

/** Runs `verify` with the key the set selects; when several keys match (no `kid`), tries each. */
async function withEachKey<T>(
  keySet: CompactVerifyGetKey,
  verify: (key: Key | CompactVerifyGetKey) => Promise<T>,
): Promise<T> {
  try {
    return await verify(keySet);
  } catch (e) {
    if (!(e instanceof errors.JWKSMultipleMatchingKeys)) throw e;
    let last: unknown = new errors.JWSSignatureVerificationFailed();
    for await (const key of e as unknown as AsyncIterable<Key>) {
      try {
        return await verify(key);
      } catch (inner) {
        last = inner;
        if (!(inner instanceof errors.JWSSignatureVerificationFailed)) break; // the claims failed: same for every key
      }
    }
    throw last;
  }
}

function joseReason(e: unknown): string {
  if (e instanceof errors.JWSSignatureVerificationFailed) return 'signature does not match the key';
  if (e instanceof errors.JWKSNoMatchingKey) return 'no key in the key set matches the token (kid and alg)';
  if (e instanceof errors.JWTExpired) return `expired (${e.message})`;
  if (e instanceof errors.JWTClaimValidationFailed) return `claim check failed: ${e.message}`;
  if (e instanceof errors.JOSEAlgNotAllowed) return 'algorithm not accepted';
  if (e instanceof errors.JOSENotSupported) return `not supported: ${e.message}`;
  if (e instanceof errors.JWSInvalid || e instanceof errors.JWTInvalid) return `invalid token: ${e.message}`;
  return errorMessage(e);
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

// ---------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------

/**
 * Reads a key file: a JWKS (`{"keys": [...]}`), a single JWK, or PEM public keys / certificates
 * (e.g. the cluster's `sa.pub`). Throws with a message naming the file.
 */
export function readKeysFile(path: string): JSONWebKeySet {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`${path}: cannot read: ${(e as NodeJS.ErrnoException).code ?? errorMessage(e)}`);
  }
  if (text.length > MAX_KEYS_DOCUMENT_BYTES) throw new Error(`${path}: over ${MAX_KEYS_DOCUMENT_BYTES} bytes`);
  try {
    return parseKeys(text);
  } catch (e) {
    throw new Error(`${path}: ${errorMessage(e)}`);
  }
}

/**
 * Parses JWKS JSON, one JWK, or PEM public keys / certificates into a JWKS. PEM keys get the
 * `kid` Kubernetes computes for them, so tokens signed with them find their key.
 */
export function parseKeys(text: string): JSONWebKeySet {
  if (text.includes('-----BEGIN')) {
    const blocks = text.match(/-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g) ?? [];
    const keys: JWK[] = [];
    for (const pem of blocks) {
      if (/PRIVATE KEY/.test(pem)) throw new Error('holds a private key; give the public key');
      const key = createPublicKey(pem);
      // The kid the API server puts in tokens: base64url SHA-256 of the PKIX DER key.
      const kid = createHash('sha256')
        .update(key.export({ format: 'der', type: 'spki' }))
        .digest('base64url');
      keys.push({ ...(key.export({ format: 'jwk' }) as JWK), kid, use: 'sig' });
    }
    if (keys.length === 0) throw new Error('no PEM public key found');
    return { keys };
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new Error('neither JSON (JWKS) nor PEM');
  }
  return jwksFromDocument(doc);
}

function jwksFromDocument(doc: unknown): JSONWebKeySet {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new Error('not a JSON object');
  const o = doc as Record<string, unknown>;
  if (Array.isArray(o.keys)) {
    for (const k of o.keys) {
      if (typeof k === 'object' && k !== null && ('d' in k || (k as { kty?: unknown }).kty === 'oct')) {
        throw new Error('the key set holds private or symmetric keys; give public keys only');
      }
    }
    return { keys: o.keys as JWK[] };
  }
  if (typeof o.kty === 'string') return jwksFromDocument({ keys: [o] });
  throw new Error('not a JWKS (no "keys" array)');
}

async function resolveKeys(options: VerifyOptions): Promise<{ jwks: JSONWebKeySet; source: string }> {
  const { jwks, issuer } = options;
  if (jwks instanceof URL) return fetchKeys(jwks, options);
  if (jwks !== undefined) return { jwks: jwksFromDocument(jwks), source: 'inline' };
  if (issuer !== undefined && /^https:\/\//i.test(issuer)) {
    return fetchKeys(new URL(issuer.replace(/\/+$/, '') + OPENID_CONFIG_PATH), options);
  }
  throw new Error('no keys: give a JWKS (file or URL) or an https issuer to discover them from');
}

/**
 * Fetches keys from `url`: a JWKS is taken as is; a discovery document's `jwks_uri` is followed
 * once; anything else (or a 404) is retried as an issuer, `<url>/.well-known/openid-configuration`.
 */
async function fetchKeys(url: URL, options: VerifyOptions): Promise<{ jwks: JSONWebKeySet; source: string }> {
  // The bearer token goes only to the origin the user named, not to wherever a discovery
  // document points.
  const follow = async (jwksUri: URL) => {
    const sameOrigin = jwksUri.origin === url.origin;
    const { bearerToken: _dropped, ...anonymous } = options;
    return {
      jwks: jwksFromDocument(await getJson(jwksUri, sameOrigin ? options : anonymous)),
      source: display(jwksUri),
    };
  };
  const first = await attempt(getJson(url, options));
  if (first.ok) {
    const keys = keysOrDiscovery(first.value);
    if (keys === 'jwks') return { jwks: jwksFromDocument(first.value), source: display(url) };
    if (keys instanceof URL) return follow(keys);
  }
  if (!url.pathname.endsWith(OPENID_CONFIG_PATH)) {
    const discovery = new URL(url.href);
    discovery.pathname = discovery.pathname.replace(/\/+$/, '') + OPENID_CONFIG_PATH;
    discovery.search = '';
    discovery.hash = '';
    const doc = await attempt(getJson(discovery, options));
    if (doc.ok) {
      const keys = keysOrDiscovery(doc.value);
      if (keys instanceof URL) return follow(keys);
    }
  }
  if (!first.ok) throw first.error;
  throw new Error(`${display(url)}: neither a JWKS nor an OpenID discovery document`);
}

async function attempt(p: Promise<unknown>): Promise<{ ok: true; value: unknown } | { ok: false; error: unknown }> {
  try {
    return { ok: true, value: await p };
  } catch (error) {
    return { ok: false, error };
  }
}

function keysOrDiscovery(doc: unknown): 'jwks' | URL | undefined {
  if (typeof doc !== 'object' || doc === null) return undefined;
  const o = doc as Record<string, unknown>;
  if (Array.isArray(o.keys)) return 'jwks';
  if (typeof o.jwks_uri === 'string') {
    try {
      return new URL(o.jwks_uri);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** A URL for messages: no credentials, no query. */
function display(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

/** GET `url` as JSON: http or https, one overall deadline, at most {@link MAX_KEYS_DOCUMENT_BYTES}. */
function getJson(url: URL, options: VerifyOptions): Promise<unknown> {
  const where = display(url);
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    return Promise.reject(new Error(`${where}: only http and https URLs are fetched`));
  let ca: string | undefined = options.ca;
  if (ca === undefined && options.caFile !== undefined) {
    try {
      ca = readFileSync(options.caFile, 'utf8');
    } catch (e) {
      return Promise.reject(
        new Error(`${options.caFile}: cannot read CA file: ${(e as NodeJS.ErrnoException).code ?? errorMessage(e)}`),
      );
    }
  }
  // The API server serves the JWKS as application/jwk-set+json and answers 406 to a request
  // that accepts only application/json.
  const headers: Record<string, string> = { accept: 'application/jwk-set+json, application/json, */*;q=0.1' };
  if (options.bearerToken !== undefined && url.protocol === 'https:')
    headers.authorization = `Bearer ${options.bearerToken}`;
  const timeoutMs = options.timeoutMs ?? 5000;
  return new Promise((resolve, reject) => {
    let settled = false;
    const done = (err: Error | undefined, value?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(value);
    };
    const onResponse = (res: http.IncomingMessage) => {
      if (res.statusCode !== 200) {
        res.resume();
        done(
          new Error(
            `${where}: HTTP ${res.statusCode ?? '?'}${res.statusCode === 401 || res.statusCode === 403 ? ' (the discovery endpoints need credentials unless anonymous access is allowed)' : ''}`,
          ),
        );
        req.destroy();
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_KEYS_DOCUMENT_BYTES) {
          done(new Error(`${where}: response over ${MAX_KEYS_DOCUMENT_BYTES} bytes`));
          req.destroy();
          return;
        }
        chunks.push(c);
      });
      res.on('end', () => {
        try {
          done(undefined, JSON.parse(Buffer.concat(chunks).toString('utf8')));
        } catch {
          done(new Error(`${where}: response is not JSON`));
        }
      });
      res.on('error', (e) => done(new Error(`${where}: ${e.message}`)));
    };
    const req =
      url.protocol === 'https:'
        ? https.request(url, { method: 'GET', headers, ...(ca !== undefined ? { ca } : {}) }, onResponse)
        : http.request(url, { method: 'GET', headers }, onResponse);
    const timer = setTimeout(() => {
      done(new Error(`${where}: timed out after ${timeoutMs} ms`));
      req.destroy();
    }, timeoutMs);
    req.on('error', (e) => done(new Error(`${where}: ${e.message}`)));
    req.end();
  });
}
