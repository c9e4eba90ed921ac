package test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
)

// The NATS configuration the chart renders is one the real nats-server accepts, single and clustered.
func TestNATSConfigParses(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		routes int
	}{
		{"single", nil, 0},
		{"cluster of 3", []string{"--set", "nats.replicas=3"}, 3},
		{"cluster of 5", []string{"--set", "nats.replicas=5"}, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := helmTemplate(t, append(tc.args, "--show-only", "templates/nats/nats.yaml")...)
			if err != nil {
				t.Fatalf("helm template: %v\n%s", err, out)
			}
			var conf string
			for _, o := range decode(t, out) {
				if o.GetKind() == "ConfigMap" {
					conf = o.Object["data"].(map[string]any)["nats.conf"].(string)
				}
			}
			if conf == "" {
				t.Fatal("no nats.conf rendered")
			}
			path := filepath.Join(t.TempDir(), "nats.conf")
			if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
				t.Fatal(err)
			}
			t.Setenv("SERVER_NAME", "bbq-connected-bbq-nats-0") // the pod name, from the downward API
			opts, err := server.ProcessConfigFile(path)
			if err != nil {
				t.Fatalf("nats-server refuses the config: %v\n%s", err, conf)
			}
			if !opts.JetStream || opts.StoreDir != "/data/jetstream" || opts.ServerName != "bbq-connected-bbq-nats-0" {
				t.Errorf("jetstream %v store %q name %q", opts.JetStream, opts.StoreDir, opts.ServerName)
			}
			if len(opts.Routes) != tc.routes || (tc.routes > 0 && opts.Cluster.Name == "") {
				t.Errorf("routes = %d (cluster %q), want %d", len(opts.Routes), opts.Cluster.Name, tc.routes)
			}
		})
	}
}
