package ops

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestOpsListener(t *testing.T) {
	failing := false
	srv, err := ListenOps("127.0.0.1:0", NewRegistry(), Check{Name: "db", Func: func(context.Context) error {
		if failing {
			return errors.New("down")
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, 5*time.Second) }()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + srv.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	tests := []struct {
		path, want string
		status     int
	}{
		{"/healthz", `"status":"ok"`, 200},
		{"/readyz", `"db":"ok"`, 200},
		{"/metrics", "go_goroutines", 200},
		{"/v1/me", "404", 404},
	}
	for _, tt := range tests {
		if status, body := get(tt.path); status != tt.status || !strings.Contains(body, tt.want) {
			t.Errorf("GET %s: %d %q, want %d with %q", tt.path, status, body, tt.status, tt.want)
		}
	}
	failing = true
	if status, body := get("/readyz"); status != 503 || !strings.Contains(body, `"db":"down"`) {
		t.Errorf("readyz with a failing check: %d %q", status, body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("graceful shutdown: %v", err)
	}
}
