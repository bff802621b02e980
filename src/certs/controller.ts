/**
 * What the certificate controller (`tokenguard serve --manage-certificates`) should do next,
 * decided from what the Secret holds and the time, without I/O and without a clock of its own
 * (src/server/cert-manager.ts does the reading, signing and writing).
 *
 * The Secret holds a bundle of CAs (`ca.crt`, oldest first), the key of the newest CA
 * (`ca.key`), and the serving certificate and key (`tls.crt`, `tls.key`). The webhook
 * configurations' `caBundle` is that whole bundle. A CA rotation therefore goes in steps that
 * never leave the API server without a CA for the certificate being served
 * (docs/certificates.md, "How the controller rotates"):
 *
 * 1. `stage-ca`: a new CA is appended to the bundle; the serving certificate stays the one the
 *    old CA signed. The caller publishes the bundle to the webhook configurations.
 * 2. `issue` (promotion): once every configuration holds the new bundle, and the API servers had
 *    `propagationMs` to see it, a serving certificate signed by the new CA replaces the old one.
 * 3. `prune`: the old CA leaves the bundle once it has expired.
 */

/** Validities and renewal points of the controller, in milliseconds. */
export interface RotationConfig {
  readonly caValidityMs: number;
  /** A new CA is staged this long before the newest one expires (the overlap of old and new). */
  readonly caRenewBeforeMs: number;
  readonly certValidityMs: number;
  /** The serving certificate is renewed this long before it expires. */
  readonly certRenewBeforeMs: number;
  /** How long a bundle must have been in every webhook configuration before a certificate of its new CA is served. */
  readonly propagationMs: number;
}

/** What the controller needs to know about one certificate. */
export interface CertInfo {
  readonly fingerprint256: string;
  /** Milliseconds since the epoch. */
  readonly notBefore: number;
  readonly notAfter: number;
}

/** The serving certificate as the Secret holds it. */
export interface ServingInfo extends CertInfo {
  /** The fingerprint of the bundle CA that signed it; undefined when none did. */
  readonly issuer: string | undefined;
  /** tls.key is the key of tls.crt. */
  readonly keyMatches: boolean;
  /** It carries every DNS name and IP address it must. */
  readonly namesMatch: boolean;
}

/** What the Secret holds, parsed; `problem` says why it cannot be used at all (missing, garbage). */
export type StoredCertificates =
  | {
      readonly usable: true;
      /** Oldest first; the last one signs. */
      readonly cas: readonly CertInfo[];
      /** ca.key is the key of the newest CA. */
      readonly caKeyMatches: boolean;
      /** Undefined when tls.crt or tls.key is missing or does not parse. */
      readonly serving: ServingInfo | undefined;
      /** A renewal asked for now (the Secret's {@link RENEW_ANNOTATION}), whatever the validities. */
      readonly renew?: RenewRequest;
    }
  | { readonly usable: false; readonly problem: string };

export type Plan =
  /** A new CA and serving certificate; the bundle is the new CA alone. */
  | { readonly action: 'create'; readonly reason: string }
  /** A new CA appended to `keep` (the bundle CAs that stay); the serving certificate stays. */
  | { readonly action: 'stage-ca'; readonly reason: string; readonly keep: readonly string[] }
  /** A new serving certificate from the newest CA, the bundle reduced to `keep`. */
  | { readonly action: 'issue'; readonly reason: string; readonly keep: readonly string[] }
  /** Only the bundle changes: reduced to `keep` (expired CAs leave). */
  | { readonly action: 'prune'; readonly reason: string; readonly keep: readonly string[] }
  /** Nothing to change now; `wait` says what is awaited, if anything. */
  | { readonly action: 'none'; readonly wait?: string };

/**
 * The Secret annotation that asks the controller for a renewal now: `ca` stages a new CA (which
 * then goes the usual way: published, awaited, a certificate of it issued), `certificate` issues a
 * new serving certificate from the newest CA. The controller removes it with the write that
 * answers it.
 */
export const RENEW_ANNOTATION = 'tokenguard.dev/renew';
export type RenewRequest = 'ca' | 'certificate';

