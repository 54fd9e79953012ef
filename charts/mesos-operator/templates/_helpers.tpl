{{/* Name of the chart, overridable. */}}
{{- define "mesos-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Fully qualified name of the release's objects. */}}
{{- define "mesos-operator.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "mesos-operator.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "mesos-operator.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels that select the operator's pods (never change them across upgrades). */}}
{{- define "mesos-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mesos-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels of every object of the release. */}}
{{- define "mesos-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "mesos-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: operator
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The ServiceAccount the operator runs as. */}}
{{- define "mesos-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "mesos-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The operator image reference. */}}
{{- define "mesos-operator.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Name of the leader election Lease (in the release's namespace). */}}
{{- define "mesos-operator.leaseName" -}}
{{- default (include "mesos-operator.fullname" .) .Values.leaderElection.leaseName -}}
{{- end -}}

{{/* The Secret holding the webhook's self-provisioned certificate. */}}
{{- define "mesos-operator.webhookSecret" -}}
{{- default (printf "%s-webhook-cert" (include "mesos-operator.fullname" .)) .Values.webhook.secretName -}}
{{- end -}}
