/**
 * Names and numbers fixed by Kubernetes, written down once. Each is described, with its upstream
 * source, in docs/kubernetes.md or docs/tokens.md (the section is named beside it).
 */

/** Prefix of the token volume the ServiceAccount admission plugin adds (docs/tokens.md "The plugin's volume"). */
export const API_TOKEN_VOLUME_PREFIX = 'kube-api-access-';

/** Where the ServiceAccount admission plugin mounts the API token (docs/kubernetes.md "The ServiceAccount admission plugin"). */
export const API_TOKEN_MOUNT_PATH = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * The plugin's token expiration: 1 h + 7 s (`WarnOnlyBoundTokenExpirationSeconds`), the one value
 * API servers extend to a year for pod-bound tokens of their own audiences (docs/tokens.md).
 */
export const API_TOKEN_DEFAULT_EXPIRATION_SECONDS = 3607;

/**
 * The API server's own audiences when none are configured (`--api-audience`): globs matching the
 * issuer most clusters use, `https://kubernetes.default.svc` and its cluster-domain forms
 * (`https://kubernetes.default.svc.cluster.local`). docs/tokens.md "API audiences".
 */
export const DEFAULT_API_AUDIENCES: readonly string[] = [
  'https://kubernetes.default.svc',
  'https://kubernetes.default.svc.*',
];

/** Name of the ConfigMap with the cluster CA that the plugin's token volume projects (docs/tokens.md). */
export const ROOT_CA_CONFIGMAP = 'kube-root-ca.crt';

/** Expiration of a projected token that leaves `expirationSeconds` out (docs/kubernetes.md "Projected token fields"). */
export const DEFAULT_PROJECTED_EXPIRATION_SECONDS = 3600;

/** Smallest `expirationSeconds` Kubernetes accepts: 10 minutes (docs/kubernetes.md "Projected token fields"). */
export const MIN_EXPIRATION_SECONDS = 600;

/** Largest `expirationSeconds` Kubernetes accepts: 2^32 (docs/kubernetes.md "Projected token fields"). */
export const MAX_EXPIRATION_SECONDS = 4294967296;

/**
 * What API servers with `--service-account-extend-token-expiration` (on by default) issue a
 * pod-bound 3607 s request for, in seconds: one year (`ExpirationExtensionSeconds`, docs/tokens.md).
 */
export const EXTENDED_EXPIRATION_SECONDS = 31536000;

/** `defaultMode` the API server sets on projected volumes (docs/kubernetes.md "Projected token fields"). */
export const PROJECTED_DEFAULT_MODE = 420;

/** Annotation that marks a kubelet mirror pod (docs/kubernetes.md "Mirror pods"). */
export const MIRROR_POD_ANNOTATION = 'kubernetes.io/config.mirror';

/** The ServiceAccount a pod gets when it names none (docs/kubernetes.md "The ServiceAccount admission plugin"). */
export const DEFAULT_SERVICE_ACCOUNT = 'default';

/** Secret type of legacy, never-expiring ServiceAccount token Secrets (docs/kubernetes.md "Legacy token Secrets"). */
export const SERVICE_ACCOUNT_TOKEN_SECRET_TYPE = 'kubernetes.io/service-account-token';

/** Field selector of a Secret list or watch: legacy token Secrets only (Secrets select on `type`, docs/scan.md "Secret data"). */
export const TOKEN_SECRET_FIELD_SELECTOR = `type=${SERVICE_ACCOUNT_TOKEN_SECRET_TYPE}`;

/** `Accept` header of a list whose items carry metadata only: how Secrets are listed (never their data). */
export const METADATA_LIST_ACCEPT = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1';

/** `Accept` header of a watch whose events carry metadata only (what client-go's metadata informer asks for). */
export const METADATA_WATCH_ACCEPT = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1';

/** Annotation on a token Secret naming its ServiceAccount (docs/kubernetes.md "Legacy token Secrets"). */
export const SERVICE_ACCOUNT_NAME_ANNOTATION = 'kubernetes.io/service-account.name';

/** Label every namespace carries with its own name; set by the control plane, so safe to match on. */
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

/** Warnings longer than this are cut: the API server asks for 120 characters (docs/kubernetes.md "Warnings"). */
export const MAX_WARNING_LENGTH = 120;
