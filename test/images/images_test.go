// Package images runs our container images (built by `make images`) the way the chart runs them: as their
// non-root user, with a read-only root filesystem, against a real JetStream and a real Postgres on this
// machine. `make test-images` builds the images and runs these tests with podman.
package images

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/connectedbbq/platform/dev/stack"
	"github.com/connectedbbq/platform/testing/natstest"
	"github.com/connectedbbq/platform/testing/pgtest"
)

var pg *pgtest.Server

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &pg)) }

// podman runs podman as the tests need it on any Linux machine: runc with cgroupfs (our CI machines have
// hybrid cgroups, which crun refuses) and no default rlimits (which an unprivileged sandbox may not raise).
type podman struct {
	t    *testing.T
	conf string
}

func newPodman(t *testing.T) *podman {
	t.Helper()
	if _, err := exec.LookPath("podman"); err != nil {
		t.Fatal("podman is not installed: make test-images installs it (apt-get install podman runc)")
	}
	conf := filepath.Join(t.TempDir(), "containers.conf")
	if err := os.WriteFile(conf, []byte("[containers]\ndefault_ulimits = []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return &podman{t: t, conf: conf}
}

func (p *podman) cmd(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "podman", append([]string{"--runtime", "runc", "--cgroup-manager", "cgroupfs"}, args...)...)
	cmd.Env = append(os.Environ(), "CONTAINERS_CONF="+p.conf)
	return cmd
}

// run runs the image to completion, read-only and on the host network, and returns its output and error.
func (p *podman) run(image string, env map[string]string, extra ...string) (string, error) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := p.cmd(ctx, p.runArgs(image, env, extra...)...).CombinedOutput()
	return string(out), err
}

// start runs the image in the background until the test ends.
func (p *podman) start(name, image string, env map[string]string, extra ...string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := append([]string{"--detach", "--name", name}, extra...)
	if out, err := p.cmd(ctx, p.runArgs(image, env, args...)...).CombinedOutput(); err != nil {
		p.t.Fatalf("start %s: %v\n%s", image, err, out)
	}
	p.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if p.t.Failed() {
			logs, _ := p.cmd(ctx, "logs", name).CombinedOutput()
			p.t.Logf("--- %s logs\n%s", name, logs)
		}
		_ = p.cmd(ctx, "rm", "--force", "--time", "10", name).Run()
	})
}

func (p *podman) runArgs(image string, env map[string]string, extra ...string) []string {
	args := []string{"run", "--rm", "--read-only", "--network", "host", "--cap-drop", "all", "--security-opt", "no-new-privileges"}
	for k, v := range env {
		args = append(args, "--env", k+"="+v)
	}
	return append(append(args, extra...), image)
}

func image(name string) string {
	registry, tag := os.Getenv("IMAGE_REGISTRY"), os.Getenv("IMAGE_TAG")
	if registry == "" {
		registry = "ghcr.io/connectedbbq"
	}
	if tag == "" {
		tag = "0.1.0"
	}
	return registry + "/" + name + ":" + tag
}

func TestImagesRunAsNonRoot(t *testing.T) {
	p := newPodman(t)
	for _, name := range []string{"idp-hook", "user-service", "tenant-controller", "dashboard", "keycloak-provider"} {
		t.Run(name, func(t *testing.T) {
			out, err := p.cmd(context.Background(), "image", "inspect", "--format", "{{.Config.User}}", image(name)).CombinedOutput()
			if err != nil {
				t.Fatalf("%s: %v\n%s (run make images first)", image(name), err, out)
			}
			if got := strings.TrimSpace(string(out)); got != "65532:65532" {
				t.Fatalf("user %q, want 65532:65532", got)
			}
		})
	}
}

// waitReady polls url until it answers 200.
func waitReady(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s not ready within a minute", url)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	a, err := stack.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestPipelineImagesServe(t *testing.T) {
	p := newPodman(t)
	bus := natstest.New(t)
	db := pg.NewDatabase(t)

	out, err := p.run(image("user-service"), map[string]string{"DATABASE_URL": db, "LOG_LEVEL": "info"}, "--entrypoint", `["/app","migrate"]`)
	if err != nil || !strings.Contains(out, "schema up to date") {
		t.Fatalf("user-service migrate: %v\n%s", err, out)
	}

	hook, api, admin, hookOps, usOps := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	p.start("idp-hook-"+fmt.Sprint(time.Now().UnixNano()), image("idp-hook"), map[string]string{
		"NATS_URL": bus.URL, "HTTP_ADDR": hook, "OPS_ADDR": hookOps, "WEBHOOK_SECRETS": "whsec_" + "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="})
	p.start("user-service-"+fmt.Sprint(time.Now().UnixNano()), image("user-service"), map[string]string{
		"NATS_URL": bus.URL, "DATABASE_URL": db, "HTTP_ADDR": api, "ADMIN_ADDR": admin, "OPS_ADDR": usOps,
		"OIDC_ISSUER": "http://127.0.0.1:1/realms/images", "MIGRATE_ON_START": "false"})
	waitReady(t, "http://"+hookOps+"/readyz")
	waitReady(t, "http://"+usOps+"/readyz")
}

func TestDashboardImageServes(t *testing.T) {
	p := newPodman(t)
	addr, opsAddr := freeAddr(t), freeAddr(t)
	p.start("dashboard-"+fmt.Sprint(time.Now().UnixNano()), image("dashboard"), map[string]string{
		"DASHBOARD_ADDR": addr, "OPS_ADDR": opsAddr, "SESSION_KEY": base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("k"), 32))})
	waitReady(t, "http://"+opsAddr+"/healthz")
}

// Without its configuration, a service says what is missing and exits; it never starts half-configured.
func TestImagesRefuseMissingConfiguration(t *testing.T) {
	p := newPodman(t)
	tests := []struct{ image, want string }{
		{"idp-hook", "NATS_URL"},
		{"user-service", "DATABASE_URL"},
		{"tenant-controller", "USER_SERVICE_ADMIN_URL"},
	}
	for _, tt := range tests {
		t.Run(tt.image, func(t *testing.T) {
			out, err := p.run(image(tt.image), nil)
			if err == nil || !strings.Contains(out, tt.want) {
				t.Fatalf("err = %v, output:\n%s\nwant an error naming %s", err, out, tt.want)
			}
		})
	}
}

// The provider image installs the jar into the (shared, writable) providers volume of the Keycloak pod.
func TestProviderImageInstallsTheJar(t *testing.T) {
	p := newPodman(t)
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil { // written by uid 65532, as an emptyDir would be
		t.Fatal(err)
	}
	out, err := p.run(image("keycloak-provider"), nil, "--volume", dir+":/opt/keycloak/providers")
	if err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	got, err := os.ReadFile(filepath.Join(dir, "bbq-keycloak-provider.jar"))
	if err != nil || !bytes.HasPrefix(got, []byte("PK")) {
		t.Fatalf("jar not installed (%d bytes, %v): %s", len(got), err, out)
	}
}
