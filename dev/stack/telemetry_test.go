package stack

import (
	"maps"
	"testing"
)

func TestKeycloakTracesOnlyWhenTheServicesExport(t *testing.T) {
	for _, tc := range []struct {
		name    string
		environ []string
		want    map[string]string
	}{
		{"nothing set", []string{"PATH=/bin", "KC_TRACING_ENABLED=true"}, nil},
		{"an endpoint", []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318"},
			map[string]string{"KC_TRACING_ENABLED": "true", "KC_TRACING_ENDPOINT": "http://127.0.0.1:4318", "KC_TRACING_PROTOCOL": "http/protobuf"}},
		{"grpc and a ratio", []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=grpc",
			"OTEL_TRACES_SAMPLER=parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG=0.1"},
			map[string]string{"KC_TRACING_ENABLED": "true", "KC_TRACING_ENDPOINT": "http://127.0.0.1:4317", "KC_TRACING_PROTOCOL": "grpc",
				"KC_TRACING_SAMPLER_RATIO": "0.1"}},
		{"the SDK disabled", []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318", "OTEL_SDK_DISABLED=true"}, nil},
		{"export off", []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER=none"}, nil},
		{"a traces-only URL", []string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://127.0.0.1:4318/v1/traces"}, nil},
		{"an empty endpoint", []string{"OTEL_EXPORTER_OTLP_ENDPOINT="}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := keycloakTracing(TelemetryFrom(tc.environ)); !maps.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestServicesGetTheOTELVariablesAndKeepTheirOwn(t *testing.T) {
	otel := TelemetryFrom([]string{"OTEL_SERVICE_NAME=x", "OTEL_EXPORTER_OTLP_ENDPOINT=http://c:4318", "HOME=/root"})
	got := withTelemetry(map[string]string{"OTEL_SERVICE_NAME": "idp-hook", "HTTP_ADDR": ":1"}, otel)
	want := map[string]string{"OTEL_SERVICE_NAME": "idp-hook", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "HTTP_ADDR": ":1"}
	if !maps.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
