{{/* Chart name, overridable with nameOverride. */}}
{{- define "caretta.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified name: the release name when it already contains the chart name
(so `helm install caretta ...` gives plain "caretta"), else release-chart.
*/}}
{{- define "caretta.fullname" -}}
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

{{- define "caretta.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "caretta.selectorLabels" -}}
app.kubernetes.io/name: {{ include "caretta.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "caretta.labels" -}}
helm.sh/chart: {{ include "caretta.chart" . }}
{{ include "caretta.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "caretta.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "caretta.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "caretta.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag | toString) }}
{{- end }}

{{/* true when the agent container runs privileged (fallback mode). */}}
{{- define "caretta.privileged" -}}
{{- if or .Values.privileged (dig "privileged" false .Values.securityContext) }}true{{ end }}
{{- end }}

{{/* Integer values rendered without float formatting (65536, never 6.5536e+04). */}}
{{- define "caretta.int" -}}
{{- if kindIs "string" . }}{{ . }}{{ else }}{{ int64 . }}{{ end }}
{{- end }}

{{/*
Name of the bundled Grafana's Service, computed like the grafana chart does.
*/}}
{{- define "caretta.grafanaFullname" -}}
{{- $g := index .Values "grafana" | default dict }}
{{- if $g.fullnameOverride }}
{{- $g.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default "grafana" $g.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
A map of labels or annotations with every value quoted as a string: toYaml would
leave values such as `y`, `on` or `1` bare, and the API server rejects them.
*/}}
{{- define "caretta.stringMap" -}}
{{- range $k, $v := . }}
{{ $k }}: {{ $v | toString | quote }}
{{- end }}
{{- end }}
