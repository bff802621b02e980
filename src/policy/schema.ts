/** A DNS-1123 subdomain: the name of most objects (ServiceAccounts, policies), an annotation key's prefix. */
const DNS_SUBDOMAIN = '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*';
/** A label or annotation key, `[prefix/]name`: prefix a DNS subdomain of at most 253, name a qualified name of at most 63. */
const QUALIFIED_KEY = `^(?:(?=[^/]{1,253}/)${DNS_SUBDOMAIN}/)?([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]$`;
const KEY_MESSAGE = 'must be a label key ([prefix/]name: prefix a DNS subdomain, name at most 63 characters)';

/**
 * JSON Schema of a TokenPolicy document, the one the loader validates with (compiled ahead of
 * time, src/policy/validator-source.ts) and editors read from `policies/schema.json` (`npm run
 * schema` writes it, and docs/policy-reference.md from it; a test keeps them equal). It says
 * what JSON Schema can: types, fields, enums, names and paths by pattern, the rules between a
 * field and its neighbours that `if`/`then` and `not` can state. What it cannot (ranges between
 * two fields, duplicates across list items) src/policy/validate.ts checks, with the messages the
 * loader reports: where both find a problem in one field, the loader keeps the validator's
 * message (src/policy/parse.ts). `patternErrorMessage` and `errorMessage` are the messages
 * editors (VS Code, the YAML language server) show instead of their generic ones.
 */