/** The renewal an annotation value asks for, or undefined when the value is neither. */
export function renewRequest(value: unknown): RenewRequest | undefined {
  return value === 'ca' || value === 'certificate' ? value : undefined;
}

/** A plan and when to decide again at the latest (milliseconds since the epoch). */
export interface Decision {
  readonly plan: Plan;
  readonly nextCheck: number;
}

/**
 * A configuration that cannot rotate without an outage or a loop; each string names the flag.
 * Empty when the configuration is usable.
 */
export function checkRotationConfig(c: RotationConfig, flags: Record<keyof RotationConfig, string>): string[] {
  const errors: string[] = [];
  for (const k of Object.keys(flags) as (keyof RotationConfig)[]) {
    if (!Number.isFinite(c[k]) || c[k] < 0) errors.push(`${flags[k]} must be a duration, got ${c[k]}`);
  }
  if (errors.length > 0) return errors;
  if (c.caRenewBeforeMs >= c.caValidityMs)
    errors.push(`${flags.caRenewBeforeMs} must be shorter than ${flags.caValidityMs}`);
  if (c.certRenewBeforeMs >= c.certValidityMs)
    errors.push(`${flags.certRenewBeforeMs} must be shorter than ${flags.certValidityMs}`);
  // A serving certificate never outlives its CA, so it reaches its renewal point no later than
  // the CA reaches its own only if the CA is renewed at least as early; otherwise the capped
  // certificate would be renewed again and again before the CA rotation starts.
  if (c.caRenewBeforeMs < c.certRenewBeforeMs)
    errors.push(`${flags.caRenewBeforeMs} must not be shorter than ${flags.certRenewBeforeMs}`);
  // The old CA must outlast the wait before the new one is served, with room to spare.
  if (c.caRenewBeforeMs < 2 * c.propagationMs)
    errors.push(`${flags.caRenewBeforeMs} must be at least twice ${flags.propagationMs}`);
  return errors;
}

/** How often the controller looks again when nothing is due sooner. */
export const DEFAULT_RECHECK_MS = 60_000;

/**
 * The next step for the leader.
 *
 * @param published when the current bundle (every CA of `stored`, in order) was first seen in
 *   every webhook configuration; undefined when it is not there yet.
 */
export function decide(
  stored: StoredCertificates,
  now: number,
  config: RotationConfig,
  published: number | undefined,
  recheckMs = DEFAULT_RECHECK_MS,
): Decision {
  const soon = (t: number) => Math.max(now, Math.min(t, now + recheckMs));
  if (!stored.usable) return { plan: { action: 'create', reason: stored.problem }, nextCheck: now };
  const newest = stored.cas[stored.cas.length - 1];
  if (newest === undefined)
    return { plan: { action: 'create', reason: 'ca.crt holds no CA certificate' }, nextCheck: now };
  if (!stored.caKeyMatches)
    return { plan: { action: 'create', reason: 'ca.key is not the key of the newest CA in ca.crt' }, nextCheck: now };
  if (!(newest.notBefore <= now && now < newest.notAfter)) {
    return {
      plan: {
        action: 'create',
        reason: `the newest CA is not valid now (valid ${iso(newest.notBefore)} to ${iso(newest.notAfter)})`,
      },
      nextCheck: now,
    };
  }
  // Expired CAs leave the bundle (the newest is valid, so it stays).
  const keep = stored.cas.filter((c) => now < c.notAfter).map((c) => c.fingerprint256);
  const pruned = keep.length !== stored.cas.length;
  const serving = stored.serving;

  if (now >= newest.notAfter - config.caRenewBeforeMs) {
    return {
      plan: { action: 'stage-ca', reason: `the newest CA expires at ${iso(newest.notAfter)}`, keep },
      nextCheck: now,
    };
  }
  if (stored.renew === 'ca')
    return {
      plan: { action: 'stage-ca', reason: `the Secret's ${RENEW_ANNOTATION} annotation asks for a new CA`, keep },
      nextCheck: now,
    };
  const unusable = servingProblem(serving, now, keep);
  if (unusable !== undefined) return { plan: { action: 'issue', reason: unusable, keep }, nextCheck: now };
  const s = serving as ServingInfo;
  if (s.issuer !== newest.fingerprint256) {
    // Signed by an older CA of the bundle: serve one of the newest CA once the API servers trust it.
    const ready = published === undefined ? undefined : published + config.propagationMs;
    if (ready !== undefined && now >= ready)
      return {
        plan: { action: 'issue', reason: 'the bundle with the new CA is in every webhook configuration', keep },
        nextCheck: now,
      };
    if (pruned) return { plan: { action: 'prune', reason: 'a CA of the bundle has expired', keep }, nextCheck: now };
    return {
      plan: {
        action: 'none',
        wait:
          ready === undefined
            ? 'the new CA to be in every webhook configuration'
            : `the API servers to see the new CA (until ${iso(ready)})`,
      },
      nextCheck: ready === undefined ? soon(now + recheckMs) : soon(ready),
    };
  }
  if (now >= s.notAfter - config.certRenewBeforeMs)
    return {
      plan: { action: 'issue', reason: `the serving certificate expires at ${iso(s.notAfter)}`, keep },
      nextCheck: now,
    };
  // Only here, with the newest CA signing: while a new CA waits to be trusted, the certificate
  // that answers the request is the one its promotion issues.
  if (stored.renew === 'certificate')
    return {
      plan: {
        action: 'issue',
        reason: `the Secret's ${RENEW_ANNOTATION} annotation asks for a new serving certificate`,
        keep,
      },
      nextCheck: now,
    };
  if (pruned) return { plan: { action: 'prune', reason: 'a CA of the bundle has expired', keep }, nextCheck: now };
  const next = Math.min(
    newest.notAfter - config.caRenewBeforeMs,
    s.notAfter - config.certRenewBeforeMs,
    ...stored.cas.map((c) => c.notAfter),
  );
  return { plan: { action: 'none' }, nextCheck: soon(next) };
}

