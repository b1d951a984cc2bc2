{{/* Names and labels. */}}
{{- define "raytls-signer.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "raytls-signer.fullname" -}}
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

{{- define "raytls-signer.selectorLabels" -}}
app.kubernetes.io/name: {{ include "raytls-signer.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "raytls-signer.labels" -}}
{{ include "raytls-signer.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "raytls-signer.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "raytls-signer.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Service's names, the hosts `raytls init --signer` dials: NAME.NS.svc, NAME.NS.svc.DOMAIN. */}}
{{- define "raytls-signer.serviceHosts" -}}
{{- $svc := include "raytls-signer.fullname" . }}
{{- printf "%s.%s.svc" $svc .Release.Namespace }}
{{ printf "%s.%s.svc.%s" $svc .Release.Namespace (trimSuffix "." .Values.clusterDomain) }}
{{- end }}

{{/* Where the tokens come from: secret or csi. */}}
{{- define "raytls-signer.tokenSource" -}}
{{- default .Values.ca.source .Values.tokens.source }}
{{- end }}

{{/* The roles with a token, in a fixed order. */}}
{{- define "raytls-signer.tokenRoles" -}}
{{- $roles := list }}
{{- range $role := list "head" "worker" "client" }}
{{- if index $.Values.tokens.roles $role }}
{{- $roles = append $roles $role }}
{{- end }}
{{- end }}
{{- join " " $roles }}
{{- end }}

{{/*
Checks of the values: a setting that cannot work stops `helm install`/`helm template` with a
message naming the value, rather than rendering a signer that fails later.
*/}}
{{- define "raytls-signer.validate" -}}
{{- $v := .Values }}
{{- if not (has $v.mode (list "token" "kubernetes")) }}
{{- fail (printf "mode: %q is not a mode of the signer: use token (role tokens, today's raytls serve) or kubernetes (raytls serve --kubernetes)" (toString $v.mode)) }}
{{- end }}
{{- if not (or (kindIs "float64" $v.replicas) (kindIs "int64" $v.replicas) (kindIs "int" $v.replicas)) }}
{{- fail (printf "replicas: %q is not a number" (toString $v.replicas)) }}
{{- end }}
{{- $replicas := int $v.replicas }}
{{- if lt $replicas 1 }}
{{- fail (printf "replicas: %d: the signer needs at least 1 replica (2 or more to keep signing through a node drain)" $replicas) }}
{{- end }}
{{- if $v.podDisruptionBudget.enabled }}
{{- if lt $replicas 2 }}
{{- fail (printf "podDisruptionBudget.enabled with replicas: %d: a PodDisruptionBudget (minAvailable %v) over a single signer blocks every node drain; set replicas >= 2 or podDisruptionBudget.enabled=false" $replicas $v.podDisruptionBudget.minAvailable) }}
{{- end }}
{{- if ge (int $v.podDisruptionBudget.minAvailable) $replicas }}
{{- fail (printf "podDisruptionBudget.minAvailable: %v with replicas: %d: no signer pod could ever be evicted, so node drains hang; use a value below replicas" $v.podDisruptionBudget.minAvailable $replicas) }}
{{- end }}
{{- end }}
{{- if not (has $v.ca.source (list "secret" "csi")) }}
{{- fail (printf "ca.source: %q: use secret (a Kubernetes Secret) or csi (Secrets Store CSI)" (toString $v.ca.source)) }}
{{- end }}
{{- if eq $v.ca.source "secret" }}
{{- $_ := required "ca.secret.name is required with ca.source secret: the Secret holding ca.crt and ca.key" $v.ca.secret.name }}
{{- else }}
{{- $_ := required "ca.csi.secretProviderClass is required with ca.source csi" $v.ca.csi.secretProviderClass }}
{{- end }}
{{- $port := int $v.listen.port }}
{{- if or (lt $port 1) (gt $port 65535) }}
{{- fail (printf "listen.port: %v is not a TCP port" $v.listen.port) }}
{{- end }}
{{- if eq $v.mode "token" }}
{{- $tsrc := include "raytls-signer.tokenSource" . }}
{{- if not (has $tsrc (list "secret" "csi")) }}
{{- fail (printf "tokens.source: %q: use secret, csi, or \"\" (the same as ca.source)" $tsrc) }}
{{- end }}
{{- if and (eq $tsrc "csi") (ne $v.ca.source "csi") }}
{{- fail "tokens.source csi reads the tokens from the CA's CSI volume: set ca.source csi too" }}
{{- end }}
{{- range $role, $t := $v.tokens.roles }}
{{- if not (has $role (list "head" "worker" "client")) }}
{{- fail (printf "tokens.roles.%s: not a role of raytls serve --token (head, worker, client)" $role) }}
{{- end }}
{{- if $t }}
{{- if eq $tsrc "secret" }}
{{- $_ := required (printf "tokens.roles.%s.secretName is required (the Secret of `raytls token generate --k8s-secret NAME`)" $role) $t.secretName }}
{{- else }}
{{- $_ := required (printf "tokens.roles.%s.csiFile is required with tokens from the CSI volume" $role) $t.csiFile }}
{{- end }}
{{- end }}
{{- end }}
{{- if not (include "raytls-signer.tokenRoles" .) }}
{{- fail "mode token needs at least one role in tokens.roles (head, worker, client): raytls serve refuses to start without a --token" }}
{{- end }}
{{- else }}
{{- $_ := required "kubernetes.masterKey.secretName is required in mode kubernetes (the Secret with the signer's master key)" $v.kubernetes.masterKey.secretName }}
{{- $_ := required "kubernetes.flags.enable is required in mode kubernetes" $v.kubernetes.flags.enable }}
{{- if $v.policy.headNames }}
{{- fail "policy.headNames is for mode token: in mode kubernetes the signer takes a head's names from its Services" }}
{{- end }}
{{- end }}
{{- if $v.metrics.serviceMonitor.enabled }}
{{- if not (or $v.metrics.serviceMonitor.tlsConfig $v.metrics.serviceMonitor.caConfigMap.name) }}
{{- fail "metrics.serviceMonitor: set caConfigMap.name (the public ca.crt Prometheus checks the signer against) or a tlsConfig: /metrics is served over HTTPS only" }}
{{- end }}
{{- end }}
{{- end }}
