/**
 * JSON Schema of a TokenPolicy document. `policies/schema.json` is generated from it
 * (`npm run schema`) and a test keeps the two equal.
 */
export const tokenPolicySchema = {
  "$schema": "http://json-schema.org/draft-07/schema#",
  "$id": "https://tokenguard.dev/schemas/tokenpolicy-v1alpha1.json",
  "title": "TokenPolicy",
  "description": "A tokenguard ServiceAccount token policy (tokenguard.dev/v1alpha1).",
  "type": "object",
  "additionalProperties": false,
  "required": [
    "apiVersion",
    "kind",
    "metadata",
    "spec"
  ],
  "properties": {
    "apiVersion": {
      "const": "tokenguard.dev/v1alpha1"
    },
    "kind": {
      "const": "TokenPolicy"
    },
    "metadata": {
      "type": "object",
      "required": [
        "name"
      ],
      "properties": {
        "name": {
          "type": "string",
          "maxLength": 253,
          "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
          "description": "Unique policy name (a DNS subdomain); composed policies are applied in name order."
        },
        "labels": {
          "type": "object",
          "additionalProperties": {
            "type": "string"
          }
        },
        "annotations": {
          "type": "object",
          "additionalProperties": {
            "type": "string"
          }
        }
      },
      "additionalProperties": false
    },
    "spec": {
      "type": "object",
      "additionalProperties": false,
      "required": [
        "mode"
      ],
      "properties": {
        "mode": {
          "enum": [
            "Enforce",
            "Audit",
            "Off"
          ],
          "description": "Enforce denies and mutates; Audit only warns; Off is ignored."
        },
        "match": {
          "type": "object",
          "additionalProperties": false,
          "properties": {
            "namespaces": {
              "$ref": "#/definitions/globList"
            },
            "excludeNamespaces": {
              "$ref": "#/definitions/globList"
            },
            "namespaceSelector": {
              "$ref": "#/definitions/labelSelector"
            },
            "objectSelector": {
              "$ref": "#/definitions/labelSelector"
            },
            "serviceAccounts": {
              "$ref": "#/definitions/globList",
              "description": "name or namespace/name; globs"
            }
          }
        },
        "legacyTokenSecrets": {
          "type": "object",
          "additionalProperties": false,
          "required": [
            "action"
          ],
          "properties": {
            "action": {
              "enum": [
                "Deny",
                "Allow"
              ]
            },
            "exemptServiceAccounts": {
              "$ref": "#/definitions/globList",
              "description": "namespace/name; globs"
            },
            "embeddedTokens": {
              "enum": [
                "Deny",
                "Warn",
                "Ignore"
              ],
              "description": "Secrets of any type whose data carries a legacy ServiceAccount JWT; default Warn."
            }
          }
        },
        "automount": {
          "type": "object",
          "additionalProperties": false,
          "required": [
            "action"
          ],
          "properties": {
            "action": {
              "enum": [
                "DisableUnlessNeeded",
                "Keep"
              ]
            },
            "needed": {
              "type": "object",
              "additionalProperties": false,
              "properties": {
                "annotation": {
                  "type": "string",
                  "minLength": 1,
                  "maxLength": 317
                },
                "serviceAccounts": {
                  "$ref": "#/definitions/globList"
                },
                "rbacBound": {
                  "type": "boolean"
                },
                "observedWithin": {
                  "type": "string",
                  "minLength": 2,
                  "maxLength": 64,
                  "description": "Needed when the audit log shows one of the ServiceAccount's tokens used within this duration before now (30d, 12h, 1h30m; units s m h d w). Facts from serve --usage or test --facts (a TokenUsage document)."
                },
                "whenUnknown": {
                  "enum": [
                    "Needed",
                    "NotNeeded"
                  ],
                  "description": "How unknown facts (RBAC bindings, observed use) count when nothing else says the pod needs the API; default Needed."
                }
              }
            }
          }
        },
        "projectedTokens": {
          "type": "object",
          "additionalProperties": false,
          "properties": {
            "inject": {
              "type": "array",
              "items": {
                "type": "object",
                "additionalProperties": false,
                "required": [
                  "volumeName",
                  "audience",
                  "mountPath"
                ],
                "properties": {
                  "volumeName": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 63
                  },
                  "audience": {
                    "$ref": "#/definitions/audience"
                  },
                  "expirationSeconds": {
                    "$ref": "#/definitions/seconds"
                  },
                  "mountPath": {
                    "type": "string",
                    "minLength": 1
                  },
                  "path": {
                    "type": "string",
                    "minLength": 1
                  },
                  "containers": {
                    "$ref": "#/definitions/globList"
                  }
                }
              }
            },
            "bounds": {
              "type": "object",
              "additionalProperties": false,
              "properties": {
                "allowedAudiences": {
                  "type": "array",
                  "items": {
                    "$ref": "#/definitions/audience"
                  }
                },
                "minExpirationSeconds": {
                  "$ref": "#/definitions/seconds"
                },
                "maxExpirationSeconds": {
                  "$ref": "#/definitions/seconds"
                },
                "onViolation": {
                  "enum": [
                    "Mutate",
                    "Deny"
                  ]
                }
              }
            },
            "apiTokenExpirationSeconds": {
              "$ref": "#/definitions/seconds"
            }
          }
        },
        "tokenRequests": {
          "type": "object",
          "additionalProperties": false,
          "description": "Limits on tokens requested through the TokenRequest API; the kubelet's pod-bound requests are always exempt.",
          "properties": {
            "maxExpirationSeconds": {
              "$ref": "#/definitions/seconds"
            },
            "allowedAudiences": {
              "type": "array",
              "items": {
                "$ref": "#/definitions/audience"
              }
            },
            "onViolation": {
              "enum": [
                "Mutate",
                "Deny"
              ]
            },
            "exemptUsers": {
              "$ref": "#/definitions/globList"
            },
            "exemptGroups": {
              "$ref": "#/definitions/globList"
            }
          }
        }
      }
    }
  },
  "definitions": {
    "globList": {
      "type": "array",
      "items": {
        "type": "string",
        "minLength": 1
      }
    },
    "seconds": {
      "type": "integer",
      "minimum": 600,
      "maximum": 4294967296
    },
    "audience": {
      "type": "string",
      "minLength": 1,
      "maxLength": 1024,
      "pattern": "^[^\\s]+$"
    },
    "labelSelector": {
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "matchLabels": {
          "type": "object",
          "additionalProperties": {
            "type": "string"
          }
        },
        "matchExpressions": {
          "type": "array",
          "items": {
            "type": "object",
            "additionalProperties": false,
            "required": [
              "key",
              "operator"
            ],
            "properties": {
              "key": {
                "type": "string",
                "minLength": 1
              },
              "operator": {
                "enum": [
                  "In",
                  "NotIn",
                  "Exists",
                  "DoesNotExist"
                ]
              },
              "values": {
                "type": "array",
                "items": {
                  "type": "string"
                }
              }
            }
          }
        }
      }
    }
  }
} as const;

