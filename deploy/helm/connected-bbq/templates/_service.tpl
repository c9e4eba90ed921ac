{{/*
One of our Go services: Deployment, Service, ServiceAccount, PDB. dict: root, component, values (its
values block), env (rendered env list), ports (list of dicts name/port: what the service serves),
initContainers (rendered, optional), token (mount a ServiceAccount token). Every service also gets its
operations port, named ops (OPS_ADDR): /healthz and /readyz for the probes, /metrics for Prometheus, and
nothing else; no other port serves those.
*/}}
{{- define "bbq.goService" -}}
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
    {{- range .ports }}
    - {name: {{ .name }}, port: {{ .port }}, targetPort: {{ .name }}}
    {{- end }}
    - {name: ops, port: {{ include "bbq.opsPort" . }}, targetPort: ops}
---
{{ include "bbq.serviceAccount" (dict "root" .root "component" .component "token" .token) }}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $name }}
  labels:
    {{- include "bbq.labels" $c | nindent 4 }}
spec:
  replicas: {{ .values.replicas }}
  revisionHistoryLimit: 5
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
      automountServiceAccountToken: {{ .token | default false }}
      {{- include "bbq.imagePullSecrets" $root | nindent 6 }}
      securityContext:
        {{- include "bbq.podSecurityContext" dict | nindent 8 }}
      {{- include "bbq.spread" $c | nindent 6 }}
      terminationGracePeriodSeconds: 30
      {{- with .initContainers }}
      initContainers:
        {{- . | nindent 8 }}
      {{- end }}
      containers:
        - name: {{ .component }}
          image: {{ include "bbq.image" (dict "root" $root "repository" .values.repository) }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          {{- with .args }}
          args: {{ toJson . }}
          {{- end }}
          env:
            {{- .env | nindent 12 }}
            - {name: OPS_ADDR, value: {{ printf ":%s" (include "bbq.opsPort" .) | quote }}}
            {{- with include "bbq.extraEnv" $c }}{{ . | nindent 12 }}{{ end }}
            {{- with include "bbq.tracingEnv" $root }}{{ . | nindent 12 }}{{ end }}
          ports:
            {{- range .ports }}
            - {name: {{ .name }}, containerPort: {{ .port }}}
            {{- end }}
            - {name: ops, containerPort: {{ include "bbq.opsPort" . }}}
          securityContext:
            {{- include "bbq.containerSecurityContext" . | nindent 12 }}
          startupProbe:
            httpGet: {path: /healthz, port: ops}
            periodSeconds: 2
            failureThreshold: 60
          livenessProbe:
            httpGet: {path: /healthz, port: ops}
            periodSeconds: 20
            timeoutSeconds: 3
          readinessProbe:
            httpGet: {path: /readyz, port: ops}
            periodSeconds: 5
            timeoutSeconds: 3
          resources:
            {{- toYaml .values.resources | nindent 12 }}
          volumeMounts:
            - {name: tmp, mountPath: /tmp}
            {{- with .volumeMounts }}
            {{- . | nindent 12 }}
            {{- end }}
      volumes:
        - {name: tmp, emptyDir: {sizeLimit: 64Mi}}
        {{- with .volumes }}
        {{- . | nindent 8 }}
        {{- end }}
{{ include "bbq.pdb" (dict "root" .root "component" .component "replicas" .values.replicas) }}
{{- end -}}
