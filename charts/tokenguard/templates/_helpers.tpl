{{/*
Names. The release "tokenguard" in "tokenguard-system" gives the names deploy/ uses.
*/}}
{{- define "tokenguard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "tokenguard.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The Service's DNS name: what the serving certificate is for. */}}
{{- define "tokenguard.serviceHost" -}}
{{- printf "%s.%s.svc" (include "tokenguard.fullname" .) .Release.Namespace }}
{{- end }}

{{/*
"true" when tokenguard keeps its own certificates (serve --manage-certificates), else "".
*/}}
{{- define "tokenguard.certificateController" -}}
{{- if and (eq .Values.certificates.source "selfManaged") .Values.certificates.selfManaged.controller }}
{{- "true" }}
{{- end }}
{{- end }}

{{/* The Secret and the Lease of the certificate controller. */}}
{{- define "tokenguard.controllerSecretName" -}}
{{- printf "%s-certificates" (include "tokenguard.fullname" .) }}
{{- end }}

{{- define "tokenguard.tlsSecretName" -}}
{{- if include "tokenguard.certificateController" . }}
{{- include "tokenguard.controllerSecretName" . }}
{{- else if eq .Values.certificates.source "existingSecret" }}
{{- required "certificates.existingSecret.name is required with certificates.source=existingSecret" .Values.certificates.existingSecret.name }}
{{- else }}
{{- printf "%s-tls" (include "tokenguard.fullname" .) }}
{{- end }}
{{- end }}

{{- define "tokenguard.policiesConfigMapName" -}}
{{- default (printf "%s-policies" (include "tokenguard.fullname" .)) .Values.policies.existingConfigMap }}
{{- end }}

{{/*
Labels. The selector labels are deploy/base's (name, component) plus Helm's instance label.
*/}}
{{- define "tokenguard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tokenguard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: webhook
{{- end }}

{{- define "tokenguard.labels" -}}
app.kubernetes.io/name: {{ include "tokenguard.name" . }}
app.kubernetes.io/part-of: tokenguard
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "tokenguard.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
The namespaces no webhook is called for: the configured list plus the release namespace,
which must stay excluded so that a stopped tokenguard can always start again.
*/}}
{{- define "tokenguard.excludedNamespaces" -}}
{{- $list := concat .Values.webhooks.excludedNamespaces (list .Release.Namespace) | uniq }}
{{- toJson $list }}
{{- end }}

{{/*
failurePolicy of one webhook: `list $ webhook`. The groups follow deploy/base: the mutating pod
webhook; the webhooks deploy/base makes Fail (validating); the rest, best effort. auditOnly makes
every webhook Ignore.
*/}}
{{- define "tokenguard.failurePolicy" -}}
{{- $root := index . 0 }}
{{- $hook := index . 1 }}
{{- if $root.Values.auditOnly }}
{{- "Ignore" }}
{{- else if eq $hook.name "mutate.tokenguard.dev" }}
{{- $root.Values.webhooks.failurePolicy.mutating }}
{{- else if eq $hook.failurePolicy "Fail" }}
{{- $root.Values.webhooks.failurePolicy.validating }}
{{- else }}
{{- $root.Values.webhooks.failurePolicy.bestEffort }}
{{- end }}
{{- end }}

{{/*
The pod-level scheduling and security settings shared by the hook and test pods: they run the
tokenguard image (node and the scripts in files/) as the webhook does.
*/}}
{{- define "tokenguard.jobPodSpec" -}}
restartPolicy: Never
automountServiceAccountToken: true
enableServiceLinks: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  runAsNonRoot: true
  runAsUser: 65532
  runAsGroup: 65532
  fsGroup: 65532
  seccompProfile:
    type: RuntimeDefault
{{- end }}

{{- define "tokenguard.jobContainerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}
