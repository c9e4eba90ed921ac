package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestProbesAndMetricsOnlyOnTheOpsPort: the ports that Keycloak, the dashboard's /api proxy and the admin
// client reach answer 404 to /healthz, /readyz and /metrics; each service's operations port answers them.
func TestProbesAndMetricsOnlyOnTheOpsPort(t *testing.T) {
	e := newEnv(t, nil)
	get := func(u string) (int, string) {
		t.Helper()
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		for name, base := range map[string]string{"idp-hook webhooks": e.p.IdPHookURL,
			"user-service API": e.p.UserServiceURL, "user-service admin": e.p.AdminURL} {
			if status, _ := get(base + path); status != http.StatusNotFound {
				t.Errorf("%s %s: %d, want 404", name, path, status)
			}
		}
	}
	for name, base := range map[string]string{"idp-hook": e.p.IdPHookOpsURL, "user-service": e.p.UserServiceOpsURL} {
		for path, want := range map[string]string{"/healthz": `"status":"ok"`, "/readyz": `"nats":"ok"`, "/metrics": "go_goroutines"} {
			if status, body := get(base + path); status != http.StatusOK || !strings.Contains(body, want) {
				t.Errorf("%s ops %s: %d %.200s", name, path, status, body)
			}
		}
	}
}
