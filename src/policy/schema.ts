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
                "whenUnknown": {
                  "enum": [
                    "Needed",
                    "NotNeeded"
                  ],
                  "description": "How unknown RBAC bindings count; default Needed."
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
