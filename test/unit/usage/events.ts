/** Audit events as the API server's log backend writes them, for the usage tests. */

export interface EventOptions {
  auditID?: string;
  stage?: string;
  user?: string;
  pod?: { name: string; uid: string };
  node?: { name: string; uid: string };
  jti?: string;
  verb?: string;
  resource?: string;
  subresource?: string;
  group?: string;
  namespace?: string;
  name?: string;
  uri?: string;
  code?: number;
  time?: string;
  annotations?: Record<string, string>;
  responseObject?: unknown;
  requestObject?: unknown;
  sourceIP?: string;
  userAgent?: string;
}

let next = 0;

/** One `audit.k8s.io/v1` Event object. */
export function auditEvent(o: EventOptions = {}): Record<string, unknown> {
  const extra: Record<string, string[]> = {};
  if (o.pod) {
    extra['authentication.kubernetes.io/pod-name'] = [o.pod.name];
    extra['authentication.kubernetes.io/pod-uid'] = [o.pod.uid];
  }
  if (o.node) {
    extra['authentication.kubernetes.io/node-name'] = [o.node.name];
    extra['authentication.kubernetes.io/node-uid'] = [o.node.uid];
  }
  if (o.jti) extra['authentication.kubernetes.io/credential-id'] = [`JTI=${o.jti}`];
  const user = o.user ?? 'system:serviceaccount:shop:api';
  const stage = o.stage ?? 'ResponseComplete';
  const time = o.time ?? '2026-12-01T10:00:00.000000Z';
  const resource = o.resource ?? 'pods';
  return {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: o.responseObject || o.requestObject ? 'RequestResponse' : 'Metadata',
    auditID: o.auditID ?? `id-${++next}`,
    stage,
    requestURI: o.uri ?? `/api/v1/namespaces/${o.namespace ?? 'shop'}/${resource}`,
    verb: o.verb ?? 'list',
    user:
      user === ''
        ? {}
        : {
            username: user,
            uid: 'uid-1',
            groups: ['system:serviceaccounts', 'system:authenticated'],
            ...(Object.keys(extra).length > 0 ? { extra } : {}),
          },
    sourceIPs: [o.sourceIP ?? '10.0.0.1'],
    userAgent: o.userAgent ?? 'app/1.0',
    ...(o.uri && !o.resource
      ? {}
      : {
          objectRef: {
            resource,
            ...(o.namespace !== '' ? { namespace: o.namespace ?? 'shop' } : {}),
            ...(o.name ? { name: o.name } : {}),
            ...(o.group ? { apiGroup: o.group } : {}),
            ...(o.subresource ? { subresource: o.subresource } : {}),
            apiVersion: 'v1',
          },
        }),
    ...(stage !== 'RequestReceived' ? { responseStatus: { metadata: {}, code: o.code ?? 200 } } : {}),
    ...(o.requestObject ? { requestObject: o.requestObject } : {}),
    ...(o.responseObject ? { responseObject: o.responseObject } : {}),
    requestReceivedTimestamp: time,
    stageTimestamp: time,
    ...(o.annotations ? { annotations: o.annotations } : {}),
  };
}

/** The same, as one log line. */
export const line = (o: EventOptions = {}) => JSON.stringify(auditEvent(o));

/** A TokenReview response body as the API server logs it at RequestResponse. */
export function reviewResponse(username: string | undefined, pod?: { name: string; uid: string }) {
  return {
    kind: 'TokenReview',
    apiVersion: 'authentication.k8s.io/v1',
    spec: { token: 'eyJhbGciOiJSUzI1NiJ9.SECRET-TOKEN-VALUE.sig' },
    status:
      username === undefined
        ? { authenticated: false, error: 'invalid bearer token' }
        : {
            authenticated: true,
            user: {
              username,
              ...(pod
                ? {
                    extra: {
                      'authentication.kubernetes.io/pod-name': [pod.name],
                      'authentication.kubernetes.io/pod-uid': [pod.uid],
                    },
                  }
                : {}),
            },
          },
  };
}