export const tokenPolicySchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://tokenguard.dev/schemas/tokenpolicy-v1alpha1.json',
  title: 'TokenPolicy',
  description: 'A tokenguard ServiceAccount token policy (tokenguard.dev/v1alpha1).',
  type: 'object',
  additionalProperties: false,
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  properties: {
    apiVersion: { const: 'tokenguard.dev/v1alpha1', description: 'Always tokenguard.dev/v1alpha1.' },
    kind: { const: 'TokenPolicy', description: 'Always TokenPolicy (TokenUsage documents have their own schema).' },
    metadata: {
      type: 'object',
      description: 'The policy name, and labels and annotations for your own use (tokenguard reads neither).',
      required: ['name'],
      properties: {
        name: {
          type: 'string',
          maxLength: 253,
          pattern: `^${DNS_SUBDOMAIN}$`,
          patternErrorMessage: 'must be a DNS subdomain (lower-case letters, digits, - and .)',
          description:
            'Unique policy name across every policy file (a DNS subdomain); composed policies are applied in name order.',
        },
        labels: { type: 'object', additionalProperties: { type: 'string' }, description: 'Labels, for your own use.' },
        annotations: {
          type: 'object',
          additionalProperties: { type: 'string' },
          description: 'Annotations, for your own use.',
        },
      },
      additionalProperties: false,
    },
    spec: {
      type: 'object',
      additionalProperties: false,
      required: ['mode'],
      description:
        'What the policy does: its mode, what it matches, and at least one of legacyTokenSecrets, automount, projectedTokens, tokenRequests.',
      // At least one rule: a double `not` is anyOf with one error at spec (and one message) instead of one per branch.
      not: {
        not: {
          anyOf: [
            { required: ['legacyTokenSecrets'] },
            { required: ['automount'] },
            { required: ['projectedTokens'] },
            { required: ['tokenRequests'] },
          ],
        },
      },
      errorMessage:
        'sets none of legacyTokenSecrets, automount, projectedTokens, tokenRequests: the policy would do nothing',
      properties: {
        mode: {
          enum: ['Enforce', 'Audit', 'Off'],
          description:
            'Enforce denies and mutates; Audit only reports what Enforce would do (warnings, audit annotations), changing nothing; Off is ignored.',
        },
        match: {
          type: 'object',
          additionalProperties: false,
          description:
            'Which objects the policy applies to. Every field is optional; all given must match; an empty match matches everything.',
          properties: {
            namespaces: {
              $ref: '#/definitions/globList',
              description: 'Namespace globs (team-*); default every namespace.',
            },
            excludeNamespaces: {
              $ref: '#/definitions/globList',
              description: 'Namespace globs never matched, whatever else matches.',
            },
            namespaceSelector: {
              $ref: '#/definitions/labelSelector',
              description:
                "A label selector on the object's Namespace (its labels come from the cluster, or from Namespaces among the manifests).",
            },
            objectSelector: {
              $ref: '#/definitions/labelSelector',
              description: "A label selector on the object's own labels.",
            },
            serviceAccounts: {
              type: 'array',
              items: { $ref: '#/definitions/serviceAccountGlob' },
              description:
                'ServiceAccounts, as name or namespace/name, both parts globs; a pod matches by its spec.serviceAccountName (default "default").',
            },
          },
        },
        legacyTokenSecrets: {
          type: 'object',
          additionalProperties: false,
          required: ['action'],
          description: 'Secrets of type kubernetes.io/service-account-token, which hold a token that never expires.',
          properties: {
            action: {
              enum: ['Deny', 'Allow'],
              description: 'Deny refuses creating one (Audit mode warns); Allow lets them be.',
            },
            exemptServiceAccounts: {
              type: 'array',
              items: {
                type: 'string',
                minLength: 1,
                pattern: '^[^/]*/[^/]*$',
                patternErrorMessage: 'must be "namespace/name"',
              },
              description: 'ServiceAccounts, as namespace/name globs, whose legacy token Secrets may still be created.',
            },
            embeddedTokens: {
              enum: ['Deny', 'Warn', 'Ignore'],
              description:
                'A Secret of any type whose data carries a legacy ServiceAccount JWT (copied out of a token Secret, or inside a kubeconfig): Deny, Warn (default) or Ignore.',
            },
            mountedTokens: {
              enum: ['Deny', 'Warn', 'Ignore'],
              description:
                'A pod that mounts a kubernetes.io/service-account-token Secret (secret volume, projected secret source, env secretKeyRef or envFrom secretRef): Deny, Warn (default) or Ignore. A token Secret of an exempt ServiceAccount is warned about, never denied.',
            },
          },
        },
        automount: {
          type: 'object',
          additionalProperties: false,
          required: ['action'],
          description:
            "The API token Kubernetes mounts into pods (the kube-api-access volume, or the pod's own tokens for the API server).",
          properties: {
            action: {
              enum: ['DisableUnlessNeeded', 'Keep'],
              description:
                'DisableUnlessNeeded removes the API token from pods that do not need the API (Enforce; a pod that mounts one anyway is denied); Keep leaves it.',
            },
            needed: {
              type: 'object',
              additionalProperties: false,
              description:
                'What makes a pod need the API: any one rule that holds keeps its token. Without any, no pod needs it.',
              properties: {
                annotation: {
                  type: 'string',
                  minLength: 1,
                  maxLength: 317,
                  pattern: QUALIFIED_KEY,
                  patternErrorMessage:
                    'must be an annotation key ([prefix/]name: prefix a DNS subdomain, name at most 63 characters)',
                  description:
                    'An annotation key ([prefix/]name, e.g. tokenguard.dev/api-access): the value "true" on the pod or its ServiceAccount marks the API as needed.',
                },
                serviceAccounts: {
                  type: 'array',
                  items: { $ref: '#/definitions/serviceAccountGlob' },
                  description: 'ServiceAccounts that need the API, as name or namespace/name globs.',
                },
                rbacBound: {
                  type: 'boolean',
                  description:
                    'The ServiceAccount is a subject of some RoleBinding or ClusterRoleBinding (directly, or through the groups system:serviceaccounts[:namespace]).',
                },
                observedWithin: {
                  type: 'string',
                  minLength: 2,
                  maxLength: 64,
                  pattern: '^(?=.*[1-9])(\\d+(\\.\\d+)?[smhdw])+$',
                  patternErrorMessage:
                    'must be a duration longer than zero, such as 30d, 12h or 1h30m (units s, m, h, d, w)',
                  description:
                    "Needed when the audit log shows one of the ServiceAccount's tokens used within this duration before now (30d, 12h, 1h30m; units s m h d w). Facts from serve --usage or test --facts (a TokenUsage document).",
                },
                whenUnknown: {
                  enum: ['Needed', 'NotNeeded'],
                  description:
                    'How unknown facts (RBAC bindings without cluster access or while stale, observed use without an audit log covering the window) count when nothing else says the pod needs the API; default Needed (keep the token).',
                },
              },
            },
          },
          // `needed` does nothing when the token is kept anyway.
          if: { required: ['action'], properties: { action: { const: 'Keep' } } },
          // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then
          then: { properties: { needed: { not: {}, errorMessage: 'has no effect with action Keep' } } },
        },
        projectedTokens: {
          type: 'object',
          additionalProperties: false,
          description:
            'Projected ServiceAccount tokens (serviceAccountToken volume sources): tokens to inject, and bounds on every one a pod carries.',
          properties: {
            inject: {
              type: 'array',
              description:
                'Tokens to add to matching pods, each as a projected volume mounted into the chosen containers. Volume names and mount paths must differ between items.',
              items: {
                type: 'object',
                additionalProperties: false,
                required: ['volumeName', 'audience', 'mountPath'],
                properties: {
                  volumeName: {
                    type: 'string',
                    minLength: 1,
                    maxLength: 63,
                    pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
                    patternErrorMessage: 'must be a DNS-1123 label (lower-case letters, digits and -, at most 63)',
                    not: { pattern: '^kube-api-access-' },
                    errorMessage: 'must not start with kube-api-access- (reserved for the API token)',
                    description:
                      'Name of the projected volume added to the pod (a DNS-1123 label; not kube-api-access-*, reserved for the API token).',
                  },
                  audience: {
                    $ref: '#/definitions/audience',
                    description:
                      'The audience of the token (vault, sts.amazonaws.com): whoever the token is shown to checks it.',
                  },
                  expirationSeconds: {
                    $ref: '#/definitions/seconds',
                    description:
                      "Requested lifetime in seconds (600 to 2^32); default 3600, as Kubernetes defaults it. Must be within this policy's bounds.",
                  },
                  mountPath: {
                    type: 'string',
                    minLength: 1,
                    pattern: '^/(?!(.*/)?\\.\\.(/|$))',
                    patternErrorMessage: "must be an absolute path without '..'",
                    description:
                      'Where the volume is mounted in each container (an absolute path); a container that already mounts something else there is skipped.',
                  },
                  path: {
                    type: 'string',
                    minLength: 1,
                    pattern: '^(?!/)(?!\\.\\.)(?!(.*/)?\\.\\.(/|$))',
                    patternErrorMessage: "must be a relative path without '..'",
                    description: 'File name of the token inside the volume (a relative path); default token.',
                  },
                  containers: {
                    $ref: '#/definitions/globList',
                    description: 'Container name globs that get the mount, init containers included; default ["*"].',
                  },
                },
              },
            },
            bounds: {
              type: 'object',
              additionalProperties: false,
              description:
                "Limits on every projected token of a pod except the plugin's own kube-api-access token (apiTokenExpirationSeconds governs that one). Policies that match together are intersected.",
              properties: {
                allowedAudiences: {
                  type: 'array',
                  minItems: 1,
                  items: { $ref: '#/definitions/audience' },
                  description:
                    'Audiences (exact, or globs) allowed on projected tokens. Tokens for the API server (no audience, or an API audience) are always allowed. Must not be empty.',
                },
                minExpirationSeconds: {
                  $ref: '#/definitions/seconds',
                  description: 'Shortest expirationSeconds allowed (600 to 2^32).',
                },
                maxExpirationSeconds: {
                  $ref: '#/definitions/seconds',
                  description:
                    'Longest expirationSeconds allowed (600 to 2^32, at least minExpirationSeconds), counted as the token really lives.',
                },
                onViolation: {
                  enum: ['Mutate', 'Deny'],
                  description:
                    'Mutate (default) clamps expirations into the bounds; Deny refuses the pod. An audience not allowed is always denied.',
                },
              },
            },
            apiTokenExpirationSeconds: {
              $ref: '#/definitions/seconds',
              description:
                "Upper bound on every token for the API server (no audience, or an API audience), the plugin's kube-api-access token included, whose 3607 s lives a year; counted as the token really lives. Within this policy's bounds.",
            },
          },
        },
        tokenRequests: {
          type: 'object',
          additionalProperties: false,
          description:
            "Limits on tokens requested through the TokenRequest API (kubectl create token, serviceaccounts/<name>/token); the kubelet's pod-bound requests are always exempt.",
          not: { not: { anyOf: [{ required: ['maxExpirationSeconds'] }, { required: ['allowedAudiences'] }] } },
          errorMessage: 'sets neither maxExpirationSeconds nor allowedAudiences: it would do nothing',
          properties: {
            maxExpirationSeconds: {
              $ref: '#/definitions/seconds',
              description: 'Longest expirationSeconds a request may ask for (600 to 2^32).',
            },
            allowedAudiences: {
              type: 'array',
              minItems: 1,
              items: { $ref: '#/definitions/audience' },
              description:
                "Audience globs a request may name. A request with no audience asks for the API server's own, which are always allowed. Must not be empty.",
            },
            onViolation: {
              enum: ['Mutate', 'Deny'],
              description:
                'Deny (default) refuses the request; Mutate shortens its expiration to the maximum (an audience not allowed is always denied).',
            },
            exemptUsers: {
              $ref: '#/definitions/globList',
              description: 'User name globs that are exempt, e.g. a CI identity (system:serviceaccount:ci:deployer).',
            },
            exemptGroups: { $ref: '#/definitions/globList', description: 'Group globs that are exempt.' },
          },
        },
      },
    },
  },
  definitions: {
    globList: {
      type: 'array',
      description:
        'Globs: * matches any run of characters, ? exactly one; everything else is literal and case-sensitive.',
      items: { type: 'string', minLength: 1 },
    },
    serviceAccountGlob: {
      type: 'string',
      minLength: 1,
      pattern: '^[^/]*(/[^/]*)?$',
      patternErrorMessage: 'must be "name" or "namespace/name"',
      description: 'A ServiceAccount as name or namespace/name, both parts globs.',
    },
    seconds: {
      type: 'integer',
      minimum: 600,
      maximum: 4294967296,
      description: 'Seconds, 600 to 2^32 (the API server refuses tokens outside that range).',
    },
    audience: {
      type: 'string',
      minLength: 1,
      maxLength: 1024,
      pattern: '^[^\\s]+$',
      patternErrorMessage: 'must not contain whitespace',
      description: 'A token audience, without whitespace.',
    },
    labelSelector: {
      type: 'object',
      additionalProperties: false,
      description: 'A Kubernetes label selector; every requirement must hold.',
      properties: {
        matchLabels: {
          type: 'object',
          propertyNames: { pattern: QUALIFIED_KEY, patternErrorMessage: KEY_MESSAGE },
          additionalProperties: { type: 'string' },
          description: 'Labels that must be present with these values.',
        },
        matchExpressions: {
          type: 'array',
          description: 'Label requirements: key, operator and (for In and NotIn) values.',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['key', 'operator'],
            properties: {
              key: {
                type: 'string',
                minLength: 1,
                pattern: QUALIFIED_KEY,
                patternErrorMessage: KEY_MESSAGE,
                description: 'The label key.',
              },
              operator: {
                enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'],
                description:
                  'In and NotIn compare the value with values; Exists and DoesNotExist look at the key alone.',
              },
              values: {
                type: 'array',
                items: { type: 'string' },
                description: 'Label values: not empty for In and NotIn, empty for Exists and DoesNotExist.',
              },
            },
            allOf: [
              {
                if: { required: ['operator'], properties: { operator: { enum: ['In', 'NotIn'] } } },
                // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then
                then: { required: ['values'], properties: { values: { minItems: 1 } } },
              },
              {
                if: { required: ['operator'], properties: { operator: { enum: ['Exists', 'DoesNotExist'] } } },
                // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then
                then: { properties: { values: { maxItems: 0 } } },
              },
            ],
          },
        },
      },
    },
  },
} as const;

