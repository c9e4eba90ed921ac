package e2e

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/connectedbbq/platform/pkg/events"
	"github.com/connectedbbq/platform/test/internal/pipelinetest"
)

// Deleting an account anonymises the user and announces UserRemoved once; later events about the
// user change nothing.
func TestDeletedAccountIsAnonymisedAndStaysDeleted(t *testing.T) {
	e := newEnv(t, nil)
	e.activate("frank", "frank@example.com")
	for i := range 2 {
		e.mustPost(eventsPath, fmt.Sprintf("d-%d", i), kcEvent("del-frank", "DELETE_ACCOUNT", "frank", ""))
	}
	e.eventually(10*time.Second, "UserRemoved", func() bool { return len(e.bus.Messages(t, events.UserRemoved.Subject)) == 1 })
	e.mustPost(eventsPath, "late", kcEvent("late-verify", "VERIFY_EMAIL", "frank", "frank@example.com"))
	e.mustPost("/webhooks/keycloak/admin-events", "admin-del", map[string]any{"id": "admin-del-frank", "time": time.Now().UnixMilli(),
		"realmId": "bbq", "operationType": "DELETE", "resourceType": "USER", "resourcePath": "users/frank"})
	time.Sleep(time.Second)
	var status, email, name string
	if err := e.db.QueryRow(context.Background(), `SELECT status, email, name FROM users WHERE id = 'frank'`).Scan(&status, &email, &name); err != nil {
		t.Fatal(err)
	}
	if status != "deleted" || email != "" || name != "" {
		t.Fatalf("deleted user is %s %q %q, want deleted and anonymised", status, email, name)
	}
	if n := len(e.bus.Messages(t, events.UserRemoved.Subject)); n != 1 {
		t.Fatalf("%d UserRemoved, want 1", n)
	}
}

// A tenant declared through the admin API (as the Kubernetes controller does) takes the new users
// of its email domains; its listed admins join as admins.
func TestDeclaredTenantTakesUsersOfItsDomains(t *testing.T) {
	e := newEnv(t, nil)
	body := `{"displayName":"Smokehouse Inc","emailDomains":["smokehouse.example"],"admins":["boss@smokehouse.example"],"suspended":false}`
	if status := e.admin(http.MethodPut, "/admin/v1/tenants/smokehouse", adminToken, body); status != http.StatusCreated {
		t.Fatalf("PUT tenant = %d, want 201", status)
	}
	if status := e.admin(http.MethodPut, "/admin/v1/tenants/smokehouse", adminToken, body); status != http.StatusOK {
		t.Fatalf("PUT tenant again = %d, want 200", status)
	}
	if got := e.activate("boss", "boss@smokehouse.example"); got != "smokehouse" {
		t.Fatalf("boss joined %q", got)
	}
	if got := e.activate("cook", "Cook@SmokeHouse.example"); got != "smokehouse" {
		t.Fatalf("cook joined %q", got)
	}
	if n := e.scalar(`SELECT count(*) FROM users WHERE tenant_id = 'smokehouse' AND role = 'admin'`); n != 1 {
		t.Fatalf("%d admins, want 1 (boss)", n)
	}
	if n := len(e.bus.Messages(t, events.TenantCreated.Subject)); n != 1 {
		t.Fatalf("%d TenantCreated, want 1", n)
	}
	// The admin API's answers (tokens, validation, conflicts, deletion) are checked in its package
	// (services/user-service/internal/admin); here only that the shipped binary's port wants the token.
	if status := e.admin(http.MethodPut, "/admin/v1/tenants/x", "", body); status != http.StatusUnauthorized {
		t.Fatalf("PUT without the token = %d, want 401", status)
	}
}

func (e *env) admin(method, path, token, body string) int {
	e.t.Helper()
	status, _ := pipelinetest.Call(e.t, e.p.AdminURL, method, path, token, body)
	return status
}
