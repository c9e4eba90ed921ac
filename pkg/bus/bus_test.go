package bus_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/connectedbbq/platform/pkg/bus"
	"github.com/connectedbbq/platform/testing/embedded"
	"github.com/connectedbbq/platform/testing/natstest"
)

// A service started beside a NATS that is still starting waits for it; one whose NATS never comes gives up
// within its patience, naming the server.
func TestConnectWaitsForNATS(t *testing.T) {
	tests := []struct {
		name    string
		startIn time.Duration // when NATS comes up; 0: never
		wantErr bool
	}{
		{"NATS up a second later", time.Second, false},
		{"NATS never up", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			port := freePort(t)
			if tt.startIn > 0 {
				dir := t.TempDir()
				timer := time.AfterFunc(tt.startIn, func() {
					ns, err := embedded.StartNATS(embedded.NATSConfig{Dir: dir, Port: port})
					if err != nil {
						t.Error(err)
						return
					}
					t.Cleanup(ns.Shutdown)
				})
				t.Cleanup(func() { timer.Stop() })
			}
			url := fmt.Sprintf("nats://127.0.0.1:%d", port)
			nc, js, err := bus.Connect(context.Background(), url, "test", natstest.Config(), 3*time.Second,
				slog.New(slog.NewTextHandler(io.Discard, nil)))
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), url) {
					t.Fatalf("err = %v, want one naming %s", err, url)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			if _, err := js.Stream(context.Background(), natstest.Config().Stream); err != nil {
				t.Fatalf("bus stream after Connect: %v", err)
			}
		})
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
