package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestSignUpBecomesOneActiveUserWithTenantAndOneUserCreated(t *testing.T) {
	tests := []struct {
		name    string
		order   []string // event types in delivery order
		repeats int      // deliveries of each webhook
	}{
		{"register then verify", []string{"REGISTER", "VERIFY_EMAIL"}, 1},
		{"verify before register, each delivered three times", []string{"VERIFY_EMAIL", "REGISTER"}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			user, email := "user-"+tt.order[0], "pat@example.com"
			for _, typ := range tt.order {
				for i := range tt.repeats {
					// A different webhook id each time: Keycloak retries and reconciliation republishing
					// must be absorbed by the CloudEvent id, not by the HTTP layer.
					e.mustPost(eventsPath, fmt.Sprintf("%s-%d", typ, i), kcEvent("kc-"+typ, typ, user, email))
				}
			}
			e.eventually(10*time.Second, "UserCreated", func() bool { return e.userCreated()[user] == 1 })
			var status, role, tenant string
			if err := e.db.QueryRow(context.Background(), `SELECT status, role, tenant_id FROM users WHERE id = $1`, user).Scan(&status, &role, &tenant); err != nil {
				t.Fatal(err)
			}
			if status != "active" || role != "admin" || tenant == "" {
				t.Fatalf("user is %s/%s in tenant %q, want active admin of a tenant", status, role, tenant)
			}
			if n := e.scalar(`SELECT count(*) FROM tenants WHERE id = $1`, tenant); n != 1 {
				t.Fatalf("%d tenant rows, want 1", n)
			}
			time.Sleep(500 * time.Millisecond) // give a duplicate the chance to appear
			if got := e.userCreated(); len(got) != 1 || got[user] != 1 {
				t.Fatalf("UserCreated events per user = %v, want exactly one", got)
			}
			if n := e.scalar(`SELECT count(*) FROM outbox`); n != 0 {
				t.Fatalf("%d outbox rows left unpublished", n)
			}
		})
	}
}

// user-service is killed (SIGKILL) or stopped (SIGTERM) in the middle of a stream of sign-ups and
// restarted: every user ends active exactly once, with exactly one UserCreated.
func TestUserServiceRestartedMidStreamLosesAndDuplicatesNothing(t *testing.T) {
	tests := []struct {
		name string
		stop func(e *env)
	}{
		{"killed", func(e *env) { e.p.UserService.Kill() }},
		{"stopped gracefully", func(e *env) {
			if err := e.p.UserService.Stop(20 * time.Second); err != nil {
				e.t.Errorf("graceful stop: %v", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Messages a killed process held are redelivered after the ack wait.
			e := newEnv(t, map[string]string{"CONSUMER_ACK_WAIT": "2s"})
			const n = 200
			for i := range n {
				user, email := fmt.Sprintf("u%03d", i), fmt.Sprintf("u%03d@example.com", i)
				e.mustPost(eventsPath, "r"+user, kcEvent("reg-"+user, "REGISTER", user, email))
				e.mustPost(eventsPath, "v"+user, kcEvent("ver-"+user, "VERIFY_EMAIL", user, email))
				if i == n/2 {
					tt.stop(e)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := e.p.UserService.Start(ctx); err != nil {
				t.Fatal(err)
			}
			e.eventually(30*time.Second, "all users created", func() bool { return len(e.userCreated()) == n })
			time.Sleep(time.Second)
			for user, c := range e.userCreated() {
				if c != 1 {
					t.Errorf("user %s: %d UserCreated events", user, c)
				}
			}
			if got := e.scalar(`SELECT count(*) FROM users WHERE status = 'active'`); got != n {
				t.Fatalf("%d active users, want %d", got, n)
			}
		})
	}
}
