package e2e

import (
	"bytes"
	"context"
	"maps"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/connectedbbq/platform/testing/embedded"
)

// The services run with least privilege: on NATS each as its own user, on Postgres the service as a member
// of bbq_service and the API as a member of bbq_api only (both login roles, not the superuser).
func TestServicesRunWithLeastPrivilege(t *testing.T) {
	e := newEnv(t, nil)
	e.mustPost(eventsPath, "w-lp", kcEvent("reg-lp", "REGISTER", "lp", "lp@example.com"))
	e.eventually(15*time.Second, "the registration stored", func() bool {
		return e.scalar(`SELECT count(*) FROM users WHERE id = 'lp'`) == 1
	})
	for _, role := range []string{"user_service", "user_service_api"} {
		if n := e.scalar(`SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND usename = $1`, role); n == 0 {
			t.Errorf("no connection of user-service as %s", role)
		}
	}
	if n := e.scalar(`SELECT count(*) FROM pg_roles WHERE rolname IN ('user_service', 'user_service_api') AND (rolsuper OR rolbypassrls)`); n != 0 {
		t.Errorf("%d of the service's login roles are superusers or bypass row-level security", n)
	}
}

// A service given a wrong NATS password stops at start-up, at once, with an error that names the user and
// the refusal but not the password.
func TestWrongNATSPasswordStopsTheServiceAtStartUp(t *testing.T) {
	e := newEnv(t, nil)
	for name, user := range map[string]string{"idp-hook": embedded.UserIdPHook, "user-service": embedded.UserUserService} {
		t.Run(name, func(t *testing.T) {
			env := maps.Clone(e.p.IdPHook.Env)
			if name == "user-service" {
				env = maps.Clone(e.p.UserService.Env)
			}
			env["NATS_USER"], env["NATS_PASSWORD"] = user, "wrong-password-e2e"
			env["HTTP_ADDR"], env["OPS_ADDR"], env["ADMIN_ADDR"] = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bins[name])
			for k, v := range env {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			start := time.Now()
			err := cmd.Run()
			took := time.Since(start)
			if err == nil || ctx.Err() != nil {
				t.Fatalf("%s with a wrong password: %v after %s\n%s", name, err, took, out.String())
			}
			msg := strings.ToLower(out.String())
			if !strings.Contains(msg, "authorization violation") || !strings.Contains(msg, "user "+user) || strings.Contains(msg, "wrong-password-e2e") {
				t.Fatalf("%s's start-up error does not name the refusal and the user, or shows the password:\n%s", name, out.String())
			}
			if took > 15*time.Second {
				t.Fatalf("%s gave up after %s, want at once", name, took)
			}
		})
	}
}
