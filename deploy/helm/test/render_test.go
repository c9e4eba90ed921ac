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
		{"dev keycloak with replicas", []string{"--set", "keycloak.replicas=2"}, "replicas"},
		{"even nats cluster", []string{"--set", "nats.replicas=2"}, "replicas"},
		{"unknown value", []string{"--set", "nats.typo=1"}, "typo"},
		{"bad public URL", []string{"--set", "publicURL=localhost:3000"}, "publicURL"},
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
