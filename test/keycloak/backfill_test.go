package keycloak

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/connectedbbq/platform/pkg/events"
	"github.com/connectedbbq/platform/pkg/keycloak"
)

// An existing Keycloak with 1,000 users (created through the admin API, before the platform
// listened) is adopted by `idp-hook backfill`: 1,000 users, each once, however often it runs.
func TestBackfillAdoptsExistingUsersOnce(t *testing.T) {
	e := newEnv(t, options{}) // no webhook: the users predate the platform
	admin := e.realm.Admin(t)
	const n = 1000
	ctx := context.Background()
	created := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 8)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			email := fmt.Sprintf("existing%04d@example.com", i)
			if _, err := admin.CreateUser(ctx, keycloak.User{Username: email, Email: email, EmailVerified: true, Enabled: true, FirstName: "Existing"}); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("created %d users through the admin API in %s", n, time.Since(created).Round(time.Millisecond))

	for run := 1; run <= 2; run++ {
		start := time.Now()
		out, err := e.backfill()
		if err != nil {
			t.Fatalf("backfill run %d: %v\n%s", run, err, out)
		}
		e.eventually(2*time.Minute, "1000 UserCreated", func() bool { return len(e.count(events.UserCreated.Subject)) == n })
		took := time.Since(start)
		t.Logf("backfill run %d: %d users active and announced %s after the command started", run, n, took.Round(time.Millisecond))
		if path := os.Getenv("BBQ_BACKFILL_REPORT"); path != "" && run == 1 {
			_ = os.WriteFile(path, []byte(fmt.Sprintf("%d users: backfill to the last UserCreated in %s\n", n, took.Round(time.Millisecond))), 0o644)
		}
	}
	for user, c := range e.count(events.UserCreated.Subject) {
		if c != 1 {
			t.Errorf("user %s: %d UserCreated", user, c)
		}
	}
	if got := e.scalar(`SELECT count(*) FROM users WHERE status = 'active'`); got != n {
		t.Fatalf("%d active users, want %d", got, n)
	}
}

// backfill runs `idp-hook backfill` against the test's realm and bus.
func (e *env) backfill() (string, error) {
	cmd := exec.Command(bins["idp-hook"], "backfill")
	cmd.Env = []string{"NATS_URL=" + e.bus.URL, "WEBHOOK_SECRETS=" + e.cfg.WebhookSecrets, "KEYCLOAK_URL=" + kc.URL,
		"KEYCLOAK_REALM=" + e.realm.Name, "KEYCLOAK_CLIENT_SECRET=" + e.realm.Secrets["idp-hook"]}
	out, err := cmd.CombinedOutput()
	return string(out), err
}