const rfc3339 = { type: 'string', pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$' } as const;
const count = { type: 'integer', minimum: 0 } as const;
const k8sName = { type: 'string', maxLength: 253, pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$' } as const;

/**
 * JSON Schema of a TokenUsage document, what `tokenguard usage --output facts` writes and
 * `serve --usage` and `test --facts` read (docs/usage.md "The TokenUsage document"). The reader
 * in src/usage/facts.ts checks the same rules, with messages naming file and field.
 */
export const tokenUsageSchema = {
  title: 'TokenUsage',
  description: 'What the API server audit log showed of ServiceAccount tokens (tokenguard.dev/v1alpha1), from tokenguard usage --output facts.',
  type: 'object',
  additionalProperties: false,
  required: ['apiVersion', 'kind', 'spec'],
  properties: {
    apiVersion: { const: 'tokenguard.dev/v1alpha1' },
    kind: { const: 'TokenUsage' },
    metadata: { type: 'object', properties: { name: { type: 'string' } } },
    spec: {
      type: 'object',
      additionalProperties: false,
      properties: {
        window: {
          type: 'object',
          additionalProperties: false,
          description: 'The time the audit log covers. Without it, observed use is unknown.',
          properties: { from: rfc3339, to: rfc3339 },
        },
        serviceAccounts: {
          type: 'array',
          description: 'Every ServiceAccount whose tokens were seen in use; one not listed was not seen.',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['namespace', 'name'],
            properties: {
              namespace: k8sName,
              name: k8sName,
              firstSeen: rfc3339,
              lastSeen: { ...rfc3339, description: 'Last request with one of its tokens, or last TokenReview of one.' },
              requests: count,
              presented: { ...count, description: 'Its tokens presented to TokenReviews.' },
              legacySecrets: {
                type: 'array',
                items: {
                  type: 'object',
                  additionalProperties: false,
                  required: ['name', 'kind', 'lastSeen'],
                  properties: {
                    name: { type: 'string', description: 'The Secret; empty when the API server did not name it (before 1.29).' },
                    kind: { enum: ['autogenerated', 'manual', 'invalidated', 'unknown'] },
                    lastSeen: rfc3339,
                    requests: count,
                    refused: count,
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
