package controller_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/connectedbbq/platform/testing/kctest"
	"github.com/connectedbbq/platform/testing/natstest"
	"github.com/connectedbbq/platform/testing/pgtest"
)

// buildUserService compiles the real user service once per test binary (the workspace resolves it).
func buildUserService(dir string) (string, error) {
	bin := filepath.Join(dir, "user-service")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/connectedbbq/platform/services/user-service")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build user-service: %w\n%s", err, out.String())
	}
	return bin, nil
}

// userService is one test's real user service: its own Postgres database and JetStream server, the
// test's Keycloak realm as its issuer and Keycloak, and its admin API on a free port.
type userService struct {
	AdminURL string
	token    string
	dbURL    string // its database: fixtures of people the controller never sees
}

func startUserService(t *testing.T, bin string, pg *pgtest.Server, realm *kctest.Realm, token string) *userService {
	t.Helper()
	httpAddr, adminAddr, opsAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	bus := natstest.New(t)
	dbURL := pg.NewDatabase(t)
	logPath := filepath.Join(t.TempDir(), "user-service.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(),
		"HTTP_ADDR="+httpAddr, "ADMIN_ADDR="+adminAddr, "OPS_ADDR="+opsAddr, "ADMIN_TOKEN="+token,
		"DATABASE_URL="+dbURL, "NATS_URL="+bus.URL,
		"OIDC_ISSUER="+realm.Issuer, "KEYCLOAK_URL="+realm.KC.URL, "KEYCLOAK_REALM="+realm.Name,
		"KEYCLOAK_CLIENT_ID=user-service", "KEYCLOAK_CLIENT_SECRET="+realm.Secrets["user-service"])
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
		}
		_ = logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("user-service log:\n%s", tail(b, 4000))
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + opsAddr + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(logPath)
			t.Fatalf("user-service exited:\n%s", tail(b, 4000))
		default:
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logPath)
			t.Fatalf("user-service not ready within 60s:\n%s", tail(b, 4000))
		}
		time.Sleep(200 * time.Millisecond)
	}
	return &userService{AdminURL: "http://" + adminAddr, token: token, dbURL: dbURL}
}

// tenant is what the admin API says about a tenant.
type tenant struct {
	DisplayName  string   `json:"displayName"`
	EmailDomains []string `json:"emailDomains"`
	Admins       []string `json:"admins"`
	Suspended    bool     `json:"suspended"`
	// IdentityProvider is the alias passed through from spec.identityProvider.
	IdentityProvider string `json:"identityProvider"`
}

// get reads a tenant through the real admin API; ok is false on 404.
func (u *userService) get(id string) (tenant, bool, error) {
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, u.AdminURL+"/admin/v1/tenants/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+u.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return tenant{}, false, err
	}
	defer func() { _ = resp.Body.Close() }()
	switch resp.StatusCode {
	case http.StatusNotFound:
		return tenant{}, false, nil
	case http.StatusOK:
		var t tenant
		return t, true, json.NewDecoder(resp.Body).Decode(&t)
	default:
		return tenant{}, false, fmt.Errorf("GET tenant %s: %s", id, resp.Status)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String()
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
