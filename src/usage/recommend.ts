/**
 * What to do about what the log showed. Pure: a usage summary and, when known, the
 * ServiceAccounts and RBAC bindings of the cluster in; recommendations out.
 *
 * | finding                      | needs the inventory | advice                                          |
 * | ---------------------------- | ------------------- | ----------------------------------------------- |
 * | bound, never seen            | yes                 | automount off; the binding is unused            |
 * | seen, unbound                | yes                 | keep the token; why (what it did)               |
 * | never seen, unbound          | yes                 | automount off                                   |
 * | legacy token still used      | no                  | replace it; where the calls come from           |
 */
import type { ServiceAccountUsage, UsageSummary } from './aggregate.js';

/** The cluster's ServiceAccounts and who binds them, as `tokenguard usage --facts/--kubeconfig` knows them. */
export interface Inventory {
  readonly serviceAccounts: readonly { readonly namespace: string; readonly name: string }[];
  /** The bindings naming the ServiceAccount (`RoleBinding ns/name`, ...), directly or through its groups; empty when none. */
  boundBy(namespace: string, name: string): readonly string[];
}

export interface BoundNeverSeen {
  readonly namespace: string;
  readonly name: string;
  readonly boundBy: readonly string[];
}

export interface SeenUnbound {
  readonly namespace: string;
  readonly name: string;
  /** Why its token matters, one phrase each. */
  readonly why: readonly string[];
}

export interface LegacyInUse {
  readonly namespace: string;
  readonly name: string;
  readonly secret: string;
  readonly kind: string;
  readonly requests: number;
  readonly refused: number;
  readonly lastSeen: number;
  /** Source IPs and user agents of the calls. */
  readonly from: readonly string[];
}

export interface Recommendations {
  /** False when no inventory was given: the first three lists are then empty. */
  readonly inventory: boolean;
  readonly boundNeverSeen: readonly BoundNeverSeen[];
  readonly seenUnbound: readonly SeenUnbound[];
  readonly neverSeenUnbound: readonly { readonly namespace: string; readonly name: string }[];
  readonly legacyInUse: readonly LegacyInUse[];
}

/** Paths every authenticated user may read (the `system:discovery` and `system:public-info-viewer` roles). */
const DISCOVERY = /^\/(api|apis|version|openapi|healthz|livez|readyz|\.well-known)(\/|$)/;

/** Resources every authenticated user may create (`system:basic-user`: self reviews). */
const SELF_REVIEWS = new Set(['selfsubjectaccessreviews', 'selfsubjectrulesreviews', 'selfsubjectreviews']);

/**
 * Recommendations for a summary; `inventory` undefined when the cluster's ServiceAccounts and
 * bindings are not known (only the legacy-token list is then filled).
 */
export function recommend(summary: UsageSummary, inventory: Inventory | undefined): Recommendations {
  const seen = new Map<string, ServiceAccountUsage>();
  for (const s of summary.serviceAccounts) if (s.lastSeen !== undefined) seen.set(`${s.namespace}/${s.name}`, s);

  const legacyInUse: LegacyInUse[] = [];
  for (const s of summary.serviceAccounts) {
    for (const l of s.legacy) {
      legacyInUse.push({
        namespace: s.namespace,
        name: s.name,
        secret: l.secret,
        kind: l.kind,
        requests: l.requests,
        refused: l.refused,
        lastSeen: l.lastSeen,
        from: [...l.sourceIPs, ...l.userAgents],
      });
    }
  }
  if (!inventory) return { inventory: false, boundNeverSeen: [], seenUnbound: [], neverSeenUnbound: [], legacyInUse };

  const boundNeverSeen: BoundNeverSeen[] = [];
  const neverSeenUnbound: { namespace: string; name: string }[] = [];
  const known = new Set<string>();
  for (const sa of [...inventory.serviceAccounts].sort((a, b) =>
    cmp(`${a.namespace}/${a.name}`, `${b.namespace}/${b.name}`),
  )) {
    const key = `${sa.namespace}/${sa.name}`;
    known.add(key);
    if (seen.has(key)) continue;
    const by = inventory.boundBy(sa.namespace, sa.name);
    if (by.length > 0) boundNeverSeen.push({ namespace: sa.namespace, name: sa.name, boundBy: by });
    else neverSeenUnbound.push({ namespace: sa.namespace, name: sa.name });
  }
  const seenUnbound: SeenUnbound[] = [];
  for (const [key, s] of seen) {
    if (inventory.boundBy(s.namespace, s.name).length > 0) continue;
    const why = whyItMatters(s);
    if (!known.has(key)) why.push('not in the inventory (deleted since, or the inventory is of another cluster)');
    seenUnbound.push({ namespace: s.namespace, name: s.name, why });
  }
  return { inventory: true, boundNeverSeen, seenUnbound, neverSeenUnbound, legacyInUse };
}

/** What an unbound ServiceAccount did with its token, as reasons to keep it. */
function whyItMatters(s: ServiceAccountUsage): string[] {
  const why: string[] = [];
  if (s.presented) {
    const reviewers = Object.keys(s.presented.reviewers).join(', ');
    why.push(
      `its token is presented to TokenReview by ${reviewers} (${s.presented.reviews}x): a login to another system depends on it`,
    );
  }
  const discovery = s.paths.filter((p) => DISCOVERY.test(p.path));
  const selfReviews = s.resources
    .filter((r) => r.group === 'authorization.k8s.io' || r.group === 'authentication.k8s.io')
    .filter((r) => SELF_REVIEWS.has(r.resource));
  const others = s.resources.filter((r) => !selfReviews.includes(r));
  if (discovery.length > 0) {
    why.push(
      `calls discovery (${discovery
        .map((p) => p.path)
        .slice(0, 3)
        .join(', ')}${discovery.length > 3 ? ', ...' : ''}), which every authenticated user may`,
    );
  }
  if (selfReviews.length > 0)
    why.push(
      `asks what it may do (${selfReviews.map((r) => r.resource).join(', ')}), which every authenticated user may`,
    );
  if (s.denied > 0)
    why.push(
      `${s.denied} of its ${s.requests} requests were refused (403): it calls the API without the permission to`,
    );
  const allowed = s.requests - s.denied;
  if (others.length > 0 && allowed > 0 && s.denied < s.requests) {
    why.push(
      `uses ${others
        .map((r) => resourceName(r.resource, r.subresource, r.group))
        .slice(0, 4)
        .join(', ')}: allowed by a group binding or another authorizer`,
    );
  }
  if (why.length === 0) why.push(`made ${s.requests} request(s)`);
  return why;
}

/** `pods`, `pods/log`, `deployments.apps`: a resource as kubectl names it. */
export function resourceName(resource: string, subresource: string, group: string): string {
  return `${resource}${group ? `.${group}` : ''}${subresource ? `/${subresource}` : ''}`;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
