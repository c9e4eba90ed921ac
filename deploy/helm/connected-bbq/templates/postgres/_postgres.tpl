{{/*
A single-instance Postgres StatefulSet with its Service and NetworkPolicy. dict: root, component,
database, username, secret (Secret with key password), size, clients (components allowed to connect).
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
    spec:
      serviceAccountName: {{ $name }}
      automountServiceAccountToken: false
      {{- include "bbq.imagePullSecrets" $root | nindent 6 }}
      securityContext:
        {{- include "bbq.podSecurityContext" (dict "uid" $root.Values.postgres.uid) | nindent 8 }}
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
