package stack

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Stop is clean for a process that ends as a graceful stop ends (Keycloak's JVM exits 143 after SIGTERM,
// a plain process dies of the signal), and an error for one that fails on its way out.
func TestStopTellsAGracefulStopFromAFailure(t *testing.T) {
	for _, tc := range []struct {
		name, script string
		wantErr      bool
	}{
		{"killed by SIGTERM", "sleep 30", false},
		{"exits 143 after SIGTERM, as a JVM does", `trap 'exit 143' TERM; while :; do sleep 0.05; done`, false},
		{"exits 0 after SIGTERM", `trap 'exit 0' TERM; while :; do sleep 0.05; done`, false},
		{"exits 1 after SIGTERM", `trap 'exit 1' TERM; while :; do sleep 0.05; done`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &Process{Name: "sh", Bin: "/bin/sh", Args: []string{"-c", tc.script}, LogPath: filepath.Join(t.TempDir(), "log")}
			if err := p.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			time.Sleep(200 * time.Millisecond) // the trap is set
			err := p.Stop(10 * time.Second)
			if (err != nil) != tc.wantErr || (err != nil && !strings.Contains(err.Error(), "exited with")) {
				t.Fatalf("Stop: %v, want error %v", err, tc.wantErr)
			}
		})
	}
}
