{{/* Names: <release>-<component>, cut to 63 characters. */}}
{{- define "bbq.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}{{ .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else -}}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "bbq.name" -}}
{{- printf "%s-%s" (include "bbq.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "bbq.selectorLabels" -}}
app.kubernetes.io/name: {{ .component }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{- define "bbq.labels" -}}
{{ include "bbq.selectorLabels" . }}
app.kubernetes.io/part-of: connected-bbq
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Our own image: registry/repository:tag, the tag pinned to appVersion unless set. */}}
{{- define "bbq.image" -}}
{{- printf "%s/%s:%s" .root.Values.image.registry .repository (default .root.Chart.AppVersion .root.Values.image.tag) -}}
{{- end -}}

{{- define "bbq.thirdPartyImage" -}}
{{- printf "%s:%s" .repository .tag -}}
{{- end -}}

{{/* The restricted Pod Security Standard, for every pod of the chart. */}}
{{- define "bbq.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid | default 65532 }}
runAsGroup: {{ .uid | default 65532 }}
fsGroup: {{ .uid | default 65532 }}
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "bbq.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
privileged: false
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "bbq.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Spreads replicas over nodes and zones when there are several. */}}
{{- define "bbq.spread" -}}
affinity:
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          topologyKey: kubernetes.io/hostname
          labelSelector:
            matchLabels:
              {{- include "bbq.selectorLabels" . | nindent 14 }}
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: kubernetes.io/hostname
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "bbq.selectorLabels" . | nindent 8 }}
  - maxSkew: 1
    topologyKey: topology.kubernetes.io/zone
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "bbq.selectorLabels" . | nindent 8 }}
{{- end -}}

{{/*
A generated secret value that survives upgrades: the value already in the cluster if there is one,
else a new one. dict: root, name (Secret), key, value (the new value, used only the first time).
*/}}
{{- define "bbq.keep" -}}
{{- $s := lookup "v1" "Secret" .root.Release.Namespace .name -}}
{{- if and $s $s.data (hasKey $s.data .key) -}}{{ index $s.data .key }}{{- else -}}{{ .value | b64enc }}{{- end -}}
{{- end -}}

{{/* Secret names: the user's existingSecret or ours. */}}
{{- define "bbq.secret.postgres" -}}{{ .Values.postgres.auth.existingSecret | default (include "bbq.name" (dict "root" . "component" "postgres")) }}{{- end -}}
{{- define "bbq.secret.keycloakAdmin" -}}{{ .Values.keycloak.admin.existingSecret | default (include "bbq.name" (dict "root" . "component" "keycloak-admin")) }}{{- end -}}
{{- define "bbq.secret.keycloakClients" -}}{{ .Values.keycloak.clients.existingSecret | default (include "bbq.name" (dict "root" . "component" "keycloak-clients")) }}{{- end -}}
{{- define "bbq.secret.keycloakDB" -}}{{ .Values.keycloak.database.existingSecret | default (include "bbq.name" (dict "root" . "component" "keycloak-db")) }}{{- end -}}
{{- define "bbq.secret.webhook" -}}{{ .Values.idpHook.webhook.existingSecret | default (include "bbq.name" (dict "root" . "component" "webhook")) }}{{- end -}}
{{- define "bbq.secret.adminToken" -}}{{ .Values.userService.adminToken.existingSecret | default (include "bbq.name" (dict "root" . "component" "admin-token")) }}{{- end -}}
{{- define "bbq.secret.session" -}}{{ .Values.dashboard.session.existingSecret | default (include "bbq.name" (dict "root" . "component" "dashboard-session")) }}{{- end -}}

{{/* In-cluster URLs. */}}
{{- define "bbq.natsURL" -}}nats://{{ include "bbq.name" (dict "root" . "component" "nats") }}:4222{{- end -}}
{{- define "bbq.keycloakURL" -}}http://{{ include "bbq.name" (dict "root" . "component" "keycloak") }}:8080/auth{{- end -}}
{{- define "bbq.issuer" -}}{{ trimSuffix "/" .Values.publicURL }}/auth/realms/{{ .Values.keycloak.realm }}{{- end -}}
{{- define "bbq.postgresHost" -}}{{ include "bbq.name" (dict "root" . "component" "postgres") }}{{- end -}}
{{- define "bbq.cnpgName" -}}{{ include "bbq.name" (dict "root" . "component" "db") }}{{- end -}}
{{- define "bbq.busReplicas" -}}{{ min (int .Values.nats.replicas) 5 }}{{- end -}}

{{/* Env of every service on the bus (proto/README.md). */}}
{{- define "bbq.busEnv" -}}
- name: NATS_URL
  value: {{ include "bbq.natsURL" . | quote }}
- name: BUS_STREAM
  value: {{ .Values.bus.stream | quote }}
- name: BUS_REPLICAS
  value: {{ include "bbq.busReplicas" . | quote }}
- name: BUS_DUPLICATE_WINDOW
  value: {{ .Values.bus.duplicateWindow | quote }}
- name: BUS_MAX_AGE
  value: {{ .Values.bus.maxAge | quote }}
- name: BUS_MAX_BYTES
  value: {{ .Values.bus.maxBytes | quote }}
- name: BUS_DEADLETTER_MAX_AGE
  value: {{ .Values.bus.deadLetterMaxAge | quote }}
{{- end -}}

{{/* DNS egress, which every pod needs. */}}
{{- define "bbq.dnsEgress" -}}
- to:
    - namespaceSelector: {}
      podSelector:
        matchLabels:
          k8s-app: kube-dns
  ports:
    - {port: 53, protocol: UDP}
    - {port: 53, protocol: TCP}
{{- end -}}

{{/* An egress or ingress peer: pods of one component of this release. */}}
{{- define "bbq.peer" -}}
- podSelector:
    matchLabels:
      {{- include "bbq.selectorLabels" . | nindent 6 }}
{{- end -}}

{{/* The operations port of every Go service: probes and metrics, never routed by the Ingress. */}}
{{- define "bbq.opsPort" -}}9090{{- end -}}

{{/* NetworkPolicy ingress rule: networkPolicy.metricsFrom (where Prometheus runs) may reach the metrics
port (dict: Values, port); for our Go services that is the ops port, which nobody else reaches. */}}
{{- define "bbq.metricsFrom" -}}
{{- with .Values.networkPolicy.metricsFrom }}
- from:
    {{- toYaml . | nindent 4 }}
  ports:
    - {port: {{ $.port }}, protocol: TCP}
{{- end }}
{{- end -}}

{{/* A PodDisruptionBudget when a workload runs several replicas. dict: root, component, replicas. */}}
{{- define "bbq.pdb" -}}
{{- if gt (int .replicas) 1 }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "bbq.name" . }}
  labels:
    {{- include "bbq.labels" . | nindent 4 }}
