package stack

import (
	"maps"
	"strings"
)

// TelemetryFrom picks the OpenTelemetry variables (OTEL_*) out of an environment (os.Environ's form): what
// `make run` passes on to the services, whose environment is otherwise exactly what the stack sets.
func TelemetryFrom(environ []string) map[string]string {
	out := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "OTEL_") && v != "" {
			out[k] = v
		}
	}
	return out
}

// keycloakTracing is Keycloak's tracing options for the services' OTEL_* variables: off unless an OTLP
// endpoint is set (as for the services), else the same collector, protocol and sampler. Keycloak adds the
// signal's path to the endpoint as the SDKs do, so OTEL_EXPORTER_OTLP_ENDPOINT is taken as it is; a traces-only
// endpoint (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, a full URL) leaves Keycloak untraced.
func keycloakTracing(otel map[string]string) map[string]string {
	endpoint := otel["OTEL_EXPORTER_OTLP_ENDPOINT"]
	if endpoint == "" || otel["OTEL_SDK_DISABLED"] == "true" || otel["OTEL_TRACES_EXPORTER"] == "none" {
		return nil
	}
	protocol := otel["OTEL_EXPORTER_OTLP_PROTOCOL"]
	if p := otel["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"]; p != "" {
		protocol = p
	}
	if protocol == "" {
		protocol = "http/protobuf" // the services' default; Keycloak's own is grpc
	}
	env := map[string]string{"KC_TRACING_ENABLED": "true", "KC_TRACING_ENDPOINT": endpoint, "KC_TRACING_PROTOCOL": protocol}
	if arg := otel["OTEL_TRACES_SAMPLER_ARG"]; arg != "" {
		env["KC_TRACING_SAMPLER_RATIO"] = arg
	}
	return env
}

// withTelemetry is env with the OTEL_* variables added (env's own win).
func withTelemetry(env, otel map[string]string) map[string]string {
	out := maps.Clone(otel)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, env)
	return out
}
