{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "entramail-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name; used for most object names. */}}
{{- define "entramail-operator.fullname" -}}
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

{{- define "entramail-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "entramail-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "entramail-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "entramail-operator.labels" -}}
helm.sh/chart: {{ include "entramail-operator.chart" . }}
{{ include "entramail-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: entramail
{{- end }}

{{- define "entramail-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "entramail-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Image reference: repository:tag, or repository:tag@digest when a digest is pinned. */}}
{{- define "entramail-operator.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* The namespace-scoped rules for NocoBaseMailIntegrations, their Secrets and consumer workloads. They go into a
ClusterRole when all namespaces are watched, or into a Role per namespace in watchNamespaces. */}}
{{- define "entramail-operator.integrationRules" -}}
- apiGroups: ["entramail.io"]
  resources: ["nocobasemailintegrations"]
  verbs: ["get", "list", "watch", "patch", "update"]
- apiGroups: ["entramail.io"]
  resources: ["nocobasemailintegrations/status", "nocobasemailintegrations/finalizers"]
  verbs: ["patch", "update"]
# The operator server-side applies the Secrets it owns (apply of a missing object is authorised as create) and
# watches them to repair drift. It never updates or deletes Secrets itself: owner references let the garbage
# collector remove them with their NocoBaseMailIntegration.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch", "create", "patch"]
{{- if .Values.rbac.restartConsumers }}
# Rollout restart of the consumer workloads named in spec.rotation.consumers (a pod-template annotation patch).
- apiGroups: ["apps"]
  resources: ["deployments", "statefulsets"]
  verbs: ["get", "list", "watch", "patch"]
{{- end }}
{{- end }}
