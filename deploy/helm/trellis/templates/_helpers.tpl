{{/* Chart name and fullname, as `helm create` does. */}}
{{- define "trellis.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "trellis.fullname" -}}
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

{{/* Labels of every object; `component` is the service. Call with (dict "root" $ "service" "gateway"). */}}
{{- define "trellis.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: trellis
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
{{ include "trellis.selectorLabels" . }}
{{- end }}

{{- define "trellis.selectorLabels" -}}
app.kubernetes.io/name: {{ include "trellis.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .service }}
{{- end }}

{{/* NATS URL: given, or the bundled chart's client Service (its fullname rule). */}}
{{- define "trellis.natsUrl" -}}
{{- if .Values.natsUrl }}
{{- .Values.natsUrl }}
{{- else if contains "nats" .Release.Name }}
{{- printf "nats://%s:4222" .Release.Name }}
{{- else }}
{{- printf "nats://%s-nats:4222" .Release.Name }}
{{- end }}
{{- end }}

{{/* The image of a service: <repository>-<service>:<tag or appVersion> (see the Dockerfile's SERVICE build arg). */}}
{{- define "trellis.image" -}}
{{- $img := .root.Values.image -}}
{{- $repo := printf "%s-%s" $img.repository .service -}}
{{- if $img.registry }}{{ $repo = printf "%s/%s" $img.registry $repo }}{{ end -}}
{{- printf "%s:%s" $repo (default .root.Chart.AppVersion $img.tag) }}
{{- end }}

{{/* An env var read from an existing Secret. */}}
{{- define "trellis.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ .secret }}
      key: {{ .key }}
      {{- if .optional }}
      optional: true
      {{- end }}
{{- end }}
