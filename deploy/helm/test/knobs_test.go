package test

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// workloadValues maps each workload of values-knobs.yaml to the values block whose knobs it takes.
var workloadValues = map[string]string{
	"StatefulSet/bbq-grill-nats":             "nats",
	"StatefulSet/bbq-grill-postgres":         "postgres",
	"StatefulSet/bbq-grill-keycloak-db":      "postgres",
	"Deployment/bbq-grill-keycloak":          "keycloak",
	"Deployment/bbq-grill-mailpit":           "mailpit",
	"Deployment/bbq-grill-idp-hook":          "idpHook",
	"Deployment/bbq-grill-user-service":      "userService",
	"Deployment/bbq-grill-tenant-controller": "tenantController",
	"Deployment/bbq-grill-dashboard":         "dashboard",
}

// TestKnobsReachEveryComponent: podAnnotations, nodeSelector, tolerations, affinity, priorityClassName and
// extraEnv of each values block land in the pods of its component (and nameOverride in every name).
func TestKnobsReachEveryComponent(t *testing.T) {
	objs := rendered(t, "-f", "testdata/values-knobs.yaml")
	n := 0
	for key, o := range objs {
		if o.GetKind() != "Deployment" && o.GetKind() != "StatefulSet" {
			continue
		}
		n++
		block, ok := workloadValues[key]
		if !ok {
			t.Errorf("%s: a workload the test does not know (nameOverride not applied?)", key)
			continue
		}
		t.Run(key, func(t *testing.T) { checkKnobs(t, o, block) })
	}
	if n != len(workloadValues) {
		t.Errorf("%d workloads rendered, want %d", n, len(workloadValues))
	}
}

func checkKnobs(t *testing.T, o *unstructured.Unstructured, block string) {
	pod := nested[map[string]any](t, o.Object, "spec", "template")
	spec := pod["spec"].(map[string]any)
	lower := strings.ToLower(block)
	if got := nested[map[string]any](t, pod, "metadata", "annotations")["bbq.test/component"]; got != block {
		t.Errorf("podAnnotations: bbq.test/component = %v, want %s", got, block)
	}
	if got := nested[map[string]any](t, spec, "nodeSelector"); !reflect.DeepEqual(got, map[string]any{"bbq.test/pool": lower}) {
		t.Errorf("nodeSelector = %v", got)
	}
	want := []any{map[string]any{"key": "bbq.test/dedicated", "operator": "Equal", "value": lower, "effect": "NoSchedule"}}
	if got := nested[[]any](t, spec, "tolerations"); !reflect.DeepEqual(got, want) {
		t.Errorf("tolerations = %v", got)
	}
	aff := nested[map[string]any](t, spec, "affinity")
	if _, ok := aff["nodeAffinity"]; !ok || len(aff) != 1 {
		t.Errorf("affinity = %v, want the given nodeAffinity only", aff)
	}
	if got := spec["priorityClassName"]; got != "bbq-"+lower {
		t.Errorf("priorityClassName = %v", got)
	}
	main := nested[[]any](t, spec, "containers")[0].(map[string]any)
	env := envOf(main)
	if env["BBQ_TEST_KNOB"] != block || !strings.Contains(env["BBQ_TEST_FROM"], "metadata.name") {
		t.Errorf("extraEnv not in container %s: BBQ_TEST_KNOB=%q BBQ_TEST_FROM=%q", main["name"], env["BBQ_TEST_KNOB"], env["BBQ_TEST_FROM"])
	}
}

