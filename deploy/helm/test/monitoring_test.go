package test

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

var monitoringOn = []string{"--set", "monitoring.serviceMonitor.enabled=true", "--set", "monitoring.podMonitor.enabled=true",
	"--set", "monitoring.prometheusRule.enabled=true", "--set", "monitoring.grafanaDashboard.enabled=true",
	"--set", "monitoring.serviceMonitor.labels.release=kps"}

// TestMonitoringOffByDefault: without the Prometheus Operator's CRDs a default install must still work.
func TestMonitoringOffByDefault(t *testing.T) {
	for key := range rendered(t) {
		if strings.HasPrefix(key, "ServiceMonitor/") || strings.HasPrefix(key, "PodMonitor/") ||
			strings.HasPrefix(key, "PrometheusRule/") || strings.HasSuffix(key, "-grafana-dashboard") {
			t.Errorf("%s rendered with default values", key)
		}
	}
}

// TestMonitorsScrapeEveryGoService: the ServiceMonitor and PodMonitor select each Go service's Service and
// pods (and nothing else of the release) and scrape the ops port.
func TestMonitorsScrapeEveryGoService(t *testing.T) {
	objs := rendered(t, monitoringOn...)
	name := "bbq-connected-bbq-monitoring"
	sm := get(t, objs, "ServiceMonitor/"+name)
	if l := nested[map[string]any](t, sm, "metadata", "labels"); l["release"] != "kps" {
		t.Errorf("ServiceMonitor labels %v lack the extra release label", l)
	}
	for kind, endpoints := range map[string]string{"ServiceMonitor": "endpoints", "PodMonitor": "podMetricsEndpoints"} {
		obj := get(t, objs, kind+"/"+name)
		if ep := nested[[]any](t, obj, "spec", endpoints)[0].(map[string]any); ep["port"] != "ops" || ep["path"] != "/metrics" {
			t.Errorf("%s scrapes %v", kind, ep)
		}
		sel := nested[map[string]any](t, obj, "spec", "selector")
		for key, o := range objs {
			labels := o.GetLabels()
			switch o.GetKind() {
			case "Service":
			case "Deployment", "StatefulSet": // what a PodMonitor sees
				labels = map[string]string{}
				for k, v := range nested[map[string]any](t, o.Object, "spec", "template", "metadata", "labels") {
					labels[k] = v.(string)
				}
			default:
				continue
			}
			want := slices.Contains(goServices, o.GetLabels()["app.kubernetes.io/name"])
			if got := selects(sel, labels); got != want {
				t.Errorf("%s selects %s: %v, want %v", kind, key, got, want)
			}
		}
	}
}

// selects evaluates a label selector's matchLabels and In expressions.
func selects(sel map[string]any, labels map[string]string) bool {
	for k, v := range sel["matchLabels"].(map[string]any) {
		if labels[k] != v {
			return false
		}
	}
	for _, e := range sel["matchExpressions"].([]any) {
		m := e.(map[string]any)
		if m["operator"] != "In" || !slices.Contains(m["values"].([]any), any(labels[m["key"].(string)])) {
			return false
		}
	}
	return true
}

// TestPrometheusRuleIsTheRuleFile: the PrometheusRule carries files/monitoring/alerts.yaml unchanged (the file
// promtool checks and unit-tests), Prometheus's {{ $labels }} templates included.
func TestPrometheusRuleIsTheRuleFile(t *testing.T) {
	rule := get(t, rendered(t, monitoringOn...), "PrometheusRule/bbq-connected-bbq-monitoring")
	var file map[string]any
	if err := utilyaml.Unmarshal(readFile(t, chartDir+"/files/monitoring/alerts.yaml"), &file); err != nil {
		t.Fatal(err)
	}
	got := nested[[]any](t, rule, "spec", "groups")
	if !reflect.DeepEqual(got, file["groups"]) {
		t.Fatalf("PrometheusRule groups differ from alerts.yaml:\n%v\n%v", got, file["groups"])
	}
	if !strings.Contains(strings.Join(alertNames(got), " "), "BbqDeadLetters BbqOutboxStalled") {
		t.Errorf("alerts %v", alertNames(got))
	}
}

func alertNames(groups []any) []string {
	var names []string
	for _, g := range groups {
		for _, r := range g.(map[string]any)["rules"].([]any) {
			names = append(names, r.(map[string]any)["alert"].(string))
		}
	}
	return names
}

// TestGrafanaDashboardConfigMap: the sidecar's label, and a dashboard that parses.
func TestGrafanaDashboardConfigMap(t *testing.T) {
	cm := get(t, rendered(t, monitoringOn...), "ConfigMap/bbq-connected-bbq-grafana-dashboard")
	if l := nested[map[string]any](t, cm, "metadata", "labels"); l["grafana_dashboard"] != "1" {
		t.Errorf("labels %v lack grafana_dashboard", l)
	}
	var d struct {
		UID    string           `json:"uid"`
		Panels []map[string]any `json:"panels"`
	}
	if err := json.Unmarshal([]byte(nested[string](t, cm, "data", "connected-bbq.json")), &d); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	if d.UID == "" || len(d.Panels) < 10 {
		t.Errorf("dashboard uid %q with %d panels", d.UID, len(d.Panels))
	}
}

// TestMonitoredMetricsExist: every metric the alerts and the dashboard query is one our code registers, and
// every metric of ours starts with bbq_ (a renamed metric would otherwise silence its alert).
func TestMonitoredMetricsExist(t *testing.T) {
	registered := map[string]bool{}
	// A metric is declared as Name: "…", or as a "bbq_…" literal handed to a constructor (the write-backs).
	decl := regexp.MustCompile(`Name:\s*"([a-z_]+)"|"(bbq_[a-z_]+)"`)
	for _, dir := range []string{"../../../services", "../../../dashboard/internal", "../../../pkg"} {
		err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			src := readFile(t, path)
			if !strings.Contains(string(src), "prometheus.") {
				return nil
			}
			for _, m := range decl.FindAllSubmatch(src, -1) {
				if n := string(m[1]) + string(m[2]); strings.HasSuffix(n, "_total") || strings.HasPrefix(n, "bbq_") || strings.Contains(n, "dashboard_") {
					registered[n] = true
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for n := range registered {
		if !strings.HasPrefix(n, "bbq_") {
			t.Errorf("metric %s lacks the bbq_ prefix", n)
		}
	}
	used := regexp.MustCompile(`bbq_[a-z_]+`)
	for _, f := range []string{"alerts.yaml", "alerts_test.yaml", "dashboard.json"} {
		for _, m := range used.FindAllString(string(readFile(t, chartDir+"/files/monitoring/"+f)), -1) {
			base := strings.TrimSuffix(m, "_bucket")
			if !registered[base] {
				t.Errorf("%s uses %s, which no service registers", f, m)
			}
		}
	}
	if len(registered) < 15 {
		t.Errorf("found only %d metrics: %v", len(registered), registered)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
