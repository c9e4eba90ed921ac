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
	"strings"
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

// startUserService starts the user service on free ports. A port is only free when it is picked: another test
// package (Keycloak, etcd, kube-apiserver run beside this one) can take it before the service binds it, so a start
// that fails on "address already in use" is tried again on new ports.
func startUserService(t *testing.T, bin string, pg *pgtest.Server, realm *kctest.Realm, token string) *userService {
	t.Helper()
	bus := natstest.New(t)
	dbURL := pg.NewDatabase(t)
	for attempt := 1; ; attempt++ {
		us, log, err := startUserServiceOnce(t, bin, bus.URL, dbURL, realm, token)
		if err == nil {
			return us
		}
		if attempt == 3 || !strings.Contains(log, "address already in use") {
			t.Fatalf("%v:\n%s", err, log)
		}
		t.Logf("user-service start %d lost a picked port, trying new ones: %v", attempt, err)
	}
}

// startUserServiceOnce starts one user-service process and waits for its readiness; on failure it returns the
// end of the process's log, and the process is gone.
func startUserServiceOnce(t *testing.T, bin, natsURL, dbURL string, realm *kctest.Realm, token string) (*userService, string, error) {
	t.Helper()
	httpAddr, adminAddr, opsAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	logPath := filepath.Join(t.TempDir(), "user-service.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	readLog := func() string { b, _ := os.ReadFile(logPath); return string(tail(b, 4000)) }
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(),
		"HTTP_ADDR="+httpAddr, "ADMIN_ADDR="+adminAddr, "OPS_ADDR="+opsAddr, "ADMIN_TOKEN="+token,
		"DATABASE_URL="+dbURL, "NATS_URL="+natsURL,
		"OIDC_ISSUER="+realm.Issuer, "KEYCLOAK_URL="+realm.KC.URL, "KEYCLOAK_REALM="+realm.Name,
		"KEYCLOAK_CLIENT_ID=user-service", "KEYCLOAK_CLIENT_SECRET="+realm.Secrets["user-service"])
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		_ = logf.Close()
	}
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
			stop()
			return nil, readLog(), fmt.Errorf("user-service exited")
		default:
		}
		if time.Now().After(deadline) {
			stop()
			return nil, readLog(), fmt.Errorf("user-service not ready within 60s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("user-service log:\n%s", readLog())
		}
	})
	return &userService{AdminURL: "http://" + adminAddr, token: token, dbURL: dbURL}, "", nil
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