// TestDefaultAffinitySpreadsReplicas: without an affinity of their own, replicas prefer different nodes.
func TestDefaultAffinitySpreadsReplicas(t *testing.T) {
	objs := rendered(t)
	for _, key := range []string{"Deployment/bbq-connected-bbq-user-service", "StatefulSet/bbq-connected-bbq-nats",
		"Deployment/bbq-connected-bbq-keycloak"} {
		spec := nested[map[string]any](t, get(t, objs, key), "spec", "template", "spec")
		if _, ok := nested[map[string]any](t, spec, "affinity")["podAntiAffinity"]; !ok {
			t.Errorf("%s: no default podAntiAffinity", key)
		}
		for _, k := range []string{"nodeSelector", "tolerations", "priorityClassName"} {
			if _, ok := spec[k]; ok {
				t.Errorf("%s: %s rendered with default values", key, k)
			}
		}
	}
}

// TestKeycloakProductionByDefault: Keycloak runs `start` against a database and role of its own in the
// release's Postgres, which the Postgres pod's bootstrap container creates; its password is generated.
func TestKeycloakProductionByDefault(t *testing.T) {
	objs := rendered(t)
	kc := nested[map[string]any](t, get(t, objs, "Deployment/bbq-connected-bbq-keycloak"), "spec", "template", "spec")
	main := container(t, kc, "containers", "keycloak")
	if args := fmt.Sprint(main["args"]); args != "[start --import-realm]" {
		t.Errorf("keycloak args %s, want start --import-realm", args)
	}
	env := envOf(main)
	for k, v := range map[string]string{"KC_DB": "postgres", "KC_DB_USERNAME": "keycloak",
		"KC_DB_URL": "jdbc:postgresql://bbq-connected-bbq-postgres:5432/keycloak", "KC_HOSTNAME": "http://localhost:3000/auth",
		"KC_HEALTH_ENABLED": "true", "KC_DB_PASSWORD": "bbq-connected-bbq-keycloak-db"} {
		if !strings.Contains(env[k], v) {
			t.Errorf("keycloak %s = %q, want %q", k, env[k], v)
		}
	}
	if probe := fmt.Sprint(main["readinessProbe"]); !strings.Contains(probe, "/auth/health/ready") || !strings.Contains(probe, "management") {
		t.Errorf("readiness probe %s is not Keycloak's health on the management port", probe)
	}
	wait := container(t, kc, "initContainers", "wait-for-database")
	if e := envOf(wait); e["PGHOST"] != "bbq-connected-bbq-postgres" || e["PGUSER"] != "keycloak" || e["PGDATABASE"] != "keycloak" {
		t.Errorf("wait-for-database env %v", e)
	}

	pg := nested[map[string]any](t, get(t, objs, "StatefulSet/bbq-connected-bbq-postgres"), "spec", "template", "spec")
	boot := container(t, pg, "containers", "bootstrap")
	script := fmt.Sprint(boot["command"])
	for _, want := range []string{"CREATE ROLE %I LOGIN", "CREATE DATABASE %I OWNER %I", "ensure 'keycloak' 'keycloak'", "NOSUPERUSER"} {
		if !strings.Contains(script, want) {
			t.Errorf("bootstrap script lacks %q", want)
		}
	}
	if e := envOf(boot); !strings.Contains(e["ROLE_PASSWORD_0"], "bbq-connected-bbq-keycloak-db") {
		t.Errorf("bootstrap reads the role's password from %q", e["ROLE_PASSWORD_0"])
	}
	if _, ok := objs["StatefulSet/bbq-connected-bbq-keycloak-db"]; ok {
		t.Error("a second Postgres rendered for Keycloak by default")
	}
	sec := get(t, objs, "Secret/bbq-connected-bbq-keycloak-db")
	if a := nested[map[string]any](t, sec, "metadata", "annotations"); a["helm.sh/resource-policy"] != "keep" {
		t.Errorf("Keycloak's database password is not kept: %v", a)
	}
	np := fmt.Sprint(get(t, objs, "NetworkPolicy/bbq-connected-bbq-postgres")["spec"])
	if !strings.Contains(np, "app.kubernetes.io/name:keycloak") {
		t.Errorf("Postgres's NetworkPolicy does not let Keycloak in: %s", np)
	}
}

