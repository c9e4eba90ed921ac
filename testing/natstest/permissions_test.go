package natstest_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/connectedbbq/platform/pkg/bus"
	"github.com/connectedbbq/platform/testing/embedded"
	"github.com/connectedbbq/platform/testing/natstest"
)

// The embedded server's users refuse what the chart's do.
func TestSecuredBusRefusesWhatEachUserMayNotDo(t *testing.T) {
	b := natstest.NewSecured(t)
	natstest.CheckPermissions(t, b.URL, b.Credentials)
}

// A nats-server process configured with embedded.NATSConfigFile has the same users.
func TestConfigFileUsersRefuseTheSame(t *testing.T) {
	pw := map[string]string{}
	for _, u := range []string{embedded.UserIdPHook, embedded.UserUserService, embedded.UserReader, embedded.UserAdmin} {
		pw[u] = "pw-" + u
	}
	path := filepath.Join(t.TempDir(), "nats.conf")
	conf := embedded.NATSConfigFile(embedded.BusUsers(embedded.DefaultBusNames(), pw))
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	url := natstest.ServeConfig(t, path)
	natstest.CheckPermissions(t, url, func(u string) bus.Credentials { return bus.Credentials{User: u, Password: pw[u]} })
}