const rfc3339 = {
  type: 'string',
  pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$',
  patternErrorMessage: 'must be an RFC 3339 time',
} as const;
const count = { type: 'integer', minimum: 0 } as const;
const k8sName = {
  type: 'string',
  maxLength: 253,
  pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$',
  patternErrorMessage: 'must be a Kubernetes name (lower-case letters, digits, - and .)',
} as const;

/**
 * JSON Schema of a TokenUsage document, what `tokenguard usage --output facts` writes and
 * `serve --usage` and `test --facts` read (docs/usage.md "The TokenUsage document"). The reader
 * in src/usage/facts.ts checks the same rules, with messages naming file and field.
 */
export const tokenUsageSchema = {
  title: 'TokenUsage',
  description:
    'What the API server audit log showed of ServiceAccount tokens (tokenguard.dev/v1alpha1), from tokenguard usage --output facts.',
  type: 'object',
  additionalProperties: false,
  required: ['apiVersion', 'kind', 'spec'],
  properties: {
    apiVersion: { const: 'tokenguard.dev/v1alpha1', description: 'Always tokenguard.dev/v1alpha1.' },
    kind: { const: 'TokenUsage', description: 'Always TokenUsage.' },
    metadata: {
      type: 'object',
      description: 'The document name (tokenguard usage --name; default token-usage).',
      properties: { name: { type: 'string', description: 'The document name.' } },
    },
    spec: {
      type: 'object',
      additionalProperties: false,
      description: 'The window the log covers, and every ServiceAccount whose tokens were seen in it.',
      properties: {
        window: {
          type: 'object',
          additionalProperties: false,
          description: 'The time the audit log covers. Without it, observed use is unknown.',
          properties: {
            from: { ...rfc3339, description: 'The first event read (RFC 3339).' },
            to: { ...rfc3339, description: 'The last event read (RFC 3339).' },
          },
        },
        serviceAccounts: {
          type: 'array',
          description: 'Every ServiceAccount whose tokens were seen in use; one not listed was not seen.',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['namespace', 'name'],
            properties: {
              namespace: { ...k8sName, description: "The ServiceAccount's namespace." },
              name: { ...k8sName, description: "The ServiceAccount's name." },
              firstSeen: { ...rfc3339, description: 'First request with one of its tokens in the window.' },
              lastSeen: { ...rfc3339, description: 'Last request with one of its tokens, or last TokenReview of one.' },
              requests: { ...count, description: 'Requests made with its tokens.' },
              presented: { ...count, description: 'Its tokens presented to TokenReviews.' },
              legacySecrets: {
                type: 'array',
                description: 'Its legacy token Secrets seen in use.',
                items: {
                  type: 'object',
                  additionalProperties: false,
                  required: ['name', 'kind', 'lastSeen'],
                  properties: {
                    name: {
                      type: 'string',
                      description: 'The Secret; empty when the API server did not name it (before 1.29).',
                    },
                    kind: {
                      enum: ['autogenerated', 'manual', 'invalidated', 'unknown'],
                      description:
                        'As the audit log names it: autogenerated (a Secret its ServiceAccount lists in .secrets), manual (one made by hand), invalidated (refused: the Secret has kubernetes.io/legacy-token-invalid-since), or unknown (before 1.29).',
                    },
                    lastSeen: { ...rfc3339, description: 'Last request with its token.' },
                    requests: { ...count, description: 'Requests made with its token.' },
                    refused: { ...count, description: 'Of those, refused because the token was invalidated.' },
                  },
                },
              },
            },
          },
        },
      },
    },
  },
} as const;

/**
 * `policies/schema.json`: every tokenguard document, a TokenPolicy or (by its kind) a
 * TokenUsage. The TokenPolicy branch is {@link tokenPolicySchema} itself, the one the loader
 * compiles; its definitions sit at the root, where its `$ref`s point.
 */
export function documentSchema(): Record<string, unknown> {
  const { $schema, $id, definitions, ...policy } = tokenPolicySchema;
  return {
    $schema,
    $id: 'https://tokenguard.dev/schemas/tokenguard-v1alpha1.json',
    title: 'tokenguard document',
    description: 'A tokenguard.dev/v1alpha1 document: a TokenPolicy, or a TokenUsage (kind: TokenUsage).',
    if: { type: 'object', required: ['kind'], properties: { kind: { const: 'TokenUsage' } } },
    // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then/else
    then: { $ref: '#/definitions/TokenUsage' },
    else: { $ref: '#/definitions/TokenPolicy' },
    definitions: { ...definitions, TokenPolicy: policy, TokenUsage: tokenUsageSchema },
  };
}