// TestKeycloakDevModeOptIn: dev mode is start-dev in memory, with no database of its own.
func TestKeycloakDevModeOptIn(t *testing.T) {
	objs := rendered(t, "-f", "testdata/values-dev-keycloak.yaml")
	kc := nested[map[string]any](t, get(t, objs, "Deployment/bbq-connected-bbq-keycloak"), "spec", "template", "spec")
	main := container(t, kc, "containers", "keycloak")
	if args := fmt.Sprint(main["args"]); args != "[start-dev --import-realm]" || envOf(main)["KC_DB"] != "dev-mem" {
		t.Errorf("dev keycloak: args %s, KC_DB %q", args, envOf(main)["KC_DB"])
	}
	for _, key := range []string{"Secret/bbq-connected-bbq-keycloak-db", "StatefulSet/bbq-connected-bbq-keycloak-db"} {
		if _, ok := objs[key]; ok {
			t.Errorf("%s rendered in dev mode", key)
		}
	}
	pg := nested[map[string]any](t, get(t, objs, "StatefulSet/bbq-connected-bbq-postgres"), "spec", "template", "spec")
	if names := containerNames(pg, "containers"); !slices.Equal(names, []string{"postgres"}) {
		t.Errorf("Postgres containers in dev mode: %v", names)
	}
}

// TestKeycloakInCloudNativePG: with postgres.mode=cloudnativepg, Keycloak's role is a managed role of the Cluster
// (password from the generated basic-auth Secret) and its database a Database of that Cluster.
func TestKeycloakInCloudNativePG(t *testing.T) {
	objs := rendered(t, "-f", "testdata/values-cloudnativepg.yaml")
	roles := nested[[]any](t, get(t, objs, "Cluster/bbq-connected-bbq-db"), "spec", "managed", "roles")
	if r := fmt.Sprint(roles); !strings.Contains(r, "name:keycloak") || !strings.Contains(r, "bbq-connected-bbq-keycloak-db") {
		t.Errorf("managed roles %s", r)
	}
	db := nested[map[string]any](t, get(t, objs, "Database/bbq-connected-bbq-db-keycloak"), "spec")
	if db["name"] != "keycloak" || db["owner"] != "keycloak" {
		t.Errorf("Database spec %v", db)
	}
	if typ := get(t, objs, "Secret/bbq-connected-bbq-keycloak-db")["type"]; typ != "kubernetes.io/basic-auth" {
		t.Errorf("Keycloak's database Secret is %v, CloudNativePG reads basic-auth", typ)
	}
	kc := nested[map[string]any](t, get(t, objs, "Deployment/bbq-connected-bbq-keycloak"), "spec", "template", "spec")
	if u := envOf(container(t, kc, "containers", "keycloak"))["KC_DB_URL"]; u != "jdbc:postgresql://bbq-connected-bbq-db-rw:5432/keycloak" {
		t.Errorf("KC_DB_URL %s", u)
	}
}

func container(t *testing.T, spec map[string]any, field, name string) map[string]any {
	t.Helper()
	for _, c := range nested[[]any](t, spec, field) {
		if c := c.(map[string]any); c["name"] == name {
			return c
		}
	}
	t.Fatalf("no %s %s", field, name)
	return nil
}

func containerNames(spec map[string]any, field string) []string {
	var out []string
	cs, _ := spec[field].([]any)
	for _, c := range cs {
		out = append(out, c.(map[string]any)["name"].(string))
	}
	return out
}

// envOf is a container's env by name: the value, or the valueFrom printed.
func envOf(c map[string]any) map[string]string {
	out := map[string]string{}
	env, _ := c["env"].([]any)
	for _, e := range env {
		e := e.(map[string]any)
		if v, ok := e["value"]; ok {
			out[e["name"].(string)] = fmt.Sprint(v)
		} else {
			out[e["name"].(string)] = fmt.Sprint(e["valueFrom"])
		}
	}
	return out
}
