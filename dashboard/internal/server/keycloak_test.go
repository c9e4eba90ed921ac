package server

// A real Keycloak for the server tests: started once per package run from the cached distribution with
// deploy/keycloak/scripts/keycloak.sh (or reused from KEYCLOAK_TEST_URL), with a fresh realm per test.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

type keycloak struct {
	base   string // internal base, incl. /auth
	client *http.Client
}

// startKeycloak starts Keycloak and returns it with a stop function; logs go to a file whose path is printed on failure.
func startKeycloak() (*keycloak, func(), error) {
	kc := &keycloak{client: &http.Client{Timeout: 30 * time.Second}}
	if u := os.Getenv("KEYCLOAK_TEST_URL"); u != "" {
		kc.base = strings.TrimRight(u, "/")
		return kc, func() {}, kc.waitReady(2 * time.Minute)
	}
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "..", "..", "..", "deploy", "keycloak", "scripts", "keycloak.sh")
	httpPort, mgmtPort := freePort(), freePort()
	// keycloak.sh builds (augments) Keycloak once into the cache; each start gets its own data home.
	inst, err := os.MkdirTemp("", "dashboard-kc-")
	if err != nil {
		return nil, nil, err
	}
	logPath := filepath.Join(inst, "keycloak.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command("bash", script, "start")
	cmd.Env = append(os.Environ(), "KC_IMPORT_REALM=false", "KC_INSTANCE_DIR="+filepath.Join(inst, "home"), "KC_HOSTNAME=",
		fmt.Sprintf("KC_PORT=%d", httpPort), fmt.Sprintf("KC_MANAGEMENT_PORT=%d", mgmtPort),
		"KC_BOOTSTRAP_ADMIN_USERNAME=admin", "KC_BOOTSTRAP_ADMIN_PASSWORD=admin")
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group so stop reaches java; Pdeathsig so a killed test binary leaves no server behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start keycloak: %w", err)
	}
	stop := func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		logf.Close()
		os.RemoveAll(inst)
	}
	kc.base = fmt.Sprintf("http://127.0.0.1:%d/auth", httpPort)
	if err := kc.waitReady(4 * time.Minute); err != nil {
		tail, _ := os.ReadFile(logPath)
		stop()
		return nil, nil, fmt.Errorf("%w\nkeycloak log tail:\n%s", err, lastLines(string(tail), 40))
	}
	return kc, stop, nil
}

func (kc *keycloak) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if resp, err := kc.client.Get(kc.base + "/realms/master/.well-known/openid-configuration"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	return fmt.Errorf("keycloak at %s not ready after %s", kc.base, limit)
}

func (kc *keycloak) adminToken(t *testing.T) string {
	t.Helper()
	form := url.Values{"grant_type": {"password"}, "client_id": {"admin-cli"}, "username": {"admin"}, "password": {"admin"}}
	resp, err := kc.client.PostForm(kc.base+"/realms/master/protocol/openid-connect/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("admin token: status %d, %v", resp.StatusCode, err)
	}
	return tok.AccessToken
}

// admin calls the admin REST API and decodes the JSON answer into out (if not nil).
func (kc *keycloak) admin(t *testing.T, method, path string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequestWithContext(context.Background(), method, kc.base+"/admin"+path, rd)
	req.Header.Set("Authorization", "Bearer "+kc.adminToken(t))
	req.Header.Set("Content-Type", "application/json")
	resp, err := kc.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("admin %s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("admin %s %s: decode: %v", method, path, err)
		}
	}
	return resp.StatusCode
}

// testRealm makes a realm whose public URL is the dashboard's /auth (like the bbq realm with --hostname),
// a public PKCE client `dashboard`, and one verified user. It is deleted when the test ends.
func (kc *keycloak) testRealm(t *testing.T, dashboardURL string, accessTokenLifespan int) (realm string) {
	t.Helper()
	realm = fmt.Sprintf("dash-%d", time.Now().UnixNano())
	kc.admin(t, "POST", "/realms", map[string]any{
		"realm": realm, "enabled": true, "registrationAllowed": true, "accessTokenLifespan": accessTokenLifespan,
		"attributes": map[string]string{"frontendUrl": dashboardURL + "/auth"},
		"clients": []map[string]any{{
			"clientId": "dashboard", "publicClient": true, "standardFlowEnabled": true, "directAccessGrantsEnabled": false,
			"redirectUris": []string{dashboardURL + "/login/callback"}, "webOrigins": []string{dashboardURL},
			"attributes": map[string]string{"pkce.code.challenge.method": "S256", "post.logout.redirect.uris": dashboardURL + "/"},
		}},
		"users": []map[string]any{{
			"username": "pat@example.com", "email": "pat@example.com", "emailVerified": true, "enabled": true,
			"firstName": "Pat", "lastName": "Griller",
			"credentials": []map[string]any{{"type": "password", "value": "Str0ng!Passw0rd", "temporary": false}},
		}},
	}, nil)
	t.Cleanup(func() { kc.admin(t, "DELETE", "/realms/"+realm, nil, nil) })
	return realm
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
