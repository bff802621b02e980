import { createHash } from 'node:crypto';
import { type CryptoKey, exportJWK, exportSPKI, generateKeyPair, type JSONWebKeySet, type JWK, SignJWT } from 'jose';

/** Fact 5.3's example token: issued, warn threshold (iat + 3607), expiry (iat + one year). */
export const IAT = 1700077413;
export const WARN_AFTER = 1700081020;
export const EXP_EXTENDED = 1731613413;

export const ISSUER = 'https://kubernetes.default.svc.cluster.local';

export interface SigningKey {
  readonly alg: 'RS256' | 'ES256';
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
  /** As the API server computes it: base64url SHA-256 of the PKIX DER public key (docs/tokens.md "Signatures and discovery"). */
  readonly kid: string;
  readonly jwk: JWK;
  readonly pem: string;
}

export async function signingKey(alg: 'RS256' | 'ES256'): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const pem = await exportSPKI(publicKey);
  const der = Buffer.from(pem.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
  const kid = createHash('sha256').update(der).digest('base64url');
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { alg, privateKey, publicKey, kid, jwk, pem };
}

/** The JWKS an API server serves at /openid/v1/jwks. */
export function jwksOf(...keys: SigningKey[]): JSONWebKeySet {
  return { keys: keys.map((k) => k.jwk) };
}

export async function sign(
  claims: Record<string, unknown>,
  key: SigningKey,
  header: Record<string, unknown> = {},
): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: key.alg, kid: key.kid, ...header }).sign(key.privateKey);
}

/** A default kube-api-access token with the one-year extension: the documented example payload (docs/tokens.md "Token claims"), shape for shape. */
export function boundPodClaims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    aud: [ISSUER],
    exp: EXP_EXTENDED,
    iat: IAT,
    iss: ISSUER,
    jti: 'b0a5dc3e-0c7a-4b93-9c2e-5f1d0e0f6a11',
    'kubernetes.io': {
      namespace: 'kube-system',
      node: { name: '127.0.0.1', uid: '58456cb0-dd00-45ed-b797-5578fdceaced' },
      pod: { name: 'coredns-69cbfb9798-jv9gn', uid: '778a530c-b3f4-47c0-9cd5-ab018fb64f33' },
      serviceaccount: { name: 'coredns', uid: 'a087d5a0-e1dd-43ec-93ac-f13d89cd13af' },
      warnafter: WARN_AFTER,
    },
    nbf: IAT,
    sub: 'system:serviceaccount:kube-system:coredns',
    ...overrides,
  };
}

/** A `kubectl create token --bound-object-kind Secret` token: one hour, audience vault. */
export function boundSecretClaims(): Record<string, unknown> {
  return {
    aud: ['vault'],
    exp: IAT + 3600,
    iat: IAT,
    iss: ISSUER,
    jti: '2a0d1c55-6a7b-4f5e-8e0f-7d0c6b6a5e41',
    'kubernetes.io': {
      namespace: 'ci',
      secret: { name: 'deploy-anchor', uid: '0c5e9d2f-1b8a-4e57-a1c3-2f6d7e8b9a0c' },
      serviceaccount: { name: 'deployer', uid: '5b7f0b6e-3d2a-4c1e-9f8d-6a5b4c3d2e1f' },
    },
    nbf: IAT,
    sub: 'system:serviceaccount:ci:deployer',
  };
}

/** A node-bound token (ServiceAccountTokenNodeBinding): the node alone. */
export function boundNodeClaims(): Record<string, unknown> {
  return {
    aud: [ISSUER],
    exp: IAT + 600,
    iat: IAT,
    iss: ISSUER,
    'kubernetes.io': {
      namespace: 'kube-system',
      node: { name: 'worker-1', uid: 'd3b07384-d9a0-4c3f-8f4e-1a2b3c4d5e6f' },
      serviceaccount: { name: 'node-agent', uid: 'c157a790-0e6a-4c8d-9b7e-2f3a4b5c6d7e' },
    },
    nbf: IAT,
    sub: 'system:serviceaccount:kube-system:node-agent',
  };
}

/** A plain `kubectl create token deployer -n ci --duration 2h`. */
export function unboundClaims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    aud: [ISSUER],
    exp: IAT + 7200,
    iat: IAT,
    iss: ISSUER,
    'kubernetes.io': {
      namespace: 'ci',
      serviceaccount: { name: 'deployer', uid: '5b7f0b6e-3d2a-4c1e-9f8d-6a5b4c3d2e1f' },
    },
    nbf: IAT,
    sub: 'system:serviceaccount:ci:deployer',
    ...overrides,
  };
}

/** A legacy Secret-based token (docs/tokens.md "Token claims"): the four private claims, no exp/iat/nbf/aud/jti. */
export function legacyClaims(ns = 'default', sa = 'build-robot'): Record<string, unknown> {
  return {
    iss: 'kubernetes/serviceaccount',
    'kubernetes.io/serviceaccount/namespace': ns,
    'kubernetes.io/serviceaccount/secret.name': `${sa}-secret`,
    'kubernetes.io/serviceaccount/service-account.name': sa,
    'kubernetes.io/serviceaccount/service-account.uid': '9f1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d',
    sub: `system:serviceaccount:${ns}:${sa}`,
  };
}

/** An unsigned token: `alg: none`, empty signature. */
export function unsignedToken(claims: Record<string, unknown>): string {
  const part = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part(claims)}.`;
}

/** The signature part of a compact token. */
export function signatureOf(token: string): string {
  return token.split('.')[2] as string;
}

export const at = (seconds: number) => new Date(seconds * 1000);
