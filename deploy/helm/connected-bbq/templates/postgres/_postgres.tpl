{{/*
A single-instance Postgres StatefulSet with its Service and NetworkPolicy. dict: root, component,
database, username, secret (Secret with key password), size, clients (components allowed to connect),
roles (optional: list of dicts role, database, secret: a login role and a database it owns, made by the
bootstrap container and kept in step with the Secret's key password at every start of the pod).
*/}}
{{- define "bbq.postgres" -}}
{{- $root := .root -}}
{{- $c := dict "root" .root "component" .component -}}
{{- $name := include "bbq.name" $c -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ $name }}
  labels:
    {{- include "bbq.labels" $c | nindent 4 }}
spec:
  selector:
    {{- include "bbq.selectorLabels" $c | nindent 4 }}
  ports:
    - {name: postgres, port: 5432, targetPort: postgres}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $name }}-headless
  labels:
    {{- include "bbq.labels" $c | nindent 4 }}
spec:
  clusterIP: None
  selector:
    {{- include "bbq.selectorLabels" $c | nindent 4 }}
  ports:
    - {name: postgres, port: 5432, targetPort: postgres}
---
{{ include "bbq.serviceAccount" $c }}
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: {{ $name }}
  labels:
    {{- include "bbq.labels" $c | nindent 4 }}
spec:
  serviceName: {{ $name }}-headless
  replicas: 1
  selector:
    matchLabels:
      {{- include "bbq.selectorLabels" $c | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "bbq.labels" $c | nindent 8 }}
      {{- with include "bbq.podAnnotations" $c }}
      annotations:
        {{- . | nindent 8 }}
      {{- end }}
    spec:
      serviceAccountName: {{ $name }}
      automountServiceAccountToken: false
      {{- include "bbq.imagePullSecrets" $root | nindent 6 }}
      securityContext:
        {{- include "bbq.podSecurityContext" (dict "uid" $root.Values.postgres.uid) | nindent 8 }}
      {{- include "bbq.spread" $c | nindent 6 }}
      containers:
        - name: postgres
          image: {{ include "bbq.thirdPartyImage" $root.Values.postgres.image }}
          imagePullPolicy: {{ $root.Values.postgres.image.pullPolicy }}
          env:
            - {name: POSTGRES_DB, value: {{ .database | quote }}}
            - {name: POSTGRES_USER, value: {{ .username | quote }}}
            - name: POSTGRES_PASSWORD
              valueFrom:
                secretKeyRef: {name: {{ .secret }}, key: password}
            - {name: PGDATA, value: /var/lib/postgresql/data/pgdata}
            {{- with include "bbq.extraEnv" $c }}{{ . | nindent 12 }}{{ end }}
          ports:
            - {name: postgres, containerPort: 5432}
          securityContext:
            {{- include "bbq.containerSecurityContext" . | nindent 12 }}
          startupProbe:
            exec: {command: [pg_isready, -h, 127.0.0.1, -U, {{ .username | quote }}, -d, {{ .database | quote }}]}
            periodSeconds: 5
            failureThreshold: 60
          # Alive: the server answers on its socket. Ready: it also answers over TCP, as clients reach it.
          livenessProbe:
            exec: {command: [pg_isready, -h, /var/run/postgresql, -U, {{ .username | quote }}, -d, {{ .database | quote }}]}
            periodSeconds: 20
            timeoutSeconds: 5
          readinessProbe:
            exec: {command: [pg_isready, -h, 127.0.0.1, -U, {{ .username | quote }}, -d, {{ .database | quote }}]}
            periodSeconds: 10
            timeoutSeconds: 5
          resources:
            {{- toYaml $root.Values.postgres.resources | nindent 12 }}
          volumeMounts:
            - {name: data, mountPath: /var/lib/postgresql/data}
            - {name: run, mountPath: /var/run/postgresql}
            - {name: tmp, mountPath: /tmp}
        {{- with .roles }}
        # Creates the other roles and databases of this server over the local socket, once it runs (on a
        # new volume and on an old one alike, so an upgrade gets them too), then idles; ready once done.
        - name: bootstrap
          image: {{ include "bbq.thirdPartyImage" $root.Values.postgres.image }}
          imagePullPolicy: {{ $root.Values.postgres.image.pullPolicy }}
          command: ["/bin/sh", "-c", {{ include "bbq.postgresBootstrap" . | quote }}]
          env:
            - {name: PGHOST, value: /var/run/postgresql}
            - {name: PGUSER, value: {{ $.username | quote }}}
            - {name: PGDATABASE, value: {{ $.database | quote }}}
            - name: PGPASSWORD
              valueFrom:
                secretKeyRef: {name: {{ $.secret }}, key: password}
            {{- range $i, $r := . }}
            - name: ROLE_PASSWORD_{{ $i }}
              valueFrom:
                secretKeyRef: {name: {{ $r.secret }}, key: password}
            {{- end }}
          securityContext:
            {{- include "bbq.containerSecurityContext" $ | nindent 12 }}
          readinessProbe:
            exec: {command: [test, -f, /tmp/bbq-bootstrapped]}
            periodSeconds: 5
          resources:
            requests: {cpu: 10m, memory: 16Mi, ephemeral-storage: 16Mi}
            limits: {cpu: 200m, memory: 64Mi, ephemeral-storage: 64Mi}
          volumeMounts:
            - {name: run, mountPath: /var/run/postgresql}
            - {name: tmp, mountPath: /tmp}
        {{- end }}
      volumes:
        - {name: run, emptyDir: {}}
        - {name: tmp, emptyDir: {}}
  volumeClaimTemplates:
    - metadata:
        name: data
      spec:
        accessModes: [ReadWriteOnce]
        {{- with $root.Values.storageClass }}
        storageClassName: {{ . }}
        {{- end }}
        resources:
          requests:
            storage: {{ .size }}
{{- if $root.Values.networkPolicy.enabled }}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ $name }}
  labels:
    {{- include "bbq.labels" $c | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- include "bbq.selectorLabels" $c | nindent 6 }}
  policyTypes: [Ingress, Egress]
  ingress:
    - from:
        {{- range .clients }}
        {{- include "bbq.peer" (dict "root" $root "component" .) | nindent 8 }}
        {{- end }}
      ports:
        - {port: 5432, protocol: TCP}
  egress: []
{{- end }}
{{- end -}}

{{/*
The bootstrap container's script (list of dicts role, database; the passwords in ROLE_PASSWORD_<index>):
idempotent SQL, retried until the server answers, then an idle loop that ends on SIGTERM.
*/}}
{{- define "bbq.postgresBootstrap" -}}
set -eu
trap 'exit 0' TERM INT
ensure() {
  psql -v ON_ERROR_STOP=1 -qAt -d postgres -v role="$1" -v db="$2" -v pw="$3" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'role') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role')\gexec
ALTER ROLE :"role" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD :'pw';
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'role') WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db')\gexec
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
SQL
}
bootstrap() {
  pg_isready -q || return 1
  {{- range $i, $r := . }}
  ensure {{ $r.role | squote }} {{ $r.database | squote }} "$ROLE_PASSWORD_{{ $i }}" || return 1
  echo "role {{ $r.role }} and database {{ $r.database }} are in place"
  {{- end }}
}
until bootstrap; do sleep 2; done
touch /tmp/bbq-bootstrapped
while :; do sleep 3600 & wait $!; done
{{- end -}}
