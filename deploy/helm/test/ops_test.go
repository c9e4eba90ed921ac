package test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// goServices are our services: each has an ops port (probes, metrics) and no other port serves those.
var goServices = []string{"dashboard", "idp-hook", "user-service", "tenant-controller"}

// opsPort as the decoder gives numbers back, compared with fmt.Sprint.
const opsPort = "9090"

func rendered(t *testing.T, args ...string) map[string]*unstructured.Unstructured {
	t.Helper()
	out, err := helmTemplate(t, args...)
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, out)
	}
	objs := map[string]*unstructured.Unstructured{}
	for _, o := range decode(t, out) {
		objs[o.GetKind()+"/"+o.GetName()] = o
	}
	return objs
}

func get(t *testing.T, objs map[string]*unstructured.Unstructured, key string) map[string]any {
	t.Helper()
	o, ok := objs[key]
	if !ok {
		t.Fatalf("no %s rendered", key)
	}
	return o.Object
}

func nested[T any](t *testing.T, obj map[string]any, path ...string) T {
	t.Helper()
	v, ok, err := unstructured.NestedFieldNoCopy(obj, path...)
	if !ok || err != nil {
		t.Fatalf("no %s: %v", strings.Join(path, "."), err)
	}
	out, ok := v.(T)
	if !ok {
		t.Fatalf("%s is a %T", strings.Join(path, "."), v)
	}
	return out
}

// TestOpsPortServesProbesAndMetrics: every Go service listens for its probes and metrics on the named ops
// port (OPS_ADDR), its probes use it, and its Service exposes it by name for Prometheus.
func TestOpsPortServesProbesAndMetrics(t *testing.T) {
	objs := rendered(t)
	for _, svc := range goServices {
		t.Run(svc, func(t *testing.T) {
			name := "bbq-connected-bbq-" + svc
			c := nested[[]any](t, get(t, objs, "Deployment/"+name), "spec", "template", "spec", "containers")[0].(map[string]any)
			if !slices.ContainsFunc(nested[[]any](t, c, "ports"), func(p any) bool {
				m := p.(map[string]any)
				return m["name"] == "ops" && fmt.Sprint(m["containerPort"]) == opsPort
			}) {
				t.Errorf("container ports %v lack ops %s", c["ports"], opsPort)
			}
			if !slices.ContainsFunc(nested[[]any](t, c, "env"), func(e any) bool {
				m := e.(map[string]any)
				return m["name"] == "OPS_ADDR" && m["value"] == ":"+opsPort
			}) {
				t.Errorf("no OPS_ADDR=:%s in %v", opsPort, c["env"])
			}
			for _, probe := range []string{"startupProbe", "livenessProbe", "readinessProbe"} {
				if port := nested[any](t, c, probe, "httpGet", "port"); port != "ops" {
					t.Errorf("%s on port %v, want ops", probe, port)
				}
			}
			if !slices.ContainsFunc(nested[[]any](t, get(t, objs, "Service/"+name), "spec", "ports"), func(p any) bool {
				m := p.(map[string]any)
				return m["name"] == "ops" && fmt.Sprint(m["port"]) == opsPort && m["targetPort"] == "ops"
			}) {
				t.Error("the Service has no port named ops")
			}
		})
	}
}

// TestOpsPortReachableOnlyByPrometheus: the NetworkPolicies let networkPolicy.metricsFrom, and nobody
// else, reach the ops port; without metricsFrom nobody may; the Ingress routes to the dashboard's public
// port only.
func TestOpsPortReachableOnlyByPrometheus(t *testing.T) {
	prometheus := map[string]any{"namespaceSelector": map[string]any{"matchLabels": map[string]any{"name": "monitoring"}}}
	for _, tc := range []struct {
		name string
		args []string
		want []any // the peers allowed on the ops port
	}{
		{"no metricsFrom", nil, nil},
		{"metricsFrom", []string{"--set", "networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.name=monitoring"}, []any{prometheus}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := rendered(t, append(tc.args, "--set", "ingress.enabled=true", "--set", "ingress.host=bbq.example",
				"--set", "publicURL=https://bbq.example")...)
			for _, svc := range goServices {
				var peers []any
				rules, _, _ := unstructured.NestedSlice(get(t, objs, "NetworkPolicy/bbq-connected-bbq-"+svc), "spec", "ingress")
				for _, r := range rules {
					rule := r.(map[string]any)
					ports, _ := rule["ports"].([]any)
					if !slices.ContainsFunc(ports, func(p any) bool { return fmt.Sprint(p.(map[string]any)["port"]) == opsPort }) && len(ports) > 0 {
						continue
					}
					from, ok := rule["from"].([]any)
					if !ok {
						t.Errorf("%s: a rule lets everyone reach the ops port: %v", svc, rule)
					}
					peers = append(peers, from...)
				}
				if fmt.Sprint(peers) != fmt.Sprint(tc.want) {
					t.Errorf("%s: ops port reachable from %v, want %v", svc, peers, tc.want)
				}
			}
			rule := nested[[]any](t, get(t, objs, "Ingress/bbq-connected-bbq-dashboard"), "spec", "rules")[0].(map[string]any)
			for _, p := range nested[[]any](t, rule, "http", "paths") {
				backend := nested[map[string]any](t, p.(map[string]any), "backend", "service")
				if backend["name"] != "bbq-connected-bbq-dashboard" || fmt.Sprint(backend["port"]) != "map[name:http]" {
					t.Errorf("the Ingress routes to %v", backend)
				}
			}
		})
	}
}
