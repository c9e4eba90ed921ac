package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/connectedbbq/platform/pkg/service"
)

// TestOpsListener runs the controller against a real kube-apiserver and etcd: its probes and metrics
// answer on OPS_ADDR, the one port it listens on, and it shuts down cleanly.
func TestOpsListener(t *testing.T) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run `make test-tenant-controller` (it builds kube-apiserver and etcd)")
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "..", "deploy", "helm", "connected-bbq", "crds")},
		ErrorIfCRDPathMissing: true,
	}
	if _, err := env.Start(); err != nil {
		t.Fatalf("start envtest: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, env.KubeConfig, 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opsAddr := ln.Addr().String()
	ln.Close()
	for k, v := range map[string]string{"KUBECONFIG": kubeconfig, "OPS_ADDR": opsAddr, "LEADER_ELECT": "false",
		"USER_SERVICE_ADMIN_URL": "http://127.0.0.1:1", "ADMIN_TOKEN": "t", "KEYCLOAK_URL": "http://127.0.0.1:1/auth",
		"KEYCLOAK_CLIENT_SECRET": "s"} {
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, service.Environ(), io.Discard) }()
	want := map[string]string{"/healthz": `"status":"ok"`, "/readyz": `"cache":"ok"`, "/metrics": "controller_runtime_"}
	deadline := time.Now().Add(30 * time.Second)
	for path, body := range want {
		for {
			got, status := fetch(opsAddr + path)
			if status == http.StatusOK && strings.Contains(got, body) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("ops %s: %d %.300s", path, status, got)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no shutdown within 30 s")
	}
}

func fetch(url string) (string, int) {
	resp, err := http.Get("http://" + url)
	if err != nil {
		return err.Error(), 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b), resp.StatusCode
}
