package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/connectedbbq/platform/test/internal/pipelinetest"
)

// activate signs a user up through the webhook and waits until the user is active.
func (e *env) activate(user, email string) (tenant string) {
	e.t.Helper()
	e.mustPost(eventsPath, "r-"+user, kcEvent("reg-"+user, "REGISTER", user, email))
	e.mustPost(eventsPath, "v-"+user, kcEvent("ver-"+user, "VERIFY_EMAIL", user, email))
	e.eventually(30*time.Second, user+" active", func() bool {
		return e.scalar(`SELECT count(*) FROM users WHERE id = $1 AND status = 'active'`, user) == 1
	})
	if err := e.db.QueryRow(context.Background(), `SELECT tenant_id FROM users WHERE id = $1`, user).Scan(&tenant); err != nil {
		e.t.Fatal(err)
	}
	return tenant
}

func (e *env) call(method, path, token, body string) (int, map[string]any) {
	e.t.Helper()
	return pipelinetest.Call(e.t, e.p.UserServiceURL, method, path, token, body)
}

func TestAPIProfileMembersAndTokenChecks(t *testing.T) {
	e := newEnv(t, nil)
	tenantA := e.activate("alice", "alice@a.example")
	tenantB := e.activate("bob", "bob@b.example")
	alice := e.issuer.Token(t, e.issuer.Defaults("alice", tenantA))

	t.Run("own profile", func(t *testing.T) {
		status, me := e.call("GET", "/v1/me", alice, "")
		if status != 200 || me["email"] != "alice@a.example" || me["tenantId"] != tenantA || me["role"] != "admin" {
			t.Fatalf("GET /v1/me = %d %v", status, me)
		}
	})
	t.Run("members of own tenant", func(t *testing.T) {
		status, page := e.call("GET", "/v1/tenant/members?pageSize=10", alice, "")
		members, _ := page["members"].([]any)
		if status != 200 || len(members) != 1 {
			t.Fatalf("members = %d %v", status, page)
		}
	})
	t.Run("profile edit is announced and queued for Keycloak", func(t *testing.T) {
		status, me := e.call("PATCH", "/v1/me", alice, `{"name":"Alice Smoke"}`)
		if status != 200 || me["name"] != "Alice Smoke" {
			t.Fatalf("PATCH /v1/me = %d %v", status, me)
		}
		e.eventually(30*time.Second, "UserUpdated", func() bool { return len(e.bus.Messages(t, "events.users.user.updated")) == 1 })
		if n := e.scalar(`SELECT count(*) FROM keycloak_sync WHERE user_id = 'alice'`); n != 1 {
			t.Fatalf("%d keycloak sync requests, want 1", n)
		}
	})

	// Keycloak's person-name rule refuses ( ) ; = in a name (422, tested in the api package), so the SQL here
	// is made of what a name may hold: quotes, letters, spaces and hyphens.
	t.Run("SQL-shaped name is stored as text", func(t *testing.T) {
		users := e.scalar(`SELECT count(*) FROM users`)
		name := "Robert' OR 'a' LIKE 'a' --"
		body, _ := json.Marshal(map[string]string{"name": name})
		if status, me := e.call("PATCH", "/v1/me", alice, string(body)); status != 200 || me["name"] != name {
			t.Fatalf("PATCH /v1/me = %d %v", status, me)
		}
		if status, me := e.call("GET", "/v1/me", alice, ""); status != 200 || me["name"] != name {
			t.Fatalf("GET /v1/me = %d %v", status, me)
		}
		if n := e.scalar(`SELECT count(*) FROM users`); n != users {
			t.Fatalf("%d users after, %d before", n, users)
		}
	})

	// Every bad request gets its error; none reads anything.
	other := e.issuer.Defaults("alice", tenantA)
	claims := func(edit func(c map[string]any)) map[string]any {
		c := map[string]any{}
		for k, v := range other {
			c[k] = v
		}
		edit(c)
		return c
	}
	tests := []struct {
		name, method, path, token, body string
		want                            int
	}{
		{"no token", "GET", "/v1/me", "", "", 401},
		{"garbage token", "GET", "/v1/me", "not.a.jwt", "", 401},
		{"alg none", "GET", "/v1/me", e.issuer.UnsignedToken(t, other), "", 401},
		{"HS256 keyed with the public key", "GET", "/v1/me", e.issuer.HS256WithPublicKey(t, other), "", 401},
		{"signed by another key", "GET", "/v1/me", e.issuer.TokenFromOtherKey(t, other), "", 401},
		{"expired", "GET", "/v1/me", e.issuer.Token(t, claims(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() })), "", 401},
		{"wrong audience", "GET", "/v1/me", e.issuer.Token(t, claims(func(c map[string]any) { c["aud"] = "billing" })), "", 401},
		{"wrong issuer", "GET", "/v1/me", e.issuer.Token(t, claims(func(c map[string]any) { c["iss"] = "https://evil.example/realms/test" })), "", 401},
		{"tampered payload", "GET", "/v1/me", tamper(t, alice), "", 401},
		{"another tenant's claim", "GET", "/v1/tenant/members", e.issuer.Token(t, e.issuer.Defaults("alice", tenantB)), "", 403},
		{"no tenant claim", "GET", "/v1/tenant/members", e.issuer.Token(t, e.issuer.Defaults("alice", "")), "", 403},
		{"unknown user", "GET", "/v1/me", e.issuer.Token(t, e.issuer.Defaults("mallory", tenantA)), "", 404},
		{"bad page size", "GET", "/v1/tenant/members?pageSize=1000", alice, "", 400},
		{"forged page token", "GET", "/v1/tenant/members?pageToken=" + url.QueryEscape("' OR 1=1 --"), alice, "", 400},
		{"unknown field", "PATCH", "/v1/me", alice, `{"name":"x","tenantId":"` + tenantB + `"}`, 400},
		{"empty name", "PATCH", "/v1/me", alice, `{"name":"  "}`, 422},
		{"control characters", "PATCH", "/v1/me", alice, `{"name":"a\u0000b"}`, 422},
		{"CR LF in the name (header injection)", "PATCH", "/v1/me", alice, `{"name":"a\r\nSet-Cookie: x=1"}`, 422},
		{"another tenant's claim, SQL-shaped", "GET", "/v1/tenant/members", e.issuer.Token(t, e.issuer.Defaults("alice", "x' OR '1'='1")), "", 403},
		{"name too long", "PATCH", "/v1/me", alice, `{"name":"` + strings.Repeat("x", 101) + `"}`, 422},
		{"not JSON", "PATCH", "/v1/me", alice, `name=x`, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := e.call(tt.method, tt.path, tt.token, tt.body)
			if status != tt.want {
				t.Fatalf("%s %s = %d %v, want %d", tt.method, tt.path, status, body, tt.want)
			}
			if body["title"] == nil {
				t.Errorf("error without a problem document: %v", body)
			}
		})
	}
	if n := e.scalar(`SELECT count(*) FROM users WHERE name = 'x'`); n != 0 {
		t.Fatal("a refused request changed a name")
	}
}

func tamper(t *testing.T, token string) string {
	parts := strings.Split(token, ".")
	parts[1] = strings.TrimRight(parts[1], "A") + "A"
	return strings.Join(parts, ".")
}

// Row-level security refuses a cross-tenant read even to a query that asks for it.
func TestDatabaseRefusesCrossTenantReads(t *testing.T) {
	e := newEnv(t, nil)
	tenantA := e.activate("carol", "carol@a.example")
	tenantB := e.activate("dave", "dave@b.example")
	ctx := context.Background()
	var seen, total int
	err := pgx.BeginFunc(ctx, e.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL ROLE bbq_api`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT set_config('app.user_id', 'carol', true), set_config('app.tenant_id', $1, true)`, tenantA); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM users WHERE tenant_id = $1`, tenantB).Scan(&seen); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&total); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE users SET name = 'pwned' WHERE id = 'dave'`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen != 0 || total != 1 {
		t.Fatalf("as carol: %d rows of tenant B, %d rows in all; want 0 and 1", seen, total)
	}
	if n := e.scalar(`SELECT count(*) FROM users WHERE name = 'pwned'`); n != 0 {
		t.Fatal("carol changed dave's row")
	}
	_ = fmt.Sprint(tenantB)
}
