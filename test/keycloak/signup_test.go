package keycloak

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/connectedbbq/platform/pkg/events"
)

const password = "Grill-Master-2026!"

// The journey: sign up through Keycloak's own form, verify by mail, and see the user and
// tenant in Postgres, one UserCreated, the tenant on the Keycloak user and in a fresh token, and
// the API accepting that token while refusing others.
func TestSignUpThroughKeycloakEndsInOneUserCreatedAndATenantClaim(t *testing.T) {
	e := newEnv(t, options{webhook: true})
	s := e.realm.SignUp(t, "ada@example.com", password, "Ada Lovelace")
	first := s.FollowVerification(t)

	var userID, tenant string
	e.eventually(30*time.Second, "an active user", func() bool {
		return e.db.QueryRow(context.Background(), `SELECT id, tenant_id FROM users WHERE email = 'ada@example.com' AND status = 'active'`).Scan(&userID, &tenant) == nil
	})
	admin := e.realm.Admin(t)
	e.eventually(15*time.Second, "the tenant written back to Keycloak", func() bool {
		u, err := admin.GetUser(context.Background(), userID)
		return err == nil && u.Attribute("tenant") == tenant
	})
	time.Sleep(time.Second) // late duplicates would show now
	if got := e.count(events.UserCreated.Subject); len(got) != 1 || got[userID] != 1 {
		t.Fatalf("UserCreated per user = %v, want exactly one for %s", got, userID)
	}

	fresh := e.realm.PasswordToken(t, "ada@example.com", password)
	claims, err := fresh.Claims()
	if err != nil || claims["tenant"] != tenant {
		t.Fatalf("fresh token's tenant claim = %v (%v), want %s", claims["tenant"], err, tenant)
	}
	if status, me := e.api("GET", "/v1/me", fresh.AccessToken, ""); status != 200 || me["tenantId"] != tenant {
		t.Fatalf("GET /v1/me with a fresh token = %d %v", status, me)
	}
	if status, _ := e.api("GET", "/v1/tenant/members", fresh.AccessToken, ""); status != 200 {
		t.Fatalf("GET /v1/tenant/members with a fresh token = %d", status)
	}
	// The token issued before activation has no tenant claim yet: its own profile is still readable.
	if status, _ := e.api("GET", "/v1/me", first.AccessToken, ""); status != 200 {
		t.Fatalf("GET /v1/me with the first token = %d", status)
	}

	other := newOtherRealmToken(t)
	parts := strings.Split(fresh.AccessToken, ".")
	unsigned := strings.Join([]string{b64(`{"alg":"none","typ":"JWT"}`), parts[1], ""}, ".")
	refused := []struct{ name, token string }{
		{"a token for another audience (service account)", clientToken(t, e.realm.Issuer, "idp-hook", e.realm.Secrets["idp-hook"])},
		{"alg none with the real claims", unsigned},
		{"a token signed by another realm", other},
		{"an expired token", expiredToken(t, e)},
	}
	for _, r := range refused {
		t.Run(r.name, func(t *testing.T) {
			if status, body := e.api("GET", "/v1/me", r.token, ""); status != 401 {
				t.Fatalf("status %d %v, want 401", status, body)
			}
		})
	}
}

// A name edited through the API reaches Keycloak; a name edited in Keycloak reaches the database;
// neither loops back.
func TestProfileEditsFlowBothWaysWithoutLoops(t *testing.T) {
	e := newEnv(t, options{webhook: true})
	e.realm.SignUp(t, "grace@example.com", password, "Grace Hopper").FollowVerification(t)
	var userID string
	e.eventually(30*time.Second, "an active user", func() bool {
		return e.db.QueryRow(context.Background(), `SELECT id FROM users WHERE email = 'grace@example.com' AND status = 'active'`).Scan(&userID) == nil
	})
	tok := e.realm.PasswordToken(t, "grace@example.com", password)
	if status, body := e.api("PATCH", "/v1/me", tok.AccessToken, `{"name":"Rear Admiral Hopper"}`); status != 200 {
		t.Fatalf("PATCH /v1/me = %d %v", status, body)
	}
	admin := e.realm.Admin(t)
	e.eventually(15*time.Second, "the name in Keycloak", func() bool {
		u, err := admin.GetUser(context.Background(), userID)
		return err == nil && u.FirstName == "Rear Admiral Hopper"
	})

	e.realm.UpdateProfile(t, tok, "Amazing Grace")
	e.eventually(15*time.Second, "the name from Keycloak in Postgres", func() bool {
		return e.scalar(`SELECT count(*) FROM users WHERE id = $1 AND name = 'Amazing Grace'`, userID) == 1
	})
	time.Sleep(3 * time.Second) // a loop would keep producing updates
	if n := e.count(events.UserUpdated.Subject)[userID]; n != 2 {
		t.Fatalf("%d UserUpdated events, want 2 (one per edit, no echo)", n)
	}
}

// With idp-hook down during five sign-ups, the reconciler brings all five to UserCreated, once each.
func TestReconcilerRecoversSignUpsMissedWhileIdPHookWasDown(t *testing.T) {
	e := newEnv(t, options{webhook: true, reconcile: true})
	if err := e.p.IdPHook.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		e.realm.SignUp(t, fmt.Sprintf("down%d@example.com", i), password, fmt.Sprintf("Down %d", i)).FollowVerification(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := e.p.IdPHook.Start(ctx); err != nil {
		t.Fatal(err)
	}
	e.eventually(60*time.Second, "five UserCreated", func() bool { return len(e.count(events.UserCreated.Subject)) == 5 })
	time.Sleep(3 * time.Second) // further reconciliation passes must add nothing
	for user, n := range e.count(events.UserCreated.Subject) {
		if n != 1 {
			t.Errorf("user %s: %d UserCreated", user, n)
		}
	}
}