spec:
  maxUnavailable: 1
  selector:
    matchLabels:
      {{- include "bbq.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end -}}

{{/* A ServiceAccount that mounts no token unless asked. dict: root, component, token. */}}
{{- define "bbq.serviceAccount" -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "bbq.name" . }}
  labels:
    {{- include "bbq.labels" . | nindent 4 }}
automountServiceAccountToken: {{ .token | default false }}
{{- end -}}

{{/* OpenTelemetry env of our Go services (pkg/tracing): nothing while tracing.endpoint is empty. */}}
{{- define "bbq.tracingEnv" -}}
{{- with .Values.tracing -}}
{{- if .endpoint -}}
- {name: OTEL_EXPORTER_OTLP_ENDPOINT, value: {{ .endpoint | quote }}}
- {name: OTEL_EXPORTER_OTLP_PROTOCOL, value: {{ .protocol | quote }}}
- {name: OTEL_TRACES_SAMPLER, value: {{ .sampler | quote }}}
{{- with .samplerArg }}
- {name: OTEL_TRACES_SAMPLER_ARG, value: {{ . | quote }}}
{{- end }}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Egress to the trace collector, for a NetworkPolicy's egress list. */}}
{{- define "bbq.tracingEgress" -}}
{{- with .Values.tracing -}}
{{- if .endpoint -}}
- {{ if .egressTo }}to:
    {{- toYaml .egressTo | nindent 4 }}
  {{ end }}ports:
    - {port: {{ .egressPort }}, protocol: TCP}
{{- end -}}
{{- end -}}
{{- end -}}
