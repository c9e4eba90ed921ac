{{/* Names: <release>-<component>, cut to 63 characters. */}}
{{- define "bbq.fullname" -}}
{{- if .Values.fullnameOverride -}}{{ .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}{{ .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else -}}{{ printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- end -}}
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

{{/*
The values block of a component (dict: root, component): its common knobs (podAnnotations, nodeSelector,
tolerations, affinity, priorityClassName, extraEnv). Keycloak's own Postgres shares the postgres block.
*/}}
{{- define "bbq.componentValues" -}}
{{- $keys := dict "idp-hook" "idpHook" "user-service" "userService" "tenant-controller" "tenantController" "keycloak-db" "postgres" -}}
{{- toYaml (get .root.Values (get $keys .component | default .component) | default dict) -}}
{{- end -}}

{{/* The component's podAnnotations, as lines of an annotations map (empty when none). dict: root, component. */}}
{{- define "bbq.podAnnotations" -}}
{{- with (fromYaml (include "bbq.componentValues" .)).podAnnotations }}{{ toYaml . }}{{ end -}}
{{- end -}}

{{/* The component's extraEnv, as items of an env list (empty when none). dict: root, component. */}}
{{- define "bbq.extraEnv" -}}
{{- with (fromYaml (include "bbq.componentValues" .)).extraEnv }}{{ toYaml . }}{{ end -}}
{{- end -}}

{{/*
Where a component's pods run: its priorityClassName, nodeSelector and tolerations, its affinity (by default
replicas avoid each other's nodes), and a spread of replicas over nodes and zones. dict: root, component.
*/}}
{{- define "bbq.spread" -}}
{{- include "bbq.placement" . | trim -}}
{{- end -}}
{{- define "bbq.placement" -}}
{{- $v := fromYaml (include "bbq.componentValues" .) -}}
{{- with $v.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with $v.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if $v.affinity }}
affinity:
  {{- toYaml $v.affinity | nindent 2 }}
{{- else }}
affinity:
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          topologyKey: kubernetes.io/hostname
          labelSelector:
            matchLabels:
              {{- include "bbq.selectorLabels" . | nindent 14 }}
{{- end }}
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
{{/*
Keycloak's database in production mode (keycloak.database.mode): release = a database and role of its own in
the release's Postgres (the StatefulSet, or the CloudNativePG Cluster); statefulset = a second Postgres of the
release; external = keycloak.database.external. bbq.keycloakDBHost is empty for external.
*/}}
{{- define "bbq.keycloakDBHost" -}}
{{- $db := .Values.keycloak.database -}}
{{- if eq $db.mode "statefulset" -}}{{ include "bbq.name" (dict "root" . "component" "keycloak-db") }}
{{- else if eq $db.mode "release" -}}
{{- if eq .Values.postgres.mode "statefulset" -}}{{ include "bbq.postgresHost" . }}
{{- else if eq .Values.postgres.mode "cloudnativepg" -}}{{ include "bbq.cnpgName" . }}-rw
{{- else -}}{{ fail "keycloak.database.mode=release keeps Keycloak's database in the release's Postgres, but postgres.mode is external: set keycloak.database.mode=external with keycloak.database.external.url and keycloak.database.existingSecret" }}
{{- end -}}
{{- end -}}
{{- end -}}
{{- define "bbq.keycloakDBURL" -}}
{{- if eq .Values.keycloak.database.mode "external" -}}
{{- $_ := required "keycloak.database.existingSecret (key password) is required when keycloak.database.mode is external" .Values.keycloak.database.existingSecret -}}
{{- required "keycloak.database.external.url is required when keycloak.database.mode is external" .Values.keycloak.database.external.url }}
{{- else -}}{{ printf "jdbc:postgresql://%s:5432/%s" (include "bbq.keycloakDBHost" .) .Values.keycloak.database.database }}
{{- end -}}
{{- end -}}
{{/* Keycloak keeps its data in a Postgres of this release: its password is generated here (unless given). */}}
{{- define "bbq.keycloakDBInRelease" -}}
{{- if and (eq .Values.keycloak.mode "production") (ne .Values.keycloak.database.mode "external") -}}true{{- end -}}
{{- end -}}
{{/* Keycloak's role and database live in the release's Postgres StatefulSet, which creates them. */}}
{{- define "bbq.keycloakDBInPostgres" -}}
{{- if and (eq .Values.keycloak.mode "production") (eq .Values.keycloak.database.mode "release") (eq .Values.postgres.mode "statefulset") -}}true{{- end -}}
{{- end -}}
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