/** Why the stored serving certificate cannot be kept at all, or undefined. */
function servingProblem(s: ServingInfo | undefined, now: number, keep: readonly string[]): string | undefined {
  if (s === undefined) return 'tls.crt or tls.key is missing or does not parse';
  if (!s.keyMatches) return 'tls.key is not the key of tls.crt';
  if (s.issuer === undefined || !keep.includes(s.issuer)) return 'tls.crt is not signed by a valid CA of ca.crt';
  if (!s.namesMatch) return 'tls.crt does not carry every name the webhook is called by';
  if (!(s.notBefore <= now && now < s.notAfter))
    return `tls.crt is not valid now (valid ${iso(s.notBefore)} to ${iso(s.notAfter)})`;
  return undefined;
}

/**
 * The validity of a new serving certificate: `certValidityMs` from now, but never past the end
 * of the CA that signs it.
 */
export function servingNotAfter(now: number, config: RotationConfig, caNotAfter: number): number {
  return Math.min(now + config.certValidityMs, caNotAfter);
}

/** One operation of a JSON patch (RFC 6902). */
export interface PatchOp {
  readonly op: 'test' | 'add';
  readonly path: string;
  readonly value: unknown;
}

/**
 * The JSON patch that sets `clientConfig.caBundle` of every webhook of a configuration whose
 * bundle is missing or not `wanted` (base64 of the PEM bundle); empty when all are right. Each
 * change is guarded by a `test` of the webhook's name at that index, so a configuration
 * changed since it was read fails the patch instead of getting a bundle in the wrong place.
 */
export function caBundlePatch(configuration: { readonly webhooks?: unknown }, wanted: string): PatchOp[] {
  const ops: PatchOp[] = [];
  const hooks = Array.isArray(configuration.webhooks) ? (configuration.webhooks as unknown[]) : [];
  hooks.forEach((h, i) => {
    const hook = (typeof h === 'object' && h !== null ? h : {}) as {
      name?: unknown;
      clientConfig?: { caBundle?: unknown };
    };
    if (hook.clientConfig?.caBundle === wanted) return;
    ops.push({ op: 'test', path: `/webhooks/${i}/name`, value: hook.name });
    if (typeof hook.clientConfig !== 'object' || hook.clientConfig === null)
      ops.push({ op: 'add', path: `/webhooks/${i}/clientConfig`, value: { caBundle: wanted } });
    else ops.push({ op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: wanted });
  });
  return ops;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
