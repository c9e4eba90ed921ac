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
{{- define "bbq.natsURL" -}}{{ ternary "tls" "nats" .Values.nats.tls.enabled }}://{{ include "bbq.name" (dict "root" . "component" "nats") }}:4222{{- end -}}
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

{{/* NATS least privilege (docs/security.md). The users and permissions mirror testing/embedded's BusUsers; the
chart's test starts a real nats-server with this configuration and checks the same refusals. */}}
{{- define "bbq.secret.nats" -}}{{ .Values.nats.auth.existingSecret | default (include "bbq.name" (dict "root" . "component" "nats-users")) }}{{- end -}}
{{- define "bbq.natsUsers" -}}idp-hook,user-service,reader,admin{{- end -}}
{{/* The environment variable a NATS user's password is in, in the NATS pod: IDP_HOOK_PASSWORD... */}}
{{- define "bbq.natsPasswordVar" -}}{{ . | upper | replace "-" "_" }}_PASSWORD{{- end -}}

{{/* A list of subjects in the NATS configuration's syntax (JSON would escape ">"). */}}
{{- define "bbq.natsList" -}}[{{ range $i, $e := . }}{{ if $i }}, {{ end }}"{{ $e }}"{{ end }}]{{- end -}}

{{- define "bbq.natsAuthorization" -}}
{{- $s := .Values.bus.stream -}}
{{- $d := "DEADLETTERS" -}}
{{- $kv := "KV_idp-hook" -}}
{{- $consumer := "user-service" -}}
{{- $api := "$JS.API." -}}
{{- $ensure := list (printf "%sINFO" $api) -}}
{{- range list $s $d -}}
{{- $ensure = concat $ensure (list (printf "%sSTREAM.CREATE.%s" $api .) (printf "%sSTREAM.UPDATE.%s" $api .) (printf "%sSTREAM.INFO.%s" $api .)) -}}
{{- end -}}
{{- $hook := concat (list "events.idp.>" "$KV.idp-hook.>" (printf "%sSTREAM.MSG.GET.%s" $api $kv) (printf "%sDIRECT.GET.%s" $api $kv) (printf "%sDIRECT.GET.%s.>" $api $kv)
  (printf "%sSTREAM.CREATE.%s" $api $kv) (printf "%sSTREAM.UPDATE.%s" $api $kv) (printf "%sSTREAM.INFO.%s" $api $kv)) $ensure -}}
{{- $own := list -}}
{{- range $name := list $consumer "*" -}}
{{- $own = append $own (list (printf "%sCONSUMER.CREATE.%s.%s" $api $s $name) (printf "%sCONSUMER.CREATE.%s.%s.>" $api $s $name)
  (printf "%sCONSUMER.DURABLE.CREATE.%s.%s" $api $s $name) (printf "%sCONSUMER.INFO.%s.%s" $api $s $name)
  (printf "%sCONSUMER.MSG.NEXT.%s.%s" $api $s $name) (printf "$JS.ACK.%s.%s.>" $s $name)) -}}
{{- end -}}
{{- $service := concat (list "events.users.>" (printf "deadletter.%s.>" $consumer) (printf "%sSTREAM.MSG.GET.%s" $api $d)) $ensure (index $own 0) -}}
{{- $reader := concat (list (printf "%sINFO" $api) (printf "%sSTREAM.INFO.%s" $api $s) (printf "%sSTREAM.MSG.GET.%s" $api $s)) (index $own 1)
  (list (printf "%sCONSUMER.CREATE.%s.>" $api $s) (printf "%sCONSUMER.DELETE.%s.*" $api $s)) -}}
{{- $readerDeny := list (printf "%sCONSUMER.*.%s.%s" $api $s $consumer) (printf "%sCONSUMER.*.%s.%s.>" $api $s $consumer)
  (printf "%sCONSUMER.DURABLE.CREATE.%s.%s" $api $s $consumer) (printf "$JS.ACK.%s.%s.>" $s $consumer) -}}
