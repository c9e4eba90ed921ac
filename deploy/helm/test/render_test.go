package test

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// helmTemplate renders the chart without a cluster.
func helmTemplate(t *testing.T, args ...string) (string, error) {
	t.Helper()
	helm := envOr("HELM", "helm")
	home := t.TempDir()
	cmd := exec.Command(helm, append([]string{"template", "bbq", chartDir}, args...)...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+home, "HELM_CONFIG_HOME="+home, "HELM_DATA_HOME="+home)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if err != nil {
		return errOut.String(), err
	}
	return out.String(), nil
}

func TestRealmInChartMatchesKeycloakRealm(t *testing.T) {
	want, err := os.ReadFile("../../keycloak/realm/bbq-realm.json")
	if err != nil {
		t.Skipf("no realm to compare with: %v", err)
	}
	got, err := os.ReadFile(chartDir + "/files/bbq-realm.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the chart's files/bbq-realm.json differs from deploy/keycloak/realm/bbq-realm.json: it must stay a symlink")
	}
}

func TestRenderCloudNativePG(t *testing.T) {
	out, err := helmTemplate(t, "-f", "testdata/values-cloudnativepg.yaml")
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, out)
	}
	for _, want := range []string{"kind: Cluster", "name: bbq-connected-bbq-db-app", "cnpg.io/cluster: bbq-connected-bbq-db"} {
		if !strings.Contains(out, want) {
			t.Errorf("rendered chart lacks %q", want)
		}
	}
	if strings.Contains(out, "name: bbq-connected-bbq-postgres\n") {
		t.Error("the CloudNativePG install also renders the Postgres StatefulSet")
	}
}

// The schema and the templates refuse what cannot work, with a message that says why.
func TestRenderRefusesBadValues(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"external db without url", []string{"--set", "postgres.mode=external"}, "postgres"},
		{"unknown postgres mode", []string{"--set", "postgres.mode=mysql"}, "mode"},
		{"dev keycloak with replicas", []string{"--set", "keycloak.mode=dev", "--set", "keycloak.replicas=2"}, "replicas"},
		{"even nats cluster", []string{"--set", "nats.replicas=2"}, "replicas"},
		{"unknown value", []string{"--set", "nats.typo=1"}, "typo"},
		{"bad public URL", []string{"--set", "publicURL=localhost:3000"}, "publicURL"},
		{"keycloak in the release's db with an external postgres", []string{"--set", "postgres.mode=external",
			"--set", "postgres.external.url=postgres://u:p@db/bbq"}, "keycloak.database.mode=external"},
		{"external keycloak db without its password", []string{"--set", "keycloak.database.mode=external",
			"--set", "keycloak.database.external.url=jdbc:postgresql://db/kc"}, "keycloak.database.existingSecret"},
		{"keycloak role is the superuser", []string{"--set", "keycloak.database.username=bbq"}, "differ"},
		{"unknown keycloak db mode", []string{"--set", "keycloak.database.mode=h2"}, "mode"},
		{"misspelt toleration", []string{"--set", "userService.tolerations[0].opertor=Exists"}, "opertor"},
		{"extraEnv without a name", []string{"--set", "dashboard.extraEnv[0].value=x"}, "name"},
		{"bad priorityClassName", []string{"--set", "nats.priorityClassName=High Prio"}, "priorityClassName"},
		{"bad nameOverride", []string{"--set", "nameOverride=Grill_BBQ"}, "nameOverride"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := helmTemplate(t, tc.args...)
			if err == nil {
				t.Fatal("helm template accepted the values")
			}
			if !strings.Contains(out, tc.want) {
				t.Fatalf("error does not mention %q:\n%s", tc.want, out)
			}
		})
	}
}

// Every container of ours runs the image tag the chart's appVersion pins.
func TestImagesPinnedToAppVersion(t *testing.T) {
	chart, err := os.ReadFile(chartDir + "/Chart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var app string
	for _, l := range strings.Split(string(chart), "\n") {
		if v, ok := strings.CutPrefix(l, "appVersion:"); ok {
			app = strings.Trim(strings.TrimSpace(v), `"`)
		}
	}
	out, err := helmTemplate(t)
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, out)
	}
	n := 0
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		if img, ok := strings.CutPrefix(l, "image: ghcr.io/connectedbbq/"); ok {
			n++
			if !strings.HasSuffix(img, ":"+app) {
				t.Errorf("image %s is not pinned to appVersion %s", img, app)
			}
		}
	}
	if n < 5 {
		t.Errorf("only %d images of ours rendered", n)
	}
}
