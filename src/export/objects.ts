/**
 * The Kubernetes objects `tokenguard export` writes: ValidatingAdmissionPolicy and its binding
 * (`admissionregistration.k8s.io/v1`), MutatingAdmissionPolicy and its binding
 * (`admissionregistration.k8s.io/v1beta1`, beta in Kubernetes 1.34), as plain JSON shapes.
 */
import type { Selector } from './match.js';

export const VAP_API_VERSION = 'admissionregistration.k8s.io/v1';
export const MAP_API_VERSION = 'admissionregistration.k8s.io/v1beta1';

/** Annotations every exported object carries (docs/vap.md "What the objects say"). */
export const ANNOTATION_POLICY = 'tokenguard.dev/policy';
export const ANNOTATION_RULES = 'tokenguard.dev/rules';
export const ANNOTATION_NOT_EXPORTED = 'tokenguard.dev/not-exported';

export interface MatchCondition {
  name: string;
  expression: string;
}

export interface Variable {
  name: string;
  expression: string;
}

export interface ResourceRule {
  apiGroups: string[];
  apiVersions: string[];
  operations: string[];
  resources: string[];
  scope?: string;
}

export interface MatchResources {
  resourceRules: ResourceRule[];
  namespaceSelector?: Selector;
  objectSelector?: Selector;
  matchPolicy?: 'Equivalent' | 'Exact';
}

export interface Metadata {
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface Validation {
  expression: string;
  messageExpression?: string;
  message?: string;
  reason?: 'Forbidden' | 'Invalid';
}

export interface ParamKind {
  apiVersion: string;
  kind: string;
}

export interface ValidatingAdmissionPolicy {
  apiVersion: typeof VAP_API_VERSION;
  kind: 'ValidatingAdmissionPolicy';
  metadata: Metadata;
  spec: {
    failurePolicy: 'Fail' | 'Ignore';
    paramKind?: ParamKind;
    matchConstraints: MatchResources;
    matchConditions?: MatchCondition[];
    variables: Variable[];
    validations: Validation[];
  };
}

export interface ParamRef {
  selector: Selector;
  parameterNotFoundAction: 'Allow' | 'Deny';
}

export interface ValidatingAdmissionPolicyBinding {
  apiVersion: typeof VAP_API_VERSION;
  kind: 'ValidatingAdmissionPolicyBinding';
  metadata: Metadata;
  spec: {
    policyName: string;
    validationActions: ('Deny' | 'Warn' | 'Audit')[];
    paramRef?: ParamRef;
  };
}

export interface Mutation {
  patchType: 'JSONPatch';
  jsonPatch: { expression: string };
}

export interface MutatingAdmissionPolicy {
  apiVersion: typeof MAP_API_VERSION;
  kind: 'MutatingAdmissionPolicy';
  metadata: Metadata;
  spec: {
    failurePolicy: 'Fail' | 'Ignore';
    reinvocationPolicy: 'IfNeeded' | 'Never';
    paramKind?: ParamKind;
    matchConstraints: MatchResources;
    matchConditions?: MatchCondition[];
    variables: Variable[];
    mutations: Mutation[];
  };
}

export interface MutatingAdmissionPolicyBinding {
  apiVersion: typeof MAP_API_VERSION;
  kind: 'MutatingAdmissionPolicyBinding';
  metadata: Metadata;
  spec: {
    policyName: string;
    paramRef?: ParamRef;
  };
}

export type AdmissionPolicyObject =
  | ValidatingAdmissionPolicy
  | ValidatingAdmissionPolicyBinding
  | MutatingAdmissionPolicy
  | MutatingAdmissionPolicyBinding;