authorization {
  users: [
    {user: "idp-hook", password: $IDP_HOOK_PASSWORD, permissions: {
      publish: {allow: {{ include "bbq.natsList" $hook }}}, subscribe: {allow: ["_INBOX_idp-hook.>"]}}}
    {user: "user-service", password: $USER_SERVICE_PASSWORD, permissions: {
      publish: {allow: {{ include "bbq.natsList" $service }}}, subscribe: {allow: ["_INBOX_user-service.>"]}}}
    {user: "reader", password: $READER_PASSWORD, permissions: {
      publish: {allow: {{ include "bbq.natsList" $reader }}, deny: {{ include "bbq.natsList" $readerDeny }}}, subscribe: {allow: ["_INBOX_reader.>"]}}}
    {user: "admin", password: $ADMIN_PASSWORD}
  ]
}
{{- end -}}

{{/* A service's NATS user and, with nats.tls, the CA that verifies the server. */}}
{{- define "bbq.natsUserEnv" -}}
{{- if .root.Values.nats.auth.enabled }}
- {name: NATS_USER, value: {{ .user | quote }}}
- name: NATS_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ include "bbq.secret.nats" .root }}, key: {{ .user }}}
{{- end }}
{{- if .root.Values.nats.tls.enabled }}
- {name: NATS_CA, value: /etc/nats-tls/ca.crt}
{{- end }}
{{- end -}}

{{/* With nats.tls, the volume and mount of the CA the services verify NATS with. */}}
{{- define "bbq.natsTLSVolume" -}}
{{- if .Values.nats.tls.enabled }}
- name: nats-tls
  secret: {secretName: {{ required "nats.tls.secretName is required with nats.tls.enabled" .Values.nats.tls.secretName }}, items: [{key: ca.crt, path: ca.crt}]}
{{- end }}
{{- end -}}
{{- define "bbq.natsTLSMount" -}}
{{- if .Values.nats.tls.enabled }}
- {name: nats-tls, mountPath: /etc/nats-tls, readOnly: true}
{{- end }}
{{- end -}}

{{/* user-service's Postgres: least privilege (userService.database) or the one URL of before. The migrate init
container gets the owner's URL too (MIGRATE_DATABASE_URL); the service never does. */}}
{{- define "bbq.leastPrivilegeDB" -}}
{{- if and .Values.userService.database.leastPrivilege (or (eq .Values.postgres.mode "statefulset") .Values.userService.database.existingSecret) }}true{{ end -}}
{{- end -}}
{{- define "bbq.secret.userServiceDB" -}}{{ .Values.userService.database.existingSecret | default (include "bbq.name" (dict "root" . "component" "user-service-db")) }}{{- end -}}
{{- define "bbq.userServiceDBEnv" -}}
{{- if include "bbq.leastPrivilegeDB" . -}}
{{- if .Values.userService.database.existingSecret -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef: {name: {{ include "bbq.secret.userServiceDB" . }}, key: service-url}
- name: API_DATABASE_URL
  valueFrom:
    secretKeyRef: {name: {{ include "bbq.secret.userServiceDB" . }}, key: api-url}
{{- else -}}
{{- $at := printf "@%s:5432/%s?sslmode=disable" (include "bbq.postgresHost" .) .Values.postgres.database -}}
- name: DB_SERVICE_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ include "bbq.secret.userServiceDB" . }}, key: service}
- name: DB_API_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ include "bbq.secret.userServiceDB" . }}, key: api}
- {name: DATABASE_URL, value: {{ printf "postgres://user_service:$(DB_SERVICE_PASSWORD)%s" $at | quote }}}
- {name: API_DATABASE_URL, value: {{ printf "postgres://user_service_api:$(DB_API_PASSWORD)%s" $at | quote }}}
{{- end -}}
{{- else -}}
{{ include "bbq.databaseURLEnv" . }}
{{- end -}}
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
