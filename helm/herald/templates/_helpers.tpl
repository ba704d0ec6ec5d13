{{/* Names and labels shared by every template. */}}

{{- define "herald.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* herald-<release>, or the release name alone when it already contains "herald". */}}
{{- define "herald.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "herald.selectorLabels" -}}
app.kubernetes.io/name: {{ include "herald.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "herald.labels" -}}
{{ include "herald.selectorLabels" . }}
app.kubernetes.io/part-of: herald
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "herald.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "herald.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "herald.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "herald.secretName" -}}
{{- default (printf "%s-app" (include "herald.fullname" .)) .Values.appSecret.existingSecret -}}
{{- end -}}

{{- define "herald.claimName" -}}
{{- default (printf "%s-data" (include "herald.fullname" .)) .Values.store.sqlite.existingClaim -}}
{{- end -}}

{{/* HERALD_SCYLLA_USERNAME and _PASSWORD from store.scylla.credentialsSecret (list items). */}}
{{- define "herald.scyllaCredentialVars" -}}
{{- with .Values.store.scylla.credentialsSecret }}
- name: HERALD_SCYLLA_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: username
- name: HERALD_SCYLLA_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ . }}
      key: password
{{- end }}
{{- end -}}

{{/* An `env:` block with the ScyllaDB credentials, or nothing. */}}
{{- define "herald.scyllaCredentials" -}}
{{- if .Values.store.scylla.credentialsSecret }}
env:
{{- include "herald.scyllaCredentialVars" . | nindent 2 }}
{{- end }}
{{- end -}}
