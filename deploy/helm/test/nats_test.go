package test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/connectedbbq/platform/pkg/bus"
	"github.com/connectedbbq/platform/testing/embedded"
	"github.com/connectedbbq/platform/testing/natstest"
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
			path, conf := natsConf(t, tc.args...)
			t.Setenv("SERVER_NAME", "bbq-connected-bbq-nats-0") // the pod name, from the downward API
			for _, v := range []string{"IDP_HOOK", "USER_SERVICE", "READER", "ADMIN"} {
				t.Setenv(v+"_PASSWORD", "from-the-secret") // the users' passwords, from the nats-users Secret
			}
			opts, err := server.ProcessConfigFile(path)
			if err != nil {
				t.Fatalf("nats-server refuses the config: %v\n%s", err, conf)
			}
			if !opts.JetStream || opts.StoreDir != "/data/jetstream" || opts.ServerName != "bbq-connected-bbq-nats-0" {
				t.Errorf("jetstream %v store %q name %q", opts.JetStream, opts.StoreDir, opts.ServerName)
			}
			if len(opts.Users) != 4 {
				t.Errorf("%d NATS users, want idp-hook, user-service, reader and admin", len(opts.Users))
			}
			if len(opts.Routes) != tc.routes || (tc.routes > 0 && opts.Cluster.Name == "") {
				t.Errorf("routes = %d (cluster %q), want %d", len(opts.Routes), opts.Cluster.Name, tc.routes)
			}
		})
	}
}

// The chart's NATS users refuse what testing/embedded's do: a real nats-server runs the rendered configuration
// (on a free port, a temporary store) and each service's user does its work and no more.
func TestNATSUsersHaveLeastPrivilege(t *testing.T) {
	path, _ := natsConf(t)
	t.Setenv("SERVER_NAME", "bbq-connected-bbq-nats-0")
	pw := map[string]string{}
	for _, u := range []string{embedded.UserIdPHook, embedded.UserUserService, embedded.UserReader, embedded.UserAdmin} {
		pw[u] = "pw" + strings.ReplaceAll(u, "-", "")
		t.Setenv(strings.ToUpper(strings.ReplaceAll(u, "-", "_"))+"_PASSWORD", pw[u]) // as the pod's env from the Secret
	}
	url := natstest.ServeConfig(t, path)
	natstest.CheckPermissions(t, url, func(user string) bus.Credentials {
		return bus.Credentials{User: user, Password: pw[user]}
	})
}

// natsConf renders the chart's nats.conf with args into a file and returns its path and text.
func natsConf(t *testing.T, args ...string) (string, string) {
	t.Helper()
	out, err := helmTemplate(t, append(args, "--show-only", "templates/nats/nats.yaml")...)
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
	return path, conf
}
