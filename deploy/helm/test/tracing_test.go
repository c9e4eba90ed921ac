package test

import (
	"fmt"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestTracingOffByDefaultAndOnWithAnEndpoint: no OTEL_* variables, no Keycloak tracing and no egress to a
// collector by default; with tracing.endpoint every Go service exports there, Keycloak traces too, and the
// NetworkPolicies let them reach the collector's port (only the peers of tracing.egressTo, when given).
func TestTracingOffByDefaultAndOnWithAnEndpoint(t *testing.T) {
	collector := map[string]any{"namespaceSelector": map[string]any{"matchLabels": map[string]any{"name": "observability"}}}
	for _, tc := range []struct {
		name     string
		args     []string
		endpoint string
		peers    []any // nil: any address
	}{
		{"default", nil, "", nil},
		{"endpoint", []string{"--set", "tracing.endpoint=http://otel.observability:4318"}, "http://otel.observability:4318", nil},
		{"endpoint and peers", []string{"--set", "tracing.endpoint=http://otel.observability:4318",
			"--set", "tracing.egressTo[0].namespaceSelector.matchLabels.name=observability"}, "http://otel.observability:4318", []any{collector}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := rendered(t, tc.args...)
			for _, svc := range append(slices.Clone(goServices), "keycloak") {
				name := "bbq-connected-bbq-" + svc
				c := nested[[]any](t, get(t, objs, workloadKind(objs, name)+"/"+name), "spec", "template", "spec", "containers")[0].(map[string]any)
				envVar := "OTEL_EXPORTER_OTLP_ENDPOINT"
				if svc == "keycloak" {
					envVar = "KC_TRACING_ENDPOINT"
				}
				if got := envValue(c, envVar); got != tc.endpoint {
					t.Errorf("%s: %s=%q, want %q", svc, envVar, got, tc.endpoint)
				}
				rule, found := egressOn(t, get(t, objs, "NetworkPolicy/"+name), "4318")
				if found != (tc.endpoint != "") {
					t.Errorf("%s: egress to the collector's port: %v, want %v", svc, found, tc.endpoint != "")
				}
				if found && (tc.peers != nil || rule["to"] != nil) && fmt.Sprint(rule["to"]) != fmt.Sprint(tc.peers) {
					t.Errorf("%s: egress to %v, want %v", svc, rule["to"], tc.peers)
				}
			}
		})
	}
}

// TestKeycloakTracingOptions: Keycloak gets the collector's protocol and sampler in its own option names (the
// values test/keycloak runs a real Keycloak with), and tracing.keycloak=false leaves it untraced.
func TestKeycloakTracingOptions(t *testing.T) {
	name := "bbq-connected-bbq-keycloak"
	keycloak := func(args ...string) map[string]any {
		objs := rendered(t, args...)
		return nested[[]any](t, get(t, objs, workloadKind(objs, name)+"/"+name), "spec", "template", "spec", "containers")[0].(map[string]any)
	}
	c := keycloak("--set", "tracing.endpoint=http://otel:4317", "--set", "tracing.protocol=grpc",
		"--set", "tracing.sampler=parentbased_traceidratio", "--set", "tracing.samplerArg=0.25")
	for k, want := range map[string]string{"KC_TRACING_ENABLED": "true", "KC_TRACING_ENDPOINT": "http://otel:4317",
		"KC_TRACING_PROTOCOL": "grpc", "KC_TRACING_SAMPLER_TYPE": "parentbased_traceidratio", "KC_TRACING_SAMPLER_RATIO": "0.25"} {
		if got := envValue(c, k); got != want {
			t.Errorf("%s=%q, want %q", k, got, want)
		}
	}
	off := keycloak("--set", "tracing.endpoint=http://otel:4318", "--set", "tracing.keycloak=false")
	if got := envValue(off, "KC_TRACING_ENABLED"); got != "" {
		t.Errorf("tracing.keycloak=false: KC_TRACING_ENABLED=%q, want unset", got)
	}
}

func workloadKind(objs map[string]*unstructured.Unstructured, name string) string {
	if _, ok := objs["StatefulSet/"+name]; ok {
		return "StatefulSet"
	}
	return "Deployment"
}

func envValue(container map[string]any, name string) string {
	env, _ := container["env"].([]any)
	for _, e := range env {
		if m := e.(map[string]any); m["name"] == name {
			return fmt.Sprint(m["value"])
		}
	}
	return ""
}

// egressOn returns the NetworkPolicy's egress rule on port.
func egressOn(t *testing.T, np map[string]any, port string) (map[string]any, bool) {
	t.Helper()
	rules, _, _ := unstructured.NestedSlice(np, "spec", "egress")
	for _, r := range rules {
		rule := r.(map[string]any)
		ports, _ := rule["ports"].([]any)
		if slices.ContainsFunc(ports, func(p any) bool { return fmt.Sprint(p.(map[string]any)["port"]) == port }) {
			return rule, true
		}
	}
	return nil, false
}
